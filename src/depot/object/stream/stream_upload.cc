// StreamUpload: the writer thread cuts parts and submits them to the upload's TaskGroup; one
// indexer thread publishes landed parts in the index, in part order.
//
// Protocol (the objects are described in stream_layout.h):
//   1. Start: List(K + "/", 1 key) must be empty; then Put K/index/0000000000 holding an empty
//      segment (PutMode::kCreate where the store has conditional puts, so that two writers racing
//      for one key cannot both start). From here the stream exists.
//   2. The writer assigns part i its offsets [start, end), appends {end, landed = false} to
//      pending_ and submits Put K/part/i to a worker. It waits while max_in_flight parts are
//      pending, which bounds both memory and how far the index may lag behind the parts.
//   3. A worker marks its part landed after its Put returned OK.
//   4. The indexer takes the run of landed parts at the head of pending_ (so never a part after a
//      gap), appends their ends to the current segment, Puts each segment that fills up (then
//      starts the next, whose base is the last end) and finally the partial segment if it changed.
//      Only after those Puts returned OK does it pop the parts from pending_. Hence an index entry
//      never names a part that has not landed, and a segment is rewritten only while it is the
//      newest one: a full segment never changes again.
//   5. Finish: ship the buffer as the last part, wait until pending_ is empty (every part landed
//      and indexed), stop the indexer, Put K/complete. Finish returns OK only after that Put.
//   6. Failure (a part, an index write, the completion marker, a limit, the producer's error, or
//      Abort): the first error is kept in error_; the indexer stops at its next step; cleanup
//      joins the indexer, waits for the parts in flight, Puts K/aborted (the reason), then deletes
//      K/complete, the index segments 0 .. (parts - 1) / N and the parts 0 .. parts - 1, which are
//      all the objects the upload can have written.
//
// Threads and state:
//   - Writer-thread state (buffer_, next_part_, bytes_*, finished_, cleaned_up_, abort_reason_,
//     indexer_) is touched only by the one thread calling the public methods.
//   - segment_ belongs to the indexer thread (started once Start has written segment 0).
//   - pending_, indexed_parts_, puts_running_, error_ and stopping_ are shared and guarded by mu_;
//     cv_ signals every change of them.
//   - The task group is the last member, so it waits for the part tasks before anything a task
//     touches is destroyed.
#include "depot/object/stream/stream_upload.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
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

constexpr uint32_t kMaxIndexSegmentEntries = 1 << 20;

Status ValidateOptions(const StreamUploadOptions& options) {
  if (options.min_part_size == 0) {
    return InvalidArgumentError("stream upload: min_part_size must be at least 1 byte");
  }
  if (options.max_part_size < options.min_part_size) {
    return InvalidArgumentError(
        fmt::format("stream upload: max_part_size {} is smaller than min_part_size {}",
                    options.max_part_size, options.min_part_size));
  }
  if (options.max_in_flight < 1) {
    return InvalidArgumentError(fmt::format(
        "stream upload: max_in_flight is {}; it must be at least 1", options.max_in_flight));
  }
  if (options.index_segment_entries < 1 ||
      options.index_segment_entries > kMaxIndexSegmentEntries) {
    return InvalidArgumentError(
        fmt::format("stream upload: index_segment_entries is {}; it must be in [1, {}]",
                    options.index_segment_entries, kMaxIndexSegmentEntries));
  }
  return Status::Ok();
}

// The cleanup of a failed or cancelled upload runs under a context of its own (the caller's may
// be what ended the upload), for at most this long per call.
Context CleanupContext() { return Context().WithTimeout(std::chrono::seconds(60)); }

}  // namespace

class StreamUpload::Impl {
 public:
  Impl(ObjectStore& store, std::string key, StreamUploadOptions options, const Context& ctx)
      : store_(store),
        key_(std::move(key)),
        options_(options),
        ctx_(ctx),
        max_delete_batch_(store.capabilities().max_delete_batch) {}

  ~Impl() {
    if (started_ && !finished_) (void)Abort("the upload was destroyed before Finish");
    StopIndexer();
  }

  // Start's I/O: creates the stream and starts the indexer.
  Status Begin();
  Status Write(std::string_view data, const Bytes* owner);
  Status WriteFrom(BoundedChannel<Bytes>& channel);
  Result<StreamSummary> Finish();
  Status Abort(std::string_view reason);

  uint64_t bytes_written() const { return bytes_written_; }
  const std::string& key() const { return key_; }

 private:
  struct Pending {
    uint64_t end;  // the stream offset after the part
    bool landed;
  };

  // Ships `part` (non-empty) as the next part, waiting for a free slot.
  Status Ship(Bytes part);
  // Runs on a worker: stores one part and reports the outcome.
  void PutPart(uint64_t number, Bytes data);
  // The indexer thread's loop.
  void IndexLoop();
  // Indexer: appends the parts ending at `ends` to the index and writes what changed.
  Status AppendToIndex(const std::vector<uint64_t>& ends);
  Status PutSegment();
  // Records `status` as the upload's failure unless one is already recorded; returns the first.
  Status Fail(Status status);
  Status PendingError() const;
  // If a failure is recorded, cleans up and returns it; else OK.
  Status CheckFailed();
  // Once: stops the indexer, waits for parts in flight, writes the abort marker and deletes what
  // the upload wrote. Returns the first error of that (OK when clean), on every call.
  Status Cleanup();
  Status DeleteWritten();
  void StopIndexer();
  std::string Quoted() const { return QuoteKey(key_); }

  ObjectStore& store_;
  const std::string key_;
  const StreamUploadOptions options_;
  const Context ctx_;  // the caller's, for every store call but the cleanup's
  const size_t max_delete_batch_;

  // Writer-thread state.
  ByteBuffer buffer_;  // capacity min_part_size once used
  uint64_t bytes_written_ = 0;
  uint64_t bytes_shipped_ = 0;
  uint64_t next_part_ = 0;
  bool started_ = false;  // segment 0 is written: from here on, failures leave an abort marker
  bool finished_ = false;
  bool cleaned_up_ = false;
  Status cleanup_status_;
  std::optional<std::string> abort_reason_;  // set by Abort(): the marker's reason
  std::thread indexer_;

  // Indexer-thread state.
  stream::IndexSegment segment_;

  // Shared between the writer, the part workers and the indexer.
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Pending> pending_ DEPOT_GUARDED_BY(mu_);  // parts submitted, not yet indexed, in order
  uint64_t indexed_parts_ DEPOT_GUARDED_BY(mu_) = 0;   // the number of the part at pending_.front()
  int puts_running_ DEPOT_GUARDED_BY(mu_) = 0;
  Status error_ DEPOT_GUARDED_BY(mu_);           // the first failure
  bool stopping_ DEPOT_GUARDED_BY(mu_) = false;  // the indexer must return

  std::unique_ptr<TaskGroup> tasks_;  // created by Begin; keep last
};

Status StreamUpload::Impl::Begin() {
  ListOptions list;
  list.prefix = key_ + "/";
  list.max_keys = 1;
  Result<ListResult> existing = store_.List(list, ctx_);
  if (!existing.ok()) {
    return existing.status().WithContext(
        fmt::format("starting stream {}: listing {}", Quoted(), QuoteKey(list.prefix)));
  }
  if (!existing->objects.empty()) {
    return AlreadyExistsError(fmt::format(
        "stream {} already exists (found object {}); DeleteStream it before starting it again",
        Quoted(), QuoteKey(existing->objects.front().key)));
  }
  segment_.number = 0;
  segment_.capacity = options_.index_segment_entries;
  segment_.base = 0;
  PutOptions put;
  if (store_.capabilities().conditional_put) put.mode = PutMode::kCreate;
  const std::string index_key = stream::IndexKey(key_, 0);
  Status created = CallNoThrow("store call", [&] {
    return store_.Put(index_key, stream::EncodeIndexSegment(segment_), put, ctx_).status();
  });
  if (!created.ok()) {
    return created.WithContext(
        fmt::format("starting stream {}: writing {}", Quoted(), QuoteKey(index_key)));
  }
  started_ = true;
  const auto threads = static_cast<size_t>(options_.max_in_flight);
  tasks_ = std::make_unique<TaskGroup>(options_.executor, threads, threads);
  indexer_ = std::thread([this] { IndexLoop(); });
  return Status::Ok();
}

Status StreamUpload::Impl::Fail(Status status) {
  MutexLock lock(mu_);
  if (error_.ok()) error_ = std::move(status);
  cv_.NotifyAll();
  return error_;
}

Status StreamUpload::Impl::PendingError() const {
  MutexLock lock(mu_);
  return error_;
}

Status StreamUpload::Impl::CheckFailed() {
  Status error = PendingError();
  if (error.ok() && (ctx_.IsCancelled() || ctx_.Expired())) {
    error = Fail(ctx_.Check(fmt::format("stream {}", Quoted())));
  }
  if (!error.ok()) (void)Cleanup();
  return error;
}

void StreamUpload::Impl::StopIndexer() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  if (indexer_.joinable()) indexer_.join();
}

Status StreamUpload::Impl::Ship(Bytes part) {
  if (next_part_ >= stream::kMaxParts) {
    Status error = Fail(ResourceExhaustedError(fmt::format(
        "stream {}: part {} would exceed the layout's limit of {} parts; raise min_part_size",
        Quoted(), next_part_, stream::kMaxParts)));
    (void)Cleanup();
    return error;
  }
  {
    MutexLock lock(mu_);
    while (!(pending_.size() < static_cast<size_t>(options_.max_in_flight) || !error_.ok()))
      cv_.Wait(lock);
    if (!error_.ok()) {
      Status error = error_;
      lock.Unlock();
      (void)Cleanup();
      return error;
    }
    pending_.push_back({bytes_shipped_ + part.size(), false});
    ++puts_running_;
  }
  const uint64_t number = next_part_++;
  bytes_shipped_ += part.size();
  // The future is not needed: the task reports through mu_, and the group outlives it.
  (void)tasks_->Submit(
      [this, number, part = std::move(part)]() mutable { PutPart(number, std::move(part)); });
  return Status::Ok();
}

void StreamUpload::Impl::PutPart(uint64_t number, Bytes data) {
  const uint64_t size = data.size();
  const std::string part_key = stream::PartKey(key_, number);
  Status put = CallNoThrow(
      "store call", [&] { return store_.Put(part_key, std::move(data), {}, ctx_).status(); });
  MutexLock lock(mu_);
  Pending& pending = pending_[static_cast<size_t>(number - indexed_parts_)];
  if (put.ok()) {
    pending.landed = true;
  } else if (error_.ok()) {
    error_ = put.WithContext(fmt::format("stream {}: writing part {} (bytes [{}, {}))", Quoted(),
                                         QuoteKey(part_key), pending.end - size, pending.end));
  }
  --puts_running_;
  cv_.NotifyAll();
}

void StreamUpload::Impl::IndexLoop() {
  MutexLock lock(mu_);
  for (;;) {
    while (!(stopping_ || !error_.ok() || (!pending_.empty() && pending_.front().landed)))
      cv_.Wait(lock);
    if (stopping_ || !error_.ok()) return;
    std::vector<uint64_t> ends;
    for (const Pending& pending : pending_) {
      if (!pending.landed) break;
      ends.push_back(pending.end);
    }
    lock.Unlock();
    Status written = AppendToIndex(ends);
    lock.Lock();
    if (!written.ok()) {
      if (error_.ok()) error_ = std::move(written);
      cv_.NotifyAll();
      return;
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(ends.size()));
    indexed_parts_ += ends.size();
    cv_.NotifyAll();
  }
}

Status StreamUpload::Impl::AppendToIndex(const std::vector<uint64_t>& ends) {
  bool dirty = false;
  for (uint64_t end : ends) {
    segment_.ends.push_back(end);
    dirty = true;
    if (segment_.full()) {
      DEPOT_RETURN_IF_ERROR(PutSegment());
      segment_.number += 1;
      segment_.base = end;
      segment_.ends.clear();
      dirty = false;
    }
  }
  if (dirty) DEPOT_RETURN_IF_ERROR(PutSegment());
  return Status::Ok();
}

Status StreamUpload::Impl::PutSegment() {
  const std::string index_key = stream::IndexKey(key_, segment_.number);
  Status put = CallNoThrow("store call", [&] {
    return store_.Put(index_key, stream::EncodeIndexSegment(segment_), {}, ctx_).status();
  });
  if (!put.ok()) {
    return put.WithContext(
        fmt::format("stream {}: writing index segment {} ({} parts, through "
                    "byte {})",
                    Quoted(), QuoteKey(index_key), segment_.ends.size(), segment_.ends.back()));
  }
  return Status::Ok();
}

Status StreamUpload::Impl::Write(std::string_view data, const Bytes* owner) {
  if (finished_) {
    return FailedPreconditionError(fmt::format("write to stream {} after Finish", Quoted()));
  }
  DEPOT_RETURN_IF_ERROR(CheckFailed());
  const uint64_t min = options_.min_part_size;
  const uint64_t max = options_.max_part_size;
  while (!data.empty()) {
    if (buffer_.empty() && data.size() >= min) {
      // Whole parts straight from the input (slices of the caller's Bytes when there is one, so
      // no copy); input beyond max_part_size is split.
      const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), max));
      Bytes part;
      if (owner != nullptr) {
        part = owner->Slice(static_cast<size_t>(data.data() - owner->data()), n);
      } else {
        part = Bytes::Copy(data.data(), n);
      }
      data.remove_prefix(n);
      bytes_written_ += n;
      DEPOT_RETURN_IF_ERROR(Ship(std::move(part)));
      continue;
    }
    if (buffer_.capacity() == 0) buffer_ = ByteBuffer(static_cast<size_t>(min));
    const size_t take = std::min(data.size(), buffer_.remaining());
    buffer_.Append(data.substr(0, take));
    data.remove_prefix(take);
    bytes_written_ += take;
    if (buffer_.remaining() == 0) DEPOT_RETURN_IF_ERROR(Ship(std::move(buffer_).Freeze()));
  }
  return Status::Ok();
}

Status StreamUpload::Impl::WriteFrom(BoundedChannel<Bytes>& channel) {
  Status failed =
      finished_ ? FailedPreconditionError(fmt::format("write to stream {} after Finish", Quoted()))
                : CheckFailed();
  if (!failed.ok()) {
    channel.Close(failed);
    return failed;
  }
  while (std::optional<Bytes> chunk = channel.Receive()) {
    Status written = Write(chunk->view(), &*chunk);
    if (!written.ok()) {
      channel.Close(written);
      return written;
    }
  }
  Status closed = channel.close_status();
  if (closed.ok()) return Status::Ok();
  Status error = Fail(closed.WithContext(
      fmt::format("stream {}: the producer closed its channel with an error", Quoted())));
  (void)Cleanup();
  return error;
}

Result<StreamSummary> StreamUpload::Impl::Finish() {
  if (finished_) {
    return FailedPreconditionError(fmt::format("stream {} is already finished", Quoted()));
  }
  DEPOT_RETURN_IF_ERROR(CheckFailed());
  if (!buffer_.empty()) DEPOT_RETURN_IF_ERROR(Ship(std::move(buffer_).Freeze()));
  {
    MutexLock lock(mu_);
    while (!(pending_.empty() || !error_.ok())) cv_.Wait(lock);
  }
  DEPOT_RETURN_IF_ERROR(CheckFailed());
  StopIndexer();
  const stream::CompleteMarker marker{.size = bytes_shipped_,
                                      .parts = next_part_,
                                      .index_segment_entries = options_.index_segment_entries};
  const std::string complete_key = stream::CompleteKey(key_);
  Status put = CallNoThrow("store call", [&] {
    return store_.Put(complete_key, stream::EncodeCompleteMarker(marker), {}, ctx_).status();
  });
  if (!put.ok()) {
    Status error = Fail(put.WithContext(
        fmt::format("stream {}: writing the completion marker {} ({} bytes in {} parts)", Quoted(),
                    QuoteKey(complete_key), marker.size, marker.parts)));
    (void)Cleanup();
    return error;
  }
  finished_ = true;
  return StreamSummary{.size = marker.size, .parts = marker.parts};
}

Status StreamUpload::Impl::Abort(std::string_view reason) {
  if (finished_) {
    return FailedPreconditionError(
        fmt::format("stream {} is finished and cannot be aborted", Quoted()));
  }
  if (!cleaned_up_) abort_reason_ = std::string(reason);
  (void)Fail(CancelledError(fmt::format("stream {} was aborted: {}", Quoted(), reason)));
  return Cleanup();
}

Status StreamUpload::Impl::Cleanup() {
  if (cleaned_up_) return cleanup_status_;
  cleaned_up_ = true;
  StopIndexer();
  {
    MutexLock lock(mu_);
    while (!(puts_running_ == 0)) cv_.Wait(lock);
  }
  buffer_ = ByteBuffer();
  const std::string reason = abort_reason_ ? *abort_reason_ : PendingError().ToString();
  const std::string aborted_key = stream::AbortedKey(key_);
  Status marker = CallNoThrow("store call", [&] {
    return store_.Put(aborted_key, stream::EncodeAbortMarker(reason), {}, CleanupContext())
        .status();
  });
  if (!marker.ok()) {
    marker = marker.WithContext(
        fmt::format("stream {}: writing the abort marker {}", Quoted(), QuoteKey(aborted_key)));
  }
  Status deleted = DeleteWritten();
  cleanup_status_ = !marker.ok() ? marker : deleted;
  return cleanup_status_;
}

Status StreamUpload::Impl::DeleteWritten() {
  const size_t batch = max_delete_batch_ > 0 ? max_delete_batch_ : size_t{1000};
  std::vector<std::string> keys;
  Status first_error;
  auto flush = [&] {
    Status deleted = CallNoThrow("store call", [&] {
      std::vector<Status> statuses = store_.DeleteMany(keys, CleanupContext());
      for (size_t i = 0; i < statuses.size() && i < keys.size(); ++i) {
        if (!statuses[i].ok())
          return statuses[i].WithContext(fmt::format("deleting {}", QuoteKey(keys[i])));
      }
      if (statuses.size() != keys.size()) {
        return InternalError(fmt::format("DeleteMany of {} keys returned {} statuses", keys.size(),
                                         statuses.size()));
      }
      return Status::Ok();
    });
    if (first_error.ok() && !deleted.ok()) {
      first_error = deleted.WithContext(fmt::format("stream {}: cleaning up", Quoted()));
    }
    keys.clear();
  };
  auto add = [&](std::string key) {
    keys.push_back(std::move(key));
    if (keys.size() == batch) flush();
  };
  // Markers and index first, so that no reader finds an index entry whose part is gone without
  // finding the abort marker first.
  add(stream::CompleteKey(key_));
  const uint64_t last_segment =
      next_part_ == 0 ? 0 : (next_part_ - 1) / options_.index_segment_entries;
  for (uint64_t s = 0; s <= last_segment; ++s) add(stream::IndexKey(key_, s));
  for (uint64_t p = 0; p < next_part_; ++p) add(stream::PartKey(key_, p));
  if (!keys.empty()) flush();
  return first_error;
}

Result<std::unique_ptr<StreamUpload>> StreamUpload::Start(ObjectStore& store, std::string key,
                                                          StreamUploadOptions options,
                                                          const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(stream::ValidateStreamKey(key));
  DEPOT_RETURN_IF_ERROR(ValidateOptions(options));
  auto impl = std::make_unique<Impl>(store, std::move(key), options, ctx);
  DEPOT_RETURN_IF_ERROR(impl->Begin());
  return std::unique_ptr<StreamUpload>(new StreamUpload(std::move(impl)));
}

StreamUpload::StreamUpload(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamUpload::~StreamUpload() = default;

Status StreamUpload::Write(std::string_view data) { return impl_->Write(data, nullptr); }
Status StreamUpload::Write(Bytes data) { return impl_->Write(data.view(), &data); }
Status StreamUpload::WriteFrom(BoundedChannel<Bytes>& channel) { return impl_->WriteFrom(channel); }
Result<StreamSummary> StreamUpload::Finish() { return impl_->Finish(); }
Status StreamUpload::Abort(std::string_view reason) { return impl_->Abort(reason); }
uint64_t StreamUpload::bytes_written() const { return impl_->bytes_written(); }
const std::string& StreamUpload::key() const { return impl_->key(); }

Result<StreamSummary> UploadStream(ObjectStore& store, std::string key,
                                   BoundedChannel<Bytes>& channel, StreamUploadOptions options,
                                   const Context& ctx) {
  Result<std::unique_ptr<StreamUpload>> upload =
      StreamUpload::Start(store, std::move(key), options, ctx);
  if (!upload.ok()) {
    channel.Close(upload.status());
    return upload.status();
  }
  DEPOT_RETURN_IF_ERROR((*upload)->WriteFrom(channel));
  Result<StreamSummary> done = (*upload)->Finish();
  if (!done.ok()) channel.Close(done.status());
  return done;
}

}  // namespace depot::object
