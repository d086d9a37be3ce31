#include "depot/core/url.h"

#include <gmock/gmock.h>

#include "depot/core/testing/status_matchers.h"

namespace depot {
namespace {

using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

TEST(UrlTest, ParsesStoreUrls) {
  auto u = Url::Parse("S3://bucket/pre%20fix/?endpoint=http%3A%2F%2F127.0.0.1%3A7480&region=us");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->scheme, "s3");
  EXPECT_EQ(u->host, "bucket");
  EXPECT_EQ(u->path, "/pre fix/");
  EXPECT_EQ(u->Param("endpoint"), "http://127.0.0.1:7480");
  EXPECT_EQ(u->Param("region"), "us");
  EXPECT_EQ(u->Param("absent"), std::nullopt);

  auto f = Url::Parse("file:///srv/data");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->host, "");
  EXPECT_EQ(f->path, "/srv/data");

  auto h = Url::Parse("http://127.0.0.1:7480");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->port, 7480);
  auto v6 = Url::Parse("http://[::1]:9000/x");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->port, 9000);
}

TEST(UrlTest, RejectsWithTheUrlNamed) {
  for (const char* bad : {"no-scheme", "1x://a", "s3://user@host/x", "s3://h/x#frag", "http://h:0/",
                          "http://h:99999/", "http://h:x/", "mem://a%zz", "mem://a%4", "mem://a\nb",
                          "s3://h/?=v", "a://[x/", "a://[%2541]/", "file:///srv/a%00b"}) {
    EXPECT_THAT(Url::Parse(bad), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(Url::Parse("http://h:99999/"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"http://h:99999/\"")));
}

TEST(UrlTest, RoundTrips) {
  for (const char* text :
       {"mem://", "mem://name", "file:///srv/data", "file:///with%20space/%25/%E6%97%A5",
        "s3://b/p?endpoint=http%3A%2F%2F127.0.0.1%3A7480&region=us-east-1",
        "http://[::1]:9000/a/b?x=&y=%26", "a://%5Bx/", "a://%5B%5D%25/"}) {
    auto u = Url::Parse(text);
    ASSERT_TRUE(u.ok()) << text << ": " << u.status();
    auto again = Url::Parse(u->ToString());
    ASSERT_TRUE(again.ok()) << u->ToString();
    EXPECT_EQ(*again, *u) << text << " -> " << u->ToString();
  }
}

TEST(UrlTest, PercentCoding) {
  EXPECT_EQ(PercentEncode("a b/c", "/"), "a%20b/c");
  EXPECT_EQ(PercentEncode("~-._"), "~-._");
  EXPECT_EQ(*PercentDecode("a%2Fb%2fc"), "a/b/c");
  EXPECT_THAT(PercentDecode("%g0"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("%g0")));
}

}  // namespace
}  // namespace depot
