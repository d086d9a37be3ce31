// Fuzzes the aws-chunked decoder of depot serve (depot/s3/chunked_payload.h), which reads
// request bodies from the network. The first input byte picks a mode and a piece size:
//
//   even: the rest is a body as a client might send it, fed in pieces of that size;
//   odd:  the rest is the payload of up to 8 chunks (separated by 0xff); the harness signs them
//         properly as chunks of one request and feeds the body in pieces of that size, flipping
//         the body byte at the position the last two input bytes name (when they name one).
//
// The decoder must never crash, must refuse only with its documented codes (kInvalidArgument,
// kUnauthenticated), and must repeat an error once it gave one. What it releases must be a prefix
// of what was signed (never a byte of an altered chunk); a properly signed body must decode to
// exactly its payload, and Finish must accept only a body that decoded completely.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "depot/s3/chunked_payload.h"
#include "depot/s3/signer.h"
#include "depot/s3/sigv4_verifier.h"

namespace {

namespace s3 = depot::s3;
using depot::s3::Authenticated;

[[noreturn]] void Fail(const char* what, std::string_view input, const std::string& detail) {
  std::fprintf(stderr, "fuzz_chunked: %s\n  input:  %zu bytes\n  detail: %s\n", what, input.size(),
               detail.c_str());
  std::abort();
}

// One verified aws-chunked request: what the verifier hands the decoder (the request's signature
// seeds the chain; the signing key is the secret's, derived for the request's day and scope).
const Authenticated& Request() {
  static const Authenticated who = [] {
    Authenticated out;
    out.access_key = "FUZZKEY";
    out.region = "us-east-1";
    out.amz_date = "20231114T221320Z";
    out.payload_sha256 = std::string(depot::s3::kStreamingPayload);
    out.signature = s3::Sha256Hex("the request's own signature");
    out.signing_key = s3::SigningKey("fuzz-secret", {.region = out.region}, out.amz_date);
    return out;
  }();
  return who;
}

std::string ChunkSignature(const Authenticated& who, const std::string& previous,
                           std::string_view data) {
  s3::SigningScope scope;
  scope.region = who.region;
  const std::string to_sign = "AWS4-HMAC-SHA256-PAYLOAD\n" + who.amz_date + "\n" +
                              s3::CredentialScope(who.amz_date, scope) + "\n" + previous + "\n" +
                              std::string(s3::kEmptyPayloadSha256) + "\n" + s3::Sha256Hex(data);
  return s3::HmacSha256Hex(who.signing_key, to_sign);
}

void CheckCode(const depot::Status& status, std::string_view input) {
  if (status.code() != depot::StatusCode::kInvalidArgument &&
      status.code() != depot::StatusCode::kUnauthenticated) {
    Fail("refused with another code", input, status.ToString());
  }
}

// Feeds `body` in pieces of `piece` bytes; returns the decoded bytes and the final status.
std::pair<std::string, depot::Status> Decode(std::string_view body, size_t piece,
                                             std::optional<uint64_t> length,
                                             std::string_view input) {
  depot::s3::ChunkedPayloadDecoder decoder(Request(), length, 1 << 20);
  std::string out;
  depot::Status status = depot::Status::Ok();
  for (size_t at = 0; at < body.size() && status.ok(); at += piece) {
    status = decoder.Feed(body.substr(at, piece), out);
  }
  if (status.ok()) status = decoder.Finish();
  if (!status.ok()) {
    CheckCode(status, input);
    std::string more;
    if (decoder.Feed("0", more).code() != status.code() || !more.empty()) {
      Fail("an error was not repeated", input, status.ToString());
    }
  }
  if (decoder.decoded() != out.size()) Fail("decoded() differs from the bytes released", input, "");
  return {out, status};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.empty()) return 0;
  const auto mode = static_cast<uint8_t>(input[0]);
  const size_t piece = 1 + (mode >> 1) % 64;
  std::string_view rest = input.substr(1);
  if ((mode & 1) == 0) {
    (void)Decode(rest, piece, std::nullopt, input);
    return 0;
  }

  std::optional<size_t> flip;
  if (rest.size() >= 2) {
    flip = static_cast<uint8_t>(rest[rest.size() - 2]) * 256 + static_cast<uint8_t>(rest.back());
    rest.remove_suffix(2);
  }
  std::vector<std::string_view> chunks;
  while (chunks.size() < 8) {
    const size_t cut = rest.find('\xff');
    chunks.push_back(rest.substr(0, cut));
    if (cut == std::string_view::npos) break;
    rest.remove_prefix(cut + 1);
  }
  const Authenticated& who = Request();
  std::string previous = who.signature;
  std::string body;
  std::string payload;
  for (std::string_view chunk : chunks) {
    if (chunk.empty()) continue;  // an empty chunk is the final one
    const std::string signature = ChunkSignature(who, previous, chunk);
    char size_hex[32];
    std::snprintf(size_hex, sizeof(size_hex), "%zx", chunk.size());
    body += std::string(size_hex) + ";chunk-signature=" + signature + "\r\n";
    body += std::string(chunk) + "\r\n";
    payload += chunk;
    previous = signature;
  }
  body += "0;chunk-signature=" + ChunkSignature(who, previous, "") + "\r\n\r\n";

  auto [out, status] = Decode(body, piece, payload.size(), input);
  if (!status.ok() || out != payload)
    Fail("a properly signed body did not decode", input, status.ToString());
  if (flip && *flip < body.size()) {
    std::string altered = body;
    altered[*flip] = static_cast<char>(altered[*flip] ^ 0x01);
    auto [got, result] = Decode(altered, piece, payload.size(), input);
    if (payload.compare(0, got.size(), got) != 0) {
      Fail("an altered body released bytes that were not signed", input, result.ToString());
    }
    if (result.ok() && got != payload) Fail("Finish accepted an incomplete body", input, "");
  }
  return 0;
}
