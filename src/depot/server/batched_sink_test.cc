#include "depot/server/batched_sink.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace depot::server {
namespace {

using std::chrono::milliseconds;

// A pipe whose read end the test drains; its write end is the sink's descriptor.
class Pipe {
 public:
  Pipe() {
    EXPECT_EQ(::pipe2(fds_, O_CLOEXEC), 0);
    // Big enough for every test's lines, so that the sink never blocks on a full pipe.
    ::fcntl(fds_[1], F_SETPIPE_SZ, 1 << 20);
  }
  ~Pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int writer() const { return fds_[1]; }
  // What arrives within `wait` (and then until nothing more is there).
  std::string Read(milliseconds wait) {
    std::string got;
    for (bool first = true;; first = false) {
      pollfd p{fds_[0], POLLIN, 0};
      if (::poll(&p, 1, first ? static_cast<int>(wait.count()) : 0) <= 0) return got;
      char buffer[1 << 16];
      const ssize_t n = ::read(fds_[0], buffer, sizeof buffer);
      if (n <= 0) return got;
      got.append(buffer, static_cast<size_t>(n));
    }
  }

 private:
  int fds_[2];
};

std::shared_ptr<spdlog::logger> LoggerOver(std::shared_ptr<BatchedSink> sink) {
  auto logger = std::make_shared<spdlog::logger>("test", std::move(sink));
  logger->set_pattern("%l %v");
  logger->set_level(spdlog::level::trace);
  return logger;
}

TEST(BatchedSinkTest, InfoLinesComeOutAfterTheDelayWithoutAFlush) {
  Pipe pipe;
  auto logger = LoggerOver(std::make_shared<BatchedSink>(pipe.writer(), milliseconds(20)));
  logger->info("one");
  logger->info("two");
  std::string got = pipe.Read(milliseconds(5000));
  if (got.size() < 18) got += pipe.Read(milliseconds(5000));
  EXPECT_EQ(got, "info one\ninfo two\n");
}

TEST(BatchedSinkTest, AWarningGoesOutAtOnceWithEveryLineBeforeIt) {
  Pipe pipe;
  auto logger = LoggerOver(std::make_shared<BatchedSink>(pipe.writer(), milliseconds(60000)));
  logger->info("before");
  logger->warn("trouble");
  EXPECT_EQ(pipe.Read(milliseconds(0)), "info before\nwarning trouble\n");
}

TEST(BatchedSinkTest, FlushAndTheEndWriteWhatIsPending) {
  Pipe pipe;
  {
    auto logger = LoggerOver(std::make_shared<BatchedSink>(pipe.writer(), milliseconds(60000)));
    logger->info("flushed");
    logger->flush();
    EXPECT_EQ(pipe.Read(milliseconds(0)), "info flushed\n");
    logger->info("at the end");
    EXPECT_EQ(pipe.Read(milliseconds(0)), "");
  }
  EXPECT_EQ(pipe.Read(milliseconds(0)), "info at the end\n");
}

TEST(BatchedSinkTest, A64KiBBatchGoesOutWithoutWaiting) {
  Pipe pipe;
  auto logger = LoggerOver(std::make_shared<BatchedSink>(pipe.writer(), milliseconds(60000)));
  const std::string line(1000, 'x');
  for (int i = 0; i < 70; ++i) logger->info(line);
  const std::string got = pipe.Read(milliseconds(0));
  EXPECT_GE(got.size(), size_t{64} << 10);
  EXPECT_EQ(got.size() % (line.size() + 6), 0u);  // "info " + line + "\n", whole lines only
}

TEST(BatchedSinkTest, LinesFromManyThreadsComeOutWholeAndOnce) {
  Pipe pipe;
  auto sink = std::make_shared<BatchedSink>(pipe.writer(), milliseconds(1));
  auto logger = LoggerOver(sink);
  constexpr int kThreads = 4;
  constexpr int kLines = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLines; ++i) logger->info("t{} line {}", t, i);
    });
  }
  for (auto& thread : threads) thread.join();
  logger->flush();
  const std::string got = pipe.Read(milliseconds(0));
  std::vector<int> next(kThreads, 0);
  size_t lines = 0;
  for (size_t start = 0; start < got.size();) {
    const size_t end = got.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    const std::string line = got.substr(start, end - start);
    int t = -1;
    int i = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "info t%d line %d", &t, &i), 2) << line;
    ASSERT_TRUE(t >= 0 && t < kThreads) << line;
    EXPECT_EQ(i, next[t]++) << "thread " << t << "'s lines out of order";
    ++lines;
    start = end + 1;
  }
  EXPECT_EQ(lines, size_t{kThreads * kLines});
}

}  // namespace
}  // namespace depot::server
