// depot::server::RefuseUnhonoured: no request header or query parameter that changes a request's
// meaning is ever silently ignored by depot serve (internal).
//
// Every request goes through it before any operation runs (after authentication and
// authorization). It answers kUnimplemented ("NotImplemented: ...", HTTP 501) naming the first
// query parameter the operation does not take (only SigV4's presigning parameters and "x-id" pass
// everywhere; the rest per resource and method, e.g. response-* on object GETs, the listing
// parameters on bucket GETs), or the first header that asks for something depot does not do:
//   - server-side encryption of every kind (SSE-S3, SSE-KMS, SSE-C, and SSE-C copy sources);
//   - tags (a non-empty x-amz-tagging) and tagging directives other than COPY and REPLACE;
//   - object lock, retention, legal hold; MFA delete;
//   - ACL grants (x-amz-grant-*) and canned ACLs other than "private"; object ownership other
//     than BucketOwnerEnforced;
//   - storage classes other than STANDARD; website redirects; requester pays; appends
//     (x-amz-write-offset-bytes);
//   - any other x-amz-* header it does not know: unknown is refused, never guessed harmless.
// Hints that S3 itself treats as hints pass; docs/decisions.md lists each with its reason.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "depot/core/status.h"

namespace depot::server {

// What a request addresses: the service (GET /), a bucket, or an object.
enum class Resource { kService, kBucket, kObject };

struct RequestShape {
  Resource resource = Resource::kObject;
  std::string_view method;                                          // "GET", "PUT", ...
  const std::map<std::string, std::string, std::less<>>& query;     // decoded
  const std::vector<std::pair<std::string, std::string>>& headers;  // names in any case
};

// OK, or kUnimplemented naming the parameter or header and its value.
Status RefuseUnhonoured(const RequestShape& request);

}  // namespace depot::server
