// depot_bench_resource: progressive resources against their baselines, in the same run.
//
//   wake-up latency   a reader blocked in WaitRange until a writer lands its range: the time
//                     from the writer's WriteAt call to the reader's return, p50 and p99 over
//                     2000 rounds; the baseline is kithara's first design, a reader that looks
//                     every 50 ms (200 rounds: each costs up to 50 ms). Printed first.
//   read_at/{mmap,memcpy}   1 MiB reads in order over a committed 64 MiB mmap resource vs memcpy
//                     of the same bytes from memory.
//
// Data goes under $DEPOT_BENCH_DIR (default ./var/bench) in a run-<pid> directory removed at
// the end. About a minute on the 2-core VM.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_report.h"
#include "depot/resource/memory/memory_driver.h"
#include "depot/resource/mmap/mmap_driver.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using depot::bench::CapturingReporter;
using depot::bench::PrintSpeedRatio;

fs::path g_run_dir;
constexpr uint64_t kFileSize = 64 << 20;
constexpr size_t kPiece = 1 << 20;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * static_cast<double>(values.size() - 1))];
}

// Rounds of: the writer waits a little (so the reader is blocked), notes the time, lands 64
// bytes; the reader, waiting for exactly those bytes, notes when it returns. `poll` set: the
// reader looks every `poll` instead of waiting on the resource.
std::vector<double> WakeUps(int rounds, std::chrono::milliseconds poll) {
  depot::resource::Resource resource = depot::resource::OpenMemoryResource();
  const depot::resource::ResourceReader reader = resource.reader();
  std::vector<Clock::time_point> landed(static_cast<size_t>(rounds));
  std::vector<double> latencies;
  std::atomic<int> ready{-1};  // the round the reader is about to wait for
  std::thread read([&] {
    for (int i = 0; i < rounds; ++i) {
      const uint64_t begin = static_cast<uint64_t>(i) * 64;
      ready.store(i);
      if (poll.count() == 0) {
        if (!reader.WaitRange(begin, begin + 64).ok()) std::abort();
      } else {
        while (!reader.Contains(begin, begin + 64)) std::this_thread::sleep_for(poll);
      }
      const Clock::time_point returned = Clock::now();
      latencies.push_back(Micros(returned - landed[static_cast<size_t>(i)]));
    }
  });
  std::mt19937_64 rng(1);
  const std::string bytes(64, 'x');
  for (int i = 0; i < rounds; ++i) {
    while (ready.load() != i) std::this_thread::yield();
    // Event-driven: 100-300 us, the reader is blocked by then. Polling: anywhere in the poll
    // period, as a write lands at an arbitrary moment of the reader's sleep.
    const uint64_t period_us = poll.count() == 0 ? 200 : static_cast<uint64_t>(poll.count()) * 1000;
    std::this_thread::sleep_for(std::chrono::microseconds(100 + rng() % period_us));
    landed[static_cast<size_t>(i)] = Clock::now();
    if (!resource.writer().WriteAt(static_cast<uint64_t>(i) * 64, bytes).ok()) std::abort();
  }
  read.join();
  return latencies;
}

void PrintWakeUps() {
  const std::vector<double> events = WakeUps(2000, std::chrono::milliseconds(0));
  const std::vector<double> polled = WakeUps(200, std::chrono::milliseconds(50));
  std::printf("wake-up latency, writer's WriteAt to the waiting reader's return:\n");
  std::printf("  event-driven WaitRange (2000 rounds): p50 %8.1f us   p99 %8.1f us\n",
              Percentile(events, 0.5), Percentile(events, 0.99));
  std::printf("  50 ms polling baseline  (200 rounds): p50 %8.1f us   p99 %8.1f us\n",
              Percentile(polled, 0.5), Percentile(polled, 0.99));
  std::printf("  ratio (baseline / depot): p50 %.0fx, p99 %.0fx\n\n",
              Percentile(polled, 0.5) / Percentile(events, 0.5),
              Percentile(polled, 0.99) / Percentile(events, 0.99));
}

void ReadAtMmap(benchmark::State& state) {
  const std::string path = (g_run_dir / "committed").string();
  if (!fs::exists(path)) {  // made once, by the first repetition
    auto resource = depot::resource::OpenMmapResource({.path = path});
    if (!resource.ok()) return state.SkipWithError(resource.status().ToString().c_str());
    const std::string piece(kPiece, 'r');
    for (uint64_t at = 0; at < kFileSize; at += kPiece) {
      if (!resource->writer().WriteAt(at, piece).ok()) return state.SkipWithError("write");
    }
    if (!resource->writer().Commit().ok()) return state.SkipWithError("commit");
  }
  auto resource = depot::resource::OpenMmapResource(
      {.path = path, .mode = depot::resource::OpenMode::kReadOnly});
  if (!resource.ok()) return state.SkipWithError(resource.status().ToString().c_str());
  const depot::resource::ResourceReader reader = resource->reader();
  std::string out(kPiece, '\0');
  uint64_t at = 0;
  for (auto _ : state) {
    auto n = reader.ReadAt(at, std::span<char>(out));
    if (!n.ok() || *n != kPiece) return state.SkipWithError("read");
    benchmark::DoNotOptimize(out.data());
    at = (at + kPiece) % kFileSize;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPiece));
}

void ReadAtMemcpy(benchmark::State& state) {
  const std::string source(kFileSize, 'r');
  std::string out(kPiece, '\0');
  uint64_t at = 0;
  for (auto _ : state) {
    std::memcpy(out.data(), source.data() + at, kPiece);
    benchmark::DoNotOptimize(out.data());
    at = (at + kPiece) % kFileSize;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPiece));
}

}  // namespace

int main(int argc, char** argv) {
  if (!depot::bench::InitializeInterleaved(argc, argv)) return 1;
  g_run_dir = depot::bench::MakeRunDir("resource");
  if (g_run_dir.empty()) return 1;
  std::error_code ec;
  PrintWakeUps();
  benchmark::RegisterBenchmark("read_at/mmap", ReadAtMmap)->Repetitions(5);
  benchmark::RegisterBenchmark("read_at/memcpy", ReadAtMemcpy)->Repetitions(5);
  CapturingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                                                   : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nRatios (depot speed / baseline speed, medians of the interleaved repetitions):\n");
  PrintSpeedRatio(reporter, "read_at/mmap", "read_at/memcpy");
  benchmark::Shutdown();
  fs::remove_all(g_run_dir, ec);
  return 0;
}
