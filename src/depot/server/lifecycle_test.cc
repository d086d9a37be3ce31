// Lifecycle rules (lifecycle.h): what the worker does to a memory store, pass by pass on a test
// clock; and through depot serve: the configuration's requests, x-amz-expiration, and the worker
// running on a short day.
#include "depot/server/lifecycle.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/server/access.h"
#include "depot/server/object_attributes.h"
#include "depot/server/operations.h"
#include "depot/server/s3_server.h"
#include "depot/server/testing/raw_client.h"
#include "depot/server/versions.h"

namespace depot::server {
namespace {

using ::depot::server::testing::HeaderOf;
using ::depot::server::testing::RawConnection;
using ::depot::server::testing::SignedRequest;
using ::depot::server::testing::StatusOf;
using ::depot::server::testing::StoreSnapshot;
using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using object::Clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr auto kDay = std::chrono::hours(24);

s3::LifecycleRule Rule(std::string id, std::string prefix) {
  s3::LifecycleRule rule;
  rule.id = std::move(id);
  rule.form = s3::LifecycleRule::Form::kFilter;
  rule.prefix = std::move(prefix);
  return rule;
}

TEST(CurrentExpiryTest, DaysRoundUpToMidnightAndTheEarliestRuleWins) {
  const Clock::time_point written = s3::ParseIso8601("2024-03-10T10:20:00Z").value();
  s3::LifecycleRule days = Rule("days", "logs/");
  days.expiration_days = 2;
  s3::LifecycleRule date = Rule("date", "");
  date.expiration_date = s3::ParseIso8601("2024-03-20T00:00:00Z").value();
  const std::vector<s3::LifecycleRule> rules = {days, date};
  auto expiry = CurrentExpiry(rules, "logs/a", 1, written, {}, kDay);
  ASSERT_TRUE(expiry);
  EXPECT_EQ(expiry->rule_id, "days");
  EXPECT_EQ(s3::FormatIso8601(expiry->when), "2024-03-13T00:00:00.000Z");
  EXPECT_EQ(ExpirationHeader(*expiry),
            "expiry-date=\"Wed, 13 Mar 2024 00:00:00 GMT\", rule-id=\"days\"");
  // Outside the prefix only the date applies; a short debug day is not rounded.
  EXPECT_EQ(CurrentExpiry(rules, "data/a", 1, written, {}, kDay)->rule_id, "date");
  EXPECT_EQ(CurrentExpiry(rules, "logs/a", 1, written, {}, std::chrono::seconds(10))->when,
            written + std::chrono::seconds(20));
  // Tags must all be there; sizes are strict bounds; disabled rules do nothing.
  s3::LifecycleRule tagged = Rule("tagged", "");
  tagged.expiration_days = 1;
  tagged.tags = {{"class", "tmp"}, {"team", "a"}};
  tagged.size_greater_than = 10;
  const std::vector<s3::LifecycleRule> only_tagged = {tagged};
  const std::vector<s3::Tag> one = {{"class", "tmp"}};
  const std::vector<s3::Tag> all = {{"team", "a"}, {"x", "y"}, {"class", "tmp"}};
  EXPECT_FALSE(CurrentExpiry(only_tagged, "k", 11, written, one, kDay));
  EXPECT_TRUE(CurrentExpiry(only_tagged, "k", 11, written, all, kDay));
  EXPECT_FALSE(CurrentExpiry(only_tagged, "k", 10, written, all, kDay));
  tagged.enabled = false;
  const std::vector<s3::LifecycleRule> disabled = {tagged};
  EXPECT_FALSE(CurrentExpiry(disabled, "k", 11, written, all, kDay));
}

// The worker over a memory store, its passes run by hand at chosen times.
class LifecycleWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(access_.CreateBucket("owner", "bkt", "", {}, "", false, {}), IsOk());
  }
  void SetRules(std::vector<s3::LifecycleRule> rules) {
    ASSERT_THAT(access_.SetLifecycle("bkt", rules, {}), IsOk());
  }
  BucketInfo Info() { return access_.Lookup("bkt", {}).value(); }
  void PutPlain(const std::string& key, const std::string& body) {
    ASSERT_THAT(store_.Put(StoreKey("bkt", key), Bytes::FromString(body)), IsOk());
  }
  // A new version of `key` (a delete marker when `body` is null) in the versioned bucket.
  std::string PutVersion(const std::string& key, const char* body) {
    const Version version = Versions::Allocate("bkt", key, Info().versioning, body == nullptr);
    EXPECT_THAT(store_.Put(version.store_key, Bytes::FromString(body ? body : "")), IsOk());
    return version.id;
  }
  // "key id" of every version, newest first per key ("-" after a delete marker).
  std::vector<std::string> Listing() {
    auto page = Versions(store_).List("bkt", {}, {});
    EXPECT_THAT(page, IsOk());
    std::vector<std::string> out;
    for (const Version& version : page->versions) {
      out.push_back(version.key + " " + version.id + (version.delete_marker ? "-" : ""));
    }
    return out;
  }
  std::vector<std::string> PlainKeys() {
    std::vector<std::string> out;
    auto page = store_.List({.prefix = "bkt/"});
    EXPECT_THAT(page, IsOk());
    for (const auto& meta : page->objects) {
      out.push_back(meta.key);
    }
    return out;
  }

  object::MemoryStore store_;
  AccessControl access_{store_, {}};
  LifecycleWorker worker_{store_, access_, kDay};
};

TEST_F(LifecycleWorkerTest, ExpiresUnversionedObjectsByDaysDatePrefixTagsAndSize) {
  PutPlain("logs/old", "x");
  PutPlain("logs/big", std::string(100, 'x'));
  PutPlain("keep/this", "x");
  PutPlain("tmp/tagged", "x");
  PutPlain("tmp/untagged", "x");
  const Version tagged{"tmp/tagged", "null", StoreKey("bkt", "tmp/tagged")};
  ASSERT_THAT(ObjectAttributeStore(store_).Write(
                  "bkt", tagged, store_.Head(tagged.store_key).value(),
                  ObjectAttributes{CannedAcl("private", "owner", "owner", true).value(),
                                   {{"class", "tmp"}}},
                  {}),
              IsOk());
  ASSERT_THAT(access_.MarkTagged(Info(), {}), IsOk());
  s3::LifecycleRule logs = Rule("logs", "logs/");
  logs.expiration_days = 1;
  logs.size_less_than = 50;
  s3::LifecycleRule tmp = Rule("tmp", "tmp/");
  tmp.expiration_date = std::chrono::floor<std::chrono::days>(Clock::now()) + kDay * 3;
  tmp.tags = {{"class", "tmp"}};
  SetRules({logs, tmp});

  // Nothing is due yet.
  LifecycleWorker::Counts counts = worker_.RunOnce(Clock::now());
  EXPECT_EQ(counts.expired, 0u);
  EXPECT_EQ(PlainKeys().size(), 5u);
  // Two days on, the small log; the big one is outside the size bound.
  counts = worker_.RunOnce(Clock::now() + kDay * 2);
  EXPECT_EQ(counts.expired, 1u);
  EXPECT_THAT(PlainKeys(),
              ElementsAre("bkt/keep/this", "bkt/logs/big", "bkt/tmp/tagged", "bkt/tmp/untagged"));
  // After the date, the tagged object and its attributes; the untagged one stays.
  counts = worker_.RunOnce(Clock::now() + kDay * 4);
  EXPECT_EQ(counts.expired, 1u);
  EXPECT_THAT(PlainKeys(), ElementsAre("bkt/keep/this", "bkt/logs/big", "bkt/tmp/untagged"));
  EXPECT_THAT(store_.Head(ObjectAttributeStore::KeyOf("bkt", tagged)),
              StatusIs(StatusCode::kNotFound));
  // A disabled rule does nothing; without a configuration the bucket is not looked at.
  logs.enabled = false;
  logs.size_less_than.reset();
  SetRules({logs});
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 10).expired, 0u);
  SetRules({});
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 10).expired, 0u);
  EXPECT_EQ(PlainKeys().size(), 3u);
}

TEST_F(LifecycleWorkerTest, VersionedBucketsGetDeleteMarkersAndLoseNoncurrentVersions) {
  ASSERT_THAT(access_.SetVersioning("bkt", Versioning::kEnabled, {}), IsOk());
  const std::string v1 = PutVersion("doc", "one");
  const std::string v2 = PutVersion("doc", "two");
  const std::string v3 = PutVersion("doc", "three");
  const std::string kept = PutVersion("other/doc", "kept");
  s3::LifecycleRule noncurrent = Rule("noncurrent", "doc");
  noncurrent.noncurrent_days = 1;
  noncurrent.newer_noncurrent_versions = 1;  // the newest noncurrent version stays
  SetRules({noncurrent});
  EXPECT_EQ(worker_.RunOnce(Clock::now()).noncurrent_removed, 0u);
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 2).noncurrent_removed, 1u);
  EXPECT_THAT(Listing(), ElementsAre("doc " + v3, "doc " + v2, "other/doc " + kept));

  // Expiring the current version hides it behind a delete marker; nothing is lost.
  s3::LifecycleRule expire = Rule("expire", "doc");
  expire.expiration_days = 1;
  SetRules({expire});
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 2).expired, 1u);
  std::vector<std::string> listing = Listing();
  ASSERT_EQ(listing.size(), 4u);
  EXPECT_THAT(listing[0], HasSubstr("-"));
  EXPECT_EQ(listing[1], "doc " + v3);
  // The marker is current now: another pass adds none.
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 2).expired, 0u);

  // A delete marker with versions behind it is no expired object delete marker.
  s3::LifecycleRule markers = Rule("markers", "");
  markers.expired_object_delete_marker = true;
  SetRules({markers});
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 3).markers_removed, 0u);
  EXPECT_EQ(Listing().size(), 4u);
  // Once the noncurrent versions are gone, the lone delete marker goes too.
  s3::LifecycleRule clean = Rule("clean", "");
  clean.noncurrent_days = 1;
  clean.expired_object_delete_marker = true;
  SetRules({clean});
  LifecycleWorker::Counts counts = worker_.RunOnce(Clock::now() + kDay * 3);
  EXPECT_EQ(counts.noncurrent_removed, 2u);
  EXPECT_EQ(counts.markers_removed, 1u);
  EXPECT_THAT(Listing(), ElementsAre("other/doc " + kept));
}

TEST_F(LifecycleWorkerTest, SuspendedVersioningExpiresWithANullDeleteMarker) {
  PutPlain("doc", "from before versioning");
  ASSERT_THAT(access_.SetVersioning("bkt", Versioning::kSuspended, {}), IsOk());
  s3::LifecycleRule expire = Rule("expire", "");
  expire.expiration_days = 1;
  SetRules({expire});
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 2).expired, 1u);
  // The null delete marker replaced the null version.
  EXPECT_THAT(Listing(), ElementsAre("doc null-"));
  EXPECT_THAT(PlainKeys(), IsEmpty());
}

TEST_F(LifecycleWorkerTest, LockedVersionsAreNeverRemoved) {
  ASSERT_THAT(access_.CreateBucket("owner", "locked", "", {}, "", true, {}), IsOk());
  ASSERT_THAT(access_.SetObjectLock("locked", {"COMPLIANCE", 30, 0}, {}), IsOk());
  std::vector<std::string> ids;
  for (const char* body : {"one", "two"}) {
    const Version version = Versions::Allocate("locked", "doc", Versioning::kEnabled, false);
    ASSERT_THAT(store_.Put(version.store_key, Bytes::FromString(body)), IsOk());
    ids.push_back(version.id);
  }
  s3::LifecycleRule noncurrent = Rule("noncurrent", "");
  noncurrent.noncurrent_days = 1;
  ASSERT_THAT(access_.SetLifecycle("locked", std::vector<s3::LifecycleRule>{noncurrent}, {}),
              IsOk());
  // Within the default retention (30 days, counted from each write) nothing goes; after it, the
  // noncurrent version does.
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 2).noncurrent_removed, 0u);
  EXPECT_EQ(Versions(store_).List("locked", {}, {}).value().versions.size(), 2u);
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 31).noncurrent_removed, 1u);
  EXPECT_EQ(Versions(store_).List("locked", {}, {}).value().versions.front().id, ids[1]);
}

TEST_F(LifecycleWorkerTest, AbortsIncompleteUploadsUnderThePrefix) {
  auto old_upload = store_.CreateMultipart(StoreKey("bkt", "parts/a"), {});
  auto other_upload = store_.CreateMultipart(StoreKey("bkt", "keep/b"), {});
  ASSERT_THAT(old_upload, IsOk());
  ASSERT_THAT(other_upload, IsOk());
  s3::LifecycleRule abort = Rule("abort", "parts/");
  abort.abort_multipart_days = 2;
  SetRules({abort});
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay).uploads_aborted, 0u);
  EXPECT_EQ(worker_.RunOnce(Clock::now() + kDay * 3).uploads_aborted, 1u);
  auto uploads = store_.ListMultipartUploads("bkt/");
  ASSERT_THAT(uploads, IsOk());
  ASSERT_EQ(uploads->size(), 1u);
  EXPECT_EQ(uploads->front().upload_id, *other_upload);
}

// Through depot serve, with a one-second lifecycle day.
class LifecycleServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = S3Server::Start(backing_, {.port = 0,
                                             .credentials = {{"KEY", "SECRET"}, {"OTHER", "S2"}},
                                             .lifecycle_day = std::chrono::seconds(1)});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    ASSERT_EQ(StatusOf(Call("PUT", "/bkt")), 200);
  }
  std::string Call(const std::string& method, const std::string& path,
                   std::vector<s3::Header> query = {}, const std::string& body = "",
                   const testing::Signer& signer = {}) {
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), method, path, body, s3::Sha256Hex(body), {},
                                  std::move(query), signer));
    return connection.ReadResponse(method == "HEAD");
  }

  std::shared_ptr<object::MemoryStore> backing_ = std::make_shared<object::MemoryStore>();
  std::unique_ptr<S3Server> server_;
};

TEST_F(LifecycleServeTest, ConfigurationRequestsHeadersAndTheWorker) {
  const std::string config =
      "<LifecycleConfiguration><Rule><ID>tmp-rule</ID><Filter><Prefix>tmp/</Prefix></Filter>"
      "<Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>"
      "</LifecycleConfiguration>";
  EXPECT_THAT(Call("GET", "/bkt", {{"lifecycle", ""}}), HasSubstr("NoSuchLifecycleConfiguration"));
  // Bad documents and other users change nothing.
  const auto before = StoreSnapshot(*backing_);
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt", {{"lifecycle", ""}}, "<LifecycleConfiguration/>")), 400);
  EXPECT_THAT(Call("PUT", "/bkt", {{"lifecycle", ""}},
                   "<LifecycleConfiguration><Rule><Status>On</Status><Expiration><Days>1</Days>"
                   "</Expiration></Rule></LifecycleConfiguration>"),
              HasSubstr("<Code>MalformedXML</Code>"));
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt", {{"lifecycle", ""}}, config, {"OTHER", "S2"})), 403);
  EXPECT_EQ(StoreSnapshot(*backing_), before);

  ASSERT_EQ(StatusOf(Call("PUT", "/bkt", {{"lifecycle", ""}}, config)), 200);
  EXPECT_THAT(Call("GET", "/bkt", {{"lifecycle", ""}}), HasSubstr("<ID>tmp-rule</ID>"));
  EXPECT_EQ(StatusOf(Call("GET", "/bkt", {{"lifecycle", ""}}, "", {"OTHER", "S2"})), 403);
  // x-amz-expiration names the rule and S3's calendar date, on PUT and HEAD, for keys it covers.
  const std::string put = Call("PUT", "/bkt/tmp/a", {}, "data");
  const std::regex header(
      R"(expiry-date="[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} 00:00:00 GMT", rule-id="tmp-rule")");
  EXPECT_TRUE(std::regex_match(HeaderOf(put, "x-amz-expiration"), header)) << put;
  EXPECT_TRUE(std::regex_match(HeaderOf(Call("HEAD", "/bkt/tmp/a"), "x-amz-expiration"), header));
  EXPECT_EQ(HeaderOf(Call("PUT", "/bkt/keep/b", {}, "data"), "x-amz-expiration"), "");

  // The worker, on one-second days, expires tmp/a after three of them; keep/b stays.
  for (int i = 0; i < 100 && StatusOf(Call("HEAD", "/bkt/tmp/a")) == 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(StatusOf(Call("HEAD", "/bkt/tmp/a")), 404);
  EXPECT_EQ(StatusOf(Call("HEAD", "/bkt/keep/b")), 200);

  EXPECT_EQ(StatusOf(Call("DELETE", "/bkt", {{"lifecycle", ""}})), 204);
  EXPECT_EQ(StatusOf(Call("GET", "/bkt", {{"lifecycle", ""}})), 404);
  EXPECT_EQ(StatusOf(Call("DELETE", "/bkt", {{"lifecycle", ""}})), 204);
}

}  // namespace
}  // namespace depot::server
