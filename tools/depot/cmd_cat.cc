// depot cat URL [--range A-B|A-|-N (B included, as curl -r)] [--progressive [--keep FILE]
// [--report]]: writes an object, a plain file, or a range of either, to standard output. Objects
// stream through an ObjectReader (bounded memory, parallel read-ahead), or with --progressive
// through a resource that a Fetcher fills in parallel (resource/fetch/fetcher.h) while the output
// is written as its bytes land: a range is fetched first, the rest of the object after it. --keep
// FILE keeps the download in FILE (its ETag beside it, FILE.etag), so that an interrupted cat
// resumes where it stopped and a finished one is served from FILE while the object is unchanged.
// --report prints to stderr how long the output waited for the download.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "depot/core/byte_range.h"
#include "depot/object/key.h"
#include "depot/object/object_reader.h"
#include "depot/resource/atomic/atomic_file.h"
#include "depot/resource/fetch/fetcher.h"
#include "depot/resource/mmap/mmap_driver.h"
#include "location.h"
#include "transfer.h"

namespace depot::cli {
namespace {

constexpr size_t kBufferSize = 1 << 20;

struct CatOptions {
  std::string location;
  std::string range;
  bool progressive = false;
  std::string keep;  // --keep FILE
  bool report = false;
};

// Reader options sized to the request, so that a small range does not fetch a whole window of
// 8 MiB chunks.
object::ObjectReaderOptions ReaderOptionsForRange(const ByteRange& range) {
  object::ObjectReaderOptions options;
  uint64_t wanted = 0;
  switch (range.kind()) {
    case ByteRange::Kind::kBounded:
      wanted = range.end() - range.begin();
      break;
    case ByteRange::Kind::kSuffix:
      wanted = range.end();
      break;
    case ByteRange::Kind::kFull:
    case ByteRange::Kind::kFrom:
      return options;
  }
  if (wanted < options.chunk_size) {
    options.chunk_size = std::max<uint64_t>(wanted, 64 << 10);
    options.read_ahead = 2;  // the range may straddle two chunks
    options.max_concurrency = 2;
  }
  return options;
}

Status CatObject(const Location& loc, const ByteRange& range) {
  DEPOT_ASSIGN_OR_RETURN(
      auto reader, object::ObjectReader::Open(*loc.store, loc.key, ReaderOptionsForRange(range)));
  DEPOT_ASSIGN_OR_RETURN(const ResolvedRange resolved, range.Validate(reader->size()));
  DEPOT_RETURN_IF_ERROR(reader->Seek(static_cast<int64_t>(resolved.begin)).status());
  std::unique_ptr<char[]> buffer(new char[kBufferSize]);
  uint64_t remaining = resolved.length();
  while (remaining > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, kBufferSize));
    DEPOT_ASSIGN_OR_RETURN(const size_t n, reader->Read(buffer.get(), want));
    if (n == 0) {
      return DataLossError(
          fmt::format("{} ended {} bytes early", object::QuoteKey(loc.key), remaining));
    }
    DEPOT_RETURN_IF_ERROR(WriteAll(STDOUT_FILENO, buffer.get(), n, "standard output"));
    remaining -= n;
  }
  return Status::Ok();
}

// Where a progressive cat keeps its download: FILE (resumed when FILE.etag names the object's
// current ETag, started afresh otherwise), or a temporary file removed at the end.
struct ProgressiveTarget {
  std::string path;
  bool temporary = false;
  std::string etag;  // of the bytes FILE already holds; empty for none
  ~ProgressiveTarget() {
    if (!temporary) return;
    std::error_code error;
    std::filesystem::remove(path, error);
    std::filesystem::remove(resource::PresentRecordPath(path), error);
  }
};

Status CatProgressive(const Location& loc, const ByteRange& range, const CatOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  DEPOT_ASSIGN_OR_RETURN(const object::ObjectMeta meta, loc.store->Head(loc.key));
  ProgressiveTarget target;
  if (options.keep.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        fmt::format("{}/depot-cat-XXXXXX", tmp != nullptr && *tmp != '\0' ? tmp : "/tmp");
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) return ErrnoToStatus(errno, fmt::format("create a file like {}", pattern));
    ::close(fd);
    ::unlink(pattern.c_str());  // the mmap driver creates it, with its record first
    target.path = pattern;
    target.temporary = true;
  } else {
    target.path = options.keep;
    const std::string etag_path = options.keep + ".etag";
    std::error_code error;
    if (std::filesystem::exists(etag_path, error)) {
      std::FILE* file = std::fopen(etag_path.c_str(), "rb");
      if (file != nullptr) {
        char line[512];
        const size_t n = std::fread(line, 1, sizeof(line), file);
        std::fclose(file);
        target.etag.assign(line, n);
      }
    }
    if (target.etag != meta.etag) {  // another version, or nothing yet: start afresh
      std::filesystem::remove(target.path, error);
      std::filesystem::remove(resource::PresentRecordPath(target.path), error);
      DEPOT_RETURN_IF_ERROR(resource::WriteFileAtomically(etag_path, meta.etag));
    }
  }
  DEPOT_ASSIGN_OR_RETURN(resource::Resource resource,
                         resource::OpenMmapResource({.path = target.path}));
  DEPOT_ASSIGN_OR_RETURN(const ResolvedRange resolved, range.Validate(meta.size));
  resource::FetchOptions fetch;
  fetch.etag = meta.etag;
  DEPOT_ASSIGN_OR_RETURN(auto fetcher,
                         resource::Fetcher::Start(*loc.store, loc.key, resource, fetch));
  const resource::ResourceReader reader = resource.reader();
  std::unique_ptr<char[]> buffer(new char[kBufferSize]);
  std::chrono::steady_clock::duration waited{};
  std::chrono::steady_clock::duration first_byte{};
  uint64_t offset = resolved.begin;
  while (offset < resolved.end) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(resolved.end - offset, kBufferSize));
    const auto before = std::chrono::steady_clock::now();
    DEPOT_ASSIGN_OR_RETURN(const size_t n,
                           reader.Read(offset, std::span<char>(buffer.get(), want)));
    waited += std::chrono::steady_clock::now() - before;
    if (offset == resolved.begin) first_byte = std::chrono::steady_clock::now() - started;
    if (n == 0) {
      return DataLossError(
          fmt::format("{} ended {} bytes early", object::QuoteKey(loc.key), resolved.end - offset));
    }
    DEPOT_RETURN_IF_ERROR(WriteAll(STDOUT_FILENO, buffer.get(), n, "standard output"));
    offset += n;
  }
  // A kept file is finished before cat ends; a temporary one is not waited for.
  Status finished = Status::Ok();
  if (!target.temporary) finished = fetcher->Wait();
  fetcher->Stop();
  if (options.report) {
    const resource::FetchStats stats = fetcher->stats();
    auto ms = [](std::chrono::steady_clock::duration d) {
      return std::chrono::duration<double, std::milli>(d).count();
    };
    fmt::print(stderr,
               "depot cat: {} bytes written; first byte after {:.1f} ms; {:.1f} ms waiting for "
               "the download; {} bytes fetched in {} chunks, {} reordered by waits\n",
               resolved.length(), ms(first_byte), ms(waited), stats.bytes, stats.chunks,
               stats.demands);
  }
  return finished;
}

Status CatFile(const Location& loc, const ByteRange& range) {
  const int fd = open(loc.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, fmt::format("open {}", loc.path.string()));
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoToStatus(errno, fmt::format("stat {}", loc.path.string()));
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgumentError(fmt::format("{} is not a regular file", loc.path.string()));
  }
  DEPOT_ASSIGN_OR_RETURN(const ResolvedRange resolved,
                         range.Validate(static_cast<uint64_t>(st.st_size)));
  std::unique_ptr<char[]> buffer(new char[kBufferSize]);
  uint64_t offset = resolved.begin;
  while (offset < resolved.end) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(resolved.end - offset, kBufferSize));
    DEPOT_ASSIGN_OR_RETURN(const size_t n,
                           PreadFull(fd, buffer.get(), want, offset, loc.path.string()));
    if (n == 0) break;  // the file shrank while we read it
    DEPOT_RETURN_IF_ERROR(WriteAll(STDOUT_FILENO, buffer.get(), n, "standard output"));
    offset += n;
  }
  return Status::Ok();
}

int RunCat(const CatOptions& options) {
  constexpr std::string_view kCmd = "cat";
  ByteRange range;
  if (!options.range.empty()) {
    Result<ByteRange> parsed = ByteRange::Parse(options.range);
    if (!parsed.ok()) return ReportUsage(kCmd, parsed.status());
    range = *parsed;
  }
  if (!options.progressive && (!options.keep.empty() || options.report)) {
    return ReportUsage(kCmd, InvalidArgumentError("--keep and --report go with --progressive"));
  }
  LocationResolver resolver;
  Result<Location> loc = resolver.Resolve(options.location);
  if (!loc.ok()) return ReportUsage(kCmd, loc.status());
  Status status;
  if (loc->is_store()) {
    if (loc->key.empty() || loc->key.back() == '/') {
      return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                   "\"{}\" names a store or a prefix, not an object", loc->text)));
    }
    status = options.progressive ? CatProgressive(*loc, range, options) : CatObject(*loc, range);
  } else if (options.progressive) {
    return ReportUsage(kCmd,
                       InvalidArgumentError(fmt::format(
                           "--progressive reads from a store; \"{}\" is a plain file", loc->text)));
  } else {
    status = CatFile(*loc, range);
  }
  if (!status.ok()) return ReportFailure(kCmd, status.WithContext(loc->text));
  return kExitOk;
}

}  // namespace

Command AddCatCommand(CLI::App& parent) {
  auto options = std::make_shared<CatOptions>();
  CLI::App* app =
      parent.add_subcommand("cat", "Write an object or file (or a byte range of it) to stdout");
  app->add_option("URL", options->location, "The object or plain file to read")->required();
  app->add_option("--range", options->range,
                  "Bytes to read: A-B (bytes A to B, both included, as curl -r and HTTP read "
                  "it; bytes=A-B as aws and curl write it is accepted), A- (from A to the end) or "
                  "-N (the "
                  "last N bytes)")
      ->type_name("RANGE");
  app->add_flag("--progressive", options->progressive,
                "Download into a resource in parallel while writing what has arrived (a range "
                "first, then the rest of the object)");
  app->add_option("--keep", options->keep,
                  "With --progressive: keep the download in FILE (its ETag in FILE.etag), "
                  "resumed by the next cat; an object changed since replaces FILE")
      ->type_name("FILE");
  app->add_flag("--report", options->report,
                "With --progressive: print to stderr how long the output waited");
  return {app, [options] { return RunCat(*options); }};
}

}  // namespace depot::cli
