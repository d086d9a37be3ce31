// cas_crash_writer CAS_URL SEED: the child of cas_crash_test. Opens the blob store at CAS_URL,
// prints "R", then until it is killed mixes, at random:
//   - puts of a blob of its own (pinned; 0..200 KiB, bytes from SEED and a counter, so never
//     shared), printing "K <id> <size>" (flushed) once Put returned: it is acknowledged and kept
//     pinned for good;
//   - a put of one of eight shared blobs followed by an unpin (dedup and pins to 0 and back);
//   - a pin and unpin of a kept blob (its pins go 1 -> 2 -> 1);
//   - CollectGarbage.
// Exits 3 with "E ..." on any failure.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "depot/cas/open.h"

namespace {

[[noreturn]] void Fail(const depot::Status& status) {
  std::fprintf(stdout, "E %s\n", status.ToString().c_str());
  std::fflush(stdout);
  std::_Exit(3);
}

std::string Bytes(uint64_t seed, size_t size) {
  std::mt19937_64 random(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: cas_crash_writer CAS_URL SEED\n");
    return 2;
  }
  const uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  auto blobs = depot::cas::Open(argv[1]);
  if (!blobs.ok()) Fail(blobs.status());
  std::printf("R\n");
  std::fflush(stdout);
  std::mt19937_64 random(seed);
  std::vector<depot::cas::ContentId> kept;
  for (uint64_t n = 0;; ++n) {
    const uint64_t op = random() % 10;
    if (op < 4) {
      auto put = (*blobs)->Put(Bytes(seed * 1000003 + n, random() % (200 << 10)));
      if (!put.ok()) Fail(put.status());
      kept.push_back(put->id);
      std::printf("K %s %llu\n", put->id.ToHex().c_str(),
                  static_cast<unsigned long long>(put->size));
      std::fflush(stdout);
    } else if (op < 7) {
      const uint64_t shared = random() % 8;
      auto put = (*blobs)->Put(Bytes(shared, 1000 + shared * 30000));
      if (!put.ok()) Fail(put.status());
      if (auto unpinned = (*blobs)->Unpin(put->id); !unpinned.ok()) Fail(unpinned.status());
    } else if (op < 9) {
      if (kept.empty()) continue;
      const depot::cas::ContentId& id = kept[random() % kept.size()];
      if (auto pinned = (*blobs)->Pin(id); !pinned.ok()) Fail(pinned.status());
      if (auto unpinned = (*blobs)->Unpin(id); !unpinned.ok()) Fail(unpinned.status());
    } else {
      if (auto gc = (*blobs)->CollectGarbage(); !gc.ok()) Fail(gc.status());
    }
  }
}
