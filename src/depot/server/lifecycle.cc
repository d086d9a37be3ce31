#include "depot/server/lifecycle.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "depot/object/key.h"
#include "depot/server/access.h"
#include "depot/server/object_attributes.h"
#include "depot/server/operations.h"
#include "depot/server/versions.h"

namespace depot::server {
namespace {

using object::Clock;

bool Matches(const s3::LifecycleRule& rule, std::string_view key, uint64_t size,
             std::span<const s3::Tag> tags) {
  if (!rule.enabled || !key.starts_with(rule.prefix)) return false;
  if (rule.size_greater_than && size <= *rule.size_greater_than) return false;
  if (rule.size_less_than && size >= *rule.size_less_than) return false;
  return std::all_of(rule.tags.begin(), rule.tags.end(), [&](const s3::Tag& wanted) {
    return std::find(tags.begin(), tags.end(), wanted) != tags.end();
  });
}

// `days` days of `day` after `time`; with S3's own 24-hour day, rounded up to midnight UTC.
Clock::time_point After(Clock::time_point time, int days, std::chrono::seconds day) {
  const Clock::time_point end = time + day * days;
  if (day != std::chrono::hours(24)) return end;
  const Clock::time_point midnight(std::chrono::floor<std::chrono::days>(end));
  return midnight == end ? end : midnight + std::chrono::days(1);
}

bool NeedTags(std::span<const s3::LifecycleRule> rules) {
  return std::any_of(rules.begin(), rules.end(), [](const s3::LifecycleRule& rule) {
    return rule.enabled && !rule.tags.empty();
  });
}

}  // namespace

std::optional<Expiry> CurrentExpiry(std::span<const s3::LifecycleRule> rules, std::string_view key,
                                    uint64_t size, Clock::time_point modified,
                                    std::span<const s3::Tag> tags, std::chrono::seconds day) {
  std::optional<Expiry> earliest;
  for (const s3::LifecycleRule& rule : rules) {
    if ((rule.expiration_days == 0 && !rule.expiration_date) || !Matches(rule, key, size, tags)) {
      continue;
    }
    const Clock::time_point when =
        rule.expiration_date ? *rule.expiration_date : After(modified, rule.expiration_days, day);
    if (!earliest || when < earliest->when) earliest = Expiry{when, rule.id};
  }
  return earliest;
}

std::string ExpirationHeader(const Expiry& expiry) {
  // The rule's ID is printable: quotes and backslashes are escaped as in a quoted-string.
  std::string id;
  for (char c : expiry.rule_id) {
    if (c == '"' || c == '\\') id += '\\';
    id += c;
  }
  return fmt::format("expiry-date=\"{}\", rule-id=\"{}\"", s3::FormatHttpDate(expiry.when), id);
}

LifecycleWorker::Counts LifecycleWorker::RunOnce(Clock::time_point now, const Context& ctx) {
  Counts counts;
  auto buckets = access_.ListBuckets(ctx);
  if (!buckets.ok()) {
    spdlog::warn("lifecycle: cannot list the buckets: {}", buckets.status().ToString());
    return counts;
  }
  for (const BucketInfo& info : *buckets) {
    if (!info.has_lifecycle) continue;
    auto rules = access_.Lifecycle(info.name, ctx);
    Status done = rules.ok() ? RunBucket(info, *rules, now, counts, ctx) : rules.status();
    if (!done.ok()) spdlog::warn("lifecycle: bucket {}: {}", info.name, done.ToString());
  }
  return counts;
}

void LifecycleWorker::Start(std::chrono::milliseconds interval) {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this, interval] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
      lock.unlock();
      const Counts counts = RunOnce(Clock::now(), Context(stop_.token()));
      if (counts.expired + counts.markers_removed + counts.noncurrent_removed +
              counts.uploads_aborted >
          0) {
        spdlog::info(
            "lifecycle: {} objects expired, {} delete markers and {} noncurrent versions "
            "removed, {} uploads aborted",
            counts.expired, counts.markers_removed, counts.noncurrent_removed,
            counts.uploads_aborted);
      }
      lock.lock();
    }
  });
}

void LifecycleWorker::Stop() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    thread = std::move(thread_);
  }
  stop_.Cancel();  // a pass under way ends at its next store call
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

Status LifecycleWorker::RunBucket(const BucketInfo& info, std::span<const s3::LifecycleRule> rules,
                                  Clock::time_point now, Counts& counts, const Context& ctx) {
  // Uploads are aborted even when the objects' part failed.
  Status objects = info.versioning == Versioning::kOff
                       ? RunUnversioned(info, rules, now, counts, ctx)
                       : RunVersioned(info, rules, now, counts, ctx);
  Status uploads = RunUploads(info, rules, now, counts, ctx);
  return objects.ok() ? uploads : objects;
}

Status LifecycleWorker::RunUnversioned(const BucketInfo& info,
                                       std::span<const s3::LifecycleRule> rules,
                                       Clock::time_point now, Counts& counts, const Context& ctx) {
  if (std::none_of(rules.begin(), rules.end(), [](const s3::LifecycleRule& rule) {
        return rule.enabled && (rule.expiration_days > 0 || rule.expiration_date);
      })) {
    return Status::Ok();
  }
  const ObjectAttributeStore attributes(store_);
  const bool need_tags = info.tagged && NeedTags(rules);
  const std::string root = info.name + "/";
  object::ListOptions list{.prefix = root};
  while (true) {
    DEPOT_ASSIGN_OR_RETURN(object::ListResult page, store_.List(list, ctx));
    for (const object::ObjectMeta& meta : page.objects) {
      const Version version{meta.key.substr(root.size()), "null", meta.key};
      auto expire = [&]() -> Status {
        std::vector<s3::Tag> tags;
        if (need_tags) {
          DEPOT_ASSIGN_OR_RETURN(ObjectAttributes read,
                                 attributes.Read(info.name, info.owner, version, meta, ctx));
          tags = std::move(read.tags);
        }
        auto expiry = CurrentExpiry(rules, version.key, meta.size, meta.last_modified, tags, day_);
        if (!expiry || expiry->when > now) return Status::Ok();
        // What expired is this object, and the bucket is still unversioned: an object written
        // since the listing is not deleted, nor is one that has become a null version.
        auto again = store_.Head(meta.key, ctx);
        if (!again.ok()) {
          return again.status().code() == StatusCode::kNotFound ? Status::Ok() : again.status();
        }
        if (again->etag != meta.etag || again->last_modified != meta.last_modified) {
          return Status::Ok();
        }
        DEPOT_ASSIGN_OR_RETURN(BucketInfo still, access_.Lookup(info.name, ctx));
        if (still.versioning != Versioning::kOff) return Status::Ok();
        const std::vector<std::string> keys = {meta.key,
                                               ObjectAttributeStore::KeyOf(info.name, version)};
        for (const Status& deleted : store_.DeleteMany(keys, ctx)) {
          if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) return deleted;
        }
        ++counts.expired;
        return Status::Ok();
      };
      // One object that fails is logged; the others are still done.
      if (Status done = expire(); !done.ok()) {
        if (ctx.IsCancelled()) return done;
        spdlog::warn("lifecycle: {}: {}", object::QuoteKey(meta.key), done.ToString());
      }
    }
    if (page.next_continuation_token.empty()) return Status::Ok();
    list.continuation_token = page.next_continuation_token;
  }
}

Status LifecycleWorker::RunVersioned(const BucketInfo& info,
                                     std::span<const s3::LifecycleRule> rules,
                                     Clock::time_point now, Counts& counts, const Context& ctx) {
  if (std::none_of(rules.begin(), rules.end(), [](const s3::LifecycleRule& rule) {
        return rule.enabled && (rule.expiration_days > 0 || rule.expiration_date ||
                                rule.expired_object_delete_marker || rule.noncurrent_days > 0);
      })) {
    return Status::Ok();
  }
  const Versions versions(store_);
  const ObjectAttributeStore attributes(store_);
  const bool need_tags = info.tagged && NeedTags(rules);
  auto tags_of = [&](const Version& version) -> Result<std::vector<s3::Tag>> {
    if (!need_tags || version.delete_marker) return std::vector<s3::Tag>();
    DEPOT_ASSIGN_OR_RETURN(ObjectAttributes read,
                           attributes.Read(info.name, info.owner, version, version.meta, ctx));
    return std::move(read.tags);
  };
  // Removes exactly the version listed (by its store key: a null version written since has the
  // same id, "null", and stays).
  auto remove = [&](const Version& version) -> Status {
    Status removed = store_.Delete(version.store_key, ctx);
    if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
    return attributes.Remove(info.name, version, ctx);
  };
  // One key's versions, newest first.
  auto run_key = [&](const std::vector<Version>& all) -> Status {
    const std::string& key = all.front().key;
    std::vector<const Version*> kept = {&all.front()};
    // all[i] became noncurrent when all[i - 1] was written; the i - 1 before it are newer
    // noncurrent versions.
    for (size_t i = 1; i < all.size(); ++i) {
      const Version& version = all[i];
      DEPOT_ASSIGN_OR_RETURN(std::vector<s3::Tag> tags, tags_of(version));
      const bool expired = std::any_of(rules.begin(), rules.end(), [&](const auto& rule) {
        return rule.noncurrent_days > 0 && Matches(rule, key, version.meta.size, tags) &&
               i - 1 >= static_cast<size_t>(rule.newer_noncurrent_versions) &&
               After(all[i - 1].meta.last_modified, rule.noncurrent_days, day_) <= now;
      });
      if (!expired) {
        kept.push_back(&version);
        continue;
      }
      // Versions object lock holds stay, whatever the rules say.
      Status deletable = CheckVersionDeletable(store_, info, key, version.id,
                                               /*bypass_governance=*/false, now, ctx);
      if (deletable.code() == StatusCode::kPermissionDenied) {
        kept.push_back(&version);
        continue;
      }
      DEPOT_RETURN_IF_ERROR(deletable);
      DEPOT_RETURN_IF_ERROR(remove(version));
      ++counts.noncurrent_removed;
    }
    const Version& current = *kept.front();
    if (current.delete_marker) {
      if (kept.size() > 1) return Status::Ok();
      const bool expired = std::any_of(rules.begin(), rules.end(), [&](const auto& rule) {
        return rule.enabled && rule.tags.empty() && key.starts_with(rule.prefix) &&
               (rule.expired_object_delete_marker ||
                (rule.expiration_days > 0 &&
                 After(current.meta.last_modified, rule.expiration_days, day_) <= now));
      });
      if (!expired) return Status::Ok();
      DEPOT_RETURN_IF_ERROR(remove(current));
      ++counts.markers_removed;
      return Status::Ok();
    }
    DEPOT_ASSIGN_OR_RETURN(std::vector<s3::Tag> tags, tags_of(current));
    auto expiry =
        CurrentExpiry(rules, key, current.meta.size, current.meta.last_modified, tags, day_);
    if (!expiry || expiry->when > now) return Status::Ok();
    // What expired must still be the latest: a version written since the listing is not hidden.
    auto latest = versions.Find(info.name, key, std::nullopt, info.versioning, ctx);
    if (!latest.ok() || latest->store_key != current.store_key) {
      return latest.ok() || latest.status().code() == StatusCode::kNotFound ? Status::Ok()
                                                                            : latest.status();
    }
    const Version marker = Versions::Allocate(info.name, key, info.versioning, true);
    DEPOT_RETURN_IF_ERROR(store_.Put(marker.store_key, Bytes(), {}, ctx).status());
    if (marker.id == "null")
      DEPOT_RETURN_IF_ERROR(versions.RetireNulls(info.name, key, marker, ctx));
    ++counts.expired;
    return Status::Ok();
  };

  // One key that fails is logged; the others are still done.
  auto run_logged = [&](const std::vector<Version>& all) -> Status {
    Status done = run_key(all);
    if (done.ok() || ctx.IsCancelled()) return done;
    spdlog::warn("lifecycle: bucket {}, key {}: {}", info.name, object::QuoteKey(all.front().key),
                 done.ToString());
    return Status::Ok();
  };
  Versions::Query query;
  std::vector<Version> key_versions;
  while (true) {
    DEPOT_ASSIGN_OR_RETURN(Versions::Page page, versions.List(info.name, query, ctx));
    for (Version& version : page.versions) {
      if (!key_versions.empty() && key_versions.front().key != version.key) {
        DEPOT_RETURN_IF_ERROR(run_logged(key_versions));
        key_versions.clear();
      }
      key_versions.push_back(std::move(version));
    }
    if (!page.truncated) break;
    query.key_marker = page.next_key_marker;
    query.version_marker = page.next_version_marker;
  }
  return key_versions.empty() ? Status::Ok() : run_logged(key_versions);
}

Status LifecycleWorker::RunUploads(const BucketInfo& info, std::span<const s3::LifecycleRule> rules,
                                   Clock::time_point now, Counts& counts, const Context& ctx) {
  if (std::none_of(rules.begin(), rules.end(), [](const s3::LifecycleRule& rule) {
        return rule.enabled && rule.abort_multipart_days > 0;
      })) {
    return Status::Ok();
  }
  const std::string root = info.name + "/";
  DEPOT_ASSIGN_OR_RETURN(std::vector<object::MultipartUploadInfo> uploads,
                         store_.ListMultipartUploads(root, ctx));
  for (const object::MultipartUploadInfo& upload : uploads) {
    const std::string_view key = std::string_view(upload.key).substr(root.size());
    const bool expired = std::any_of(rules.begin(), rules.end(), [&](const auto& rule) {
      return rule.enabled && rule.abort_multipart_days > 0 && key.starts_with(rule.prefix) &&
             After(upload.initiated, rule.abort_multipart_days, day_) <= now;
    });
    if (!expired) continue;
    Status aborted = store_.AbortMultipart(upload.key, upload.upload_id, ctx);
    if (!aborted.ok() && aborted.code() != StatusCode::kNotFound) return aborted;
    DEPOT_RETURN_IF_ERROR(
        ObjectAttributeStore(store_).Take(info.name, upload.upload_id, ctx).status());
    if (aborted.ok()) ++counts.uploads_aborted;
  }
  return Status::Ok();
}

}  // namespace depot::server
