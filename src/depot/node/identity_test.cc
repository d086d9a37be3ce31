#include "depot/node/identity.h"

#include <gmock/gmock.h>
#include <sys/stat.h>

#include <fstream>

#include "depot/core/hex.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"

namespace depot::node {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

std::string Unhex(std::string_view hex) {
  std::string bytes(hex.size() / 2, '\0');
  EXPECT_TRUE(HexDecode(hex, {reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()}));
  return bytes;
}

// RFC 8032, section 7.1, TEST 2 (one-byte message).
TEST(IdentityTest, SignsAsRfc8032Says) {
  auto keys =
      KeyPair::FromSeed(Unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));
  ASSERT_THAT(keys.status(), IsOk());
  EXPECT_EQ(HexEncode(keys->public_key()),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
  const std::string signature = keys->Sign(Unhex("72"));
  EXPECT_EQ(HexEncode(signature),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
            "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
  EXPECT_THAT(Verify(keys->public_key(), Unhex("72"), signature), IsOk());
  EXPECT_EQ(keys->id(), NodeId::FromPublicKey(keys->public_key()));
}

TEST(IdentityTest, AnyChangeToMessageKeyOrSignatureIsRefused) {
  const KeyPair keys = KeyPair::Generate();
  const KeyPair other = KeyPair::Generate();
  EXPECT_NE(keys.id(), other.id());
  const std::string message = "store 3 replicas of abc";
  const std::string signature = keys.Sign(message);
  EXPECT_THAT(Verify(keys.public_key(), "store 4 replicas of abc", signature),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr(keys.id().Short())));
  EXPECT_THAT(Verify(other.public_key(), message, signature),
              StatusIs(StatusCode::kUnauthenticated));
  for (size_t i = 0; i < signature.size(); ++i) {
    std::string bad = signature;
    bad[i] ^= 1;
    EXPECT_THAT(Verify(keys.public_key(), message, bad), StatusIs(StatusCode::kUnauthenticated))
        << "byte " << i;
  }
  EXPECT_THAT(Verify(keys.public_key(), message, signature.substr(1)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Verify("short", message, signature), StatusIs(StatusCode::kInvalidArgument));
}

TEST(IdentityTest, KeyFilesAreMadeOnceAndReadBack) {
  ::depot::testing::TempDir dir;
  const auto path = dir.path() / "node.key";
  auto made = KeyPair::LoadOrCreate(path);
  ASSERT_THAT(made.status(), IsOk());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = KeyPair::LoadOrCreate(path);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(again->id(), made->id());
  EXPECT_EQ(again->Sign("x"), made->Sign("x"));

  std::ofstream(dir.path() / "bad.key") << "not a key\n";
  EXPECT_THAT(KeyPair::LoadOrCreate(dir.path() / "bad.key").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("bad.key")));
}

TEST(IdentityTest, NodeIdsRoundTripThroughHex) {
  const NodeId id = KeyPair::Generate().id();
  EXPECT_EQ(*NodeId::FromHex(id.ToHex()), id);
  EXPECT_THAT(NodeId::FromHex("xyz").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"xyz\"")));
}

}  // namespace
}  // namespace depot::node
