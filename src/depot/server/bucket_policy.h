// depot::server::BucketPolicy: a bucket policy (PutBucketPolicy's JSON document) as depot serve
// reads and applies it (internal).
//
// The grammar is S3's common subset:
//   {"Version": "2012-10-17" | "2008-10-17", "Id": ..., "Statement": [STATEMENT, ...] | STATEMENT}
//   STATEMENT: {"Sid": ..., "Effect": "Allow" | "Deny",
//               "Principal": "*" | {"AWS": P | [P, ...]},   P: "*", a canonical id or access key,
//                                                            or "arn:aws:iam::ID:root|user/NAME"
//               "Action": A | [A, ...],     A: "s3:Name" or "*", with * and ? wildcards
//               "Resource": R | [R, ...],   R: "arn:aws:s3:::BUCKET[/KEY]", wildcards allowed,
//                                              whose BUCKET part matches this bucket
//               "Condition": {OPERATOR: {KEY: V | [V, ...]}, ...}}
//   OPERATOR: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase,
//             StringLike, StringNotLike, IpAddress, NotIpAddress, Bool, Null, NumericEquals,
//             NumericNotEquals, NumericLessThan(Equals), NumericGreaterThan(Equals)
//   KEY: aws:SourceIp, aws:SecureTransport, aws:username, aws:userid, aws:PrincipalType,
//        s3:prefix, s3:delimiter, s3:max-keys, s3:VersionId, s3:x-amz-HEADER (the request's
//        header of that name), s3:ExistingObjectTag/TAG (the object's tags),
//        s3:RequestObjectTag/TAG and s3:RequestObjectTagKeys (x-amz-tagging's) (all
//        case-insensitive, tag keys included)
// Anything else (NotPrincipal, NotAction, NotResource, other operators, keys or principals) is
// refused when the policy is put (kInvalidArgument, "MalformedPolicy: ..." naming it), never
// ignored. A statement applies to a request when its principal, action and resource match and
// every condition holds; a key the request has no value for fails every operator but Null and
// the negated ones.
//
// Evaluation is S3's: an explicit Deny wins over everything; an Allow grants what it names on top
// of ownership and ACLs (access.h).
//
// Values: thread-safe once made.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"

namespace depot::server {

// What a request is, as policies see it.
struct PolicyRequest {
  std::string user;          // an access key; "" for an anonymous request
  std::string principal_id;  // the user's canonical id
  std::string action;        // "s3:GetObject"
  std::string resource;      // "arn:aws:s3:::BUCKET" or "arn:aws:s3:::BUCKET/KEY"
  // Condition keys (lower case, "aws:sourceip") and their values.
  std::map<std::string, std::vector<std::string>> context;
  // Fills in what is still empty (principal_id, action, resource) and the context keys it lacks,
  // when set: called once before a policy is evaluated, so that requests to buckets without one
  // never work them out.
  std::function<void(PolicyRequest&)> fill;
};

enum class PolicyDecision { kNone, kAllow, kDeny };

class BucketPolicy {
 public:
  // The policy of `bucket`, read from its JSON. kInvalidArgument ("MalformedPolicy: ...") for
  // a document outside the grammar above or naming resources of other buckets.
  static Result<BucketPolicy> Parse(std::string_view json, std::string_view bucket);

  PolicyDecision Evaluate(const PolicyRequest& request) const;
  // Whether an Allow statement applies to anyone at all (Principal "*") with no condition that
  // narrows who (aws:SourceIp): what S3 calls a public policy (GetBucketPolicyStatus, the
  // public access block).
  bool IsPublic() const;
  // Whether a condition tests the tags of the object the request is about (the caller then adds
  // them to the request's context as "s3:existingobjecttag/KEY").
  bool UsesExistingObjectTags() const;
  // Whether `request`'s principal is named by an Allow statement of its own (not "*").
  bool NamesPrincipal(const PolicyRequest& request) const;

 private:
  struct Condition {
    std::string op;   // as written
    std::string key;  // lower case
    std::vector<std::string> values;
  };
  struct Statement {
    bool allow = true;
    std::vector<std::string> principals;  // "*" or user names / ids
    std::vector<std::string> actions;     // lower case patterns
    std::vector<std::string> resources;   // patterns
    std::vector<Condition> conditions;
  };
  static Result<BucketPolicy> ParseChecked(std::string_view json, std::string_view bucket);
  bool Applies(const Statement& statement, const PolicyRequest& request) const;
  static bool Holds(const Condition& condition, const PolicyRequest& request);

  std::vector<Statement> statements_;
};

}  // namespace depot::server
