// depot_bench_cas: the cost of verification on range reads of a content-addressed blob.
//
//   read/verified/N     BlobStore::Read of N bytes at a random offset of one 256 MiB blob, checked
//                       against its ContentId through the outboard tree (the default)
//   read/unverified/N   the same ranges with ReadBlobOptions{.verify = false}: the object store's
//                       ranged read alone, the baseline
//
// for N = 4 KiB, 64 KiB, 1 MiB and 64 MiB. A verified read reads and hashes whole 16 KiB groups
// (the tree's leaves) around the range plus the parents on the path to the root, so small ranges
// pay a fixed cost and large ones the hashing of their bytes. The store is cas:///<run dir>: the
// bytes in a local object store, the index in RocksDB, under $DEPOT_BENCH_DIR (default
// ./var/bench; /dev/shm to leave the disk out) in a run-<pid> directory removed at the end.
// About a minute on the 2-core VM.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench_report.h"
#include "depot/cas/open.h"

namespace {

namespace fs = std::filesystem;
using depot::bench::CapturingReporter;
using depot::bench::PrintSpeedRatio;

constexpr uint64_t kBlobSize = uint64_t{256} << 20;
constexpr uint64_t kRangeSizes[] = {4 << 10, 64 << 10, 1 << 20, 64 << 20};

std::unique_ptr<depot::cas::BlobStore> g_blobs;
depot::cas::ContentId g_id;

// Stores one blob of random bytes, written through a BlobWriter in 4 MiB pieces.
depot::Status StoreBlob() {
  DEPOT_ASSIGN_OR_RETURN(std::unique_ptr<depot::cas::BlobWriter> writer, g_blobs->OpenWriter());
  std::mt19937_64 rng(7);
  std::string piece(4 << 20, '\0');
  for (uint64_t at = 0; at < kBlobSize; at += piece.size()) {
    for (size_t i = 0; i < piece.size(); i += 8) {
      const uint64_t word = rng();
      std::memcpy(piece.data() + i, &word, 8);
    }
    DEPOT_RETURN_IF_ERROR(writer->Write(piece));
  }
  DEPOT_ASSIGN_OR_RETURN(depot::cas::PutBlobResult put, writer->Finish());
  g_id = put.id;
  return depot::Status::Ok();
}

void ReadRange(benchmark::State& state, uint64_t size, bool verify) {
  std::mt19937_64 rng(size);  // the same offsets for both variants
  uint64_t got = 0;
  const auto sink = [&](std::string_view piece) {
    got += piece.size();
    benchmark::DoNotOptimize(piece.data());
    return depot::Status::Ok();
  };
  for (auto _ : state) {
    const uint64_t begin = rng() % (kBlobSize - size + 1);
    got = 0;
    const depot::Status status = g_blobs->Read(g_id, depot::ByteRange::Bounded(begin, begin + size),
                                               sink, {.verify = verify});
    if (!status.ok()) return state.SkipWithError(status.ToString().c_str());
    if (got != size) return state.SkipWithError("short read");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

std::string SizeName(uint64_t size) {
  return size >= (1 << 20) ? fmt::format("{}MiB", size >> 20) : fmt::format("{}KiB", size >> 10);
}

}  // namespace

int main(int argc, char** argv) {
  if (!depot::bench::InitializeInterleaved(argc, argv)) return 1;
  const fs::path run_dir = depot::bench::MakeRunDir("cas");
  if (run_dir.empty()) return 1;
  auto blobs = depot::cas::Open("cas://" + run_dir.string());
  if (!blobs.ok()) {
    std::fprintf(stderr, "%s\n", blobs.status().ToString().c_str());
    return 1;
  }
  g_blobs = std::move(*blobs);
  if (const depot::Status stored = StoreBlob(); !stored.ok()) {
    std::fprintf(stderr, "%s\n", stored.ToString().c_str());
    return 1;
  }
  for (const uint64_t size : kRangeSizes) {
    for (const bool verify : {true, false}) {
      const std::string name =
          fmt::format("read/{}/{}", verify ? "verified" : "unverified", SizeName(size));
      benchmark::RegisterBenchmark(
          name.c_str(), [size, verify](benchmark::State& state) { ReadRange(state, size, verify); })
          ->Repetitions(5)
          ->UseRealTime();
    }
  }
  CapturingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                                                   : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf(
      "\nRatios (verified speed / unverified speed, medians of the interleaved repetitions; "
      "1 - ratio is the overhead):\n");
  for (const uint64_t size : kRangeSizes) {
    PrintSpeedRatio(reporter, "read/verified/" + SizeName(size),
                    "read/unverified/" + SizeName(size));
  }
  benchmark::Shutdown();
  g_blobs.reset();
  std::error_code ec;
  fs::remove_all(run_dir, ec);
  return 0;
}
