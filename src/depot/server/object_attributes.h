// depot::server::ObjectAttributes: what S3 lets change about an object after it is written (its
// owner and ACL; its tags), kept beside the object in a small object of their own (internal):
//
//     "_attrs/B/" + KeyPart(KEY) + VERSION        (VERSION: the version's id, or "null")
//
// (or, where that passes the store's 1024 bytes, "_attrs/B/\x01" + hex SHA-256 of KEY + "/" +
// VERSION),
// holding one JSON object: {"etag", "modified" (ns), "owner" (an access key), "acl" (a grants
// line, acl.h), "tags" (an x-amz-tagging line), "mode" and "until" (ns) of a retention, "hold"}.
// They belong to the object only while its ETag and modification time are the ones recorded: an
// object overwritten since (in a bucket without versioning) has none, so writes that set nothing
// never touch them, and a crash between an object's write and its attributes' leaves it with none:
// owned by the bucket's owner, private, untagged, never more open than asked. An object without
// attributes is the bucket owner's, with the owner's full control as its ACL.
//
// Thread-safe: every call reads the store afresh.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/context.h"
#include "depot/core/result.h"
#include "depot/object/store.h"
#include "depot/s3/xml.h"
#include "depot/server/acl.h"
#include "depot/server/versions.h"

namespace depot::server {

inline constexpr std::string_view kAttributeRoot = "_attrs/";

struct ObjectAttributes {
  Acl acl;  // its owner is the object's
  std::vector<s3::Tag> tags;
  // Object lock: a retention (GOVERNANCE or COMPLIANCE until a date; empty mode: none) and a
  // legal hold.
  std::string retention_mode;
  object::Clock::time_point retain_until;
  bool legal_hold = false;
  // A pending multipart upload's encryption record (encryption.h): its parts are sealed by it.
  std::string sealing;
  // Whether the version may not be deleted at `now`: a legal hold, or a retention in force
  // (GOVERNANCE ones unless `bypass_governance`).
  bool Locked(object::Clock::time_point now, bool bypass_governance) const {
    const bool retained = !retention_mode.empty() && retain_until > now;
    return legal_hold || (retained && (retention_mode == "COMPLIANCE" || !bypass_governance));
  }
};

class ObjectAttributeStore {
 public:
  // The store must outlive this.
  explicit ObjectAttributeStore(object::ObjectStore& store) : store_(store) {}

  // The attributes of `version` of a key in `bucket` (owned by `bucket_owner`), whose stored
  // object is `meta`: the recorded ones, or the defaults when none are recorded for it.
  Result<ObjectAttributes> Read(std::string_view bucket, std::string_view bucket_owner,
                                const Version& version, const object::ObjectMeta& meta,
                                const Context& ctx) const;
  // Records them for that object, replacing any recorded (a new object's).
  Status Write(std::string_view bucket, const Version& version, const object::ObjectMeta& meta,
               const ObjectAttributes& attributes, const Context& ctx) const;
  // Changes the recorded ones with `change`, atomically with respect to other changes where the
  // store has conditional writes (read, changed and written only if still the same; retried),
  // so that changes of different attributes (a tag and a legal hold) never undo each other.
  Status Update(std::string_view bucket, std::string_view bucket_owner, const Version& version,
                const object::ObjectMeta& meta,
                const std::function<void(ObjectAttributes&)>& change, const Context& ctx) const;
  // Removes the attributes of `version` (its object is gone).
  Status Remove(std::string_view bucket, const Version& version, const Context& ctx) const;
  // The attributes a multipart upload's object will get (its ACL and tags, asked for when it
  // began), kept in "_uploads/B/UPLOAD-ID" until it completes: Take reads and removes them
  // (nullopt: none were kept).
  Status Keep(std::string_view bucket, std::string_view upload_id,
              const ObjectAttributes& attributes, const Context& ctx) const;
  Result<std::optional<ObjectAttributes>> Take(std::string_view bucket, std::string_view upload_id,
                                               const Context& ctx) const;
  // The same without removing them (ListParts names the upload's owner).
  Result<std::optional<ObjectAttributes>> Peek(std::string_view bucket, std::string_view upload_id,
                                               const Context& ctx) const;
  // Where the attributes of `version` of a key in `bucket` are kept.
  static std::string KeyOf(std::string_view bucket, const Version& version);
  // Removes every attribute of `bucket`, its uploads' included (it is gone).
  Status RemoveAll(std::string_view bucket, const Context& ctx) const;

 private:
  object::ObjectStore& store_;
};

}  // namespace depot::server
