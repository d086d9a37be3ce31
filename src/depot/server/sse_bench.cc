// depot_bench_sse: server-side encryption's chunked AES-256-GCM (server/sse.h) against baselines
// in the same run.
//
//   sse/seal     1 MiB of plaintext sealed into 64 KiB chunks with their tags (a PUT's cost)
//   sse/unseal   the same stored bytes authenticated and decrypted (a GET's cost)
//   md5          the MD5 of the same 1 MiB, which every PUT already computes (ETag, Content-MD5)
//   memcpy       a copy of the same 1 MiB
// About 30 s on the 2-core VM.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "bench_report.h"
#include "depot/core/md5.h"
#include "depot/server/sse.h"

namespace {

using depot::bench::CapturingReporter;
using depot::bench::PrintSpeedRatio;
using depot::server::SealKey;

constexpr size_t kPiece = 1 << 20;

SealKey Key() {
  SealKey key;
  key.fill(0x5a);
  return key;
}

std::string Plain() {
  std::string text(kPiece, '\0');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 131 + 7);
  return text;
}

std::string Sealed(const std::string& plain) {
  std::string stored;
  depot::server::Sealer sealer(Key(), [&](std::string_view bytes) {
    stored.append(bytes);
    return depot::Status::Ok();
  });
  if (!sealer.Write(plain).ok() || !sealer.Finish().ok()) std::abort();
  return stored;
}

void Seal(benchmark::State& state) {
  const std::string plain = Plain();
  std::string out(depot::server::SealedSize(kPiece), '\0');
  for (auto _ : state) {
    size_t at = 0;
    depot::server::Sealer sealer(Key(), [&](std::string_view bytes) {
      std::memcpy(out.data() + at, bytes.data(), bytes.size());
      at += bytes.size();
      return depot::Status::Ok();
    });
    if (!sealer.Write(plain).ok() || !sealer.Finish().ok()) return state.SkipWithError("seal");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPiece));
}

void Unseal(benchmark::State& state) {
  const std::string stored = Sealed(Plain());
  std::string out(kPiece, '\0');
  for (auto _ : state) {
    size_t at = 0;
    depot::server::Unsealer unsealer(Key(), 0, kPiece, [&](std::string_view bytes) {
      std::memcpy(out.data() + at, bytes.data(), bytes.size());
      at += bytes.size();
      return depot::Status::Ok();
    });
    if (!unsealer.Write(stored).ok() || !unsealer.Finish().ok()) {
      return state.SkipWithError("unseal");
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPiece));
}

void Md5(benchmark::State& state) {
  const std::string plain = Plain();
  for (auto _ : state) {
    depot::Md5 md5;
    md5.Update(plain);
    benchmark::DoNotOptimize(md5.Finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPiece));
}

void Memcpy(benchmark::State& state) {
  const std::string plain = Plain();
  std::string out(kPiece, '\0');
  for (auto _ : state) {
    std::memcpy(out.data(), plain.data(), kPiece);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPiece));
}

}  // namespace

int main(int argc, char** argv) {
  if (!depot::bench::InitializeInterleaved(argc, argv)) return 1;
  benchmark::RegisterBenchmark("sse/seal", Seal)->Repetitions(5);
  benchmark::RegisterBenchmark("sse/unseal", Unseal)->Repetitions(5);
  benchmark::RegisterBenchmark("md5", Md5)->Repetitions(5);
  benchmark::RegisterBenchmark("memcpy", Memcpy)->Repetitions(5);
  CapturingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                                                   : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nRatios (depot speed / baseline speed, medians of the interleaved repetitions):\n");
  PrintSpeedRatio(reporter, "sse/seal", "md5");
  PrintSpeedRatio(reporter, "sse/unseal", "md5");
  PrintSpeedRatio(reporter, "sse/seal", "memcpy");
  benchmark::Shutdown();
  return 0;
}
