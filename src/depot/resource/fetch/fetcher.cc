// The fetcher's queue: chunk i is [i x chunk_size, min((i + 1) x chunk_size, length)). A chunk is
// pending while the resource lacks some of its bytes and no thread is fetching it. Threads take,
// in order: the chunks readers demanded (a stack: the latest wait first), then the next pending
// chunk at or after the cursor, wrapping around to the start. A demand moves the cursor to the
// chunk after the ones it queued, so that reading on from a seek finds its bytes coming.
//
// A thread with nothing to take exits: pending chunks never appear later (a failed fetch fails
// the resource), so the threads still fetching cover what is left, and the last thread out
// commits the resource if it is complete. The observer that hears demands holds the shared state
// weakly; Stop removes it from the resource, cancels the fetches in flight and joins.
#include "depot/resource/fetch/fetcher.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "depot/core/cancellation.h"
#include "depot/core/mutex.h"
#include "depot/object/key.h"
#include "depot/object/range_fetch.h"

namespace depot::resource {

class Fetcher::Impl : public std::enable_shared_from_this<Fetcher::Impl> {
 public:
  Impl(object::RangeSource source, object::ObjectMeta meta, Resource resource, FetchOptions options,
       const Context& ctx)
      : source_(std::move(source)),
        meta_(std::move(meta)),
        resource_(std::move(resource)),
        writer_(resource_.writer()),
        options_(std::move(options)),
        stop_(ctx.token()),
        ctx_(ctx.WithToken(stop_.token())),
        caller_token_(ctx.token()),
        chunk_count_((meta_.size + options_.chunk_size - 1) / options_.chunk_size) {}

  // Tells the resource to report demands here, and starts the threads.
  void Run();
  void Stop();
  Status Wait() {
    MutexLock lock(mu_);
    while (running_ > 0) stopped_.Wait(lock);
    return final_;
  }
  void Demand(Span64 range);

  const object::ObjectMeta& meta() const { return meta_; }
  FetchStats stats() const {
    MutexLock lock(mu_);
    return stats_;
  }

 private:
  class DemandObserver;

  Span64 ChunkSpan(uint64_t index) const {
    const uint64_t begin = index * options_.chunk_size;
    return {begin, std::min(begin + options_.chunk_size, meta_.size)};
  }
  bool PendingLocked(uint64_t index) const DEPOT_REQUIRES(mu_) {
    const Span64 span = ChunkSpan(index);
    return !in_flight_.contains(index) && writer_.NextGap(span.begin, span.end).has_value();
  }
  std::optional<uint64_t> TakeLocked() DEPOT_REQUIRES(mu_);
  void Work();
  // Records the end (the first error wins) and fails the resource with a non-OK `why`.
  void Finish(Status why);

  const object::RangeSource source_;
  const object::ObjectMeta meta_;
  const Resource resource_;
  const ResourceWriter writer_;
  const FetchOptions options_;
  CancellationSource stop_;  // a child of the caller's token: Stop, or the caller, cancels
  const Context ctx_;
  const CancellationToken caller_token_;
  const uint64_t chunk_count_;
  std::shared_ptr<AvailabilityObserver> observer_;

  mutable Mutex mu_;
  CondVar stopped_;
  std::deque<uint64_t> demanded_ DEPOT_GUARDED_BY(mu_);
  uint64_t cursor_ DEPOT_GUARDED_BY(mu_) = 0;
  std::set<uint64_t> in_flight_ DEPOT_GUARDED_BY(mu_);
  int working_ DEPOT_GUARDED_BY(mu_) = 0;     // threads taking chunks
  int running_ DEPOT_GUARDED_BY(mu_) = 0;     // threads not yet returned
  bool ended_ DEPOT_GUARDED_BY(mu_) = false;  // no chunk is taken any more
  Status final_ DEPOT_GUARDED_BY(mu_) =
      CancelledError("the fetch was stopped before the object was complete");
  FetchStats stats_ DEPOT_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;  // started by Run, joined by Stop (one caller: the owner)
};

class Fetcher::Impl::DemandObserver : public AvailabilityObserver {
 public:
  explicit DemandObserver(std::weak_ptr<Impl> impl) : impl_(std::move(impl)) {}
  void OnDemand(Span64 range) override {
    if (std::shared_ptr<Impl> impl = impl_.lock()) impl->Demand(range);
  }

 private:
  std::weak_ptr<Impl> impl_;
};

void Fetcher::Impl::Run() {
  observer_ = std::make_shared<DemandObserver>(weak_from_this());
  resource_.AddObserver(observer_);
  const int threads = static_cast<int>(std::min<uint64_t>(
      static_cast<uint64_t>(options_.parallelism), std::max<uint64_t>(chunk_count_, 1)));
  {
    MutexLock lock(mu_);
    working_ = threads;
    running_ = threads;
  }
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

void Fetcher::Impl::Stop() {
  {
    MutexLock lock(mu_);
    ended_ = true;
  }
  stop_.Cancel();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  if (observer_) resource_.RemoveObserver(observer_.get());
}

void Fetcher::Impl::Demand(Span64 range) {
  if (range.begin >= meta_.size) return;
  const uint64_t first = range.begin / options_.chunk_size;
  const uint64_t last = (std::min(range.end, meta_.size) - 1) / options_.chunk_size;
  MutexLock lock(mu_);
  if (ended_) return;
  ++stats_.demands;
  // Queued last chunk first, so that the first chunk is taken first.
  for (uint64_t index = last + 1; index-- > first;) {
    if (PendingLocked(index)) demanded_.push_front(index);
  }
  cursor_ = last + 1;
}

std::optional<uint64_t> Fetcher::Impl::TakeLocked() {
  while (!demanded_.empty()) {
    const uint64_t index = demanded_.front();
    demanded_.pop_front();
    if (PendingLocked(index)) return index;
  }
  for (uint64_t step = 0; step < chunk_count_; ++step) {
    const uint64_t index = (cursor_ + step) % chunk_count_;
    if (PendingLocked(index)) {
      cursor_ = index + 1;
      return index;
    }
  }
  return std::nullopt;
}

void Fetcher::Impl::Work() {
  while (true) {
    uint64_t index = 0;
    {
      MutexLock lock(mu_);
      std::optional<uint64_t> taken = ended_ ? std::nullopt : TakeLocked();
      if (!taken) break;
      index = *taken;
      in_flight_.insert(index);
    }
    const Span64 span = ChunkSpan(index);
    Result<Bytes> bytes = object::FetchRange(source_, span.begin, span.end, ctx_);
    Status stored = bytes.ok() ? writer_.WriteAt(span.begin, bytes->view()) : bytes.status();
    {
      MutexLock lock(mu_);
      in_flight_.erase(index);
      if (stored.ok()) {
        ++stats_.chunks;
        stats_.bytes += span.length();
      }
    }
    if (!stored.ok()) {
      Finish(std::move(stored));
      break;
    }
  }
  // The last thread out of the loop commits what is complete.
  bool last = false;
  {
    MutexLock lock(mu_);
    last = --working_ == 0;
  }
  if (last) {
    const ResourceStatus status = writer_.status();
    if (status.committed()) {
      Finish(Status::Ok());
    } else if (status.active() && !writer_.NextGap(0, meta_.size)) {
      Finish(writer_.Commit(meta_.size));
    } else if (!status.active()) {
      Finish(status.state == ResourceStatus::State::kFailed ? status.failure
                                                            : CancelledError(status.ToString()));
    }
  }
  MutexLock lock(mu_);
  if (--running_ == 0) stopped_.NotifyAll();
}

void Fetcher::Impl::Finish(Status why) {
  {
    MutexLock lock(mu_);
    if (ended_ && !final_.ok() && final_.code() != StatusCode::kCancelled) return;
    ended_ = true;
    final_ = why;
  }
  if (why.ok()) return;
  // The caller's cancel fails the resource; Stop (our own token alone) leaves it active.
  const bool stopped_by_owner = stop_.token().IsCancelled() && !caller_token_.IsCancelled();
  if (!stopped_by_owner) {
    writer_.Fail(why.WithContext(fmt::format("fetching {}", object::QuoteKey(meta_.key))));
  }
  stop_.Cancel();  // the other threads' fetches end now
}

// ---- Fetcher ----

namespace {

Status CheckOptions(std::string_view key, const FetchOptions& options) {
  if (options.chunk_size == 0 || options.parallelism < 1) {
    return InvalidArgumentError(
        fmt::format("fetch of {}: chunk_size ({}) and parallelism ({}) must be positive",
                    object::QuoteKey(key), options.chunk_size, options.parallelism));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Fetcher>> Fetcher::Start(object::ObjectStore& store, std::string key,
                                                Resource resource, FetchOptions options,
                                                const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckOptions(key, options));
  DEPOT_ASSIGN_OR_RETURN(object::ObjectMeta meta, store.Head(key, ctx));
  if (!options.etag.empty() && !meta.etag.empty() && meta.etag != options.etag) {
    return FailedPreconditionError(
        fmt::format("fetch of {}: the object is now ETag \"{}\", not \"{}\" (it changed)",
                    object::QuoteKey(key), meta.etag, options.etag));
  }
  return Start(store, std::move(meta), std::move(resource), std::move(options), ctx);
}

Result<std::unique_ptr<Fetcher>> Fetcher::Start(object::ObjectStore& store, object::ObjectMeta meta,
                                                Resource resource, FetchOptions options,
                                                const Context& ctx) {
  DEPOT_RETURN_IF_ERROR(CheckOptions(meta.key, options));
  const ResourceWriter writer = resource.writer();
  const ResourceStatus status = writer.status();
  if (status.committed() && status.length != meta.size) {
    return FailedPreconditionError(
        fmt::format("fetch of {} ({} bytes) into {}: it holds another object",
                    object::QuoteKey(meta.key), meta.size, status.ToString()));
  }
  if (status.active()) {
    DEPOT_RETURN_IF_ERROR(writer.SetLength(meta.size).WithContext(
        fmt::format("fetch of {} ({} bytes)", object::QuoteKey(meta.key), meta.size)));
  }
  object::RangeSource source = object::RangeSource::Of(store, meta, options.retry);
  auto impl =
      std::make_shared<Impl>(std::move(source), std::move(meta), resource, std::move(options), ctx);
  impl->Run();
  return std::unique_ptr<Fetcher>(new Fetcher(std::move(impl)));
}

Fetcher::Fetcher(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Fetcher::~Fetcher() { impl_->Stop(); }

Status Fetcher::Wait() { return impl_->Wait(); }

void Fetcher::Stop() { impl_->Stop(); }

const object::ObjectMeta& Fetcher::meta() const { return impl_->meta(); }

FetchStats Fetcher::stats() const { return impl_->stats(); }

}  // namespace depot::resource
