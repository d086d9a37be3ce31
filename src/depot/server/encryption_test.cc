// Server-side encryption through depot serve (encryption.h) over a local store: SSE-C and SSE-S3
// objects read back equal, whole and by range, their bytes on disk hold no plaintext, and every
// request S3 refuses is refused without changing what is stored.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "depot/core/base64.h"
#include "depot/core/md5.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/object/local/local_store.h"
#include "depot/s3/signer.h"
#include "depot/server/s3_server.h"
#include "depot/server/testing/raw_client.h"

namespace depot::server {
namespace {

using ::depot::server::testing::BodyOf;
using ::depot::server::testing::HeaderOf;
using ::depot::server::testing::RawConnection;
using ::depot::server::testing::SignedRequest;
using ::depot::server::testing::StatusOf;
using ::depot::server::testing::StoreSnapshot;
using ::depot::testing::IsOk;
using ::testing::HasSubstr;

// The SSE-C headers of a 32-byte key made of `c`.
std::vector<s3::Header> CustomerKey(char c) {
  const std::string key(32, c);
  Md5 md5;
  md5.Update(key);
  const auto digest = md5.Finish();
  return {{"x-amz-server-side-encryption-customer-algorithm", "AES256"},
          {"x-amz-server-side-encryption-customer-key", Base64Encode(key)},
          {"x-amz-server-side-encryption-customer-key-MD5",
           Base64Encode(std::string_view(reinterpret_cast<const char*>(digest.data()), 16))}};
}

// The upload id of a CreateMultipartUpload's answer.
std::string UploadIdOf(const std::string& response) {
  std::smatch match;
  return std::regex_search(response, match, std::regex("<UploadId>([^<]*)</UploadId>"))
             ? match[1].str()
             : "";
}

class EncryptionTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(true, true); }
  void Start(bool master_key, bool sse_c_over_http) {
    server_.reset();
    auto local = object::LocalStore::Open(dir_.path() / "store");
    ASSERT_THAT(local, IsOk());
    backing_ = std::move(*local);
    S3ServerOptions options{.port = 0, .credentials = {{"KEY", "SECRET"}}};
    if (master_key) options.sse_master_key = std::string(32, 'm');
    options.allow_sse_c_over_http = sse_c_over_http;
    auto server = S3Server::Start(backing_, options);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    Call("PUT", "/bkt");
  }
  std::string Call(const std::string& method, const std::string& path,
                   std::vector<s3::Header> headers = {}, const std::string& body = "",
                   std::vector<s3::Header> query = {}) {
    RawConnection connection(server_->port());
    connection.Send(SignedRequest(server_->port(), method, path, body, s3::Sha256Hex(body),
                                  std::move(headers), std::move(query)));
    return connection.ReadResponse(method == "HEAD");
  }
  // Every byte of every file under the store's directory.
  std::string BytesOnDisk() {
    std::string all;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
      if (!entry.is_regular_file()) continue;
      std::ifstream file(entry.path(), std::ios::binary);
      std::stringstream bytes;
      bytes << file.rdbuf();
      all += bytes.str();
    }
    return all;
  }

  depot::testing::TempDir dir_;
  std::shared_ptr<object::ObjectStore> backing_;
  std::unique_ptr<S3Server> server_;
};

TEST_F(EncryptionTest, CustomerKeyObjectsReadBackWholeAndByRangeAndNeverLieOnDiskInTheClear) {
  std::string plain;
  for (int i = 0; plain.size() < 200000; ++i) plain += fmt::format("secret line {}\n", i);
  const auto key = CustomerKey('k');
  const std::string put = Call("PUT", "/bkt/doc", key, plain);
  ASSERT_EQ(StatusOf(put), 200) << put;
  EXPECT_EQ(HeaderOf(put, "x-amz-server-side-encryption-customer-algorithm"), "AES256");
  EXPECT_EQ(BytesOnDisk().find("secret line 1"), std::string::npos);

  const std::string got = Call("GET", "/bkt/doc", key);
  ASSERT_EQ(StatusOf(got), 200) << got;
  EXPECT_EQ(BodyOf(got), plain);
  EXPECT_EQ(HeaderOf(got, "Content-Length"), std::to_string(plain.size()));
  EXPECT_EQ(HeaderOf(got, "x-amz-server-side-encryption-customer-key-MD5"), key[2].second);
  // Ranges across chunk edges, and a suffix.
  auto with_range = [&](std::string range) {
    std::vector<s3::Header> headers = key;
    headers.emplace_back("Range", std::move(range));
    return Call("GET", "/bkt/doc", headers);
  };
  const std::string middle = with_range("bytes=65530-131080");
  EXPECT_EQ(StatusOf(middle), 206);
  EXPECT_EQ(BodyOf(middle), plain.substr(65530, 131080 - 65530 + 1));
  EXPECT_EQ(HeaderOf(middle, "Content-Range"), fmt::format("bytes 65530-131080/{}", plain.size()));
  EXPECT_EQ(BodyOf(with_range("bytes=-10")), plain.substr(plain.size() - 10));
  EXPECT_EQ(StatusOf(with_range(fmt::format("bytes={}-", plain.size()))), 416);
  const std::string head = Call("HEAD", "/bkt/doc", key);
  EXPECT_EQ(StatusOf(head), 200);
  EXPECT_EQ(HeaderOf(head, "Content-Length"), std::to_string(plain.size()));
  // Listings show the plaintext's size.
  EXPECT_THAT(BodyOf(Call("GET", "/bkt")), HasSubstr(fmt::format("<Size>{}</Size>", plain.size())));

  // Without the key, with another, or with a wrong MD5: refused, and nothing changes.
  const auto before = StoreSnapshot(*backing_);
  EXPECT_THAT(Call("GET", "/bkt/doc"), HasSubstr("<Code>InvalidRequest</Code>"));
  EXPECT_EQ(StatusOf(Call("HEAD", "/bkt/doc")), 400);
  EXPECT_THAT(Call("GET", "/bkt/doc", CustomerKey('x')), HasSubstr("<Code>InvalidArgument</Code>"));
  auto bad_md5 = key;
  bad_md5[2].second = "AAAAAAAAAAAAAAAAAAAAAA==";
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt/other", bad_md5, "x")), 400);
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt/other", {key[1], key[2]}, "x")), 400);  // no algorithm
  auto rc4 = key;
  rc4[0].second = "RC4";
  EXPECT_THAT(Call("PUT", "/bkt/other", rc4, "x"),
              HasSubstr("<Code>InvalidEncryptionAlgorithmError</Code>"));
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt/other", {{"x-amz-server-side-encryption", "aws:kms"}}, "x")),
            501);
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt/other",
                          {{"x-amz-server-side-encryption-aws-kms-key-id", "k1"}}, "x")),
            400);
  // A copy needs the source's key.
  EXPECT_THAT(Call("PUT", "/bkt/copy", {{"x-amz-copy-source", "/bkt/doc"}}),
              HasSubstr("<Code>InvalidRequest</Code>"));
  // Client metadata cannot pose as depot's record of encryption.
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt/other", {{"x-amz-meta-depot-sse", "s 00 -"}}, "x")), 400);
  EXPECT_EQ(StoreSnapshot(*backing_), before);

  // Copies: decrypted with the source's key, encrypted as the copy asks, or in the clear.
  std::vector<s3::Header> source = {{"x-amz-copy-source", "/bkt/doc"}};
  for (const auto& [name, value] : key) {
    source.emplace_back("x-amz-copy-source-" + name.substr(6), value);
  }
  std::vector<s3::Header> to_service = source;
  to_service.emplace_back("x-amz-server-side-encryption", "AES256");
  const std::string copied = Call("PUT", "/bkt/copy-s3", to_service);
  ASSERT_EQ(StatusOf(copied), 200) << copied;
  EXPECT_EQ(HeaderOf(copied, "x-amz-server-side-encryption"), "AES256");
  EXPECT_EQ(BodyOf(Call("GET", "/bkt/copy-s3")), plain);
  std::vector<s3::Header> to_other_key = source;
  for (const auto& header : CustomerKey('o')) to_other_key.push_back(header);
  ASSERT_EQ(StatusOf(Call("PUT", "/bkt/copy-c", to_other_key)), 200);
  EXPECT_EQ(BodyOf(Call("GET", "/bkt/copy-c", CustomerKey('o'))), plain);
  EXPECT_EQ(StatusOf(Call("GET", "/bkt/copy-c", key)), 400);
  ASSERT_EQ(StatusOf(Call("PUT", "/bkt/copy-clear", source)), 200);
  EXPECT_EQ(BodyOf(Call("GET", "/bkt/copy-clear")), plain);
  // UploadPartCopy of an encrypted source would store its ciphertext in a part: refused.
  const std::string upload = Call("POST", "/bkt/parts", {}, "", {{"uploads", ""}});
  ASSERT_FALSE(UploadIdOf(upload).empty()) << upload;
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt/parts", {{"x-amz-copy-source", "/bkt/copy-s3"}}, "",
                          {{"partNumber", "1"}, {"uploadId", UploadIdOf(upload)}})),
            501);
}

TEST_F(EncryptionTest, MultipartUploadsSealEachPartAndReadAcrossThem) {
  const auto key = CustomerKey('m');
  std::string first;
  for (int i = 0; first.size() < (5 << 20) + 100; ++i) first += fmt::format("part one {}\n", i);
  const std::string second = "the second and last part";
  const std::string upload_id = UploadIdOf(Call("POST", "/bkt/big", key, "", {{"uploads", ""}}));
  ASSERT_FALSE(upload_id.empty());
  // Parts need the upload's key.
  EXPECT_EQ(
      StatusOf(Call("PUT", "/bkt/big", {}, second, {{"partNumber", "2"}, {"uploadId", upload_id}})),
      400);
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt/big", CustomerKey('x'), second,
                          {{"partNumber", "2"}, {"uploadId", upload_id}})),
            400);
  std::vector<std::string> etags;
  const std::vector<std::pair<int, const std::string*>> parts = {{1, &first}, {2, &second}};
  for (const auto& [number, body] : parts) {
    const std::string part =
        Call("PUT", "/bkt/big", key, *body,
             {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}});
    ASSERT_EQ(StatusOf(part), 200) << part;
    etags.push_back(HeaderOf(part, "ETag"));
  }
  std::vector<s3::Header> part_copy = key;
  part_copy.emplace_back("x-amz-copy-source", "/bkt/doc");
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt/big", part_copy, "",
                          {{"partNumber", "3"}, {"uploadId", upload_id}})),
            501);
  const std::string complete = fmt::format(
      "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part><Part>"
      "<PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
      etags[0], etags[1]);
  const std::string done = Call("POST", "/bkt/big", key, complete, {{"uploadId", upload_id}});
  ASSERT_EQ(StatusOf(done), 200) << done;
  EXPECT_EQ(HeaderOf(done, "x-amz-server-side-encryption-customer-algorithm"), "AES256");
  EXPECT_EQ(BytesOnDisk().find("part one 1000\n"), std::string::npos);

  const std::string plain = first + second;
  EXPECT_EQ(BodyOf(Call("GET", "/bkt/big", key)), plain);
  std::vector<s3::Header> across = key;
  across.emplace_back("Range", fmt::format("bytes={}-{}", first.size() - 10, first.size() + 5));
  EXPECT_EQ(BodyOf(Call("GET", "/bkt/big", across)), plain.substr(first.size() - 10, 16));
  const std::string part_two = Call("GET", "/bkt/big", key, "", {{"partNumber", "2"}});
  EXPECT_EQ(BodyOf(part_two), second);
  EXPECT_EQ(HeaderOf(part_two, "x-amz-mp-parts-count"), "2");
  EXPECT_EQ(HeaderOf(Call("HEAD", "/bkt/big", key), "Content-Length"),
            std::to_string(plain.size()));
  EXPECT_THAT(BodyOf(Call("GET", "/bkt")), HasSubstr(fmt::format("<Size>{}</Size>", plain.size())));
  EXPECT_EQ(StatusOf(Call("GET", "/bkt/big")), 400);
}

TEST_F(EncryptionTest, ServiceKeysByHeaderAndByTheBucketsDefault) {
  const std::string plain = "service-encrypted payload " + std::string(70000, 'p');
  const std::string put =
      Call("PUT", "/bkt/asked", {{"x-amz-server-side-encryption", "AES256"}}, plain);
  ASSERT_EQ(StatusOf(put), 200) << put;
  EXPECT_EQ(HeaderOf(put, "x-amz-server-side-encryption"), "AES256");
  const std::string got = Call("GET", "/bkt/asked");
  EXPECT_EQ(BodyOf(got), plain);
  EXPECT_EQ(HeaderOf(got, "x-amz-server-side-encryption"), "AES256");
  // A read naming a customer key for it is refused.
  EXPECT_EQ(StatusOf(Call("GET", "/bkt/asked", CustomerKey('k'))), 400);

  // The bucket's default encryption.
  EXPECT_THAT(Call("GET", "/bkt", {}, "", {{"encryption", ""}}),
              HasSubstr("ServerSideEncryptionConfigurationNotFoundError"));
  const std::string config =
      "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
      "<SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
      "</ServerSideEncryptionConfiguration>";
  ASSERT_EQ(StatusOf(Call("PUT", "/bkt", {}, config, {{"encryption", ""}})), 200);
  EXPECT_THAT(Call("GET", "/bkt", {}, "", {{"encryption", ""}}),
              HasSubstr("<SSEAlgorithm>AES256</SSEAlgorithm>"));
  const std::string by_default = Call("PUT", "/bkt/default", {}, plain);
  EXPECT_EQ(HeaderOf(by_default, "x-amz-server-side-encryption"), "AES256");
  EXPECT_EQ(BodyOf(Call("GET", "/bkt/default")), plain);
  EXPECT_EQ(BytesOnDisk().find("service-encrypted payload"), std::string::npos);
  // Multipart uploads into it are encrypted too.
  EXPECT_EQ(HeaderOf(Call("POST", "/bkt/parts", {}, "", {{"uploads", ""}}),
                     "x-amz-server-side-encryption"),
            "AES256");
  EXPECT_EQ(StatusOf(Call("DELETE", "/bkt", {}, "", {{"encryption", ""}})), 204);
  EXPECT_EQ(StatusOf(Call("GET", "/bkt", {}, "", {{"encryption", ""}})), 404);
  // Unencrypted objects still read as they are beside encrypted ones.
  ASSERT_EQ(StatusOf(Call("PUT", "/bkt/clear", {}, "in the clear")), 200);
  EXPECT_EQ(BodyOf(Call("GET", "/bkt/clear")), "in the clear");
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt", {},
                          "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionBy"
                          "Default><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryption"
                          "ByDefault></Rule></ServerSideEncryptionConfiguration>",
                          {{"encryption", ""}})),
            501);
}

TEST_F(EncryptionTest, WithoutAMasterKeyOrTlsWhatNeedsThemIsRefused) {
  Start(/*master_key=*/false, /*sse_c_over_http=*/false);
  EXPECT_EQ(StatusOf(Call("PUT", "/bkt/a", {{"x-amz-server-side-encryption", "AES256"}}, "x")),
            501);
  EXPECT_THAT(Call("PUT", "/bkt/a", CustomerKey('k'), "x"),
              HasSubstr("<Code>InvalidRequest</Code>"));
  EXPECT_EQ(StatusOf(Call("GET", "/bkt/a")), 404);
}

}  // namespace
}  // namespace depot::server
