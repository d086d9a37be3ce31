#include "depot/server/cors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "depot/core/ascii.h"

namespace depot::server {
namespace {

bool AllowsHeader(const s3::CorsRule& rule, std::string_view header) {
  const std::string lower = AsciiLower(header);
  return std::any_of(
      rule.allowed_headers.begin(), rule.allowed_headers.end(),
      [&](const std::string& allowed) { return WildcardMatch(AsciiLower(allowed), lower); });
}

}  // namespace

const s3::CorsRule* MatchCors(std::span<const s3::CorsRule> rules, const CorsRequest& request) {
  for (const s3::CorsRule& rule : rules) {
    const bool origin = std::any_of(
        rule.allowed_origins.begin(), rule.allowed_origins.end(),
        [&](const std::string& allowed) { return WildcardMatch(allowed, request.origin); });
    const bool method = std::find(rule.allowed_methods.begin(), rule.allowed_methods.end(),
                                  request.method) != rule.allowed_methods.end();
    const bool headers =
        std::all_of(request.headers.begin(), request.headers.end(),
                    [&](const std::string& header) { return AllowsHeader(rule, header); });
    if (origin && method && headers) return &rule;
  }
  return nullptr;
}

HeaderList CorsHeaders(const s3::CorsRule& rule, const CorsRequest& request, bool preflight) {
  const bool any_origin = std::find(rule.allowed_origins.begin(), rule.allowed_origins.end(),
                                    "*") != rule.allowed_origins.end();
  HeaderList headers = {
      {"Access-Control-Allow-Origin", any_origin ? "*" : request.origin},
      {"Access-Control-Allow-Methods", fmt::format("{}", fmt::join(rule.allowed_methods, ", "))},
      {"Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"}};
  if (!any_origin) headers.emplace_back("Access-Control-Allow-Credentials", "true");
  if (preflight && !request.headers.empty()) {
    headers.emplace_back("Access-Control-Allow-Headers",
                         fmt::format("{}", fmt::join(request.headers, ", ")));
  }
  if (!rule.expose_headers.empty()) {
    headers.emplace_back("Access-Control-Expose-Headers",
                         fmt::format("{}", fmt::join(rule.expose_headers, ", ")));
  }
  if (rule.max_age_seconds) {
    headers.emplace_back("Access-Control-Max-Age", std::to_string(*rule.max_age_seconds));
  }
  return headers;
}

void AddCorsHeaders(Exchange& exchange, const AccessControl& access) {
  const auto origin = exchange.Header("origin");
  if (!origin || exchange.target().bucket.empty()) return;
  auto rules = access.Cors(exchange.target().bucket, exchange.context());
  if (!rules.ok() || rules->empty()) return;
  const CorsRequest cors{*origin,
                         std::string(exchange.request().method_string().data(),
                                     exchange.request().method_string().size()),
                         {}};
  if (const s3::CorsRule* rule = MatchCors(*rules, cors)) {
    exchange.AddAnswerHeaders(CorsHeaders(*rule, cors, /*preflight=*/false));
  }
}

}  // namespace depot::server
