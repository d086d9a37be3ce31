// Fuzzes the SigV4 signer (depot/s3/signer.h). The input is '\n'-separated fields:
//
//   method, host, path, query ("a=1&uploads&b=x"), headers ("Name:value|Name2:value"),
//   payload hash, access key id, secret, session token, region, expires (seconds), time
//   (seconds since the epoch)
//
// SignHeaders and Presign must never crash and may refuse only with kInvalidArgument. What they
// accept must be safe to put on the wire and consistent with what was signed: the target holds
// only unreserved characters, '%XX', '/', '?', '=' and '&', and its path decodes back to the
// request's; no output header holds a control character; the Authorization header and the
// presigned URL end in a 64-hex-digit signature; signing twice gives the same result. Also checks
// PercentDecode(UriEncode(x)) == x.
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/url.h"
#include "depot/s3/signer.h"

namespace {

using depot::s3::Header;

[[noreturn]] void Fail(const char* what, std::string_view input, const std::string& detail) {
  std::fprintf(stderr, "fuzz_sigv4: %s\n  input:  \"%.*s\"\n  detail: %s\n", what,
               static_cast<int>(input.size()), input.data(), detail.c_str());
  std::abort();
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  if (text.empty()) return out;
  while (true) {
    size_t at = text.find(separator);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

// "name<separator>value" as a pair; without the separator, the value is empty.
Header SplitAt(std::string_view item, char separator) {
  size_t at = item.find(separator);
  if (at == std::string_view::npos) return {std::string(item), ""};
  return {std::string(item.substr(0, at)), std::string(item.substr(at + 1))};
}

// `text` as a number clamped to +-limit (0 when it is not a number).
int64_t Number(std::string_view text, int64_t limit) {
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value < -limit ? -limit : (value > limit ? limit : value);
}

bool IsSafeOnTheWire(std::string_view target) {
  for (char c : target) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              std::string_view("-._~%/?=&").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool EndsWithSignature(std::string_view text, std::string_view marker) {
  if (text.size() < marker.size() + 64) return false;
  if (text.substr(text.size() - 64 - marker.size(), marker.size()) != marker) return false;
  for (char c : text.substr(text.size() - 64)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void CheckRefusal(const depot::Status& status, std::string_view input, const char* who) {
  if (status.code() != depot::StatusCode::kInvalidArgument) {
    Fail(who, input, status.ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace s3 = depot::s3;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  for (bool encode_slash : {false, true}) {
    std::string encoded = s3::UriEncode(input, encode_slash);
    depot::Result<std::string> decoded = depot::PercentDecode(encoded);
    if (!decoded.ok() || *decoded != input)
      Fail("PercentDecode(UriEncode(x)) != x", input, encoded);
    if (!IsSafeOnTheWire(encoded)) Fail("UriEncode left an unsafe byte", input, encoded);
  }

  std::vector<std::string_view> fields = Split(input, '\n');
  fields.resize(12);
  s3::SignableRequest request;
  request.method = fields[0];
  request.host = fields[1];
  request.path = fields[2];
  for (std::string_view item : Split(fields[3], '&')) request.query.push_back(SplitAt(item, '='));
  for (std::string_view item : Split(fields[4], '|')) request.headers.push_back(SplitAt(item, ':'));
  request.payload_sha256 = fields[5];
  const s3::Credentials credentials{std::string(fields[6]), std::string(fields[7]),
                                    std::string(fields[8])};
  s3::SigningScope scope;
  if (!fields[9].empty()) scope.region = fields[9];
  const std::chrono::seconds expires(Number(fields[10], INT64_MAX));
  // system_clock counts nanoseconds in 64 bits: keep within about +-285 years of 1970.
  const std::chrono::system_clock::time_point now{
      std::chrono::seconds(Number(fields[11], int64_t{9'000'000'000}))};

  depot::Result<s3::SignedRequest> signed_request =
      s3::SignHeaders(request, credentials, scope, now);
  if (!signed_request.ok()) {
    CheckRefusal(signed_request.status(), input, "SignHeaders refused with another code");
  } else {
    const std::string& target = signed_request->target;
    if (!IsSafeOnTheWire(target)) Fail("unsafe byte in the target", input, target);
    depot::Result<std::string> path = depot::PercentDecode(target.substr(0, target.find('?')));
    if (!path.ok() || *path != request.path)
      Fail("target path is not the request's", input, target);
    const std::vector<Header>& headers = signed_request->headers;
    if (headers.size() != (credentials.session_token.empty() ? 3u : 4u) ||
        headers.back().first != "Authorization") {
      Fail("unexpected signed headers", input, target);
    }
    for (const auto& [name, value] : headers) {
      for (char c : value) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          Fail("control character in an output header", input, name + ": " + value);
        }
      }
    }
    if (!EndsWithSignature(headers.back().second, ", Signature=")) {
      Fail("malformed Authorization", input, headers.back().second);
    }
    depot::Result<s3::SignedRequest> again = s3::SignHeaders(request, credentials, scope, now);
    if (!again.ok() || again->target != target || again->headers != headers) {
      Fail("signing is not deterministic", input, target);
    }
  }

  depot::Result<std::string> url = s3::Presign(request, credentials, scope, now, expires);
  if (!url.ok()) {
    CheckRefusal(url.status(), input, "Presign refused with another code");
  } else {
    if (!IsSafeOnTheWire(*url)) Fail("unsafe byte in the presigned target", input, *url);
    if (!EndsWithSignature(*url, "&X-Amz-Signature=")) Fail("malformed presigned URL", input, *url);
    if (url->find("&X-Amz-Expires=" + std::to_string(expires.count()) + "&") == std::string::npos) {
      Fail("presigned URL without its expiry", input, *url);
    }
  }
  return 0;
}
