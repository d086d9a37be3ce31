// kv_crash_writer URL FIRST SEED: the child of kv_crash_test. Opens the kv store at URL (spaces
// "a" and "b") and commits batches FIRST, FIRST+1, ... until it is killed, printing "A <id>" on
// stdout (flushed) after each Commit returned ("R" first, once the store is open). Batch `id`
// puts 1..16 pairs ("a", u64 id + u32 j) and its marker ("b", u64 id) holding the pair count; when
// id % 7 == 0 it also deletes batch id - 5 whole (a DeleteRange over its pairs and the Delete of
// its marker). Durability alternates at random between kSync and kBuffered: both must survive a
// killed process. Exits 3 with "E ..." on any failure.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "depot/kv/keys.h"
#include "depot/kv/open.h"

namespace {

[[noreturn]] void Fail(const depot::Status& status) {
  std::fprintf(stdout, "E %s\n", status.ToString().c_str());
  std::fflush(stdout);
  std::_Exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace depot::kv;
  if (argc != 4) {
    std::fprintf(stderr, "usage: kv_crash_writer URL FIRST SEED\n");
    return 2;
  }
  auto store = Open(argv[1], {"a", "b"});
  if (!store.ok()) Fail(store.status());
  std::fprintf(stdout, "R\n");  // open: the parent's clock for the kill starts now
  std::fflush(stdout);
  uint64_t id = std::strtoull(argv[2], nullptr, 10);
  std::mt19937_64 rng(std::strtoull(argv[3], nullptr, 10));
  for (;; ++id) {
    WriteBatch batch;
    const uint32_t pairs = 1 + static_cast<uint32_t>(rng() % 16);
    for (uint32_t j = 0; j < pairs; ++j) {
      batch.Put("a", ConcatBytes(EncodeU64(id), EncodeU32(j)), fmt::format("value {} {}", id, j));
    }
    batch.Put("b", EncodeU64(id), std::to_string(pairs));
    if (id % 7 == 0 && id >= 5) {
      batch.DeleteRange("a", EncodeU64(id - 5), EncodeU64(id - 4));
      batch.Delete("b", EncodeU64(id - 5));
    }
    const Durability durability = rng() % 2 == 0 ? Durability::kSync : Durability::kBuffered;
    if (depot::Status done = (*store)->Commit(batch, durability); !done.ok()) Fail(done);
    std::fprintf(stdout, "A %llu\n", static_cast<unsigned long long>(id));
    std::fflush(stdout);
  }
}
