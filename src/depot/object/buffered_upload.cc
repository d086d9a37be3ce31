// BufferedUpload: the writer thread cuts parts and hands them to the upload's TaskGroup (on the
// executor the options name, or on the upload's own); the tasks only run PutPart and report back
// under `mu_`.
//
// Threads and state:
//   - Writer-thread state (buffer_, target_, next_part_, upload_id_, finished_, ...) is touched
//     only by the one thread that calls Write/Finish/Abort (the class is not thread-safe).
//     upload_id_ is set before the first part is submitted and never changes afterwards, so the
//     workers may read it (the executor's queue orders the write before their reads).
//   - in_flight_, error_ and done_ are shared with the workers and guarded by mu_; cv_ signals
//     every change of in_flight_ or error_.
//   - The task group is the last member, so it waits for every part task (and joins its own
//     workers, if it has them) before anything a part task touches is destroyed.
//
// Failure: the first error (a part, CreateMultipart, Complete, a limit, or the caller's Abort)
// is kept in error_. The next writer-thread call waits until no part is in flight and aborts the
// multipart upload once; from then on every call returns that first error.
#include "depot/object/buffered_upload.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>

#include "depot/core/base64.h"
#include "depot/core/byte_buffer.h"
#include "depot/core/cancellation.h"
#include "depot/core/mutex.h"
#include "depot/core/no_throw.h"
#include "depot/object/backend_util.h"

namespace depot::object {
namespace {

// A geometric upload doubles its largest part size after this many parts (see the header).
constexpr int kPartsPerEscalation = 1000;
// How long aborting a failed or cancelled upload may take.
constexpr auto kCleanupTimeout = std::chrono::seconds(60);

}  // namespace

class BufferedUpload::Impl {
 public:
  Impl(ObjectStore& store, std::string key, BufferedUploadOptions options, Capabilities caps,
       const Context& ctx)
      : store_(store),
        key_(std::move(key)),
        options_(std::move(options)),
        caps_(caps),
        cancel_(ctx.token()),
        ctx_(ctx.WithToken(cancel_.token())),
        target_(options_.part_size.min()),
        max_part_(options_.part_size.max()),
        keep_checksums_(options_.checksum.has_value() && caps_.checksums) {
    if (options_.checksum) whole_.emplace(*options_.checksum);
    if (options_.size_hint > 0 && caps_.max_parts > 0) {
      // The smallest part size that fits the hinted size in max_parts.
      const uint64_t parts = static_cast<uint64_t>(caps_.max_parts);
      uint64_t needed = (options_.size_hint + parts - 1) / parts;
      if (caps_.max_part_size > 0) needed = std::min(needed, caps_.max_part_size);
      target_ = std::max(target_, needed);
      max_part_ = std::max(max_part_, needed);
    }
  }

  ~Impl() {
    if (!finished_) (void)Abort();
  }

  Status Write(std::string_view data, const Bytes* owner);
  // Finish, keeping `given` where it can (see BufferedUpload::FinishChecked); empty: none.
  Result<PutResult> Finish(const Checksum& given);
  Status Abort();

  uint64_t bytes_written() const { return bytes_written_; }
  const std::vector<uint64_t>& part_sizes() const { return part_sizes_; }
  const std::string& content_digest() const { return digest_; }

 private:
  // Ships `part` as the next part (non-final parts must be at least the policy's target).
  Status Ship(Bytes part);
  // Ships the buffer as one part and starts a new, empty buffer.
  Status ShipBuffer();
  // Runs on a worker: uploads one part and reports the outcome.
  void UploadPart(int number, Bytes part);
  // Records `status` as the upload's failure unless one is already recorded; returns the first.
  Status Fail(Status status);
  // The recorded failure, or OK.
  Status PendingError() const;
  // Waits for every part in flight, then aborts the multipart upload (once). Returns the abort's
  // status (OK when there was nothing to abort or it was aborted before).
  Status Cleanup();
  // If a failure is recorded, or the context ended, cleans up and returns it; else OK.
  Status CheckFailed();
  std::string Quoted() const { return QuoteKey(key_); }
  // The checksum a store that keeps them is sent with `data`, of algorithm options_.checksum.
  Checksum ChecksumOf(std::string_view digest) const {
    return {std::string(PayloadChecksum::Name(*options_.checksum)), Base64Encode(digest), false};
  }
  // With a CRC kept per part: OK when the parts' CRCs, joined, are `digest` (the whole content's),
  // checked before the object is completed.
  Status CheckPartCrcs(const std::vector<PartInfo>& parts, const std::string& digest) const;
  // kDataLoss when `given` is of options_.checksum's algorithm but not `digest` (the bytes
  // written); OK otherwise (nothing to compare it with).
  Status CheckGiven(const Checksum& given, const std::string& digest) const;
  // Puts a part with its checksum (keep_checksums_), computed here on the part's worker.
  Result<PartInfo> PutCheckedPart(int number, const Bytes& part);

  ObjectStore& store_;
  const std::string key_;
  const BufferedUploadOptions options_;
  const Capabilities caps_;
  CancellationSource cancel_;  // the caller's token's child: cancelled by the first failure
  const Context ctx_;          // every store call's: the caller's deadline, cancel_'s token

  // Writer-thread state.
  ByteBuffer buffer_;  // capacity: one part of the largest size, reserved at each part's start
  uint64_t target_;    // the size at which the current part is cut
  uint64_t max_part_;  // the largest part size: the policy's, raised by size_hint and escalation
  uint64_t bytes_written_ = 0;
  uint64_t bytes_shipped_ = 0;
  int next_part_ = 1;
  const bool keep_checksums_;             // options_.checksum, and the store keeps checksums
  std::optional<PayloadChecksum> whole_;  // of everything written, when options_.checksum
  std::string digest_;                    // whole_'s, once finished
  std::string upload_id_;                 // empty until the first part is shipped
  bool finished_ = false;
  bool cleaned_up_ = false;
  std::vector<uint64_t> part_sizes_;

  // Shared with the part workers.
  mutable Mutex mu_;
  CondVar cv_;
  int in_flight_ DEPOT_GUARDED_BY(mu_) = 0;
  Status error_ DEPOT_GUARDED_BY(mu_);                // the first failure
  std::vector<PartInfo> done_ DEPOT_GUARDED_BY(mu_);  // completed parts, in completion order

  std::unique_ptr<TaskGroup> tasks_;  // created with the multipart upload; keep last
};

Status BufferedUpload::Impl::Fail(Status status) {
  MutexLock lock(mu_);
  if (error_.ok()) {
    error_ = std::move(status);
    cancel_.Cancel();  // parts still in flight stop early: the upload is lost anyway
  }
  cv_.NotifyAll();
  return error_;
}

Status BufferedUpload::Impl::PendingError() const {
  MutexLock lock(mu_);
  return error_;
}

Status BufferedUpload::Impl::Cleanup() {
  {
    MutexLock lock(mu_);
    while (!(in_flight_ == 0)) cv_.Wait(lock);
  }
  buffer_ = ByteBuffer();
  if (cleaned_up_ || upload_id_.empty()) return Status::Ok();
  cleaned_up_ = true;
  // Under a context of its own: the caller's may be what ended the upload.
  return store_.AbortMultipart(key_, upload_id_, Context().WithTimeout(kCleanupTimeout))
      .WithContext(fmt::format("aborting the multipart upload of key {}", Quoted()));
}

Status BufferedUpload::Impl::CheckFailed() {
  Status error = PendingError();
  if (error.ok() && (ctx_.IsCancelled() || ctx_.Expired())) {
    error = Fail(ctx_.Check(fmt::format("upload of key {}", Quoted())));
  }
  if (!error.ok()) (void)Cleanup();
  return error;
}

void BufferedUpload::Impl::UploadPart(int number, Bytes part) {
  const uint64_t size = part.size();
  // A store that throws (bad_alloc, say) must still count the part as done, or Finish would wait
  // for it for ever: the exception becomes the upload's error.
  Result<PartInfo> info = CallNoThrow("PutPart", [&] {
    if (keep_checksums_) return PutCheckedPart(number, part);
    return store_.PutPart(key_, upload_id_, number, std::move(part), ctx_);
  });
  MutexLock lock(mu_);
  if (info.ok()) {
    done_.push_back(*info);
  } else if (error_.ok()) {
    error_ = info.status().WithContext(
        fmt::format("upload of key {}: part {} ({} bytes)", Quoted(), number, size));
  }
  --in_flight_;
  cv_.NotifyAll();
}

Status BufferedUpload::Impl::CheckPartCrcs(const std::vector<PartInfo>& parts,
                                           const std::string& digest) const {
  if (!keep_checksums_ || !PayloadChecksum::IsCrc(*options_.checksum)) return Status::Ok();
  std::string joined;
  for (const PartInfo& part : parts) {
    if (part.checksum.empty()) {
      return FailedPreconditionError(fmt::format(
          "upload of key {}: the store kept no {} of part {}, so none can be kept for the object "
          "(does the service keep checksums?); nothing was completed",
          Quoted(), PayloadChecksum::Name(*options_.checksum), part.part_number));
    }
    Result<std::string> crc = Base64Decode(part.checksum);
    if (!crc.ok()) return crc.status().WithContext(fmt::format("part {}", part.part_number));
    std::optional<std::string> next =
        joined.empty() ? std::optional<std::string>(*crc)
                       : PayloadChecksum::Combine(*options_.checksum, joined, *crc, part.size);
    if (!next) {
      return DataLossError(fmt::format("upload of key {}: part {} kept no usable {}", Quoted(),
                                       part.part_number,
                                       PayloadChecksum::Name(*options_.checksum)));
    }
    joined = *std::move(next);
  }
  if (joined != digest) {
    return DataLossError(fmt::format(
        "upload of key {}: the parts' {}s join to {}, but the bytes written have {}; nothing was "
        "completed",
        Quoted(), PayloadChecksum::Name(*options_.checksum), Base64Encode(joined),
        Base64Encode(digest)));
  }
  return Status::Ok();
}

Status BufferedUpload::Impl::CheckGiven(const Checksum& given, const std::string& digest) const {
  if (given.empty() || !keep_checksums_ ||
      PayloadChecksum::FromName(given.algorithm) != options_.checksum ||
      given.value == Base64Encode(digest)) {
    return Status::Ok();
  }
  return DataLossError(fmt::format(
      "upload of key {}: the {} given at the end, {}, is not that of the bytes written, {}; "
      "nothing was stored",
      Quoted(), given.algorithm, given.value, Base64Encode(digest)));
}

Result<PartInfo> BufferedUpload::Impl::PutCheckedPart(int number, const Bytes& part) {
  PayloadChecksum checksum(*options_.checksum);
  checksum.Update(part.view());
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<PartWriter> writer,
                         store_.OpenPartWriter(key_, upload_id_, number, ctx_));
  DEPOT_RETURN_IF_ERROR(writer->Write(part.view()));
  return writer->FinishChecked(ChecksumOf(checksum.Finish()));
}

Status BufferedUpload::Impl::Ship(Bytes part) {
  if (caps_.max_parts > 0 && next_part_ > caps_.max_parts) {
    Status error = Fail(ResourceExhaustedError(fmt::format(
        "upload of key {}: part {} ({} bytes) would exceed the store's limit of {} parts after "
        "{} bytes; part sizes are {}..{} bytes, raise the policy's maximum",
        Quoted(), next_part_, part.size(), caps_.max_parts, bytes_shipped_,
        options_.part_size.min(), options_.part_size.max())));
    (void)Cleanup();
    return error;
  }
  if (upload_id_.empty()) {
    PutOptions create = options_.put_options;  // the condition goes with the completion
    create.mode = PutMode::kOverwrite;
    create.if_match.clear();
    if (keep_checksums_) {
      // The object's checksum is made from the parts' (see the header).
      create.checksum = {std::string(PayloadChecksum::Name(*options_.checksum)), "",
                         !PayloadChecksum::IsCrc(*options_.checksum)};
    }
    Result<std::string> id = store_.CreateMultipart(key_, create, ctx_);
    if (!id.ok()) {
      return Fail(id.status().WithContext(
          fmt::format("starting the multipart upload of key {}", Quoted())));
    }
    upload_id_ = *std::move(id);
    const auto threads = static_cast<size_t>(options_.max_in_flight);
    tasks_ = std::make_unique<TaskGroup>(options_.executor, threads, threads);
  }
  {
    MutexLock lock(mu_);
    while (!(in_flight_ < options_.max_in_flight || !error_.ok())) cv_.Wait(lock);
    if (!error_.ok()) {
      Status error = error_;
      lock.Unlock();
      (void)Cleanup();
      return error;
    }
    ++in_flight_;
  }
  const int number = next_part_++;
  part_sizes_.push_back(part.size());
  bytes_shipped_ += part.size();
  if (!options_.part_size.fixed()) {
    // Only where the store limits the part count, and never where parts must be equal.
    if (caps_.max_parts > 0 && !caps_.equal_parts_required && number % kPartsPerEscalation == 0) {
      // Escalation: without it, a stream of unknown size would run out of parts.
      const uint64_t limit = caps_.max_part_size > 0 ? caps_.max_part_size : max_part_ * 2;
      max_part_ = std::min(max_part_ * 2, std::max(limit, max_part_));
    }
    target_ = std::min(target_ * 2, max_part_);
  }
  // The future is not needed: the task reports through mu_, and the group outlives it.
  (void)tasks_->Submit(
      [this, number, part = std::move(part)]() mutable { UploadPart(number, std::move(part)); });
  return Status::Ok();
}

Status BufferedUpload::Impl::ShipBuffer() { return Ship(std::move(buffer_).Freeze()); }

Status BufferedUpload::Impl::Write(std::string_view data, const Bytes* owner) {
  if (finished_) {
    return FailedPreconditionError(
        fmt::format("write to the upload of key {} after Finish", Quoted()));
  }
  DEPOT_RETURN_IF_ERROR(CheckFailed());
  if (whole_) whole_->Update(data);
  while (!data.empty()) {
    if (buffer_.empty() && data.size() >= target_) {
      // A whole part straight from the input: Convex's fast path (a slice of the caller's Bytes
      // when we have one, so no copy), which also splits oversized input at the largest part size.
      const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), max_part_));
      Bytes part;
      if (owner != nullptr) {
        part = owner->Slice(static_cast<size_t>(data.data() - owner->data()), n);
      } else {
        ByteBuffer copy(n);
        copy.Append(data.substr(0, n));
        part = std::move(copy).Freeze();
      }
      data.remove_prefix(n);
      bytes_written_ += n;
      DEPOT_RETURN_IF_ERROR(Ship(std::move(part)));
      continue;
    }
    // The buffer never grows: it is reserved at the largest part size once, and its pages become
    // resident only as they are filled (see ByteBuffer), so no part is ever held twice.
    if (buffer_.capacity() == 0) buffer_ = ByteBuffer(static_cast<size_t>(max_part_));
    const size_t take = std::min(data.size(), buffer_.remaining());
    buffer_.Append(data.substr(0, take));
    data.remove_prefix(take);
    bytes_written_ += take;
    if (buffer_.size() >= target_) DEPOT_RETURN_IF_ERROR(ShipBuffer());
  }
  return Status::Ok();
}

Result<PutResult> BufferedUpload::Impl::Finish(const Checksum& given) {
  if (finished_) {
    return FailedPreconditionError(
        fmt::format("the upload of key {} is already finished", Quoted()));
  }
  DEPOT_RETURN_IF_ERROR(CheckFailed());
  if (!given.empty() && !caps_.checksums) {
    return UnimplementedError(
        fmt::format("upload of key {}: this store does not keep checksums ({} given)", Quoted(),
                    given.algorithm));
  }
  std::string digest = whole_ ? whole_->Finish() : std::string();
  whole_.reset();
  if (upload_id_.empty()) {
    // Nothing shipped: a small object, stored with one Put and no multipart upload at all.
    Bytes data = std::move(buffer_).Freeze();
    PutOptions put_options = options_.put_options;
    if (keep_checksums_) put_options.checksum = ChecksumOf(digest);
    if (Status same = CheckGiven(given, digest); !same.ok()) return Fail(std::move(same));
    if (!given.empty()) put_options.checksum = given;
    Result<PutResult> put = store_.Put(key_, std::move(data), put_options, ctx_);
    if (!put.ok()) return Fail(put.status().WithContext(fmt::format("upload of key {}", Quoted())));
    finished_ = true;
    digest_ = std::move(digest);
    return put;
  }
  if (!buffer_.empty()) DEPOT_RETURN_IF_ERROR(ShipBuffer());
  std::vector<PartInfo> parts;
  {
    MutexLock lock(mu_);
    while (!(in_flight_ == 0)) cv_.Wait(lock);
    parts = done_;
  }
  DEPOT_RETURN_IF_ERROR(CheckFailed());
  std::sort(parts.begin(), parts.end(),
            [](const PartInfo& a, const PartInfo& b) { return a.part_number < b.part_number; });
  // A checksum given of the algorithm computed must be of the bytes written, before completion.
  if (Status same = CheckGiven(given, digest); !same.ok()) {
    Status error = Fail(std::move(same));
    (void)Cleanup();
    return error;
  }
  if (Status same = CheckPartCrcs(parts, digest); !same.ok()) {
    Status error = Fail(std::move(same));
    (void)Cleanup();
    return error;
  }
  Result<PutResult> done = store_.CompleteMultipart(
      key_, upload_id_, parts, {options_.put_options.mode, options_.put_options.if_match}, ctx_);
  if (!done.ok()) {
    Status error = Fail(done.status().WithContext(
        fmt::format("completing the upload of key {} ({} parts)", Quoted(), parts.size())));
    (void)Cleanup();
    return error;
  }
  finished_ = true;
  digest_ = std::move(digest);
  return done;
}

Status BufferedUpload::Impl::Abort() {
  if (finished_) {
    return FailedPreconditionError(
        fmt::format("the upload of key {} is finished and cannot be aborted", Quoted()));
  }
  (void)Fail(CancelledError(fmt::format("the upload of key {} was aborted", Quoted())));
  return Cleanup();
}

Result<std::unique_ptr<BufferedUpload>> BufferedUpload::Start(ObjectStore& store, std::string key,
                                                              BufferedUploadOptions options,
                                                              const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  const Capabilities caps = store.capabilities();
  const uint64_t min = options.part_size.min();
  const uint64_t max = options.part_size.max();
  if (!caps.multipart) {
    return UnimplementedError(fmt::format(
        "store {} does not support multipart uploads, which BufferedUpload needs to stream key {} "
        "in bounded memory; use Put for whole objects",
        store.ToString(), QuoteKey(key)));
  }
  if (min == 0) return InvalidArgumentError("part size policy: the minimum part size must be > 0");
  if (min > max) {
    return InvalidArgumentError(fmt::format(
        "part size policy: minimum part size {} is larger than the maximum {}", min, max));
  }
  if (caps.max_part_size > 0 && max > caps.max_part_size) {
    return InvalidArgumentError(
        fmt::format("part size policy: maximum part size {} exceeds the store's limit of {} bytes",
                    max, caps.max_part_size));
  }
  if (min < caps.min_part_size) {
    return InvalidArgumentError(fmt::format(
        "part size policy: minimum part size {} is below the store's minimum of {} bytes", min,
        caps.min_part_size));
  }
  if (caps.equal_parts_required && min != max) {
    return InvalidArgumentError(fmt::format(
        "part size policy: store {} requires equal part sizes, but the policy grows parts from {} "
        "to {} bytes; use PartSizePolicy::Fixed",
        store.ToString(), min, max));
  }
  if (options.checksum && !options.put_options.checksum.empty()) {
    return InvalidArgumentError(
        "a checksum to compute (checksum) and one given (put_options.checksum) exclude each other");
  }
  if (options.max_in_flight < 1) {
    return InvalidArgumentError(
        fmt::format("max_in_flight is {}; it must be at least 1", options.max_in_flight));
  }
  auto impl = std::make_unique<Impl>(store, std::move(key), std::move(options), caps, ctx);
  return std::unique_ptr<BufferedUpload>(new BufferedUpload(std::move(impl)));
}

BufferedUpload::BufferedUpload(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BufferedUpload::~BufferedUpload() = default;

Status BufferedUpload::Write(std::string_view data) { return impl_->Write(data, nullptr); }
Status BufferedUpload::Write(Bytes data) { return impl_->Write(data.view(), &data); }
Result<PutResult> BufferedUpload::Finish() { return impl_->Finish({}); }
Result<PutResult> BufferedUpload::FinishChecked(const Checksum& checksum) {
  return impl_->Finish(checksum);
}
Status BufferedUpload::Abort() { return impl_->Abort(); }
uint64_t BufferedUpload::bytes_written() const { return impl_->bytes_written(); }
std::vector<uint64_t> BufferedUpload::part_sizes() const { return impl_->part_sizes(); }
std::string BufferedUpload::content_digest() const { return impl_->content_digest(); }

}  // namespace depot::object
