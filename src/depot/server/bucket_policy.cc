#include "depot/server/bucket_policy.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "depot/core/ascii.h"

namespace depot::server {
namespace {

using nlohmann::json;

Status Malformed(std::string_view what) {
  return InvalidArgumentError(fmt::format("MalformedPolicy: {}", what));
}

constexpr std::string_view kOperators[] = {"StringEquals",
                                           "StringNotEquals",
                                           "StringEqualsIgnoreCase",
                                           "StringNotEqualsIgnoreCase",
                                           "StringLike",
                                           "StringNotLike",
                                           "IpAddress",
                                           "NotIpAddress",
                                           "Bool",
                                           "Null",
                                           "NumericEquals",
                                           "NumericNotEquals",
                                           "NumericLessThan",
                                           "NumericLessThanEquals",
                                           "NumericGreaterThan",
                                           "NumericGreaterThanEquals"};
constexpr std::string_view kKeys[] = {"aws:sourceip", "aws:securetransport", "aws:username",
                                      "aws:userid",   "aws:principaltype",   "s3:prefix",
                                      "s3:delimiter", "s3:max-keys",         "s3:versionid"};

// A string or a list of strings, as policies write one or many.
// `scalars`: numbers and booleans are taken as their text (condition values only).
Result<std::vector<std::string>> Strings(const json& value, std::string_view element,
                                         bool scalars = false) {
  std::vector<std::string> out;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_array() && !value.empty()) {
    for (const json& item : value) {
      if (!item.is_string()) return Malformed(fmt::format("{} holds a non-string", element));
      out.push_back(item.get<std::string>());
    }
  } else if (scalars && (value.is_boolean() || value.is_number())) {
    out.push_back(value.dump());  // Bool and Numeric conditions may be written unquoted
  } else {
    return Malformed(fmt::format("{} is not a string or a list of them", element));
  }
  return out;
}

// An address and prefix length: "192.0.2.0/24", "2001:db8::/32", or one address.
struct Cidr {
  int family = AF_INET;
  std::array<uint8_t, 16> bytes{};
  int bits = 0;
};

std::optional<Cidr> ParseCidr(std::string_view text) {
  Cidr cidr;
  std::string address(text.substr(0, text.find('/')));
  cidr.family = address.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (::inet_pton(cidr.family, address.c_str(), cidr.bytes.data()) != 1) return std::nullopt;
  const int width = cidr.family == AF_INET ? 32 : 128;
  cidr.bits = width;
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    const std::string_view bits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), cidr.bits);
    if (ec != std::errc() || end != bits.data() + bits.size() || cidr.bits < 0 ||
        cidr.bits > width) {
      return std::nullopt;
    }
  }
  return cidr;
}

bool InCidr(const Cidr& range, const Cidr& address) {
  if (range.family != address.family) return false;
  for (int bit = 0; bit < range.bits; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((range.bytes[bit / 8] & mask) != (address.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

std::optional<double> Number(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Whether a principal of a policy names the request's user.
bool PrincipalMatches(std::string_view principal, const PolicyRequest& request) {
  if (principal == "*") return true;
  if (request.user.empty()) return false;
  const auto names = [&](std::string_view name) {
    return name == request.user || name == request.principal_id;
  };
  if (names(principal)) return true;
  constexpr std::string_view kIam = "arn:aws:iam::";
  if (!principal.starts_with(kIam)) return false;
  const std::string_view rest = principal.substr(kIam.size());
  const size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view account = rest.substr(0, colon);
  const std::string_view what = rest.substr(colon + 1);
  if (what == "root") return names(account);
  return what.starts_with("user/") && (names(what.substr(5)) || names(account));
}

}  // namespace

Result<BucketPolicy> BucketPolicy::Parse(std::string_view text, std::string_view bucket) {
  // The reading below checks every type it takes; a type it did not foresee is refused too.
  try {
    return ParseChecked(text, bucket);
  } catch (const json::exception& e) {
    return Malformed(fmt::format("an element has the wrong type ({})", e.what()));
  }
}

Result<BucketPolicy> BucketPolicy::ParseChecked(std::string_view text, std::string_view bucket) {
  const json document = json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return Malformed("the policy is not a JSON object");
  }
  for (const auto& [name, value] : document.items()) {
    if (name != "Version" && name != "Id" && name != "Statement") {
      return Malformed(fmt::format("the element \"{}\" is not served", name));
    }
  }
  if (document.contains("Version")) {
    const json& version = document["Version"];
    if (!version.is_string() || (version.get<std::string>() != "2012-10-17" &&
                                 version.get<std::string>() != "2008-10-17")) {
      return Malformed(fmt::format("Version {} is not 2012-10-17 or 2008-10-17", version.dump()));
    }
  }
  if (!document.contains("Statement")) return Malformed("the policy has no Statement");
  json statements = document["Statement"];
  if (statements.is_object()) statements = json::array({statements});
  if (!statements.is_array() || statements.empty()) {
    return Malformed("Statement is not a statement or a list of them");
  }
  BucketPolicy policy;
  const std::string bucket_arn = fmt::format("arn:aws:s3:::{}", bucket);
  for (const json& item : statements) {
    if (!item.is_object()) return Malformed("a Statement is not a JSON object");
    Statement statement;
    for (const auto& [name, value] : item.items()) {
      if (name != "Sid" && name != "Effect" && name != "Principal" && name != "Action" &&
          name != "Resource" && name != "Condition") {
        return Malformed(fmt::format("the statement element \"{}\" is not served", name));
      }
    }
    const std::string effect = item.contains("Effect") && item["Effect"].is_string()
                                   ? item["Effect"].get<std::string>()
                                   : "";
    if (effect != "Allow" && effect != "Deny") {
      return Malformed(fmt::format("Effect \"{}\" is not Allow or Deny", effect));
    }
    statement.allow = effect == "Allow";
    if (!item.contains("Principal")) return Malformed("a statement has no Principal");
    const json& principal = item["Principal"];
    if (principal.is_string()) {
      if (principal.get<std::string>() != "*") {
        return Malformed(
            fmt::format("Principal {} is not \"*\" or {{\"AWS\": ...}}", principal.dump()));
      }
      statement.principals = {"*"};
    } else if (principal.is_object() && principal.size() == 1 && principal.contains("AWS")) {
      DEPOT_ASSIGN_OR_RETURN(statement.principals, Strings(principal["AWS"], "Principal AWS"));
    } else {
      return Malformed(
          fmt::format("Principal {} is not \"*\" or {{\"AWS\": ...}}", principal.dump()));
    }
    if (!item.contains("Action")) return Malformed("a statement has no Action");
    DEPOT_ASSIGN_OR_RETURN(std::vector<std::string> actions, Strings(item["Action"], "Action"));
    for (std::string& action : actions) {
      action = AsciiLower(action);
      if (action != "*" && !action.starts_with("s3:")) {
        return Malformed(fmt::format("Action \"{}\" is not an s3: action", action));
      }
      statement.actions.push_back(std::move(action));
    }
    if (!item.contains("Resource")) return Malformed("a statement has no Resource");
    DEPOT_ASSIGN_OR_RETURN(statement.resources, Strings(item["Resource"], "Resource"));
    for (const std::string& resource : statement.resources) {
      // Only this bucket and its objects: a pattern that reaches past the name is refused.
      const std::string_view named = std::string_view(resource).substr(0, resource.find('/'));
      const bool ours = resource.starts_with("arn:aws:s3:::") && WildcardMatch(named, bucket_arn);
      if (!ours) {
        return Malformed(
            fmt::format("Resource \"{}\" is not bucket {} or its objects", resource, bucket));
      }
    }
    if (item.contains("Condition")) {
      const json& conditions = item["Condition"];
      if (!conditions.is_object()) return Malformed("Condition is not a JSON object");
      for (const auto& [op, keys] : conditions.items()) {
        if (std::find(std::begin(kOperators), std::end(kOperators), op) == std::end(kOperators)) {
          return Malformed(fmt::format("the condition operator \"{}\" is not served", op));
        }
        if (!keys.is_object()) return Malformed(fmt::format("{} is not a JSON object", op));
        for (const auto& [key, values] : keys.items()) {
          const std::string lower = AsciiLower(key);
          // s3:x-amz-* keys are the request's headers of that name.
          const bool tag_key = lower.starts_with("s3:existingobjecttag/") ||
                               lower.starts_with("s3:requestobjecttag/") ||
                               lower == "s3:requestobjecttagkeys";
          if (std::find(std::begin(kKeys), std::end(kKeys), lower) == std::end(kKeys) &&
              !lower.starts_with("s3:x-amz-") && !tag_key) {
            return Malformed(fmt::format("the condition key \"{}\" is not served", key));
          }
          DEPOT_ASSIGN_OR_RETURN(std::vector<std::string> list, Strings(values, key, true));
          for (const std::string& value : list) {
            if (op.find("IpAddress") != std::string::npos && !ParseCidr(value)) {
              return Malformed(fmt::format("\"{}\" is not an IP address or range", value));
            }
            if (op.starts_with("Numeric") && !Number(value)) {
              return Malformed(fmt::format("\"{}\" is not a number", value));
            }
            if ((op == "Bool" || op == "Null") && value != "true" && value != "false") {
              return Malformed(fmt::format("\"{}\" is not true or false", value));
            }
          }
          statement.conditions.push_back({op, lower, std::move(list)});
        }
      }
    }
    policy.statements_.push_back(std::move(statement));
  }
  return policy;
}

bool BucketPolicy::Holds(const Condition& condition, const PolicyRequest& request) {
  const auto found = request.context.find(condition.key);
  const std::string& op = condition.op;
  if (op == "Null") {
    const bool absent = found == request.context.end() || found->second.empty();
    return std::any_of(condition.values.begin(), condition.values.end(),
                       [&](const auto& value) { return (value == "true") == absent; });
  }
  const bool negated = op.find("Not") != std::string::npos;
  if (found == request.context.end() || found->second.empty()) return negated;
  // Any of the request's values against any of the condition's (negated: none of them).
  const auto matches = [&](const std::string& have, const std::string& want) {
    if (op.starts_with("StringEquals") || op.starts_with("StringNotEquals")) {
      return op.ends_with("IgnoreCase") ? AsciiLower(have) == AsciiLower(want) : have == want;
    }
    if (op == "StringLike" || op == "StringNotLike") return WildcardMatch(want, have);
    if (op == "IpAddress" || op == "NotIpAddress") {
      const auto range = ParseCidr(want);
      const auto address = ParseCidr(have);
      return range && address && InCidr(*range, *address);
    }
    if (op == "Bool") return AsciiLower(have) == want;
    const auto a = Number(have);
    const auto b = Number(want);
    if (!a || !b) return false;
    if (op == "NumericEquals" || op == "NumericNotEquals") return *a == *b;
    if (op == "NumericLessThan") return *a < *b;
    if (op == "NumericLessThanEquals") return *a <= *b;
    if (op == "NumericGreaterThan") return *a > *b;
    return *a >= *b;  // NumericGreaterThanEquals
  };
  bool any = false;
  for (const std::string& have : found->second) {
    for (const std::string& want : condition.values) any = any || matches(have, want);
  }
  return negated ? !any : any;
}

bool BucketPolicy::Applies(const Statement& statement, const PolicyRequest& request) const {
  const std::string action = AsciiLower(request.action);
  return std::any_of(statement.principals.begin(), statement.principals.end(),
                     [&](const std::string& p) { return PrincipalMatches(p, request); }) &&
         std::any_of(statement.actions.begin(), statement.actions.end(),
                     [&](const std::string& a) { return WildcardMatch(a, action); }) &&
         std::any_of(statement.resources.begin(), statement.resources.end(),
                     [&](const std::string& r) { return WildcardMatch(r, request.resource); }) &&
         std::all_of(statement.conditions.begin(), statement.conditions.end(),
                     [&](const Condition& c) { return Holds(c, request); });
}

PolicyDecision BucketPolicy::Evaluate(const PolicyRequest& request) const {
  PolicyDecision decision = PolicyDecision::kNone;
  for (const Statement& statement : statements_) {
    if (!Applies(statement, request)) continue;
    if (!statement.allow) return PolicyDecision::kDeny;
    decision = PolicyDecision::kAllow;
  }
  return decision;
}

bool BucketPolicy::IsPublic() const {
  return std::any_of(statements_.begin(), statements_.end(), [](const Statement& statement) {
    const bool anyone = std::find(statement.principals.begin(), statement.principals.end(), "*") !=
                        statement.principals.end();
    const bool narrowed = std::any_of(statement.conditions.begin(), statement.conditions.end(),
                                      [](const Condition& c) { return c.key == "aws:sourceip"; });
    return statement.allow && anyone && !narrowed;
  });
}

bool BucketPolicy::UsesExistingObjectTags() const {
  return std::any_of(statements_.begin(), statements_.end(), [](const Statement& statement) {
    return std::any_of(
        statement.conditions.begin(), statement.conditions.end(),
        [](const Condition& c) { return c.key.starts_with("s3:existingobjecttag/"); });
  });
}

bool BucketPolicy::NamesPrincipal(const PolicyRequest& request) const {
  return std::any_of(statements_.begin(), statements_.end(), [&](const Statement& statement) {
    return statement.allow && std::any_of(statement.principals.begin(), statement.principals.end(),
                                          [&](const std::string& p) {
                                            return p != "*" && PrincipalMatches(p, request);
                                          });
  });
}

}  // namespace depot::server
