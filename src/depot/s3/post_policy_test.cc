#include "depot/s3/post_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "depot/core/testing/status_matchers.h"

namespace depot::s3 {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const auto kNow = std::chrono::sys_days(std::chrono::year(2026) / 12 / 7) + 10h;

std::optional<std::string> Secrets(std::string_view key) {
  if (key == "AKID") return "secret";
  return std::nullopt;
}

// A form signed over `conditions`, with the fields a browser would send.
PostFields Form(std::string_view conditions, PostFields extra = {},
                std::chrono::seconds expires = 600s) {
  const PostSigning signing =
      SignPostPolicy("AKID", "secret", "us-east-1", conditions, kNow, expires);
  PostFields fields = {{"policy", signing.policy},
                       {"x-amz-algorithm", "AWS4-HMAC-SHA256"},
                       {"x-amz-credential", signing.credential},
                       {"x-amz-date", signing.amz_date},
                       {"x-amz-signature", signing.signature}};
  fields.merge(extra);
  return fields;
}

constexpr std::string_view kConditions =
    R"([{"bucket": "uploads"}, ["starts-with", "$key", "user/7/"],
        ["content-length-range", 1, 1000], ["starts-with", "$Content-Type", "image/"],
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, ["starts-with", "$x-amz-credential", "AKID/"],
        ["starts-with", "$x-amz-date", ""], {"success_action_status": "201"}])";

PostFields Good() {
  return Form(kConditions, {{"key", "user/7/${filename}"},
                            {"content-type", "image/png"},
                            {"success_action_status", "201"}});
}

TEST(PostPolicyTest, ASignedFormWithinItsConditionsIsGranted) {
  auto grant = VerifyPostForm(Good(), "uploads", "cat.png", Secrets, kNow + 1s);
  ASSERT_THAT(grant, IsOk());
  EXPECT_EQ(grant->access_key, "AKID");
  EXPECT_EQ(grant->key, "user/7/cat.png");
  EXPECT_EQ(grant->min_length, 1u);
  EXPECT_EQ(grant->max_length, 1000u);
}

// Signed the SigV2 way (AWSAccessKeyId, signature): the signature is Python's
// base64(hmac.new(b"secret", policy, hashlib.sha1).digest()) over this policy.
TEST(PostPolicyTest, AFormSignedWithAnAccessKeyIdAndHmacSha1IsGranted) {
  const std::string policy =
      "eyJleHBpcmF0aW9uIjogIjIwMjYtMTItMDdUMTE6MDA6MDBaIiwgImNvbmRpdGlvbnMiOiBbeyJidWNrZXQiOiAidX"
      "Bsb2FkcyJ9LCBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidjIvIl1dfQ==";
  PostFields fields = {{"policy", policy},
                       {"awsaccesskeyid", "AKID"},
                       {"signature", "cT8VRg13vbn0ANHIr4nGtqTTzq8="},
                       {"key", "v2/file"}};
  auto grant = VerifyPostForm(fields, "uploads", "f", Secrets, kNow);
  ASSERT_THAT(grant, IsOk());
  EXPECT_EQ(grant->access_key, "AKID");
  EXPECT_EQ(grant->key, "v2/file");

  fields["signature"] = "cT8VRg13vbn0ANHIr4nGtqTTzq9=";
  EXPECT_THAT(VerifyPostForm(fields, "uploads", "f", Secrets, kNow),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("SignatureDoesNotMatch")));
  fields["awsaccesskeyid"] = "NOBODY";
  EXPECT_THAT(VerifyPostForm(fields, "uploads", "f", Secrets, kNow),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("InvalidAccessKeyId")));
  fields.erase("signature");
  EXPECT_THAT(VerifyPostForm(fields, "uploads", "f", Secrets, kNow),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"signature\"")));
}

TEST(PostPolicyTest, EachBrokenConditionIsNamed) {
  auto verify = [](PostFields fields, std::string_view bucket = "uploads",
                   std::chrono::system_clock::time_point now = kNow) {
    return VerifyPostForm(fields, bucket, "cat.png", Secrets, now).status();
  };
  EXPECT_THAT(verify(Good(), "other"),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("\"bucket\":\"uploads\"")));
  PostFields fields = Good();
  fields["key"] = "user/8/x";
  EXPECT_THAT(verify(fields), StatusIs(StatusCode::kPermissionDenied, HasSubstr("$key")));
  fields = Good();
  fields["content-type"] = "text/html";
  EXPECT_THAT(verify(fields), StatusIs(StatusCode::kPermissionDenied, HasSubstr("Content-Type")));
  fields = Good();
  fields["x-amz-meta-extra"] = "sneaked in";
  EXPECT_THAT(verify(fields),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("Extra input fields: x-amz-meta")));
  fields["x-ignore-this"] = "fine";
  fields.erase("x-amz-meta-extra");
  EXPECT_THAT(verify(fields), IsOk());
  EXPECT_THAT(verify(Good(), "uploads", kNow + 601s),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("Policy expired")));
  fields = Good();
  fields["x-amz-signature"][0] ^= 1;
  EXPECT_THAT(verify(fields),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("SignatureDoesNotMatch")));
  fields = Good();
  fields["x-amz-credential"].replace(0, 4, "NOBODY");
  EXPECT_THAT(verify(fields), StatusIs(StatusCode::kUnauthenticated, HasSubstr("NOBODY")));
  fields = Good();
  fields.erase("policy");
  EXPECT_THAT(verify(fields), StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"policy\"")));
  EXPECT_THAT(verify(Form("[[\"between\", \"$key\", \"a\"]]", {{"key", "k"}})),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("InvalidPolicyDocument")));
  EXPECT_THAT(verify(Form("[[\"content-length-range\", 9, 1]]", {{"key", "k"}})),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("content-length-range")));
}

}  // namespace
}  // namespace depot::s3
