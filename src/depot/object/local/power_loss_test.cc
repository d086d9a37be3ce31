// Simulated power losses under the local store: kill -9 keeps the page cache, so it cannot test
// fsync ordering; this can. Each iteration runs a random workload (puts, create-only puts, streamed
// writes, deletes, renames, copies, multipart uploads with streamed parts) on a store over a
// FaultInjectingFileSystem, cuts the power at a random changing system call, throws away what a
// power loss may take (unsynced data, unsynced directory changes, a random part of each), reopens
// the store on the real file system and checks every key against a model:
//   - every acknowledged write is there, with exactly its bytes (0 lost);
//   - the write in progress at the cut is either there whole or absent, never partial, and no
//     read fails with kDataLoss (0 torn);
//   - listing shows no key the model does not know.
// DEPOT_POWER_LOSS_SEED replays a run; DEPOT_POWER_LOSS_ITERATIONS changes its length (200).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/helpers.h"
#include "depot/object/local/local_store.h"
#include "depot/object/local/testing/fault_file_system.h"

namespace depot::object {
namespace {

namespace fs = std::filesystem;
using ::depot::object::testing::FaultInjectingFileSystem;
using ::depot::testing::IsOk;

using Value = std::optional<std::string>;  // nullopt: no object
using Model = std::map<std::string, Value>;

// Keys of every layout: plain, an object that is also a directory ("a" and "a/x", "d/e" and
// "d/e/f"), escaped segments ("e/", "../up") and hashed ones (a 300-byte segment as a directory and
// as a file).
const std::vector<std::string> kKeys = {"a",
                                        "b",
                                        "d/c",
                                        "d/e/f",
                                        "d/e",
                                        "a/x",
                                        "e/",
                                        "../up",
                                        std::string(300, 'h') + "/z",
                                        "h/" + std::string(300, 'h')};

std::string RandomValue(std::mt19937_64& rng) {
  static const size_t kSizes[] = {0, 1, 100, 5000, 70000};
  std::string value(kSizes[rng() % 5], '\0');
  for (char& c : value) c = static_cast<char>(rng());
  return value;
}

// What one operation does to the model if it lands.
struct Step {
  std::string what;
  Model effect;
};

// Runs operations until `count` have run or one fails. Returns the steps acknowledged, and in
// `failed` the step that failed (if any) with its status.
struct WorkloadRun {
  Model acked;                    // the model after every acknowledged step
  std::optional<Step> in_flight;  // the step that failed, if any
  Status failure;
  int acknowledged = 0;
};

// The next random operation on `store`, given the model; kAlreadyExists of a create-only write is
// an expected answer (OK to the caller), any other error is returned.
Status Apply(ObjectStore& store, std::mt19937_64& rng, const Model& model, Step* step) {
  const std::string key = kKeys[rng() % kKeys.size()];
  const std::string other = kKeys[rng() % kKeys.size()];
  auto current = [&](const std::string& k) -> Value {
    auto it = model.find(k);
    return it == model.end() ? std::nullopt : it->second;
  };
  switch (rng() % 7) {
    case 0: {
      std::string value = RandomValue(rng);
      step->what = fmt::format("put {} ({} bytes)", key, value.size());
      step->effect[key] = value;
      return store.Put(key, Bytes::FromString(std::move(value)), {}).status();
    }
    case 1: {
      std::string value = RandomValue(rng);
      step->what = fmt::format("create-only put {}", key);
      const bool exists = current(key).has_value();
      if (!exists) step->effect[key] = value;
      Status put =
          store.Put(key, Bytes::FromString(std::move(value)), {.mode = PutMode::kCreate}).status();
      return exists && put.code() == StatusCode::kAlreadyExists ? Status::Ok() : put;
    }
    case 2: {
      std::string value = RandomValue(rng) + RandomValue(rng);
      step->what = fmt::format("streamed write of {} ({} bytes)", key, value.size());
      step->effect[key] = value;
      DEPOT_ASSIGN_OR_RETURN(auto writer, store.OpenWriter(key));
      for (size_t at = 0; at < value.size(); at += 4000) {
        DEPOT_RETURN_IF_ERROR(writer->Write(std::string_view(value).substr(at, 4000)));
      }
      return writer->Finish().status();
    }
    case 3:
      step->what = fmt::format("delete {}", key);
      step->effect[key] = std::nullopt;
      return store.Delete(key);
    case 4: {
      step->what = fmt::format("rename {} to {}", key, other);
      const Value moved = current(key);
      if (!moved || key == other) return Status::Ok();
      step->effect[key] = std::nullopt;
      step->effect[other] = moved;
      return store.Rename(key, other, CopyMode::kOverwrite);
    }
    case 5: {
      step->what = fmt::format("copy {} to {}", key, other);
      const Value copied = current(key);
      if (!copied || key == other) return Status::Ok();
      step->effect[other] = copied;
      return store.Copy(key, other, CopyMode::kOverwrite).status();
    }
    default: {
      std::string first = RandomValue(rng) + "1", second = RandomValue(rng) + "2";
      step->what = fmt::format("multipart upload of {}", key);
      step->effect[key] = first + second;
      DEPOT_ASSIGN_OR_RETURN(std::string id, store.CreateMultipart(key, {}));
      DEPOT_ASSIGN_OR_RETURN(PartInfo p1, store.PutPart(key, id, 1, Bytes::FromString(first)));
      DEPOT_ASSIGN_OR_RETURN(auto part, store.OpenPartWriter(key, id, 2));
      DEPOT_RETURN_IF_ERROR(part->Write(second));
      DEPOT_ASSIGN_OR_RETURN(PartInfo p2, part->Finish());
      std::vector<PartInfo> parts = {p1, p2};
      return store.CompleteMultipart(key, id, parts).status();
    }
  }
}

WorkloadRun Workload(ObjectStore& store, uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  WorkloadRun run;
  for (int i = 0; i < count; ++i) {
    Step step;
    Status status = Apply(store, rng, run.acked, &step);
    if (!status.ok()) {
      run.in_flight = std::move(step);
      run.failure = std::move(status);
      return run;
    }
    for (auto& [key, value] : step.effect) run.acked[key] = value;
    ++run.acknowledged;
  }
  return run;
}

std::string Describe(const Value& value) {
  return value ? fmt::format("{} bytes", value->size()) : "absent";
}

class PowerLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "depot-power-loss-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A fresh store root and backup directory for one run.
  fs::path Fresh(const std::string& name) {
    const fs::path run = dir_ / name;
    fs::remove_all(run);
    fs::create_directories(run / "root");
    fs::create_directories(run / "backup");
    return run;
  }

  fs::path dir_;
};

constexpr int kOperations = 12;

TEST_F(PowerLossTest, AcknowledgedWritesSurviveAndNothingIsTorn) {
  uint64_t seed = std::random_device{}();
  if (const char* fixed = std::getenv("DEPOT_POWER_LOSS_SEED")) {
    seed = std::strtoull(fixed, nullptr, 10);
  }
  int iterations = 200;
  if (const char* n = std::getenv("DEPOT_POWER_LOSS_ITERATIONS")) iterations = std::atoi(n);
  std::printf("power loss test seed: %llu (DEPOT_POWER_LOSS_SEED replays it)\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const LocalStoreOptions base{.min_part_size = 1};
  int lost = 0, torn = 0, acknowledged = 0, cuts_mid_operation = 0;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    const uint64_t workload_seed = rng();
    SCOPED_TRACE(fmt::format("iteration {} of seed {}", iteration, seed));

    // A dry run counts the changing calls of the whole workload, to cut somewhere inside it.
    uint64_t total = 0;
    {
      const fs::path run = Fresh("dry");
      FaultInjectingFileSystem counting((run / "backup").string());
      LocalStoreOptions options = base;
      options.file_system = &counting;
      auto store = LocalStore::Open(run / "root", options);
      ASSERT_THAT(store, IsOk());
      const uint64_t opened = counting.changing_calls();
      WorkloadRun dry = Workload(**store, workload_seed, kOperations);
      ASSERT_TRUE(dry.failure.ok()) << dry.in_flight->what << ": " << dry.failure;
      total = counting.changing_calls() - opened;
    }
    ASSERT_GT(total, 0u);

    const fs::path run = Fresh("cut");
    FaultInjectingFileSystem faulty((run / "backup").string());
    LocalStoreOptions options = base;
    options.file_system = &faulty;
    WorkloadRun cut;
    {
      auto store = LocalStore::Open(run / "root", options);
      ASSERT_THAT(store, IsOk());
      faulty.CutPowerAfter(rng() % total);
      cut = Workload(**store, workload_seed, kOperations);
      ASSERT_TRUE(cut.failure.ok() || faulty.power_cut())
          << cut.in_flight->what << " failed before the cut: " << cut.failure;
    }
    ASSERT_THAT(faulty.SimulatePowerLoss(rng()), IsOk());
    acknowledged += cut.acknowledged;
    if (cut.in_flight) ++cuts_mid_operation;

    // What each key may hold now: its acknowledged value, or what the interrupted step wrote.
    std::map<std::string, std::set<Value>> allowed;
    for (const std::string& key : kKeys) {
      auto it = cut.acked.find(key);
      allowed[key].insert(it == cut.acked.end() ? std::nullopt : it->second);
    }
    if (cut.in_flight) {
      for (const auto& [key, value] : cut.in_flight->effect) allowed[key].insert(value);
    }
    auto reopened = LocalStore::Open(run / "root", base);
    ASSERT_THAT(reopened, IsOk());
    for (const auto& [key, values] : allowed) {
      auto got = (*reopened)->Get(key, {});
      Value seen;
      if (got.ok()) {
        seen = got->data.ToString();
      } else if (got.status().code() != StatusCode::kNotFound) {
        ++torn;
        ADD_FAILURE() << "key " << key << " reads as " << got.status() << " after "
                      << (cut.in_flight ? cut.in_flight->what : "the last step");
        continue;
      }
      if (values.count(seen) == 0) {
        const bool was_acked = !cut.in_flight || cut.in_flight->effect.count(key) == 0;
        ++(was_acked ? lost : torn);
        ADD_FAILURE() << "key " << key << " holds " << Describe(seen)
                      << "; allowed: " << fmt::format("{}", values.size())
                      << " value(s), the acknowledged one " << Describe(*values.begin())
                      << (cut.in_flight ? "; interrupted: " : "")
                      << (cut.in_flight ? cut.in_flight->what : "");
      }
    }
    auto listed = ListAll(**reopened, {});
    ASSERT_THAT(listed, IsOk());
    for (const ObjectMeta& meta : *listed) {
      EXPECT_TRUE(allowed.count(meta.key)) << "listing shows an unknown key " << meta.key;
    }
    if (::testing::Test::HasFailure()) break;
  }
  std::printf(
      "%d simulated power losses (%d in the middle of an operation), %d acknowledged writes: "
      "%d lost, %d torn\n",
      iterations, cuts_mid_operation, acknowledged, lost, torn);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(torn, 0);
}

}  // namespace
}  // namespace depot::object
