// Nothing that changes a request's meaning is silently ignored: every header depot serve does not
// honour is refused with 501 NotImplemented naming it, on every operation that can carry it, and
// a refused request stores nothing.
#include "depot/server/request_features.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/s3/signer.h"
#include "depot/server/operations.h"
#include "depot/server/s3_server.h"
#include "depot/server/testing/raw_client.h"

namespace depot::server {
namespace {

using ::depot::server::testing::RawConnection;
using ::depot::server::testing::SignedRequest;
using ::depot::server::testing::StatusOf;
using ::depot::server::testing::StoreSnapshot;
using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

using Headers = std::vector<std::pair<std::string, std::string>>;

// Every header that asks for something depot does not do, with a value a client would send.
const Headers& Refused() {
  static const Headers kRefused = {
      {"x-amz-tagging-directive", "MERGE"},
      {"x-amz-storage-class", "GLACIER"},
      {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
      {"x-amz-website-redirect-location", "/elsewhere"},
      {"x-amz-request-payer", "requester"},
      {"x-amz-mfa", "serial 123456"},
      {"x-amz-write-offset-bytes", "0"},
      {"x-amz-some-future-feature", "on"},
  };
  return kRefused;
}

// Headers S3 keeps with an object (depot too).
const Headers& Stored() {
  static const Headers kStored = {
      {"cache-control", "max-age=60"},
      {"content-disposition", "attachment"},
      {"content-encoding", "gzip"},
      {"content-language", "en"},
      {"expires", "Thu, 01 Dec 2050 16:00:00 GMT"},
  };
  return kStored;
}

using Query = std::map<std::string, std::string, std::less<>>;

Status Check(Resource resource, std::string_view method, const Headers& headers,
             const Query& query = {}) {
  return RefuseUnhonoured({resource, method, query, headers});
}

TEST(RefuseUnhonouredTest, NamesEveryRefusedHeaderInAnyCase) {
  for (const auto& [name, value] : Refused()) {
    SCOPED_TRACE(name);
    EXPECT_THAT(Check(Resource::kObject, "PUT", {{name, value}}),
                StatusIs(StatusCode::kUnimplemented, HasSubstr(name)));
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_THAT(Check(Resource::kObject, "GET", {{upper, value}}),
                StatusIs(StatusCode::kUnimplemented, HasSubstr(value)));
  }
}

// Server-side encryption is the operations' to check (encryption.h) on object writes and reads;
// elsewhere it would not be done, so it is refused.
TEST(RefuseUnhonouredTest, EncryptionIsRefusedWhereItIsNotServed) {
  for (const char* name : {"x-amz-server-side-encryption", "x-amz-server-side-encryption-context",
                           "x-amz-server-side-encryption-customer-key"}) {
    SCOPED_TRACE(name);
    const Headers header = {{name, "v"}};
    EXPECT_THAT(Check(Resource::kObject, "PUT", header), IsOk());
    EXPECT_THAT(Check(Resource::kObject, "GET", header), IsOk());
    EXPECT_THAT(Check(Resource::kObject, "HEAD", header, {{"partNumber", "1"}}), IsOk());
    EXPECT_THAT(Check(Resource::kObject, "POST", header, {{"uploads", ""}}), IsOk());
    EXPECT_THAT(Check(Resource::kObject, "PUT", header, {{"partNumber", "1"}, {"uploadId", "u"}}),
                IsOk());
    EXPECT_THAT(Check(Resource::kObject, "DELETE", header), StatusIs(StatusCode::kUnimplemented));
    EXPECT_THAT(Check(Resource::kObject, "PUT", {{name, "v"}, {"X-Amz-Copy-Source", "/b/k"}}),
                IsOk());
    EXPECT_THAT(Check(Resource::kBucket, "PUT", header), StatusIs(StatusCode::kUnimplemented));
  }
  // A copy's source key: on CopyObject, not on UploadPartCopy.
  const Headers source = {{"x-amz-copy-source-server-side-encryption-customer-key", "v"},
                          {"x-amz-copy-source", "/b/k"}};
  EXPECT_THAT(Check(Resource::kObject, "PUT", source), IsOk());
  EXPECT_THAT(Check(Resource::kObject, "PUT", source, {{"partNumber", "1"}, {"uploadId", "u"}}),
              StatusIs(StatusCode::kUnimplemented));
}

TEST(RefuseUnhonouredTest, ObjectHeadersAreKeptSoNeverRefused) {
  for (const auto& [name, value] : Stored()) {
    SCOPED_TRACE(name);
    EXPECT_THAT(Check(Resource::kObject, "PUT", {{name, value}}), IsOk());
    EXPECT_THAT(Check(Resource::kObject, "POST", {{name, value}}, {{"uploads", ""}}), IsOk());
    EXPECT_THAT(Check(Resource::kObject, "PUT",
                      {{"x-amz-copy-source", "/b/k"},
                       {"x-amz-metadata-directive", "REPLACE"},
                       {name, value}}),
                IsOk());
    EXPECT_THAT(Check(Resource::kObject, "GET", {{name, value}}), IsOk());
  }
}

// A whole-object checksum on CompleteMultipartUpload is the operation's to check (or refuse, on a
// store that keeps no checksums).
TEST(RefuseUnhonouredTest, ChecksumsOnMultipartRequestsPass) {
  EXPECT_THAT(
      Check(Resource::kObject, "POST", {{"x-amz-checksum-crc32", "AAAAAA=="}}, {{"uploadId", "u"}}),
      IsOk());
  EXPECT_THAT(Check(Resource::kObject, "PUT", {{"x-amz-checksum-crc32", "AAAAAA=="}},
                    {{"partNumber", "1"}, {"uploadId", "u"}}),
              IsOk());
}

TEST(RefuseUnhonouredTest, QueryParametersOutsideTheOperationAreRefused) {
  const std::vector<std::tuple<Resource, std::string, std::string>> refused = {
      {Resource::kService, "GET", "bucket-region"},
      {Resource::kService, "PUT", "max-buckets"},
      {Resource::kBucket, "GET", "website"},
      {Resource::kBucket, "GET", "response-content-type"},
      {Resource::kBucket, "PUT", "replication"},
      {Resource::kBucket, "PUT", "x-amz-acl"},
      {Resource::kBucket, "DELETE", "website"},
      {Resource::kObject, "PUT", "torrent"},
      {Resource::kObject, "PUT", "attributes"},
      {Resource::kObject, "HEAD", "tagging"},
      {Resource::kObject, "PUT", "restore"},
      {Resource::kObject, "PUT", "X-Amz-Acl"},
      {Resource::kObject, "PUT", "X-Amz-Server-Side-Encryption"},
      {Resource::kObject, "GET", "X-Amz-Security-Token"},
      {Resource::kObject, "POST", "restore"},
      {Resource::kObject, "POST", "versionId"},
  };
  for (const auto& [resource, method, name] : refused) {
    SCOPED_TRACE(method + " ?" + name);
    EXPECT_THAT(Check(resource, method, {}, {{name, "v"}}),
                StatusIs(StatusCode::kUnimplemented, HasSubstr(name)));
  }
  const Query presigned = {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
                           {"X-Amz-Credential", "c"},
                           {"X-Amz-Date", "d"},
                           {"X-Amz-Expires", "60"},
                           {"X-Amz-SignedHeaders", "host"},
                           {"X-Amz-Signature", "s"},
                           {"x-id", "GetObject"},
                           {"response-content-type", "text/plain"}};
  EXPECT_THAT(Check(Resource::kObject, "GET", {}, presigned), IsOk());
  EXPECT_THAT(Check(Resource::kBucket, "GET", {},
                    {{"list-type", "2"},
                     {"prefix", "a/"},
                     {"delimiter", "/"},
                     {"continuation-token", "t"},
                     {"fetch-owner", "true"}}),
              IsOk());
  EXPECT_THAT(Check(Resource::kBucket, "GET", {}, {{"uploads", ""}, {"key-marker", "k"}}), IsOk());
}

TEST(RefuseUnhonouredTest, PassesWhatDepotDoesAndHints) {
  EXPECT_THAT(Check(Resource::kObject, "PUT",
                    {
                        {"Host", "127.0.0.1"},
                        {"Content-Type", "text/plain"},
                        {"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
                        {"Content-Encoding", "aws-chunked"},
                        {"X-Amz-Date", "20260101T000000Z"},
                        {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
                        {"x-amz-decoded-content-length", "5"},
                        {"x-amz-meta-colour", "blue"},
                        {"x-amz-copy-source", "/b/k"},
                        {"x-amz-copy-source-range", "bytes=0-1"},
                        {"x-amz-copy-source-if-match", "\"e\""},
                        {"x-amz-metadata-directive", "REPLACE"},
                        {"x-amz-checksum-crc32", "AAAAAA=="},
                        {"x-amz-sdk-checksum-algorithm", "CRC32"},
                        {"x-amz-checksum-algorithm", "CRC32"},
                        {"x-amz-checksum-mode", "ENABLED"},
                        {"x-amz-bypass-governance-retention", "true"},
                        {"x-amz-expected-bucket-owner", "OWNER"},
                        {"x-amz-acl", "private"},
                        {"x-amz-storage-class", "STANDARD"},
                        {"x-amz-tagging", ""},
                        {"x-amz-tagging-directive", "COPY"},
                    }),
              IsOk());
  EXPECT_THAT(Check(Resource::kBucket, "PUT",
                    {{"x-amz-bucket-object-lock-enabled", "false"},
                     {"x-amz-object-ownership", "BucketOwnerEnforced"}}),
              IsOk());
  EXPECT_THAT(Check(Resource::kBucket, "PUT", {{"x-amz-bucket-object-lock-enabled", "true"}}),
              IsOk());
  EXPECT_THAT(Check(Resource::kBucket, "PUT", {{"x-amz-object-ownership", "ObjectWriter"}}),
              IsOk());
  EXPECT_THAT(Check(Resource::kObject, "PUT", {{"content-encoding", "aws-chunked,gzip"}}), IsOk());
}

// The same, through the server: raw requests signed by its one user.
class RequestFeaturesServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backing_ = std::make_shared<object::MemoryStore>();
    object::PutOptions bucket;
    bucket.user_metadata["owner"] = "KEY";
    ASSERT_THAT(backing_->Put(BucketMarker("bkt"), Bytes(), bucket), IsOk());
    ASSERT_THAT(backing_->Put("bkt/source", Bytes::FromString("source bytes"), {}), IsOk());
    auto upload = backing_->CreateMultipart("bkt/up", {});
    ASSERT_THAT(upload, IsOk());
    upload_ = *upload;
    auto server = S3Server::Start(backing_, {.port = 0, .credentials = {{"KEY", "SECRET"}}});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
  }

  std::string Send(const std::string& method, const std::string& path,
                   std::vector<s3::Header> query, std::vector<s3::Header> headers,
                   const std::string& body) {
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), method, path, body, s3::Sha256Hex(body),
                                  std::move(headers), std::move(query)));
    return connection.ReadResponse(method == "HEAD");
  }

  std::vector<std::string> Snapshot() { return StoreSnapshot(*backing_); }

  std::shared_ptr<object::MemoryStore> backing_;
  std::unique_ptr<S3Server> server_;
  std::string upload_;
};

TEST_F(RequestFeaturesServerTest, EveryOperationRefusesWhatItWouldNotHonour) {
  struct Operation {
    std::string name;
    std::string method;
    std::string path;
    std::vector<s3::Header> query;
    std::vector<s3::Header> headers;
    std::string body;
  };
  const std::vector<Operation> operations = {
      {"PutObject", "PUT", "/bkt/new", {}, {}, "data"},
      {"CopyObject", "PUT", "/bkt/new", {}, {{"x-amz-copy-source", "/bkt/source"}}, ""},
      {"CopyObject REPLACE",
       "PUT",
       "/bkt/new",
       {},
       {{"x-amz-copy-source", "/bkt/source"}, {"x-amz-metadata-directive", "REPLACE"}},
       ""},
      {"CreateMultipartUpload", "POST", "/bkt/new", {{"uploads", ""}}, {}, ""},
      {"UploadPart", "PUT", "/bkt/up", {{"partNumber", "1"}, {"uploadId", upload_}}, {}, "part"},
      {"UploadPartCopy",
       "PUT",
       "/bkt/up",
       {{"partNumber", "1"}, {"uploadId", upload_}},
       {{"x-amz-copy-source", "/bkt/source"}},
       ""},
      {"GetObject", "GET", "/bkt/source", {}, {}, ""},
      {"HeadObject", "HEAD", "/bkt/source", {}, {}, ""},
  };
  const std::vector<std::string> before = Snapshot();
  int refused = 0;
  for (const Operation& op : operations) {
    for (const auto& [name, value] : Refused()) {
      SCOPED_TRACE(fmt::format("{} with {}: {}", op.name, name, value));
      std::vector<s3::Header> headers = op.headers;
      headers.push_back({name, value});
      const std::string answer = Send(op.method, op.path, op.query, headers, op.body);
      EXPECT_EQ(StatusOf(answer), 501) << answer;
      if (op.method != "HEAD") {
        EXPECT_THAT(answer, HasSubstr("<Code>NotImplemented</Code>"));
        EXPECT_THAT(answer, HasSubstr(name));
      }
      ++refused;
    }
  }
  EXPECT_EQ(Snapshot(), before) << "a refused request changed the store";
  EXPECT_GT(refused, 60);
  // Without the refused headers, the same operations succeed (the sweep tested the headers).
  for (const Operation& op : operations) {
    SCOPED_TRACE(op.name);
    const std::string answer = Send(op.method, op.path, op.query, op.headers, op.body);
    EXPECT_EQ(StatusOf(answer), 200) << answer;
  }
}

TEST_F(RequestFeaturesServerTest, BucketOperationsRefuseToo) {
  const std::vector<std::string> before = Snapshot();
  // ACLs that name nobody, or nothing S3 has, make no bucket; nor does a lock that is no boolean.
  for (const auto& [name, value] : Headers{{"x-amz-object-ownership", "Everyone"},
                                           {"x-amz-bucket-object-lock-enabled", "perhaps"},
                                           {"x-amz-acl", "public-everything"},
                                           {"x-amz-grant-full-control", "someone"}}) {
    SCOPED_TRACE(name);
    const std::string answer = Send("PUT", "/fresh", {}, {{name, value}}, "");
    EXPECT_EQ(StatusOf(answer), 400) << answer;
    EXPECT_THAT(answer, HasSubstr(value));
  }
  // Headers S3 would store are harmless where nothing is stored.
  EXPECT_EQ(StatusOf(Send("DELETE", "/bkt/nothing", {}, {{"Cache-Control", "no-cache"}}, "")), 204);
  // Query parameters no operation here takes: on the service, and presigning look-alikes.
  EXPECT_EQ(StatusOf(Send("GET", "/", {{"bucket-region", "eu-west-2"}}, {}, "")), 501);
  EXPECT_EQ(StatusOf(Send("PUT", "/bkt/new", {{"X-Amz-Acl", "public-read"}}, {}, "x")), 501);
  // A copy source with a query (a version) is refused, wherever the versionId stands.
  EXPECT_EQ(StatusOf(Send("PUT", "/bkt/new", {},
                          {{"x-amz-copy-source", "/bkt/source?a=1&versionId=v"}}, "")),
            501);
  // Sub-resources depot does not serve are refused, never taken for something else.
  for (const char* subresource : {"replication", "website"}) {
    SCOPED_TRACE(subresource);
    EXPECT_EQ(StatusOf(Send("PUT", "/bkt", {{subresource, ""}}, {}, "")), 501);
    EXPECT_EQ(StatusOf(Send("GET", "/bkt", {{subresource, ""}}, {}, "")), 501);
    EXPECT_EQ(StatusOf(Send("PUT", "/bkt/source", {{subresource, ""}}, {}, "x")), 501);
  }
  // Tags are served; a body that is no tag set changes nothing.
  EXPECT_EQ(StatusOf(Send("PUT", "/bkt", {{"tagging", ""}}, {}, "")), 400);
  EXPECT_EQ(StatusOf(Send("PUT", "/bkt/source", {{"tagging", ""}}, {}, "x")), 400);
  // A version id this server never made names no version.
  EXPECT_EQ(StatusOf(Send("GET", "/bkt/source", {{"versionId", "v1"}}, {}, "")), 400);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_THAT(backing_->Head(BucketMarker("fresh")), StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace depot::server
