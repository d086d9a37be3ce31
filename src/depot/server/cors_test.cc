#include "depot/server/cors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "depot/core/ascii.h"

namespace depot::server {
namespace {

using ::testing::Contains;
using ::testing::Not;
using ::testing::Pair;

const std::vector<s3::CorsRule>& Rules() {
  static const std::vector<s3::CorsRule> kRules = {
      {.id = "app",
       .allowed_origins = {"https://*.example.com"},
       .allowed_methods = {"PUT", "POST"},
       .allowed_headers = {"content-type", "x-amz-*"},
       .expose_headers = {"ETag"},
       .max_age_seconds = 600},
      {.allowed_origins = {"*"}, .allowed_methods = {"GET", "HEAD"}},
  };
  return kRules;
}

TEST(CorsTest, TheFirstRuleMatchingOriginMethodAndHeadersApplies) {
  const auto* app = &Rules()[0];
  const auto* anyone = &Rules()[1];
  EXPECT_EQ(MatchCors(Rules(), {"https://www.example.com", "PUT", {"Content-Type"}}), app);
  EXPECT_EQ(MatchCors(Rules(), {"https://www.example.com", "POST", {"X-Amz-Date", "x-amz-acl"}}),
            app);
  EXPECT_EQ(MatchCors(Rules(), {"https://www.example.com", "GET", {}}), anyone);
  EXPECT_EQ(MatchCors(Rules(), {"https://elsewhere.org", "GET", {}}), anyone);
  // Not the origin (scheme and case count), not the method, a header not allowed.
  EXPECT_EQ(MatchCors(Rules(), {"http://www.example.com", "PUT", {}}), nullptr);
  EXPECT_EQ(MatchCors(Rules(), {"https://WWW.EXAMPLE.COM.evil", "PUT", {}}), nullptr);
  EXPECT_EQ(MatchCors(Rules(), {"https://www.example.com", "DELETE", {}}), nullptr);
  EXPECT_EQ(MatchCors(Rules(), {"https://www.example.com", "PUT", {"Authorization"}}), nullptr);
  EXPECT_EQ(MatchCors({}, {"https://www.example.com", "GET", {}}), nullptr);
}

TEST(CorsTest, TheAnswerNamesTheOriginOrStarAndWhatTheRuleAllows) {
  const CorsRequest request{"https://www.example.com", "PUT", {"content-type"}};
  const HeaderList preflight = CorsHeaders(Rules()[0], request, true);
  EXPECT_THAT(preflight, Contains(Pair("Access-Control-Allow-Origin", "https://www.example.com")));
  EXPECT_THAT(preflight, Contains(Pair("Access-Control-Allow-Methods", "PUT, POST")));
  EXPECT_THAT(preflight, Contains(Pair("Access-Control-Allow-Headers", "content-type")));
  EXPECT_THAT(preflight, Contains(Pair("Access-Control-Expose-Headers", "ETag")));
  EXPECT_THAT(preflight, Contains(Pair("Access-Control-Max-Age", "600")));
  EXPECT_THAT(preflight, Contains(Pair("Access-Control-Allow-Credentials", "true")));
  const HeaderList anyone = CorsHeaders(Rules()[1], {"https://a.org", "GET", {}}, false);
  EXPECT_THAT(anyone, Contains(Pair("Access-Control-Allow-Origin", "*")));
  EXPECT_THAT(anyone, Not(Contains(Pair("Access-Control-Allow-Credentials", "true"))));
  // Access-Control-Request-Headers as the preflight reads it.
  EXPECT_EQ(SplitCommaList(" a, B ,,c"), (std::vector<std::string>{"a", "B", "c"}));
}

}  // namespace
}  // namespace depot::server
