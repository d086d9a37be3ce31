#include "depot/s3/post_policy.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <set>

#include "depot/core/ascii.h"
#include "depot/core/base64.h"
#include "depot/s3/signer.h"
#include "depot/s3/xml.h"

namespace depot::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

Status Refused(std::string_view why) {
  return PermissionDeniedError(fmt::format("AccessDenied: Invalid according to Policy: {}", why));
}
Status BadPolicy(std::string_view why) {
  return InvalidArgumentError(fmt::format("InvalidPolicyDocument: Invalid Policy: {}", why));
}

const std::string* Field(const PostFields& fields, std::string_view name) {
  auto it = fields.find(std::string(name));
  return it == fields.end() ? nullptr : &it->second;
}

// The form field a condition names: "$key" -> "key" (lower-cased); "bucket" is the request's.
Result<std::string> ConditionField(const nlohmann::json& name) {
  if (!name.is_string()) return BadPolicy("a condition names its field with a string");
  std::string text = name.get<std::string>();
  if (text.starts_with("$")) text.erase(0, 1);
  return AsciiLower(text);
}

// The signer of a form signed the SigV2 way: AWSAccessKeyId, and signature, the base64
// HMAC-SHA1 of the base64 policy under the user's secret.
Result<std::string> VerifyV2Signature(const PostFields& fields, const SecretLookup& secrets) {
  for (std::string_view name : {"policy", "signature", "key"}) {
    if (Field(fields, name) == nullptr) {
      return InvalidArgumentError(
          fmt::format("InvalidArgument: the form has no field \"{}\" (a POST upload signed with "
                      "AWSAccessKeyId needs policy, signature and key)",
                      name));
    }
  }
  const std::string& access_key = *Field(fields, "awsaccesskeyid");
  const std::optional<std::string> secret = secrets(access_key);
  if (!secret) {
    return UnauthenticatedError(fmt::format(
        "InvalidAccessKeyId: the access key \"{}\" is not known to this server", access_key));
  }
  const std::string& policy = *Field(fields, "policy");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha1(), secret->data(), static_cast<int>(secret->size()),
           reinterpret_cast<const unsigned char*>(policy.data()), policy.size(), digest,
           &length) == nullptr) {
    return InternalError("POST upload: HMAC-SHA1 failed");
  }
  const std::string expected =
      Base64Encode(std::string_view(reinterpret_cast<const char*>(digest), length));
  if (!ConstantTimeEqual(expected, *Field(fields, "signature"))) {
    return UnauthenticatedError(
        "SignatureDoesNotMatch: the policy's signature is not the one its access key gives");
  }
  return access_key;
}

// The signer of a form signed the SigV4 way (x-amz-algorithm, x-amz-credential, x-amz-date,
// x-amz-signature).
Result<std::string> VerifyV4Signature(const PostFields& fields, const SecretLookup& secrets) {
  for (std::string_view name :
       {"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "key"}) {
    if (Field(fields, name) == nullptr) {
      return InvalidArgumentError(
          fmt::format("InvalidArgument: the form has no field \"{}\" (a POST upload needs policy, "
                      "key and the x-amz-* signing fields, or AWSAccessKeyId and signature)",
                      name));
    }
  }
  if (*Field(fields, "x-amz-algorithm") != kAlgorithm) {
    return InvalidArgumentError(fmt::format("InvalidArgument: x-amz-algorithm \"{}\" is not {}",
                                            *Field(fields, "x-amz-algorithm"), kAlgorithm));
  }
  // ACCESS/DATE/REGION/s3/aws4_request, the date that of x-amz-date.
  const std::string& credential = *Field(fields, "x-amz-credential");
  const std::string& amz_date = *Field(fields, "x-amz-date");
  std::vector<std::string> scope;
  for (size_t at = 0;;) {
    const size_t slash = credential.find('/', at);
    scope.push_back(credential.substr(at, slash - at));
    if (slash == std::string::npos) break;
    at = slash + 1;
  }
  if (scope.size() != 5 || scope[3] != "s3" || scope[4] != "aws4_request" ||
      amz_date.size() != 16 || !amz_date.starts_with(scope[1])) {
    return InvalidArgumentError(fmt::format(
        "InvalidArgument: x-amz-credential \"{}\" is not ACCESS/DATE/REGION/s3/aws4_request on "
        "the day of x-amz-date \"{}\"",
        credential, amz_date));
  }
  const std::optional<std::string> secret = secrets(scope[0]);
  if (!secret) {
    return UnauthenticatedError(fmt::format(
        "InvalidAccessKeyId: the access key \"{}\" is not known to this server", scope[0]));
  }
  const std::string key = SigningKey(*secret, {scope[2], scope[3]}, amz_date);
  if (!ConstantTimeEqual(HmacSha256Hex(key, *Field(fields, "policy")),
                         *Field(fields, "x-amz-signature"))) {
    return UnauthenticatedError(
        "SignatureDoesNotMatch: the policy's signature is not the one its credential gives");
  }
  return scope[0];
}

}  // namespace

Result<PostGrant> VerifyPostForm(const PostFields& fields, std::string_view bucket,
                                 std::string_view filename, const SecretLookup& secrets,
                                 std::chrono::system_clock::time_point now) {
  const bool v2 =
      Field(fields, "awsaccesskeyid") != nullptr && Field(fields, "x-amz-algorithm") == nullptr;
  DEPOT_ASSIGN_OR_RETURN(std::string access_key, v2 ? VerifyV2Signature(fields, secrets)
                                                    : VerifyV4Signature(fields, secrets));
  const std::string& policy = *Field(fields, "policy");
  auto decoded = Base64Decode(policy);
  if (!decoded.ok()) return BadPolicy("the policy is not base64");
  const nlohmann::json document =
      nlohmann::json::parse(*decoded, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object() || !document.contains("expiration") ||
      !document["expiration"].is_string() || !document.contains("conditions") ||
      !document["conditions"].is_array()) {
    return BadPolicy("a policy is a JSON object with \"expiration\" and \"conditions\"");
  }
  auto expiration = ParseIso8601(document["expiration"].get<std::string>());
  if (!expiration.ok()) {
    return BadPolicy(fmt::format("expiration \"{}\" is not an ISO 8601 time",
                                 document["expiration"].get<std::string>()));
  }
  if (*expiration < now) return Refused("Policy expired.");

  PostGrant grant;
  grant.access_key = std::move(access_key);
  grant.key = *Field(fields, "key");
  if (const size_t at = grant.key.find("${filename}"); at != std::string::npos) {
    grant.key.replace(at, std::string_view("${filename}").size(), filename);
  }
  // The value a condition checks: the key after substitution, the bucket of the request.
  auto value_of = [&](const std::string& name) -> std::string {
    if (name == "key") return grant.key;
    if (name == "bucket") return std::string(bucket);
    const std::string* value = Field(fields, name);
    return value == nullptr ? "" : *value;
  };
  std::set<std::string> covered = {"x-amz-signature", "policy", "file"};
  if (v2) covered.insert({"awsaccesskeyid", "signature"});
  for (const nlohmann::json& condition : document["conditions"]) {
    const std::string text = condition.dump();
    if (condition.is_object() && condition.size() == 1) {
      DEPOT_ASSIGN_OR_RETURN(std::string name, ConditionField(condition.begin().key()));
      if (!condition.begin().value().is_string()) {
        return BadPolicy(fmt::format("condition {} compares with a string", text));
      }
      covered.insert(name);
      if (value_of(name) != condition.begin().value().get<std::string>()) {
        return Refused(fmt::format("Policy Condition failed: {}", text));
      }
      continue;
    }
    if (!condition.is_array() || condition.size() != 3 || !condition[0].is_string()) {
      return BadPolicy(fmt::format("condition {} is not {{\"field\": value}} or [op, a, b]", text));
    }
    const std::string op = AsciiLower(condition[0].get<std::string>());
    if (op == "content-length-range") {
      if (!condition[1].is_number_unsigned() || !condition[2].is_number_unsigned() ||
          condition[1].get<uint64_t>() > condition[2].get<uint64_t>()) {
        return BadPolicy(
            fmt::format("condition {} is not [\"content-length-range\", min, max]", text));
      }
      grant.min_length = condition[1].get<uint64_t>();
      grant.max_length = condition[2].get<uint64_t>();
      continue;
    }
    if ((op != "eq" && op != "starts-with") || !condition[2].is_string()) {
      return BadPolicy(
          fmt::format("condition {}: the operator is eq or starts-with, on a string", text));
    }
    DEPOT_ASSIGN_OR_RETURN(std::string name, ConditionField(condition[1]));
    covered.insert(name);
    const std::string expected = condition[2].get<std::string>();
    const std::string actual = value_of(name);
    const bool holds = op == "eq" ? actual == expected : actual.starts_with(expected);
    if (!holds) return Refused(fmt::format("Policy Condition failed: {}", text));
  }
  for (const auto& [name, value] : fields) {
    if (!covered.contains(name) && !name.starts_with("x-ignore-")) {
      return Refused(fmt::format("Extra input fields: {}", name));
    }
  }
  return grant;
}

PostSigning SignPostPolicy(std::string_view access_key, std::string_view secret,
                           std::string_view region, std::string_view conditions,
                           std::chrono::system_clock::time_point now,
                           std::chrono::seconds expires) {
  PostSigning out;
  out.amz_date = FormatAmzDate(now);
  out.credential =
      fmt::format("{}/{}/{}/s3/aws4_request", access_key, out.amz_date.substr(0, 8), region);
  out.policy = Base64Encode(fmt::format("{{\"expiration\": \"{}\", \"conditions\": {}}}",
                                        FormatIso8601(now + expires), conditions));
  out.signature =
      HmacSha256Hex(SigningKey(secret, {std::string(region), "s3"}, out.amz_date), out.policy);
  return out;
}

}  // namespace depot::s3
