// depot demo [DIR]: a self-checking tour of the object layer on a local store, and what `make run`
// runs. It generates a deterministic pseudo-random file (not timed), uploads it through the same
// parallel BufferedUpload path as `depot cp`, lists the store, reads the object back once
// sequentially and through 64 seeks to random ranges, verifies every byte against the source,
// and prints one line per step with its rate. Exit status 1 if anything fails to verify.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <system_error>

#include "commands.h"
#include "depot/core/split_mix64.h"
#include "depot/object/helpers.h"
#include "depot/object/object_reader.h"
#include "location.h"
#include "progress.h"
#include "transfer.h"

#if DEPOT_WITH_LOCAL
#include "depot/object/local/local_store.h"
#endif

namespace depot::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kDemoKey = "demo/blob.bin";
constexpr int kRangedReads = 64;
constexpr uint64_t kMaxRangeLength = 1 << 20;
constexpr size_t kBlock = 1 << 20;
constexpr uint64_t kSeed = 0x6465706f74ULL;  // "depot"

struct DemoOptions {
  std::string directory = "var/depot";
  std::string size = "256MiB";
  std::string part_size = "8MiB";
  int parallel = 4;
};

#if DEPOT_WITH_LOCAL

// The source file, removed when the demo ends however it ends.
class TempFile {
 public:
  static Result<std::unique_ptr<TempFile>> Create() {
    std::error_code ec;
    fs::path dir = fs::temp_directory_path(ec);
    if (ec) dir = "/tmp";
    std::string pattern = (dir / "depot-demo-XXXXXX").string();
    const int fd = mkostemp(pattern.data(), O_CLOEXEC);
    if (fd < 0) return ErrnoToStatus(errno, fmt::format("create {}", pattern));
    return std::unique_ptr<TempFile>(new TempFile(fs::path(pattern), fd));
  }
  ~TempFile() {
    close(fd_);
    unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const fs::path& path() const { return path_; }
  int fd() const { return fd_; }

 private:
  TempFile(fs::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  fs::path path_;
  int fd_;
};

Status Generate(const TempFile& file, uint64_t size) {
  SplitMix64 rng(kSeed);
  std::unique_ptr<char[]> block(new char[kBlock]);
  for (uint64_t written = 0; written < size;) {
    rng.Fill(block.get(), kBlock);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, size - written));
    DEPOT_RETURN_IF_ERROR(WriteAll(file.fd(), block.get(), n, file.path().string()));
    written += n;
  }
  return Status::Ok();
}

// Compares `n` bytes read from the store at `offset` with the source file.
Status Verify(const TempFile& source, const char* data, size_t n, uint64_t offset, char* scratch) {
  DEPOT_ASSIGN_OR_RETURN(const size_t got,
                         PreadFull(source.fd(), scratch, n, offset, source.path().string()));
  if (got != n) {
    return DataLossError(fmt::format("source file is shorter than offset {}", offset + got));
  }
  if (std::memcmp(data, scratch, n) == 0) return Status::Ok();
  size_t i = 0;
  while (data[i] == scratch[i]) ++i;
  return DataLossError(
      fmt::format("byte {} differs from the source (read 0x{:02x}, wrote 0x{:02x})", offset + i,
                  static_cast<unsigned char>(data[i]), static_cast<unsigned char>(scratch[i])));
}

// Reads `n` bytes at the reader's cursor; the time spent inside the reader is added to `seconds`.
Status ReadExactly(object::ObjectReader& reader, char* out, size_t n, double* seconds) {
  size_t done = 0;
  while (done < n) {
    Stopwatch watch;
    Result<size_t> got = reader.Read(out + done, n - done);
    *seconds += watch.Seconds();
    if (!got.ok()) return got.status();
    if (*got == 0) {
      return DataLossError(fmt::format("object ended at {} bytes", reader.Tell()));
    }
    done += *got;
  }
  return Status::Ok();
}

Status Demo(const DemoOptions& options, uint64_t size, uint64_t part_size) {
  std::error_code ec;
  const fs::path root = fs::absolute(options.directory, ec).lexically_normal();
  if (ec) return InvalidArgumentError(fmt::format("\"{}\": {}", options.directory, ec.message()));
  const bool existed = fs::is_directory(root / ".depot", ec);
  DEPOT_ASSIGN_OR_RETURN(auto store, object::LocalStore::Open(root));
  fmt::print("demo: {} local store at {}\n", existed ? "opened" : "created", root.string());
  std::fflush(stdout);

  DEPOT_ASSIGN_OR_RETURN(auto source, TempFile::Create());
  Stopwatch generate;
  DEPOT_RETURN_IF_ERROR(Generate(*source, size));
  fmt::print("demo: generated {} of pseudo-random data in {} ({:.2f} s, not counted)\n",
             FormatBytes(size), source->path().string(), generate.Seconds());
  std::fflush(stdout);

  // Upload: the `depot cp FILE STORE` path.
  TransferOptions transfer;
  transfer.part_size = part_size;
  transfer.parallel = options.parallel;
  transfer.content_type = "application/octet-stream";
  UploadResult upload;
  double upload_seconds = 0;
  {
    Progress progress("demo: upload", size, StderrIsTerminal());
    Result<UploadResult> uploaded =
        UploadFile(*store, kDemoKey, source->path(), transfer, &progress);
    progress.Finish();
    upload_seconds = progress.seconds();
    if (!uploaded.ok()) return uploaded.status().WithContext("upload");
    upload = *std::move(uploaded);
  }
  const std::string parts =
      upload.part_sizes.empty()
          ? std::string("one put")
          : fmt::format("{} parts of up to {}, {} in flight", upload.part_sizes.size(),
                        FormatBytes(part_size), options.parallel);
  fmt::print("demo: upload {}: {} in {:.2f} s = {} ({}), etag {}\n", kDemoKey, FormatBytes(size),
             upload_seconds, FormatRate(size, upload_seconds), parts, upload.put.etag);
  std::fflush(stdout);

  // List.
  {
    Stopwatch watch;
    DEPOT_ASSIGN_OR_RETURN(std::vector<object::ObjectMeta> all, object::ListAll(*store, ""));
    uint64_t total = 0;
    const object::ObjectMeta* demo = nullptr;
    for (const object::ObjectMeta& meta : all) {
      total += meta.size;
      if (meta.key == kDemoKey) demo = &meta;
    }
    if (demo == nullptr) return DataLossError(fmt::format("list: {} is missing", kDemoKey));
    if (demo->size != size) {
      return DataLossError(
          fmt::format("list: {} has {} bytes, expected {}", kDemoKey, demo->size, size));
    }
    fmt::print("demo: list: {} object(s), {} in the store, {} listed with {} bytes ({:.3f} s)\n",
               all.size(), FormatBytes(total), kDemoKey, demo->size, watch.Seconds());
    std::fflush(stdout);
  }

  std::unique_ptr<char[]> data(new char[std::max<uint64_t>(kBlock, kMaxRangeLength)]);
  std::unique_ptr<char[]> scratch(new char[std::max<uint64_t>(kBlock, kMaxRangeLength)]);

  // One sequential read of everything.
  {
    DEPOT_ASSIGN_OR_RETURN(auto reader, object::ObjectReader::Open(*store, std::string(kDemoKey),
                                                                   ReaderOptionsFor(transfer)));
    if (reader->size() != size) {
      return DataLossError(fmt::format("reader sees {} bytes, expected {}", reader->size(), size));
    }
    Progress progress("demo: read", size, StderrIsTerminal());
    double seconds = 0;
    for (uint64_t offset = 0; offset < size;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, size - offset));
      DEPOT_RETURN_IF_ERROR(ReadExactly(*reader, data.get(), n, &seconds)
                                .WithContext(fmt::format("sequential read at {}", offset)));
      DEPOT_RETURN_IF_ERROR(
          Verify(*source, data.get(), n, offset, scratch.get()).WithContext("sequential read"));
      offset += n;
      progress.Add(n);
    }
    char extra = 0;
    DEPOT_ASSIGN_OR_RETURN(const size_t past_end, reader->Read(&extra, 1));
    if (past_end != 0) return DataLossError("sequential read: data past the end of the object");
    progress.Finish();
    fmt::print("demo: sequential read: {} in {:.2f} s = {}, every byte verified\n",
               FormatBytes(size), seconds, FormatRate(size, seconds));
    std::fflush(stdout);
  }

  // Random ranges through seeks, with small chunks so each seek fetches only what it needs.
  {
    object::ObjectReaderOptions reader_options;
    reader_options.chunk_size = 256 << 10;
    reader_options.read_ahead = 4;
    reader_options.max_concurrency = 4;
    DEPOT_ASSIGN_OR_RETURN(
        auto reader, object::ObjectReader::Open(*store, std::string(kDemoKey), reader_options));
    std::mt19937_64 rng(kSeed);
    double seconds = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < kRangedReads; ++i) {
      const uint64_t length =
          std::uniform_int_distribution<uint64_t>(1, std::min(size, kMaxRangeLength))(rng);
      const uint64_t offset = std::uniform_int_distribution<uint64_t>(0, size - length)(rng);
      Stopwatch watch;
      Result<uint64_t> position = reader->Seek(static_cast<int64_t>(offset));
      seconds += watch.Seconds();
      if (!position.ok()) return position.status().WithContext("ranged read: seek");
      const std::string what = fmt::format("ranged read [{}, {})", offset, offset + length);
      DEPOT_RETURN_IF_ERROR(ReadExactly(*reader, data.get(), static_cast<size_t>(length), &seconds)
                                .WithContext(what));
      DEPOT_RETURN_IF_ERROR(
          Verify(*source, data.get(), static_cast<size_t>(length), offset, scratch.get())
              .WithContext(what));
      bytes += length;
    }
    fmt::print(
        "demo: ranged reads: {} seeks+reads of 1 B..{} ({} in all) in {:.3f} s = {:.0f} "
        "reads/s, {}, every byte verified\n",
        kRangedReads, FormatBytes(std::min(size, kMaxRangeLength)), FormatBytes(bytes), seconds,
        seconds > 0 ? kRangedReads / seconds : 0.0, FormatRate(bytes, seconds));
  }
  return Status::Ok();
}
#endif

int RunDemo(const DemoOptions& options) {
  constexpr std::string_view kCmd = "demo";
  Result<uint64_t> size = ParseByteSize(options.size);
  if (!size.ok()) return ReportUsage(kCmd, size.status());
  if (*size == 0) return ReportUsage(kCmd, InvalidArgumentError("--size must be at least 1 byte"));
  Result<uint64_t> part_size = ParseByteSize(options.part_size);
  if (!part_size.ok()) return ReportUsage(kCmd, part_size.status());
  if (*part_size == 0) {
    return ReportUsage(kCmd, InvalidArgumentError("--part-size must be at least 1 byte"));
  }
#if DEPOT_WITH_LOCAL
  Status status = Demo(options, *size, *part_size);
  if (!status.ok()) {
    fmt::print("demo: FAILED\n");
    return ReportFailure(kCmd, status.WithContext(options.directory));
  }
  fmt::print("demo: OK\n");
  return kExitOk;
#else
  return ReportFailure(kCmd, UnimplementedError("this depot was built without the local store "
                                                "(DEPOT_WITH_LOCAL=OFF)"));
#endif
}

}  // namespace

Command AddDemoCommand(CLI::App& parent) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* app = parent.add_subcommand(
      "demo",
      "Upload, list and read back a generated file in a local store, verifying every byte and "
      "printing the rates");
  app->add_option("DIR", options->directory, "The local store to use (created if missing)")
      ->capture_default_str();
  app->add_option("--size", options->size, "Bytes of test data")
      ->type_name("BYTES")
      ->capture_default_str();
  app->add_option("--part-size", options->part_size, "Upload part and read chunk size")
      ->type_name("BYTES")
      ->capture_default_str();
  app->add_option("--parallel", options->parallel, "Parts uploading / chunks fetched at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  return {app, [options] { return RunDemo(*options); }};
}

}  // namespace depot::cli
