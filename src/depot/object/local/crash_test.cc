// Crash test of the local store: a child process writes objects in a loop (overwrites,
// create-only puts, compare-and-swap updates, multipart uploads, keys that are also directories of
// keys and keys with escaped segments; sizes up to ~1 MiB) and reports every acknowledged write to
// the parent through a pipe, after the call returned. The parent kills it with SIGKILL at a random
// moment, reopens the store and checks that
//   - every visible object is whole: exactly the bytes of one version ever written for its key;
//   - every acknowledged write is there, at the acknowledged version or a later one;
//   - no staging file survives the reopen, and listing works.
// Object contents are derived from (key, version) so that any version can be recomputed. The
// seed is printed; DEPOT_CRASH_SEED=<n> replays a run.
//
// SIGKILL tests atomicity and cleanup, not durability across power loss (the page cache
// survives a killed process); that needs a file-system seam that drops unsynced writes.
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/local/local_store.h"

namespace depot::object {
namespace {

namespace fs = std::filesystem;
using ::depot::testing::IsOk;
using ::testing::IsEmpty;

constexpr uint64_t kMinPart = 32 << 10;
constexpr uint64_t kVersionsPerIteration = 1'000'000;

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// Version `version` of `key`: a header naming both, then pseudo-random bytes. The body length
// (0, up to 4 KiB, up to 128 KiB or up to 1 MiB) also follows from key and version.
std::string Content(const std::string& key, uint64_t version) {
  uint64_t seed = Fnv1a(key) ^ (version * 0x9E3779B97F4A7C15ull);
  std::string out = fmt::format("depot-crash-test key={} version={}\n", key, version);
  size_t body = 0;
  switch (seed % 8) {
    case 0:
      break;
    case 1:
    case 2:
    case 3:
      body = (seed >> 8) % 4096;
      break;
    case 4:
    case 5:
    case 6:
      body = (seed >> 8) % (128 << 10);
      break;
    default:
      body = (seed >> 8) % (1 << 20);
      break;
  }
  size_t header = out.size();
  out.resize(header + body);
  uint64_t x = seed | 1;
  for (size_t i = header; i < out.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, std::min<size_t>(8, out.size() - i));
  }
  return out;
}

// Reads the header Content() wrote; false if there is none.
bool ParseHeader(std::string_view data, std::string* key, uint64_t* version) {
  constexpr std::string_view kStart = "depot-crash-test key=";
  size_t newline = data.find('\n');
  if (!data.starts_with(kStart) || newline == std::string_view::npos) return false;
  std::string_view line = data.substr(kStart.size(), newline - kStart.size());
  size_t at = line.rfind(" version=");
  if (at == std::string_view::npos) return false;
  *key = std::string(line.substr(0, at));
  *version = std::strtoull(std::string(line.substr(at + 9)).c_str(), nullptr, 10);
  return true;
}

void WriteLine(int fd, const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(4);
    done += static_cast<size_t>(n);
  }
}

// The child: writes until it is killed, reporting "A <key> <version>" for each acknowledged write
// and "E <status>" (then exiting) for any unexpected failure.
[[noreturn]] void RunWriter(const fs::path& root, int iteration, uint64_t seed, int report_fd) {
  auto fail = [&](const Status& status, const std::string& key) {
    WriteLine(report_fd, fmt::format("E {}: {}\n", key, status.ToString()));
    ::_exit(3);
  };
  auto opened = LocalStore::Open(root, {.min_part_size = kMinPart});
  if (!opened.ok()) fail(opened.status(), "open");
  LocalStore& store = **opened;
  std::mt19937_64 rng(seed);
  uint64_t version = static_cast<uint64_t>(iteration + 1) * kVersionsPerIteration;
  for (uint64_t n = 0;; ++n) {
    ++version;
    const uint64_t op = rng() % 10;
    std::string key;
    Status status;
    if (op < 2 && n < 8) {
      key = fmt::format("create/{}-{}", iteration, n);
      std::string data = Content(key, version);
      status =
          store.Put(key, Bytes::FromString(std::move(data)), {.mode = PutMode::kCreate}).status();
    } else if (op < 4) {
      key = fmt::format("cas/{}", rng() % 4);
      std::string data = Content(key, version);
      auto head = store.Head(key);
      PutOptions options{.mode = PutMode::kCreate};
      if (head.ok()) {
        options = {.mode = PutMode::kUpdate, .if_match = head->etag};
      } else if (head.status().code() != StatusCode::kNotFound) {
        fail(head.status(), key);
      }
      status = store.Put(key, Bytes::FromString(std::move(data)), options).status();
    } else if (op < 5) {
      key = fmt::format("mp/{}", rng() % 3);
      std::string data = Content(key, version);
      auto upload = store.CreateMultipart(key, {.content_type = "application/x-crash"});
      if (!upload.ok()) fail(upload.status(), key);
      std::vector<PartInfo> parts;
      for (size_t offset = 0; offset < data.size() || parts.empty();) {
        size_t size = std::min<size_t>(data.size() - offset, kMinPart * (1 + rng() % 3));
        auto part = store.PutPart(key, *upload, static_cast<int>(parts.size() + 1),
                                  Bytes::Copy(data.data() + offset, size));
        if (!part.ok()) fail(part.status(), key);
        parts.push_back(*part);
        offset += size;
      }
      status = store.CompleteMultipart(key, *upload, parts).status();
    } else {
      uint64_t k = rng() % 16;
      // Objects that are also directories of keys ("obj/d1" and "obj/d1/5"), and escaped names.
      key = k % 4 == 0   ? fmt::format("obj/d{}", k % 3)
            : k % 4 == 2 ? fmt::format("obj/../{}/", k)
                         : fmt::format("obj/d{}/{}", k % 3, k);
      status = store.Put(key, Bytes::FromString(Content(key, version)), {}).status();
    }
    if (!status.ok()) fail(status, key);
    WriteLine(report_fd, fmt::format("A {} {}\n", key, version));
  }
}

// Reads `fd` into `out` until `deadline`, or until end of file; true at end of file.
bool Drain(int fd, std::chrono::steady_clock::time_point deadline, std::string* out) {
  char buffer[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    struct pollfd poll_fd = {fd, POLLIN, 0};
    int ready = ::poll(&poll_fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    out->append(buffer, static_cast<size_t>(n));
  }
}

std::vector<std::string> StagingNames(const fs::path& root) {
  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().filename().string().starts_with(".depot-tmp-")) {
      names.push_back(fs::relative(entry.path(), root).string());
    }
  }
  return names;
}

// Reopens the store after a crash and checks everything the header comment promises.
void Verify(const fs::path& root, int iteration, const std::map<std::string, uint64_t>& acked) {
  auto opened = LocalStore::Open(root, {.min_part_size = kMinPart});
  ASSERT_THAT(opened, IsOk());
  LocalStore& store = **opened;
  EXPECT_THAT(StagingNames(root), IsEmpty()) << "staging files survived the reopen";

  std::set<std::string> listed;
  ListOptions options{.max_keys = 37};
  for (;;) {
    auto page = store.List(options);
    ASSERT_THAT(page, IsOk());
    for (const ObjectMeta& meta : page->objects) {
      listed.insert(meta.key);
      auto got = store.Get(meta.key, {});
      ASSERT_THAT(got, IsOk()) << meta.key;
      std::string key;
      uint64_t version = 0;
      std::string_view data = got->data.view();
      ASSERT_TRUE(ParseHeader(data, &key, &version))
          << meta.key << ": torn or foreign object of " << data.size() << " bytes";
      ASSERT_EQ(key, meta.key);
      ASSERT_LE(version, static_cast<uint64_t>(iteration + 2) * kVersionsPerIteration);
      ASSERT_TRUE(data == Content(key, version))
          << meta.key << " version " << version << ": bytes differ from what was written";
      EXPECT_EQ(got->meta.size, data.size());
      auto it = acked.find(meta.key);
      if (it != acked.end()) {
        EXPECT_GE(version, it->second) << meta.key << ": an acknowledged version was lost";
      }
    }
    if (page->next_continuation_token.empty()) break;
    options.continuation_token = page->next_continuation_token;
  }
  for (const auto& [key, version] : acked) {
    EXPECT_TRUE(listed.count(key) == 1) << key << " version " << version << " was acknowledged";
  }
  auto by_prefix = store.List({.delimiter = "/"});
  ASSERT_THAT(by_prefix, IsOk());
  for (const std::string& prefix : by_prefix->common_prefixes) {
    EXPECT_TRUE(prefix == "cas/" || prefix == "create/" || prefix == "mp/" || prefix == "obj/")
        << prefix;
  }
  // Uploads in flight at the crash survive; abort them so the next round starts clean.
  auto uploads = store.ListMultipartUploads("");
  ASSERT_THAT(uploads, IsOk());
  for (const auto& upload : *uploads) {
    EXPECT_THAT(store.AbortMultipart(upload.key, upload.upload_id), IsOk());
  }
}

TEST(LocalStoreCrashTest, KilledWriterLeavesWholeObjects) {
  uint64_t seed = std::random_device{}();
  if (const char* fixed = std::getenv("DEPOT_CRASH_SEED")) seed = std::strtoull(fixed, nullptr, 10);
  std::printf("crash test seed: %llu (DEPOT_CRASH_SEED replays it)\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);

  std::string pattern = (fs::temp_directory_path() / "depot-crash-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path dir = pattern;
  const fs::path root = dir / "store";

  std::map<std::string, uint64_t> acked;  // the highest acknowledged version of each key
  size_t acknowledged_writes = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int iteration = 0;
  for (; iteration < 30 && std::chrono::steady_clock::now() < give_up; ++iteration) {
    SCOPED_TRACE(fmt::format("iteration {}, seed {}", iteration, seed));
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const uint64_t child_seed = rng();
    const auto delay = std::chrono::milliseconds(2 + rng() % 149);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      RunWriter(root, iteration, child_seed, fds[1]);
    }
    ::close(fds[1]);
    std::string received;
    const bool ended = Drain(fds[0], std::chrono::steady_clock::now() + delay, &received);
    ::kill(pid, SIGKILL);
    if (!ended)
      Drain(fds[0], std::chrono::steady_clock::now() + std::chrono::seconds(30), &received);
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);

    for (size_t start = 0; start < received.size();) {
      size_t end = received.find('\n', start);
      if (end == std::string::npos) break;  // a line cut short by the kill was not acknowledged
      std::string line = received.substr(start, end - start);
      start = end + 1;
      ASSERT_TRUE(line.starts_with("A ")) << "the writer failed: " << line;
      size_t space = line.rfind(' ');
      std::string key = line.substr(2, space - 2);
      uint64_t version = std::strtoull(line.c_str() + space + 1, nullptr, 10);
      uint64_t& highest = acked[key];
      highest = std::max(highest, version);
      ++acknowledged_writes;
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer ended on its own (status " << status << ")";
    Verify(root, iteration, acked);
    if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) break;
  }
  std::printf("%d iterations, %zu acknowledged writes over %zu keys\n", iteration,
              acknowledged_writes, acked.size());
  EXPECT_GE(iteration, 10);
  EXPECT_GT(acknowledged_writes, 0u);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace depot::object
