// AWS Signature Version 4 for S3, as the specification ("Authenticating Requests: AWS Signature
// Version 4", Amazon S3 API reference) defines it:
//
//   canonical request = method \n encoded path \n canonical query \n canonical headers \n
//                       signed header names \n payload hash
//   string to sign    = "AWS4-HMAC-SHA256" \n amz date \n scope \n hex(SHA-256(canonical request))
//   scope             = yyyymmdd / region / service / "aws4_request"
//   signing key       = HMAC("AWS4" + secret, yyyymmdd) -> region -> service -> "aws4_request"
//   signature         = hex(HMAC(signing key, string to sign))
//
// Every input is validated before anything is built: a request is either refused with
// kInvalidArgument or signed exactly as it will be sent (the target comes from the same encoded
// pieces as the canonical request). Header values must not carry CR, LF or other control
// characters (the session token not even blanks), so nothing can smuggle an extra header onto the
// wire. Secrets never
// appear in error messages; access key ids (which AWS itself logs) may.
#include "depot/s3/signer.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <memory>

#include "depot/core/ascii.h"
#include "depot/core/md5.h"
#include "depot/core/quote.h"
#include "depot/core/url.h"
#include "depot/s3/chunked_payload.h"

namespace depot::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::chrono::seconds kMaxPresignExpiry{7 * 24 * 3600};

using Digest = std::array<uint8_t, SHA256_DIGEST_LENGTH>;

std::string_view AsText(const Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

// SHA-256 through one explicitly fetched EVP_MD and a context per thread: OpenSSL 3's one-shot
// SHA256() and HMAC() look the algorithm up, under locks, on every call, which cost the server
// more than the hashing of a small request.
Digest Sha256Of(std::initializer_list<std::string_view> parts) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  Digest out{};
  unsigned int length = 0;
  bool ok = md != nullptr && ctx != nullptr && EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1;
  for (std::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx.get(), out.data(), &length) == 1 && length == out.size();
  if (!ok) {
    std::fprintf(stderr, "depot: OpenSSL SHA-256 is unavailable\n");
    std::abort();
  }
  return out;
}

// HMAC-SHA256 (RFC 2104) over Sha256Of.
Digest HmacSha256(std::string_view key, std::string_view data) {
  constexpr size_t kBlock = 64;
  std::array<char, kBlock> inner_pad{};
  std::array<char, kBlock> outer_pad{};
  Digest hashed_key{};
  if (key.size() > kBlock) {
    hashed_key = Sha256Of({key});
    key = AsText(hashed_key);
  }
  for (size_t i = 0; i < kBlock; ++i) {
    const char k = i < key.size() ? key[i] : '\0';
    inner_pad[i] = static_cast<char>(k ^ 0x36);
    outer_pad[i] = static_cast<char>(k ^ 0x5c);
  }
  const Digest inner = Sha256Of({std::string_view(inner_pad.data(), kBlock), data});
  return Sha256Of({std::string_view(outer_pad.data(), kBlock), AsText(inner)});
}

bool IsAsciiAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 9110 token characters: what a method or a header name may be made of.
bool IsTokenChar(unsigned char c) {
  return IsAsciiAlnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// The offset of the first byte a header value may not hold (controls other than HTAB, and DEL),
// or npos.
size_t FindForbiddenInHeaderValue(std::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return i;
  }
  return std::string_view::npos;
}

// Trimall from the specification: leading and trailing blanks dropped, each inner run of blanks
// (spaces and tabs) folded to one space.
std::string TrimAll(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

// Headers the signer sets itself; a caller passing one would sign a second, conflicting copy.
constexpr std::array<std::string_view, 5> kReservedHeaders = {
    "host", "authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"};
// Query parameters Presign adds.
constexpr std::array<std::string_view, 7> kPresignParams = {
    "X-Amz-Algorithm",     "X-Amz-Credential",     "X-Amz-Date",     "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature"};

bool IsLowerHexSha256(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Region and service go into the scope, which is '/'-separated and travels unencoded in the
// Authorization header: only letters, digits, '-', '_' and '.'.
Status ValidateScopePart(std::string_view what, std::string_view value) {
  if (value.empty()) return InvalidArgumentError(fmt::format("signing scope: empty {}", what));
  for (char c : value) {
    if (!IsAsciiAlnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return InvalidArgumentError(
          fmt::format("signing scope: {} {} may hold only letters, digits, '-', '_' and '.'", what,
                      Quote(value)));
    }
  }
  return Status::Ok();
}

Status ValidateCredentials(const Credentials& credentials) {
  const std::string& key = credentials.access_key_id;
  if (key.empty()) return InvalidArgumentError("credentials: empty access key id");
  for (unsigned char c : key) {
    // The key id sits unencoded in the Authorization header's "Credential=KEY/scope,".
    if (c <= 0x20 || c >= 0x7F || c == '/' || c == ',' || c == '=') {
      return InvalidArgumentError(fmt::format(
          "credentials: access key id {} may hold only printable ASCII other than ' ', '/', ',' "
          "and '='",
          Quote(key)));
    }
  }
  if (credentials.secret_access_key.empty()) {
    return InvalidArgumentError(
        fmt::format("credentials for access key id {}: empty secret access key", Quote(key)));
  }
  // Tokens are base64; anything but printable ASCII (blanks included) is a corrupted token. It
  // is a secret: name the position, not the bytes.
  const std::string& token = credentials.session_token;
  for (size_t i = 0; i < token.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(token[i]);
    if (c <= 0x20 || c >= 0x7F) {
      return InvalidArgumentError(fmt::format(
          "credentials for access key id {}: session token holds a byte other than printable "
          "ASCII at offset {}",
          Quote(key), i));
    }
  }
  return Status::Ok();
}

Status ValidateRequest(const SignableRequest& request, bool presign) {
  if (request.method.empty()) return InvalidArgumentError("request: empty method");
  for (unsigned char c : request.method) {
    if (!IsTokenChar(c)) {
      return InvalidArgumentError(
          fmt::format("request: method {} is not an HTTP token", Quote(request.method)));
    }
  }
  if (request.host.empty()) return InvalidArgumentError("request: empty host");
  for (unsigned char c : request.host) {
    if (c <= 0x20 || c >= 0x7F || c == '/' || c == '?' || c == '#' || c == '@') {
      return InvalidArgumentError(fmt::format(
          "request: host {} may hold only printable ASCII other than ' ', '/', '?', '#' and '@'",
          Quote(request.host)));
    }
  }
  if (request.path.empty() || request.path.front() != '/') {
    return InvalidArgumentError(
        fmt::format("request: path {} does not start with '/'", Quote(request.path)));
  }
  for (const auto& [name, value] : request.query) {
    if (name.empty()) {
      return InvalidArgumentError(
          fmt::format("request: query parameter with an empty name (value {})", Quote(value)));
    }
    // Set by the presigner; in a header-signed request they would make it a second, conflicting
    // authentication, which S3 (and depot serve) refuse.
    for (std::string_view reserved : kPresignParams) {
      if (EqualsIgnoreCase(name, reserved)) {
        return InvalidArgumentError(fmt::format(
            "request: query parameter {} is SigV4's presigning parameter", Quote(name)));
      }
    }
  }
  for (const auto& [name, value] : request.headers) {
    if (name.empty()) {
      return InvalidArgumentError(
          fmt::format("request: header with an empty name (value {})", Quote(value)));
    }
    for (unsigned char c : name) {
      if (!IsTokenChar(c)) {
        return InvalidArgumentError(
            fmt::format("request: header name {} is not an HTTP token", Quote(name)));
      }
    }
    for (std::string_view reserved : kReservedHeaders) {
      if (EqualsIgnoreCase(name, reserved)) {
        return InvalidArgumentError(
            fmt::format("request: header {} is set by the signer or the HTTP client", Quote(name)));
      }
    }
    if (size_t at = FindForbiddenInHeaderValue(value); at != std::string_view::npos) {
      return InvalidArgumentError(
          fmt::format("request: header {} value {} holds a control character at offset {}",
                      Quote(name), Quote(value), at));
    }
  }
  if (!presign && request.payload_sha256 != kUnsignedPayload &&
      !IsLowerHexSha256(request.payload_sha256) &&
      request.payload_sha256 != kStreamingUnsignedTrailer) {
    // The signed aws-chunked forms need chunk signatures this signer does not make.
    return InvalidArgumentError(
        fmt::format("request: payload hash {} is neither {}, {} nor 64 lower-case hex digits",
                    Quote(request.payload_sha256), kUnsignedPayload, kStreamingUnsignedTrailer));
  }
  return Status::Ok();
}

Status ValidateTime(std::chrono::system_clock::time_point now) {
  std::chrono::year_month_day day{std::chrono::floor<std::chrono::days>(now)};
  if (day.year() < std::chrono::year(1970) || day.year() > std::chrono::year(9999)) {
    return InvalidArgumentError(
        fmt::format("signing time in year {} is outside 1970..9999", static_cast<int>(day.year())));
  }
  return Status::Ok();
}

std::string CanonicalQuery(const std::vector<Header>& query) {
  std::vector<Header> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, true), UriEncode(value, true));
  }
  // The specification sorts the encoded names (then values) by byte.
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

struct Canonical {
  std::string request;         // the canonical request text
  std::string signed_headers;  // "host;range;x-amz-date"
};

Canonical BuildCanonical(const SignableRequest& request, std::string_view canonical_query,
                         std::string_view amz_date, const std::vector<Header>& extra) {
  // Lower-cased name -> trimmed values joined by ',' in the order given (repeated headers).
  std::map<std::string, std::string> headers;
  auto add = [&headers](std::string_view name, std::string_view value) {
    auto [it, inserted] = headers.try_emplace(AsciiLower(name), TrimAll(value));
    if (!inserted) {
      it->second += ',';
      it->second += TrimAll(value);
    }
  };
  add("host", request.host);
  for (const auto& [name, value] : request.headers) add(name, value);
  for (const auto& [name, value] : extra) add(name, value);
  if (!amz_date.empty()) add("x-amz-date", amz_date);

  Canonical out;
  std::string block;
  for (const auto& [name, value] : headers) {
    block.append(name).append(1, ':').append(value).append(1, '\n');
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += name;
  }
  const std::string path = UriEncode(request.path, false);
  std::string& text = out.request;
  text.reserve(request.method.size() + path.size() + canonical_query.size() + block.size() +
               out.signed_headers.size() + request.payload_sha256.size() + 5);
  text.append(request.method).append(1, '\n').append(path).append(1, '\n');
  text.append(canonical_query).append(1, '\n').append(block).append(1, '\n');
  text.append(out.signed_headers).append(1, '\n').append(request.payload_sha256);
  return out;
}

std::string ScopeOf(std::string_view amz_date, const SigningScope& scope) {
  return fmt::format("{}/{}/{}/aws4_request", amz_date.substr(0, 8), scope.region, scope.service);
}

std::string Signature(const Credentials& credentials, const SigningScope& scope,
                      std::string_view amz_date, std::string_view canonical_request) {
  return SignatureOf(credentials.secret_access_key, scope, amz_date, canonical_request);
}

Status ValidateAll(const SignableRequest& request, const Credentials& credentials,
                   const SigningScope& scope, std::chrono::system_clock::time_point now,
                   bool presign) {
  DEPOT_RETURN_IF_ERROR(ValidateRequest(request, presign));
  DEPOT_RETURN_IF_ERROR(ValidateCredentials(credentials));
  DEPOT_RETURN_IF_ERROR(ValidateScopePart("region", scope.region));
  DEPOT_RETURN_IF_ERROR(ValidateScopePart("service", scope.service));
  return ValidateTime(now);
}

std::string Target(const SignableRequest& request, std::string_view canonical_query) {
  std::string target = UriEncode(request.path, false);
  if (!canonical_query.empty()) {
    target += '?';
    target += canonical_query;
  }
  return target;
}

}  // namespace

std::string UriEncode(std::string_view s, bool encode_slash) {
  return PercentEncode(s, encode_slash ? "" : "/");
}

std::string CanonicalRequest(const SignableRequest& request, std::string_view amz_date,
                             const std::vector<Header>& extra_signed_headers) {
  return BuildCanonical(request, CanonicalQuery(request.query), amz_date, extra_signed_headers)
      .request;
}

std::string SignatureOf(std::string_view secret, const SigningScope& scope,
                        std::string_view amz_date, std::string_view canonical_request) {
  std::string string_to_sign;
  string_to_sign.reserve(160);
  string_to_sign.append(kAlgorithm).append(1, '\n').append(amz_date).append(1, '\n');
  string_to_sign.append(amz_date.substr(0, 8)).append(1, '/').append(scope.region);
  string_to_sign.append(1, '/').append(scope.service).append("/aws4_request\n");
  string_to_sign.append(Sha256Hex(canonical_request));
  return HmacSha256Hex(SigningKey(secret, scope, amz_date), string_to_sign);
}

std::string SigningKey(std::string_view secret, const SigningScope& scope,
                       std::string_view amz_date) {
  // The key changes once a day per secret and scope: each thread keeps the last one it derived.
  struct Cached {
    std::string secret, day, region, service, key;
  };
  thread_local Cached cached;
  const std::string_view day = amz_date.substr(0, 8);
  if (cached.key.empty() || cached.secret != secret || cached.day != day ||
      cached.region != scope.region || cached.service != scope.service) {
    Digest key = HmacSha256("AWS4" + std::string(secret), day);
    key = HmacSha256(AsText(key), scope.region);
    key = HmacSha256(AsText(key), scope.service);
    key = HmacSha256(AsText(key), "aws4_request");
    cached = {std::string(secret), std::string(day), scope.region, scope.service,
              std::string(AsText(key))};
  }
  return cached.key;
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  return HexEncode(HmacSha256(key, data));
}

std::string CredentialScope(std::string_view amz_date, const SigningScope& scope) {
  return ScopeOf(amz_date, scope);
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256Of({data})); }

std::string FormatAmzDate(std::chrono::system_clock::time_point t) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  auto day = std::chrono::floor<std::chrono::days>(seconds);
  std::chrono::year_month_day date{day};
  std::chrono::hh_mm_ss time{seconds - day};
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     time.hours().count(), time.minutes().count(), time.seconds().count());
}

Result<SignedRequest> SignHeaders(const SignableRequest& request, const Credentials& credentials,
                                  const SigningScope& scope,
                                  std::chrono::system_clock::time_point now) {
  DEPOT_RETURN_IF_ERROR(ValidateAll(request, credentials, scope, now, /*presign=*/false));
  const std::string amz_date = FormatAmzDate(now);
  std::vector<Header> extra = {{"x-amz-content-sha256", request.payload_sha256}};
  if (!credentials.session_token.empty()) {
    extra.emplace_back("x-amz-security-token", credentials.session_token);
  }
  const std::string query = CanonicalQuery(request.query);
  Canonical canonical = BuildCanonical(request, query, amz_date, extra);

  SignedRequest out;
  out.target = Target(request, query);
  out.headers.emplace_back("x-amz-date", amz_date);
  for (auto& header : extra) out.headers.push_back(std::move(header));
  out.headers.emplace_back(
      "Authorization",
      fmt::format("{} Credential={}/{}, SignedHeaders={}, Signature={}", kAlgorithm,
                  credentials.access_key_id, ScopeOf(amz_date, scope), canonical.signed_headers,
                  Signature(credentials, scope, amz_date, canonical.request)));
  return out;
}

Result<std::string> Presign(const SignableRequest& request, const Credentials& credentials,
                            const SigningScope& scope, std::chrono::system_clock::time_point now,
                            std::chrono::seconds expires) {
  DEPOT_RETURN_IF_ERROR(ValidateAll(request, credentials, scope, now, /*presign=*/true));
  if (expires < std::chrono::seconds(1) || expires > kMaxPresignExpiry) {
    return InvalidArgumentError(fmt::format("presign: expiry of {} s is outside 1..{} s",
                                            expires.count(), kMaxPresignExpiry.count()));
  }
  const std::string amz_date = FormatAmzDate(now);
  SignableRequest presigned = request;
  presigned.payload_sha256 = std::string(kUnsignedPayload);
  // The signed header names go into the query, so they are computed first (no amz_date header:
  // the date travels in the query).
  const std::string signed_headers = BuildCanonical(presigned, "", "", {}).signed_headers;
  presigned.query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
  presigned.query.emplace_back("X-Amz-Credential", fmt::format("{}/{}", credentials.access_key_id,
                                                               ScopeOf(amz_date, scope)));
  presigned.query.emplace_back("X-Amz-Date", amz_date);
  presigned.query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
  presigned.query.emplace_back("X-Amz-SignedHeaders", signed_headers);
  if (!credentials.session_token.empty()) {
    presigned.query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  const std::string query = CanonicalQuery(presigned.query);
  Canonical canonical = BuildCanonical(presigned, query, "", {});
  return fmt::format("{}&X-Amz-Signature={}", Target(presigned, query),
                     Signature(credentials, scope, amz_date, canonical.request));
}

}  // namespace depot::s3
