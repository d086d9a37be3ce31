#include "depot/core/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

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
