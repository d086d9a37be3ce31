#include "depot/kv/backup/backup.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/kv/keys.h"
#include "depot/kv/open.h"
#include "depot/object/helpers.h"
#include "depot/object/local/local_store.h"
#if DEPOT_WITH_ROCKSDB
#include "depot/kv/rocksdb/rocksdb_store.h"
#endif

namespace depot::kv {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::testing::HasSubstr;

class KvBackupTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto target = object::LocalStore::Open(dir_.path() / "objects");
    ASSERT_THAT(target, IsOk());
    target_ = *target;
  }
  // The store URL of backend GetParam() at `name` under the test's directory.
  std::string Url(std::string_view name) const {
    const std::string path = (dir_.path() / name).string();
    return GetParam() == "sqlite" ? fmt::format("sqlite://{}.db", path)
                                  : fmt::format("{}://{}", GetParam(), path);
  }

  TempDir dir_;
  std::shared_ptr<object::LocalStore> target_;
};

// Batch `id`: 1..8 pairs in "a" keyed by (id, j) and a marker in "b" with the count.
WriteBatch Batch(uint64_t id) {
  WriteBatch batch;
  const uint32_t pairs = 1 + static_cast<uint32_t>(id % 8);
  for (uint32_t j = 0; j < pairs; ++j) {
    batch.Put("a", ConcatBytes(EncodeU64(id), EncodeU32(j)), std::string(100, 'a' + id % 26));
  }
  batch.Put("b", EncodeU64(id), std::to_string(pairs));
  return batch;
}

TEST_P(KvBackupTest, ARestoreEqualsTheBackupTakenWhileWritesWentOn) {
  auto store = Open(Url("live"), {"a", "b"});
  ASSERT_THAT(store, IsOk());
  for (uint64_t id = 1; id <= 500; ++id) ASSERT_THAT((*store)->Commit(Batch(id)), IsOk());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> written{500};
  std::thread writer([&] {
    for (uint64_t id = 501; !stop; ++id) {
      ASSERT_THAT((*store)->Commit(Batch(id), Durability::kBuffered), IsOk());
      written = id;
    }
  });
  auto report = BackupStore(**store, *target_, "backups/live/");
  stop = true;
  writer.join();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->backend, GetParam());
  EXPECT_GT(report->files, 0u);
  EXPECT_EQ(report->uploaded_files, report->files);  // the first backup sends everything

  auto restored = RestoreStore(*target_, "backups/live/", "", Url("restored"));
  ASSERT_THAT(restored, IsOk());
  EXPECT_EQ(restored->digest, report->digest);
  EXPECT_EQ(restored->id, report->id);
  // The restored store is the state after batches 1..n, for an n the backup saw.
  auto copy = Open(Url("restored"));
  ASSERT_THAT(copy, IsOk());
  auto markers = (*copy)->Scan("b");
  ASSERT_THAT(markers, IsOk());
  uint64_t expected = 1;
  for (; (*markers)->Valid(); (*markers)->Next(), ++expected) {
    ASSERT_EQ(*DecodeU64((*markers)->key()), expected) << "a gap in the restored batches";
  }
  const uint64_t batches = expected - 1;
  EXPECT_GE(batches, 500u);
  EXPECT_LE(batches, written.load());
  ASSERT_EQ(report->spaces.size(), 2u);
  EXPECT_EQ(report->spaces[1].approximate_keys, batches);
  EXPECT_EQ(*ContentDigest(**copy), report->digest);
}

TEST_P(KvBackupTest, ASecondBackupSendsOnlyWhatChanged) {
  auto store = Open(Url("live"), {"a", "b"});
  ASSERT_THAT(store, IsOk());
  for (uint64_t id = 1; id <= 3000; ++id)
    ASSERT_THAT((*store)->Commit(Batch(id), Durability::kBuffered), IsOk());
#if DEPOT_WITH_ROCKSDB
  // At rest first: the 3000 batches in table files, not in the memtable.
  if (auto* rocks = dynamic_cast<RocksDbStore*>(store->get())) {
    ASSERT_THAT(rocks->Flush(), IsOk());
  }
#endif
  auto first = BackupStore(**store, *target_, "");
  ASSERT_THAT(first, IsOk());
  auto same = BackupStore(**store, *target_, "");
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ(same->digest, first->digest);
  if (GetParam() == "rocksdb") {
    // Table files are immutable, but RocksDB's background compaction (of the store, or of the
    // copy a backup opens to take its digest) can replace them between two backups, and the new
    // ones are rightly sent: usually 1-20% of the first backup, two thirds seen on a loaded
    // machine, flushed and compacted or not. So: less than the whole, in fewer files.
    EXPECT_LT(same->uploaded_bytes, same->bytes);
    EXPECT_LT(same->uploaded_files, same->files);
  }
  ASSERT_THAT((*store)->Commit(Batch(3001)), IsOk());
  auto next = BackupStore(**store, *target_, "");
  ASSERT_THAT(next, IsOk());
  EXPECT_NE(next->digest, first->digest);
  if (GetParam() == "rocksdb") {  // as above
    EXPECT_LT(next->uploaded_bytes, next->bytes);
    EXPECT_LT(next->uploaded_files, next->files);
  }
  // Both backups restore, each to its own state.
  auto old_state = RestoreStore(*target_, "", first->id, Url("old"));
  ASSERT_THAT(old_state, IsOk());
  EXPECT_EQ(old_state->digest, first->digest);
  auto new_state = RestoreStore(*target_, "", "", Url("new"));  // the latest
  ASSERT_THAT(new_state, IsOk());
  EXPECT_EQ(new_state->digest, next->digest);
}

TEST_P(KvBackupTest, ADamagedBlobIsDataLossAndLeavesNothing) {
  auto store = Open(Url("live"), {"a", "b"});
  ASSERT_THAT(store, IsOk());
  for (uint64_t id = 1; id <= 100; ++id) ASSERT_THAT((*store)->Commit(Batch(id)), IsOk());
  auto report = BackupStore(**store, *target_, "");
  ASSERT_THAT(report, IsOk());
  // Damage every blob (the local object store keeps them as files).
  auto blobs = object::ListAll(*target_, "blobs/");
  ASSERT_THAT(blobs, IsOk());
  for (const auto& blob : *blobs) {
    auto got = object::GetAll(*target_, blob.key);
    ASSERT_THAT(got, IsOk());
    std::string bytes = got->ToString();
    if (bytes.empty()) continue;
    bytes[bytes.size() / 2] ^= 0x5a;
    ASSERT_THAT(target_->Put(blob.key, Bytes::FromString(std::move(bytes))), IsOk());
  }
  EXPECT_THAT(RestoreStore(*target_, "", "", Url("restored")),
              StatusIs(StatusCode::kDataLoss, HasSubstr("damaged")));
  EXPECT_FALSE(
      std::filesystem::exists(dir_.path() / (GetParam() == "sqlite" ? "restored.db" : "restored")));
}

TEST_P(KvBackupTest, ARestoreNeverOverwritesAStore) {
  auto store = Open(Url("live"), {"a", "b"});
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Commit(Batch(1)), IsOk());
  ASSERT_THAT(BackupStore(**store, *target_, ""), IsOk());
  EXPECT_THAT(RestoreStore(*target_, "", "", Url("live")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("never overwrites")));
  EXPECT_THAT(RestoreStore(*target_, "nothing-here/", "", Url("other")),
              StatusIs(StatusCode::kNotFound, HasSubstr("no backup")));
  EXPECT_THAT(RestoreStore(*target_, "", "", "mem://"), StatusIs(StatusCode::kInvalidArgument));
}

INSTANTIATE_TEST_SUITE_P(Backends, KvBackupTest, ::testing::Values("rocksdb", "sqlite", "lmdb"),
                         [](const auto& info) { return info.param; });

TEST(KvBackupMemoryTest, AMemoryStoreHasNothingToBackUp) {
  TempDir dir;
  auto target = object::LocalStore::Open(dir.path());
  ASSERT_THAT(target, IsOk());
  auto store = Open("mem://", {"a"});
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT(BackupStore(**store, **target, ""), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace depot::kv
