// Convenience operations over any ObjectStore, built from the interface, BufferedUpload and
// ObjectReader only.
//
// Streaming transfers (PutFile, CopyBetween) read the source in pieces of exactly the size of
// the upload's next part, into a fresh buffer each time, and hand that buffer over as a Bytes:
// BufferedUpload then ships it as a part without copying it again, so the bytes are copied once
// (from the file or the reader) and memory stays within the two classes' bounds plus one part.
//
// GetToFile never exposes a partial file under the target name: it writes a hidden temporary
// file in the same directory, fsyncs it, renames it over the target and fsyncs the directory.
// On failure the temporary file is removed and the target is untouched.
#include "depot/object/helpers.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <memory>

#include "depot/core/executor.h"
#include "depot/core/no_throw.h"
#include "depot/core/unique_fd.h"
#include "depot/object/backend_util.h"

namespace depot::object {
namespace {

// The size of the part a BufferedUpload with `policy` cuts after `parts_shipped` parts.
uint64_t NextPartSize(const PartSizePolicy& policy, size_t parts_shipped) {
  uint64_t size = policy.min();
  if (policy.fixed()) return size;
  for (size_t i = 0; i < parts_shipped && size < policy.max(); ++i) size *= 2;
  return std::min(size, policy.max());
}

// Reads until `n` bytes or end of file; returns how many were read.
Result<size_t> ReadFull(int fd, char* out, size_t n, const std::filesystem::path& path) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, out + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, fmt::format("read {}", path.string()));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

Status WriteFull(int fd, const char* data, size_t n, const std::filesystem::path& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, fmt::format("write {}", path.string()));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status SyncDirectory(const std::filesystem::path& dir) {
  const int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) return ErrnoToStatus(errno, fmt::format("open directory {}", dir.string()));
  UniqueFd fd(raw);
  if (::fsync(fd.get()) != 0) {
    return ErrnoToStatus(errno, fmt::format("fsync directory {}", dir.string()));
  }
  return fd.Close(fmt::format("close directory {}", dir.string()));
}

// Writes everything `reader` has into the open file `fd`, then fsyncs and closes it.
Status DownloadInto(ObjectReader& reader, UniqueFd& fd, const std::filesystem::path& path,
                    uint64_t chunk_size) {
  const size_t buffer_size = static_cast<size_t>(std::min<uint64_t>(chunk_size, 4 << 20));
  std::unique_ptr<char[]> buffer(new char[buffer_size]);
  uint64_t total = 0;
  for (;;) {
    DEPOT_ASSIGN_OR_RETURN(size_t n, reader.Read(buffer.get(), buffer_size));
    if (n == 0) break;
    DEPOT_RETURN_IF_ERROR(WriteFull(fd.get(), buffer.get(), n, path));
    total += n;
  }
  if (total != reader.size()) {
    return DataLossError(fmt::format("key {}: read {} of {} bytes", QuoteKey(reader.meta().key),
                                     total, reader.size()));
  }
  if (::fsync(fd.get()) != 0) return ErrnoToStatus(errno, fmt::format("fsync {}", path.string()));
  return fd.Close(fmt::format("close {}", path.string()));
}

}  // namespace

Result<PutResult> PutFile(ObjectStore& store, std::string_view key,
                          const std::filesystem::path& path, BufferedUploadOptions options,
                          const Context& ctx) {
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return ErrnoToStatus(errno, fmt::format("open {}", path.string()));
  UniqueFd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return ErrnoToStatus(errno, fmt::format("stat {}", path.string()));
  }
  if (S_ISDIR(st.st_mode)) {
    return InvalidArgumentError(fmt::format("{} is a directory, not a file", path.string()));
  }
  // For a regular file the size is known, so buffers are no bigger than what is left; a pipe or
  // device is read in whole parts until it ends.
  const bool regular = S_ISREG(st.st_mode);
  uint64_t remaining = regular ? static_cast<uint64_t>(st.st_size) : 0;
  constexpr uint64_t kProbeSize = 64 << 10;  // to find the end of a file that grew

  const PartSizePolicy policy = options.part_size;
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<BufferedUpload> upload,
                         BufferedUpload::Start(store, std::string(key), std::move(options), ctx));
  for (;;) {
    uint64_t want = NextPartSize(policy, upload->part_sizes().size());
    if (regular) want = std::min(want, remaining > 0 ? remaining : kProbeSize);
    std::unique_ptr<char[]> buffer(new char[want]);
    DEPOT_ASSIGN_OR_RETURN(size_t got, ReadFull(fd.get(), buffer.get(), want, path));
    if (got == 0) break;
    remaining -= std::min<uint64_t>(remaining, got);
    DEPOT_RETURN_IF_ERROR(upload->Write(Bytes::Adopt(std::move(buffer), got)));
  }
  return upload->Finish();
}

Status GetToFile(ObjectStore& store, std::string_view key, const std::filesystem::path& path,
                 ObjectReaderOptions options, const Context& ctx) {
  if (path.filename().empty()) {
    return InvalidArgumentError(fmt::format("{} does not name a file", path.string()));
  }
  const uint64_t chunk_size = options.chunk_size;
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<ObjectReader> reader,
                         ObjectReader::Open(store, std::string(key), options, ctx));
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const std::filesystem::path temp =
      dir / fmt::format(".{}.depot-{}.tmp", path.filename().string(), RandomHexId());
  const int raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (raw < 0) return ErrnoToStatus(errno, fmt::format("create {}", temp.string()));
  UniqueFd fd(raw);
  Status status = DownloadInto(*reader, fd, temp, chunk_size);
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoToStatus(errno, fmt::format("rename {} to {}", temp.string(), path.string()));
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status.WithContext(fmt::format("downloading key {}", QuoteKey(key)));
  }
  return SyncDirectory(dir);
}

Result<Bytes> GetAll(ObjectStore& store, std::string_view key, const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(GetResult got, store.Get(key, {}, ctx));
  if (got.data.size() != got.meta.size) {
    return DataLossError(
        fmt::format("key {}: got {} of {} bytes", QuoteKey(key), got.data.size(), got.meta.size));
  }
  return std::move(got.data);
}

Result<std::vector<Bytes>> GetRanges(ObjectStore& store, std::string_view key,
                                     std::span<const ByteRange> ranges, GetRangesOptions options,
                                     const Context& ctx) {
  if (options.max_concurrency < 1) {
    return InvalidArgumentError(
        fmt::format("GetRanges: max_concurrency {} must be at least 1", options.max_concurrency));
  }
  DEPOT_ASSIGN_OR_RETURN(const ObjectMeta meta, store.Head(key, ctx));
  std::vector<ResolvedRange> resolved;
  resolved.reserve(ranges.size());
  for (const ByteRange& range : ranges) {
    Result<ResolvedRange> r = range.Validate(meta.size);
    if (!r.ok()) return r.status().WithContext(fmt::format("key {}", QuoteKey(key)));
    resolved.push_back(*r);
  }

  // Spans to fetch: the non-empty ranges in order of their start, merged while the gap and the
  // merged size allow.
  std::vector<size_t> order;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i].length() > 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return resolved[a].begin < resolved[b].begin; });
  std::vector<ResolvedRange> spans;
  std::vector<size_t> span_of(resolved.size());  // the span each non-empty range is cut from
  for (size_t i : order) {
    const ResolvedRange& r = resolved[i];
    if (!spans.empty()) {
      ResolvedRange& last = spans.back();
      const uint64_t end = std::max(last.end, r.end);
      const bool inside = r.end <= last.end;  // even when `last` is too big to grow
      const bool near = r.begin <= last.end || r.begin - last.end <= options.coalesce_gap;
      if (inside || (near && end - last.begin <= options.max_fetch)) {
        last.end = end;
        span_of[i] = spans.size() - 1;
        continue;
      }
    }
    span_of[i] = spans.size();
    spans.push_back(r);
  }

  GetOptions get;
  get.if_match = meta.etag;
  std::vector<Result<GetResult>> fetched(spans.size(), Result<GetResult>(Status::Ok()));
  {
    Executor executor(std::min<size_t>(static_cast<size_t>(options.max_concurrency),
                                       std::max<size_t>(spans.size(), 1)));
    std::vector<std::future<void>> done;
    for (size_t s = 0; s < spans.size(); ++s) {
      done.push_back(executor.Submit([&, s] {
        GetOptions span_get = get;
        span_get.range = ByteRange::Bounded(spans[s].begin, spans[s].end);
        fetched[s] = CallNoThrow("Get", [&] { return store.Get(key, span_get, ctx); });
      }));
    }
    for (auto& d : done) d.wait();
  }
  for (size_t s = 0; s < spans.size(); ++s) {
    if (!fetched[s].ok()) return fetched[s].status();
    if (fetched[s]->data.size() != spans[s].length()) {
      return DataLossError(fmt::format("key {}: got {} bytes for [{}, {})", QuoteKey(key),
                                       fetched[s]->data.size(), spans[s].begin, spans[s].end));
    }
  }

  std::vector<Bytes> out(resolved.size());
  for (size_t i = 0; i < resolved.size(); ++i) {
    const ResolvedRange& r = resolved[i];
    if (r.length() == 0) continue;
    const size_t s = span_of[i];
    out[i] = fetched[s]->data.Slice(static_cast<size_t>(r.begin - spans[s].begin),
                                    static_cast<size_t>(r.length()));
  }
  return out;
}

Result<bool> Exists(ObjectStore& store, std::string_view key, const Context& ctx) {
  Result<ObjectMeta> meta = store.Head(key, ctx);
  if (meta.ok()) return true;
  if (meta.status().code() == StatusCode::kNotFound) return false;
  return meta.status();
}

Result<PutResult> CopyBetween(ObjectStore& from, std::string_view from_key, ObjectStore& to,
                              std::string_view to_key, ObjectReaderOptions read_options,
                              BufferedUploadOptions write_options, const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<ObjectReader> reader,
                         ObjectReader::Open(from, std::string(from_key), read_options, ctx));
  PutOptions& put = write_options.put_options;
  if (put.content_type.empty()) put.content_type = reader->meta().content_type;
  if (put.headers == ObjectHeaders{}) put.headers = reader->meta().headers;
  if (put.user_metadata.empty()) put.user_metadata = reader->meta().user_metadata;
  const PartSizePolicy policy = write_options.part_size;
  DEPOT_ASSIGN_OR_RETURN(
      std::unique_ptr<BufferedUpload> upload,
      BufferedUpload::Start(to, std::string(to_key), std::move(write_options), ctx));
  uint64_t remaining = reader->size();
  while (remaining > 0) {
    const uint64_t want = std::min(NextPartSize(policy, upload->part_sizes().size()), remaining);
    std::unique_ptr<char[]> buffer(new char[want]);
    uint64_t got = 0;
    while (got < want) {
      DEPOT_ASSIGN_OR_RETURN(size_t n, reader->Read(buffer.get() + got, want - got));
      if (n == 0) {
        return DataLossError(fmt::format("key {} ended after {} of {} bytes", QuoteKey(from_key),
                                         reader->Tell(), reader->size()));
      }
      got += n;
    }
    remaining -= want;
    DEPOT_RETURN_IF_ERROR(upload->Write(Bytes::Adopt(std::move(buffer), want)));
  }
  return upload->Finish();
}

Result<uint64_t> DeletePrefix(ObjectStore& store, std::string_view prefix, const Context& ctx) {
  // Page by page, so that memory stays bounded by one page however many keys there are. Each
  // page is deleted before the next is listed, and the next listing starts after the last key
  // of the page (start_after), which holds whatever the backend's continuation tokens encode.
  const size_t batch = store.capabilities().max_delete_batch > 0
                           ? store.capabilities().max_delete_batch
                           : size_t{1000};
  ListOptions options;
  options.prefix = std::string(prefix);
  options.max_keys = batch;
  uint64_t deleted = 0;
  for (;;) {
    DEPOT_ASSIGN_OR_RETURN(ListResult page, store.List(options, ctx));
    std::vector<std::string> keys;
    keys.reserve(page.objects.size());
    for (ObjectMeta& meta : page.objects) keys.push_back(std::move(meta.key));
    if (!keys.empty()) {
      std::vector<Status> statuses = store.DeleteMany(keys, ctx);
      if (statuses.size() != keys.size()) {
        return InternalError(fmt::format("DeleteMany of {} keys returned {} statuses", keys.size(),
                                         statuses.size()));
      }
      Status first_error;
      for (size_t i = 0; i < keys.size(); ++i) {
        if (statuses[i].ok()) {
          ++deleted;
        } else if (first_error.ok()) {
          first_error = statuses[i].WithContext(fmt::format("deleting key {}", QuoteKey(keys[i])));
        }
      }
      if (!first_error.ok()) {
        return first_error.WithContext(
            fmt::format("deleting prefix {} ({} objects deleted)", QuoteKey(prefix), deleted));
      }
    }
    if (page.next_continuation_token.empty()) break;
    if (keys.empty()) {
      options.continuation_token = std::move(page.next_continuation_token);
    } else {
      options.start_after = keys.back();
      options.continuation_token.clear();
    }
  }
  return deleted;
}

Result<std::vector<ObjectMeta>> ListAll(ObjectStore& store, std::string_view prefix,
                                        const Context& ctx) {
  std::vector<ObjectMeta> all;
  ListPager pages(store, {.prefix = std::string(prefix)}, ctx);
  while (auto page = pages.Next()) {
    if (!page->ok()) return page->status();
    for (ObjectMeta& meta : (*page)->objects) all.push_back(std::move(meta));
  }
  return all;
}

std::optional<Result<ListResult>> ListPager::Next() {
  if (done_) return std::nullopt;
  Result<ListResult> page = store_.List(options_, ctx_);
  if (!page.ok() || page->next_continuation_token.empty()) {
    done_ = true;
  } else {
    options_.continuation_token = page->next_continuation_token;
  }
  return page;
}

}  // namespace depot::object
