// depot::server ACLs: S3's access control lists of buckets and objects, as depot serve keeps and
// checks them (internal).
//
// An ACL is its resource's owner and a list of grants, each of a permission (FULL_CONTROL, READ,
// WRITE, READ_ACP, WRITE_ACP) to a grantee: a user, by canonical id (kept as its access key), or
// one of S3's two groups, AllUsers (anyone, anonymous requests included) and AuthenticatedUsers
// (any user with credentials). They come from a canned ACL (x-amz-acl), from x-amz-grant-*
// headers, or from an AccessControlPolicy document, and are kept in one line of text (Encode).
// What each permission allows is AccessControl's (access.h); this file only reads and writes them.
//
// Pure functions and values: thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"
#include "depot/s3/signer.h"

namespace depot::server {

enum class AclPermission { kFullControl, kRead, kWrite, kReadAcp, kWriteAcp };

struct AclGrant {
  enum class Grantee { kUser, kAllUsers, kAuthenticatedUsers };
  Grantee grantee = Grantee::kUser;
  std::string user;  // the access key of a kUser grantee
  AclPermission permission = AclPermission::kRead;
  friend bool operator==(const AclGrant&, const AclGrant&) = default;
};

struct Acl {
  std::string owner;  // an access key
  std::vector<AclGrant> grants;
  friend bool operator==(const Acl&, const Acl&) = default;
};

// How a user shows in an ACL document, and the user a canonical id names (nullopt: nobody).
struct AclNames {
  std::function<std::pair<std::string, std::string>(std::string_view user)> id_and_name;
  std::function<std::optional<std::string>(std::string_view id)> user_of;
};

// The ACL a canned name gives a resource owned by `owner` in a bucket owned by `bucket_owner`:
// private, public-read, public-read-write, authenticated-read, and for objects bucket-owner-read
// and bucket-owner-full-control. kInvalidArgument naming the value for any other.
Result<Acl> CannedAcl(std::string_view name, std::string_view owner, std::string_view bucket_owner,
                      bool object);

// The ACL a request's headers ask for: x-amz-acl, or x-amz-grant-read, -write, -read-acp,
// -write-acp and -full-control (each a comma-separated list of id="...", uri="..." or
// emailAddress="..."); nullopt when it carries none of them. kInvalidArgument for both kinds at
// once, an unknown canned name, a grantee that is no user (InvalidArgument) or an email address
// (UnresolvableGrantByEmailAddress: users have none here).
Result<std::optional<Acl>> AclFromHeaders(const std::vector<s3::Header>& headers,
                                          std::string_view owner, std::string_view bucket_owner,
                                          bool object, const AclNames& names);

// The AccessControlPolicy document of an ACL, and an ACL from one (PutBucketAcl, PutObjectAcl):
// its owner must be `owner` (AccessDenied otherwise, as S3 answers); kInvalidArgument
// ("MalformedACLError: ...") for a document that is not one, and as AclFromHeaders for grantees.
std::string AclXml(const Acl& acl, const AclNames& names);
Result<Acl> ParseAclXml(std::string_view body, std::string_view owner, const AclNames& names);

// One line of text for an ACL's grants, and back (kDataLoss for a line this did not write).
std::string EncodeGrants(const std::vector<AclGrant>& grants);
Result<std::vector<AclGrant>> DecodeGrants(std::string_view text);

// Whether `acl` gives `user` ("" for an anonymous request) `permission` (FULL_CONTROL gives all;
// the owner has every permission).
bool AclAllows(const Acl& acl, std::string_view user, AclPermission permission);

}  // namespace depot::server
