#include "depot/resource/testing/conformance.h"

#include <fmt/format.h>
#include <gmock/gmock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "depot/core/cancellation.h"
#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"

namespace depot::resource::testing {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::IsOkAndHolds;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string ReadAll(const ResourceReader& reader, uint64_t size) {
  std::string out(size, '\0');
  auto n = reader.Read(0, std::span<char>(out.data(), out.size()));
  EXPECT_THAT(n, IsOkAndHolds(size));
  return out;
}

// Waits until `waiters` threads are blocked in a wait (OnDemand tells), for tests that must
// act only once the waits have begun.
class DemandCounter : public AvailabilityObserver {
 public:
  void OnDemand(Span64) override { ++demands; }
  void AwaitDemands(int n) {
    const auto give_up = Clock::now() + std::chrono::seconds(10);
    while (demands.load() < n && Clock::now() < give_up)
      std::this_thread::sleep_for(milliseconds(1));
    // A wait reports its demand just before it blocks: give it the moment to get there.
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::atomic<int> demands{0};
};

TEST_P(ResourceConformance, ANewResourceIsActiveAndEmpty) {
  Resource resource = Make();
  EXPECT_TRUE(resource.status().active());
  EXPECT_EQ(resource.status().length, std::nullopt);
  EXPECT_TRUE(resource.present().empty());
  EXPECT_EQ(resource.status().ToString(), "active");
}

TEST_P(ResourceConformance, WritesInAnyOrderReadBackWhole) {
  Resource resource = Make();
  const std::string data = RandomBytes(300'000, 1);  // past any small initial size
  std::vector<size_t> chunks(30);
  std::iota(chunks.begin(), chunks.end(), 0);
  std::shuffle(chunks.begin(), chunks.end(), std::mt19937(2));
  for (size_t chunk : chunks) {
    ASSERT_THAT(resource.writer().WriteAt(chunk * 10'000,
                                          std::string_view(data).substr(chunk * 10'000, 10'000)),
                IsOk());
  }
  EXPECT_EQ(resource.present().ToString(), "[0, 300000)");
  ASSERT_THAT(resource.writer().Commit(), IsOk());
  EXPECT_TRUE(resource.status().committed());
  EXPECT_EQ(resource.status().length, 300'000u);
  EXPECT_EQ(ReadAll(resource.reader(), data.size()), data);
  char past[10];
  EXPECT_THAT(resource.reader().ReadAt(300'000, past), IsOkAndHolds(0u));
  EXPECT_THAT(resource.reader().Read(299'995, past), IsOkAndHolds(5u));
}

TEST_P(ResourceConformance, AByteNeverWrittenIsAnErrorNeverZeros) {
  Resource resource = Make();
  ASSERT_THAT(resource.writer().WriteAt(0, "abcd"), IsOk());
  ASSERT_THAT(resource.writer().WriteAt(8, "ijkl"), IsOk());
  char buffer[12];
  // A read stops at the first missing byte.
  EXPECT_THAT(resource.reader().ReadAt(0, buffer), IsOkAndHolds(4u));
  EXPECT_EQ(std::string_view(buffer, 4), "abcd");
  EXPECT_THAT(resource.reader().ReadAt(4, buffer),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("byte 4 is not present")));
  EXPECT_THAT(resource.reader().ReadAt(100, buffer), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(resource.reader().ReadAt(9, buffer), IsOkAndHolds(3u));
  EXPECT_EQ(std::string_view(buffer, 3), "jkl");
}

TEST_P(ResourceConformance, AWaitForPresentBytesIsReadyAtOnce) {
  Resource resource = Make();
  ASSERT_THAT(resource.writer().WriteAt(0, "hello"), IsOk());
  EXPECT_THAT(resource.reader().WaitRange(0, 5), IsOkAndHolds(WaitOutcome::kReady));
  EXPECT_THAT(resource.reader().WaitRange(3, 3), IsOkAndHolds(WaitOutcome::kReady));
  EXPECT_THAT(resource.reader().WaitRange(5, 3), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(ResourceConformance, AWaitEndsWhenAWriterLandsItsLastByte) {
  Resource resource = Make();
  ResourceWriter writer = resource.writer();
  std::thread filler([&] {
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_THAT(writer.WriteAt(0, "01234"), IsOk());
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_THAT(writer.WriteAt(5, "56789"), IsOk());
  });
  char buffer[10];
  EXPECT_THAT(resource.reader().Read(0, buffer), IsOkAndHolds(10u));
  EXPECT_EQ(std::string_view(buffer, 10), "0123456789");
  filler.join();
}

TEST_P(ResourceConformance, AWaitPastTheLengthIsEof) {
  Resource resource = Make();
  ResourceWriter writer = resource.writer();
  ASSERT_THAT(writer.SetLength(5), IsOk());
  EXPECT_EQ(resource.status().ToString(), "active (5 bytes expected)");
  EXPECT_THAT(resource.reader().WaitRange(5, 10), IsOkAndHolds(WaitOutcome::kEof));
  EXPECT_THAT(writer.WriteAt(3, "xyz"), StatusIs(StatusCode::kOutOfRange, HasSubstr("[3, 6)")));
  EXPECT_THAT(writer.SetLength(6), StatusIs(StatusCode::kFailedPrecondition));
  // A range reaching past the length is ready once its part below the length is.
  std::thread filler([&] {
    std::this_thread::sleep_for(milliseconds(30));
    EXPECT_THAT(writer.WriteAt(0, "abcde"), IsOk());
  });
  EXPECT_THAT(resource.reader().WaitRange(2, 100), IsOkAndHolds(WaitOutcome::kReady));
  filler.join();
  ASSERT_THAT(writer.Commit(), IsOk());
  EXPECT_THAT(resource.reader().WaitRange(5, 6), IsOkAndHolds(WaitOutcome::kEof));
}

TEST_P(ResourceConformance, AFailureWakesEveryWaiterWithTheReason) {
  Resource resource = Make();
  auto demands = std::make_shared<DemandCounter>();
  resource.AddObserver(demands);
  std::vector<std::thread> waiters;
  std::atomic<int> failed{0};
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&, i] {
      auto waited = resource.reader().WaitRange(i * 100, i * 100 + 50);
      if (!waited.ok() && waited.status().code() == StatusCode::kUnavailable &&
          waited.status().message().find("origin went away") != std::string::npos) {
        ++failed;
      }
    });
  }
  demands->AwaitDemands(8);
  resource.writer().Fail(UnavailableError("origin went away"));
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(failed.load(), 8);
  EXPECT_EQ(resource.status().state, ResourceStatus::State::kFailed);
  char buffer[1];
  EXPECT_THAT(resource.reader().ReadAt(0, buffer), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(resource.writer().WriteAt(0, "x"), StatusIs(StatusCode::kUnavailable));
}

TEST_P(ResourceConformance, ACancelWakesEveryWaiterAtOnce) {
  Resource resource = Make();
  auto demands = std::make_shared<DemandCounter>();
  resource.AddObserver(demands);
  std::vector<std::thread> waiters;
  std::atomic<int> cancelled{0};
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&] {
      auto waited = resource.reader().WaitRange(0, 10);
      if (!waited.ok() && waited.status().code() == StatusCode::kCancelled) ++cancelled;
    });
  }
  demands->AwaitDemands(8);
  const auto start = Clock::now();
  resource.Cancel();
  for (auto& waiter : waiters) waiter.join();
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  EXPECT_EQ(cancelled.load(), 8);
  EXPECT_EQ(resource.status().state, ResourceStatus::State::kCancelled);
  EXPECT_THAT(resource.writer().WriteAt(0, "x"), StatusIs(StatusCode::kCancelled));
}

TEST_P(ResourceConformance, ACancelledWaitIsInterruptedAndTheOthersWaitOn) {
  Resource resource = Make();
  auto demands = std::make_shared<DemandCounter>();
  resource.AddObserver(demands);
  CancellationSource seek;
  std::thread seeker([&] {
    EXPECT_THAT(resource.reader().WaitRange(0, 10, Context(seek.token())),
                IsOkAndHolds(WaitOutcome::kInterrupted));
  });
  std::thread patient(
      [&] { EXPECT_THAT(resource.reader().WaitRange(0, 10), IsOkAndHolds(WaitOutcome::kReady)); });
  demands->AwaitDemands(2);
  seek.Cancel();
  seeker.join();
  ASSERT_THAT(resource.writer().WriteAt(0, "0123456789"), IsOk());
  patient.join();
  char buffer[4];
  EXPECT_THAT(resource.reader().Read(20, buffer, Context(seek.token())),
              StatusIs(StatusCode::kCancelled, HasSubstr("interrupted")));
}

TEST_P(ResourceConformance, AWaitEndsAtItsDeadline) {
  Resource resource = Make();
  const auto start = Clock::now();
  EXPECT_THAT(resource.reader().WaitRange(0, 10, Context().WithTimeout(milliseconds(100))),
              StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("[0, 10)")));
  EXPECT_GE(Clock::now() - start, milliseconds(100));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST_P(ResourceConformance, PresentBytesNeverChange) {
  Resource resource = Make();
  ResourceWriter writer = resource.writer();
  ASSERT_THAT(writer.WriteAt(0, "abcdef"), IsOk());
  // The same bytes again (a retried fetch) write only what was missing.
  ASSERT_THAT(writer.WriteAt(4, "efgh"), IsOk());
  EXPECT_EQ(resource.present().ToString(), "[0, 8)");
  // Different bytes are refused, and nothing of the write lands.
  EXPECT_THAT(writer.WriteAt(6, "XYZW"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("differs")));
  EXPECT_EQ(resource.present().ToString(), "[0, 8)");
  EXPECT_EQ(ReadAll(resource.reader(), 8), "abcdefgh");
}

TEST_P(ResourceConformance, ACommitNeedsEveryByteAndDropsWhatIsPast) {
  Resource resource = Make();
  ResourceWriter writer = resource.writer();
  ASSERT_THAT(writer.WriteAt(0, "abc"), IsOk());
  ASSERT_THAT(writer.WriteAt(6, "ghi"), IsOk());
  EXPECT_THAT(writer.Commit(), StatusIs(StatusCode::kFailedPrecondition, HasSubstr("[3, 6)")));
  EXPECT_THAT(writer.Commit(9), StatusIs(StatusCode::kFailedPrecondition, HasSubstr("[3, 6)")));
  EXPECT_TRUE(resource.status().active());
  ASSERT_THAT(writer.Commit(2), IsOk());
  EXPECT_EQ(resource.status().length, 2u);
  EXPECT_EQ(resource.present().ToString(), "[0, 2)");
  EXPECT_EQ(ReadAll(resource.reader(), 2), "ab");
}

TEST_P(ResourceConformance, AnEmptyCommitIsAnEmptyResource) {
  Resource resource = Make();
  ASSERT_THAT(resource.writer().Commit(), IsOk());
  EXPECT_EQ(resource.status().length, 0u);
  EXPECT_THAT(resource.reader().WaitRange(0, 1), IsOkAndHolds(WaitOutcome::kEof));
}

TEST_P(ResourceConformance, ACommittedResourceRefusesWritesUntilReactivated) {
  Resource resource = Make();
  ResourceWriter writer = resource.writer();
  ASSERT_THAT(writer.WriteAt(0, "abc"), IsOk());
  ASSERT_THAT(writer.Commit(), IsOk());
  EXPECT_THAT(writer.WriteAt(3, "def"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("committed")));
  EXPECT_THAT(writer.Commit(), StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_THAT(writer.Reactivate(), IsOk());
  EXPECT_TRUE(resource.status().active());
  ASSERT_THAT(writer.WriteAt(3, "def"), IsOk());
  ASSERT_THAT(writer.Commit(), IsOk());
  EXPECT_EQ(ReadAll(resource.reader(), 6), "abcdef");
}

TEST_P(ResourceConformance, AFailedResourceComesBackWithReactivate) {
  Resource resource = Make();
  ResourceWriter writer = resource.writer();
  ASSERT_THAT(writer.WriteAt(0, "abc"), IsOk());
  writer.Fail(DataLossError("bad checksum"));
  EXPECT_EQ(resource.status().ToString(),
            "failed: DataLoss: " + resource.name() + ": bad checksum");
  ASSERT_THAT(writer.Reactivate(), IsOk());
  ASSERT_THAT(writer.WriteAt(3, "d"), IsOk());
  EXPECT_EQ(ReadAll(resource.reader(), 4), "abcd");
}

class Recorder : public AvailabilityObserver {
 public:
  void OnWrite(Span64 range) override {
    Add(fmt::format("write [{}, {})", range.begin, range.end));
  }
  void OnCommit(uint64_t length) override { Add(fmt::format("commit {}", length)); }
  void OnFail(const Status& reason) override {
    Add("fail " + std::string(StatusCodeName(reason.code())));
  }
  void OnDemand(Span64 range) override {
    Add(fmt::format("demand [{}, {})", range.begin, range.end));
  }
  std::vector<std::string> events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  void Add(std::string event) {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  std::mutex mu_;
  std::vector<std::string> events_;
};

TEST_P(ResourceConformance, ObserversHearWritesDemandsAndTheEnd) {
  Resource resource = Make();
  auto recorder = std::make_shared<Recorder>();
  resource.AddObserver(recorder);
  ResourceWriter writer = resource.writer();
  ASSERT_THAT(writer.WriteAt(0, "abcd"), IsOk());
  std::thread reader(
      [&] { EXPECT_THAT(resource.reader().WaitRange(2, 10), IsOkAndHolds(WaitOutcome::kReady)); });
  const auto give_up = Clock::now() + std::chrono::seconds(10);
  while (recorder->events().size() < 2 && Clock::now() < give_up)
    std::this_thread::sleep_for(milliseconds(1));
  ASSERT_THAT(writer.WriteAt(4, "efghij"), IsOk());
  reader.join();
  ASSERT_THAT(writer.WriteAt(4, "ef"), IsOk());  // nothing new: no event
  ASSERT_THAT(writer.Commit(), IsOk());
  EXPECT_THAT(recorder->events(), ::testing::ElementsAre("write [0, 4)", "demand [4, 10)",
                                                         "write [4, 10)", "commit 10"));
  resource.RemoveObserver(recorder.get());
  ASSERT_THAT(writer.Reactivate(), IsOk());
  writer.Fail(InternalError("x"));
  EXPECT_EQ(recorder->events().size(), 4u);
}

// Four writers land 1 MiB in 4 KiB pieces in random order while four readers read it through in
// pieces of other sizes: every reader gets every byte right (and TSan sees no race).
TEST_P(ResourceConformance, ManyWritersAndManyReaders) {
  Resource resource = Make();
  const std::string data = RandomBytes(1 << 20, 3);
  constexpr size_t kPiece = 4096;
  std::vector<size_t> pieces(data.size() / kPiece);
  std::iota(pieces.begin(), pieces.end(), 0);
  std::shuffle(pieces.begin(), pieces.end(), std::mt19937(4));
  ASSERT_THAT(resource.writer().SetLength(data.size()), IsOk());
  std::vector<std::thread> threads;
  for (size_t w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      ResourceWriter writer = resource.writer();
      for (size_t i = w; i < pieces.size(); i += 4) {
        ASSERT_THAT(writer.WriteAt(pieces[i] * kPiece,
                                   std::string_view(data).substr(pieces[i] * kPiece, kPiece)),
                    IsOk());
      }
    });
  }
  std::atomic<int> good{0};
  for (size_t r = 0; r < 4; ++r) {
    threads.emplace_back([&, r] {
      ResourceReader reader = resource.reader();
      std::string got;
      std::vector<char> buffer(1000 + r * 3000);
      while (true) {
        auto n = reader.Read(got.size(), buffer);
        ASSERT_THAT(n, IsOk());
        if (*n == 0) break;
        got.append(buffer.data(), *n);
      }
      if (got == data) ++good;
    });
  }
  for (size_t i = 0; i < 4; ++i) threads[i].join();
  ASSERT_THAT(resource.writer().Commit(), IsOk());
  for (size_t i = 4; i < threads.size(); ++i) threads[i].join();
  EXPECT_EQ(good.load(), 4);
}

}  // namespace
}  // namespace depot::resource::testing
