#include "depot/server/acl.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "depot/core/ascii.h"
#include "depot/core/hex.h"
#include "depot/s3/xml.h"

namespace depot::server {
namespace {

constexpr std::string_view kAllUsersUri = "http://acs.amazonaws.com/groups/global/AllUsers";
constexpr std::string_view kAuthenticatedUsersUri =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

struct PermissionName {
  AclPermission permission;
  std::string_view name;    // in documents
  std::string_view header;  // x-amz-grant-<header>
  char code;                // in EncodeGrants' line
};
constexpr PermissionName kPermissions[] = {
    {AclPermission::kFullControl, "FULL_CONTROL", "full-control", 'F'},
    {AclPermission::kRead, "READ", "read", 'R'},
    {AclPermission::kWrite, "WRITE", "write", 'W'},
    {AclPermission::kReadAcp, "READ_ACP", "read-acp", 'r'},
    {AclPermission::kWriteAcp, "WRITE_ACP", "write-acp", 'w'},
};

const PermissionName& NameOf(AclPermission permission) {
  return *std::find_if(std::begin(kPermissions), std::end(kPermissions),
                       [&](const PermissionName& p) { return p.permission == permission; });
}

AclGrant UserGrant(std::string_view user, AclPermission permission) {
  return {AclGrant::Grantee::kUser, std::string(user), permission};
}
AclGrant GroupGrant(AclGrant::Grantee group, AclPermission permission) {
  return {group, "", permission};
}

// A grantee named in a header (id=, uri=, emailAddress=) or a document.
Result<AclGrant> Grantee(std::string_view kind, std::string_view value, AclPermission permission,
                         const AclNames& names) {
  if (kind == "id") {
    std::optional<std::string> user = names.user_of(value);
    if (!user) {
      return InvalidArgumentError(
          fmt::format("InvalidArgument: the grantee id \"{}\" is no user of this server", value));
    }
    return UserGrant(*user, permission);
  }
  if (kind == "uri") {
    if (value == kAllUsersUri) return GroupGrant(AclGrant::Grantee::kAllUsers, permission);
    if (value == kAuthenticatedUsersUri) {
      return GroupGrant(AclGrant::Grantee::kAuthenticatedUsers, permission);
    }
    return InvalidArgumentError(fmt::format(
        "InvalidArgument: the group \"{}\" is not AllUsers or AuthenticatedUsers", value));
  }
  if (kind == "emailAddress") {
    return InvalidArgumentError(fmt::format(
        "UnresolvableGrantByEmailAddress: the grantee email address \"{}\" is no user's (users "
        "have none here)",
        value));
  }
  return InvalidArgumentError(fmt::format("InvalidArgument: a grantee \"{}={}\"", kind, value));
}

}  // namespace

Result<Acl> CannedAcl(std::string_view name, std::string_view owner, std::string_view bucket_owner,
                      bool object) {
  // Groups first, then the owner's full control: the order RGW lists them in.
  Acl acl{std::string(owner), {}};
  if (name == "public-read" || name == "public-read-write") {
    acl.grants.push_back(GroupGrant(AclGrant::Grantee::kAllUsers, AclPermission::kRead));
    if (name == "public-read-write") {
      acl.grants.push_back(GroupGrant(AclGrant::Grantee::kAllUsers, AclPermission::kWrite));
    }
  } else if (name == "authenticated-read") {
    acl.grants.push_back(GroupGrant(AclGrant::Grantee::kAuthenticatedUsers, AclPermission::kRead));
  } else if (name != "private" &&
             !(object && (name == "bucket-owner-read" || name == "bucket-owner-full-control"))) {
    return InvalidArgumentError(
        fmt::format("InvalidArgument: the canned ACL \"{}\" is not one S3 has for {}", name,
                    object ? "objects" : "buckets"));
  }
  acl.grants.push_back(UserGrant(owner, AclPermission::kFullControl));
  if (name.starts_with("bucket-owner-") && bucket_owner != owner) {
    acl.grants.push_back(UserGrant(bucket_owner, name == "bucket-owner-read"
                                                     ? AclPermission::kRead
                                                     : AclPermission::kFullControl));
  }
  return acl;
}

Result<std::optional<Acl>> AclFromHeaders(const std::vector<s3::Header>& headers,
                                          std::string_view owner, std::string_view bucket_owner,
                                          bool object, const AclNames& names) {
  std::optional<std::string> canned;
  std::vector<AclGrant> grants;
  bool granted = false;
  for (const auto& [raw_name, value] : headers) {
    const std::string name = AsciiLower(raw_name);
    if (name == "x-amz-acl") {
      canned = std::string(TrimBlanks(value));
      continue;
    }
    if (!name.starts_with("x-amz-grant-")) continue;
    const std::string_view which = std::string_view(name).substr(12);
    const auto permission =
        std::find_if(std::begin(kPermissions), std::end(kPermissions),
                     [&](const PermissionName& p) { return p.header == which; });
    if (permission == std::end(kPermissions)) {
      return InvalidArgumentError(
          fmt::format("InvalidArgument: the header {} grants nothing S3 has", raw_name));
    }
    granted = true;
    for (const std::string& item : SplitCommaList(value)) {
      const size_t equals = item.find('=');
      if (equals == std::string::npos) {
        return InvalidArgumentError(fmt::format(
            "InvalidArgument: {}: \"{}\" is not id=, uri= or emailAddress=", raw_name, item));
      }
      std::string_view grantee = TrimBlanks(std::string_view(item).substr(equals + 1));
      if (grantee.size() >= 2 && grantee.front() == '"' && grantee.back() == '"') {
        grantee = grantee.substr(1, grantee.size() - 2);
      }
      DEPOT_ASSIGN_OR_RETURN(AclGrant grant,
                             Grantee(TrimBlanks(std::string_view(item).substr(0, equals)), grantee,
                                     permission->permission, names));
      grants.push_back(std::move(grant));
    }
  }
  if (canned && granted) {
    return InvalidArgumentError(
        "InvalidRequest: x-amz-acl and x-amz-grant-* headers cannot be sent together");
  }
  if (canned) {
    DEPOT_ASSIGN_OR_RETURN(Acl acl, CannedAcl(*canned, owner, bucket_owner, object));
    return std::optional<Acl>(std::move(acl));
  }
  if (!granted) return std::optional<Acl>();
  return std::optional<Acl>(Acl{std::string(owner), std::move(grants)});
}

std::string AclXml(const Acl& acl, const AclNames& names) {
  const auto [owner_id, owner_name] = names.id_and_name(acl.owner);
  std::string xml = fmt::format(
      "<AccessControlPolicy><Owner><ID>{}</ID><DisplayName>{}</DisplayName></Owner>"
      "<AccessControlList>",
      s3::XmlEscape(owner_id), s3::XmlEscape(owner_name));
  // Groups first, then users, each in their order: as RGW lists them.
  std::vector<AclGrant> ordered = acl.grants;
  std::stable_partition(ordered.begin(), ordered.end(), [](const AclGrant& grant) {
    return grant.grantee != AclGrant::Grantee::kUser;
  });
  for (const AclGrant& grant : ordered) {
    std::string grantee;
    switch (grant.grantee) {
      case AclGrant::Grantee::kUser: {
        const auto [id, name] = names.id_and_name(grant.user);
        grantee = fmt::format("xsi:type=\"CanonicalUser\"><ID>{}</ID><DisplayName>{}</DisplayName>",
                              s3::XmlEscape(id), s3::XmlEscape(name));
        break;
      }
      case AclGrant::Grantee::kAllUsers:
        grantee = fmt::format("xsi:type=\"Group\"><URI>{}</URI>", kAllUsersUri);
        break;
      case AclGrant::Grantee::kAuthenticatedUsers:
        grantee = fmt::format("xsi:type=\"Group\"><URI>{}</URI>", kAuthenticatedUsersUri);
        break;
    }
    xml += fmt::format(
        "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" {}</Grantee>"
        "<Permission>{}</Permission></Grant>",
        grantee, NameOf(grant.permission).name);
  }
  return xml + "</AccessControlList></AccessControlPolicy>";
}

Result<Acl> ParseAclXml(std::string_view body, std::string_view owner, const AclNames& names) {
  DEPOT_ASSIGN_OR_RETURN(s3::AclDocument document, s3::ParseAccessControlPolicy(body));
  if (!document.owner_id.empty() && names.user_of(document.owner_id) != owner) {
    return PermissionDeniedError(fmt::format(
        "AccessDenied: the policy's owner \"{}\" is not the resource's", document.owner_id));
  }
  Acl acl{std::string(owner), {}};
  for (const s3::AclDocumentGrant& grant : document.grants) {
    const auto permission =
        std::find_if(std::begin(kPermissions), std::end(kPermissions),
                     [&](const PermissionName& p) { return p.name == grant.permission; });
    if (permission == std::end(kPermissions)) {
      return InvalidArgumentError(fmt::format(
          "MalformedACLError: the permission \"{}\" is not one S3 has", grant.permission));
    }
    Result<AclGrant> parsed = InvalidArgumentError(
        fmt::format("MalformedACLError: the grantee type \"{}\" is not CanonicalUser, Group or "
                    "AmazonCustomerByEmail",
                    grant.type));
    if (grant.type == "CanonicalUser")
      parsed = Grantee("id", grant.id, permission->permission, names);
    if (grant.type == "Group") parsed = Grantee("uri", grant.uri, permission->permission, names);
    if (grant.type == "AmazonCustomerByEmail") {
      parsed = Grantee("emailAddress", grant.email, permission->permission, names);
    }
    DEPOT_ASSIGN_OR_RETURN(AclGrant added, std::move(parsed));
    acl.grants.push_back(std::move(added));
  }
  return acl;
}

std::string EncodeGrants(const std::vector<AclGrant>& grants) {
  std::string line;
  for (const AclGrant& grant : grants) {
    if (!line.empty()) line += ',';
    line += NameOf(grant.permission).code;
    switch (grant.grantee) {
      case AclGrant::Grantee::kUser:
        line += 'u' + HexEncode(grant.user);
        break;
      case AclGrant::Grantee::kAllUsers:
        line += '*';
        break;
      case AclGrant::Grantee::kAuthenticatedUsers:
        line += 'a';
        break;
    }
  }
  return line;
}

Result<std::vector<AclGrant>> DecodeGrants(std::string_view text) {
  std::vector<AclGrant> grants;
  for (const std::string& item : SplitCommaList(text)) {
    const auto corrupt = [&] {
      return DataLossError(fmt::format("a stored ACL grant \"{}\" is unreadable", item));
    };
    if (item.size() < 2) return corrupt();
    const auto permission =
        std::find_if(std::begin(kPermissions), std::end(kPermissions),
                     [&](const PermissionName& p) { return p.code == item[0]; });
    if (permission == std::end(kPermissions)) return corrupt();
    AclGrant grant{AclGrant::Grantee::kUser, "", permission->permission};
    if (item[1] == '*' && item.size() == 2) {
      grant.grantee = AclGrant::Grantee::kAllUsers;
    } else if (item[1] == 'a' && item.size() == 2) {
      grant.grantee = AclGrant::Grantee::kAuthenticatedUsers;
    } else if (item[1] == 'u' && item.size() % 2 == 0) {
      grant.user.resize((item.size() - 2) / 2);
      if (!HexDecode(std::string_view(item).substr(2),
                     std::span(reinterpret_cast<uint8_t*>(grant.user.data()), grant.user.size()))) {
        return corrupt();
      }
    } else {
      return corrupt();
    }
    grants.push_back(std::move(grant));
  }
  return grants;
}

bool AclAllows(const Acl& acl, std::string_view user, AclPermission permission) {
  if (!user.empty() && user == acl.owner) return true;
  return std::any_of(acl.grants.begin(), acl.grants.end(), [&](const AclGrant& grant) {
    if (grant.permission != permission && grant.permission != AclPermission::kFullControl) {
      return false;
    }
    switch (grant.grantee) {
      case AclGrant::Grantee::kUser:
        return !user.empty() && grant.user == user;
      case AclGrant::Grantee::kAllUsers:
        return true;
      case AclGrant::Grantee::kAuthenticatedUsers:
        return !user.empty();
    }
    return false;
  });
}

}  // namespace depot::server
