#include "depot/object/open.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "depot/core/testing/status_matchers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/prefix_store.h"

namespace depot::object {
namespace {

namespace fs = std::filesystem;
using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

std::string Read(ObjectStore& store, std::string_view key) {
  auto got = store.Get(key, {});
  return got.ok() ? got->data.ToString() : got.status().ToString();
}

TEST(OpenTest, MemWithoutANameIsANewStoreEachTime) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto a, Open("mem://"));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto b, Open("mem://"));
  EXPECT_NE(a.get(), b.get());
  EXPECT_NE(dynamic_cast<MemoryStore*>(a.get()), nullptr);
  ASSERT_THAT(a->Put("k", Bytes::Copy("v"), {}), IsOk());
  EXPECT_THAT(b->Head("k"), StatusIs(StatusCode::kNotFound));
}

TEST(OpenTest, NamedMemStoresAreSharedInTheProcess) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto a, Open("mem://open-test-shared"));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto b, Open("MEM://open-test-shared"));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto other, Open("mem://open-test-other"));
  EXPECT_EQ(a.get(), b.get());
  ASSERT_THAT(a->Put("k", Bytes::Copy("v"), {}), IsOk());
  EXPECT_EQ(Read(*b, "k"), "v");
  EXPECT_THAT(other->Head("k"), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(a->ToString(), "mem://open-test-shared");
  // Its own URL opens it again.
  DEPOT_ASSERT_OK_AND_ASSIGN(auto again, Open(a->ToString()));
  EXPECT_EQ(again.get(), a.get());
}

TEST(OpenTest, ConcurrentOpensOfOneNameAgree) {
  std::vector<std::thread> threads;
  std::vector<ObjectStore*> seen(8, nullptr);
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] {
      auto store = Open("mem://open-test-race");
      if (store.ok()) seen[i] = store->get();
    });
  }
  for (auto& thread : threads) thread.join();
  for (ObjectStore* store : seen) EXPECT_EQ(store, seen[0]);
  EXPECT_NE(seen[0], nullptr);
}

TEST(OpenTest, PrefixOptionWrapsInAPrefixStore) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto whole, Open("mem://open-test-prefix"));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto tenant, Open("mem://open-test-prefix?prefix=tenant/"));
  EXPECT_NE(dynamic_cast<PrefixStore*>(tenant.get()), nullptr);
  ASSERT_THAT(tenant->Put("k", Bytes::Copy("v"), {}), IsOk());
  EXPECT_EQ(Read(*whole, "tenant/k"), "v");
  EXPECT_EQ(tenant->ToString(), "mem://open-test-prefix?prefix=tenant%2F");
  // The URL round-trips, including nested prefixes.
  DEPOT_ASSERT_OK_AND_ASSIGN(auto reopened, Open(tenant->ToString()));
  EXPECT_EQ(Read(*reopened, "k"), "v");
  DEPOT_ASSERT_OK_AND_ASSIGN(auto nested, Open("mem://open-test-prefix?prefix=a/&prefix=b/"));
  ASSERT_THAT(nested->Put("k", Bytes::Copy("deep"), {}), IsOk());
  EXPECT_EQ(Read(*whole, "a/b/k"), "deep");
  // An empty prefix wraps nothing.
  DEPOT_ASSERT_OK_AND_ASSIGN(auto plain, Open("mem://open-test-prefix?prefix="));
  EXPECT_EQ(plain.get(), whole.get());
}

TEST(OpenTest, ErrorsNameTheOffendingValue) {
  EXPECT_THAT(Open("s4://bucket"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"s4\"")));
  EXPECT_THAT(Open("mem://?colour=red"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"colour\"")));
  EXPECT_THAT(Open("mem://name/with/path"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("mem://name/with/path")));
  EXPECT_THAT(Open("mem://name:80"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Open("://nothing"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("://nothing")));
  EXPECT_THAT(Open("mem://x#frag"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Open(""), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Open("file://somehost/dir"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"somehost\"")));
  EXPECT_THAT(Open("file://"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(OpenTest, RegisteredSchemesAreUsed) {
  RegisterBuiltinBackends();
  RegisterBuiltinBackends();  // idempotent
  auto shared = std::make_shared<MemoryStore>(MemoryStoreOptions{}, "custom");
  RegisterScheme("open-test", [shared](const Url& url) -> Result<std::shared_ptr<ObjectStore>> {
    if (url.host != "ok") return InvalidArgumentError("host \"" + url.host + "\" refused");
    return std::shared_ptr<ObjectStore>(shared);
  });
  DEPOT_ASSERT_OK_AND_ASSIGN(auto store, Open("open-test://ok"));
  EXPECT_EQ(store.get(), shared.get());
  EXPECT_THAT(Open("open-test://no"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"no\"")));
  DEPOT_ASSERT_OK_AND_ASSIGN(auto prefixed, Open("open-test://ok?prefix=p/"));
  ASSERT_THAT(prefixed->Put("k", Bytes::Copy("v"), {}), IsOk());
  EXPECT_EQ(Read(*shared, "p/k"), "v");
}

#if DEPOT_WITH_LOCAL

class OpenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "depot-open-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  fs::path dir_;
};

TEST_F(OpenFileTest, FileUrlsAndPlainPathsOpenTheLocalStore) {
  DEPOT_ASSERT_OK_AND_ASSIGN(auto by_url, Open("file://" + dir_.string()));
  ASSERT_THAT(by_url->Put("a/b", Bytes::Copy("v"), {}), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(auto by_path, Open(dir_.string()));
  EXPECT_EQ(Read(*by_path, "a/b"), "v");
  DEPOT_ASSERT_OK_AND_ASSIGN(auto by_own_url, Open(by_url->ToString()));
  EXPECT_EQ(Read(*by_own_url, "a/b"), "v");
  DEPOT_ASSERT_OK_AND_ASSIGN(auto with_prefix, Open("file://" + dir_.string() + "?prefix=a/"));
  EXPECT_EQ(Read(*with_prefix, "b"), "v");
  DEPOT_ASSERT_OK_AND_ASSIGN(auto prefix_again, Open(with_prefix->ToString()));
  EXPECT_EQ(Read(*prefix_again, "b"), "v");
  DEPOT_ASSERT_OK_AND_ASSIGN(auto md5, Open("file://" + dir_.string() + "?etag=md5"));
  EXPECT_EQ(Read(*md5, "a/b"), "v");
  DEPOT_ASSERT_OK_AND_ASSIGN(auto unique, Open("file://" + dir_.string() + "?etag=unique"));
  EXPECT_EQ(Read(*unique, "a/b"), "v");
}

TEST_F(OpenFileTest, RelativePathsAreMadeAbsolute) {
  const fs::path previous = fs::current_path();
  fs::current_path(dir_);
  auto store = Open("rel/store");
  fs::current_path(previous);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Put("k", Bytes::Copy("v"), {}), IsOk());
  EXPECT_TRUE(fs::exists(dir_ / "rel" / "store"));
}

TEST_F(OpenFileTest, FileOptionsAreChecked) {
  EXPECT_THAT(Open("file://" + dir_.string() + "?etag=sha1"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"sha1\"")));
  EXPECT_THAT(Open("file://" + dir_.string() + "?compress=yes"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"compress\"")));
}

#else

TEST(OpenFileTest, FileStoresNeedTheLocalBackend) {
  EXPECT_THAT(Open("file:///tmp/x"), StatusIs(StatusCode::kUnimplemented));
}

#endif

}  // namespace
}  // namespace depot::object
