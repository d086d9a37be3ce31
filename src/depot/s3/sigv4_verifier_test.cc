#include "depot/s3/sigv4_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdio.h>

#include <nlohmann/json.hpp>

#include "depot/core/testing/status_matchers.h"

namespace depot::s3 {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using s3::Credentials;
using s3::Header;
using s3::SignableRequest;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// AWS's published SigV4 example for S3 (GET Object with a Range header): the documentation's
// request, headers and signature.
constexpr std::string_view kExampleKey = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view kExampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::chrono::system_clock::time_point ExampleTime() {
  using namespace std::chrono;
  return sys_days(year(2013) / May / 24);
}

SecretLookup Secrets() {
  return [](std::string_view key) -> std::optional<std::string> {
    if (key == kExampleKey) return std::string(kExampleSecret);
    return std::nullopt;
  };
}

IncomingRequest AwsExample() {
  return {"GET",
          "/test.txt",
          {{"Host", "examplebucket.s3.amazonaws.com"},
           {"Range", "bytes=0-9"},
           {"x-amz-content-sha256", std::string(kEmptySha256)},
           {"x-amz-date", "20130524T000000Z"},
           {"Authorization",
            "AWS4-HMAC-SHA256 "
            "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"}}};
}

void SetHeader(IncomingRequest& request, std::string_view name, std::string value) {
  for (auto& [n, v] : request.headers) {
    if (n == name) v = std::move(value);
  }
}

TEST(SigV4VerifierTest, AcceptsAwsDocumentedHeaderExample) {
  auto who = VerifySigV4(AwsExample(), Secrets(), ExampleTime() + std::chrono::minutes(3));
  ASSERT_THAT(who, IsOk());
  EXPECT_EQ(who->access_key, kExampleKey);
  EXPECT_EQ(who->region, "us-east-1");
  EXPECT_EQ(who->payload_sha256, kEmptySha256);
  EXPECT_FALSE(who->presigned);
}

TEST(SigV4VerifierTest, AcceptsAwsDocumentedPresignedExample) {
  IncomingRequest request{
      "GET",
      "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
      "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
      "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
      "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
      {{"Host", "examplebucket.s3.amazonaws.com"}}};
  auto who = VerifySigV4(request, Secrets(), ExampleTime() + std::chrono::hours(23));
  ASSERT_THAT(who, IsOk());
  EXPECT_TRUE(who->presigned);
  EXPECT_EQ(who->payload_sha256, "UNSIGNED-PAYLOAD");
  // A day and a second later the URL has expired.
  EXPECT_THAT(
      VerifySigV4(request, Secrets(), ExampleTime() + std::chrono::seconds(86401)),
      StatusIs(StatusCode::kPermissionDenied, StartsWith("AccessDenied: Request has expired")));
  // A header added to a presigned URL's request that is not among its signed headers is refused.
  IncomingRequest added = request;
  added.headers.emplace_back("x-amz-metadata-directive", "REPLACE");
  EXPECT_THAT(VerifySigV4(added, Secrets(), ExampleTime() + std::chrono::hours(23)),
              StatusIs(StatusCode::kPermissionDenied, StartsWith("AccessDenied: There were")));
  // A changed query parameter breaks the signature.
  IncomingRequest longer = request;
  longer.target.replace(longer.target.find("86400"), 5, "86401");
  EXPECT_THAT(VerifySigV4(longer, Secrets(), ExampleTime()),
              StatusIs(StatusCode::kUnauthenticated, StartsWith("SignatureDoesNotMatch")));
}

TEST(SigV4VerifierTest, AnythingSignedThatChangesIsRefused) {
  const auto now = ExampleTime();
  auto expect_mismatch = [&](IncomingRequest request, std::string_view what) {
    EXPECT_THAT(VerifySigV4(request, Secrets(), now),
                StatusIs(StatusCode::kUnauthenticated, StartsWith("SignatureDoesNotMatch")))
        << what;
  };
  IncomingRequest request = AwsExample();
  request.method = "PUT";
  expect_mismatch(request, "method");
  request = AwsExample();
  request.target = "/test2.txt";
  expect_mismatch(request, "path");
  request = AwsExample();
  request.target = "/test.txt?versionId=1";
  expect_mismatch(request, "query");
  request = AwsExample();
  SetHeader(request, "Range", "bytes=0-10");
  expect_mismatch(request, "signed header");
  request = AwsExample();
  SetHeader(request, "Host", "otherbucket.s3.amazonaws.com");
  expect_mismatch(request, "host");
  request = AwsExample();
  SetHeader(request, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  expect_mismatch(request, "payload hash");

  // A header the client did not sign may change freely.
  request = AwsExample();
  request.headers.emplace_back("User-Agent", "anything");
  EXPECT_THAT(VerifySigV4(request, Secrets(), now), IsOk());
  // ... unless it is an x-amz-* header, which changes what the request does (as on S3).
  request = AwsExample();
  request.headers.emplace_back("X-Amz-Copy-Source", "/private/secret");
  EXPECT_THAT(VerifySigV4(request, Secrets(), now),
              StatusIs(StatusCode::kPermissionDenied,
                       ::testing::AllOf(
                           StartsWith("AccessDenied: There were headers present in the request "
                                      "which were not signed"),
                           ::testing::HasSubstr("x-amz-copy-source"))));
  // The wrong secret for the right key.
  auto wrong = [](std::string_view) -> std::optional<std::string> { return "not-the-secret"; };
  EXPECT_THAT(VerifySigV4(AwsExample(), wrong, now),
              StatusIs(StatusCode::kUnauthenticated, StartsWith("SignatureDoesNotMatch")));
}

TEST(SigV4VerifierTest, RoundTripsWithDepotsSignerForAwkwardRequests) {
  const Credentials credentials{"DEPOTKEY", "depot/secret+key", ""};
  SignableRequest signable;
  signable.method = "POST";
  signable.host = "127.0.0.1:9000";
  signable.path = "/bucket/a key/+~ü%/x";
  signable.query = {{"uploads", ""}, {"prefix", "a b&c=d/é"}};
  signable.headers = {{"Content-Type", "text/plain"}, {"x-amz-meta-Name", "  two   spaces "}};
  signable.payload_sha256 = s3::Sha256Hex("body");
  const auto now = std::chrono::system_clock::now();
  auto signed_request = s3::SignHeaders(signable, credentials, {}, now);
  ASSERT_THAT(signed_request, IsOk());
  IncomingRequest request{"POST", signed_request->target, {{"Host", "127.0.0.1:9000"}}};
  for (const auto& header : signable.headers) request.headers.push_back(header);
  for (const auto& header : signed_request->headers) request.headers.push_back(header);
  auto secrets = [&](std::string_view key) -> std::optional<std::string> {
    if (key == "DEPOTKEY") return credentials.secret_access_key;
    return std::nullopt;
  };
  auto who = VerifySigV4(request, secrets, now);
  ASSERT_THAT(who, IsOk());
  EXPECT_EQ(who->payload_sha256, s3::Sha256Hex("body"));

  auto url = s3::Presign(signable, credentials, {}, now, std::chrono::seconds(60));
  ASSERT_THAT(url, IsOk());
  IncomingRequest presigned{"POST", *url, {{"Host", "127.0.0.1:9000"}}};
  for (const auto& header : signable.headers) presigned.headers.push_back(header);
  EXPECT_THAT(VerifySigV4(presigned, secrets, now), IsOk());
  EXPECT_THAT(VerifySigV4(presigned, secrets, now + std::chrono::seconds(61)),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("expired")));
}

TEST(SigV4VerifierTest, RefusesWhatAwsRefuses) {
  const auto now = ExampleTime();
  IncomingRequest anonymous = AwsExample();
  std::erase_if(anonymous.headers, [](const Header& h) { return h.first == "Authorization"; });
  EXPECT_THAT(VerifySigV4(anonymous, Secrets(), now),
              StatusIs(StatusCode::kPermissionDenied, StartsWith("AccessDenied")));

  auto unknown = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  EXPECT_THAT(VerifySigV4(AwsExample(), unknown, now),
              StatusIs(StatusCode::kUnauthenticated,
                       AllOf(StartsWith("InvalidAccessKeyId"), HasSubstr(kExampleKey))));

  // Replayed 16 minutes later, or sent from a clock 16 minutes fast.
  for (auto skew : {std::chrono::minutes(16), std::chrono::minutes(-16)}) {
    EXPECT_THAT(VerifySigV4(AwsExample(), Secrets(), now + skew),
                StatusIs(StatusCode::kUnauthenticated, StartsWith("RequestTimeTooSkewed")));
  }

  IncomingRequest no_hash = AwsExample();
  std::erase_if(no_hash.headers, [](const Header& h) { return h.first == "x-amz-content-sha256"; });
  EXPECT_THAT(VerifySigV4(no_hash, Secrets(), now),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("x-amz-content-sha256")));

  for (std::string bad :
       {"Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
        "AWS4-HMAC-SHA256 Credential=K/20130524/us-east-1/sqs/aws4_request, SignedHeaders=host, "
        "Signature=00",
        "AWS4-HMAC-SHA256 Credential=K/20130525/us-east-1/s3/aws4_request, SignedHeaders=host, "
        "Signature=00",
        "AWS4-HMAC-SHA256 Credential=K/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=range;x-amz-date, Signature=00"}) {
    IncomingRequest request = AwsExample();
    SetHeader(request, "Authorization", bad);
    EXPECT_THAT(VerifySigV4(request, Secrets(), now),
                StatusIs(StatusCode::kInvalidArgument, StartsWith("AuthorizationHeaderMalformed")))
        << bad;
  }

  IncomingRequest bad_expiry{"GET",
                             "/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=K%2F20130524%2F"
                             "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-"
                             "Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
                             {{"Host", "h"}}};
  EXPECT_THAT(
      VerifySigV4(bad_expiry, Secrets(), now),
      StatusIs(StatusCode::kPermissionDenied,
               AllOf(StartsWith("AuthorizationQueryParametersError"), HasSubstr("604801"))));

  IncomingRequest bad_target = AwsExample();
  bad_target.target = "/test%zz.txt";
  EXPECT_THAT(VerifySigV4(bad_target, Secrets(), now),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("InvalidURI")));

  // Dates the clock cannot hold, and negative fields, are malformed, never an overflow (found by
  // fuzz_sigv4_verify: year 0123 overflowed system_clock's nanoseconds).
  for (std::string date : {"01231214T221320Z", "99991231T235959Z", "20130524T-10000Z"}) {
    IncomingRequest presigned{"GET",
                              "/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=K%2F20130524%2F"
                              "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=" +
                                  date +
                                  "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
                              {{"Host", "h"}}};
    EXPECT_THAT(VerifySigV4(presigned, Secrets(), now), StatusIs(StatusCode::kInvalidArgument))
        << date;
  }

  // A URL valid for no time at all has expired (403, as S3 answers it); one that is not a number
  // is malformed.
  for (std::string expires : {"0", "-1000"}) {
    IncomingRequest presigned{"GET",
                              "/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=K%2F20130524%2F"
                              "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
                              "&X-Amz-Expires=" +
                                  expires + "&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
                              {{"Host", "h"}}};
    EXPECT_THAT(VerifySigV4(presigned, Secrets(), now),
                StatusIs(StatusCode::kPermissionDenied, HasSubstr("Request has expired")))
        << expires;
  }

  VerifyOptions eu;
  eu.region = "eu-west-1";
  EXPECT_THAT(VerifySigV4(AwsExample(), Secrets(), now, eu),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("expecting 'eu-west-1'")));
}

// Requests signed by botocore, the SigV4 code inside awscli and boto3 (Debian's python3-botocore,
// installed by scripts/install-deps), in headers and as presigned URLs.
TEST(SigV4VerifierTest, AcceptsWhatBotocoreSigns) {
  FILE* pipe = ::popen("/usr/bin/python3 " DEPOT_BOTOCORE_SIGN, "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
  ASSERT_EQ(::pclose(pipe), 0) << "botocore_sign.py failed: is python3-botocore installed?";
  const auto now = std::chrono::system_clock::now();
  auto secrets = [](std::string_view key) -> std::optional<std::string> {
    if (key == "DEPOTKEY") return "depot/secret+key";
    return std::nullopt;
  };
  int checked = 0;
  size_t at = 0;
  while (at < output.size()) {
    const size_t end = output.find('\n', at);
    const nlohmann::json line = nlohmann::json::parse(output.substr(at, end - at));
    at = end == std::string::npos ? output.size() : end + 1;
    IncomingRequest request{line["method"], line["target"], {}};
    for (const auto& header : line["headers"]) request.headers.emplace_back(header[0], header[1]);
    const std::string name = line["name"];
    EXPECT_THAT(VerifySigV4(request, secrets, now), IsOk()) << name;
    // The same request with its signature's last digit changed is refused.
    IncomingRequest tampered = request;
    std::string& target = tampered.target;
    if (target.find("X-Amz-Signature=") != std::string::npos) {
      target.back() = target.back() == '0' ? '1' : '0';
    } else {
      for (auto& [header, value] : tampered.headers) {
        if (header == "Authorization") value.back() = value.back() == '0' ? '1' : '0';
      }
    }
    EXPECT_THAT(VerifySigV4(tampered, secrets, now),
                StatusIs(StatusCode::kUnauthenticated, StartsWith("SignatureDoesNotMatch")))
        << name;
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

}  // namespace
}  // namespace depot::s3
