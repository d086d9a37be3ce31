// depot cat URL [--range A-B|A-|-N]: writes an object, a plain file, or a range of either, to
// standard output. Objects stream through an ObjectReader (bounded memory, parallel read-ahead).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>

#include "commands.h"
#include "depot/core/byte_range.h"
#include "depot/object/key.h"
#include "depot/object/object_reader.h"
#include "location.h"
#include "transfer.h"

namespace depot::cli {
namespace {

constexpr size_t kBufferSize = 1 << 20;

struct CatOptions {
  std::string location;
  std::string range;
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
  LocationResolver resolver;
  Result<Location> loc = resolver.Resolve(options.location);
  if (!loc.ok()) return ReportUsage(kCmd, loc.status());
  Status status;
  if (loc->is_store()) {
    if (loc->key.empty() || loc->key.back() == '/') {
      return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                   "\"{}\" names a store or a prefix, not an object", loc->text)));
    }
    status = CatObject(*loc, range);
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
                  "Bytes to read: A-B (half-open [A, B)), A- (from A to the end) or -N (the "
                  "last N bytes)")
      ->type_name("RANGE");
  return {app, [options] { return RunCat(*options); }};
}

}  // namespace depot::cli
