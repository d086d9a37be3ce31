// depot::server CORS (internal to depot serve): which of a bucket's CORS rules applies to a
// browser's request, and what the answer then says, as S3 decides it.
//
// A rule applies when one of its AllowedOrigin values matches the request's Origin ('*' stands
// for any run of characters; compared case-sensitively, as S3 does), one of its AllowedMethod
// values is the method (for a preflight, the one Access-Control-Request-Method names), and, for
// a preflight, every header Access-Control-Request-Headers names matches one of its
// AllowedHeader values (case-insensitively, '*' a wildcard). The first rule that applies wins.
// Pure functions: thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "depot/s3/xml.h"
#include "depot/server/access.h"
#include "depot/server/exchange.h"

namespace depot::server {

struct CorsRequest {
  std::string origin;
  std::string method;                // the request's, or a preflight's requested method
  std::vector<std::string> headers;  // a preflight's Access-Control-Request-Headers
};

// The rule that applies, or nullptr.
const s3::CorsRule* MatchCors(std::span<const s3::CorsRule> rules, const CorsRequest& request);

// The headers of the answer to a request `rule` applies to: Access-Control-Allow-Origin (the
// Origin, or "*" when the rule allows every origin), -Allow-Methods, -Allow-Credentials (not for
// "*"), -Expose-Headers, -Max-Age, for a preflight -Allow-Headers (the requested ones), and
// Vary: Origin, Access-Control-Request-Headers, Access-Control-Request-Method.
HeaderList CorsHeaders(const s3::CorsRule& rule, const CorsRequest& request, bool preflight);

// For a browser's request (it names its Origin) to a bucket with CORS rules: makes every answer
// carry the headers of the rule that applies, errors included, so the page can read them. Reads
// the rules from the store (only when there is an Origin).
void AddCorsHeaders(Exchange& exchange, const AccessControl& access);

}  // namespace depot::server
