// The randomized model test: one random stream of operations runs against the memory store (the
// model) and the local-directory store, and every answer is compared: status codes, bytes, ETags,
// listings. The local store is closed and reopened now and then, and must still agree.
#include <fmt/format.h>
#include <gmock/gmock.h>

#include <filesystem>
#include <random>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/local/local_store.h"
#include "depot/object/memory/memory_store.h"

namespace depot::object {
namespace {

constexpr uint64_t kMinPart = 64;

class ModelTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            fmt::format("depot-model-{}-{}", getpid(), GetParam());
    std::filesystem::remove_all(root_);
    model_ = std::make_shared<MemoryStore>(MemoryStoreOptions{.min_part_size = kMinPart});
    Reopen();
  }
  void TearDown() override {
    local_.reset();
    std::filesystem::remove_all(root_);
  }
  void Reopen() {
    local_.reset();
    auto opened = LocalStore::Open(root_, {.min_part_size = kMinPart});
    ASSERT_TRUE(opened.ok()) << opened.status();
    local_ = *opened;
  }

  std::string RandomKey() {
    // No key is a directory of another, which a file system cannot hold (see local_store.h).
    static const std::vector<std::string> kKeys = {"top0",    "top1",   "top 2", "d0/k0",
                                                   "d0/k1",   "d0/k2",  "d1/k0", "d1/e/k0",
                                                   "d1/e/k1", "d2/ünï", "d2/+%", "z"};
    return kKeys[rng_() % kKeys.size()];
  }
  Bytes RandomBytes(size_t max) {
    size_t n = rng_() % (max + 1);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng_());
    return Bytes::FromString(std::move(s));
  }
  std::string KnownEtag(const std::string& key) {
    auto head = model_->Head(key);
    return head.ok() ? head->etag : "missing";
  }

  template <typename T>
  void Same(const Result<T>& a, const Result<T>& b, const std::string& what) {
    ASSERT_EQ(a.status().code(), b.status().code())
        << what << "\n model: " << a.status() << "\n local: " << b.status();
  }

  void CompareEverything(const std::string& what) {
    for (const char* delimiter : {"", "/"}) {
      ListOptions options{.delimiter = delimiter, .max_keys = 3};
      for (int page = 0;; ++page) {
        auto a = model_->List(options);
        auto b = local_->List(options);
        ASSERT_TRUE(a.ok() && b.ok()) << what;
        ASSERT_EQ(a->objects.size(), b->objects.size()) << what;
        for (size_t i = 0; i < a->objects.size(); ++i) {
          ASSERT_EQ(a->objects[i].key, b->objects[i].key) << what;
          ASSERT_EQ(a->objects[i].size, b->objects[i].size) << what;
          ASSERT_EQ(a->objects[i].etag, b->objects[i].etag) << what;
        }
        ASSERT_EQ(a->common_prefixes, b->common_prefixes) << what;
        ASSERT_EQ(a->next_continuation_token.empty(), b->next_continuation_token.empty()) << what;
        if (a->next_continuation_token.empty()) break;
        options.continuation_token = a->next_continuation_token;
        ASSERT_EQ(a->next_continuation_token, b->next_continuation_token) << what;
      }
    }
  }

  void Step(int step) {
    const std::string key = RandomKey();
    const std::string what = fmt::format("step {} key {}", step, key);
    switch (rng_() % 12) {
      case 0:
      case 1: {
        Bytes data = RandomBytes(300);
        PutOptions options;
        options.content_type = rng_() % 2 ? "text/plain" : "";
        Same(model_->Put(key, data, options), local_->Put(key, data, options), "put " + what);
        break;
      }
      case 2: {
        Bytes data = RandomBytes(100);
        PutOptions options{.mode = PutMode::kCreate};
        Same(model_->Put(key, data, options), local_->Put(key, data, options), "create " + what);
        break;
      }
      case 3: {
        Bytes data = RandomBytes(100);
        PutOptions options{.mode = PutMode::kUpdate,
                           .if_match = rng_() % 3 ? KnownEtag(key) : "stale"};
        Same(model_->Put(key, data, options), local_->Put(key, data, options), "update " + what);
        break;
      }
      case 4:
      case 5: {
        GetOptions options;
        uint64_t a = rng_() % 400;
        uint64_t b = a + rng_() % 200;
        switch (rng_() % 4) {
          case 0:
            options.range = ByteRange::Bounded(a, b);
            break;
          case 1:
            options.range = ByteRange::From(a);
            break;
          case 2:
            options.range = ByteRange::Suffix(a);
            break;
          default:
            break;
        }
        auto x = model_->Get(key, options);
        auto y = local_->Get(key, options);
        Same(x, y, "get " + what + " " + options.range.ToString());
        if (x.ok()) {
          ASSERT_EQ(x->data, y->data) << what;
          ASSERT_EQ(x->range, y->range) << what;
          ASSERT_EQ(x->meta.etag, y->meta.etag) << what;
          ASSERT_EQ(x->meta.content_type, y->meta.content_type) << what;
        }
        break;
      }
      case 6:
        ASSERT_EQ(model_->Delete(key).code(), local_->Delete(key).code()) << what;
        break;
      case 7: {
        std::string to = RandomKey();
        CopyMode mode = rng_() % 2 ? CopyMode::kCreate : CopyMode::kOverwrite;
        Same(model_->Copy(key, to, mode), local_->Copy(key, to, mode), "copy " + what + " " + to);
        break;
      }
      case 8: {
        std::string to = RandomKey();
        CopyMode mode = rng_() % 2 ? CopyMode::kCreate : CopyMode::kOverwrite;
        ASSERT_EQ(model_->Rename(key, to, mode).code(), local_->Rename(key, to, mode).code())
            << "rename " << what << " " << to;
        break;
      }
      case 9: {
        int parts = 1 + static_cast<int>(rng_() % 3);
        auto ia = model_->CreateMultipart(key, {});
        auto ib = local_->CreateMultipart(key, {});
        ASSERT_TRUE(ia.ok() && ib.ok()) << what;
        std::vector<PartInfo> pa, pb;
        for (int p = 1; p <= parts; ++p) {
          Bytes data = RandomBytes(p == parts ? 100 : 0);
          if (p < parts) data = Bytes::FromString(std::string(kMinPart + rng_() % 50, 'a' + p));
          auto ra = model_->PutPart(key, *ia, p, data);
          auto rb = local_->PutPart(key, *ib, p, data);
          ASSERT_TRUE(ra.ok() && rb.ok()) << what;
          ASSERT_EQ(ra->etag, rb->etag) << what;
          pa.push_back(*ra);
          pb.push_back(*rb);
        }
        if (rng_() % 4 == 0) {
          ASSERT_TRUE(model_->AbortMultipart(key, *ia).ok());
          ASSERT_TRUE(local_->AbortMultipart(key, *ib).ok());
        } else {
          Same(model_->CompleteMultipart(key, *ia, pa), local_->CompleteMultipart(key, *ib, pb),
               "multipart " + what);
        }
        break;
      }
      case 10:
        CompareEverything(what);
        break;
      default:
        Reopen();
        CompareEverything("after reopen, " + what);
        break;
    }
  }

  std::filesystem::path root_;
  std::shared_ptr<MemoryStore> model_;
  std::shared_ptr<LocalStore> local_;
  std::mt19937_64 rng_{GetParam()};
};

TEST_P(ModelTest, LocalStoreAgreesWithTheModel) {
  for (int step = 0; step < 1500; ++step) {
    ASSERT_NO_FATAL_FAILURE(Step(step));
  }
  CompareEverything("at the end");
}

INSTANTIATE_TEST_SUITE_P(Seeds, ModelTest, ::testing::Values(1, 2, 3, 4));

}  // namespace
}  // namespace depot::object
