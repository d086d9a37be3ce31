#include "depot/s3/chunked_payload.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "depot/core/testing/status_matchers.h"

namespace depot::s3 {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// AWS's published example of a chunked upload (Signature Version 4, "Transferring Payload in
// Multiple Chunks"): 66,560 bytes of 'a' in chunks of 65,536 and 1,024 bytes.
constexpr std::string_view kSeed =
    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
constexpr std::string_view kChunk1 =
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
constexpr std::string_view kChunk2 =
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
constexpr std::string_view kFinal =
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

Result<Authenticated> AwsExampleRequest() {
  IncomingRequest request{
      "PUT",
      "/examplebucket/chunkObject.txt",
      {{"Host", "s3.amazonaws.com"},
       {"x-amz-date", "20130524T000000Z"},
       {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
       {"Authorization",
        fmt::format("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                    "aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-"
                    "content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
                    "Signature={}",
                    kSeed)},
       {"x-amz-content-sha256", std::string(kStreamingPayload)},
       {"Content-Encoding", "aws-chunked"},
       {"x-amz-decoded-content-length", "66560"},
       {"Content-Length", "66824"}}};
  auto secrets = [](std::string_view) -> std::optional<std::string> {
    return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  };
  using namespace std::chrono;
  return VerifySigV4(request, secrets, sys_days(year(2013) / May / 24) + minutes(1));
}

std::string AwsExampleBody() {
  return fmt::format(
      "10000;chunk-signature={}\r\n{}\r\n400;chunk-signature={}\r\n{}\r\n"
      "0;chunk-signature={}\r\n\r\n",
      kChunk1, std::string(65536, 'a'), kChunk2, std::string(1024, 'a'), kFinal);
}

// Encodes `payload` in chunks of `chunk` bytes, signed as the specification says.
std::string Encode(const Authenticated& who, std::string_view payload, size_t chunk) {
  const std::string scope =
      s3::CredentialScope(who.amz_date, {.region = who.region, .service = "s3"});
  std::string previous = who.signature;
  std::string body;
  for (size_t at = 0;; at += chunk) {
    const std::string_view data = payload.substr(std::min(at, payload.size()), chunk);
    previous = s3::HmacSha256Hex(
        who.signing_key,
        fmt::format("AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{}\n{}", who.amz_date, scope, previous,
                    s3::kEmptyPayloadSha256, s3::Sha256Hex(data)));
    body += fmt::format("{:x};chunk-signature={}\r\n{}\r\n", data.size(), previous, data);
    if (data.empty()) return body;
  }
}

// Feeds `body` in pieces of random sizes.
Status Decode(ChunkedPayloadDecoder& decoder, std::string_view body, std::string& out,
              uint32_t seed) {
  std::mt19937 rng(seed);
  while (!body.empty()) {
    const size_t n = std::min<size_t>(body.size(), 1 + rng() % 9000);
    DEPOT_RETURN_IF_ERROR(decoder.Feed(body.substr(0, n), out));
    body.remove_prefix(n);
  }
  return decoder.Finish();
}

TEST(ChunkedPayloadTest, DecodesAwsDocumentedExample) {
  auto who = AwsExampleRequest();
  ASSERT_THAT(who, IsOk());
  EXPECT_EQ(who->payload_sha256, kStreamingPayload);
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    ChunkedPayloadDecoder decoder(*who, 66560);
    std::string out;
    ASSERT_THAT(Decode(decoder, AwsExampleBody(), out, seed), IsOk());
    EXPECT_EQ(out, std::string(66560, 'a'));
  }
  // Our encoder writes exactly AWS's body.
  EXPECT_EQ(Encode(*who, std::string(66560, 'a'), 65536), AwsExampleBody());
}

TEST(ChunkedPayloadTest, RefusesAlteredDroppedReorderedAndExtraChunks) {
  auto who = AwsExampleRequest();
  ASSERT_THAT(who, IsOk());
  const std::string payload(3000, 'x');
  const std::string good = Encode(*who, payload, 1000);
  auto decode = [&](const std::string& body, std::optional<uint64_t> length = 3000) {
    ChunkedPayloadDecoder decoder(*who, length);
    std::string out;
    return Decode(decoder, body, out, 7);
  };
  ASSERT_THAT(decode(good), IsOk());

  std::string altered = good;
  altered[altered.find("xxx") + 500] = 'y';
  EXPECT_THAT(decode(altered),
              StatusIs(StatusCode::kUnauthenticated, StartsWith("SignatureDoesNotMatch: chunk 1")));

  // The second chunk dropped: the third's signature chains from the second's.
  const size_t second = good.find("3e8;", 10);
  const size_t third = good.find("3e8;", second + 10);
  EXPECT_THAT(decode(good.substr(0, second) + good.substr(third), 2000),
              StatusIs(StatusCode::kUnauthenticated, StartsWith("SignatureDoesNotMatch: chunk 2")));
  // Ends early, without the final chunk.
  EXPECT_THAT(decode(good.substr(0, third)),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("IncompleteBody")));
  // Bytes after the final chunk.
  EXPECT_THAT(decode(good + "0;"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("follow")));
  // The decoded length disagrees.
  EXPECT_THAT(decode(good, 2999),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("IncompleteBody")));
  EXPECT_THAT(decode(good, 3001),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("IncompleteBody")));
  // Another request's chunks (the seed differs).
  Authenticated other = *who;
  other.signature = std::string(64, '0');
  EXPECT_THAT(decode(Encode(other, payload, 1000)),
              StatusIs(StatusCode::kUnauthenticated, StartsWith("SignatureDoesNotMatch")));
}

TEST(ChunkedPayloadTest, RefusesBadFramingAndOversizedChunks) {
  auto who = AwsExampleRequest();
  ASSERT_THAT(who, IsOk());
  auto decode = [&](const std::string& body) {
    ChunkedPayloadDecoder decoder(*who, std::nullopt, 4096);
    std::string out;
    return Decode(decoder, body, out, 3);
  };
  const std::string sig(64, 'a');
  for (const std::string& bad : std::vector<std::string>{
           "zz;chunk-signature=" + sig + "\r\n", "10\r\n", "10;chunk-signature=" + sig + "\n",
           "1;chunk-signature=ABC\r\nx\r\n", std::string(300, '1') + "\r\n"}) {
    EXPECT_THAT(decode(bad), StatusIs(StatusCode::kInvalidArgument, StartsWith("InvalidRequest")))
        << bad;
  }
  EXPECT_THAT(decode("1001;chunk-signature=" + sig + "\r\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("larger than the 4096")));
  // A good chunk whose data is not followed by CRLF.
  std::string body = Encode(*who, "abc", 3);
  body[body.find("abc") + 3] = 'X';
  EXPECT_THAT(decode(body), StatusIs(StatusCode::kInvalidArgument, HasSubstr("CRLF")));
}

// The trailer forms: signed chunks then a signed trailer, and unsigned chunks then a trailer.
TEST(ChunkedPayloadTest, DecodesTrailersAndChecksTheTrailerSignature) {
  auto example = AwsExampleRequest();
  ASSERT_THAT(example, IsOk());
  Authenticated who = *example;
  who.payload_sha256 = std::string(kStreamingPayloadTrailer);
  const std::string payload(2500, 'y');
  // Encode ends with the final chunk's CRLF CRLF: drop the last CRLF, append the trailer.
  std::string chunks = Encode(who, payload, 1000);
  chunks.resize(chunks.size() - 2);
  const std::string final_signature = chunks.substr(chunks.rfind('=') + 1, 64);
  const std::string scope = s3::CredentialScope(who.amz_date, {.region = who.region});
  auto signed_body = [&](std::string trailer_line, std::string signed_line) {
    const std::string signature = s3::HmacSha256Hex(
        who.signing_key, fmt::format("AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}", who.amz_date,
                                     scope, final_signature, s3::Sha256Hex(signed_line + "\n")));
    return chunks + trailer_line + "\r\nx-amz-trailer-signature:" + signature + "\r\n\r\n";
  };
  const std::string crc = "x-amz-checksum-crc32:AAAAAA==";
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    ChunkedPayloadDecoder decoder(who, 2500);
    std::string out;
    ASSERT_THAT(Decode(decoder, signed_body(crc, crc), out, seed), IsOk());
    EXPECT_EQ(out, payload);
    EXPECT_EQ(
        decoder.trailers(),
        (std::vector<std::pair<std::string, std::string>>{{"x-amz-checksum-crc32", "AAAAAA=="}}));
  }
  {
    // A trailer changed after it was signed.
    ChunkedPayloadDecoder decoder(who, 2500);
    std::string out;
    EXPECT_THAT(Decode(decoder, signed_body("x-amz-checksum-crc32:BBBBBB==", crc), out, 1),
                StatusIs(StatusCode::kUnauthenticated, HasSubstr("trailing headers")));
  }
  {
    // Unsigned: plain sizes, a trailer, no signatures anywhere.
    who.payload_sha256 = std::string(kStreamingUnsignedTrailer);
    const std::string body =
        "3e8\r\n" + std::string(1000, 'z') + "\r\n5\r\nhello\r\n0\r\n" + crc + "\r\n\r\n";
    for (uint32_t seed = 1; seed <= 3; ++seed) {
      ChunkedPayloadDecoder decoder(who, 1005);
      std::string out;
      ASSERT_THAT(Decode(decoder, body, out, seed), IsOk());
      EXPECT_EQ(out, std::string(1000, 'z') + "hello");
      EXPECT_EQ(decoder.trailers().size(), 1u);
    }
    ChunkedPayloadDecoder cut(who, 1005);
    std::string out;
    EXPECT_THAT(Decode(cut, body.substr(0, body.size() - 2), out, 1),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("IncompleteBody")));
  }
}

}  // namespace
}  // namespace depot::s3
