// Unit tests of the atomic writers, and their crash test: a child process replaces one file over
// and over (AtomicFileWriter in shuffled chunks, and WriteFileAtomically, in turn) and reports
// each published version to the parent, which kills it with SIGKILL at a random moment, 100
// times, and checks that the file is whole, one version ever written, no older than the last
// acknowledged, and that the temp file the kill left does not block the next writer. The seed is
// printed; DEPOT_CRASH_SEED=<n> replays a run.
#include "depot/resource/atomic/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <random>
#include <thread>

#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"

namespace depot::resource {
namespace {

namespace fs = std::filesystem;
using ::depot::testing::FileText;
using ::depot::testing::IsOk;
using ::depot::testing::IsOkAndHolds;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::depot::testing::WriteFileText;
using ::testing::HasSubstr;

class AtomicFileTest : public ::testing::Test {
 protected:
  std::string Path(std::string_view name = "file") const { return (dir_.path() / name).string(); }
  TempDir dir_;
};

TEST_F(AtomicFileTest, WriteFileAtomicallyCreatesAndReplacesLeavingNoTemp) {
  const std::string path = Path("a/b/file");
  ASSERT_THAT(WriteFileAtomically(path, "first"), IsOk());
  EXPECT_EQ(FileText(path), "first");
  ASSERT_THAT(WriteFileAtomically(path, ""), IsOk());
  EXPECT_EQ(FileText(path), "");
  ASSERT_THAT(WriteFileAtomically(path, "third"), IsOk());
  EXPECT_EQ(FileText(path), "third");
  EXPECT_FALSE(fs::exists(AtomicTempPath(path)));
}

TEST_F(AtomicFileTest, ChunksInAnyOrderArePublishedOnlyAtCommit) {
  WriteFileText(Path(), "old");
  const std::string data = RandomBytes(300'000, 7);
  auto writer = AtomicFileWriter::Create(Path(), 4096);
  ASSERT_THAT(writer, IsOk());
  for (size_t chunk = 3;; --chunk) {  // back to front
    const size_t begin = chunk * 100'000;
    ASSERT_THAT(writer->WriteAt(begin, std::string_view(data).substr(begin, 100'000)), IsOk());
    EXPECT_EQ(FileText(Path()), "old");
    if (chunk == 0) break;
  }
  // Readers read what has landed before it is published.
  std::string head(10, '\0');
  EXPECT_THAT(writer->reader().Read(0, head), IsOkAndHolds(10u));
  EXPECT_EQ(head, data.substr(0, 10));
  ASSERT_THAT(writer->Commit(), IsOk());
  EXPECT_EQ(FileText(Path()), data);
  EXPECT_FALSE(fs::exists(AtomicTempPath(Path())));
  EXPECT_TRUE(writer->reader().status().committed());
}

TEST_F(AtomicFileTest, ACommitWithMissingBytesPublishesNothingAndCanBeCompleted) {
  WriteFileText(Path(), "old");
  auto writer = AtomicFileWriter::Create(Path());
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT(writer->WriteAt(5, "world"), IsOk());
  EXPECT_THAT(writer->Commit(10), StatusIs(StatusCode::kFailedPrecondition, HasSubstr("[0, 5)")));
  EXPECT_EQ(FileText(Path()), "old");
  ASSERT_THAT(writer->WriteAt(0, "hello"), IsOk());
  ASSERT_THAT(writer->Commit(10), IsOk());
  EXPECT_EQ(FileText(Path()), "helloworld");
  EXPECT_THAT(writer->Commit(), StatusIs(StatusCode::kFailedPrecondition, HasSubstr("done")));
}

TEST_F(AtomicFileTest, ASecondWriterIsRefusedWhileTheFirstLives) {
  auto first = AtomicFileWriter::Create(Path());
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(AtomicFileWriter::Create(Path()),
              StatusIs(StatusCode::kUnavailable, HasSubstr(AtomicTempPath(Path()))));
  EXPECT_THAT(WriteFileAtomically(Path(), "x"), StatusIs(StatusCode::kUnavailable));
  ASSERT_THAT(first->WriteAt(0, "one"), IsOk());
  ASSERT_THAT(first->Commit(), IsOk());
  // Published: the path is free again.
  auto second = AtomicFileWriter::Create(Path());
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT(second->WriteAt(0, "two"), IsOk());
  ASSERT_THAT(second->Commit(), IsOk());
  EXPECT_EQ(FileText(Path()), "two");
}

TEST_F(AtomicFileTest, AbortAndDestructionLeaveTheOldFileAndNoTemp) {
  WriteFileText(Path(), "old");
  {
    auto writer = AtomicFileWriter::Create(Path());
    ASSERT_THAT(writer, IsOk());
    ASSERT_THAT(writer->WriteAt(0, "new bytes"), IsOk());
    const ResourceReader reader = writer->reader();
    writer->Abort();
    EXPECT_THAT(reader.status().state, ResourceStatus::State::kCancelled);
    EXPECT_THAT(writer->Commit(), StatusIs(StatusCode::kFailedPrecondition));
  }
  {
    auto writer = AtomicFileWriter::Create(Path());
    ASSERT_THAT(writer, IsOk());
    ASSERT_THAT(writer->WriteAt(0, "new bytes"), IsOk());
  }
  EXPECT_EQ(FileText(Path()), "old");
  EXPECT_FALSE(fs::exists(AtomicTempPath(Path())));
}

TEST_F(AtomicFileTest, AnOrphanedTempFileIsTruncatedAndReused) {
  // What a killed writer leaves: a temp file with bytes, and no lock on it.
  WriteFileText(AtomicTempPath(Path()), std::string(100'000, 'x'));
  auto writer = AtomicFileWriter::Create(Path());
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT(writer->WriteAt(0, "fresh"), IsOk());
  ASSERT_THAT(writer->Commit(), IsOk());
  EXPECT_EQ(FileText(Path()), "fresh");
  ASSERT_THAT(WriteFileAtomically(Path(), "again"), IsOk());
  EXPECT_EQ(FileText(Path()), "again");
}

TEST_F(AtomicFileTest, ConcurrentWritersOfOnePathNeverMixAndOneAtATimeWins) {
  // Eight threads each try to publish their own contents 20 times; every published file is one
  // of them, whole.
  std::vector<std::string> contents;
  for (int i = 0; i < 8; ++i) contents.push_back(RandomBytes(20'000 + i, 100 + i));
  std::atomic<int> published{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 20; ++round) {
        auto writer = AtomicFileWriter::Create(Path());
        if (!writer.ok()) {
          EXPECT_THAT(writer.status(), StatusIs(StatusCode::kUnavailable));
          continue;
        }
        EXPECT_THAT(writer->WriteAt(0, contents[i]), IsOk());
        EXPECT_THAT(writer->Commit(), IsOk());
        ++published;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_GT(published.load(), 0);
  EXPECT_THAT(contents, ::testing::Contains(FileText(Path())));
  EXPECT_FALSE(fs::exists(AtomicTempPath(Path())));
}

TEST_F(AtomicFileTest, BadInputIsAClearError) {
  EXPECT_THAT(AtomicFileWriter::Create(""), StatusIs(StatusCode::kInvalidArgument));
  WriteFileText(Path("plain"), "x");
  const Status refused = WriteFileAtomically(Path("plain/under"), "y");
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr(Path("plain/under")));
  EXPECT_EQ(FileText(Path("plain")), "x");
}

// ---- the crash test ----

// Version `version` of the file: a header naming it, then its pseudo-random bytes (0 to ~1 MiB).
std::string Version(uint64_t version) {
  const size_t body = static_cast<size_t>((version * 0x9E3779B97F4A7C15ull >> 20) % (1 << 20));
  return fmt::format("version {}\n", version) + RandomBytes(body, version);
}

std::optional<uint64_t> VersionOf(const std::string& text) {
  uint64_t version = 0;
  if (std::sscanf(text.c_str(), "version %lu\n", &version) != 1) return std::nullopt;
  return version;
}

void Report(int fd, const std::string& line) {
  std::string_view left = line;
  while (!left.empty()) {
    const ssize_t n = ::write(fd, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(4);
    left.remove_prefix(static_cast<size_t>(n));
  }
}

// The child: publishes versions first, first + 1, ... until killed; "A <version>" after each.
[[noreturn]] void RunWriter(const std::string& path, uint64_t first, uint64_t seed, int report) {
  std::mt19937_64 rng(seed);
  for (uint64_t version = first;; ++version) {
    const std::string data = Version(version);
    Status published;
    if (version % 2 == 0) {
      published = WriteFileAtomically(path, data);
    } else {
      auto writer = AtomicFileWriter::Create(path, 4096);
      if (!writer.ok()) {
        published = writer.status();
      } else {
        const size_t chunk = 16 * 1024;
        std::vector<size_t> order((data.size() + chunk - 1) / chunk);
        std::iota(order.begin(), order.end(), size_t{0});
        std::shuffle(order.begin(), order.end(), rng);
        for (size_t i : order) {
          if (!published.ok()) break;
          published = writer->WriteAt(i * chunk, std::string_view(data).substr(i * chunk, chunk));
        }
        if (published.ok()) published = writer->Commit(data.size());
      }
    }
    if (!published.ok()) {
      Report(report, fmt::format("E {}\n", published.ToString()));
      ::_exit(3);
    }
    Report(report, fmt::format("A {}\n", version));
  }
}

// Runs a writer from `first` until `run_for` after its first publication, kills it, and returns
// what it reported.
std::string RunAndKill(const std::string& path, uint64_t first, uint64_t seed,
                       std::chrono::milliseconds run_for) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    RunWriter(path, first, seed, fds[1]);
  }
  ::close(fds[1]);
  std::string received;
  char buffer[4096];
  auto kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool started = false;
  while (std::chrono::steady_clock::now() < kill_at) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        kill_at - std::chrono::steady_clock::now());
    struct pollfd poll_fd = {fds[0], POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(std::max<int64_t>(left.count(), 1))) <= 0) continue;
    const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;  // the child ended by itself: an error it reported
    received.append(buffer, static_cast<size_t>(n));
    // The kill comes `run_for` after the writer's first publication, however slow the machine
    // (or a sanitizer) makes it, so that every run publishes and the kill lands among writes.
    if (!started && received.find("A ") != std::string::npos) {
      started = true;
      kill_at = std::chrono::steady_clock::now() + run_for;
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // What was already in the pipe before the kill was acknowledged before it.
  ssize_t n = 0;
  while ((n = ::read(fds[0], buffer, sizeof(buffer))) > 0) {
    received.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  return received;
}

TEST(AtomicFileCrashTest, AKilledWriterLeavesTheOldFileOrTheNewOneAndNeverBlocksTheNext) {
  const char* replay = std::getenv("DEPOT_CRASH_SEED");
  const uint64_t seed =
      replay != nullptr ? std::strtoull(replay, nullptr, 10) : std::random_device{}();
  std::cout << "DEPOT_CRASH_SEED=" << seed << " replays this run\n";
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string path = (dir.path() / "file").string();
  uint64_t acknowledged = 0;  // the last version a writer acknowledged (0: none)
  uint64_t next = 1;
  int mid_write = 0;
  for (int kill = 0; kill < 100; ++kill) {
    SCOPED_TRACE(fmt::format("kill {} (DEPOT_CRASH_SEED={})", kill, seed));
    const std::string report =
        RunAndKill(path, next, rng(), std::chrono::milliseconds(5 + rng() % 60));
    ASSERT_THAT(report, ::testing::Not(HasSubstr("E "))) << report;
    ASSERT_THAT(report, HasSubstr("A ")) << "the writer published nothing in 30 s";
    for (size_t at = report.find("A "); at != std::string::npos; at = report.find("A ", at + 1)) {
      acknowledged = std::max<uint64_t>(acknowledged, std::strtoull(&report[at + 2], nullptr, 10));
    }
    // Whole, one version written, no older than the last acknowledged, at most the one in flight.
    if (acknowledged == 0 && !fs::exists(path)) continue;
    const std::string text = FileText(path);
    const std::optional<uint64_t> version = VersionOf(text);
    ASSERT_TRUE(version.has_value()) << "the file is not a version: " << text.substr(0, 40);
    EXPECT_GE(*version, acknowledged);
    ASSERT_LE(*version, acknowledged + 1);
    ASSERT_EQ(text, Version(*version)) << "version " << *version << " is not whole";
    if (fs::exists(AtomicTempPath(path))) ++mid_write;
    next = *version + 1;
    // The temp file the kill left, if any, does not block the next writer.
    auto writer = AtomicFileWriter::Create(path);
    ASSERT_THAT(writer, IsOk());
  }
  std::cout << acknowledged << " versions published; " << mid_write
            << " kills left a temp file behind\n";
  EXPECT_GT(acknowledged, 100u);
  EXPECT_GT(mid_write, 0);
}

}  // namespace
}  // namespace depot::resource
