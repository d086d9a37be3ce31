// Users kept apart in depot serve: three users (the owner of a bucket, another user, an admin)
// and anonymous requests try every operation the server serves on the owner's bucket; each is
// refused or allowed, and a refused request changes nothing in the store.
#include "depot/server/access.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/s3/s3_store.h"
#include "depot/s3/signer.h"
#include "depot/server/operations.h"
#include "depot/server/s3_server.h"
#include "depot/server/testing/raw_client.h"

namespace depot::server {
namespace {

using ::depot::server::testing::Md5Base64;
using ::depot::server::testing::PresignedTarget;
using ::depot::server::testing::RawConnection;
using ::depot::server::testing::SignedRequest;
using ::depot::server::testing::Signer;
using ::depot::server::testing::StatusOf;
using ::depot::server::testing::StoreSnapshot;
using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

const Signer kOwner{"OWNERKEY", "owner-secret"};
const Signer kOther{"OTHERKEY", "other-secret"};
const Signer kAdmin{"ADMINKEY", "admin-secret"};

// One request of the sweep. Query values and the body may hold "{upload}" and "{etag}": the id
// of the upload the setup started on "owned/up", and its part 1's ETag.
struct Operation {
  std::string name;
  std::string method;
  std::string path;
  std::vector<s3::Header> query;
  std::vector<s3::Header> headers;
  std::string body;
  int allowed_status;  // what the owner and the admin get
};

class AccessTest : public ::testing::Test {
 protected:
  // A fresh store: bucket "owned" (kOwner) holding "k" and an upload on "up" with part 1;
  // bucket "theirs" (kOther); bucket "legacy" made before owners were recorded.
  void SetUp() override {
    backing_ = std::make_shared<object::MemoryStore>();
    object::PutOptions owned;
    owned.user_metadata["owner"] = kOwner.access_key;
    ASSERT_THAT(backing_->Put(BucketMarker("owned"), Bytes(), owned), IsOk());
    object::PutOptions theirs;
    theirs.user_metadata["owner"] = kOther.access_key;
    ASSERT_THAT(backing_->Put(BucketMarker("theirs"), Bytes(), theirs), IsOk());
    ASSERT_THAT(backing_->Put(BucketMarker("legacy"), Bytes(), {}), IsOk());
    ASSERT_THAT(backing_->Put("owned/k", Bytes::FromString("owner's data"), {}), IsOk());
    ASSERT_THAT(backing_->Put("legacy/old", Bytes::FromString("old data"), {}), IsOk());
    auto upload = backing_->CreateMultipart("owned/up", {});
    ASSERT_THAT(upload, IsOk());
    upload_ = *upload;
    auto part = backing_->PutPart("owned/up", upload_, 1, Bytes::FromString("part one"));
    ASSERT_THAT(part, IsOk());
    part_etag_ = part->etag;
    StartServer("us-east-1");
  }

  void StartServer(std::string region) {
    server_.reset();
    S3ServerOptions options{.port = 0, .region = std::move(region)};
    for (const Signer* user : {&kOwner, &kOther, &kAdmin}) {
      options.credentials[user->access_key] = user->secret_key;
    }
    options.admins = {kAdmin.access_key};
    options.sse_master_key = std::string(32, 'k');
    auto server = S3Server::Start(backing_, options);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
  }

  // A fresh store and server, as SetUp made them.
  void Restart() {
    server_.reset();
    SetUp();
  }

  // Every key with its ETag, every upload with its parts: what a refused request must not change.
  std::vector<std::string> Snapshot() { return StoreSnapshot(*backing_); }

  std::string Substitute(std::string text) const {
    for (const auto& [name, value] : {std::pair{"{upload}", upload_}, {"{etag}", part_etag_}}) {
      for (size_t at; (at = text.find(name)) != std::string::npos;) {
        text.replace(at, std::string_view(name).size(), value);
      }
    }
    return text;
  }

  // The raw response to `op` signed by `signer`, or sent unsigned when `signer` is null.
  std::string Send(const Operation& op, const Signer* signer) {
    std::vector<s3::Header> query;
    for (const auto& [name, value] : op.query) query.push_back({name, Substitute(value)});
    std::vector<s3::Header> headers = op.headers;
    std::string body = Substitute(op.body);
    if (!body.empty()) headers.push_back({"content-md5", Md5Base64(body)});
    std::string request;
    if (signer != nullptr) {
      request = SignedRequest(server_->port(), op.method, op.path, body, s3::Sha256Hex(body),
                              headers, query, *signer);
    } else {
      std::string target = op.path;
      for (size_t i = 0; i < query.size(); ++i) {
        target += (i == 0 ? "?" : "&") + query[i].first +
                  (query[i].second.empty() ? "" : "=" + query[i].second);
      }
      request = fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n",
                            op.method, target, server_->port(), body.size());
      for (const auto& [name, value] : headers) request += fmt::format("{}: {}\r\n", name, value);
      request += "\r\n" + body;
    }
    RawConnection connection(server_->port());
    EXPECT_TRUE(connection.connected());
    connection.Send(request);
    return connection.ReadResponse(op.method == "HEAD");
  }

  std::string upload_;
  std::string part_etag_;
  std::shared_ptr<object::MemoryStore> backing_;
  std::unique_ptr<S3Server> server_;
};

// Every operation depot serve answers on a bucket and its objects.
std::vector<Operation> Operations() {
  const std::string complete =
      "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
      "</CompleteMultipartUpload>";
  return {
      {"HeadBucket", "HEAD", "/owned", {}, {}, "", 200},
      {"GetBucketLocation", "GET", "/owned", {{"location", ""}}, {}, "", 200},
      {"GetBucketVersioning", "GET", "/owned", {{"versioning", ""}}, {}, "", 200},
      {"ListObjectsV1", "GET", "/owned", {}, {}, "", 200},
      {"ListObjectsV2", "GET", "/owned", {{"list-type", "2"}}, {}, "", 200},
      {"ListMultipartUploads", "GET", "/owned", {{"uploads", ""}}, {}, "", 200},
      {"DeleteObjects",
       "POST",
       "/owned",
       {{"delete", ""}},
       {},
       "<Delete><Object><Key>k</Key></Object></Delete>",
       200},
      {"DeleteBucket (not empty)", "DELETE", "/owned", {}, {}, "", 409},
      {"PutObject", "PUT", "/owned/new", {}, {}, "new data", 200},
      {"PutObject over", "PUT", "/owned/k", {}, {}, "new data", 200},
      {"GetObject", "GET", "/owned/k", {}, {}, "", 200},
      {"GetObject ranged", "GET", "/owned/k", {}, {{"range", "bytes=0-3"}}, "", 206},
      {"HeadObject", "HEAD", "/owned/k", {}, {}, "", 200},
      {"GetObjectTagging", "GET", "/owned/k", {{"tagging", ""}}, {}, "", 200},
      {"DeleteObject", "DELETE", "/owned/k", {}, {}, "", 204},
      {"CopyObject within", "PUT", "/owned/copy", {}, {{"x-amz-copy-source", "/owned/k"}}, "", 200},
      {"CreateMultipartUpload", "POST", "/owned/m", {{"uploads", ""}}, {}, "", 200},
      {"UploadPart",
       "PUT",
       "/owned/up",
       {{"partNumber", "2"}, {"uploadId", "{upload}"}},
       {},
       "part two",
       200},
      {"UploadPartCopy",
       "PUT",
       "/owned/up",
       {{"partNumber", "2"}, {"uploadId", "{upload}"}},
       {{"x-amz-copy-source", "/owned/k"}},
       "",
       200},
      {"ListParts", "GET", "/owned/up", {{"uploadId", "{upload}"}}, {}, "", 200},
      {"CompleteMultipartUpload",
       "POST",
       "/owned/up",
       {{"uploadId", "{upload}"}},
       {},
       complete,
       200},
      {"AbortMultipartUpload", "DELETE", "/owned/up", {{"uploadId", "{upload}"}}, {}, "", 204},
      {"GetBucketAcl", "GET", "/owned", {{"acl", ""}}, {}, "", 200},
      {"PutBucketAcl", "PUT", "/owned", {{"acl", ""}}, {{"x-amz-acl", "private"}}, "", 200},
      {"GetObjectAcl", "GET", "/owned/k", {{"acl", ""}}, {}, "", 200},
      {"PutObjectAcl", "PUT", "/owned/k", {{"acl", ""}}, {{"x-amz-acl", "private"}}, "", 200},
      {"PutBucketVersioning",
       "PUT",
       "/owned",
       {{"versioning", ""}},
       {},
       "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
       200},
      {"GetBucketLifecycleConfiguration", "GET", "/owned", {{"lifecycle", ""}}, {}, "", 404},
      {"PutBucketLifecycleConfiguration",
       "PUT",
       "/owned",
       {{"lifecycle", ""}},
       {},
       "<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration>"
       "<Days>1</Days></Expiration></Rule></LifecycleConfiguration>",
       200},
      {"DeleteBucketLifecycle", "DELETE", "/owned", {{"lifecycle", ""}}, {}, "", 204},
      {"GetBucketEncryption", "GET", "/owned", {{"encryption", ""}}, {}, "", 404},
      {"PutBucketEncryption",
       "PUT",
       "/owned",
       {{"encryption", ""}},
       {},
       "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
       "<SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
       "</ServerSideEncryptionConfiguration>",
       200},
      {"DeleteBucketEncryption", "DELETE", "/owned", {{"encryption", ""}}, {}, "", 204},
      {"PutObject SSE-S3",
       "PUT",
       "/owned/sealed",
       {},
       {{"x-amz-server-side-encryption", "AES256"}},
       "secret",
       200},
      {"GetBucketOwnershipControls", "GET", "/owned", {{"ownershipControls", ""}}, {}, "", 404},
      {"PutBucketOwnershipControls",
       "PUT",
       "/owned",
       {{"ownershipControls", ""}},
       {},
       "<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>"
       "</OwnershipControls>",
       200},
  };
}

TEST_F(AccessTest, EveryOperationIsTheOwnersAndTheAdminsAlone) {
  for (const Operation& op : Operations()) {
    SCOPED_TRACE(op.name);
    const std::vector<std::string> before = Snapshot();
    const std::string denied = Send(op, &kOther);
    EXPECT_EQ(StatusOf(denied), 403) << denied;
    if (op.method != "HEAD") {
      EXPECT_THAT(denied, HasSubstr("<Code>AccessDenied</Code>"));
    }
    const std::string anonymous = Send(op, nullptr);
    EXPECT_EQ(StatusOf(anonymous), 403) << anonymous;
    EXPECT_EQ(Snapshot(), before) << "a refused request changed the store";
    // A wrong x-amz-expected-bucket-owner is refused even for the owner.
    Operation expecting = op;
    expecting.headers.push_back({"x-amz-expected-bucket-owner", kOther.access_key});
    const std::string mismatch = Send(expecting, &kOwner);
    EXPECT_EQ(StatusOf(mismatch), 403) << mismatch;
    EXPECT_EQ(Snapshot(), before) << "a refused request changed the store";

    // The admin, then (on a fresh store) the owner with the right expected owner, may.
    const std::string admin = Send(op, &kAdmin);
    EXPECT_EQ(StatusOf(admin), op.allowed_status) << admin;
    Restart();
    expecting = op;
    expecting.headers.push_back({"x-amz-expected-bucket-owner", kOwner.access_key});
    const std::string owner = Send(expecting, &kOwner);
    EXPECT_EQ(StatusOf(owner), op.allowed_status) << owner;
    Restart();
  }
}

// ACLs open exactly what they grant, to the users and groups they name, and nothing else.
TEST_F(AccessTest, AclsOpenWhatTheyGrantAndNothingElse) {
  const auto send = [&](const Signer* signer, std::string method, std::string path,
                        std::vector<s3::Header> query = {}, std::vector<s3::Header> headers = {},
                        std::string body = "") {
    return StatusOf(Send({"", std::move(method), std::move(path), std::move(query),
                          std::move(headers), std::move(body), 0},
                         signer));
  };
  // A public-read bucket: anyone lists it; its objects stay private until they say otherwise.
  ASSERT_EQ(send(&kOwner, "PUT", "/owned", {{"acl", ""}}, {{"x-amz-acl", "public-read"}}), 200);
  EXPECT_EQ(send(nullptr, "GET", "/owned"), 200);
  EXPECT_EQ(send(&kOther, "GET", "/owned", {{"list-type", "2"}}), 200);
  EXPECT_EQ(send(nullptr, "GET", "/owned/k"), 403);
  EXPECT_EQ(send(nullptr, "PUT", "/owned/anon", {}, {}, "x"), 403);
  EXPECT_EQ(send(nullptr, "GET", "/owned", {{"acl", ""}}), 403);
  EXPECT_EQ(send(&kOther, "DELETE", "/owned/k"), 403);
  ASSERT_EQ(send(&kOwner, "PUT", "/owned/pub", {}, {{"x-amz-acl", "public-read"}}, "public"), 200);
  EXPECT_EQ(send(nullptr, "GET", "/owned/pub"), 200);
  EXPECT_EQ(send(nullptr, "HEAD", "/owned/pub"), 200);
  EXPECT_EQ(send(nullptr, "GET", "/owned/pub", {{"acl", ""}}), 403);
  EXPECT_EQ(send(nullptr, "PUT", "/owned/pub", {{"acl", ""}}, {{"x-amz-acl", "private"}}), 403);
  // authenticated-read: any user with credentials, never anonymous.
  ASSERT_EQ(send(&kOwner, "PUT", "/owned/k", {{"acl", ""}}, {{"x-amz-acl", "authenticated-read"}}),
            200);
  EXPECT_EQ(send(&kOther, "GET", "/owned/k"), 200);
  EXPECT_EQ(send(nullptr, "GET", "/owned/k"), 403);
  // A grant to one user by id: WRITE on the bucket lets it write, and what it writes is its own.
  ASSERT_EQ(send(&kOwner, "PUT", "/owned", {{"acl", ""}},
                 {{"x-amz-grant-write", "id=\"" + kOther.access_key + "\""},
                  {"x-amz-grant-full-control", "id=" + kOwner.access_key}}),
            200);
  EXPECT_EQ(send(nullptr, "GET", "/owned"), 403);  // no longer public
  EXPECT_EQ(send(&kOther, "GET", "/owned"), 403);  // WRITE is not READ
  EXPECT_EQ(send(&kOther, "PUT", "/owned/theirs", {}, {}, "other's"), 200);
  const std::string acl = Send({"", "GET", "/owned/theirs", {{"acl", ""}}, {}, "", 0}, &kOther);
  EXPECT_EQ(StatusOf(acl), 200) << acl;
  EXPECT_THAT(acl, HasSubstr("<Owner><ID>" + kOther.access_key + "</ID>"));
  EXPECT_EQ(send(&kOwner, "GET", "/owned/theirs"), 200);  // the bucket's owner reads all of it
  // Bad ACLs are refused by name, and change nothing.
  const std::vector<std::string> before = Snapshot();
  const auto refusal = [&](std::vector<s3::Header> headers, std::string body = "") {
    return Send({"", "PUT", "/owned", {{"acl", ""}}, std::move(headers), std::move(body), 0},
                &kOwner);
  };
  EXPECT_THAT(refusal({{"x-amz-grant-read", "id=nobody"}}),
              AllOf(HasSubstr("<Code>InvalidArgument</Code>"), HasSubstr("nobody")));
  EXPECT_THAT(refusal({{"x-amz-grant-read", "emailAddress=a@b.c"}}),
              HasSubstr("<Code>UnresolvableGrantByEmailAddress</Code>"));
  EXPECT_THAT(refusal({{"x-amz-acl", "everyone-everything"}}),
              AllOf(HasSubstr("<Code>InvalidArgument</Code>"), HasSubstr("everyone-everything")));
  EXPECT_THAT(refusal({{"x-amz-acl", "private"}, {"x-amz-grant-read", "id=OTHERKEY"}}),
              HasSubstr("<Code>InvalidRequest</Code>"));
  EXPECT_THAT(refusal({}, "<AccessControlPolicy><Owner>"),
              HasSubstr("<Code>MalformedACLError</Code>"));
  EXPECT_EQ(Snapshot(), before);
  // Object ownership BucketOwnerEnforced disables ACLs: grants stop counting, and new ones are
  // refused.
  ASSERT_EQ(send(&kOwner, "PUT", "/owned", {{"acl", ""}}, {{"x-amz-acl", "private"}}), 200);
  ASSERT_EQ(send(&kOwner, "PUT", "/owned", {{"ownershipControls", ""}}, {},
                 "<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership>"
                 "</Rule></OwnershipControls>"),
            200);
  EXPECT_EQ(send(nullptr, "GET", "/owned/pub"), 403);
  const std::string enforced =
      Send({"", "PUT", "/owned/x", {}, {{"x-amz-acl", "public-read"}}, "x", 0}, &kOwner);
  EXPECT_THAT(enforced, HasSubstr("<Code>AccessControlListNotSupported</Code>"));
}

// A bucket policy grants what its Allow statements name, its Deny statements bind even the owner,
// and the public access block holds public ACLs and policies back.
TEST_F(AccessTest, BucketPoliciesAndThePublicAccessBlock) {
  const auto call = [&](const Signer* signer, std::string method, std::string path,
                        std::vector<s3::Header> query = {}, std::vector<s3::Header> headers = {},
                        std::string body = "") {
    return Send({"", std::move(method), std::move(path), std::move(query), std::move(headers),
                 std::move(body), 0},
                signer);
  };
  const auto status = [&](auto&&... args) { return StatusOf(call(args...)); };
  ASSERT_EQ(status(&kOwner, "PUT", "/owned/public/a", std::vector<s3::Header>{},
                   std::vector<s3::Header>{}, std::string("public")),
            200);
  EXPECT_EQ(status(&kOwner, "GET", "/owned", std::vector<s3::Header>{{"policy", ""}}), 404);
  const std::string policy = R"({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::owned/public/*"},
    {"Effect": "Allow", "Principal": {"AWS": "OTHERKEY"}, "Action": "s3:ListBucket",
     "Resource": "arn:aws:s3:::owned", "Condition": {"StringLike": {"s3:prefix": "public/*"}}},
    {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
     "Resource": "arn:aws:s3:::owned/public/*"}]})";
  ASSERT_EQ(status(&kOwner, "PUT", "/owned", std::vector<s3::Header>{{"policy", ""}},
                   std::vector<s3::Header>{}, policy),
            204);
  EXPECT_THAT(call(&kOwner, "GET", "/owned", {{"policy", ""}}), HasSubstr("owned/public/*"));
  EXPECT_EQ(status(nullptr, "GET", "/owned/public/a"), 200);
  EXPECT_EQ(status(nullptr, "GET", "/owned/k"), 403);
  EXPECT_EQ(status(nullptr, "PUT", "/owned/public/b", std::vector<s3::Header>{},
                   std::vector<s3::Header>{}, std::string("x")),
            403);
  // A missing key is 404 only to whom may list it.
  EXPECT_EQ(status(&kOther, "HEAD", "/owned/public/none"), 404);
  EXPECT_EQ(status(nullptr, "HEAD", "/owned/public/none"), 403);
  EXPECT_EQ(status(&kOther, "GET", "/owned", std::vector<s3::Header>{{"prefix", "public/"}}), 200);
  EXPECT_EQ(status(&kOther, "GET", "/owned", std::vector<s3::Header>{{"prefix", "private/"}}), 403);
  // The Deny binds the owner too, but not the admins, nor the owner's hold on the policy.
  EXPECT_EQ(status(&kOwner, "DELETE", "/owned/public/a"), 403);
  EXPECT_EQ(status(&kOwner, "GET", "/owned", std::vector<s3::Header>{{"policyStatus", ""}}), 200);
  EXPECT_THAT(call(&kOwner, "GET", "/owned", {{"policyStatus", ""}}),
              HasSubstr("<IsPublic>true</IsPublic>"));
  // Bad policies are refused by name and change nothing.
  const std::vector<std::string> before = Snapshot();
  EXPECT_THAT(call(&kOwner, "PUT", "/owned", {{"policy", ""}}, {},
                   R"({"Statement": {"Effect": "Allow", "NotPrincipal": "*"}})"),
              AllOf(HasSubstr("<Code>MalformedPolicy</Code>"), HasSubstr("NotPrincipal")));
  EXPECT_THAT(call(&kOther, "PUT", "/owned", {{"policy", ""}}, {}, policy),
              HasSubstr("<Code>AccessDenied</Code>"));
  EXPECT_EQ(Snapshot(), before);
  // The public access block.
  const std::string block =
      "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>"
      "true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>"
      "true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
  ASSERT_EQ(status(&kOwner, "PUT", "/owned", std::vector<s3::Header>{{"publicAccessBlock", ""}},
                   std::vector<s3::Header>{}, block),
            200);
  EXPECT_THAT(call(&kOwner, "GET", "/owned", {{"publicAccessBlock", ""}}),
              HasSubstr("<RestrictPublicBuckets>true</RestrictPublicBuckets>"));
  EXPECT_EQ(status(nullptr, "GET", "/owned/public/a"), 403);  // a public policy, restricted
  EXPECT_EQ(status(&kOther, "GET", "/owned", std::vector<s3::Header>{{"prefix", "public/"}}),
            200);  // a grant to a named user is not public
  EXPECT_EQ(status(&kOwner, "PUT", "/owned", std::vector<s3::Header>{{"policy", ""}},
                   std::vector<s3::Header>{}, policy),
            403);
  EXPECT_EQ(status(&kOwner, "PUT", "/owned/k", std::vector<s3::Header>{{"acl", ""}},
                   std::vector<s3::Header>{{"x-amz-acl", "public-read"}}),
            403);
  ASSERT_EQ(status(&kOwner, "DELETE", "/owned", std::vector<s3::Header>{{"publicAccessBlock", ""}}),
            204);
  ASSERT_EQ(status(&kOwner, "DELETE", "/owned", std::vector<s3::Header>{{"policy", ""}}), 204);
  EXPECT_EQ(status(nullptr, "GET", "/owned/public/a"), 403);
  EXPECT_EQ(status(&kOwner, "DELETE", "/owned/public/a"), 204);
}

// What a review found open, kept shut: a policy's Allow never hands over the owner's own
// operations, DeleteObjects is judged key by key, subresources tell no stranger whether a key
// exists, and a policy of the wrong types is refused, not a dropped connection.
TEST_F(AccessTest, PoliciesNeverOpenTheOwnersOperationsNorTellWhatExists) {
  const auto call = [&](const Signer* signer, std::string method, std::string path,
                        std::vector<s3::Header> query = {}, std::string body = "") {
    return Send({"", std::move(method), std::move(path), std::move(query), {}, std::move(body), 0},
                signer);
  };
  const std::string everything = R"({"Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::owned", "arn:aws:s3:::owned/*"]},
    {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
     "Resource": "arn:aws:s3:::owned/keep*"}]})";
  ASSERT_EQ(StatusOf(call(&kOwner, "PUT", "/owned", {{"policy", ""}}, everything)), 204);
  EXPECT_EQ(StatusOf(call(nullptr, "PUT", "/owned", {{"policy", ""}}, "{}")), 403);
  EXPECT_EQ(StatusOf(call(nullptr, "DELETE", "/owned", {{"policy", ""}})), 403);
  EXPECT_EQ(StatusOf(call(nullptr, "DELETE", "/owned")), 403);
  EXPECT_EQ(StatusOf(call(nullptr, "GET", "/owned/k")), 200);  // what it does allow
  ASSERT_EQ(StatusOf(call(&kOwner, "PUT", "/owned/keep-me", {}, "kept")), 200);
  const std::string batch = "<Delete><Object><Key>keep-me</Key></Object></Delete>";
  EXPECT_THAT(call(&kOwner, "POST", "/owned", {{"delete", ""}}, batch),
              HasSubstr("<Code>AccessDenied</Code>"));
  EXPECT_EQ(StatusOf(call(&kOwner, "GET", "/owned/keep-me")), 200);
  ASSERT_EQ(StatusOf(call(&kOwner, "DELETE", "/owned", {{"policy", ""}})), 204);
  // Without the policy a stranger learns nothing: a missing key is as forbidden as a present one.
  for (const char* subresource : {"acl", "tagging"}) {
    SCOPED_TRACE(subresource);
    EXPECT_EQ(StatusOf(call(nullptr, "GET", "/owned/k", {{subresource, ""}})), 403);
    EXPECT_EQ(StatusOf(call(nullptr, "GET", "/owned/missing", {{subresource, ""}})), 403);
    EXPECT_EQ(StatusOf(call(&kOther, "GET", "/owned/missing", {{subresource, ""}})), 403);
  }
  EXPECT_EQ(StatusOf(call(&kOwner, "GET", "/owned/missing", {{"acl", ""}})), 404);
  EXPECT_THAT(call(&kOwner, "PUT", "/owned", {{"policy", ""}},
                   R"({"Statement": {"Effect": 1, "Principal": "*", "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::owned/*"}})"),
              HasSubstr("<Code>MalformedPolicy</Code>"));
  EXPECT_THAT(call(&kOwner, "PUT", "/owned", {{"policy", ""}},
                   R"({"Statement": {"Effect": "Allow", "Principal": {"AWS": 7},
                       "Action": "s3:GetObject", "Resource": "arn:aws:s3:::owned/*"}})"),
              HasSubstr("<Code>MalformedPolicy</Code>"));
}

TEST_F(AccessTest, CopiesNeedTheSourceBucketToo) {
  // kOther may write into "theirs" but may not read "owned": CopyObject and UploadPartCopy out of
  // the owner's bucket are refused, and nothing is stored.
  const std::vector<std::string> before = Snapshot();
  const Operation copy{
      "CopyObject out", "PUT", "/theirs/stolen", {}, {{"x-amz-copy-source", "/owned/k"}}, "", 0};
  std::string answer = Send(copy, &kOther);
  EXPECT_EQ(StatusOf(answer), 403) << answer;
  auto upload = backing_->CreateMultipart("theirs/stolen", {});
  ASSERT_THAT(upload, IsOk());
  const std::vector<std::string> with_upload = Snapshot();
  const Operation part_copy{"UploadPartCopy out",
                            "PUT",
                            "/theirs/stolen",
                            {{"partNumber", "1"}, {"uploadId", *upload}},
                            {{"x-amz-copy-source", "/owned/k"}},
                            "",
                            0};
  answer = Send(part_copy, &kOther);
  EXPECT_EQ(StatusOf(answer), 403) << answer;
  EXPECT_EQ(Snapshot(), with_upload);
  ASSERT_THAT(backing_->AbortMultipart("theirs/stolen", *upload), IsOk());
  EXPECT_EQ(Snapshot(), before);
  // The owner may not copy into another user's bucket either; the admin may copy anywhere.
  const Operation into{"CopyObject into theirs",
                       "PUT",
                       "/theirs/gift",
                       {},
                       {{"x-amz-copy-source", "/owned/k"}},
                       "",
                       0};
  answer = Send(into, &kOwner);
  EXPECT_EQ(StatusOf(answer), 403) << answer;
  EXPECT_EQ(Snapshot(), before);
  answer = Send(into, &kAdmin);
  EXPECT_EQ(StatusOf(answer), 200) << answer;
  // x-amz-source-expected-bucket-owner is checked against the source's owner.
  Operation checked = copy;
  checked.path = "/owned/again";
  checked.headers.push_back({"x-amz-source-expected-bucket-owner", kOther.access_key});
  answer = Send(checked, &kOwner);
  EXPECT_EQ(StatusOf(answer), 403) << answer;
  checked.headers.back().second = kOwner.access_key;
  answer = Send(checked, &kOwner);
  EXPECT_EQ(StatusOf(answer), 200) << answer;
}

TEST_F(AccessTest, PresignedUrlsActAsTheUserWhoSignedThem) {
  for (const auto& [signer, status] :
       {std::pair{&kOther, 403}, std::pair{&kOwner, 200}, std::pair{&kAdmin, 200}}) {
    const std::string target = PresignedTarget(server_->port(), "GET", "/owned/k", *signer);
    ASSERT_FALSE(target.empty());
    RawConnection connection(server_->port());
    connection.Send(
        fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", target, server_->port()));
    const std::string answer = connection.ReadResponse();
    EXPECT_EQ(StatusOf(answer), status) << signer->access_key << ": " << answer;
  }
  const std::vector<std::string> before = Snapshot();
  const std::string put = PresignedTarget(server_->port(), "PUT", "/owned/k", kOther);
  RawConnection connection(server_->port());
  connection.Send(
      fmt::format("PUT {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 5\r\n\r\nowned", put,
                  server_->port()));
  EXPECT_EQ(StatusOf(connection.ReadResponse()), 403);
  EXPECT_EQ(Snapshot(), before);
}

// Buckets through depot's own client, signed as each user.
class AccessClientTest : public AccessTest {
 protected:
  std::shared_ptr<object::S3Store> Client(const Signer& user, std::string bucket) {
    object::S3StoreOptions options;
    options.bucket = std::move(bucket);
    options.endpoint = fmt::format("http://127.0.0.1:{}", server_->port());
    options.credentials.access_key_id = user.access_key;
    options.credentials.secret_access_key = user.secret_key;
    options.credentials.region = "us-east-1";
    options.retry.max_attempts = 1;
    auto store = object::S3Store::Open(options);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? std::move(*store) : nullptr;
  }
};

std::set<std::string> Names(const std::vector<s3::BucketInfo>& buckets) {
  std::set<std::string> out;
  for (const auto& bucket : buckets) out.insert(bucket.name);
  return out;
}

TEST_F(AccessClientTest, ListBucketsShowsEachUserItsOwn) {
  auto owner = Client(kOwner, "owned");
  auto other = Client(kOther, "theirs");
  auto admin = Client(kAdmin, "owned");
  auto mine = owner->ListBuckets();
  ASSERT_THAT(mine, IsOk());
  EXPECT_EQ(Names(*mine), (std::set<std::string>{"owned"}));
  auto theirs = other->ListBuckets();
  ASSERT_THAT(theirs, IsOk());
  EXPECT_EQ(Names(*theirs), (std::set<std::string>{"theirs"}));
  auto all = admin->ListBuckets();
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(Names(*all), (std::set<std::string>{"legacy", "owned", "theirs"}));
}

TEST_F(AccessClientTest, CreatingABucketRecordsItsOwner) {
  auto other = Client(kOther, "fresh");
  ASSERT_THAT(other->CreateBucket(), IsOk());
  auto marker = backing_->Head(BucketMarker("fresh"));
  ASSERT_THAT(marker, IsOk());
  EXPECT_EQ(marker->user_metadata.at("owner"), kOther.access_key);
  // Made again by its owner: 200 in us-east-1, as on S3. By anyone else: BucketAlreadyExists.
  EXPECT_THAT(other->CreateBucket(), IsOk());
  auto owner = Client(kOwner, "fresh");
  EXPECT_THAT(owner->CreateBucket(),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("BucketAlreadyExists")));
  auto admin = Client(kAdmin, "fresh");
  EXPECT_THAT(admin->CreateBucket(),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("BucketAlreadyExists")));
  EXPECT_EQ(backing_->Head(BucketMarker("fresh"))->user_metadata.at("owner"), kOther.access_key);
  // The owner's objects are the owner's; the empty bucket is the owner's to delete.
  ASSERT_THAT(other->Put("x", Bytes::FromString("x"), {}), IsOk());
  EXPECT_THAT(owner->Get("x", {}), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(owner->Delete("x"), StatusIs(StatusCode::kPermissionDenied));
  ASSERT_THAT(other->Delete("x"), IsOk());
  EXPECT_THAT(owner->DeleteBucket(), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(backing_->Head(BucketMarker("fresh")), IsOk());
  EXPECT_THAT(other->DeleteBucket(), IsOk());
  EXPECT_THAT(backing_->Head(BucketMarker("fresh")), StatusIs(StatusCode::kNotFound));
}

TEST_F(AccessClientTest, OutsideUsEast1MakingYourBucketAgainIsAConflict) {
  StartServer("eu-west-1");
  auto owner = Client(kOwner, "owned");
  EXPECT_THAT(owner->CreateBucket(),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("BucketAlreadyOwnedByYou")));
  auto other = Client(kOther, "owned");
  EXPECT_THAT(other->CreateBucket(),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("BucketAlreadyExists")));
}

TEST_F(AccessClientTest, BucketsFromBeforeOwnersBelongToTheAdmins) {
  auto admin = Client(kAdmin, "legacy");
  auto got = admin->Get("old", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.view(), "old data");
  EXPECT_THAT(admin->CreateBucket(), IsOk());  // the admins' own, made again
  for (const Signer* user : {&kOwner, &kOther}) {
    auto client = Client(*user, "legacy");
    EXPECT_THAT(client->Get("old", {}), StatusIs(StatusCode::kPermissionDenied));
    EXPECT_THAT(client->Put("old", Bytes::FromString("mine now"), {}),
                StatusIs(StatusCode::kPermissionDenied));
  }
  EXPECT_EQ(backing_->Get("legacy/old", {})->data.view(), "old data");
}

TEST_F(AccessTest, WritesAskAgainRightBeforeTheStore) {
  // A request authorized for kOwner on "owned"; meanwhile the bucket is deleted and made again by
  // kOther. The request's writes must not land in kOther's bucket.
  AccessControl access(*backing_, {kAdmin.access_key});
  AuthorizedStore store(*backing_, access, kOwner.access_key, "owned", Permission::kWrite, {});
  EXPECT_THAT(store.Put("owned/mine", Bytes::FromString("v"), {}), IsOk());
  ASSERT_THAT(backing_->Delete(BucketMarker("owned")), IsOk());
  EXPECT_THAT(store.Put("owned/late", Bytes::FromString("v"), {}),
              StatusIs(StatusCode::kNotFound, HasSubstr("NoSuchBucket")));
  object::PutOptions theirs;
  theirs.user_metadata["owner"] = kOther.access_key;
  ASSERT_THAT(backing_->Put(BucketMarker("owned"), Bytes(), theirs), IsOk());
  EXPECT_THAT(store.Put("owned/late", Bytes::FromString("v"), {}),
              StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(store.Delete("owned/k"), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(store.CompleteMultipart("owned/up", upload_, {}),
              StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(store.PutPart("owned/up", upload_, 2, Bytes::FromString("x")),
              StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(backing_->Head("owned/late"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(backing_->Head("owned/k"), IsOk());
}

TEST_F(AccessClientTest, KeysLeftInTheStoreAndUploadsInProgress) {
  // Keys under a name with no bucket (a write that raced the bucket's deletion): nobody may make
  // the bucket and read them.
  ASSERT_THAT(backing_->Put("orphan/secret", Bytes::FromString("left behind"), {}), IsOk());
  auto other = Client(kOther, "orphan");
  EXPECT_THAT(other->CreateBucket(),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("OperationAborted")));
  EXPECT_THAT(backing_->Head(BucketMarker("orphan")), StatusIs(StatusCode::kNotFound));
  // A bucket with an object is not deleted, and stays its owner's; one that holds nothing but an
  // upload in progress is, the upload aborted (as S3 does).
  auto owner = Client(kOwner, "owned");
  EXPECT_THAT(owner->DeleteBucket(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("BucketNotEmpty")));
  EXPECT_EQ(backing_->Head(BucketMarker("owned"))->user_metadata.at("owner"), kOwner.access_key);
  ASSERT_FALSE(backing_->ListMultipartUploads("owned/")->empty());
  ASSERT_THAT(owner->Delete("k"), IsOk());
  EXPECT_THAT(owner->DeleteBucket(), IsOk());
  EXPECT_TRUE(backing_->ListMultipartUploads("owned/")->empty());
  EXPECT_THAT(backing_->Head(BucketMarker("owned")), StatusIs(StatusCode::kNotFound));
}

TEST_F(AccessClientTest, AMissingBucketIsNoSuchBucketForEveryone) {
  auto other = Client(kOther, "nowhere");
  EXPECT_THAT(other->Get("k", {}), StatusIs(StatusCode::kNotFound, HasSubstr("NoSuchBucket")));
  EXPECT_THAT(other->Put("k", Bytes::FromString("v"), {}),
              StatusIs(StatusCode::kNotFound, HasSubstr("NoSuchBucket")));
  EXPECT_THAT(backing_->Head("nowhere/k"), StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace depot::server
