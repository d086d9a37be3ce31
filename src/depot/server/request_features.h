// depot::server::RefuseUnhonoured: no request header that changes a request's meaning is ever
// silently ignored by depot serve (internal).
//
// Every request's headers go through it before any operation runs (after authentication and
// authorization). It answers kUnimplemented ("NotImplemented: ...", HTTP 501) naming the first
// header that asks for something depot does not do:
//   - server-side encryption of every kind (SSE-S3, SSE-KMS, SSE-C, and SSE-C copy sources);
//   - tags (a non-empty x-amz-tagging) and tagging directives other than COPY and REPLACE;
//   - object lock, retention, legal hold and governance bypass; MFA delete;
//   - ACL grants (x-amz-grant-*) and canned ACLs other than "private"; object ownership other
//     than BucketOwnerEnforced;
//   - storage classes other than STANDARD; website redirects; requester pays; appends
//     (x-amz-write-offset-bytes);
//   - standard headers S3 stores with an object and serves back (Cache-Control,
//     Content-Disposition, Content-Encoding other than aws-chunked, Content-Language, Expires)
//     on requests that write: depot does not keep them yet;
//   - any other x-amz-* header it does not know: unknown is refused, never guessed harmless.
// Hints that S3 itself treats as hints pass; docs/decisions.md lists each with its reason.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "depot/core/status.h"

namespace depot::server {

// OK, or kUnimplemented naming the header and its value. `writes` is true for requests that
// carry or store data (every method but GET and HEAD). Header names are matched ignoring case.
Status RefuseUnhonoured(bool writes,
                        const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace depot::server
