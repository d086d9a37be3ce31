#include "depot/cas/testing/conformance.h"

#include <fmt/format.h>
#include <gmock/gmock.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "depot/cas/outboard.h"
#include "depot/core/cancellation.h"
#include "depot/core/testing/status_matchers.h"

namespace depot::cas::testing {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint64_t kWindow = 64 << 10;  // small, so that a few hundred KiB cross windows

BlobStoreOptions TestOptions() {
  BlobStoreOptions options;
  options.window = kWindow;
  return options;
}

std::string Blob(size_t n, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string blob(n, '\0');
  for (char& c : blob) c = static_cast<char>(random());
  return blob;
}

ContentId IdOf(std::string_view data) { return ContentId{blake3::Hash(data)}; }

std::string Key(std::string_view kind, const ContentId& id) {
  const std::string hex = id.ToHex();
  return fmt::format("{}/{}/{}", kind, hex.substr(0, 2), hex);
}

// Every key of the object store under `prefix`.
std::vector<std::string> Keys(object::ObjectStore& objects, const std::string& prefix = "") {
  std::vector<std::string> keys;
  object::ListOptions list;
  list.prefix = prefix;
  do {
    auto page = objects.List(list);
    EXPECT_THAT(page.status(), IsOk());
    if (!page.ok()) break;
    for (const auto& meta : page->objects) keys.push_back(meta.key);
    list.continuation_token = page->next_continuation_token;
  } while (!list.continuation_token.empty());
  return keys;
}

}  // namespace

void BlobStoreConformance::SetUp() {
  auto made = GetParam().make();
  ASSERT_TRUE(made.ok()) << made.status();
  stores_ = *made;
  blobs_ = Reopen();
  ASSERT_NE(blobs_, nullptr);
}

std::unique_ptr<BlobStore> BlobStoreConformance::Reopen() {
  auto opened = BlobStore::Open(stores_.objects, stores_.index, TestOptions());
  EXPECT_THAT(opened.status(), IsOk());
  return opened.ok() ? std::move(*opened) : nullptr;
}

TEST_P(BlobStoreConformance, ABlobIsNamedByItsHashAndReadBackWholeAndByRange) {
  std::mt19937_64 random(1);
  for (size_t n : {size_t{0}, size_t{1}, size_t{kGroupLen}, size_t{kGroupLen + 1},
                   size_t{3 * kWindow + 5}, size_t{(1 << 20) + 1}}) {
    SCOPED_TRACE(fmt::format("{} bytes", n));
    const std::string data = Blob(n, n);
    auto put = blobs().Put(data);
    ASSERT_THAT(put.status(), IsOk());
    EXPECT_EQ(put->id, IdOf(data));
    EXPECT_EQ(put->id.ToHex(), blake3::ToHex(blake3::Hash(data)));
    EXPECT_EQ(put->size, n);
    EXPECT_FALSE(put->deduplicated);
    EXPECT_EQ(put->pins, 1u);
    auto info = blobs().Stat(put->id);
    ASSERT_THAT(info.status(), IsOk());
    EXPECT_EQ(info->size, n);
    EXPECT_EQ(info->pins, 1u);
    auto whole = blobs().Get(put->id);
    ASSERT_THAT(whole.status(), IsOk());
    EXPECT_TRUE(*whole == data);
    for (int trial = 0; trial < 8; ++trial) {
      uint64_t begin = random() % (n + 1), end = random() % (n + 1);
      if (begin > end) std::swap(begin, end);
      for (bool verify : {true, false}) {
        auto got = blobs().Get(put->id, ByteRange::Bounded(begin, end), {verify});
        ASSERT_THAT(got.status(), IsOk()) << begin << "-" << end;
        EXPECT_TRUE(*got == data.substr(begin, end - begin)) << begin << "-" << end;
      }
    }
    auto suffix = blobs().Get(put->id, ByteRange::Suffix(10));
    ASSERT_THAT(suffix.status(), IsOk());
    EXPECT_TRUE(*suffix == data.substr(n - std::min<size_t>(n, 10)));
  }
}

TEST_P(BlobStoreConformance, AReadStreamsInPiecesOfAtMostAWindow) {
  const std::string data = Blob(5 * kWindow + 77, 2);
  auto put = blobs().Put(data);
  ASSERT_THAT(put.status(), IsOk());
  for (bool verify : {true, false}) {
    std::string got;
    size_t pieces = 0;
    ASSERT_THAT(blobs().Read(put->id, ByteRange::From(3),
                             [&](std::string_view piece) {
                               EXPECT_LE(piece.size(), verify ? kWindow : size_t{8} << 20);
                               got += piece;
                               ++pieces;
                               return Status::Ok();
                             },
                             {verify}),
                IsOk());
    EXPECT_TRUE(got == data.substr(3));
    if (verify) {
      EXPECT_GE(pieces, 5u);
    }
  }
  // A sink's error ends the read and is returned as it is.
  EXPECT_THAT(blobs().Read(put->id, {},
                           [](std::string_view) { return ResourceExhaustedError("sink full"); }),
              StatusIs(StatusCode::kResourceExhausted, HasSubstr("sink full")));
}

TEST_P(BlobStoreConformance, TheSameBytesAreStoredOnceAndEachPutPinsThem) {
  const std::string data = Blob(200000, 3);
  auto first = blobs().Put(data);
  auto second = blobs().Put(data);
  ASSERT_THAT(first.status(), IsOk());
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_EQ(first->id, second->id);
  EXPECT_FALSE(first->deduplicated);
  EXPECT_TRUE(second->deduplicated);
  EXPECT_EQ(second->pins, 2u);
  auto unpinned = blobs().Put(data, {.pin = false});
  ASSERT_THAT(unpinned.status(), IsOk());
  EXPECT_TRUE(unpinned->deduplicated);
  EXPECT_EQ(unpinned->pins, 2u);
  // One copy of the bytes and of the tree; nothing staged is left.
  EXPECT_EQ(Keys(*stores_.objects),
            (std::vector<std::string>{Key("blobs", first->id), Key("outboards", first->id)}));
}

TEST_P(BlobStoreConformance, AWriterTakesPiecesOfAnySizeAndAnAbortLeavesNothing) {
  const std::string data = Blob(3 * kWindow + 1000, 4);
  std::mt19937_64 random(4);
  auto writer = blobs().OpenWriter();
  ASSERT_THAT(writer.status(), IsOk());
  for (size_t at = 0; at < data.size();) {
    const size_t piece = std::min<size_t>(data.size() - at, random() % (2 * kWindow) + 1);
    ASSERT_THAT((*writer)->Write(std::string_view(data).substr(at, piece)), IsOk());
    at += piece;
  }
  EXPECT_EQ((*writer)->bytes_written() + kWindow >= data.size(), true);
  auto put = (*writer)->Finish();
  ASSERT_THAT(put.status(), IsOk());
  EXPECT_EQ(put->id, IdOf(data));
  EXPECT_THAT((*writer)->Write("more"), StatusIs(StatusCode::kFailedPrecondition));

  const std::string other = Blob(2 * kWindow, 5);
  {
    auto aborted = blobs().OpenWriter();
    ASSERT_THAT(aborted.status(), IsOk());
    ASSERT_THAT((*aborted)->Write(other), IsOk());
    ASSERT_THAT((*aborted)->Abort(), IsOk());
    EXPECT_THAT((*aborted)->Finish().status(), StatusIs(StatusCode::kCancelled));
  }
  {
    auto dropped = blobs().OpenWriter();  // destroyed unfinished: aborted
    ASSERT_THAT(dropped.status(), IsOk());
    ASSERT_THAT((*dropped)->Write(other), IsOk());
  }
  EXPECT_THAT(blobs().Stat(IdOf(other)).status(), StatusIs(StatusCode::kNotFound));
  EXPECT_TRUE(Keys(*stores_.objects, "staging/").empty());
}

TEST_P(BlobStoreConformance, PinsCountAndCollectionDeletesExactlyTheUnpinned) {
  const std::string kept = Blob(100000, 6), dropped = Blob(100000, 7), never = Blob(10, 8);
  auto a = blobs().Put(kept);
  auto b = blobs().Put(dropped);
  auto c = blobs().Put(never, {.pin = false});
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_THAT(b.status(), IsOk());
  ASSERT_THAT(c.status(), IsOk());
  EXPECT_EQ(c->pins, 0u);
  EXPECT_THAT(blobs().Pin(a->id), ::depot::testing::IsOkAndHolds(2u));
  EXPECT_THAT(blobs().Unpin(a->id), ::depot::testing::IsOkAndHolds(1u));
  EXPECT_THAT(blobs().Unpin(b->id), ::depot::testing::IsOkAndHolds(0u));
  EXPECT_THAT(blobs().Unpin(b->id),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr(b->id.ToHex())));
  // Unpinned is not gone: it reads until a collection.
  EXPECT_THAT(blobs().Get(b->id).status(), IsOk());

  auto gc = blobs().CollectGarbage();
  ASSERT_THAT(gc.status(), IsOk());
  EXPECT_EQ(gc->blobs_deleted, 2u);
  EXPECT_EQ(gc->bytes_freed, 100000u + 10);
  EXPECT_EQ(gc->leftovers_deleted, 0u);
  EXPECT_THAT(blobs().Stat(b->id).status(),
              StatusIs(StatusCode::kNotFound, HasSubstr(b->id.ToHex())));
  EXPECT_THAT(blobs().Get(c->id).status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(blobs().Pin(b->id).status(), StatusIs(StatusCode::kNotFound));
  auto still = blobs().Get(a->id);
  ASSERT_THAT(still.status(), IsOk());
  EXPECT_TRUE(*still == kept);
  EXPECT_EQ(Keys(*stores_.objects),
            (std::vector<std::string>{Key("blobs", a->id), Key("outboards", a->id)}));
  // A collected blob can be put again.
  auto again = blobs().Put(dropped);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_FALSE(again->deduplicated);
  EXPECT_THAT(blobs().Get(again->id), ::depot::testing::IsOkAndHolds(dropped));
}

TEST_P(BlobStoreConformance, ChangedBytesOrTreesAreDataLossNeverData) {
  const std::string data = Blob(5 * kGroupLen + 99, 9);
  auto put = blobs().Put(data);
  ASSERT_THAT(put.status(), IsOk());
  const auto overwrite = [&](const std::string& key, std::string bytes) {
    ASSERT_THAT(stores_.objects->Put(key, Bytes::FromString(std::move(bytes))).status(), IsOk());
  };
  std::string changed = data;
  changed[3 * kGroupLen + 5] ^= 1;
  overwrite(Key("blobs", put->id), changed);
  EXPECT_THAT(blobs().Get(put->id).status(),
              StatusIs(StatusCode::kDataLoss, HasSubstr("do not match")));
  // Ranges that do not touch the changed leaf still verify; those that do never return it.
  EXPECT_THAT(blobs().Get(put->id, ByteRange::Bounded(0, kGroupLen)),
              ::depot::testing::IsOkAndHolds(data.substr(0, kGroupLen)));
  EXPECT_THAT(blobs().Get(put->id, ByteRange::Bounded(3 * kGroupLen, 3 * kGroupLen + 6)).status(),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(blobs().Slice(put->id, 3 * kGroupLen, 3 * kGroupLen + 10).status(),
              StatusIs(StatusCode::kDataLoss));
  // Unverified reads skip the tree: the object store's bytes come as they are.
  EXPECT_THAT(blobs().Get(put->id, {}, {.verify = false}), ::depot::testing::IsOkAndHolds(changed));

  overwrite(Key("blobs", put->id), data.substr(0, data.size() - 1));  // truncated
  for (bool verify : {true, false}) {
    EXPECT_THAT(blobs().Get(put->id, ByteRange::Bounded(0, 10), {verify}).status(),
                StatusIs(StatusCode::kDataLoss));
  }
  overwrite(Key("blobs", put->id), data);
  EXPECT_THAT(blobs().Get(put->id), ::depot::testing::IsOkAndHolds(data));
  // A tree changed (a flipped bit, then a truncation) before it is read, each on a blob not read
  // yet: tree pages read earlier may serve from memory, where they are checked on every use.
  for (const bool truncate : {false, true}) {
    auto other = blobs().Put(Blob(5 * kGroupLen + 99, truncate ? 21 : 20));
    ASSERT_THAT(other.status(), IsOk());
    auto outboard = stores_.objects->Get(Key("outboards", other->id));
    ASSERT_THAT(outboard.status(), IsOk());
    std::string tree = outboard->data.ToString();
    if (truncate) {
      tree.resize(64);
    } else {
      tree[70] ^= 4;
    }
    overwrite(Key("outboards", other->id), tree);
    EXPECT_THAT(blobs().Get(other->id).status(), StatusIs(StatusCode::kDataLoss));
  }
  // Bytes the index names but the object store lost.
  ASSERT_THAT(stores_.objects->Delete(Key("blobs", put->id)), IsOk());
  EXPECT_THAT(blobs().Get(put->id).status(),
              StatusIs(StatusCode::kDataLoss, HasSubstr("its objects are not")));
}

TEST_P(BlobStoreConformance, SlicesVerifyWithTheIdAlone) {
  const std::string data = Blob(7 * kGroupLen + 3, 10);
  auto put = blobs().Put(data);
  ASSERT_THAT(put.status(), IsOk());
  std::mt19937_64 random(10);
  for (int trial = 0; trial < 10; ++trial) {
    uint64_t begin = random() % (data.size() + 1), end = random() % (data.size() + 1);
    if (begin > end) std::swap(begin, end);
    auto slice = blobs().Slice(put->id, begin, end);
    ASSERT_THAT(slice.status(), IsOk());
    const auto* bytes = reinterpret_cast<const uint8_t*>(slice->data());
    EXPECT_THAT(VerifySlice({bytes, slice->size()}, put->id.digest, begin, end),
                ::depot::testing::IsOkAndHolds(data.substr(begin, end - begin)));
  }
  EXPECT_THAT(blobs().Slice(put->id, 0, data.size() + 1).status(),
              StatusIs(StatusCode::kOutOfRange));
}

TEST_P(BlobStoreConformance, BadInputIsRefusedNamingItAndChangesNothing) {
  EXPECT_THAT(ContentId::FromHex("abc").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"abc\"")));
  EXPECT_THAT(ContentId::FromHex(std::string(63, 'a') + "g").status(),
              StatusIs(StatusCode::kInvalidArgument));
  auto upper = ContentId::FromHex(std::string(64, 'A'));
  ASSERT_THAT(upper.status(), IsOk());
  EXPECT_EQ(upper->ToHex(), std::string(64, 'a'));

  const ContentId unknown = IdOf("nobody put this");
  EXPECT_THAT(blobs().Get(unknown).status(),
              StatusIs(StatusCode::kNotFound, HasSubstr(unknown.ToHex())));
  EXPECT_THAT(blobs().Unpin(unknown).status(), StatusIs(StatusCode::kNotFound));

  auto put = blobs().Put("twelve bytes");
  ASSERT_THAT(put.status(), IsOk());
  EXPECT_THAT(blobs().Get(put->id, ByteRange::From(13)).status(),
              StatusIs(StatusCode::kOutOfRange));
  EXPECT_THAT(blobs().Get(put->id, ByteRange::Bounded(5, 2)).status(),
              StatusIs(StatusCode::kInvalidArgument));

  CancellationSource cancel;
  cancel.Cancel();
  const Context cancelled = Context().WithToken(cancel.token());
  EXPECT_THAT(blobs().Put("x", {}, cancelled).status(), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(blobs().Pin(put->id, cancelled).status(), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(blobs().CollectGarbage(cancelled).status(), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(blobs().Stat(put->id),
              ::depot::testing::IsOkAndHolds(::testing::Field(&BlobInfo::pins, 1u)));
  EXPECT_THAT(blobs().Stat(IdOf("x")).status(), StatusIs(StatusCode::kNotFound));

  EXPECT_THAT(BlobStore::Open(stores_.objects, nullptr).status(),
              StatusIs(StatusCode::kInvalidArgument));
  BlobStoreOptions tiny;
  tiny.window = 100;
  EXPECT_THAT(BlobStore::Open(stores_.objects, stores_.index, tiny).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("100")));
  BlobStoreOptions huge;
  huge.window = kMaxWindow + 1;
  EXPECT_THAT(BlobStore::Open(stores_.objects, stores_.index, huge).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr(std::to_string(kMaxWindow + 1))));
  BlobStoreOptions bad_space;
  bad_space.index_space = "no spaces";
  EXPECT_THAT(BlobStore::Open(stores_.objects, stores_.index, bad_space).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no spaces")));
}

TEST_P(BlobStoreConformance, TwoBlobStoresWithTheirOwnPrefixAndSpaceShareTheStores) {
  BlobStoreOptions other = TestOptions();
  other.prefix = "other/";
  other.index_space = "cas_other";
  auto second = BlobStore::Open(stores_.objects, stores_.index, other);
  ASSERT_THAT(second.status(), IsOk());
  auto mine = blobs().Put(Blob(40000, 31), {.pin = false});
  auto theirs = (*second)->Put(Blob(40000, 32));
  ASSERT_THAT(mine.status(), IsOk());
  ASSERT_THAT(theirs.status(), IsOk());
  EXPECT_THAT(blobs().Stat(theirs->id).status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT((*second)->Stat(mine->id).status(), StatusIs(StatusCode::kNotFound));

  // Each collects its own: neither takes the other's blobs for leftovers.
  auto gc = blobs().CollectGarbage();
  ASSERT_THAT(gc.status(), IsOk());
  EXPECT_EQ(gc->blobs_deleted, 1u);
  EXPECT_EQ(gc->leftovers_deleted, 0u);
  gc = (*second)->CollectGarbage();
  ASSERT_THAT(gc.status(), IsOk());
  EXPECT_EQ(gc->blobs_deleted + gc->leftovers_deleted, 0u);
  EXPECT_THAT((*second)->Get(theirs->id), ::depot::testing::IsOkAndHolds(Blob(40000, 32)));
}

TEST_P(BlobStoreConformance, CollectionRemovesWhatCrashesLeftAndNothingElse) {
  auto put = blobs().Put(Blob(50000, 11));
  ASSERT_THAT(put.status(), IsOk());
  const ContentId orphan = IdOf("moved, never recorded");
  for (const std::string& key :
       {std::string("staging/0123456789abcdef0123456789abcdef"),
        std::string("staging/0123456789abcdef0123456789abcdef.obao"), Key("blobs", orphan),
        Key("outboards", orphan), std::string("blobs/zz/not-a-blob"), std::string("other")}) {
    ASSERT_THAT(stores_.objects->Put(key, Bytes::Copy("x")).status(), IsOk());
  }
  // A blob whose record says deleting: a collection a crash cut short. It is gone for readers
  // at once, and the next collection finishes it.
  auto doomed = blobs().Put(Blob(30000, 12));
  ASSERT_THAT(doomed.status(), IsOk());
  const std::string record_key(reinterpret_cast<const char*>(doomed->id.digest.data()), 32);
  auto record = stores_.index->Get("cas_blobs", record_key);
  ASSERT_THAT(record.status(), IsOk());
  ASSERT_TRUE(record->has_value());
  std::string deleting = **record;
  deleting[1] = 2;
  kv::WriteBatch batch;
  batch.Put("cas_blobs", record_key, deleting);
  ASSERT_THAT(stores_.index->Commit(batch), IsOk());
  EXPECT_THAT(blobs().Stat(doomed->id).status(), StatusIs(StatusCode::kNotFound));
  // A writer that uploads in parts leaves an open multipart upload instead of staging objects.
  const bool multipart = stores_.objects->capabilities().multipart;
  if (multipart) {
    auto upload = stores_.objects->CreateMultipart("staging/fedcba9876543210fedcba9876543210", {});
    ASSERT_THAT(upload.status(), IsOk());
    ASSERT_THAT(
        stores_.objects
            ->PutPart("staging/fedcba9876543210fedcba9876543210", *upload, 1, Bytes::Copy("part"))
            .status(),
        IsOk());
  }

  auto gc = Reopen()->CollectGarbage();
  ASSERT_THAT(gc.status(), IsOk());
  EXPECT_EQ(gc->blobs_deleted, 1u);
  EXPECT_EQ(gc->leftovers_deleted, multipart ? 5u : 4u);
  if (multipart) {
    auto open = stores_.objects->ListMultipartUploads("staging/");
    ASSERT_THAT(open.status(), IsOk());
    EXPECT_TRUE(open->empty());
  }
  std::vector<std::string> expected{Key("blobs", put->id), "blobs/zz/not-a-blob",
                                    Key("outboards", put->id), "other"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Keys(*stores_.objects), expected);
  EXPECT_THAT(blobs().Get(put->id).status(), IsOk());
}

TEST_P(BlobStoreConformance, ListGivesLiveBlobsInIdOrder) {
  std::set<ContentId> ids;
  for (int i = 0; i < 5; ++i) {
    auto put = blobs().Put(Blob(100 + i, 20 + i), {.pin = i != 0});
    ASSERT_THAT(put.status(), IsOk());
    ids.insert(put->id);
  }
  auto all = blobs().List();
  ASSERT_THAT(all.status(), IsOk());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_TRUE(std::equal(all->begin(), all->end(), ids.begin(),
                         [](const BlobInfo& info, const ContentId& id) { return info.id == id; }));
  auto rest = blobs().List((*all)[1].id, 2);
  ASSERT_THAT(rest.status(), IsOk());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].id, (*all)[2].id);
  ASSERT_THAT(blobs().CollectGarbage().status(), IsOk());
  EXPECT_THAT(blobs().List(), ::depot::testing::IsOkAndHolds(::testing::SizeIs(4)));
}

TEST_P(BlobStoreConformance, ConcurrentPutsPinsAndCollectionsKeepEveryPinnedBlob) {
  // Eight threads put, unpin and re-put a few shared blobs while collections run: a blob that a
  // thread holds a pin on must read back at every moment.
  std::vector<std::string> contents;
  for (int i = 0; i < 4; ++i) contents.push_back(Blob(40000 + i, 30 + i));
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10 && !failed; ++round) {
        const std::string& data = contents[(t + round) % contents.size()];
        auto put = blobs().Put(data);
        if (!put.ok()) {
          ADD_FAILURE() << put.status();
          failed = true;
          return;
        }
        auto got = blobs().Get(put->id);
        if (!got.ok() || *got != data) {
          ADD_FAILURE() << "a pinned blob did not read back: " << got.status();
          failed = true;
        }
        if (!blobs().Unpin(put->id).ok()) failed = true;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 20 && !failed; ++i) {
      if (!blobs().CollectGarbage().ok()) failed = true;
    }
  });
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(failed);
  ASSERT_THAT(blobs().CollectGarbage().status(), IsOk());
  EXPECT_THAT(blobs().List(), ::depot::testing::IsOkAndHolds(::testing::IsEmpty()));
  EXPECT_TRUE(Keys(*stores_.objects).empty());
}

}  // namespace depot::cas::testing
