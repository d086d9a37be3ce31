// depot_bench_object: the object layer against raw POSIX and memcpy baselines, measured in the same
// run, with a ratio table printed at the end.
//
//   buffered_upload_4GiB/MALLOC  peak RSS growth of a 4 GiB BufferedUpload into a local store
//                            (8 MiB fixed parts, 4 in flight, 1 MiB writes) against its bound,
//                            (4 + 1) x 8 MiB; with glibc's default malloc settings and with a
//                            fixed 1 MiB mmap threshold (live buffers only, no allocator slack)
//   local_put_1GiB/POLICY    one 1 GiB Put into a local store   vs  raw open/write/fsync/rename
//   local_get_1GiB/POLICY    one 1 GiB Get from a local store   vs  raw pread into a new buffer
//   local_durable_put_4KiB/POLICY  4 KiB puts, each durable    vs  raw open/write/fsync/rename +
//                                                                   directory fsync
//   memory_get_64MiB         MemoryStore Get of 64 MiB          vs  memcpy of 64 MiB
//   crc32c_64MiB             CRC-32C of 64 MiB (AVX-512 folding  vs  the table-driven CRC-32, and
//                            or SSE 4.2)                             memcpy of 64 MiB
//   crc32c_256KiB            CRC-32C of 256 KiB in the cache    vs  the table-driven CRC-32
//                            (the local store's read slices)
//
// POLICY is the local store's ETag policy: content_md5 (hashes every byte) or unique (a random
// token). Data goes under $DEPOT_BENCH_DIR (default ./var/bench), in a run-<pid> directory that
// is removed at the end. A full run takes three to four minutes on a 2-core VM with a ~250 MB/s
// disk.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_report.h"
#include "depot/core/bytes.h"
#include "depot/core/checksum.h"
#include "depot/core/split_mix64.h"
#include "depot/object/buffered_upload.h"
#include "depot/object/local/local_store.h"
#include "depot/object/memory/memory_store.h"

namespace {

namespace fs = std::filesystem;
using depot::Bytes;
using depot::PayloadChecksum;
using depot::SplitMix64;
using depot::bench::Captured;
using depot::bench::CapturingReporter;
using depot::bench::PrintSpeedRatio;
using depot::object::EtagPolicy;
using depot::object::LocalStore;
using depot::object::LocalStoreOptions;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = 1 << 30;
constexpr uint64_t kBigObject = kGiB;
constexpr uint64_t kSmallObject = 4 << 10;
constexpr uint64_t kMemoryObject = 64 * kMiB;
constexpr uint64_t kUploadTotal = 4 * kGiB;
constexpr uint64_t kUploadPart = 8 * kMiB;
constexpr int kUploadInFlight = 4;
constexpr int kSmallKeys = 256;  // durable puts cycle over this many names

fs::path g_run_dir;  // set by main before any benchmark runs

// ---------------------------------------------------------------------------------------------
// Helpers.

Bytes RandomBytes(uint64_t size, uint64_t seed) {
  std::unique_ptr<char[]> data(new char[size]);
  SplitMix64(seed).Fill(data.get(), size);
  return Bytes::Adopt(std::move(data), size);
}

// The 1 GiB payload, made once and shared by the benchmarks that need it.
const Bytes& BigPayload() {
  static const Bytes payload = RandomBytes(kBigObject, 1);
  return payload;
}

const char* PolicyName(EtagPolicy policy) {
  return policy == EtagPolicy::kContentMd5 ? "content_md5" : "unique";
}

// A fresh directory under the run directory, removed by the destructor.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) : path_(g_run_dir / name) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::shared_ptr<LocalStore> OpenStore(benchmark::State& state, const fs::path& root,
                                      EtagPolicy policy) {
  LocalStoreOptions options;
  options.etag = policy;
  options.create = true;
  auto store = LocalStore::Open(root, options);
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return nullptr;
  }
  return *std::move(store);
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool PreadAll(int fd, char* data, size_t size) {
  uint64_t offset = 0;
  while (offset < size) {
    const ssize_t n = pread(fd, data + offset, size - offset, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return false;
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

// The durable-write protocol a careful program would hand-write: temp file, write, fsync, rename
// over the target, fsync the directory.
bool RawDurableWrite(const fs::path& dir, int dir_fd, const std::string& name, const char* data,
                     size_t size) {
  const fs::path temp = dir / (name + ".tmp");
  const fs::path target = dir / name;
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool ok = WriteAll(fd, data, size) && fsync(fd) == 0;
  if (close(fd) != 0 || !ok) return false;
  if (rename(temp.c_str(), target.c_str()) != 0) return false;
  return fsync(dir_fd) == 0;
}

// Flushes every file system outside the timed region, so that one iteration does not pay for the
// writeback (and, on a `discard` mount, the TRIM of deleted files) that the previous one left.
void SettleDisk(benchmark::State& state) {
  state.PauseTiming();
  sync();
  state.ResumeTiming();
}

class DirFd {
 public:
  explicit DirFd(const fs::path& dir) : fd_(open(dir.c_str(), O_RDONLY | O_DIRECTORY)) {}
  ~DirFd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"); 0 if unreadable.
uint64_t ProcStatusBytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, field.size() + 1, field + ":") == 0) {
      return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10) * 1024;
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// (d) Peak memory of a 4 GiB BufferedUpload.

// With `fixed_mmap_threshold`, glibc is told to serve every allocation of 1 MiB or more with its
// own mmap (which also turns off its dynamic threshold for the rest of the run), so freed part
// buffers go back to the kernel at once: the RSS then shows the upload's live buffers alone.
// With glibc's defaults it also shows the allocator's slack, which is what a user's process sees.
void BM_BufferedUploadPeakMemory(benchmark::State& state, bool fixed_mmap_threshold) {
  if (fixed_mmap_threshold) mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMiB));
  ScratchDir dir("upload");
  auto store = OpenStore(state, dir.path() / "store", EtagPolicy::kContentMd5);
  if (!store) return;
  for (auto _ : state) {
    // The producer's own 1 MiB chunk exists before the baseline: only the upload's memory counts.
    std::string chunk(kMiB, '\0');
    SplitMix64 rng(4);
    malloc_trim(0);
    // Reset the kernel's high-water mark (VmHWM) to the current RSS, and also sample VmRSS from a
    // thread: whichever sees the higher peak wins.
    { std::ofstream("/proc/self/clear_refs") << "5"; }
    const uint64_t baseline = ProcStatusBytes("VmRSS");
    std::atomic<bool> done{false};
    std::atomic<uint64_t> sampled_peak{baseline};
    std::thread sampler([&] {
      while (!done.load()) {
        const uint64_t rss = ProcStatusBytes("VmRSS");
        if (rss > sampled_peak.load()) sampled_peak.store(rss);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });

    depot::object::BufferedUploadOptions options;
    options.part_size = depot::object::PartSizePolicy::Fixed(kUploadPart);
    options.max_in_flight = kUploadInFlight;
    auto upload = depot::object::BufferedUpload::Start(*store, "big.bin", options);
    std::string error;
    if (!upload.ok()) {
      error = upload.status().ToString();
    } else {
      for (uint64_t sent = 0; sent < kUploadTotal && error.empty(); sent += kMiB) {
        rng.Fill(chunk.data(), chunk.size());
        if (auto s = (*upload)->Write(std::string_view(chunk)); !s.ok()) error = s.ToString();
      }
      if (error.empty()) {
        if (auto put = (*upload)->Finish(); !put.ok()) error = put.status().ToString();
      }
    }
    done.store(true);
    sampler.join();
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    const uint64_t hwm = ProcStatusBytes("VmHWM");
    const uint64_t peak = std::max(sampled_peak.load(), hwm);
    const double growth = static_cast<double>(peak > baseline ? peak - baseline : 0);
    state.counters["peak_growth_MiB"] = growth / kMiB;
    state.counters["bound_MiB"] = static_cast<double>((kUploadInFlight + 1) * kUploadPart) / kMiB;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kUploadTotal));
}

// ---------------------------------------------------------------------------------------------
// (a) 1 GiB Put and Get.

void BM_LocalPut(benchmark::State& state, EtagPolicy policy) {
  const Bytes& payload = BigPayload();
  ScratchDir dir(fmt::format("put-{}", PolicyName(policy)));
  auto store = OpenStore(state, dir.path() / "store", policy);
  if (!store) return;
  for (auto _ : state) {
    SettleDisk(state);
    auto put = store->Put("big.bin", payload, {});
    if (!put.ok()) {
      state.SkipWithError(put.status().ToString().c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBigObject));
}

void BM_RawPut(benchmark::State& state) {
  const Bytes& payload = BigPayload();
  ScratchDir dir("put-raw");
  DirFd dir_fd(dir.path());
  for (auto _ : state) {
    SettleDisk(state);
    if (!RawDurableWrite(dir.path(), dir_fd.get(), "big.bin", payload.data(), payload.size())) {
      state.SkipWithError(fmt::format("raw write: {}", std::strerror(errno)).c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBigObject));
}

// The object the Get benchmarks read, written once per process (not once per repetition): a
// store per ETag policy, and one plain file. Removed with the run directory.
std::map<EtagPolicy, std::shared_ptr<LocalStore>> g_get_stores;  // closed by main at the end

std::shared_ptr<LocalStore> GetStoreWithObject(benchmark::State& state, EtagPolicy policy) {
  auto it = g_get_stores.find(policy);
  if (it != g_get_stores.end()) return it->second;
  auto store = OpenStore(state, g_run_dir / fmt::format("get-{}", PolicyName(policy)), policy);
  if (!store) return nullptr;
  if (auto put = store->Put("big.bin", BigPayload(), {}); !put.ok()) {
    state.SkipWithError(put.status().ToString().c_str());
    return nullptr;
  }
  g_get_stores.emplace(policy, store);
  return store;
}

const fs::path* RawFileWithObject() {
  static const std::optional<fs::path> path = []() -> std::optional<fs::path> {
    const fs::path dir = g_run_dir / "get-raw";
    fs::create_directories(dir);
    DirFd dir_fd(dir);
    const Bytes& payload = BigPayload();
    if (!RawDurableWrite(dir, dir_fd.get(), "big.bin", payload.data(), payload.size())) {
      return std::nullopt;
    }
    return dir / "big.bin";
  }();
  return path ? &*path : nullptr;
}

void BM_LocalGet(benchmark::State& state, EtagPolicy policy) {
  auto store = GetStoreWithObject(state, policy);
  if (!store) return;
  for (auto _ : state) {
    auto got = store->Get("big.bin", {});
    if (!got.ok() || got->data.size() != kBigObject) {
      state.SkipWithError(got.ok() ? "short read" : got.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(got->data.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBigObject));
}

void BM_RawPread(benchmark::State& state) {
  const fs::path* path = RawFileWithObject();
  if (path == nullptr) {
    state.SkipWithError("raw write failed");
    return;
  }
  for (auto _ : state) {
    // Like a Get: open, allocate a buffer for the whole object, read it.
    const int fd = open(path->c_str(), O_RDONLY | O_CLOEXEC);
    std::unique_ptr<char[]> buffer(new char[kBigObject]);
    const bool ok = fd >= 0 && PreadAll(fd, buffer.get(), kBigObject);
    if (fd >= 0) close(fd);
    if (!ok) {
      state.SkipWithError("raw pread failed");
      break;
    }
    benchmark::DoNotOptimize(buffer.get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBigObject));
}

// ---------------------------------------------------------------------------------------------
// (b) Durable 4 KiB puts.

void BM_LocalDurableSmallPut(benchmark::State& state, EtagPolicy policy) {
  ScratchDir dir(fmt::format("small-{}", PolicyName(policy)));
  auto store = OpenStore(state, dir.path() / "store", policy);
  if (!store) return;
  const Bytes payload = RandomBytes(kSmallObject, 2);
  int i = 0;
  sync();
  for (auto _ : state) {
    auto put = store->Put(fmt::format("small/{}", i++ % kSmallKeys), payload, {});
    if (!put.ok()) {
      state.SkipWithError(put.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawDurableSmallPut(benchmark::State& state) {
  ScratchDir dir("small-raw");
  DirFd dir_fd(dir.path());
  const Bytes payload = RandomBytes(kSmallObject, 2);
  int i = 0;
  sync();
  for (auto _ : state) {
    if (!RawDurableWrite(dir.path(), dir_fd.get(), fmt::format("{}", i++ % kSmallKeys),
                         payload.data(), payload.size())) {
      state.SkipWithError(fmt::format("raw write: {}", std::strerror(errno)).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------------------------------------
// (c) Memory store Get vs memcpy.

void BM_MemoryGet(benchmark::State& state) {
  depot::object::MemoryStore store;
  if (auto put = store.Put("blob", RandomBytes(kMemoryObject, 3), {}); !put.ok()) {
    state.SkipWithError(put.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    auto got = store.Get("blob", {});
    if (!got.ok() || got->data.size() != kMemoryObject) {
      state.SkipWithError("memory get failed");
      break;
    }
    benchmark::DoNotOptimize(got->data.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kMemoryObject));
}

void BM_Memcpy(benchmark::State& state) {
  const Bytes source = RandomBytes(kMemoryObject, 3);
  std::unique_ptr<char[]> target(new char[kMemoryObject]);
  std::memset(target.get(), 0, kMemoryObject);  // fault the pages in outside the loop
  for (auto _ : state) {
    std::memcpy(target.get(), source.data(), kMemoryObject);
    benchmark::DoNotOptimize(target.get());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kMemoryObject));
}

// CRC-32C (hardware where the CPU has it) and, as its baseline, the table-driven CRC-32 that
// CRC-32C used before: the same work per byte in software.
void BM_Checksum(benchmark::State& state, PayloadChecksum::Algorithm algorithm, size_t size) {
  const Bytes source = RandomBytes(size, 4);
  for (auto _ : state) {
    PayloadChecksum checksum(algorithm);
    checksum.Update(source.view());
    benchmark::DoNotOptimize(checksum.Finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

// ---------------------------------------------------------------------------------------------
// Reporting.

void PrintRatios(const CapturingReporter& reporter) {
  std::printf(
      "\nRatios (depot speed / baseline speed = baseline time / depot time per operation, medians "
      "of the interleaved repetitions; 1.00 = as fast as the baseline, higher = faster):\n");
  auto speed_ratio = [&](const std::string& depot, const std::string& baseline) {
    PrintSpeedRatio(reporter, depot, baseline);
  };
  for (const char* policy : {"content_md5", "unique"}) {
    speed_ratio(fmt::format("local_put_1GiB/{}", policy), "raw_put_1GiB");
  }
  for (const char* policy : {"content_md5", "unique"}) {
    speed_ratio(fmt::format("local_get_1GiB/{}", policy), "raw_pread_1GiB");
  }
  for (const char* policy : {"content_md5", "unique"}) {
    speed_ratio(fmt::format("local_durable_put_4KiB/{}", policy), "raw_durable_put_4KiB");
  }
  speed_ratio("memory_get_64MiB", "memcpy_64MiB");
  speed_ratio("crc32c_64MiB", "crc32_tables_64MiB");
  speed_ratio("crc32c_64MiB", "memcpy_64MiB");
  speed_ratio("crc32c_256KiB", "crc32_tables_256KiB");

  for (const char* malloc_mode : {"glibc_default", "mmap_threshold_1MiB"}) {
    const std::string name = fmt::format("buffered_upload_4GiB/{}", malloc_mode);
    const std::string label = fmt::format("{} peak RSS growth", name);
    const Captured* upload = reporter.Find(name);
    if (upload == nullptr || !upload->counters.count("peak_growth_MiB")) {
      std::printf("ratio %-55s : %-20s   (missing)\n", label.c_str(), "bound (4+1) x 8 MiB");
      continue;
    }
    const double growth = upload->counters.at("peak_growth_MiB");
    const double bound = upload->counters.at("bound_MiB");
    std::printf("ratio %-55s : %-20s %9.3g   (%.1f MiB vs %.1f MiB)%s\n", label.c_str(),
                "bound (4+1) x 8 MiB", growth / bound, growth, bound,
                growth > bound ? "  over the bound" : "");
  }
}

// Registers the comparisons: every benchmark and its baseline, repeated three times; with random
// interleaving (on unless the command line says otherwise) their repetitions alternate, so a
// burst of load on the machine hits both sides rather than one. The ratios use medians.
void RegisterComparisons() {
  constexpr int kRepetitions = 3;
  constexpr int kPutRepetitions = 5;  // the noisiest: fsync of 1 GiB
  for (EtagPolicy policy : {EtagPolicy::kContentMd5, EtagPolicy::kUnique}) {
    benchmark::RegisterBenchmark(fmt::format("local_put_1GiB/{}", PolicyName(policy)).c_str(),
                                 BM_LocalPut, policy)
        ->Iterations(1)
        ->Repetitions(kPutRepetitions)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("raw_put_1GiB", BM_RawPut)
      ->Iterations(1)
      ->Repetitions(kPutRepetitions)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  for (EtagPolicy policy : {EtagPolicy::kContentMd5, EtagPolicy::kUnique}) {
    benchmark::RegisterBenchmark(fmt::format("local_get_1GiB/{}", PolicyName(policy)).c_str(),
                                 BM_LocalGet, policy)
        ->Iterations(2)
        ->Repetitions(kRepetitions)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("raw_pread_1GiB", BM_RawPread)
      ->Iterations(2)
      ->Repetitions(kRepetitions)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  for (EtagPolicy policy : {EtagPolicy::kContentMd5, EtagPolicy::kUnique}) {
    benchmark::RegisterBenchmark(
        fmt::format("local_durable_put_4KiB/{}", PolicyName(policy)).c_str(),
        BM_LocalDurableSmallPut, policy)
        ->MinTime(1.5)
        ->Repetitions(kRepetitions)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("raw_durable_put_4KiB", BM_RawDurableSmallPut)
      ->MinTime(1.5)
      ->Repetitions(kRepetitions)
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("memory_get_64MiB", BM_MemoryGet)
      ->Repetitions(kRepetitions)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("memcpy_64MiB", BM_Memcpy)
      ->Repetitions(kRepetitions)
      ->Unit(benchmark::kMicrosecond);
  for (const auto& [suffix, size] : {std::pair<const char*, size_t>{"64MiB", kMemoryObject},
                                     std::pair<const char*, size_t>{"256KiB", 256 << 10}}) {
    benchmark::RegisterBenchmark(fmt::format("crc32c_{}", suffix).c_str(), BM_Checksum,
                                 PayloadChecksum::Algorithm::kCrc32c, size)
        ->Repetitions(kRepetitions)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(fmt::format("crc32_tables_{}", suffix).c_str(), BM_Checksum,
                                 PayloadChecksum::Algorithm::kCrc32, size)
        ->Repetitions(kRepetitions)
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Interleave repetitions by default; an explicit --benchmark_enable_random_interleaving wins.
  if (!depot::bench::InitializeInterleaved(argc, argv)) return 1;

  const char* env = std::getenv("DEPOT_BENCH_DIR");
  const fs::path base = fs::absolute(env != nullptr && *env != '\0' ? env : "var/bench");
  std::error_code ec;
  const bool created_base = !fs::exists(base, ec);
  g_run_dir = base / fmt::format("run-{}", getpid());
  fs::create_directories(g_run_dir, ec);
  if (ec) {
    std::fprintf(stderr, "cannot create %s: %s\n", g_run_dir.c_str(), ec.message().c_str());
    return 1;
  }

  CapturingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                                                   : benchmark::ConsoleReporter::OO_Tabular);
  // The memory measurements run first and alone, one per phase: before the 1 GiB benchmarks
  // have grown the heap, and glibc's defaults before mallopt changes them for good.
  for (bool fixed : {false, true}) {
    benchmark::RegisterBenchmark(
        fixed ? "buffered_upload_4GiB/mmap_threshold_1MiB" : "buffered_upload_4GiB/glibc_default",
        BM_BufferedUploadPeakMemory, fixed)
        ->Iterations(1)
        ->Unit(benchmark::kSecond)
        ->UseRealTime();
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::ClearRegisteredBenchmarks();
  }
  RegisterComparisons();
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  PrintRatios(reporter);

  g_get_stores.clear();
  fs::remove_all(g_run_dir, ec);
  if (created_base) fs::remove(base, ec);  // only if empty: never someone else's files
  return 0;
}
