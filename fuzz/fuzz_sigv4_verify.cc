// Fuzzes the request side of depot serve's SigV4 verifier (depot/s3/sigv4_verifier.h), which
// parses untrusted requests before anything else. The input is '\n'-separated fields:
//
//   method, request target, then headers as "Name: value" lines
//
// VerifySigV4 must never crash and may refuse only with its documented codes (kUnauthenticated,
// kPermissionDenied, kInvalidArgument). A request signed by depot's own signer (the same method,
// target path, query and headers, signed for FUZZKEY) must be accepted, as that user, with the
// target decoded back to the path that was signed; and what is accepted must be accepted again.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/url.h"
#include "depot/s3/signer.h"
#include "depot/s3/sigv4_verifier.h"

namespace {

namespace s3 = depot::s3;
using depot::s3::IncomingRequest;

[[noreturn]] void Fail(const char* what, std::string_view input, const std::string& detail) {
  std::fprintf(stderr, "fuzz_sigv4_verify: %s\n  input:  \"%.*s\"\n  detail: %s\n", what,
               static_cast<int>(input.size()), input.data(), detail.c_str());
  std::abort();
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const size_t at = text.find('\n');
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1'700'000'000)};

std::optional<std::string> Secret(std::string_view key) {
  if (key == "FUZZKEY") return std::string("fuzz-secret");
  return std::nullopt;
}

void CheckCode(const depot::Status& status, std::string_view input) {
  const auto code = status.code();
  if (code != depot::StatusCode::kUnauthenticated && code != depot::StatusCode::kPermissionDenied &&
      code != depot::StatusCode::kInvalidArgument) {
    Fail("refused with another code", input, status.ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines = Lines(input);
  lines.resize(std::max<size_t>(lines.size(), 2));
  IncomingRequest raw{std::string(lines[0]), std::string(lines[1]), {}};
  for (size_t i = 2; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = lines[i].substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    raw.headers.emplace_back(std::string(lines[i].substr(0, colon)), std::string(value));
  }
  auto verified = depot::s3::VerifySigV4(raw, Secret, kNow);
  if (!verified.ok()) CheckCode(verified.status(), input);

  // The same request as depot's signer would send it, signed for FUZZKEY.
  s3::SignableRequest request;
  request.method = raw.method;
  request.host = "127.0.0.1:9000";
  const std::string_view target = lines[1];
  const size_t question = target.find('?');
  auto path = depot::PercentDecode(target.substr(0, question));
  if (!path.ok()) return 0;
  request.path = *path;
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      const std::string_view item = query.substr(0, amp);
      const size_t eq = item.find('=');
      auto name = depot::PercentDecode(item.substr(0, eq));
      auto value = depot::PercentDecode(eq == std::string_view::npos ? "" : item.substr(eq + 1));
      if (!name.ok() || !value.ok()) return 0;
      request.query.emplace_back(*name, *value);
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  for (const auto& header : raw.headers) request.headers.push_back(header);
  request.payload_sha256 = std::string(s3::kUnsignedPayload);
  const s3::Credentials credentials{"FUZZKEY", "fuzz-secret", ""};
  auto signed_request = s3::SignHeaders(request, credentials, {}, kNow);
  if (!signed_request.ok()) return 0;  // the signer refuses it: nothing to compare
  IncomingRequest sent{request.method, signed_request->target, {{"Host", request.host}}};
  for (const auto& header : request.headers) sent.headers.push_back(header);
  for (const auto& header : signed_request->headers) sent.headers.push_back(header);
  auto accepted = depot::s3::VerifySigV4(sent, Secret, kNow);
  if (!accepted.ok()) {
    Fail("a request depot's signer signed was refused", input, accepted.status().ToString());
  }
  if (accepted->access_key != "FUZZKEY" || accepted->target.path != request.path) {
    Fail("accepted as another user or path", input, accepted->target.path);
  }
  auto again = depot::s3::VerifySigV4(sent, Secret, kNow);
  if (!again.ok() || again->signature != accepted->signature) {
    Fail("verifying twice differs", input, again.status().ToString());
  }
  return 0;
}
