#include "depot/server/s3_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "depot/core/base64.h"
#include "depot/core/checksum.h"
#include "depot/core/md5.h"
#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/object/forwarding_store.h"
#include "depot/object/local/local_store.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/s3/s3_store.h"
#include "depot/s3/chunked_payload.h"
#include "depot/s3/post_policy.h"
#include "depot/s3/signer.h"
#include "depot/s3/xml.h"
#include "depot/server/testing/raw_client.h"

namespace depot::server {
namespace {

using ::depot::server::testing::PresignedTarget;
using ::depot::server::testing::RawConnection;
using ::depot::server::testing::SignedRequest;
using ::depot::server::testing::Signer;
using ::depot::server::testing::StatusOf;
using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using object::S3Store;
using object::S3StoreOptions;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

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

  Result<std::shared_ptr<S3Store>> Client(std::string bucket, std::string secret = "SECRET") {
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
  std::shared_ptr<S3Store> client_;
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
  // Made again by its owner: 200 in us-east-1, as on S3 (access_test.cc has the other regions).
  EXPECT_THAT(client_->CreateBucket(), IsOk());
  EXPECT_THAT(client_->BucketExists(), ::testing::Optional(true));
  ASSERT_THAT(client_->Put("k", Bytes::FromString("v"), {}), IsOk());
  EXPECT_THAT(client_->DeleteBucket(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("BucketNotEmpty")));
  ASSERT_THAT(client_->Delete("k"), IsOk());
  EXPECT_THAT(client_->DeleteBucket(), IsOk());
  EXPECT_THAT(client_->BucketExists(), ::testing::Optional(false));
  EXPECT_THAT(client_->Get("k", {}), StatusIs(StatusCode::kNotFound, HasSubstr("NoSuchBucket")));
}

// S3 behaviours Ceph RGW gets right (issue 17), each as S3 documents it.
TEST_F(S3ServerTest, ListingsLocationsAndDeletesAnswerAsS3Does) {
  const uint16_t port = server_->port();
  auto call = [&](std::string method, std::string path, std::string body,
                  std::vector<s3::Header> query) {
    RawConnection connection(port);
    connection.Send(SignedRequest(port, std::move(method), std::move(path), body,
                                  s3::Sha256Hex(body), {}, std::move(query)));
    return connection.ReadResponse();
  };
  // A bucket made with a LocationConstraint reports it; one made without, the server's region
  // (us-east-1: the empty constraint).
  EXPECT_EQ(StatusOf(call("PUT", "/located", s3::CreateBucketXml("eu-west-2"), {})), 200);
  EXPECT_THAT(call("GET", "/located", "", {{"location", ""}}),
              HasSubstr("<LocationConstraint>eu-west-2</LocationConstraint>"));
  EXPECT_THAT(call("GET", "/photos", "", {{"location", ""}}),
              HasSubstr("<LocationConstraint></LocationConstraint>"));
  EXPECT_EQ(StatusOf(call("PUT", "/garbled", "<CreateBucketConfiguration>", {})), 400);

  for (const char* key : {"a b/1", "a b/2", "c"}) {
    ASSERT_THAT(client_->Put(key, Bytes::FromString(key), {}), IsOk());
  }
  // V1 with encoding-type=url gives the prefix back as sent; V2 encodes it.
  EXPECT_THAT(call("GET", "/photos", "", {{"encoding-type", "url"}, {"prefix", "a b/"}}),
              HasSubstr("<Prefix>a b/</Prefix>"));
  EXPECT_THAT(call("GET", "/photos", "",
                   {{"encoding-type", "url"}, {"list-type", "2"}, {"prefix", "a b/"}}),
              HasSubstr("<Prefix>a%20b/</Prefix>"));
  // An empty continuation token is echoed.
  EXPECT_THAT(call("GET", "/photos", "", {{"continuation-token", ""}, {"list-type", "2"}}),
              HasSubstr("<ContinuationToken></ContinuationToken>"));
  // ListObjectVersions of an unversioned bucket: each object its one null version, in pages.
  const std::string versions = call("GET", "/photos", "", {{"max-keys", "2"}, {"versions", ""}});
  EXPECT_THAT(versions, HasSubstr("<ListVersionsResult>"));
  EXPECT_THAT(versions, HasSubstr("<Version><Key>a b/1</Key><VersionId>null</VersionId>"
                                  "<IsLatest>true</IsLatest>"));
  EXPECT_THAT(versions, HasSubstr("<IsTruncated>true</IsTruncated>"));
  EXPECT_THAT(versions, HasSubstr("<NextKeyMarker>a b/2</NextKeyMarker>"));
  const std::string rest = call("GET", "/photos", "", {{"key-marker", "a b/2"}, {"versions", ""}});
  EXPECT_THAT(rest, HasSubstr("<Key>c</Key>"));
  EXPECT_THAT(rest, Not(HasSubstr("<Key>a b/")));
  EXPECT_THAT(rest, HasSubstr("<IsTruncated>false</IsTruncated>"));

  // ListBuckets in pages.
  EXPECT_EQ(StatusOf(call("PUT", "/zebra", "", {})), 200);
  const std::string first = call("GET", "/", "", {{"max-buckets", "2"}});
  EXPECT_THAT(first, HasSubstr("<Name>located</Name><CreationDate>"));
  EXPECT_THAT(first, HasSubstr("<Name>photos</Name>"));
  EXPECT_THAT(first, HasSubstr("<ContinuationToken>photos</ContinuationToken>"));
  const std::string second =
      call("GET", "/", "", {{"continuation-token", "photos"}, {"max-buckets", "2"}});
  EXPECT_THAT(second, HasSubstr("<Name>zebra</Name>"));
  EXPECT_THAT(second, Not(HasSubstr("<Name>photos</Name>")));
  EXPECT_THAT(second, Not(HasSubstr("<ContinuationToken>")));

  // A second CompleteMultipartUpload with the same part list answers as the first (a retry whose
  // first answer was lost); another part list does not.
  auto upload = client_->CreateMultipart("twice", {});
  ASSERT_THAT(upload, IsOk());
  auto part = client_->PutPart("twice", *upload, 1, Bytes::FromString("only part"));
  ASSERT_THAT(part, IsOk());
  const std::vector<object::PartInfo> parts = {*part};
  auto completed = client_->CompleteMultipart("twice", *upload, parts);
  ASSERT_THAT(completed, IsOk());
  auto again = client_->CompleteMultipart("twice", *upload, parts);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->etag, completed->etag);
  const std::vector<object::PartInfo> other = {{1, "0123456789abcdef0123456789abcdef"}};
  EXPECT_THAT(client_->CompleteMultipart("twice", *upload, other), StatusIs(StatusCode::kNotFound));

  // A part uploaded twice counts once, the last upload winning.
  auto redone = client_->CreateMultipart("redone", {});
  ASSERT_THAT(redone, IsOk());
  ASSERT_THAT(client_->PutPart("redone", *redone, 1, Bytes::FromString("first try")), IsOk());
  auto retried = client_->PutPart("redone", *redone, 1, Bytes::FromString("second try"));
  ASSERT_THAT(retried, IsOk());
  auto listed_parts = client_->ListParts("redone", *redone);
  ASSERT_THAT(listed_parts, IsOk());
  ASSERT_EQ(listed_parts->size(), 1u);
  EXPECT_EQ((*listed_parts)[0].etag, retried->etag);
  const std::vector<object::PartInfo> last = {*retried};
  ASSERT_THAT(client_->CompleteMultipart("redone", *redone, last), IsOk());
  EXPECT_EQ(client_->Get("redone", {})->data.view(), "second try");

  // A bucket holding only an incomplete multipart upload is deleted, the upload aborted.
  auto zebra = Client("zebra");
  ASSERT_THAT(zebra, IsOk());
  ASSERT_THAT((*zebra)->CreateMultipart("half", {}), IsOk());
  EXPECT_THAT((*zebra)->DeleteBucket(), IsOk());
  EXPECT_TRUE(backing_->ListMultipartUploads("zebra/")->empty());

  // A presigned URL valid for more than a week: 403 AuthorizationQueryParametersError.
  std::string target = PresignedTarget(port, "GET", "/photos/c");
  const size_t at = target.find("X-Amz-Expires=");
  ASSERT_NE(at, std::string::npos);
  target.replace(at, target.find('&', at) - at, "X-Amz-Expires=604801");
  RawConnection connection(port);
  connection.Send(fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", target, port));
  const std::string answer = connection.ReadResponse();
  EXPECT_EQ(StatusOf(answer), 403);
  EXPECT_THAT(answer, HasSubstr("AuthorizationQueryParametersError"));

  // OPTIONS on a presigned URL is a CORS preflight: 400 without an Origin, and 403 with one
  // while the bucket has no CORS rules (CorsRulesAnswerPreflightsAndRequests has the rest).
  const std::string presigned = PresignedTarget(port, "GET", "/photos/c");
  RawConnection no_origin(port);
  no_origin.Send(fmt::format("OPTIONS {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", presigned, port));
  EXPECT_EQ(StatusOf(no_origin.ReadResponse()), 400);
  RawConnection with_origin(port);
  with_origin.Send(
      fmt::format("OPTIONS {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: https://app.example\r\n"
                  "Access-Control-Request-Method: GET\r\n\r\n",
                  presigned, port));
  const std::string preflight = with_origin.ReadResponse();
  EXPECT_EQ(StatusOf(preflight), 403);
  EXPECT_THAT(preflight, HasSubstr("AccessForbidden"));
}

// A store whose reads fail after the metadata, before any byte (as a damaged block does).
class DamagedReads final : public object::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

 protected:
  Status DoGetStream(std::string_view key, const object::GetOptions& options,
                     const std::function<Status(const object::GetResult&)>& on_head,
                     const std::function<Status(std::string_view)>&, const Context& ctx) override {
    return ForwardingStore::DoGetStream(
        key, options, on_head,
        [](std::string_view) { return DataLossError("bytes 0-9 do not match their CRC-32C"); },
        ctx);
  }
};

// A GET that fails before any byte went out is answered with an error, not a closed connection;
// once the headers are out (a large body), closing early is all that is left.
TEST_F(S3ServerTest, AReadFailingBeforeItsFirstByteIsAnsweredAsAnError) {
  auto damaged = std::make_shared<DamagedReads>(*backing_);
  auto server = S3Server::Start(damaged, {.port = 0, .credentials = {{"KEY", "SECRET"}}});
  ASSERT_THAT(server, IsOk());
  const uint16_t port = (*server)->port();
  ASSERT_THAT(client_->Put("small", Bytes::FromString("ten bytes!"), {}), IsOk());
  ASSERT_THAT(client_->Put("large", Bytes::FromString(std::string(1 << 20, 'x')), {}), IsOk());
  const std::string empty(s3::kEmptyPayloadSha256);
  auto get = [&](std::string path) {
    RawConnection connection(port);
    connection.Send(SignedRequest(port, "GET", std::move(path), "", empty));
    return connection.ReadResponse();
  };
  const std::string small = get("/photos/small");
  EXPECT_EQ(StatusOf(small), 500);
  EXPECT_THAT(small, HasSubstr("do not match their CRC-32C"));
  const std::string large = get("/photos/large");
  EXPECT_EQ(StatusOf(large), 200);
  EXPECT_THAT(large, Not(HasSubstr("xxxx")));
}

// Bucket tags: put, got and deleted by the bucket's owner, kept beside its CORS rules, checked as
// S3 checks them; a refused set leaves the tags as they were.
TEST_F(S3ServerTest, BucketTagsArePutGotAndDeleted) {
  const uint16_t port = server_->port();
  auto call = [&](std::string method, std::string path, std::string body = "") {
    RawConnection connection(port);
    connection.Send(SignedRequest(port, std::move(method), std::move(path), body,
                                  s3::Sha256Hex(body), {}, {{"tagging", ""}}));
    return connection.ReadResponse();
  };
  const std::vector<s3::Tag> tags = {{"team", "storage"}, {"cost center", "42 & up"}};
  EXPECT_THAT(call("GET", "/photos"), HasSubstr("<Code>NoSuchTagSet</Code>"));
  const std::string cors =
      "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
      "</AllowedMethod></CORSRule></CORSConfiguration>";
  {
    RawConnection connection(port);
    connection.Send(
        SignedRequest(port, "PUT", "/photos", cors, s3::Sha256Hex(cors), {}, {{"cors", ""}}));
    ASSERT_EQ(StatusOf(connection.ReadResponse()), 200);
  }
  EXPECT_EQ(StatusOf(call("PUT", "/photos", s3::TaggingXml(tags))), 204);
  const std::string got = call("GET", "/photos");
  EXPECT_EQ(StatusOf(got), 200);
  EXPECT_THAT(got, HasSubstr(s3::TaggingXml(tags)));
  std::vector<s3::Tag> many;
  for (int i = 0; i < 51; ++i) many.push_back({"k" + std::to_string(i), "v"});
  EXPECT_THAT(call("PUT", "/photos", s3::TaggingXml(many)),
              AllOf(HasSubstr("<Code>InvalidTag</Code>"), HasSubstr("at most 50")));
  EXPECT_THAT(call("PUT", "/photos", "<Tagging>"), HasSubstr("<Code>MalformedXML</Code>"));
  EXPECT_THAT(call("GET", "/photos"), HasSubstr(s3::TaggingXml(tags)));
  // The CORS rules are still there, and the tags do not make a bucket.
  EXPECT_EQ(backing_->Get("_buckets/photos")->data.ToString(),
            s3::CorsConfigurationXml(*s3::ParseCorsConfiguration(cors)));
  EXPECT_THAT(call("PUT", "/nobucket", s3::TaggingXml(tags)),
              HasSubstr("<Code>NoSuchBucket</Code>"));
  EXPECT_EQ(StatusOf(call("DELETE", "/photos")), 204);
  EXPECT_THAT(call("GET", "/photos"), HasSubstr("<Code>NoSuchTagSet</Code>"));
  EXPECT_EQ(backing_->Get("_buckets/photos")->data.ToString(),
            s3::CorsConfigurationXml(*s3::ParseCorsConfiguration(cors)));
}

TEST_F(S3ServerTest, CorsRulesAnswerPreflightsAndRequests) {
  const uint16_t port = server_->port();
  auto call = [&](std::string method, std::string path, std::string body,
                  std::vector<s3::Header> headers, std::vector<s3::Header> query) {
    RawConnection connection(port);
    const bool head = method == "HEAD";
    connection.Send(SignedRequest(port, std::move(method), std::move(path), body,
                                  s3::Sha256Hex(body), std::move(headers), std::move(query)));
    return connection.ReadResponse(head);
  };
  auto preflight = [&](std::string path, std::string origin, std::string method,
                       std::string headers) {
    RawConnection connection(port);
    connection.Send(
        fmt::format("OPTIONS {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: {}\r\n"
                    "Access-Control-Request-Method: {}\r\n{}\r\n",
                    path, port, origin, method,
                    headers.empty() ? "" : "Access-Control-Request-Headers: " + headers + "\r\n"));
    return connection.ReadResponse();
  };
  const std::vector<s3::Header> cors = {{"cors", ""}};
  EXPECT_THAT(call("GET", "/photos", "", {}, cors), HasSubstr("NoSuchCORSConfiguration"));
  EXPECT_THAT(preflight("/photos/k", "https://app.example", "PUT", ""),
              HasSubstr("CORS is not enabled for this bucket"));
  const std::string rules =
      "<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin>"
      "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>"
      "<AllowedHeader>content-type</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
      "<MaxAgeSeconds>60</MaxAgeSeconds></CORSRule></CORSConfiguration>";
  EXPECT_EQ(StatusOf(call("PUT", "/photos", "<CORSConfiguration/>", {}, cors)), 400);
  EXPECT_EQ(StatusOf(call("PUT", "/photos", rules, {}, cors)), 200);
  EXPECT_THAT(call("GET", "/photos", "", {}, cors),
              HasSubstr("<AllowedOrigin>https://app.example</AllowedOrigin>"));
  // The bucket is still a bucket: made when it was (a PUT ?cors never re-creates it).
  EXPECT_THAT(backing_->Head("_buckets/photos"), IsOk());

  const std::string allowed = preflight("/photos/k", "https://app.example", "PUT", "Content-Type");
  EXPECT_EQ(StatusOf(allowed), 200) << allowed;
  EXPECT_THAT(allowed, HasSubstr("Access-Control-Allow-Origin: https://app.example"));
  EXPECT_THAT(allowed, HasSubstr("Access-Control-Allow-Methods: PUT, GET"));
  EXPECT_THAT(allowed, HasSubstr("Access-Control-Allow-Headers: Content-Type"));
  EXPECT_THAT(allowed, HasSubstr("Access-Control-Max-Age: 60"));
  EXPECT_EQ(StatusOf(preflight("/photos/k", "https://evil.example", "PUT", "")), 403);
  EXPECT_EQ(StatusOf(preflight("/photos/k", "https://app.example", "DELETE", "")), 403);
  EXPECT_EQ(StatusOf(preflight("/photos/k", "https://app.example", "PUT", "x-secret")), 403);
  EXPECT_EQ(StatusOf(preflight("/nobucket/k", "https://app.example", "PUT", "")), 404);

  // A request from that origin carries the rule's headers; from another, none.
  ASSERT_THAT(client_->Put("k", Bytes::FromString("v"), {}), IsOk());
  const std::string got = call("GET", "/photos/k", "", {{"Origin", "https://app.example"}}, {});
  EXPECT_EQ(StatusOf(got), 200);
  EXPECT_THAT(got, HasSubstr("Access-Control-Allow-Origin: https://app.example"));
  EXPECT_THAT(got, HasSubstr("Access-Control-Expose-Headers: ETag"));
  const std::string other = call("GET", "/photos/k", "", {{"Origin", "https://evil.example"}}, {});
  EXPECT_EQ(StatusOf(other), 200);
  EXPECT_THAT(other, Not(HasSubstr("Access-Control-Allow-Origin")));

  EXPECT_EQ(StatusOf(call("DELETE", "/photos", "", {}, cors)), 204);
  EXPECT_THAT(call("GET", "/photos", "", {}, cors), HasSubstr("NoSuchCORSConfiguration"));
  EXPECT_EQ(StatusOf(preflight("/photos/k", "https://app.example", "PUT", "")), 403);
}

// A browser's form upload: fields, then the file, under a policy signed for the user.
std::string PostForm(uint16_t port, const std::string& conditions,
                     std::vector<std::pair<std::string, std::string>> fields,
                     const std::string& file,
                     std::chrono::seconds expires = std::chrono::hours(1)) {
  const s3::PostSigning signing = s3::SignPostPolicy("KEY", "SECRET", "us-east-1", conditions,
                                                     std::chrono::system_clock::now(), expires);
  fields.insert(fields.end(), {{"x-amz-algorithm", "AWS4-HMAC-SHA256"},
                               {"x-amz-credential", signing.credential},
                               {"x-amz-date", signing.amz_date},
                               {"policy", signing.policy},
                               {"x-amz-signature", signing.signature}});
  std::string body;
  for (const auto& [name, value] : fields) {
    body += fmt::format("--BoUnDaRy\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                        name, value);
  }
  body +=
      "--BoUnDaRy\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cat.png\"\r\n"
      "Content-Type: image/png\r\n\r\n" +
      file + "\r\n--BoUnDaRy--\r\n";
  return fmt::format(
      "POST /photos HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: multipart/form-data; "
      "boundary=BoUnDaRy\r\nContent-Length: {}\r\n\r\n{}",
      port, body.size(), body);
}

TEST_F(S3ServerTest, BrowserFormUploadsAreCheckedAgainstTheirSignedPolicy) {
  const uint16_t port = server_->port();
  const std::string conditions =
      R"([{"bucket": "photos"}, ["starts-with", "$key", "user/"],
          ["content-length-range", 1, 100000], ["starts-with", "$Content-Type", "image/"],
          ["starts-with", "$success_action_status", ""], ["starts-with", "$x-amz-meta-tag", ""],
          ["starts-with", "$success_action_redirect", ""],
          {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, ["starts-with", "$x-amz-credential", "KEY/"],
          ["starts-with", "$x-amz-date", ""]])";
  auto post = [&](std::vector<std::pair<std::string, std::string>> fields, const std::string& file,
                  std::chrono::seconds expires = std::chrono::hours(1)) {
    // Every form names an image type, as the policy asks.
    if (fields.size() < 2 || fields[1].first != "Content-Type") {
      fields.insert(fields.begin() + 1, {"Content-Type", "image/jpeg"});
    }
    RawConnection connection(port);
    EXPECT_TRUE(connection.Send(PostForm(port, conditions, std::move(fields), file, expires)));
    return connection.ReadResponse();
  };
  const std::string created = post({{"key", "user/${filename}"},
                                    {"Content-Type", "image/png"},
                                    {"x-amz-meta-tag", "holiday"},
                                    {"success_action_status", "201"}},
                                   "PNG bytes");
  EXPECT_EQ(StatusOf(created), 201) << created;
  EXPECT_THAT(created, HasSubstr("<Key>user/cat.png</Key>"));
  auto got = client_->Get("user/cat.png");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.ToString(), "PNG bytes");
  EXPECT_EQ(got->meta.content_type, "image/png");
  EXPECT_EQ(got->meta.user_metadata.at("tag"), "holiday");
  EXPECT_THAT(created, HasSubstr(got->meta.etag));

  const std::string redirected =
      post({{"key", "user/r"}, {"success_action_redirect", "https://app.example/done"}}, "x");
  EXPECT_EQ(StatusOf(redirected), 303) << redirected;
  EXPECT_THAT(redirected, HasSubstr("Location: https://app.example/done?bucket=photos&key=user%2Fr"
                                    "&etag=%22"));
  EXPECT_EQ(StatusOf(post({{"key", "user/plain"}}, "x")), 204);
  EXPECT_THAT(post({{"key", "user/text"}, {"Content-Type", "text/html"}}, "x"),
              HasSubstr("Policy Condition failed"));

  // Refused: a key outside the prefix (with a large file, whose refusal the client still reads),
  // a file outside the size range, an expired policy, a field no condition covers.
  const std::string outside = post({{"key", "admin/x"}}, std::string(8 << 20, 'x'));
  EXPECT_EQ(StatusOf(outside), 403) << outside;
  EXPECT_THAT(outside, HasSubstr("Policy Condition failed"));
  EXPECT_THAT(post({{"key", "user/big"}}, std::string(100001, 'x')), HasSubstr("EntityTooLarge"));
  EXPECT_THAT(post({{"key", "user/empty"}}, ""), HasSubstr("EntityTooSmall"));
  EXPECT_THAT(post({{"key", "user/late"}}, "x", std::chrono::seconds(-10)),
              HasSubstr("Policy expired"));
  EXPECT_THAT(post({{"key", "user/extra"}, {"acl", "public-read"}}, "x"),
              HasSubstr("Extra input fields: acl"));
  for (const char* key :
       {"admin/x", "user/text", "user/big", "user/empty", "user/late", "user/extra"}) {
    EXPECT_THAT(client_->Head(key), StatusIs(StatusCode::kNotFound)) << key;
  }
}

TEST_F(S3ServerTest, RefusesWrongSecretsAndStoresNothing) {
  auto wrong = Client("photos", "not-the-secret");
  ASSERT_THAT(wrong, IsOk());
  EXPECT_THAT((*wrong)->Put("k", Bytes::FromString("v"), {}),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("SignatureDoesNotMatch")));
  EXPECT_THAT(backing_->Head("photos/k"), StatusIs(StatusCode::kNotFound));
}

TEST_F(S3ServerTest, AnEarlyRefusalOfALargeBodyReachesTheClient) {
  // A 16 MiB PUT signed with the wrong secret is refused before its body is read: the client,
  // still sending, gets to send it all and then reads the 403, rather than a reset connection.
  const std::string body(16 << 20, 'x');
  RawConnection connection(server_->port());
  EXPECT_TRUE(connection.Send(SignedRequest(server_->port(), "PUT", "/photos/big", body,
                                            std::string(s3::kUnsignedPayload), {}, {},
                                            {.secret_key = "not-the-secret"})));
  const std::string answer = connection.ReadResponse();
  EXPECT_EQ(StatusOf(answer), 403) << answer.substr(0, 300);
  EXPECT_THAT(answer, HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(backing_->Head("photos/big"), StatusIs(StatusCode::kNotFound));
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

std::string Sha256Hex(std::string_view data) {
  PayloadChecksum sha(PayloadChecksum::Algorithm::kSha256);
  sha.Update(data);
  auto bytes = Base64Decode(sha.Base64Finish());
  return bytes.ok() ? HexEncode(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size())
                    : "";
}

TEST_F(S3ServerTest, ABodyThatDoesNotMatchItsSignedHashStoresNothing) {
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.connected());
  connection.Send(SignedRequest(server_->port(), "PUT", "/photos/k", "hello", Sha256Hex("HELLO")));
  const std::string response = connection.ReadResponse();
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(response, HasSubstr("<Code>XAmzContentSHA256Mismatch</Code>"));
  EXPECT_THAT(backing_->Head("photos/k"), StatusIs(StatusCode::kNotFound));
  // The connection lives on: the body was read to its end.
  connection.Send(SignedRequest(server_->port(), "PUT", "/photos/k", "hello", Sha256Hex("hello")));
  EXPECT_THAT(connection.ReadResponse(), ::testing::StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(backing_->Head("photos/k"), IsOk());
}

TEST_F(S3ServerTest, ChecksumHeadersAreVerified) {
  auto checksum = [](PayloadChecksum::Algorithm algorithm, std::string_view data) {
    PayloadChecksum sum(algorithm);
    sum.Update(data);
    return sum.Base64Finish();
  };
  using Algorithm = PayloadChecksum::Algorithm;
  const std::string body = "checked bytes";
  for (auto [header, algorithm] : {std::pair{"x-amz-checksum-crc32", Algorithm::kCrc32},
                                   std::pair{"x-amz-checksum-crc32c", Algorithm::kCrc32c},
                                   std::pair{"x-amz-checksum-crc64nvme", Algorithm::kCrc64Nvme},
                                   std::pair{"x-amz-checksum-sha1", Algorithm::kSha1},
                                   std::pair{"x-amz-checksum-sha256", Algorithm::kSha256}}) {
    SCOPED_TRACE(header);
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), "PUT", "/photos/wrong", body,
                                  std::string(s3::kUnsignedPayload),
                                  {{header, checksum(algorithm, "other bytes")}}));
    const std::string refused = connection.ReadResponse();
    EXPECT_THAT(refused, ::testing::StartsWith("HTTP/1.1 400"));
    EXPECT_THAT(refused, HasSubstr("<Code>BadDigest</Code>"));
    EXPECT_THAT(backing_->Head("photos/wrong"), StatusIs(StatusCode::kNotFound));
    connection.Send(SignedRequest(server_->port(), "PUT", "/photos/right", body,
                                  std::string(s3::kUnsignedPayload),
                                  {{header, checksum(algorithm, body)}}));
    EXPECT_THAT(connection.ReadResponse(), ::testing::StartsWith("HTTP/1.1 200"));
  }
}

// A Content-MD5 that is not the base64 of 16 bytes is InvalidDigest; one of other bytes is
// BadDigest. Neither stores anything.
TEST_F(S3ServerTest, MalformedAndWrongContentMd5AreToldApart) {
  for (auto [md5, code] :
       {std::pair{"", "InvalidDigest"}, std::pair{"YWJj", "InvalidDigest"},
        std::pair{"!!!!", "InvalidDigest"}, std::pair{"AAAAAAAAAAAAAAAAAAAAAA==", "BadDigest"}}) {
    SCOPED_TRACE(md5);
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), "PUT", "/photos/md5", "body",
                                  std::string(s3::kUnsignedPayload), {{"Content-MD5", md5}}));
    const std::string refused = connection.ReadResponse();
    EXPECT_THAT(refused, ::testing::StartsWith("HTTP/1.1 400"));
    EXPECT_THAT(refused, HasSubstr(fmt::format("<Code>{}</Code>", code)));
    EXPECT_THAT(backing_->Head("photos/md5"), StatusIs(StatusCode::kNotFound));
  }
}

// Checksums the server verified are kept (the memory store keeps them): answered on GET and HEAD
// when x-amz-checksum-mode asks; a multipart object's is made from its parts', checked against a
// whole-object checksum sent with the completion; its parts are readable one by one and listed by
// GetObjectAttributes.
TEST_F(S3ServerTest, ChecksumsPartsAndAttributesOfStoredObjects) {
  const uint16_t port = server_->port();
  auto call = [&](std::string method, std::string path, std::string body,
                  std::vector<s3::Header> headers, std::vector<s3::Header> query = {}) {
    RawConnection connection(port);
    const bool head = method == "HEAD";
    connection.Send(SignedRequest(port, std::move(method), std::move(path), body,
                                  s3::Sha256Hex(body), std::move(headers), std::move(query)));
    return connection.ReadResponse(head);
  };
  auto digest = [](std::string_view data) {
    PayloadChecksum sum(PayloadChecksum::Algorithm::kCrc32);
    sum.Update(data);
    return sum.Finish();
  };
  auto crc = [&](std::string_view data) { return Base64Encode(digest(data)); };
  auto between = [](const std::string& text, const std::string& open, const std::string& close) {
    const size_t at = text.find(open);
    if (at == std::string::npos) return std::string();
    const size_t from = at + open.size();
    return text.substr(from, text.find(close, from) - from);
  };

  EXPECT_EQ(StatusOf(call("PUT", "/photos/one", "one", {{"x-amz-checksum-crc32", crc("one")}})),
            200);
  EXPECT_THAT(call("GET", "/photos/one", "", {{"x-amz-checksum-mode", "ENABLED"}}),
              AllOf(HasSubstr("x-amz-checksum-crc32: " + crc("one") + "\r\n"),
                    HasSubstr("x-amz-checksum-type: FULL_OBJECT")));
  EXPECT_THAT(call("HEAD", "/photos/one", "", {}), Not(HasSubstr("x-amz-checksum-crc32")));

  const std::string created =
      call("POST", "/photos/multi", "", {{"x-amz-checksum-algorithm", "CRC32"}}, {{"uploads", ""}});
  EXPECT_THAT(created, HasSubstr("x-amz-checksum-type: COMPOSITE"));
  const std::string id = between(created, "<UploadId>", "</UploadId>");
  ASSERT_FALSE(id.empty()) << created;
  const std::vector<std::string> parts = {std::string(5 << 20, 'a'), "tail"};
  std::string complete = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string number = std::to_string(i + 1);
    const std::string answer =
        call("PUT", "/photos/multi", parts[i], {{"x-amz-checksum-crc32", crc(parts[i])}},
             {{"partNumber", number}, {"uploadId", id}});
    ASSERT_EQ(StatusOf(answer), 200) << answer;
    complete += fmt::format(
        "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag><ChecksumCRC32>{}</ChecksumCRC32></Part>",
        number, between(answer, "ETag: ", "\r\n"), crc(parts[i]));
  }
  complete += "</CompleteMultipartUpload>";
  const std::string listed = call("GET", "/photos/multi", "", {}, {{"uploadId", id}});
  ASSERT_EQ(StatusOf(listed), 200) << listed;
  EXPECT_THAT(listed, AllOf(HasSubstr("<ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"),
                            HasSubstr("<Size>4</Size><ChecksumCRC32>" + crc("tail") +
                                      "</ChecksumCRC32></Part>")));
  const std::string whole = crc(digest(parts[0]) + digest(parts[1])) + "-2";
  const std::string wrong = call("POST", "/photos/multi", complete,
                                 {{"x-amz-checksum-crc32", "AAAAAA==-2"}}, {{"uploadId", id}});
  EXPECT_EQ(StatusOf(wrong), 400);
  EXPECT_THAT(wrong, HasSubstr("<Code>BadDigest</Code>"));
  EXPECT_THAT(backing_->ListParts("photos/multi", id), IsOk());  // the upload stays
  const std::string done = call("POST", "/photos/multi", complete,
                                {{"x-amz-checksum-crc32", whole}}, {{"uploadId", id}});
  ASSERT_EQ(StatusOf(done), 200) << done;
  EXPECT_THAT(done, HasSubstr("<ChecksumCRC32>" + whole +
                              "</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType>"));

  const std::string second = call("HEAD", "/photos/multi", "", {{"x-amz-checksum-mode", "ENABLED"}},
                                  {{"partNumber", "2"}});
  EXPECT_EQ(StatusOf(second), 206);
  EXPECT_THAT(second, AllOf(HasSubstr("x-amz-mp-parts-count: 2"), HasSubstr("Content-Length: 4"),
                            HasSubstr("x-amz-checksum-crc32: " + crc("tail"))));
  EXPECT_THAT(call("GET", "/photos/multi", "", {}, {{"partNumber", "2"}}),
              AllOf(HasSubstr(fmt::format("Content-Range: bytes {}-{}/{}", 5 << 20, (5 << 20) + 3,
                                          (5 << 20) + 4)),
                    ::testing::EndsWith("\r\n\r\ntail")));
  const std::string beyond = call("GET", "/photos/multi", "", {}, {{"partNumber", "3"}});
  EXPECT_EQ(StatusOf(beyond), 400);
  EXPECT_THAT(beyond, HasSubstr("<Code>InvalidPart</Code>"));

  const std::string attributes =
      call("GET", "/photos/multi", "",
           {{"x-amz-object-attributes", "ETag,Checksum,ObjectParts,ObjectSize"},
            {"x-amz-max-parts", "1"},
            {"x-amz-part-number-marker", "1"}},
           {{"attributes", ""}});
  ASSERT_EQ(StatusOf(attributes), 200) << attributes;
  EXPECT_THAT(attributes,
              AllOf(HasSubstr("<PartsCount>2</PartsCount>"),
                    HasSubstr("<Part><PartNumber>2</PartNumber><Size>4</Size><ChecksumCRC32>" +
                              crc("tail") + "</ChecksumCRC32></Part>"),
                    Not(HasSubstr("<PartNumber>1</PartNumber>")),
                    HasSubstr("<IsTruncated>false</IsTruncated>"),
                    HasSubstr(fmt::format("<ObjectSize>{}</ObjectSize>", (5 << 20) + 4)),
                    HasSubstr("<ChecksumType>COMPOSITE</ChecksumType>")));
}

// What current AWS SDKs send over HTTPS: unsigned aws-chunked bodies whose checksum trails them.
TEST_F(S3ServerTest, TrailingChecksumsAreVerifiedBeforeAnythingIsStored) {
  const std::string payload = RandomBytes(70000, 3);
  PayloadChecksum crc(PayloadChecksum::Algorithm::kCrc32);
  crc.Update(payload);
  const std::string right = crc.Base64Finish();
  auto put = [&](const std::string& key, const std::string& checksum) {
    const std::string body = fmt::format(
        "{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\nx-amz-checksum-crc32:{}\r\n\r\n", 65536,
        payload.substr(0, 65536), payload.size() - 65536, payload.substr(65536), checksum);
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(
        server_->port(), "PUT", "/photos/" + key, body, std::string(s3::kStreamingUnsignedTrailer),
        {{"Content-Encoding", "aws-chunked"},
         {"x-amz-trailer", "x-amz-checksum-crc32"},
         {"x-amz-decoded-content-length", std::to_string(payload.size())}}));
    return connection.ReadResponse();
  };
  EXPECT_EQ(StatusOf(put("good", right)), 200);
  auto got = client_->Get("good");
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->data.ToString() == payload);
  const std::string wrong = put("bad", "AAAAAA==");
  EXPECT_EQ(StatusOf(wrong), 400);
  EXPECT_THAT(wrong, HasSubstr("BadDigest"));
  EXPECT_THAT(client_->Head("bad"), StatusIs(StatusCode::kNotFound));
}

TEST_F(S3ServerTest, BadRequestsGetS3ErrorsNeverACrashOrAHang) {
  {
    RawConnection connection(server_->port());
    connection.Send("GET /photos/k HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') +
                    "\r\n\r\n");
    const std::string response = connection.ReadUntilClosed();
    EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 400"));
    EXPECT_THAT(response, HasSubstr("RequestHeaderSectionTooLarge"));
  }
  {
    RawConnection connection(server_->port());
    connection.Send("NOT AN HTTP REQUEST\r\n\r\n");
    EXPECT_THAT(connection.ReadUntilClosed(), ::testing::StartsWith("HTTP/1.1 400"));
  }
  {
    // Unsigned: AccessDenied, and the small body is drained so the answer is not lost to a reset.
    RawConnection connection(server_->port());
    connection.Send("PUT /photos/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    const std::string response = connection.ReadResponse();
    EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 403"));
    EXPECT_THAT(response, HasSubstr("<Code>AccessDenied</Code>"));
  }
  {
    // Past the server's single-PUT limit: refused before a byte of the body is stored.
    auto server = S3Server::Start(
        backing_, {.port = 0, .credentials = {{"KEY", "SECRET"}}, .max_object_bytes = 1000});
    ASSERT_THAT(server, IsOk());
    RawConnection connection((*server)->port());
    connection.Send(SignedRequest((*server)->port(), "PUT", "/photos/big", std::string(2000, 'x'),
                                  std::string(s3::kUnsignedPayload)));
    const std::string response = connection.ReadResponse();
    EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 400"));
    EXPECT_THAT(response, HasSubstr("<Code>EntityTooLarge</Code>"));
    EXPECT_THAT(backing_->Head("photos/big"), StatusIs(StatusCode::kNotFound));
  }
  // The server still serves.
  EXPECT_THAT(client_->Put("after", Bytes::FromString("ok"), {}), IsOk());
}

TEST_F(S3ServerTest, SubresourcesAndOverridesAreNeverMistakenForSomethingElse) {
  const std::string empty(s3::kEmptyPayloadSha256);
  {
    // DeleteBucketWebsite is not served: the (empty) bucket must not be deleted instead.
    RawConnection connection(server_->port());
    connection.Send(
        SignedRequest(server_->port(), "DELETE", "/photos", "", empty, {}, {{"website", ""}}));
    EXPECT_THAT(connection.ReadResponse(), ::testing::StartsWith("HTTP/1.1 501"));
    EXPECT_THAT(backing_->Head("_buckets/photos"), IsOk());
  }
  ASSERT_THAT(client_->Put("k", Bytes::FromString("v"), {}), IsOk());
  {
    // A response-* override may not smuggle a header in.
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), "GET", "/photos/k", "", empty, {},
                                  {{"response-content-disposition", "a\r\nSet-Cookie: sid=x"},
                                   {"response-content-type", "text/plain"}}));
    const std::string response = connection.ReadResponse();
    EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200"));
    EXPECT_THAT(response, Not(HasSubstr("Set-Cookie")));
    EXPECT_THAT(response, HasSubstr("Content-Type: text/plain"));
  }
  {
    // Nor set one S3 does not allow: refused, not ignored.
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), "GET", "/photos/k", "", empty, {},
                                  {{"response-transfer-encoding", "chunked"}}));
    const std::string response = connection.ReadResponse();
    EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 501"));
    EXPECT_THAT(response, Not(HasSubstr("Transfer-Encoding")));
  }
}

// aws-chunked names how a body travels, so it is dropped from the stored Content-Encoding; a
// value without it is kept exactly as sent (ceph/s3-tests' content_encoding_aws_chunked).
TEST_F(S3ServerTest, ContentEncodingLosesOnlyAwsChunked) {
  for (auto [sent, stored] :
       {std::pair{"deflate, gzip", "deflate, gzip"}, std::pair{"gzip, aws-chunked", "gzip"},
        std::pair{"aws-chunked,deflate,gzip", "deflate, gzip"},
        std::pair{"aws-chunked, aws-chunked", ""}}) {
    SCOPED_TRACE(sent);
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), "PUT", "/photos/encoded", "body",
                                  s3::Sha256Hex("body"), {{"Content-Encoding", sent}}));
    ASSERT_EQ(StatusOf(connection.ReadResponse()), 200);
    auto head = backing_->Head("photos/encoded");
    ASSERT_THAT(head, IsOk());
    EXPECT_EQ(head->headers.content_encoding, stored);
  }
}

TEST_F(S3ServerTest, WebHeadersAreKeptReturnedAndCopied) {
  const uint16_t port = server_->port();
  auto call = [&](std::string method, std::string path, std::string body,
                  std::vector<s3::Header> headers) {
    RawConnection connection(port);
    const bool head = method == "HEAD";
    connection.Send(SignedRequest(port, std::move(method), std::move(path), body,
                                  s3::Sha256Hex(body), std::move(headers)));
    return connection.ReadResponse(head);
  };
  const std::vector<s3::Header> web = {
      {"Cache-Control", "no-cache"},
      {"Content-Disposition", "attachment; filename=\"report.pdf\""},
      {"Content-Encoding", "aws-chunked, gzip"},
      {"Content-Language", "fr"},
      {"Expires", "Thu, 01 Dec 2094 16:00:00 GMT"}};
  ASSERT_EQ(StatusOf(call("PUT", "/photos/page", "<p>", web)), 200);
  const std::vector<std::string> returned = {
      "Cache-Control: no-cache", "Content-Disposition: attachment; filename=\"report.pdf\"",
      "Content-Language: fr", "Expires: Thu, 01 Dec 2094 16:00:00 GMT"};
  for (const char* method : {"GET", "HEAD"}) {
    SCOPED_TRACE(method);
    const std::string got = call(method, "/photos/page", "", {});
    EXPECT_EQ(StatusOf(got), 200) << got;
    for (const std::string& header : returned) EXPECT_THAT(got, HasSubstr(header));
    // aws-chunked names how a request travels, not what the object is: S3 drops it.
    EXPECT_THAT(got, HasSubstr("Content-Encoding: gzip\r\n"));
  }
  // A copy keeps them (COPY) or takes the request's instead (REPLACE), as S3 does.
  ASSERT_EQ(StatusOf(call("PUT", "/photos/kept", "", {{"x-amz-copy-source", "/photos/page"}})),
            200);
  const std::string kept = call("HEAD", "/photos/kept", "", {});
  for (const std::string& header : returned) EXPECT_THAT(kept, HasSubstr(header));
  ASSERT_EQ(StatusOf(call("PUT", "/photos/replaced", "",
                          {{"x-amz-copy-source", "/photos/page"},
                           {"x-amz-metadata-directive", "REPLACE"},
                           {"Cache-Control", "max-age=5"}})),
            200);
  const std::string replaced = call("HEAD", "/photos/replaced", "", {});
  EXPECT_THAT(replaced, HasSubstr("Cache-Control: max-age=5"));
  EXPECT_THAT(replaced, Not(HasSubstr("Content-Disposition")));
  EXPECT_THAT(replaced, Not(HasSubstr("Content-Language")));
  // Through depot's own client, as the object interface names them.
  auto head = client_->Head("page");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->headers.content_language, "fr");
  EXPECT_EQ(head->headers.content_encoding, "gzip");
}

// HTTPS with a certificate from a CA the test makes: depot's client trusts it when told to, and
// only then; plain HTTP on the TLS port gets no answer; bad certificate options are refused by
// name.
TEST(S3ServerTlsTest, ServesHttpsToClientsThatTrustItsCa) {
  depot::testing::TempDir dir;
  const std::string make = fmt::format("bash {} {}", DEPOT_MAKE_TEST_CA, dir.path().string());
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  const std::string cert = (dir.path() / "server.pem").string();
  const std::string key = (dir.path() / "server.key").string();
  const std::string ca = (dir.path() / "ca.pem").string();
  auto backing = std::make_shared<object::MemoryStore>();
  auto server = S3Server::Start(
      backing,
      {.port = 0, .credentials = {{"KEY", "SECRET"}}, .tls_cert_file = cert, .tls_key_file = key});
  ASSERT_THAT(server, IsOk());
  auto client = [&](std::string ca_file) {
    S3StoreOptions options;
    options.bucket = "secure";
    options.endpoint = fmt::format("https://127.0.0.1:{}", (*server)->port());
    options.ca_file = std::move(ca_file);
    options.credentials.access_key_id = "KEY";
    options.credentials.secret_access_key = "SECRET";
    options.credentials.region = "us-east-1";
    options.retry.max_attempts = 1;
    return S3Store::Open(options);
  };
  auto trusting = client(ca);
  ASSERT_THAT(trusting, IsOk());
  ASSERT_THAT((*trusting)->CreateBucket(), IsOk());
  // Several requests (the client keeps its connections alive), a multipart one among them.
  const std::string big = RandomBytes(3 << 20, 9);
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT((*trusting)->Put(fmt::format("k{}", i), Bytes::FromString(big), {}), IsOk());
  }
  auto got = (*trusting)->Get("k4");
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->data.ToString() == big);
  auto listed = (*trusting)->List({});
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->objects.size(), 5u);

  // A client that does not trust the CA refuses the server, and stores nothing.
  auto doubting = client("");
  ASSERT_THAT(doubting, IsOk());
  EXPECT_FALSE((*doubting)->Put("untrusted", Bytes::FromString("x"), {}).ok());
  EXPECT_THAT(backing->Head("secure/untrusted"), StatusIs(StatusCode::kNotFound));
  {
    // Plain HTTP to the HTTPS port: no HTTP answer, and the server serves on.
    RawConnection connection((*server)->port());
    connection.Send(SignedRequest((*server)->port(), "GET", "/secure/k1", "",
                                  std::string(s3::kEmptyPayloadSha256)));
    EXPECT_THAT(connection.ReadResponse(), Not(HasSubstr("HTTP/1.1 200")));
  }
  EXPECT_THAT((*trusting)->Head("k1"), IsOk());

  // Both files or neither; a file that cannot be used is named.
  auto start = [&](std::string cert_file, std::string key_file) {
    return S3Server::Start(backing, {.port = 0,
                                     .credentials = {{"KEY", "SECRET"}},
                                     .tls_cert_file = std::move(cert_file),
                                     .tls_key_file = std::move(key_file)})
        .status();
  };
  EXPECT_THAT(start(cert, ""), StatusIs(StatusCode::kInvalidArgument, HasSubstr("both")));
  EXPECT_THAT(start(cert, "/nonexistent.key"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("/nonexistent.key")));
  EXPECT_THAT(start(key, key), StatusIs(StatusCode::kInvalidArgument, HasSubstr("--tls-cert")));
  EXPECT_THAT(start(cert, (dir.path() / "ca.key").string()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("mismatch")));
}

TEST_F(S3ServerTest, ConditionalWritesTakeEveryFormS3Does) {
  const uint16_t port = server_->port();
  auto put = [&](std::string body, std::vector<s3::Header> headers) {
    RawConnection connection(port);
    connection.Send(
        SignedRequest(port, "PUT", "/photos/c", body, s3::Sha256Hex(body), std::move(headers)));
    return StatusOf(connection.ReadResponse());
  };
  auto first = client_->Put("c", Bytes::FromString("one"), {});
  ASSERT_THAT(first, IsOk());
  const std::string etag = "\"" + first->etag + "\"";
  // If-None-Match with an ETag: refused while the object is that version, written otherwise.
  EXPECT_EQ(put("two", {{"If-None-Match", etag}}), 412);
  EXPECT_EQ(put("two", {{"If-None-Match", "\"0123\""}}), 200);
  EXPECT_EQ(put("three", {{"If-None-Match", etag}}), 200);
  EXPECT_EQ(put("four", {{"If-None-Match", "*"}}), 412);
  EXPECT_EQ(client_->Get("c")->data.ToString(), "three");

  // CompleteMultipartUpload takes the same conditions, checked when the object lands.
  auto id = client_->CreateMultipart("c", {});
  ASSERT_THAT(id, IsOk());
  auto part = client_->PutPart("c", *id, 1, Bytes::FromString("five"));
  ASSERT_THAT(part, IsOk());
  auto complete = [&](std::vector<s3::Header> headers) {
    const std::string body = s3::CompleteMultipartXml(std::vector<s3::Part>{{1, part->etag, 4}});
    RawConnection connection(port);
    connection.Send(SignedRequest(port, "POST", "/photos/c", body, s3::Sha256Hex(body),
                                  std::move(headers), {{"uploadId", *id}}));
    return connection.ReadResponse();
  };
  EXPECT_EQ(StatusOf(complete({{"If-None-Match", "*"}})), 412);
  EXPECT_EQ(StatusOf(complete({{"If-Match", etag}})), 412);  // no longer "one"
  const std::string current = "\"" + client_->Head("c")->etag + "\"";
  EXPECT_EQ(StatusOf(complete({{"If-None-Match", current}})), 412);
  EXPECT_EQ(StatusOf(complete({{"If-Match", current}})), 200);
  EXPECT_EQ(client_->Get("c")->data.ToString(), "five");
}

TEST_F(S3ServerTest, ConditionalCopiesCopyTheVersionTheyChecked) {
  auto stored = client_->Put("source", Bytes::FromString("version one"), {});
  ASSERT_THAT(stored, IsOk());
  const std::string empty(s3::kEmptyPayloadSha256);
  auto copy = [&](std::string etag) {
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), "PUT", "/photos/copy", "", empty,
                                  {{"x-amz-copy-source", "/photos/source"},
                                   {"x-amz-copy-source-if-match", "\"" + etag + "\""}}));
    return connection.ReadResponse();
  };
  EXPECT_THAT(copy("0123456789abcdef0123456789abcdef"), ::testing::StartsWith("HTTP/1.1 412"));
  EXPECT_THAT(backing_->Head("photos/copy"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(copy(stored->etag), ::testing::StartsWith("HTTP/1.1 200"));
  auto got = client_->Get("copy", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.view(), "version one");
}

TEST_F(S3ServerTest, VirtualHostedRequestsNameTheBucketInTheHost) {
  // http://photos.localhost:PORT/KEY (libcurl resolves *.localhost to the loopback itself).
  S3StoreOptions options;
  options.bucket = "photos";
  options.endpoint = fmt::format("http://localhost:{}", server_->port());
  options.addressing = object::S3Addressing::kVirtualHosted;
  options.credentials.access_key_id = "KEY";
  options.credentials.secret_access_key = "SECRET";
  options.credentials.region = "us-east-1";
  options.retry.max_attempts = 2;
  auto hosted = S3Store::Open(options);
  ASSERT_THAT(hosted, IsOk());
  ASSERT_THAT((*hosted)->Put("dir/a b", Bytes::FromString("virtual"), {}), IsOk());
  // The same object, path style.
  auto got = client_->Get("dir/a b", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.view(), "virtual");
  auto page = (*hosted)->List({.prefix = "dir/"});
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "dir/a b");
}

// Owners show by their canonical id and display name wherever S3 shows one; users without a name
// show as their access key, and no two users may show as the same id.
TEST_F(S3ServerTest, OwnersShowByTheirCanonicalIdsAndDisplayNames) {
  auto backing = std::make_shared<object::MemoryStore>();
  const std::string id = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";
  auto server = S3Server::Start(backing, {.port = 0,
                                          .credentials = {{"KEY", "SECRET"}, {"BOB", "BOBSECRET"}},
                                          .names = {{"KEY", {id, "alice"}}}});
  ASSERT_THAT(server, IsOk());
  const uint16_t port = (*server)->port();
  const std::string empty(s3::kEmptyPayloadSha256);
  auto call = [&](std::string method, std::string path, std::vector<s3::Header> headers = {},
                  std::vector<s3::Header> query = {}, const Signer& signer = {}) {
    RawConnection connection(port);
    connection.Send(
        SignedRequest(port, std::move(method), std::move(path), "", empty, headers, query, signer));
    return connection.ReadResponse();
  };
  ASSERT_EQ(StatusOf(call("PUT", "/named")), 200);
  const std::string alice = fmt::format("<ID>{}</ID><DisplayName>alice</DisplayName>", id);
  EXPECT_THAT(call("GET", "/"), HasSubstr("<Owner>" + alice + "</Owner>"));
  EXPECT_THAT(call("GET", "/", {}, {}, {"BOB", "BOBSECRET"}),
              HasSubstr("<Owner><ID>BOB</ID><DisplayName>BOB</DisplayName></Owner>"));
  ASSERT_EQ(StatusOf(call("PUT", "/named/a")), 200);
  EXPECT_THAT(call("GET", "/named"), HasSubstr("<Owner>" + alice + "</Owner>"));
  EXPECT_THAT(call("GET", "/named", {}, {{"list-type", "2"}, {"fetch-owner", "true"}}),
              HasSubstr("<Owner>" + alice + "</Owner>"));
  const std::string created = call("POST", "/named/m", {}, {{"uploads", ""}});
  const size_t at = created.find("<UploadId>") + 10;
  const std::string upload = created.substr(at, created.find("</UploadId>") - at);
  EXPECT_THAT(call("GET", "/named/m", {}, {{"uploadId", upload}}),
              AllOf(HasSubstr("<Initiator>" + alice + "</Initiator>"),
                    HasSubstr("<Owner>" + alice + "</Owner>")));
  EXPECT_THAT(call("GET", "/named", {}, {{"uploads", ""}}),
              HasSubstr("<Initiator>" + alice + "</Initiator>"));
  // x-amz-expected-bucket-owner: the canonical id or the access key.
  EXPECT_EQ(StatusOf(call("GET", "/named", {{"x-amz-expected-bucket-owner", id}})), 200);
  EXPECT_EQ(StatusOf(call("GET", "/named", {{"x-amz-expected-bucket-owner", "KEY"}})), 200);
  EXPECT_EQ(StatusOf(call("GET", "/named", {{"x-amz-expected-bucket-owner", "BOB"}})), 403);

  auto start = [&](std::map<std::string, UserName> names) {
    return S3Server::Start(backing, {.port = 0,
                                     .credentials = {{"KEY", "SECRET"}, {"BOB", "BOBSECRET"}},
                                     .names = std::move(names)})
        .status();
  };
  EXPECT_THAT(start({{"BOB", {"KEY", "bob"}}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("both show as owner id \"KEY\"")));
  EXPECT_THAT(start({{"CAROL", {"c", "carol"}}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("CAROL")));
  EXPECT_THAT(start({{"BOB", {"", "bob"}}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty canonical id")));
}

TEST_F(S3ServerTest, BodiesPastTheMemoryBudgetGetSlowDown) {
  auto server = S3Server::Start(
      backing_, {.port = 0, .credentials = {{"KEY", "SECRET"}}, .max_body_memory = 64 << 10});
  ASSERT_THAT(server, IsOk());
  const uint16_t port = (*server)->port();
  const std::string unsigned_payload(s3::kUnsignedPayload);
  {
    // 100 KB fits neither whole in 64 KiB nor as a streamed upload (40 MiB).
    RawConnection connection(port);
    connection.Send(
        SignedRequest(port, "PUT", "/photos/big", std::string(100000, 'x'), unsigned_payload));
    const std::string response = connection.ReadResponse();
    EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 503"));
    EXPECT_THAT(response, HasSubstr("<Code>SlowDown</Code>"));
    EXPECT_THAT(backing_->Head("photos/big"), StatusIs(StatusCode::kNotFound));
  }
  {
    RawConnection connection(port);
    connection.Send(
        SignedRequest(port, "PUT", "/photos/small", std::string(1000, 'x'), unsigned_payload));
    EXPECT_THAT(connection.ReadResponse(), ::testing::StartsWith("HTTP/1.1 200"));
  }
}

TEST_F(S3ServerTest, StoresThatStreamWritesNeedNoBodyMemory) {
  // Over the local store, streamed PUTs and parts go to their files as they arrive: a 64 KiB body
  // budget then still takes a 3 MiB part and a 2 MiB streamed PUT, which a memory store refuses.
  std::string pattern = (std::filesystem::temp_directory_path() / "depot-serve-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  auto local = object::LocalStore::Open(pattern, {.min_part_size = 1 << 20});
  ASSERT_THAT(local, IsOk());
  auto server = S3Server::Start(
      *local, {.port = 0, .credentials = {{"KEY", "SECRET"}}, .max_body_memory = 64 << 10});
  ASSERT_THAT(server, IsOk());
  server_ = std::move(*server);
  auto client = Client("photos");
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT((*client)->CreateBucket(), IsOk());
  auto id = (*client)->CreateMultipart("big", {});
  ASSERT_THAT(id, IsOk());
  const std::string p1 = RandomBytes(3 << 20, 60);
  auto r1 = (*client)->PutPart("big", *id, 1, Bytes::Copy(p1));
  ASSERT_THAT(r1, IsOk());
  auto r2 = (*client)->PutPart("big", *id, 2, Bytes::FromString("end"));
  ASSERT_THAT(r2, IsOk());
  std::vector<object::PartInfo> parts = {*r1, *r2};
  ASSERT_THAT((*client)->CompleteMultipart("big", *id, parts), IsOk());
  auto got = (*local)->Get("photos/big", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->data.view() == p1 + "end");
  // A PUT whose declared length does not fit the budget streams through the writer.
  const std::string whole = RandomBytes(2 << 20, 61);
  ASSERT_THAT((*client)->Put("whole", Bytes::Copy(whole), {}), IsOk());
  got = (*local)->Get("photos/whole", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->data.view() == whole);
  server_.reset();
  std::filesystem::remove_all(pattern);
}

TEST_F(S3ServerTest, IdleAndExcessConnectionsAreClosed) {
  auto server = S3Server::Start(backing_, {.port = 0,
                                           .credentials = {{"KEY", "SECRET"}},
                                           .max_connections = 2,
                                           .idle_timeout = std::chrono::seconds(1)});
  ASSERT_THAT(server, IsOk());
  const uint16_t port = (*server)->port();
  {
    // Idle past the timeout: closed.
    RawConnection idle(port);
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    EXPECT_TRUE(idle.ClosedByServer());
  }
  // Two idle connections fill the cap; a third makes the server close the longest idle.
  auto first = std::make_unique<RawConnection>(port);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto second = std::make_unique<RawConnection>(port);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  RawConnection third(port);
  EXPECT_TRUE(first->ClosedByServer());
  third.Send(
      SignedRequest(port, "GET", "/photos/missing", "", std::string(s3::kEmptyPayloadSha256)));
  EXPECT_THAT(third.ReadResponse(), ::testing::StartsWith("HTTP/1.1 404"));
  // Two busy connections (each stuck in a request whose body never comes): the next gets 503.
  second->Send("PUT /photos/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
  third.Send("PUT /photos/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  RawConnection fourth(port);
  const std::string refused = fourth.ReadUntilClosed();
  EXPECT_THAT(refused, ::testing::StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(refused, HasSubstr("<Code>SlowDown</Code>"));
}

}  // namespace
}  // namespace depot::server
