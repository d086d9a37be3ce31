#include "depot/server/bucket_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "depot/core/ascii.h"
#include "depot/core/testing/status_matchers.h"

namespace depot::server {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

PolicyRequest Request(std::string user, std::string action, std::string key = "",
                      std::map<std::string, std::vector<std::string>> context = {}) {
  return {user, user + "-id", std::move(action),
          key.empty() ? "arn:aws:s3:::bkt" : "arn:aws:s3:::bkt/" + key, std::move(context)};
}

TEST(WildcardMatchTest, StarsAndQuestionMarks) {
  EXPECT_TRUE(WildcardMatch("arn:aws:s3:::bkt/*", "arn:aws:s3:::bkt/a/b"));
  EXPECT_TRUE(WildcardMatch("s3:get*", "s3:getobject"));
  EXPECT_TRUE(WildcardMatch("a?c*e", "abcde"));
  EXPECT_FALSE(WildcardMatch("a?c", "ac"));
  EXPECT_FALSE(WildcardMatch("arn:aws:s3:::bkt/*", "arn:aws:s3:::bkt"));
  EXPECT_TRUE(WildcardMatch("*", ""));
  EXPECT_TRUE(WildcardMatch("*a*a*a", "aaaa"));
}

TEST(BucketPolicyTest, AllowsAndDeniesWhatItsStatementsName) {
  auto policy = BucketPolicy::Parse(R"({
    "Version": "2012-10-17",
    "Statement": [
      {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
       "Resource": ["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/public/*"]},
      {"Sid": "no-secrets", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
       "Resource": "arn:aws:s3:::bkt/public/secret*"},
      {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::bob-id:user/bob"]},
       "Action": "s3:Put*", "Resource": "arn:aws:s3:::bkt/*",
       "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                     "Bool": {"aws:SecureTransport": "true"}}}
    ]})",
                                    "bkt");
  ASSERT_THAT(policy, IsOk());
  EXPECT_EQ(policy->Evaluate(Request("", "s3:GetObject", "public/a")), PolicyDecision::kAllow);
  EXPECT_EQ(policy->Evaluate(Request("", "s3:GetObject", "private/a")), PolicyDecision::kNone);
  EXPECT_EQ(policy->Evaluate(Request("alice", "s3:GetObject", "public/secret.txt")),
            PolicyDecision::kDeny);
  const std::map<std::string, std::vector<std::string>> inside = {
      {"aws:sourceip", {"10.1.2.3"}}, {"aws:securetransport", {"true"}}};
  EXPECT_EQ(policy->Evaluate(Request("bob", "s3:PutObject", "x", inside)), PolicyDecision::kAllow);
  EXPECT_EQ(policy->Evaluate(
                Request("bob", "s3:PutObject", "x",
                        {{"aws:sourceip", {"192.0.2.1"}}, {"aws:securetransport", {"true"}}})),
            PolicyDecision::kNone);
  EXPECT_EQ(policy->Evaluate(Request("bob", "s3:PutObject", "x", {{"aws:sourceip", {"10.1.2.3"}}})),
            PolicyDecision::kNone);  // a key the request lacks fails its condition
  EXPECT_EQ(policy->Evaluate(Request("carol", "s3:PutObject", "x", inside)), PolicyDecision::kNone);
  EXPECT_TRUE(policy->IsPublic());
  EXPECT_TRUE(policy->NamesPrincipal(Request("bob", "s3:GetObject")));
  EXPECT_FALSE(policy->NamesPrincipal(Request("carol", "s3:GetObject")));
}

TEST(BucketPolicyTest, ConditionOperatorsReadAsS3s) {
  const auto decide = [](std::string condition,
                         std::map<std::string, std::vector<std::string>> ctx) {
    auto policy = BucketPolicy::Parse(
        R"({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::bkt", "Condition": )" +
            condition + "}}",
        "bkt");
    EXPECT_THAT(policy, IsOk()) << condition;
    return policy.ok() && policy->Evaluate(Request("u", "s3:ListBucket", "", std::move(ctx))) ==
                              PolicyDecision::kAllow;
  };
  EXPECT_TRUE(
      decide(R"({"StringLike": {"s3:prefix": ["home/*", "pub/*"]}})", {{"s3:prefix", {"pub/x"}}}));
  EXPECT_FALSE(decide(R"({"StringLike": {"s3:prefix": "home/*"}})", {{"s3:prefix", {"pub/x"}}}));
  EXPECT_TRUE(decide(R"({"StringNotEquals": {"s3:prefix": "secret"}})", {}));
  EXPECT_TRUE(
      decide(R"({"StringEqualsIgnoreCase": {"s3:prefix": "ABC"}})", {{"s3:prefix", {"abc"}}}));
  EXPECT_TRUE(
      decide(R"({"NumericLessThanEquals": {"s3:max-keys": "10"}})", {{"s3:max-keys", {"10"}}}));
  EXPECT_FALSE(decide(R"({"NumericLessThan": {"s3:max-keys": 10}})", {{"s3:max-keys", {"10"}}}));
  EXPECT_TRUE(decide(R"({"Null": {"s3:prefix": "true"}})", {}));
  EXPECT_FALSE(decide(R"({"Null": {"s3:prefix": "false"}})", {}));
  EXPECT_TRUE(decide(R"({"NotIpAddress": {"aws:SourceIp": "2001:db8::/32"}})",
                     {{"aws:sourceip", {"2001:db9::1"}}}));
  EXPECT_TRUE(
      decide(R"({"StringEquals": {"s3:x-amz-acl": "private"}})", {{"s3:x-amz-acl", {"private"}}}));
}

TEST(BucketPolicyTest, WhatItCannotHonourIsRefusedByName) {
  const auto refused = [](std::string statement) {
    return BucketPolicy::Parse(R"({"Version": "2012-10-17", "Statement": [)" + statement + "]}",
                               "bkt")
        .status();
  };
  const std::string base =
      R"("Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/*")";
  EXPECT_THAT(refused("{" + base + "}"), IsOk());
  EXPECT_THAT(refused("{" + base + R"(, "NotPrincipal": "x"})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("NotPrincipal")));
  EXPECT_THAT(refused(R"({"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject",
                          "Resource": "arn:aws:s3:::bkt/*"})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("Maybe")));
  EXPECT_THAT(refused("{" + base + R"(, "Condition": {"DateLessThan": {"aws:CurrentTime": "x"}}})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("DateLessThan")));
  EXPECT_THAT(refused("{" + base + R"(, "Condition": {"StringEquals": {"aws:Referer": "x"}}})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("aws:Referer")));
  EXPECT_THAT(refused("{" + base + R"(, "Condition": {"IpAddress": {"aws:SourceIp": "nowhere"}}})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("nowhere")));
  EXPECT_THAT(refused(R"({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                          "Resource": "arn:aws:s3:::other/*"})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("other")));
  EXPECT_THAT(refused(R"({"Effect": "Allow", "Principal": {"Service": "x"}, "Action": "s3:Get",
                          "Resource": "arn:aws:s3:::bkt"})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("Service")));
  EXPECT_THAT(refused(R"({"Effect": "Allow", "Principal": "*", "Action": "iam:CreateUser",
                          "Resource": "arn:aws:s3:::bkt"})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("iam:createuser")));
  EXPECT_THAT(BucketPolicy::Parse("{not json", "bkt").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("MalformedPolicy")));
  EXPECT_THAT(BucketPolicy::Parse(R"({"Version": "2000-01-01", "Statement": [])", "bkt").status(),
              StatusIs(StatusCode::kInvalidArgument));
}

// Mutated policies are refused or read; those read evaluate without failing (never a crash).
TEST(BucketPolicyTest, MutatedDocumentsAreReadOrRefused) {
  const std::string seed = R"({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Principal": {"AWS": ["*"]}, "Action": ["s3:Delete*"],
     "Resource": "arn:aws:s3:::bkt/*", "Condition": {"StringLike": {"s3:prefix": "a*"},
     "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1"]}, "NumericLessThan": {"s3:max-keys": 5}}},
    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:aws:s3:::bkt"}]})";
  std::mt19937 random(424242);
  int read = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string doc = seed;
    for (int e = 0; e < 1 + static_cast<int>(random() % 3); ++e) {
      const size_t at = random() % doc.size();
      switch (random() % 3) {
        case 0:
          doc[at] = "{}[]\":,*?/ aZ09\\"[random() % 16];
          break;
        case 1:
          doc.erase(at, 1 + random() % 8);
          break;
        default:
          doc.insert(at, doc.substr(random() % doc.size(), 1 + random() % 24));
      }
      if (doc.empty()) doc = "{";
    }
    auto policy = BucketPolicy::Parse(doc, "bkt");
    if (!policy.ok()) {
      EXPECT_EQ(policy.status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    ++read;
    (void)policy->Evaluate(Request("", "s3:DeleteObject", "a", {{"aws:sourceip", {"10.0.0.1"}}}));
    (void)policy->IsPublic();
  }
  EXPECT_GT(read, 100);
}

}  // namespace
}  // namespace depot::server
