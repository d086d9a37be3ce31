#include "depot/server/s3_server.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/s3/s3_store.h"

namespace depot::server {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using object::S3Store;
using object::S3StoreOptions;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class S3ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backing_ = std::make_shared<object::MemoryStore>();
    auto server = S3Server::Start(backing_, {.port = 0, .credentials = {{"KEY", "SECRET"}}});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    auto client = Client("photos");
    ASSERT_THAT(client, IsOk());
    client_ = std::move(*client);
    ASSERT_THAT(client_->CreateBucket(), IsOk());
  }

  Result<std::unique_ptr<S3Store>> Client(std::string bucket, std::string secret = "SECRET") {
    S3StoreOptions options;
    options.bucket = std::move(bucket);
    options.endpoint = fmt::format("http://127.0.0.1:{}", server_->port());
    options.credentials.access_key_id = "KEY";
    options.credentials.secret_access_key = std::move(secret);
    options.credentials.region = "us-east-1";
    options.retry.max_attempts = 2;
    return S3Store::Open(options);
  }

  std::shared_ptr<object::MemoryStore> backing_;
  std::unique_ptr<S3Server> server_;
  std::unique_ptr<S3Store> client_;
};

TEST_F(S3ServerTest, ObjectsRoundTripThroughDepotsOwnClient) {
  const std::string data = RandomBytes(3 << 20, 1);
  object::PutOptions put;
  put.content_type = "image/png";
  put.user_metadata = {{"camera", "x100"}};
  auto stored = client_->Put("2024/a b+c.png", Bytes::Copy(data), put);
  ASSERT_THAT(stored, IsOk());
  auto got = client_->Get("2024/a b+c.png", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->data.view() == data);
  EXPECT_EQ(got->meta.etag, stored->etag);
  EXPECT_EQ(got->meta.content_type, "image/png");
  EXPECT_EQ(got->meta.user_metadata.at("camera"), "x100");
  // The backing store holds it as BUCKET/KEY.
  EXPECT_THAT(backing_->Head("photos/2024/a b+c.png"), IsOk());

  object::GetOptions ranged;
  ranged.range = ByteRange::Bounded(100, 200);
  auto part = client_->Get("2024/a b+c.png", ranged);
  ASSERT_THAT(part, IsOk());
  EXPECT_EQ(part->data.view(), std::string_view(data).substr(100, 100));
  ranged.range = ByteRange::Suffix(10);
  part = client_->Get("2024/a b+c.png", ranged);
  ASSERT_THAT(part, IsOk());
  EXPECT_EQ(part->data.view(), std::string_view(data).substr(data.size() - 10));

  object::GetOptions conditional;
  conditional.if_none_match = stored->etag;
  auto not_modified = client_->Get("2024/a b+c.png", conditional);
  ASSERT_THAT(not_modified, IsOk());
  EXPECT_TRUE(not_modified->not_modified);
  conditional = {};
  conditional.if_match = "0123";
  EXPECT_THAT(client_->Get("2024/a b+c.png", conditional),
              StatusIs(StatusCode::kFailedPrecondition));

  EXPECT_THAT(
      client_->Put("2024/a b+c.png", Bytes::FromString("x"), {.mode = object::PutMode::kCreate}),
      StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(client_->Delete("2024/a b+c.png"), IsOk());
  EXPECT_THAT(client_->Get("2024/a b+c.png", {}), StatusIs(StatusCode::kNotFound));
}

TEST_F(S3ServerTest, ListsWithDelimitersAndPages) {
  for (const char* key : {"a/1", "a/2", "b/1", "c", "d e/%"}) {
    ASSERT_THAT(client_->Put(key, Bytes::FromString(key), {}), IsOk());
  }
  auto top = client_->List({.delimiter = "/"});
  ASSERT_THAT(top, IsOk());
  std::vector<std::string> keys;
  for (const auto& o : top->objects) keys.push_back(o.key);
  EXPECT_THAT(keys, ElementsAre("c"));
  EXPECT_THAT(top->common_prefixes, ElementsAre("a/", "b/", "d e/"));

  std::set<std::string> all;
  object::ListOptions paged{.max_keys = 2};
  int pages = 0;
  do {
    auto page = client_->List(paged);
    ASSERT_THAT(page, IsOk());
    for (const auto& o : page->objects) all.insert(o.key);
    paged.continuation_token = page->next_continuation_token;
    ++pages;
  } while (!paged.continuation_token.empty());
  EXPECT_EQ(all, (std::set<std::string>{"a/1", "a/2", "b/1", "c", "d e/%"}));
  EXPECT_EQ(pages, 3);
  auto after = client_->List({.prefix = "a/", .start_after = "a/1"});
  ASSERT_THAT(after, IsOk());
  ASSERT_EQ(after->objects.size(), 1u);
  EXPECT_EQ(after->objects[0].key, "a/2");
}

TEST_F(S3ServerTest, BucketsBehaveAsOnS3) {
  auto buckets = client_->ListBuckets();
  ASSERT_THAT(buckets, IsOk());
  ASSERT_EQ(buckets->size(), 1u);
  EXPECT_EQ((*buckets)[0].name, "photos");
  EXPECT_THAT(client_->CreateBucket(), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(client_->BucketExists(), ::testing::Optional(true));
  ASSERT_THAT(client_->Put("k", Bytes::FromString("v"), {}), IsOk());
  EXPECT_THAT(client_->DeleteBucket(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("BucketNotEmpty")));
  ASSERT_THAT(client_->Delete("k"), IsOk());
  EXPECT_THAT(client_->DeleteBucket(), IsOk());
  EXPECT_THAT(client_->BucketExists(), ::testing::Optional(false));
  EXPECT_THAT(client_->Get("k", {}), StatusIs(StatusCode::kNotFound, HasSubstr("NoSuchBucket")));
}

TEST_F(S3ServerTest, RefusesWrongSecretsAndStoresNothing) {
  auto wrong = Client("photos", "not-the-secret");
  ASSERT_THAT(wrong, IsOk());
  EXPECT_THAT((*wrong)->Put("k", Bytes::FromString("v"), {}),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("SignatureDoesNotMatch")));
  EXPECT_THAT(backing_->Head("photos/k"), StatusIs(StatusCode::kNotFound));
}

TEST_F(S3ServerTest, ManyClientsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const std::string key = fmt::format("t{}/{}", t, i);
        const std::string value = RandomBytes(1000 + i, t * 100 + i);
        if (!client_->Put(key, Bytes::Copy(value), {}).ok()) ++failures;
        auto got = client_->Get(key, {});
        if (!got.ok() || got->data.view() != value) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace depot::server
