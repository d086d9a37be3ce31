#include "depot/kv/manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "depot/core/testing/status_matchers.h"
#include "depot/kv/keys.h"
#include "depot/kv/memory/memory_store.h"

namespace depot::kv {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// The memory store, counting commits, and able to hold them until released.
class CountingStore final : public Store {
 public:
  CountingStore() : inner_(*MemoryStore::Open({"a", "b"})) {}

  Capabilities capabilities() const override { return inner_->capabilities(); }
  std::string ToString() const override { return "counting(mem://)"; }
  std::vector<std::string> Spaces() const override { return inner_->Spaces(); }

  int commits() const { return commits_; }
  void Hold() { held_ = true; }
  void Release() { held_ = false; }

 protected:
  Status DoCreateSpace(std::string_view space) override { return inner_->CreateSpace(space); }
  Result<std::optional<std::string>> DoGet(std::string_view space, std::string_view key,
                                           const ReadOptions& options) override {
    return inner_->Get(space, key, options);
  }
  Status DoCommit(const WriteBatch& batch, Durability durability) override {
    while (held_) std::this_thread::sleep_for(milliseconds(1));
    ++commits_;
    return inner_->Commit(batch, durability);
  }
  Result<std::unique_ptr<Iterator>> DoScan(std::string_view space,
                                           const ScanOptions& options) override {
    return inner_->Scan(space, options);
  }
  Result<uint64_t> DoApproximateSize(std::string_view space, std::string_view begin,
                                     std::string_view end) override {
    return inner_->ApproximateSize(space, begin, end);
  }
  Result<std::vector<SpaceStats>> DoStats() override { return inner_->Stats(); }

 private:
  std::shared_ptr<MemoryStore> inner_;
  std::atomic<int> commits_{0};
  std::atomic<bool> held_{false};
};

WriteBatch PutBatch(std::string_view space, uint32_t key) {
  WriteBatch batch;
  batch.Put(space, EncodeU32(key), "v" + std::to_string(key));
  return batch;
}

class StorageManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<StorageManager> Start(StorageManagerOptions options) {
    auto manager = StorageManager::Start(store_, options);
    EXPECT_THAT(manager, IsOk());
    return manager.ok() ? std::move(*manager) : nullptr;
  }
  std::shared_ptr<CountingStore> store_ = std::make_shared<CountingStore>();
};

TEST_F(StorageManagerTest, WritesCompleteInSubmissionOrderAfterTheirGroupCommits) {
  auto manager = Start({.group_commands = 10, .group_delay = milliseconds(10'000)});
  std::mutex mu;
  std::vector<uint32_t> completed;
  for (uint32_t i = 0; i < 100; ++i) {
    manager->SubmitWrite(PutBatch("a", i), {}, [&, i](Status status) {
      EXPECT_THAT(status, IsOk());
      // Durable before the callback: the key is in the store already.
      EXPECT_TRUE(store_->Get("a", EncodeU32(i))->has_value());
      std::lock_guard<std::mutex> lock(mu);
      completed.push_back(i);
    });
  }
  ASSERT_THAT(manager->Flush(), IsOk());
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(completed.size(), 100u);
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(completed[i], i);
  EXPECT_EQ(store_->commits(), 10);  // ten full groups of ten
}

TEST_F(StorageManagerTest, AGroupIsCommittedAfterTheDelayOfItsFirstCommand) {
  auto manager = Start({.group_commands = 1000, .group_delay = milliseconds(50)});
  const auto start = Clock::now();
  std::future<Status> one = manager->SubmitWrite(PutBatch("a", 1));
  std::future<Status> two = manager->SubmitWrite(PutBatch("a", 2));
  EXPECT_THAT(one.get(), IsOk());
  EXPECT_THAT(two.get(), IsOk());
  EXPECT_GE(Clock::now() - start, milliseconds(45));
  EXPECT_EQ(store_->commits(), 1);
}

TEST_F(StorageManagerTest, FlushNowCommitsAtOnce) {
  auto manager = Start({.group_commands = 1000, .group_delay = milliseconds(60'000)});
  std::future<Status> first = manager->SubmitWrite(PutBatch("a", 1));
  const auto start = Clock::now();
  std::future<Status> now = manager->SubmitWrite(PutBatch("a", 2), {.flush_now = true});
  EXPECT_THAT(now.get(), IsOk());
  EXPECT_THAT(first.get(), IsOk());  // earlier commands go with it
  EXPECT_LT(Clock::now() - start, milliseconds(5'000));
  EXPECT_EQ(store_->commits(), 1);
}

TEST_F(StorageManagerTest, ABadCommandFailsAloneAndTheOthersLand) {
  auto manager = Start({.group_commands = 3, .group_delay = milliseconds(60'000)});
  WriteBatch bad;
  bad.Put("nowhere", "k", "v");
  std::future<Status> good1 = manager->SubmitWrite(PutBatch("a", 1));
  std::future<Status> wrong = manager->SubmitWrite(std::move(bad));
  std::future<Status> good2 = manager->SubmitWrite(PutBatch("b", 2));
  EXPECT_THAT(good1.get(), IsOk());
  EXPECT_THAT(wrong.get(), StatusIs(StatusCode::kNotFound, HasSubstr("\"nowhere\"")));
  EXPECT_THAT(good2.get(), IsOk());
  EXPECT_TRUE(store_->Get("a", EncodeU32(1))->has_value());
  EXPECT_TRUE(store_->Get("b", EncodeU32(2))->has_value());
}

TEST_F(StorageManagerTest, AFullQueuePushesBackUntilTheContextEnds) {
  auto manager = Start({.write_queue = 2, .group_commands = 1, .group_delay = milliseconds(0)});
  store_->Hold();
  std::vector<std::future<Status>> accepted;
  accepted.push_back(manager->SubmitWrite(PutBatch("a", 0)));  // taken by the writer, held
  std::this_thread::sleep_for(milliseconds(50));
  accepted.push_back(manager->SubmitWrite(PutBatch("a", 1)));
  accepted.push_back(manager->SubmitWrite(PutBatch("a", 2)));  // the queue is full now
  const auto start = Clock::now();
  EXPECT_THAT(
      manager->SubmitWrite(PutBatch("a", 3), {}, Context().WithTimeout(milliseconds(100))).get(),
      StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("write command")));
  EXPECT_GE(Clock::now() - start, milliseconds(90));
  CancellationSource stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(50));
    stop.Cancel();
  });
  EXPECT_THAT(manager->SubmitWrite(PutBatch("a", 4), {}, Context(stop.token())).get(),
              StatusIs(StatusCode::kCancelled));
  canceller.join();
  store_->Release();
  for (auto& f : accepted) EXPECT_THAT(f.get(), IsOk());
  EXPECT_FALSE(store_->Get("a", EncodeU32(3))->has_value());
  EXPECT_FALSE(store_->Get("a", EncodeU32(4))->has_value());
}

TEST_F(StorageManagerTest, ShutdownCommitsEverythingAcceptedAndRefusesTheRest) {
  auto manager = Start({.group_commands = 1000, .group_delay = milliseconds(60'000)});
  std::vector<std::future<Status>> accepted;
  for (uint32_t i = 0; i < 50; ++i) accepted.push_back(manager->SubmitWrite(PutBatch("a", i)));
  const auto start = Clock::now();
  ASSERT_THAT(manager->Shutdown(), IsOk());
  EXPECT_LT(Clock::now() - start, milliseconds(30'000));
  for (auto& f : accepted) EXPECT_THAT(f.get(), IsOk());
  for (uint32_t i = 0; i < 50; ++i) EXPECT_TRUE(store_->Get("a", EncodeU32(i))->has_value());
  EXPECT_THAT(manager->SubmitWrite(PutBatch("a", 99)).get(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("shut down")));
  auto read = manager->SubmitRead<std::optional<std::string>>(
      [](Store& s) { return s.Get("a", EncodeU32(1)); });
  EXPECT_THAT(read.get(), StatusIs(StatusCode::kFailedPrecondition, HasSubstr("shut down")));
  EXPECT_THAT(manager->Shutdown(), IsOk());  // again: nothing to do
}

TEST_F(StorageManagerTest, ReadsRunOnTheReaderThreadsInParallel) {
  auto manager = Start({.reader_threads = 4});
  ASSERT_THAT(manager->SubmitWrite(PutBatch("a", 7), {.flush_now = true}).get(), IsOk());
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::vector<std::future<Result<std::optional<std::string>>>> reads;
  for (int i = 0; i < 16; ++i) {
    reads.push_back(manager->SubmitRead<std::optional<std::string>>([&](Store& s) {
      const int now = ++running;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(milliseconds(20));
      --running;
      return s.Get("a", EncodeU32(7));
    }));
  }
  for (auto& r : reads) {
    auto value = r.get();
    ASSERT_THAT(value, IsOk());
    EXPECT_EQ(*value, "v7");
  }
  EXPECT_GT(most.load(), 1);
  EXPECT_LE(most.load(), 4);
}

TEST_F(StorageManagerTest, BadOptionsAreRefused) {
  EXPECT_THAT(StorageManager::Start(store_, {.reader_threads = 0}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("reader_threads")));
  EXPECT_THAT(StorageManager::Start(nullptr, {}), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace depot::kv
