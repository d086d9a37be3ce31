#include "depot/s3/sigv4_verifier.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>

#include "depot/core/ascii.h"
#include "depot/core/url.h"

namespace depot::s3 {
namespace {

using s3::Header;

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::chrono::seconds kMaxPresignExpiry{7 * 24 * 3600};

Status Fail(StatusCode code, std::string_view s3_code, std::string_view detail) {
  return Status(code, fmt::format("{}: {}", s3_code, detail));
}
Status Malformed(bool presigned, std::string_view detail) {
  return Fail(StatusCode::kInvalidArgument,
              presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
              detail);
}

const std::string* FindHeader(const IncomingRequest& request, std::string_view lower_name) {
  for (const auto& [name, value] : request.headers) {
    if (EqualsIgnoreCase(name, lower_name)) return &value;
  }
  return nullptr;
}

// "20130524T000000Z" -> time; nullopt for anything else, and for years outside 1970..2200.
std::optional<std::chrono::system_clock::time_point> ParseAmzDate(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  auto number = [&](size_t at, size_t n) -> std::optional<int> {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data() + at, text.data() + at + n, value);
    if (ec != std::errc() || end != text.data() + at + n) return std::nullopt;
    return value;
  };
  auto year = number(0, 4), month = number(4, 2), day = number(6, 2);
  auto hour = number(9, 2), minute = number(11, 2), second = number(13, 2);
  // Years the clock can hold: system_clock counts nanoseconds in 64 bits, about 1678..2261 (a
  // year 0123 overflowed it; found by fuzz_sigv4_verify).
  if (!year || !month || !day || !hour || !minute || !second || *year < 1970 || *year > 2200 ||
      *hour < 0 || *hour > 23 || *minute < 0 || *minute > 59 || *second < 0 || *second > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
         std::chrono::seconds(*second);
}

std::vector<std::string> Split(std::string_view s, char separator) {
  std::vector<std::string> parts;
  while (true) {
    const size_t at = s.find(separator);
    parts.emplace_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

// What a request claims: from the Authorization header or the X-Amz-* query parameters.
struct Claim {
  bool presigned = false;
  std::string access_key;
  std::string date;  // of the credential scope: "20130524"
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;
  std::string signature;
  std::string amz_date;
  std::chrono::seconds expires{0};  // presigned only
};

Status ParseCredential(std::string_view credential, bool presigned, Claim& claim) {
  std::vector<std::string> parts = Split(credential, '/');
  if (parts.size() != 5 || parts[4] != "aws4_request" || parts[0].empty()) {
    return Malformed(presigned, fmt::format("credential \"{}\" is not "
                                            "KEY/DATE/REGION/SERVICE/aws4_request",
                                            credential));
  }
  claim.access_key = parts[0];
  claim.date = parts[1];
  claim.region = parts[2];
  claim.service = parts[3];
  return Status::Ok();
}

Result<Claim> ClaimFromHeader(std::string_view authorization) {
  Claim claim;
  if (!authorization.starts_with(kAlgorithm) || authorization.size() == kAlgorithm.size() ||
      authorization[kAlgorithm.size()] != ' ') {
    return Malformed(false, fmt::format("the authorization header does not use {}", kAlgorithm));
  }
  std::map<std::string, std::string> fields;
  for (std::string field : Split(authorization.substr(kAlgorithm.size() + 1), ',')) {
    const size_t first = field.find_first_not_of(' ');
    if (first == std::string::npos) continue;
    field.erase(0, first);
    const size_t equals = field.find('=');
    if (equals == std::string::npos) {
      return Malformed(false, fmt::format("authorization field \"{}\" has no value", field));
    }
    fields[field.substr(0, equals)] = field.substr(equals + 1);
  }
  for (const char* name : {"Credential", "SignedHeaders", "Signature"}) {
    if (!fields.contains(name)) {
      return Malformed(false, fmt::format("the authorization header has no {}", name));
    }
  }
  DEPOT_RETURN_IF_ERROR(ParseCredential(fields["Credential"], false, claim));
  claim.signed_headers = Split(fields["SignedHeaders"], ';');
  claim.signature = fields["Signature"];
  return claim;
}

Result<Claim> ClaimFromQuery(const std::vector<Header>& query) {
  Claim claim;
  claim.presigned = true;
  // The parameters SigV4 reads, by name; the last of a repeated one counts.
  enum { kAlgorithmParam, kCredential, kDate, kExpires, kSignedHeaders, kSignature, kCount };
  static constexpr std::array<std::string_view, kCount> kNames = {
      "X-Amz-Algorithm", "X-Amz-Credential",    "X-Amz-Date",
      "X-Amz-Expires",   "X-Amz-SignedHeaders", "X-Amz-Signature"};
  std::array<const std::string*, kCount> params{};
  for (const auto& [name, value] : query) {
    for (size_t i = 0; i < kCount; ++i) {
      if (name == kNames[i]) params[i] = &value;
    }
  }
  for (size_t i = 0; i < kCount; ++i) {
    if (params[i] == nullptr) return Malformed(true, fmt::format("{} is missing", kNames[i]));
  }
  if (*params[kAlgorithmParam] != kAlgorithm) {
    return Malformed(true, fmt::format("X-Amz-Algorithm \"{}\" is not {}", *params[kAlgorithmParam],
                                       kAlgorithm));
  }
  DEPOT_RETURN_IF_ERROR(ParseCredential(*params[kCredential], true, claim));
  claim.amz_date = *params[kDate];
  int64_t expires = 0;
  const std::string& text = *params[kExpires];
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), expires);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Malformed(true, fmt::format("X-Amz-Expires \"{}\" is not 1..{} seconds", text,
                                       kMaxPresignExpiry.count()));
  }
  if (expires < 1) {  // valid for no time at all: expired, as S3 answers it
    return Fail(StatusCode::kPermissionDenied, "AccessDenied",
                fmt::format("Request has expired (X-Amz-Expires is {})", expires));
  }
  if (expires > kMaxPresignExpiry.count()) {  // a well-formed URL S3 refuses with 403
    return Fail(StatusCode::kPermissionDenied, "AuthorizationQueryParametersError",
                fmt::format("X-Amz-Expires {} is over a week ({} seconds)", expires,
                            kMaxPresignExpiry.count()));
  }
  claim.expires = std::chrono::seconds(expires);
  claim.signed_headers = Split(*params[kSignedHeaders], ';');
  claim.signature = *params[kSignature];
  return claim;
}

}  // namespace

Result<RequestTarget> ParseRequestTarget(std::string_view target) {
  RequestTarget out;
  const size_t question = target.find('?');
  DEPOT_ASSIGN_OR_RETURN(out.path, PercentDecode(target.substr(0, question)));
  if (question == std::string_view::npos) return out;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t equals = pair.find('=');
    DEPOT_ASSIGN_OR_RETURN(std::string name, PercentDecode(pair.substr(0, equals)));
    std::string value;
    if (equals != std::string_view::npos) {
      DEPOT_ASSIGN_OR_RETURN(value, PercentDecode(pair.substr(equals + 1)));
    }
    out.query.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Result<Authenticated> VerifySigV4(const IncomingRequest& request, const SecretLookup& secrets,
                                  std::chrono::system_clock::time_point now,
                                  const VerifyOptions& options) {
  Result<RequestTarget> parsed = ParseRequestTarget(request.target);
  if (!parsed.ok()) {
    return Fail(
        StatusCode::kInvalidArgument, "InvalidURI",
        fmt::format("request target \"{}\": {}", request.target, parsed.status().message()));
  }
  RequestTarget target = std::move(parsed).value();
  const bool presigned = std::any_of(target.query.begin(), target.query.end(),
                                     [](const Header& q) { return q.first == "X-Amz-Signature"; });
  const std::string* authorization = FindHeader(request, "authorization");
  if (authorization == nullptr && !presigned) {
    return Fail(StatusCode::kPermissionDenied, "AccessDenied",
                "the request carries no credentials (anonymous access is not allowed)");
  }
  Claim claim;
  if (presigned) {
    DEPOT_ASSIGN_OR_RETURN(claim, ClaimFromQuery(target.query));
  } else {
    DEPOT_ASSIGN_OR_RETURN(claim, ClaimFromHeader(*authorization));
    const std::string* date = FindHeader(request, "x-amz-date");
    if (date == nullptr) {
      return Fail(StatusCode::kPermissionDenied, "AccessDenied",
                  "AWS authentication requires a valid x-amz-date header");
    }
    claim.amz_date = *date;
  }
  const auto signed_at = ParseAmzDate(claim.amz_date);
  if (!signed_at) {
    return Malformed(presigned, fmt::format("date \"{}\" is not YYYYMMDDTHHMMSSZ", claim.amz_date));
  }
  if (claim.date != claim.amz_date.substr(0, 8)) {
    return Malformed(presigned, fmt::format("the credential's date {} is not the request's ({})",
                                            claim.date, claim.amz_date));
  }
  if (claim.service != "s3") {
    return Malformed(presigned, fmt::format("service \"{}\" is not s3", claim.service));
  }
  if (!options.region.empty() && claim.region != options.region) {
    return Malformed(presigned, fmt::format("the region '{}' is wrong; expecting '{}'",
                                            claim.region, options.region));
  }
  if (std::find(claim.signed_headers.begin(), claim.signed_headers.end(), "host") ==
      claim.signed_headers.end()) {
    return Malformed(presigned, "the signed headers must include host");
  }

  s3::SignableRequest canonical;
  canonical.method = request.method;
  canonical.path = target.path;
  const std::string* host = FindHeader(request, "host");
  canonical.host = host != nullptr ? *host : "";
  for (auto& [name, value] : target.query) {
    if (presigned && name == "X-Amz-Signature") continue;
    canonical.query.emplace_back(name, value);
  }
  const std::string* content_sha256 = FindHeader(request, "x-amz-content-sha256");
  if (content_sha256 != nullptr) {
    canonical.payload_sha256 = *content_sha256;
  } else if (presigned) {
    canonical.payload_sha256 = std::string(s3::kUnsignedPayload);
  } else {
    return Fail(StatusCode::kInvalidArgument, "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256");
  }
  bool date_signed = false;
  for (const std::string& name : claim.signed_headers) {
    if (name == "host") continue;
    if (name == "x-amz-date" && !presigned) {
      date_signed = true;
      continue;
    }
    bool found = false;
    for (const auto& [header, value] : request.headers) {
      if (EqualsIgnoreCase(header, name)) {
        canonical.headers.emplace_back(name, value);
        found = true;
      }
    }
    if (!found) canonical.headers.emplace_back(name, "");
  }
  const std::string canonical_request =
      s3::CanonicalRequest(canonical, date_signed ? claim.amz_date : "", {});

  const std::optional<std::string> secret = secrets(claim.access_key);
  if (!secret) {
    return Fail(
        StatusCode::kUnauthenticated, "InvalidAccessKeyId",
        fmt::format("the access key id {} does not exist in our records", claim.access_key));
  }
  const std::string expected =
      s3::SignatureOf(*secret, {.region = claim.region, .service = claim.service}, claim.amz_date,
                      canonical_request);
  if (!ConstantTimeEqual(expected, claim.signature)) {
    return Fail(StatusCode::kUnauthenticated, "SignatureDoesNotMatch",
                "the request signature we calculated does not match the signature you provided; "
                "check your key and signing method");
  }

  // An x-amz-* header changes what a request does (x-amz-copy-source, x-amz-meta-*, ...): one
  // that was not signed would let the holder of a presigned URL make it do something else.
  for (const auto& [header, value] : request.headers) {
    if (header.size() < 6 || !EqualsIgnoreCase(std::string_view(header).substr(0, 6), "x-amz-")) {
      continue;
    }
    const std::string name = AsciiLower(header);
    if (name != "x-amz-content-sha256" &&
        std::find(claim.signed_headers.begin(), claim.signed_headers.end(), name) ==
            claim.signed_headers.end()) {
      return Fail(StatusCode::kPermissionDenied, "AccessDenied",
                  fmt::format("There were headers present in the request which were not signed: "
                              "{}",
                              name));
    }
  }

  if (presigned) {
    if (now > *signed_at + claim.expires) {
      return Fail(StatusCode::kPermissionDenied, "AccessDenied",
                  fmt::format("Request has expired (signed at {}, valid for {} s)", claim.amz_date,
                              claim.expires.count()));
    }
    if (*signed_at > now + options.max_skew) {
      return Fail(StatusCode::kPermissionDenied, "AccessDenied",
                  fmt::format("Request is not valid yet (signed at {})", claim.amz_date));
    }
  } else if (*signed_at > now + options.max_skew || now > *signed_at + options.max_skew) {
    return Fail(StatusCode::kUnauthenticated, "RequestTimeTooSkewed",
                fmt::format("the difference between the request time {} and the server's time "
                            "is too large",
                            claim.amz_date));
  }

  Authenticated who;
  who.access_key = claim.access_key;
  who.region = claim.region;
  who.payload_sha256 = canonical.payload_sha256;
  who.amz_date = claim.amz_date;
  who.signature = claim.signature;
  who.signing_key =
      s3::SigningKey(*secret, {.region = claim.region, .service = "s3"}, claim.amz_date);
  who.presigned = presigned;
  who.target = std::move(target);
  return who;
}

}  // namespace depot::s3
