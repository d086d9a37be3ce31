#include "depot/core/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "depot/core/cancellation.h"

namespace depot {
namespace {

TEST(ExecutorTest, RunsTasksAndReturnsResults) {
  Executor executor(3);
  std::vector<std::future<int>> results;
  for (int i = 0; i < 50; ++i) results.push_back(executor.Submit([i] { return i * i; }));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(results[i].get(), i * i);
  EXPECT_EQ(executor.threads(), 3u);
}

TEST(ExecutorTest, SubmitBlocksWhenTheQueueIsFull) {
  Executor executor(1, 2);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> submitted{0};
  // One task runs (blocked), two wait in the queue; the fourth Submit must block.
  std::thread producer([&] {
    for (int i = 0; i < 4; ++i) {
      executor.Submit([gate] { gate.wait(); });
      ++submitted;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(submitted.load(), 3);
  release.set_value();
  producer.join();
  EXPECT_EQ(submitted.load(), 4);
}

TEST(ExecutorTest, DestructorDrainsSubmittedTasks) {
  std::atomic<int> ran{0};
  {
    Executor executor(2, 100);
    for (int i = 0; i < 100; ++i) executor.Submit([&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 100);
}

TEST(TaskGroupTest, DestructorWaitsForItsTasksOnASharedExecutor) {
  Executor shared(2);
  std::atomic<int> finished{0};
  {
    TaskGroup group(shared);
    for (int i = 0; i < 8; ++i) {
      (void)group.Submit([&finished] {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ++finished;
      });
    }
  }  // the group's destructor returns only after its 8 tasks, though the executor lives on
  EXPECT_EQ(finished.load(), 8);
}

TEST(TaskGroupTest, GroupsShareOnePoolAndWaitOnlyForTheirOwnTasks) {
  Executor shared(1);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  TaskGroup slow(shared);
  std::future<void> blocked = slow.Submit([gate] { gate.wait(); });
  std::atomic<bool> ran{false};
  std::thread other([&] {
    TaskGroup quick(shared);
    (void)quick.Submit([&ran] { ran = true; });
    quick.Wait();  // queued behind the blocked task on the one worker
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(ran.load());  // one pool: the quick group's task waits for the worker
  release.set_value();
  other.join();
  EXPECT_TRUE(ran.load());
  blocked.get();
}

TEST(TaskGroupTest, OwnsAnExecutorWhenGivenNone) {
  TaskGroup group(nullptr, 3, 0);
  EXPECT_EQ(group.executor().threads(), 3u);
  std::future<int> answer = group.Submit([] { return 42; });
  EXPECT_EQ(answer.get(), 42);
}

TEST(CancellationTest, TokensSeeCancel) {
  CancellationToken never;
  EXPECT_FALSE(never.IsCancelled());
  CancellationSource source;
  CancellationToken token = source.token();
  EXPECT_TRUE(token.Check("copy").ok());
  source.Cancel();
  EXPECT_TRUE(token.IsCancelled());
  EXPECT_EQ(token.Check("copy").code(), StatusCode::kCancelled);
  EXPECT_EQ(token.Check("copy").message(), "copy: cancelled");
}

}  // namespace
}  // namespace depot
