#include "depot/object/backend_util.h"

#include <gmock/gmock.h>

#include "depot/core/testing/status_matchers.h"

namespace depot::object {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ValidateKeyTest, AcceptsUtf8AndRejectsTheRest) {
  EXPECT_THAT(ValidateKey("a/b c+d%e/日本"), IsOk());
  EXPECT_THAT(ValidateKey(std::string(1024, 'a')), IsOk());
  EXPECT_THAT(ValidateKey(std::string(1025, 'a')),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("1025 bytes")));
  EXPECT_THAT(ValidateKey(""), StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ValidateKey(std::string("a\0b", 3)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("NUL byte at offset 1")));
  EXPECT_THAT(ValidateKey("\xed\xa0\x80"),  // a UTF-16 surrogate
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("invalid UTF-8 at offset 0")));
  EXPECT_THAT(ValidateKey("ok\xe2\x82"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(PreconditionsTest, FollowRfc9110) {
  ObjectMeta meta;
  meta.key = "k";
  meta.etag = "abc";
  meta.last_modified = Clock::now();
  GetOptions options;
  EXPECT_THAT(EvaluatePreconditions(options, meta), ::testing::Optional(false));
  options.if_match = "\"x\", \"abc\"";
  auto r = EvaluatePreconditions(options, meta);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(*r);
  options.if_match = "*";
  ASSERT_THAT(EvaluatePreconditions(options, meta), IsOk());
  options.if_match = "zzz";
  EXPECT_THAT(EvaluatePreconditions(options, meta),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("zzz")));
  options = {};
  options.if_none_match = "W/\"abc\"";
  r = EvaluatePreconditions(options, meta);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(*r);
  // If-None-Match wins over If-Modified-Since.
  options.if_none_match = "other";
  options.if_modified_since = meta.last_modified + std::chrono::hours(1);
  r = EvaluatePreconditions(options, meta);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(*r);
}

ObjectMeta Meta(std::string key) {
  ObjectMeta meta;
  meta.key = std::move(key);
  return meta;
}

ListResult Build(const ListOptions& options, const std::vector<std::string>& sorted) {
  ListBuilder builder(options);
  EXPECT_THAT(builder.status(), IsOk());
  for (const auto& key : sorted) {
    if (key < builder.seek_key()) continue;
    if (!builder.Add(Meta(key))) break;
  }
  return std::move(builder).Finish();
}

TEST(ListBuilderTest, TokensResumeAfterPrefixes) {
  std::vector<std::string> keys = {"a/1", "a/2", "b", "c/1", "c/2", "d"};
  ListResult first = Build({.delimiter = "/", .max_keys = 2}, keys);
  EXPECT_THAT(first.common_prefixes, ElementsAre("a/"));
  ASSERT_EQ(first.objects.size(), 1u);
  EXPECT_EQ(first.objects[0].key, "b");
  ASSERT_FALSE(first.next_continuation_token.empty());
  ListResult second = Build(
      {.delimiter = "/", .continuation_token = first.next_continuation_token, .max_keys = 2}, keys);
  EXPECT_THAT(second.common_prefixes, ElementsAre("c/"));
  ASSERT_EQ(second.objects.size(), 1u);
  EXPECT_EQ(second.objects[0].key, "d");
  EXPECT_TRUE(second.next_continuation_token.empty());
}

TEST(ListBuilderTest, ResumesInsideACommonPrefixToken) {
  std::vector<std::string> keys = {"a/1", "a/2", "b"};
  ListResult first = Build({.delimiter = "/", .max_keys = 1}, keys);
  EXPECT_THAT(first.common_prefixes, ElementsAre("a/"));
  ListResult second = Build(
      {.delimiter = "/", .continuation_token = first.next_continuation_token, .max_keys = 1}, keys);
  EXPECT_TRUE(second.common_prefixes.empty());
  ASSERT_EQ(second.objects.size(), 1u);
  EXPECT_EQ(second.objects[0].key, "b");
}

TEST(MultipartEtagTest, MatchesS3sForm) {
  // md5("a") and md5("b"): the S3 ETag is md5 of their 16-byte digests concatenated, then "-2".
  std::vector<std::string> parts = {"0cc175b9c0f1b6a831c399e269772661",
                                    "92eb5ffee6ae2fec3ad71c777531578f"};
  EXPECT_EQ(MultipartEtag(parts), "96e024ba2074fe77e8e965ba43a704be-2");
}

TEST(ValidateCompletePartsTest, NamesTheOffendingPart) {
  std::vector<PartInfo> staged = {{1, "e1", 100}, {2, "e2", 10}, {3, "e3", 1}};
  std::vector<PartInfo> ok = {{1, "e1", 0}, {3, "e3", 0}};
  EXPECT_THAT(ValidateCompleteParts(ok, staged, 100), IsOk());
  std::vector<PartInfo> small = {{1, "e1", 0}, {2, "e2", 0}, {3, "e3", 0}};
  EXPECT_THAT(ValidateCompleteParts(small, staged, 100),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("part 2 is 10 bytes")));
}

}  // namespace
}  // namespace depot::object
