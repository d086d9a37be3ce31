#include "depot/server/acl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "depot/core/testing/status_matchers.h"

namespace depot::server {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

// Two users: "alice" (canonical id "alice-id", display name "Alice") and "bob" (his key twice).
AclNames Names() {
  AclNames names;
  names.id_and_name = [](std::string_view user) {
    if (user == "alice") return std::pair<std::string, std::string>("alice-id", "Alice");
    return std::pair<std::string, std::string>(std::string(user), std::string(user));
  };
  names.user_of = [](std::string_view id) -> std::optional<std::string> {
    if (id == "alice-id" || id == "alice") return "alice";
    if (id == "bob") return "bob";
    return std::nullopt;
  };
  return names;
}

AclGrant User(std::string user, AclPermission permission) {
  return {AclGrant::Grantee::kUser, std::move(user), permission};
}
AclGrant Everyone(AclPermission permission) {
  return {AclGrant::Grantee::kAllUsers, "", permission};
}

TEST(AclTest, CannedAclsGrantWhatS3Says) {
  auto canned = CannedAcl("public-read-write", "alice", "alice", false);
  ASSERT_THAT(canned, IsOk());
  EXPECT_EQ(canned->grants,
            (std::vector<AclGrant>{Everyone(AclPermission::kRead), Everyone(AclPermission::kWrite),
                                   User("alice", AclPermission::kFullControl)}));
  canned = CannedAcl("bucket-owner-read", "bob", "alice", true);
  ASSERT_THAT(canned, IsOk());
  EXPECT_EQ(canned->grants, (std::vector<AclGrant>{User("bob", AclPermission::kFullControl),
                                                   User("alice", AclPermission::kRead)}));
  EXPECT_THAT(CannedAcl("bucket-owner-read", "bob", "alice", false).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("bucket-owner-read")));
  EXPECT_THAT(CannedAcl("log-delivery-write-everything", "a", "a", false).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(AclTest, GrantHeadersNameUsersByIdAndGroupsByUri) {
  auto acl = AclFromHeaders({{"x-amz-grant-read",
                              "id=\"alice-id\", uri=\"http://acs.amazonaws.com/groups/global/"
                              "AuthenticatedUsers\""},
                             {"X-Amz-Grant-Write-Acp", "id=bob"}},
                            "alice", "alice", true, Names());
  ASSERT_THAT(acl, IsOk());
  ASSERT_TRUE(acl->has_value());
  EXPECT_EQ((*acl)->grants, (std::vector<AclGrant>{
                                User("alice", AclPermission::kRead),
                                {AclGrant::Grantee::kAuthenticatedUsers, "", AclPermission::kRead},
                                User("bob", AclPermission::kWriteAcp)}));
  EXPECT_FALSE(AclFromHeaders({{"x-amz-meta-a", "b"}}, "a", "a", true, Names())->has_value());
  EXPECT_THAT(AclFromHeaders({{"x-amz-grant-read", "id=carol"}}, "a", "a", true, Names()).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("carol")));
  EXPECT_THAT(AclFromHeaders({{"x-amz-grant-read", "emailAddress=c@d.e"}}, "a", "a", true, Names())
                  .status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("UnresolvableGrantByEmailAddress")));
  EXPECT_THAT(
      AclFromHeaders({{"x-amz-grant-everything", "id=bob"}}, "a", "a", true, Names()).status(),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("x-amz-grant-everything")));
  EXPECT_THAT(AclFromHeaders({{"x-amz-acl", "private"}, {"x-amz-grant-read", "id=bob"}}, "a", "a",
                             true, Names())
                  .status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("together")));
}

TEST(AclTest, DocumentsAndLinesRoundTrip) {
  const Acl acl{"alice",
                {User("alice", AclPermission::kFullControl), Everyone(AclPermission::kRead),
                 User("bob", AclPermission::kWrite)}};
  const std::string xml = AclXml(acl, Names());
  EXPECT_THAT(xml, HasSubstr("<Owner><ID>alice-id</ID><DisplayName>Alice</DisplayName></Owner>"));
  auto parsed = ParseAclXml(xml, "alice", Names());
  ASSERT_THAT(parsed, IsOk());
  // Groups come first in documents; the grants are the same.
  EXPECT_EQ(parsed->grants.size(), 3u);
  EXPECT_EQ(parsed->grants[0], Everyone(AclPermission::kRead));
  EXPECT_THAT(ParseAclXml(xml, "bob", Names()).status(),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("alice-id")));
  auto line = DecodeGrants(EncodeGrants(acl.grants));
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ(*line, acl.grants);
  EXPECT_THAT(DecodeGrants("Zu00").status(), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(DecodeGrants("Ruabc").status(), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(*DecodeGrants(""), ::testing::IsEmpty());
}

TEST(AclTest, OwnersAndGranteesAreAllowedAndNobodyElse) {
  const Acl acl{"alice",
                {User("bob", AclPermission::kRead),
                 {AclGrant::Grantee::kAuthenticatedUsers, "", AclPermission::kReadAcp},
                 Everyone(AclPermission::kWriteAcp)}};
  EXPECT_TRUE(AclAllows(acl, "alice", AclPermission::kWrite));
  EXPECT_TRUE(AclAllows(acl, "bob", AclPermission::kRead));
  EXPECT_FALSE(AclAllows(acl, "bob", AclPermission::kWrite));
  EXPECT_TRUE(AclAllows(acl, "carol", AclPermission::kReadAcp));
  EXPECT_FALSE(AclAllows(acl, "", AclPermission::kReadAcp));
  EXPECT_TRUE(AclAllows(acl, "", AclPermission::kWriteAcp));
  EXPECT_FALSE(AclAllows(acl, "", AclPermission::kRead));
  EXPECT_TRUE(AclAllows({"alice", {User("bob", AclPermission::kFullControl)}}, "bob",
                        AclPermission::kWriteAcp));
}

// Mutated documents (bytes flipped, cut, repeated) are refused with an error or read as an ACL
// that writes back to a document read the same: never a crash, never a half-read ACL.
TEST(AclTest, MutatedDocumentsAreReadWholeOrRefused) {
  const std::string seed =
      AclXml({"alice",
              {User("alice", AclPermission::kFullControl),
               Everyone(AclPermission::kRead),
               {AclGrant::Grantee::kAuthenticatedUsers, "", AclPermission::kWrite},
               User("bob", AclPermission::kReadAcp)}},
             Names());
  std::mt19937 random(20261207);
  int read = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string doc = seed;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !doc.empty(); ++e) {
      const size_t at = random() % doc.size();
      switch (random() % 4) {
        case 0:
          doc[at] = static_cast<char>(random());
          break;
        case 1:
          doc.erase(at, 1 + random() % 16);
          break;
        case 2:
          doc.insert(at, doc.substr(random() % doc.size(), 1 + random() % 32));
          break;
        default:
          doc.resize(at);
      }
    }
    auto parsed = ParseAclXml(doc, "alice", Names());
    if (!parsed.ok()) {
      EXPECT_THAT(parsed.status().code(),
                  ::testing::AnyOf(StatusCode::kInvalidArgument, StatusCode::kPermissionDenied));
      continue;
    }
    ++read;
    auto again = ParseAclXml(AclXml(*parsed, Names()), "alice", Names());
    ASSERT_THAT(again, IsOk());
    EXPECT_EQ(again->grants.size(), parsed->grants.size());
  }
  EXPECT_GT(read, 100);  // the mutations also make documents that still read
}

}  // namespace
}  // namespace depot::server
