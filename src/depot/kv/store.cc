#include "depot/kv/store.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "depot/core/quote.h"

namespace depot::kv {
namespace {

// OK while `ctx` lets a call go on; else its status naming the call.
Status CheckContext(const Context& ctx, std::string_view what, std::string_view space) {
  if (!ctx.IsCancelled() && !ctx.Expired()) return Status::Ok();  // no message to build
  return ctx.Check(fmt::format("kv {} in space {}", what, Quote(space)));
}

Status ValidateKey(std::string_view space, std::string_view key, size_t max_key_bytes) {
  if (key.empty()) {
    return InvalidArgumentError(fmt::format("space {}: keys must not be empty", Quote(space)));
  }
  if (key.size() > max_key_bytes) {
    return InvalidArgumentError(
        fmt::format("space {}: key {} is {} bytes; this store takes keys of at most {} bytes",
                    Quote(space), Quote(key.substr(0, 64)), key.size(), max_key_bytes));
  }
  return Status::Ok();
}

Status ValidateOp(const WriteBatch::Op& op, size_t index, size_t max_key_bytes) {
  const auto in_op = [&](Status status) {
    return status.WithContext(fmt::format("operation {} of the batch", index));
  };
  if (Status name = ValidateSpaceName(op.space); !name.ok()) return in_op(std::move(name));
  switch (op.kind) {
    case WriteBatch::Kind::kPut:
      if (Status key = ValidateKey(op.space, op.key, max_key_bytes); !key.ok()) {
        return in_op(std::move(key));
      }
      if (op.value.size() > kMaxValueBytes) {
        return in_op(InvalidArgumentError(fmt::format(
            "space {}: the value of key {} is {} bytes; values are at most {} bytes",
            Quote(op.space), Quote(op.key.substr(0, 64)), op.value.size(), kMaxValueBytes)));
      }
      return Status::Ok();
    case WriteBatch::Kind::kDelete:
      if (Status key = ValidateKey(op.space, op.key, max_key_bytes); !key.ok()) {
        return in_op(std::move(key));
      }
      return Status::Ok();
    case WriteBatch::Kind::kDeleteRange:
      // Bounds need not be keys of this store's size limit: any byte strings order the range.
      return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace

Status ValidateSpaceName(std::string_view space) {
  const bool ok_chars = std::all_of(space.begin(), space.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
  if (space.empty() || space.size() > kMaxSpaceNameBytes || !ok_chars) {
    return InvalidArgumentError(fmt::format(
        "state space name {} is not 1..{} characters of A-Z, a-z, 0-9, '_', '.' and '-'",
        Quote(space), kMaxSpaceNameBytes));
  }
  return Status::Ok();
}

Status UnknownSpaceError(std::string_view space, const std::vector<std::string>& spaces) {
  std::vector<std::string> quoted;
  quoted.reserve(spaces.size());
  for (const std::string& name : spaces) quoted.push_back(Quote(name));
  return NotFoundError(
      fmt::format("state space {} does not exist (the store has: {})", Quote(space),
                  quoted.empty() ? "none" : fmt::format("{}", fmt::join(quoted, ", "))));
}

std::optional<std::string> PrefixSuccessor(std::string_view prefix) {
  std::string successor(prefix);
  while (!successor.empty() && static_cast<unsigned char>(successor.back()) == 0xFF) {
    successor.pop_back();
  }
  if (successor.empty()) return std::nullopt;
  successor.back() = static_cast<char>(static_cast<unsigned char>(successor.back()) + 1);
  return successor;
}

Status Store::CreateSpace(std::string_view space, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "create", space));
  DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
  return DoCreateSpace(space);
}

Result<std::optional<std::string>> Store::Get(std::string_view space, std::string_view key,
                                              const ReadOptions& options, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "get", space));
  DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
  DEPOT_RETURN_IF_ERROR(ValidateKey(space, key, capabilities().max_key_bytes));
  return DoGet(space, key, options);
}

Result<std::vector<std::optional<std::string>>> Store::MultiGet(std::string_view space,
                                                                std::span<const std::string> keys,
                                                                const ReadOptions& options,
                                                                const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "multi-get", space));
  DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
  const size_t max_key = capabilities().max_key_bytes;
  for (const std::string& key : keys) DEPOT_RETURN_IF_ERROR(ValidateKey(space, key, max_key));
  return DoMultiGet(space, keys, options);
}

Status Store::Commit(const WriteBatch& batch, Durability durability, const Context& ctx) {
  if (!batch.empty()) DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "commit", batch.ops()[0].space));
  const size_t max_key = capabilities().max_key_bytes;
  for (size_t i = 0; i < batch.ops().size(); ++i) {
    DEPOT_RETURN_IF_ERROR(ValidateOp(batch.ops()[i], i, max_key));
  }
  if (batch.empty()) return Status::Ok();
  return DoCommit(batch, durability);
}

Result<std::unique_ptr<Iterator>> Store::Scan(std::string_view space, const ScanOptions& options,
                                              const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "scan", space));
  DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
  if (!options.end.empty() && options.begin > options.end) {
    return InvalidArgumentError(
        fmt::format("space {}: scan from {} to {}: the range ends before it begins", Quote(space),
                    Quote(options.begin), Quote(options.end)));
  }
  return DoScan(space, options);
}

Result<std::unique_ptr<Iterator>> Store::PrefixScan(std::string_view space, std::string_view prefix,
                                                    bool reverse, const ReadOptions& options,
                                                    const Context& ctx) {
  ScanOptions scan;
  scan.begin = std::string(prefix);
  scan.end = PrefixSuccessor(prefix).value_or(std::string());
  scan.reverse = reverse;
  scan.snapshot = options.snapshot;
  return Scan(space, scan, ctx);
}

Result<std::shared_ptr<const Snapshot>> Store::GetSnapshot(const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "snapshot", ""));
  return DoGetSnapshot();
}

Result<uint64_t> Store::ApproximateSize(std::string_view space, std::string_view begin,
                                        std::string_view end, const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "size", space));
  DEPOT_RETURN_IF_ERROR(ValidateSpaceName(space));
  return DoApproximateSize(space, begin, end);
}

Result<std::vector<SpaceStats>> Store::Stats(const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "stats", ""));
  return DoStats();
}

Result<std::vector<std::string>> Store::Checkpoint(const std::string& directory,
                                                   const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "checkpoint", ""));
  if (directory.empty()) return InvalidArgumentError("kv checkpoint: no directory given");
  std::error_code ec;
  if (std::filesystem::exists(directory, ec)) {
    return AlreadyExistsError(
        fmt::format("kv checkpoint of {}: {} exists already", ToString(), Quote(directory)));
  }
  return DoCheckpoint(directory);
}

Result<std::vector<std::string>> Store::DoCheckpoint(const std::string& /*directory*/) {
  return UnimplementedError(
      fmt::format("kv store {} keeps nothing on disk to checkpoint", ToString()));
}

Result<std::vector<std::optional<std::string>>> Store::DoMultiGet(std::string_view space,
                                                                  std::span<const std::string> keys,
                                                                  const ReadOptions& options) {
  ReadOptions consistent = options;
  if (consistent.snapshot == nullptr && capabilities().snapshots) {
    DEPOT_ASSIGN_OR_RETURN(consistent.snapshot, DoGetSnapshot());
  }
  std::vector<std::optional<std::string>> values;
  values.reserve(keys.size());
  for (const std::string& key : keys) {
    DEPOT_ASSIGN_OR_RETURN(std::optional<std::string> value, DoGet(space, key, consistent));
    values.push_back(std::move(value));
  }
  return values;
}

Result<std::shared_ptr<const Snapshot>> Store::DoGetSnapshot() {
  return UnimplementedError(fmt::format("kv store {} has no snapshots", ToString()));
}

}  // namespace depot::kv
