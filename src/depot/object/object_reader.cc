// ObjectReader: a window of chunk fetches running in the reader's TaskGroup (on the executor the
// options name, or on the reader's own).
//
// The object is cut into aligned chunks [i x chunk_size, (i + 1) x chunk_size). The window is a
// run of consecutive chunks starting at the one holding the cursor; each has a std::future for
// its bytes. A fetch task captures only what it needs, by value or shared_ptr (the FetchSpec: the
// store pointer, key, ETag and retry options; and its own CancellationToken), never the reader: a
// chunk dropped from the window is cancelled and its future simply discarded (a packaged_task
// future does not block on destruction), and a task that already started finishes against the
// shared state it owns. The executor is the reader's last member, so the reader's destructor
// cancels the window, then joins the workers before anything else goes away; the store must
// outlive the reader, hence every task.
//
// Retries: each chunk is one FetchRange (range_fetch.h), which resumes after retryable errors and
// short answers and never retries a failed If-Match (the object changed since Open).
#include "depot/object/object_reader.h"

#include <fmt/format.h>

#include <cstring>
#include <deque>
#include <future>
#include <limits>
#include <optional>
#include <vector>

#include "depot/core/cancellation.h"
#include "depot/core/executor.h"
#include "depot/object/backend_util.h"
#include "depot/object/range_fetch.h"

namespace depot::object {
namespace {

// What every fetch of one reader needs; shared by the reader and its tasks, immutable.
struct FetchSpec {
  RangeSource source;
  Context ctx;  // the caller's, given to Open
};

}  // namespace

class ObjectReader::Impl {
 public:
  Impl(ObjectStore& store, ObjectMeta meta, ObjectReaderOptions options, const Context& ctx)
      : spec_(std::make_shared<const FetchSpec>(
            FetchSpec{RangeSource::Of(store, meta, options.retry), ctx})),
        meta_(std::move(meta)),
        options_(options),
        chunk_count_((meta_.size + options_.chunk_size - 1) / options_.chunk_size),
        tasks_(options_.executor, static_cast<size_t>(options_.max_concurrency),
               2 * static_cast<size_t>(options_.read_ahead)) {}

  ~Impl() { DropAll(); }

  Result<size_t> Read(char* out, size_t n);
  Result<Bytes> ReadAt(uint64_t offset, size_t n);
  Result<uint64_t> Seek(int64_t offset, Whence whence);
  uint64_t Tell() const { return cursor_; }
  const ObjectMeta& meta() const { return meta_; }

 private:
  struct Chunk {
    uint64_t index = 0;
    uint64_t begin = 0;
    uint64_t end = 0;
    CancellationSource cancel;  // the caller's token's child: stops the fetch when dropped
    std::future<Result<Bytes>> future;
    std::optional<Result<Bytes>> result;  // once the future was read
  };

  // Makes the window start at chunk `index` (keeping the chunks it already holds from there on)
  // and fills it up to read_ahead chunks.
  void AlignWindow(uint64_t index);
  void Schedule(uint64_t index);
  void DropFront();
  void DropAll();
  // The chunk's bytes, waiting for them if needed.
  const Result<Bytes>& Await(Chunk& chunk);
  bool WindowCovers(uint64_t begin, uint64_t end) const {
    return !window_.empty() && begin >= window_.front().begin && end <= window_.back().end;
  }

  const std::shared_ptr<const FetchSpec> spec_;
  const ObjectMeta meta_;
  const ObjectReaderOptions options_;
  const uint64_t chunk_count_;
  uint64_t cursor_ = 0;
  std::deque<Chunk> window_;  // consecutive chunk indexes
  TaskGroup tasks_;           // keep last: waited for before the rest is destroyed
};

void ObjectReader::Impl::Schedule(uint64_t index) {
  Chunk chunk{.cancel = CancellationSource(spec_->ctx.token())};
  chunk.index = index;
  chunk.begin = index * options_.chunk_size;
  chunk.end = std::min(chunk.begin + options_.chunk_size, meta_.size);
  chunk.future = tasks_.Submit(
      [spec = spec_, ctx = spec_->ctx.WithToken(chunk.cancel.token()), begin = chunk.begin,
       end = chunk.end] { return FetchRange(spec->source, begin, end, ctx); });
  window_.push_back(std::move(chunk));
}

void ObjectReader::Impl::DropFront() {
  window_.front().cancel.Cancel();
  window_.pop_front();
}

void ObjectReader::Impl::DropAll() {
  while (!window_.empty()) DropFront();
}

void ObjectReader::Impl::AlignWindow(uint64_t index) {
  while (!window_.empty() && window_.front().index < index) DropFront();
  if (!window_.empty() && window_.front().index != index) DropAll();  // `index` is before it
  uint64_t next = window_.empty() ? index : window_.back().index + 1;
  while (window_.size() < static_cast<size_t>(options_.read_ahead) && next < chunk_count_) {
    Schedule(next++);
  }
}

const Result<Bytes>& ObjectReader::Impl::Await(Chunk& chunk) {
  if (!chunk.result) chunk.result.emplace(chunk.future.get());
  return *chunk.result;
}

Result<size_t> ObjectReader::Impl::Read(char* out, size_t n) {
  size_t copied = 0;
  while (copied < n && cursor_ < meta_.size) {
    AlignWindow(cursor_ / options_.chunk_size);
    Chunk& chunk = window_.front();
    const Result<Bytes>& bytes = Await(chunk);
    if (!bytes.ok()) {
      Status error = bytes.status();
      DropAll();  // the next Read starts over, with a fresh retry budget
      if (copied > 0) return copied;
      return error;
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n - copied, chunk.end - cursor_));
    std::memcpy(out + copied, bytes->data() + (cursor_ - chunk.begin), take);
    copied += take;
    cursor_ += take;
  }
  // Keep the read-ahead going: drop what was consumed and schedule past it.
  if (cursor_ < meta_.size) AlignWindow(cursor_ / options_.chunk_size);
  return copied;
}

Result<Bytes> ObjectReader::Impl::ReadAt(uint64_t offset, size_t n) {
  if (offset > meta_.size || n > meta_.size - offset) {
    return OutOfRangeError(fmt::format("read of [{}, {}) is past the end of key {} ({} bytes)",
                                       offset, offset + n, QuoteKey(meta_.key), meta_.size));
  }
  if (n == 0) return Bytes();
  const uint64_t end = offset + n;
  if (!WindowCovers(offset, end)) {
    return FetchRange(spec_->source, offset, end, spec_->ctx);
  }
  const uint64_t first = offset / options_.chunk_size;
  const uint64_t last = (end - 1) / options_.chunk_size;
  const uint64_t front = window_.front().index;
  std::unique_ptr<char[]> joined;
  if (first != last) joined.reset(new char[n]);
  for (uint64_t index = first; index <= last; ++index) {
    Chunk& chunk = window_[index - front];
    const Result<Bytes>& bytes = Await(chunk);
    if (!bytes.ok()) {
      Status error = bytes.status();
      DropAll();
      return error;
    }
    const uint64_t from = std::max(offset, chunk.begin);
    const uint64_t to = std::min(end, chunk.end);
    if (first == last) return bytes->Slice(from - chunk.begin, to - from);
    std::memcpy(joined.get() + (from - offset), bytes->data() + (from - chunk.begin), to - from);
  }
  return Bytes::Adopt(std::move(joined), n);
}

Result<uint64_t> ObjectReader::Impl::Seek(int64_t offset, Whence whence) {
  uint64_t base = 0;
  if (whence == Whence::kCurrent) base = cursor_;
  if (whence == Whence::kEnd) base = meta_.size;
  uint64_t position = 0;
  if (offset < 0) {
    // -(offset + 1) + 1 avoids overflowing on INT64_MIN.
    const uint64_t back = static_cast<uint64_t>(-(offset + 1)) + 1;
    if (back > base) {
      return InvalidArgumentError(fmt::format("seek by {} from {} in key {} lands before the start",
                                              offset, base, QuoteKey(meta_.key)));
    }
    position = base - back;
  } else {
    position = base + static_cast<uint64_t>(offset);
    if (position < base) {
      return InvalidArgumentError(
          fmt::format("seek by {} from {} in key {} overflows", offset, base, QuoteKey(meta_.key)));
    }
  }
  cursor_ = position;
  // A seek outside the window drops it now, so that its fetches stop; inside it, it is kept.
  if (!window_.empty()) {
    const uint64_t index = cursor_ / options_.chunk_size;
    if (index < window_.front().index || index > window_.back().index) DropAll();
  }
  return cursor_;
}

Result<std::unique_ptr<ObjectReader>> ObjectReader::Open(ObjectStore& store, std::string key,
                                                         ObjectReaderOptions options,
                                                         const Context& ctx) {
  constexpr uint64_t kMaxChunk = uint64_t{4} << 30;
  if (options.chunk_size == 0 || options.chunk_size > kMaxChunk) {
    return InvalidArgumentError(fmt::format("object reader: chunk_size is {}; it must be in 1..{}",
                                            options.chunk_size, kMaxChunk));
  }
  if (options.read_ahead < 1) {
    return InvalidArgumentError(
        fmt::format("object reader: read_ahead is {}; it must be at least 1", options.read_ahead));
  }
  if (options.max_concurrency < 1) {
    return InvalidArgumentError(fmt::format(
        "object reader: max_concurrency is {}; it must be at least 1", options.max_concurrency));
  }
  DEPOT_ASSIGN_OR_RETURN(ObjectMeta meta, store.Head(key, ctx));
  meta.key = std::move(key);
  auto impl = std::make_unique<Impl>(store, std::move(meta), options, ctx);
  return std::unique_ptr<ObjectReader>(new ObjectReader(std::move(impl)));
}

ObjectReader::ObjectReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ObjectReader::~ObjectReader() = default;

Result<size_t> ObjectReader::Read(char* out, size_t n) { return impl_->Read(out, n); }
Result<Bytes> ObjectReader::ReadAt(uint64_t offset, size_t n) { return impl_->ReadAt(offset, n); }
Result<uint64_t> ObjectReader::Seek(int64_t offset, Whence whence) {
  return impl_->Seek(offset, whence);
}
uint64_t ObjectReader::Tell() const { return impl_->Tell(); }
uint64_t ObjectReader::size() const { return impl_->meta().size; }
const ObjectMeta& ObjectReader::meta() const { return impl_->meta(); }

}  // namespace depot::object
