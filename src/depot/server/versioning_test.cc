// Versioning in depot serve (versions.h), through signed requests and depot's own S3 client, over
// the memory store and a local directory.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/object/local/local_store.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/s3/s3_store.h"
#include "depot/s3/signer.h"
#include "depot/server/s3_server.h"
#include "depot/server/testing/raw_client.h"

namespace depot::server {
namespace {

using ::depot::server::testing::BodyOf;
using ::depot::server::testing::HeaderOf;
using ::depot::server::testing::Md5Base64;
using ::depot::server::testing::RawConnection;
using ::depot::server::testing::SignedRequest;
using ::depot::server::testing::StatusOf;
using ::depot::server::testing::StoreSnapshot;
using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Every match of `pattern`'s first group in `text`.
std::vector<std::string> Captures(const std::string& text, const std::string& pattern) {
  std::vector<std::string> out;
  const std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

// The store under the server: memory, or a local directory.
enum class Backing { kMemory, kLocal };

class VersioningTest : public ::testing::TestWithParam<Backing> {
 protected:
  void SetUp() override {
    if (GetParam() == Backing::kMemory) {
      backing_ = std::make_shared<object::MemoryStore>();
    } else {
      auto local = object::LocalStore::Open(dir_.path() / "store");
      ASSERT_THAT(local, IsOk());
      backing_ = std::move(*local);
    }
    auto server = S3Server::Start(backing_, {.port = 0, .credentials = {{"KEY", "SECRET"}}});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    object::S3StoreOptions options;
    options.bucket = "vers";
    options.endpoint = fmt::format("http://127.0.0.1:{}", server_->port());
    options.credentials.access_key_id = "KEY";
    options.credentials.secret_access_key = "SECRET";
    options.credentials.region = "us-east-1";
    options.retry.max_attempts = 1;
    auto client = object::S3Store::Open(options);
    ASSERT_THAT(client, IsOk());
    client_ = std::move(*client);
    ASSERT_THAT(client_->CreateBucket(), IsOk());
  }

  // A signed request; the raw response.
  std::string Call(const std::string& method, const std::string& path,
                   std::vector<s3::Header> query = {}, const std::string& body = "",
                   std::vector<s3::Header> headers = {}) {
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), method, path, body, s3::Sha256Hex(body),
                                  std::move(headers), std::move(query)));
    return connection.ReadResponse(method == "HEAD");
  }
  std::string SetVersioning(const std::string& status) {
    return Call(
        "PUT", "/vers", {{"versioning", ""}},
        "<VersioningConfiguration><Status>" + status + "</Status></VersioningConfiguration>");
  }
  // Puts `body` as `key`; its version id ("" when the answer names none).
  std::string Put(const std::string& key, const std::string& body) {
    const std::string response = Call("PUT", "/vers/" + key, {}, body);
    EXPECT_EQ(StatusOf(response), 200) << response;
    return HeaderOf(response, "x-amz-version-id");
  }
  // The body of `key` (of `version` when given), or "<status> <code>".
  std::string Get(const std::string& key, const std::string& version = "") {
    const std::string response =
        Call("GET", "/vers/" + key,
             version.empty() ? std::vector<s3::Header>{}
                             : std::vector<s3::Header>{{"versionId", version}});
    if (StatusOf(response) == 200) return BodyOf(response);
    return fmt::format("{} {}", StatusOf(response),
                       Captures(response, "<Code>([^<]*)</Code>").empty()
                           ? std::string()
                           : Captures(response, "<Code>([^<]*)</Code>").front());
  }
  // ListObjectVersions as "key id" lines ("*" when latest, "-" for a delete marker).
  std::vector<std::string> Versions(std::vector<s3::Header> query = {}) {
    query.push_back({"versions", ""});
    const std::string body = BodyOf(Call("GET", "/vers", std::move(query)));
    std::vector<std::string> out;
    const std::regex entry(
        "<(Version|DeleteMarker)><Key>([^<]*)</Key><VersionId>([^<]*)</VersionId><IsLatest>"
        "(true|false)</IsLatest>");
    for (auto it = std::sregex_iterator(body.begin(), body.end(), entry);
         it != std::sregex_iterator(); ++it) {
      out.push_back((*it)[2].str() + " " + (*it)[3].str() + ((*it)[4] == "true" ? "*" : "") +
                    ((*it)[1] == "DeleteMarker" ? "-" : ""));
    }
    return out;
  }

  depot::testing::TempDir dir_;
  std::shared_ptr<object::ObjectStore> backing_;
  std::unique_ptr<S3Server> server_;
  std::shared_ptr<object::S3Store> client_;
};

TEST_P(VersioningTest, EveryWriteKeepsThePreviousVersion) {
  ASSERT_THAT(client_->Put("photo", Bytes::FromString("before")).status(), IsOk());
  EXPECT_THAT(BodyOf(Call("GET", "/vers", {{"versioning", ""}})), Not(HasSubstr("<Status>")));
  EXPECT_EQ(Put("plain", "x"), "");  // unversioned: no version id
  ASSERT_EQ(StatusOf(SetVersioning("Enabled")), 200);
  EXPECT_THAT(BodyOf(Call("GET", "/vers", {{"versioning", ""}})),
              HasSubstr("<Status>Enabled</Status>"));
  const std::string first = Put("photo", "first");
  const std::string second = Put("photo", "second");
  ASSERT_FALSE(first.empty());
  ASSERT_NE(first, second);
  // depot's own client reads the latest; each version reads by its id.
  EXPECT_EQ(client_->Get("photo")->data.ToString(), "second");
  EXPECT_EQ(Get("photo", first), "first");
  EXPECT_EQ(Get("photo", second), "second");
  EXPECT_EQ(Get("photo", "null"), "before");
  EXPECT_EQ(HeaderOf(Call("HEAD", "/vers/photo", {{"versionId", first}}), "x-amz-version-id"),
            first);
  EXPECT_THAT(Versions(),
              ElementsAre("photo " + second + "*", "photo " + first, "photo null", "plain null*"));

  // A delete writes a delete marker; the versions stay.
  const std::string deleted = Call("DELETE", "/vers/photo");
  EXPECT_EQ(StatusOf(deleted), 204);
  EXPECT_EQ(HeaderOf(deleted, "x-amz-delete-marker"), "true");
  const std::string marker = HeaderOf(deleted, "x-amz-version-id");
  EXPECT_EQ(Get("photo"), "404 NoSuchKey");
  EXPECT_EQ(HeaderOf(Call("HEAD", "/vers/photo"), "x-amz-delete-marker"), "true");
  EXPECT_EQ(Get("photo", marker), "405 MethodNotAllowed");
  EXPECT_THAT(client_->Get("photo").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(Get("photo", first), "first");
  auto listed = client_->List({});
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->objects.size(), 1u);
  EXPECT_EQ(listed->objects[0].key, "plain");
  // Removing the delete marker brings the last version back.
  EXPECT_EQ(StatusOf(Call("DELETE", "/vers/photo", {{"versionId", marker}})), 204);
  EXPECT_EQ(Get("photo"), "second");
  // Removing a version for good.
  EXPECT_EQ(StatusOf(Call("DELETE", "/vers/photo", {{"versionId", second}})), 204);
  EXPECT_EQ(Get("photo"), "first");
  EXPECT_EQ(Get("photo", second), "404 NoSuchVersion");
  EXPECT_THAT(Versions(), ElementsAre("photo " + first + "*", "photo null", "plain null*"));
}

TEST_P(VersioningTest, CopiesReadAndWriteVersions) {
  ASSERT_EQ(StatusOf(SetVersioning("Enabled")), 200);
  const std::string old_version = Put("src", "old");
  Put("src", "new");
  const std::string copied = Call("PUT", "/vers/dst", {}, "",
                                  {{"x-amz-copy-source", "/vers/src?versionId=" + old_version}});
  EXPECT_EQ(StatusOf(copied), 200) << copied;
  EXPECT_EQ(HeaderOf(copied, "x-amz-copy-source-version-id"), old_version);
  EXPECT_FALSE(HeaderOf(copied, "x-amz-version-id").empty());
  EXPECT_EQ(Get("dst"), "old");
  // Restoring an old version over the key itself is a copy of the key with a version named.
  const std::string restored = Call("PUT", "/vers/src", {}, "",
                                    {{"x-amz-copy-source", "/vers/src?versionId=" + old_version}});
  EXPECT_EQ(StatusOf(restored), 200) << restored;
  EXPECT_EQ(Get("src"), "old");
  EXPECT_EQ(Versions({{"prefix", "src"}}).size(), 3u);
  // A copy of a deleted key, or of a delete marker named, is refused.
  const std::string marker = HeaderOf(Call("DELETE", "/vers/src"), "x-amz-version-id");
  EXPECT_EQ(StatusOf(Call("PUT", "/vers/x", {}, "", {{"x-amz-copy-source", "/vers/src"}})), 404);
  EXPECT_EQ(StatusOf(Call("PUT", "/vers/x", {}, "",
                          {{"x-amz-copy-source", "/vers/src?versionId=" + marker}})),
            400);
  EXPECT_EQ(Get("x"), "404 NoSuchKey");
}

TEST_P(VersioningTest, MultipartUploadsCompleteIntoNewVersions) {
  ASSERT_THAT(client_->Put("big", Bytes::FromString("unversioned")).status(), IsOk());
  ASSERT_EQ(StatusOf(SetVersioning("Enabled")), 200);
  std::vector<std::string> ids;
  for (const std::string body : {"part one", "part two"}) {
    auto upload = client_->CreateMultipart("big", {});
    ASSERT_THAT(upload, IsOk());
    auto part = client_->PutPart("big", *upload, 1, Bytes::FromString(body));
    ASSERT_THAT(part, IsOk());
    const std::vector<object::PartInfo> parts = {*part};
    ASSERT_THAT(client_->CompleteMultipart("big", *upload, parts).status(), IsOk());
    EXPECT_EQ(client_->Get("big")->data.ToString(), body);
  }
  const std::vector<std::string> versions = Versions();
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_THAT(versions[2], "big null");
  EXPECT_EQ(Get("big", "null"), "unversioned");
  EXPECT_EQ(Get("big", versions[1].substr(4)), "part one");
}

TEST_P(VersioningTest, SuspendedWritesReplaceOnlyTheNullVersion) {
  ASSERT_EQ(StatusOf(SetVersioning("Enabled")), 200);
  const std::string kept = Put("k", "kept");
  ASSERT_EQ(StatusOf(SetVersioning("Suspended")), 200);
  EXPECT_THAT(BodyOf(Call("GET", "/vers", {{"versioning", ""}})),
              HasSubstr("<Status>Suspended</Status>"));
  EXPECT_EQ(Put("k", "null one"), "");  // a null version is answered without an id
  EXPECT_EQ(Put("k", "null two"), "");
  EXPECT_EQ(Get("k"), "null two");
  EXPECT_THAT(Versions(), ElementsAre("k null*", "k " + kept));
  const std::string deleted = Call("DELETE", "/vers/k");
  EXPECT_EQ(HeaderOf(deleted, "x-amz-version-id"), "null");
  EXPECT_THAT(Versions(), ElementsAre("k null*-", "k " + kept));
  EXPECT_EQ(Get("k", kept), "kept");
}

TEST_P(VersioningTest, DeleteObjectsTakesVersionIds) {
  ASSERT_EQ(StatusOf(SetVersioning("Enabled")), 200);
  const std::string a1 = Put("a", "1");
  const std::string a2 = Put("a", "2");
  Put("b", "1");
  const std::string body = "<Delete><Object><Key>a</Key><VersionId>" + a1 +
                           "</VersionId></Object><Object><Key>b</Key></Object></Delete>";
  const std::string answer =
      Call("POST", "/vers", {{"delete", ""}}, body, {{"Content-MD5", Md5Base64(body)}});
  EXPECT_EQ(StatusOf(answer), 200) << answer;
  EXPECT_THAT(answer, HasSubstr("<VersionId>" + a1 + "</VersionId>"));
  EXPECT_THAT(answer, HasSubstr("<DeleteMarker>true</DeleteMarker>"));
  EXPECT_EQ(Versions().size(), 3u);  // a2, b's marker and b
  EXPECT_EQ(Get("a"), "2");
  EXPECT_EQ(Get("b"), "404 NoSuchKey");
  EXPECT_EQ(Get("a", a2), "2");
}

TEST_P(VersioningTest, ListingsOfAVersionedBucketPageAndRollUp) {
  ASSERT_EQ(StatusOf(SetVersioning("Enabled")), 200);
  for (const std::string key : {"a/1", "a/2", "b", "c/1", "d"}) {
    Put(key, "x");
    Put(key, "y");
  }
  Call("DELETE", "/vers/c/1");
  // Every version, two at a time, in order, and the same as in one page.
  std::vector<std::string> paged;
  std::vector<s3::Header> marker;
  for (int pages = 0; pages < 20; ++pages) {
    std::vector<s3::Header> query = marker;
    query.push_back({"max-keys", "2"});
    query.push_back({"versions", ""});
    const std::string body = BodyOf(Call("GET", "/vers", query));
    for (const std::string& id : Captures(body, "<VersionId>([^<]*)</VersionId>")) {
      paged.push_back(id);
    }
    if (body.find("<IsTruncated>true</IsTruncated>") == std::string::npos) break;
    marker = {{"key-marker", Captures(body, "<NextKeyMarker>([^<]*)</NextKeyMarker>").at(0)},
              {"version-id-marker",
               Captures(body, "<NextVersionIdMarker>([^<]*)</NextVersionIdMarker>").at(0)}};
  }
  const std::string whole = BodyOf(Call("GET", "/vers", {{"versions", ""}}));
  EXPECT_EQ(paged, Captures(whole, "<VersionId>([^<]*)</VersionId>"));
  EXPECT_EQ(paged.size(), 11u);
  // The latest versions, by V2 pages, with common prefixes; "c/" holds only a deleted key.
  std::vector<std::string> keys;
  std::string token;
  for (int pages = 0; pages < 20; ++pages) {
    std::vector<s3::Header> query = {{"list-type", "2"}, {"delimiter", "/"}, {"max-keys", "1"}};
    if (!token.empty()) query.push_back({"continuation-token", token});
    const std::string body = BodyOf(Call("GET", "/vers", query));
    for (const std::string& key : Captures(body, "<(?:Key|Prefix)>([^<]+)</(?:Key|Prefix)>")) {
      keys.push_back(key);
    }
    const auto next = Captures(body, "<NextContinuationToken>([^<]*)</NextContinuationToken>");
    if (next.empty()) break;
    token = next[0];
  }
  EXPECT_THAT(keys, ElementsAre("a/", "b", "d"));
  EXPECT_EQ(StatusOf(Call("GET", "/vers", {{"list-type", "2"}, {"continuation-token", "zz"}})),
            400);
}

TEST_P(VersioningTest, BadRequestsChangeNothing) {
  Put("k", "1");
  const std::vector<std::string> before = StoreSnapshot(*backing_);
  EXPECT_THAT(SetVersioning("On"), HasSubstr("<Code>MalformedXML</Code>"));
  EXPECT_THAT(Call("PUT", "/vers", {{"versioning", ""}}, "<VersioningConfiguration>"),
              HasSubstr("<Code>MalformedXML</Code>"));
  EXPECT_THAT(Call("PUT", "/vers", {{"versioning", ""}},
                   "<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled"
                   "</MfaDelete></VersioningConfiguration>"),
              HasSubstr("<Code>NotImplemented</Code>"));
  EXPECT_THAT(Call("GET", "/vers/k", {{"versionId", "bogus"}}),
              AllOf(HasSubstr("<Code>InvalidArgument</Code>"), HasSubstr("bogus")));
  EXPECT_EQ(StatusOf(Call("DELETE", "/vers/k", {{"versionId", "bogus"}})), 400);
  EXPECT_EQ(StoreSnapshot(*backing_), before);
  ASSERT_EQ(StatusOf(SetVersioning("Enabled")), 200);
  // Versions need room in the store's key: a key too long for it is refused.
  EXPECT_THAT(Call("PUT", "/vers/" + std::string(1000, 'k'), {}, "x"),
              HasSubstr("<Code>KeyTooLongError</Code>"));
  // Conditional writes are not atomic in a versioned bucket: refused, not ignored.
  EXPECT_EQ(StatusOf(Call("PUT", "/vers/k", {}, "x", {{"If-None-Match", "*"}})), 501);
  EXPECT_EQ(Get("k"), "1");
  // A versioned bucket keeps its versions: it is not empty until they are gone.
  const std::string id = Put("k", "2");
  EXPECT_EQ(StatusOf(Call("DELETE", "/vers/k", {{"versionId", "null"}})), 204);
  EXPECT_EQ(StatusOf(Call("DELETE", "/vers/k", {{"versionId", id}})), 204);
  Call("DELETE", "/vers/k");
  EXPECT_THAT(Call("DELETE", "/vers"), HasSubstr("<Code>BucketNotEmpty</Code>"));
  const std::string marker = Versions().at(0).substr(2, 24);
  EXPECT_EQ(StatusOf(Call("DELETE", "/vers/k", {{"versionId", marker}})), 204);
  EXPECT_EQ(StatusOf(Call("DELETE", "/vers")), 204);
}

// Overwrites and deletes racing on one key: every version a write was told of is kept, whole.
TEST_P(VersioningTest, EveryAcknowledgedVersionSurvivesRacingWrites) {
  ASSERT_EQ(StatusOf(SetVersioning("Enabled")), 200);
  std::mutex mu;
  std::map<std::string, std::string> acknowledged;  // version id -> body
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 15; ++i) {
        if (i % 5 == 4) {
          Call("DELETE", "/vers/hot");
          continue;
        }
        const std::string body = fmt::format("writer {} write {}", w, i);
        const std::string response = Call("PUT", "/vers/hot", {}, body);
        if (StatusOf(response) != 200) continue;
        std::lock_guard lock(mu);
        acknowledged[HeaderOf(response, "x-amz-version-id")] = body;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  ASSERT_EQ(acknowledged.size(), 48u);
  for (const auto& [id, body] : acknowledged) EXPECT_EQ(Get("hot", id), body) << id;
  EXPECT_EQ(Versions().size(), 60u);  // and 12 delete markers
}

// Object tags: kept beside each version, counted on reads, copied or replaced by copies, given
// to multipart uploads when they begin, and gone when their object is overwritten.
TEST_P(VersioningTest, ObjectTagsFollowTheirVersion) {
  const auto tags = [&](const std::string& key, std::vector<s3::Header> query = {}) {
    query.push_back({"tagging", ""});
    return Captures(BodyOf(Call("GET", "/vers/" + key, std::move(query))),
                    "<Key>([^<]*)</Key><Value>([^<]*)</Value>");
  };
  ASSERT_EQ(StatusOf(Call("PUT", "/vers/t", {}, "one", {{"x-amz-tagging", "b=2&a=1"}})), 200);
  EXPECT_THAT(tags("t"), ElementsAre("a", "b"));
  EXPECT_EQ(HeaderOf(Call("HEAD", "/vers/t"), "x-amz-tagging-count"), "2");
  // Copies take the source's tags unless told to replace them.
  ASSERT_EQ(StatusOf(Call("PUT", "/vers/copied", {}, "", {{"x-amz-copy-source", "/vers/t"}})), 200);
  EXPECT_THAT(tags("copied"), ElementsAre("a", "b"));
  ASSERT_EQ(StatusOf(Call("PUT", "/vers/replaced", {}, "",
                          {{"x-amz-copy-source", "/vers/t"},
                           {"x-amz-tagging-directive", "REPLACE"},
                           {"x-amz-tagging", "c=3"}})),
            200);
  EXPECT_THAT(tags("replaced"), ElementsAre("c"));
  // PutObjectTagging replaces them; eleven are too many, and change nothing.
  std::string eleven = "<Tagging><TagSet>";
  for (int i = 0; i < 11; ++i)
    eleven += fmt::format("<Tag><Key>k{}</Key><Value>v</Value></Tag>", i);
  eleven += "</TagSet></Tagging>";
  EXPECT_THAT(Call("PUT", "/vers/t", {{"tagging", ""}}, eleven),
              HasSubstr("<Code>InvalidTag</Code>"));
  EXPECT_THAT(Call("PUT", "/vers/t", {}, "x", {{"x-amz-tagging", "k=" + std::string(257, 'v')}}),
              HasSubstr("<Code>InvalidTag</Code>"));
  EXPECT_THAT(tags("t"), ElementsAre("a", "b"));
  ASSERT_EQ(StatusOf(Call("PUT", "/vers/t", {{"tagging", ""}},
                          "<Tagging><TagSet><Tag><Key>z</Key><Value>26</Value></Tag></TagSet>"
                          "</Tagging>")),
            200);
  EXPECT_THAT(tags("t"), ElementsAre("z"));
  // An overwrite without tags has none; in a versioned bucket the old version keeps its own.
  ASSERT_EQ(StatusOf(SetVersioning("Enabled")), 200);
  const std::string tagged = Put("v", "tagged");
  ASSERT_EQ(StatusOf(Call("PUT", "/vers/v", {{"tagging", ""}, {"versionId", tagged}},
                          "<Tagging><TagSet><Tag><Key>old</Key><Value>1</Value></Tag></TagSet>"
                          "</Tagging>")),
            200);
  Put("v", "untagged");
  EXPECT_THAT(tags("v"), ElementsAre());
  EXPECT_THAT(tags("v", {{"versionId", tagged}}), ElementsAre("old"));
  EXPECT_EQ(StatusOf(Call("DELETE", "/vers/v", {{"tagging", ""}, {"versionId", tagged}})), 204);
  EXPECT_THAT(tags("v", {{"versionId", tagged}}), ElementsAre());
  // Multipart uploads get the tags they began with.
  const std::string begun =
      Call("POST", "/vers/mp", {{"uploads", ""}}, "", {{"x-amz-tagging", "m=1"}});
  const std::string upload = Captures(begun, "<UploadId>([^<]*)</UploadId>").at(0);
  const std::string part =
      Call("PUT", "/vers/mp", {{"partNumber", "1"}, {"uploadId", upload}}, "p");
  const std::string complete = fmt::format(
      "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>"
      "</CompleteMultipartUpload>",
      HeaderOf(part, "ETag"));
  ASSERT_EQ(StatusOf(Call("POST", "/vers/mp", {{"uploadId", upload}}, complete)), 200);
  EXPECT_THAT(tags("mp"), ElementsAre("m"));
}

// Object lock: a locked version cannot be deleted by anyone until its date (GOVERNANCE ones by
// the owner with the bypass header), nor its retention shortened; a legal hold holds until lifted.
TEST_P(VersioningTest, LockedVersionsCannotBeDeleted) {
  ASSERT_EQ(
      StatusOf(Call("PUT", "/locked", {}, "", {{"x-amz-bucket-object-lock-enabled", "true"}})),
      200);
  EXPECT_THAT(BodyOf(Call("GET", "/locked", {{"versioning", ""}})),
              HasSubstr("<Status>Enabled</Status>"));
  EXPECT_THAT(Call("PUT", "/locked", {{"versioning", ""}},
                   "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>"),
              HasSubstr("<Code>InvalidBucketState</Code>"));
  ASSERT_EQ(StatusOf(Call("PUT", "/locked", {{"object-lock", ""}},
                          "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
                          "<Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days>"
                          "</DefaultRetention></Rule></ObjectLockConfiguration>")),
            200);
  const std::string governed = HeaderOf(Call("PUT", "/locked/g", {}, "g"), "x-amz-version-id");
  const std::string head = Call("HEAD", "/locked/g");
  EXPECT_EQ(HeaderOf(head, "x-amz-object-lock-mode"), "GOVERNANCE");
  EXPECT_FALSE(HeaderOf(head, "x-amz-object-lock-retain-until-date").empty());
  EXPECT_THAT(Call("DELETE", "/locked/g", {{"versionId", governed}}),
              HasSubstr("<Code>AccessDenied</Code>"));
  // A delete without a version only adds a delete marker: allowed, and the version stays.
  EXPECT_EQ(StatusOf(Call("DELETE", "/locked/g")), 204);
  EXPECT_EQ(StatusOf(Call("GET", "/locked/g", {{"versionId", governed}})), 200);
  EXPECT_EQ(StatusOf(Call("DELETE", "/locked/g", {{"versionId", governed}}, "",
                          {{"x-amz-bypass-governance-retention", "true"}})),
            204);
  // COMPLIANCE: no bypass, no shortening.
  const std::string complied =
      HeaderOf(Call("PUT", "/locked/c", {}, "c",
                    {{"x-amz-object-lock-mode", "COMPLIANCE"},
                     {"x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z"}}),
               "x-amz-version-id");
  EXPECT_THAT(Call("DELETE", "/locked/c", {{"versionId", complied}}, "",
                   {{"x-amz-bypass-governance-retention", "true"}}),
              HasSubstr("<Code>AccessDenied</Code>"));
  EXPECT_THAT(Call("PUT", "/locked/c", {{"retention", ""}, {"versionId", complied}},
                   "<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2098-01-01T00:00:00Z"
                   "</RetainUntilDate></Retention>"),
              HasSubstr("<Code>AccessDenied</Code>"));
  EXPECT_EQ(StatusOf(Call("PUT", "/locked/c", {{"retention", ""}, {"versionId", complied}},
                          "<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2100-01-01T00:00:00Z"
                          "</RetainUntilDate></Retention>")),
            200);
  EXPECT_THAT(BodyOf(Call("GET", "/locked/c", {{"retention", ""}})), HasSubstr("2100-01-01"));
  // A legal hold holds a version that has no retention.
  ASSERT_EQ(StatusOf(Call("PUT", "/locked", {{"object-lock", ""}},
                          "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
                          "</ObjectLockConfiguration>")),
            200);
  const std::string held =
      HeaderOf(Call("PUT", "/locked/h", {}, "h", {{"x-amz-object-lock-legal-hold", "ON"}}),
               "x-amz-version-id");
  EXPECT_THAT(BodyOf(Call("GET", "/locked/h", {{"legal-hold", ""}})), HasSubstr("<Status>ON"));
  EXPECT_EQ(StatusOf(Call("DELETE", "/locked/h", {{"versionId", held}})), 403);
  ASSERT_EQ(StatusOf(Call("PUT", "/locked/h", {{"legal-hold", ""}},
                          "<LegalHold><Status>OFF</Status></LegalHold>")),
            200);
  EXPECT_EQ(StatusOf(Call("DELETE", "/locked/h", {{"versionId", held}})), 204);
  // Bad lock requests are refused by name.
  EXPECT_THAT(Call("PUT", "/locked/x", {}, "x",
                   {{"x-amz-object-lock-mode", "FOREVER"},
                    {"x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z"}}),
              AllOf(HasSubstr("<Code>InvalidArgument</Code>"), HasSubstr("FOREVER")));
  EXPECT_THAT(Call("PUT", "/vers/x", {}, "x", {{"x-amz-object-lock-legal-hold", "ON"}}),
              HasSubstr("<Code>InvalidRequest</Code>"));
  EXPECT_THAT(Call("PUT", "/locked", {{"object-lock", ""}},
                   "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
                   "<DefaultRetention><Mode>GOVERNANCE</Mode><Days>0</Days></DefaultRetention>"
                   "</Rule></ObjectLockConfiguration>"),
              HasSubstr("<Code>InvalidRetentionPeriod</Code>"));
}

// Under racing overwrites and deletes in a bucket whose versions are locked, every version a
// write was told of is kept, whole, and no delete of one gets through.
TEST_P(VersioningTest, LockedVersionsSurviveRacingDeletes) {
  ASSERT_EQ(StatusOf(Call("PUT", "/vault", {}, "", {{"x-amz-bucket-object-lock-enabled", "true"}})),
            200);
  ASSERT_EQ(StatusOf(Call("PUT", "/vault", {{"object-lock", ""}},
                          "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
                          "<Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>1</Days>"
                          "</DefaultRetention></Rule></ObjectLockConfiguration>")),
            200);
  std::mutex mu;
  std::map<std::string, std::string> acknowledged;  // version id -> body
  std::vector<std::string> seen;
  int deleted = 0;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 12; ++i) {
        if (i % 3 == 2) {
          std::string victim;
          {
            std::lock_guard lock(mu);
            if (!seen.empty()) victim = seen[(w * 7 + i) % seen.size()];
          }
          if (victim.empty()) continue;
          const std::string answer = Call("DELETE", "/vault/hot", {{"versionId", victim}}, "",
                                          {{"x-amz-bypass-governance-retention", "true"}});
          std::lock_guard lock(mu);
          if (StatusOf(answer) != 403) ++deleted;
          continue;
        }
        const std::string body = fmt::format("writer {} write {}", w, i);
        const std::string response = Call("PUT", "/vault/hot", {}, body);
        if (StatusOf(response) != 200) continue;
        std::lock_guard lock(mu);
        const std::string id = HeaderOf(response, "x-amz-version-id");
        acknowledged[id] = body;
        seen.push_back(id);
      }
    });
  }
  for (auto& writer : writers) writer.join();
  EXPECT_EQ(deleted, 0);
  ASSERT_EQ(acknowledged.size(), 32u);
  for (const auto& [id, body] : acknowledged) {
    const std::string response = Call("GET", "/vault/hot", {{"versionId", id}});
    EXPECT_EQ(BodyOf(response), body) << id;
  }
}

INSTANTIATE_TEST_SUITE_P(Backings, VersioningTest,
                         ::testing::Values(Backing::kMemory, Backing::kLocal),
                         [](const auto& info) {
                           return info.param == Backing::kMemory ? "Memory" : "Local";
                         });

}  // namespace
}  // namespace depot::server
