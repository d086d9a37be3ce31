// StreamReader: polls a stream's markers and index, and reads parts by ranged Gets.
//
// Why the reads are consistent (the writer's protocol is at the top of stream_upload.cc):
//   - A refresh reads the abort marker, then the completion marker, then the index. The writer
//     writes its last index segment before the completion marker, so an index read after the
//     completion marker was seen is final and must match it exactly (else kDataLoss).
//   - An index entry is published only after its part landed, and parts never change, so any
//     indexed range can be fetched at any later time, unless the stream was aborted or deleted
//     in between: a part that is missing is then explained by looking again (abort marker:
//     kFailedPrecondition; no index: kNotFound; else kDataLoss).
//   - Full segments never change, so they are cached and only the newest segment is re-read.
//
// State: the cache (entries_, full_ends_, tail_ends_, full_segments_, complete_, last_update_) is
// guarded by mu_, which is held across a refresh so that refreshes do not race each other. Part
// fetches run in tasks_ without the lock, from a plan made under it.
#include "depot/object/stream/stream_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "depot/core/byte_buffer.h"
#include "depot/core/executor.h"
#include "depot/core/mutex.h"
#include "depot/core/no_throw.h"
#include "depot/object/backend_util.h"
#include "depot/object/stream/stream_layout.h"

namespace depot::object {
namespace {

std::string Seconds(Clock::duration d) {
  return fmt::format("{:.3f} s", std::chrono::duration<double>(d).count());
}

}  // namespace

std::string StreamState::ToString() const {
  if (aborted) return "aborted: " + abort_reason;
  return fmt::format("{}: {} bytes in {} parts", complete ? "complete" : "in progress", available,
                     parts);
}

class StreamReader::Impl {
 public:
  Impl(ObjectStore& store, std::string key, StreamReaderOptions options, const Context& ctx)
      : store_(store),
        key_(std::move(key)),
        options_(options),
        ctx_(ctx),
        tasks_(options.executor, static_cast<size_t>(options.max_concurrency), 0) {}

  Result<StreamState> State() {
    MutexLock lock(mu_);
    return Refresh();
  }
  Result<StreamRead> ReadRange(const ByteRange& range, std::chrono::milliseconds wait);
  const std::string& key() const { return key_; }

 private:
  // The bytes [from, to) of one part.
  struct Piece {
    uint64_t part;
    uint64_t part_size;
    uint64_t from;
    uint64_t to;
  };

  // Re-reads what may have changed and returns the state.
  Result<StreamState> Refresh() DEPOT_REQUIRES(mu_);
  // The state of an aborted stream, from its abort marker.
  Result<StreamState> AbortedState(const GetResult& marker) DEPOT_REQUIRES(mu_);
  // Reads index segments from the first one not cached, up to the newest.
  Status LoadIndex() DEPOT_REQUIRES(mu_);
  StreamState Snapshot() const DEPOT_REQUIRES(mu_);
  uint64_t parts() const DEPOT_REQUIRES(mu_) { return full_ends_.size() + tail_ends_.size(); }
  uint64_t End(uint64_t part) const DEPOT_REQUIRES(mu_) {
    return part < full_ends_.size() ? full_ends_[part] : tail_ends_[part - full_ends_.size()];
  }
  uint64_t Start(uint64_t part) const DEPOT_REQUIRES(mu_) { return part == 0 ? 0 : End(part - 1); }
  // The pieces of the indexed parts that make up [begin, end).
  std::vector<Piece> Plan(ResolvedRange range) const DEPOT_REQUIRES(mu_);
  // Fetches and joins the pieces (of `range`).
  Result<Bytes> Fetch(const std::vector<Piece>& pieces, ResolvedRange range);
  Result<Bytes> FetchPiece(const Piece& piece);
  // Explains a part that the index names but the store does not have.
  Status ExplainMissingPart(const Piece& piece, const Status& error);
  void ResetCache() DEPOT_REQUIRES(mu_);
  Result<std::optional<GetResult>> GetIfExists(const std::string& object_key);
  std::string Quoted() const { return QuoteKey(key_); }

  ObjectStore& store_;
  const std::string key_;
  const StreamReaderOptions options_;
  const Context ctx_;  // every store call's and every wait's

  Mutex mu_;
  uint32_t entries_ DEPOT_GUARDED_BY(mu_) = 0;             // N, once segment 0 was read
  std::vector<uint64_t> full_ends_ DEPOT_GUARDED_BY(mu_);  // ends of the parts of full segments
  uint64_t full_segments_ DEPOT_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> tail_ends_ DEPOT_GUARDED_BY(mu_);  // the newest (partial) segment's ends
  std::optional<stream::CompleteMarker> complete_ DEPOT_GUARDED_BY(mu_);
  Clock::time_point last_update_ DEPOT_GUARDED_BY(mu_){};

  TaskGroup tasks_;  // keep last: waited for before the members its tasks use
};

Result<std::optional<GetResult>> StreamReader::Impl::GetIfExists(const std::string& object_key) {
  Result<GetResult> got =
      CallNoThrow("store call", [&] { return store_.Get(object_key, {}, ctx_); });
  if (got.ok()) return std::optional<GetResult>(*std::move(got));
  if (got.status().code() == StatusCode::kNotFound) return std::optional<GetResult>();
  return got.status().WithContext(
      fmt::format("stream {}: reading {}", Quoted(), QuoteKey(object_key)));
}

void StreamReader::Impl::ResetCache() {
  entries_ = 0;
  full_ends_.clear();
  full_segments_ = 0;
  tail_ends_.clear();
  complete_.reset();
}

StreamState StreamReader::Impl::Snapshot() const {
  StreamState state;
  state.parts = parts();
  state.available = state.parts == 0 ? 0 : End(state.parts - 1);
  state.complete = complete_.has_value();
  state.last_update = last_update_;
  return state;
}

Result<StreamState> StreamReader::Impl::AbortedState(const GetResult& marker) {
  DEPOT_ASSIGN_OR_RETURN(std::string reason,
                         stream::DecodeAbortMarker(stream::AbortedKey(key_), marker.data.view()));
  ResetCache();
  StreamState state;
  state.aborted = true;
  state.abort_reason = std::move(reason);
  state.last_update = marker.meta.last_modified;
  return state;
}

Result<StreamState> StreamReader::Impl::Refresh() {
  if (complete_) return Snapshot();  // a complete stream never changes
  DEPOT_ASSIGN_OR_RETURN(std::optional<GetResult> aborted, GetIfExists(stream::AbortedKey(key_)));
  if (aborted) return AbortedState(*aborted);
  DEPOT_ASSIGN_OR_RETURN(std::optional<GetResult> complete, GetIfExists(stream::CompleteKey(key_)));
  if (Status loaded = LoadIndex(); !loaded.ok()) {
    if (loaded.code() != StatusCode::kNotFound) return loaded;
    // No index: either there is no stream, or its writer aborted since the first look (the
    // abort marker is written before the index is deleted).
    DEPOT_ASSIGN_OR_RETURN(aborted, GetIfExists(stream::AbortedKey(key_)));
    if (!aborted) return loaded;
    return AbortedState(*aborted);
  }
  if (complete) {
    const std::string complete_key = stream::CompleteKey(key_);
    DEPOT_ASSIGN_OR_RETURN(stream::CompleteMarker marker,
                           stream::DecodeCompleteMarker(complete_key, complete->data.view()));
    const StreamState indexed = Snapshot();
    if (marker.parts != indexed.parts || marker.size != indexed.available ||
        marker.index_segment_entries != entries_) {
      return DataLossError(fmt::format(
          "stream {}: the completion marker says {} bytes in {} parts ({} per index segment), "
          "but the index holds {} bytes in {} parts ({} per segment)",
          Quoted(), marker.size, marker.parts, marker.index_segment_entries, indexed.available,
          indexed.parts, entries_));
    }
    complete_ = marker;
    last_update_ = std::max(last_update_, complete->meta.last_modified);
  }
  return Snapshot();
}

Status StreamReader::Impl::LoadIndex() {
  tail_ends_.clear();
  // Bounded by the number of segments in the store: each turn caches one more full segment.
  for (;;) {
    const uint64_t number = full_segments_;
    const std::string index_key = stream::IndexKey(key_, number);
    DEPOT_ASSIGN_OR_RETURN(std::optional<GetResult> got, GetIfExists(index_key));
    if (!got) {
      if (number > 0) return Status::Ok();  // the last segment is full: no newer parts yet
      return NotFoundError(fmt::format("no stream {}: its first index segment {} does not exist",
                                       Quoted(), QuoteKey(index_key)));
    }
    DEPOT_ASSIGN_OR_RETURN(stream::IndexSegment segment,
                           stream::DecodeIndexSegment(index_key, number, got->data.view()));
    if (number == 0) entries_ = segment.capacity;
    const uint64_t expected_base = full_ends_.empty() ? 0 : full_ends_.back();
    if (segment.capacity != entries_ || segment.base != expected_base) {
      return DataLossError(fmt::format(
          "stream {}: index segment {} holds {} entries starting at byte {}; segment 0 holds "
          "{} and the previous segment ends at byte {}",
          Quoted(), QuoteKey(index_key), segment.capacity, segment.base, entries_, expected_base));
    }
    last_update_ = std::max(last_update_, got->meta.last_modified);
    if (!segment.full()) {
      tail_ends_ = std::move(segment.ends);
      return Status::Ok();
    }
    full_ends_.insert(full_ends_.end(), segment.ends.begin(), segment.ends.end());
    ++full_segments_;
  }
}

std::vector<StreamReader::Impl::Piece> StreamReader::Impl::Plan(ResolvedRange range) const {
  std::vector<Piece> pieces;
  if (range.length() == 0) return pieces;
  // The first part that ends after range.begin.
  uint64_t low = 0;
  uint64_t high = parts();
  while (low < high) {
    const uint64_t mid = low + (high - low) / 2;
    if (End(mid) <= range.begin) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  for (uint64_t part = low; part < parts() && Start(part) < range.end; ++part) {
    const uint64_t start = Start(part);
    const uint64_t end = End(part);
    pieces.push_back({.part = part,
                      .part_size = end - start,
                      .from = std::max(range.begin, start) - start,
                      .to = std::min(range.end, end) - start});
  }
  return pieces;
}

Result<Bytes> StreamReader::Impl::FetchPiece(const Piece& piece) {
  const std::string part_key = stream::PartKey(key_, piece.part);
  GetOptions options;
  options.range = ByteRange::Bounded(piece.from, piece.to);
  Result<GetResult> got =
      CallNoThrow("store call", [&] { return store_.Get(part_key, options, ctx_); });
  if (!got.ok()) {
    return got.status().WithContext(fmt::format("stream {}: reading bytes [{}, {}) of part {}",
                                                Quoted(), piece.from, piece.to,
                                                QuoteKey(part_key)));
  }
  if (got->meta.size != piece.part_size || got->data.size() != piece.to - piece.from) {
    return DataLossError(fmt::format(
        "stream {}: part {} is {} bytes and gave {} bytes for [{}, {}); the index says it is {} "
        "bytes",
        Quoted(), QuoteKey(part_key), got->meta.size, got->data.size(), piece.from, piece.to,
        piece.part_size));
  }
  return std::move(got->data);
}

Result<Bytes> StreamReader::Impl::Fetch(const std::vector<Piece>& pieces, ResolvedRange range) {
  if (pieces.empty()) return Bytes();
  if (pieces.size() == 1) {
    Result<Bytes> one = FetchPiece(pieces.front());
    if (!one.ok() && one.status().code() == StatusCode::kNotFound) {
      return ExplainMissingPart(pieces.front(), one.status());
    }
    return one;
  }
  // Every piece is submitted (Submit blocks while the executor's queue is full, so at most
  // max_concurrency run and a bounded number wait); the results are joined in order.
  std::vector<std::future<Result<Bytes>>> fetches;
  fetches.reserve(pieces.size());
  for (const Piece& piece : pieces) {
    fetches.push_back(tasks_.Submit([this, piece] { return FetchPiece(piece); }));
  }
  ByteBuffer out(static_cast<size_t>(range.length()));
  Status first_error;
  const Piece* failed = nullptr;
  for (size_t i = 0; i < fetches.size(); ++i) {
    Result<Bytes> piece = fetches[i].get();
    if (!first_error.ok()) continue;  // still wait for every task: they use this reader
    if (!piece.ok()) {
      first_error = piece.status();
      failed = &pieces[i];
      continue;
    }
    out.Append(piece->view());
  }
  if (!first_error.ok()) {
    if (first_error.code() == StatusCode::kNotFound) {
      return ExplainMissingPart(*failed, first_error);
    }
    return first_error;
  }
  return std::move(out).Freeze();
}

Status StreamReader::Impl::ExplainMissingPart(const Piece& piece, const Status& error) {
  MutexLock lock(mu_);
  DEPOT_ASSIGN_OR_RETURN(std::optional<GetResult> aborted, GetIfExists(stream::AbortedKey(key_)));
  if (aborted) {
    DEPOT_ASSIGN_OR_RETURN(StreamState state, AbortedState(*aborted));
    return FailedPreconditionError(
        fmt::format("stream {} was aborted while being read: {}", Quoted(), state.abort_reason));
  }
  DEPOT_ASSIGN_OR_RETURN(std::optional<GetResult> first_segment,
                         GetIfExists(stream::IndexKey(key_, 0)));
  if (!first_segment) {
    ResetCache();
    return NotFoundError(
        fmt::format("stream {} was deleted while being read ({})", Quoted(), error.message()));
  }
  return DataLossError(fmt::format(
      "stream {}: the index names part {} of {} bytes, but the store does not have it ({})",
      Quoted(), piece.part, piece.part_size, error.message()));
}

Result<StreamRead> StreamReader::Impl::ReadRange(const ByteRange& range,
                                                 std::chrono::milliseconds wait) {
  if (range.kind() == ByteRange::Kind::kBounded) {
    // Checks begin <= end; no size is known yet.
    Status valid = range.Validate(UINT64_MAX).status();
    if (!valid.ok()) return valid.WithContext(fmt::format("reading stream {}", Quoted()));
  }
  // A negative wait is no wait; a year stands for "for ever" without overflowing the clock.
  wait = std::clamp<std::chrono::milliseconds>(wait, std::chrono::milliseconds(0),
                                               std::chrono::hours(24 * 365));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  Backoff backoff(options_.poll);
  // Bounded by the deadline: every turn either answers or sleeps at least poll.initial.
  for (;;) {
    std::optional<ResolvedRange> want;
    std::vector<Piece> pieces;
    StreamState state;
    {
      MutexLock lock(mu_);
      DEPOT_ASSIGN_OR_RETURN(state, Refresh());
      if (state.aborted) {
        return FailedPreconditionError(
            fmt::format("stream {} was aborted: {}", Quoted(), state.abort_reason));
      }
      if (state.complete) {
        Result<ResolvedRange> resolved = range.Validate(state.available);
        if (!resolved.ok()) {
          return resolved.status().WithContext(
              fmt::format("reading {} of stream {} (complete, {} bytes)", range.ToString(),
                          Quoted(), state.available));
        }
        want = *resolved;
      } else if (range.kind() == ByteRange::Kind::kBounded && range.end() <= state.available) {
        want = ResolvedRange{range.begin(), range.end()};
      }
      if (want) pieces = Plan(*want);
    }
    if (want) {
      DEPOT_ASSIGN_OR_RETURN(Bytes data, Fetch(pieces, *want));
      return StreamRead{.range = *want, .data = std::move(data)};
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return DeadlineExceededError(fmt::format(
          "stream {}: {} is not present after waiting {} ms{}; present: [0, {}) in {} parts, "
          "upload in progress, index last changed {} ago (store clock)",
          Quoted(), range.ToString(), wait.count(),
          range.kind() == ByteRange::Kind::kBounded
              ? ""
              : " (a range relative to the end needs the completed stream)",
          state.available, state.parts, Seconds(Clock::now() - state.last_update)));
    }
    const auto delay = backoff.Next().value_or(options_.poll.max);
    DEPOT_RETURN_IF_ERROR(
        ctx_.SleepFor(std::min<std::chrono::steady_clock::duration>(delay, deadline - now),
                      fmt::format("reading {} of stream {}", range.ToString(), Quoted())));
  }
}

Result<std::unique_ptr<StreamReader>> StreamReader::Open(ObjectStore& store, std::string key,
                                                         StreamReaderOptions options,
                                                         const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(stream::ValidateStreamKey(key));
  if (options.max_concurrency < 1) {
    return InvalidArgumentError(fmt::format(
        "stream reader: max_concurrency is {}; it must be at least 1", options.max_concurrency));
  }
  if (options.poll.initial < std::chrono::milliseconds(1) ||
      options.poll.max < options.poll.initial) {
    return InvalidArgumentError(fmt::format(
        "stream reader: poll delays {} ms .. {} ms; the first must be at least 1 ms and not "
        "above the maximum",
        options.poll.initial.count(), options.poll.max.count()));
  }
  auto impl = std::make_unique<Impl>(store, std::move(key), options, ctx);
  return std::unique_ptr<StreamReader>(new StreamReader(std::move(impl)));
}

StreamReader::StreamReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamReader::~StreamReader() = default;

Result<StreamState> StreamReader::State() { return impl_->State(); }
Result<StreamRead> StreamReader::ReadRange(const ByteRange& range, std::chrono::milliseconds wait) {
  return impl_->ReadRange(range, wait);
}
const std::string& StreamReader::key() const { return impl_->key(); }

}  // namespace depot::object
