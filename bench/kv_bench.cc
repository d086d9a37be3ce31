// depot_bench_kv: the kv layer against RocksDB's own API and against one synced write per
// command, measured in the same run, with a ratio table printed at the end.
//
//   rocksdb_put/{depot,raw}        random 16-byte keys, 100-byte values, one put per write
//                                  (buffered: WAL on, no fsync), through kv::RocksDbStore vs
//                                  rocksdb::DB::Put on a column family with the same options
//   rocksdb_get/{depot,raw}        random gets over 1M such keys, loaded beforehand
//   rocksdb_prefix_scan/{depot,raw}  scans of an 8-byte prefix holding 100 keys
//   durable_writes/{manager,direct}  8 threads writing one-put commands durably: through the
//                                  StorageManager's group commit vs each thread committing every
//                                  command with Durability::kSync itself; reported per command
//   backends/BACKEND/{put,get,scan}  the same small workload on memory, RocksDB, SQLite and LMDB
//
// Data goes under $DEPOT_BENCH_DIR (default ./var/bench) in a run-<pid> directory removed at
// the end. About 3 minutes on the 2-core VM.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_report.h"
#include "depot/core/split_mix64.h"
#include "depot/kv/keys.h"
#include "depot/kv/manager.h"
#include "depot/kv/open.h"
#include "depot/kv/rocksdb/rocksdb_store.h"

namespace {

namespace fs = std::filesystem;
using depot::SplitMix64;
using depot::bench::CapturingReporter;
using depot::bench::PrintSpeedRatio;
using namespace depot::kv;

constexpr uint64_t kKeys = 1'000'000;
constexpr uint64_t kKeysPerPrefix = 100;
const std::string kValue(100, 'v');

fs::path g_run_dir;

// Key i: 8 bytes of prefix group (i / 100), 8 of i: 16 bytes, grouped 100 to a prefix.
std::string Key(uint64_t i) { return ConcatBytes(EncodeU64(i / kKeysPerPrefix), EncodeU64(i)); }

// The two RocksDB databases under test, loaded with the same kKeys pairs.
struct RocksPair {
  std::shared_ptr<RocksDbStore> depot;
  std::unique_ptr<rocksdb::DB> raw;
  rocksdb::ColumnFamilyHandle* raw_family = nullptr;
  ~RocksPair() {
    if (raw != nullptr) {
      (void)raw->DestroyColumnFamilyHandle(raw_family);
      (void)raw->Close();
    }
  }
};

RocksPair& Rocks() {
  static RocksPair* pair = [] {
    auto* p = new RocksPair();
    auto store =
        RocksDbStore::Open({.path = (g_run_dir / "depot-rocks").string(), .spaces = {"s"}});
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      std::exit(1);
    }
    p->depot = *store;
    // The raw database with the options RocksDbStore sets: the same compression, a column family.
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.paranoid_checks = true;
    rocksdb::ColumnFamilyOptions family_options;
    family_options.compression = rocksdb::kLZ4Compression;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, family_options}, {"s", family_options}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    rocksdb::Status opened =
        rocksdb::DB::Open(db_options, (g_run_dir / "raw-rocks").string(), families, &handles, &db);
    if (!opened.ok()) {
      std::fprintf(stderr, "%s\n", opened.ToString().c_str());
      std::exit(1);
    }
    p->raw.reset(db);
    (void)db->DestroyColumnFamilyHandle(handles[0]);
    p->raw_family = handles[1];
    for (uint64_t start = 0; start < kKeys; start += 10'000) {
      WriteBatch batch;
      rocksdb::WriteBatch raw_batch;
      for (uint64_t i = start; i < start + 10'000; ++i) {
        batch.Put("s", Key(i), kValue);
        (void)raw_batch.Put(p->raw_family, Key(i), kValue);
      }
      (void)p->depot->Commit(batch, Durability::kBuffered);
      (void)p->raw->Write(rocksdb::WriteOptions(), &raw_batch);
    }
    (void)p->depot->Flush();
    (void)p->raw->Flush(rocksdb::FlushOptions(), p->raw_family);
    return p;
  }();
  return *pair;
}

void BM_RocksPut(benchmark::State& state, bool through_depot) {
  RocksPair& rocks = Rocks();
  SplitMix64 rng(state.thread_index() + 1);
  for (auto _ : state) {
    const std::string key = Key(rng.Next() % (kKeys * 2));
    if (through_depot) {
      WriteBatch batch;
      batch.Put("s", key, kValue);
      if (!rocks.depot->Commit(batch, Durability::kBuffered).ok()) state.SkipWithError("put");
    } else {
      if (!rocks.raw->Put(rocksdb::WriteOptions(), rocks.raw_family, key, kValue).ok()) {
        state.SkipWithError("put");
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RocksGet(benchmark::State& state, bool through_depot) {
  RocksPair& rocks = Rocks();
  SplitMix64 rng(7);
  std::string value;
  for (auto _ : state) {
    const std::string key = Key(rng.Next() % kKeys);
    if (through_depot) {
      auto got = rocks.depot->Get("s", key);
      if (!got.ok() || !got->has_value()) state.SkipWithError("get");
    } else {
      if (!rocks.raw->Get(rocksdb::ReadOptions(), rocks.raw_family, key, &value).ok()) {
        state.SkipWithError("get");
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RocksPrefixScan(benchmark::State& state, bool through_depot) {
  RocksPair& rocks = Rocks();
  SplitMix64 rng(11);
  for (auto _ : state) {
    const std::string prefix = EncodeU64(rng.Next() % (kKeys / kKeysPerPrefix));
    uint64_t seen = 0;
    if (through_depot) {
      auto it = rocks.depot->PrefixScan("s", prefix);
      for (; (*it)->Valid(); (*it)->Next()) seen += (*it)->value().size() > 0;
    } else {
      // The same bounded scan with RocksDB's API: an upper bound at the prefix's successor.
      const std::string upper = *PrefixSuccessor(prefix);
      rocksdb::Slice upper_slice(upper);
      rocksdb::ReadOptions read;
      read.iterate_upper_bound = &upper_slice;
      std::unique_ptr<rocksdb::Iterator> it(rocks.raw->NewIterator(read, rocks.raw_family));
      for (it->Seek(prefix); it->Valid(); it->Next()) seen += it->value().size() > 0;
    }
    if (seen != kKeysPerPrefix) state.SkipWithError("scan");
  }
  state.SetItemsProcessed(state.iterations());
}

// 8 threads, each writing `per_thread` one-put commands durably.
constexpr int kWriters = 8;
constexpr int kPerThread = 1000;

void BM_DurableWrites(benchmark::State& state, bool through_manager, std::string backend) {
  for (auto _ : state) {
    state.PauseTiming();
    static int round = 0;
    const std::string path = (g_run_dir / fmt::format("durable-{}-{}", backend, round++)).string();
    auto store = Open(backend == "sqlite" ? fmt::format("sqlite://{}.db", path)
                                          : fmt::format("{}://{}", backend, path),
                      {"s"});
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      return;
    }
    std::unique_ptr<StorageManager> manager;
    if (through_manager) {
      manager = *StorageManager::Start(*store, {.durability = Durability::kSync});
    }
    state.ResumeTiming();
    std::vector<std::thread> threads;
    std::atomic<bool> failed{false};
    for (int t = 0; t < kWriters; ++t) {
      threads.emplace_back([&, t] {
        std::vector<std::future<depot::Status>> pending;
        for (int i = 0; i < kPerThread; ++i) {
          WriteBatch batch;
          batch.Put(
              "s",
              ConcatBytes(EncodeU32(static_cast<uint32_t>(t)), EncodeU32(static_cast<uint32_t>(i))),
              kValue);
          if (through_manager) {
            pending.push_back(manager->SubmitWrite(std::move(batch)));
          } else if (!(*store)->Commit(batch, Durability::kSync).ok()) {
            failed = true;
          }
        }
        for (auto& f : pending) failed = failed || !f.get().ok();
      });
    }
    for (auto& thread : threads) thread.join();
    if (failed) state.SkipWithError("a write failed");
    state.PauseTiming();
    manager.reset();
    store->reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kWriters * kPerThread);
}

// The same small workload on each backend: 20,000 keys put in batches of 100, then random gets
// and prefix scans of 100 keys.
constexpr uint64_t kSmallKeys = 20'000;

// Closed before main returns: RocksDB must not outlive its own statics.
std::map<std::string, std::shared_ptr<Store>> g_backends;

std::shared_ptr<Store> Backend(const std::string& name) {
  auto& store = g_backends[name];
  if (store == nullptr) {
    const std::string path = (g_run_dir / ("side-" + name)).string();
    const std::string url = name == "memory"   ? "mem://"
                            : name == "sqlite" ? fmt::format("sqlite://{}.db", path)
                                               : fmt::format("{}://{}", name, path);
    store = *Open(url, {"s"});
    for (uint64_t start = 0; start < kSmallKeys; start += 100) {
      WriteBatch batch;
      for (uint64_t i = start; i < start + 100; ++i) batch.Put("s", Key(i), kValue);
      (void)store->Commit(batch, Durability::kBuffered);
    }
  }
  return store;
}

void BM_BackendPutBatch(benchmark::State& state, std::string name) {
  std::shared_ptr<Store> store = Backend(name);
  SplitMix64 rng(3);
  for (auto _ : state) {
    WriteBatch batch;
    for (int i = 0; i < 100; ++i) batch.Put("s", Key(rng.Next() % kSmallKeys), kValue);
    if (!store->Commit(batch, Durability::kBuffered).ok()) state.SkipWithError("commit");
  }
  state.SetItemsProcessed(state.iterations() * 100);
}

void BM_BackendGet(benchmark::State& state, std::string name) {
  std::shared_ptr<Store> store = Backend(name);
  SplitMix64 rng(5);
  for (auto _ : state) {
    auto got = store->Get("s", Key(rng.Next() % kSmallKeys));
    if (!got.ok() || !got->has_value()) state.SkipWithError("get");
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_BackendScan(benchmark::State& state, std::string name) {
  std::shared_ptr<Store> store = Backend(name);
  SplitMix64 rng(9);
  for (auto _ : state) {
    auto it = store->PrefixScan("s", EncodeU64(rng.Next() % (kSmallKeys / kKeysPerPrefix)));
    uint64_t seen = 0;
    for (; (*it)->Valid(); (*it)->Next()) ++seen;
    if (seen != kKeysPerPrefix) state.SkipWithError("scan");
  }
  state.SetItemsProcessed(state.iterations());
}

void Register() {
  constexpr int kRepetitions = 3;
  for (bool depot : {true, false}) {
    const char* side = depot ? "depot" : "raw";
    benchmark::RegisterBenchmark(fmt::format("rocksdb_put/{}", side).c_str(), BM_RocksPut, depot)
        ->Iterations(100'000)
        ->Repetitions(kRepetitions)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(fmt::format("rocksdb_get/{}", side).c_str(), BM_RocksGet, depot)
        ->Iterations(200'000)
        ->Repetitions(kRepetitions)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(fmt::format("rocksdb_prefix_scan/{}", side).c_str(),
                                 BM_RocksPrefixScan, depot)
        ->Iterations(20'000)
        ->Repetitions(kRepetitions)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (const char* backend : {"rocksdb", "sqlite", "lmdb"}) {
    for (bool manager : {true, false}) {
      benchmark::RegisterBenchmark(
          fmt::format("durable_writes/{}/{}", backend, manager ? "manager" : "direct").c_str(),
          BM_DurableWrites, manager, std::string(backend))
          ->Iterations(1)
          ->Repetitions(kRepetitions)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const char* backend : {"memory", "rocksdb", "sqlite", "lmdb"}) {
    benchmark::RegisterBenchmark(fmt::format("backends/{}/put_batch_100", backend).c_str(),
                                 BM_BackendPutBatch, std::string(backend))
        ->MinTime(0.5)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(fmt::format("backends/{}/get", backend).c_str(), BM_BackendGet,
                                 std::string(backend))
        ->MinTime(0.5)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(fmt::format("backends/{}/prefix_scan_100", backend).c_str(),
                                 BM_BackendScan, std::string(backend))
        ->MinTime(0.5)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!depot::bench::InitializeInterleaved(argc, argv)) return 1;
  g_run_dir = depot::bench::MakeRunDir("kv");
  if (g_run_dir.empty()) return 1;
  std::error_code ec;
  Register();
  CapturingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                                                   : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf(
      "\nRatios (depot speed / baseline speed = baseline time / depot time per operation, medians "
      "of the interleaved repetitions; 1.00 = as fast as the baseline, higher = faster):\n");
  for (const char* op : {"rocksdb_put", "rocksdb_get", "rocksdb_prefix_scan"}) {
    PrintSpeedRatio(reporter, fmt::format("{}/depot", op), fmt::format("{}/raw", op));
  }
  for (const char* backend : {"rocksdb", "sqlite", "lmdb"}) {
    PrintSpeedRatio(reporter, fmt::format("durable_writes/{}/manager", backend),
                    fmt::format("durable_writes/{}/direct", backend));
  }
  benchmark::Shutdown();
  g_backends.clear();
  fs::remove_all(g_run_dir, ec);
  return 0;
}
