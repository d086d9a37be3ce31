#include "depot/core/base64.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "depot/core/md5.h"
#include "depot/core/testing/status_matchers.h"

namespace depot {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_THAT(decoded, IsOk());
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64, ContentMd5OfS3Documentation) {
  // Content-MD5 is the base64 of the 16 raw digest bytes: MD5("") is 1B2M2Y8AsgTpgAmY7PhCfg==.
  Md5 md5;
  auto digest = md5.Finish();
  EXPECT_EQ(Base64Encode(std::string_view(reinterpret_cast<const char*>(digest.data()), 16)),
            "1B2M2Y8AsgTpgAmY7PhCfg==");
}

TEST(Base64, AllByteValuesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 37) {
    auto decoded = Base64Decode(Base64Encode(all.substr(0, n)));
    ASSERT_THAT(decoded, IsOk());
    EXPECT_EQ(*decoded, all.substr(0, n));
  }
}

TEST(Base64, RejectsMalformedText) {
  for (const char* bad : {"Zg=", "Z===", "Zg=a", "Zm9v!A==", "=Zm9", "Zg==Zg=="}) {
    EXPECT_THAT(Base64Decode(bad), StatusIs(StatusCode::kInvalidArgument, HasSubstr(bad))) << bad;
  }
}

}  // namespace
}  // namespace depot
