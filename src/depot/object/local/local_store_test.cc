#include "depot/object/local/local_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <stdlib.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "depot/core/md5.h"
#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/object/backend_util.h"
#include "depot/object/helpers.h"
#include "depot/object/memory/memory_store.h"
#include "depot/object/testing/conformance.h"

namespace depot::object {
namespace {

namespace fs = std::filesystem;

using ::depot::object::testing::ConformanceBackend;
using ::depot::object::testing::ConformanceBackendName;
using ::depot::object::testing::ObjectStoreConformance;
using ::depot::testing::IsOk;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// The conformance suite's stores live in one directory per test process, removed at the end.
TempDir* conformance_parent = nullptr;

fs::path NewConformanceRoot() {
  static std::atomic<int> next{0};
  if (conformance_parent == nullptr) conformance_parent = new TempDir();
  return conformance_parent->path() / ("store-" + std::to_string(next++));
}

class RemoveConformanceRoots : public ::testing::Environment {
 public:
  void TearDown() override {
    delete conformance_parent;
    conformance_parent = nullptr;
  }
};
[[maybe_unused]] ::testing::Environment* const kRemoveConformanceRoots =
    ::testing::AddGlobalTestEnvironment(new RemoveConformanceRoots);

INSTANTIATE_TEST_SUITE_P(Local, ObjectStoreConformance,
                         ::testing::Values(ConformanceBackend{
                             "local",
                             []() -> Result<std::shared_ptr<ObjectStore>> {
                               DEPOT_ASSIGN_OR_RETURN(
                                   std::shared_ptr<LocalStore> store,
                                   LocalStore::Open(NewConformanceRoot(),
                                                    LocalStoreOptions{.min_part_size = 1024}));
                               return std::shared_ptr<ObjectStore>(std::move(store));
                             }}),
                         ConformanceBackendName);

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& path, std::string_view data) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// Every ".depot-tmp-*" name under `root`, the .depot directory included.
std::vector<std::string> StagingNames(const fs::path& root) {
  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().filename().string().starts_with(".depot-tmp-")) {
      names.push_back(fs::relative(entry.path(), root).string());
    }
  }
  return names;
}

std::vector<std::string> Keys(const ListResult& page) {
  std::vector<std::string> keys;
  for (const auto& meta : page.objects) keys.push_back(meta.key);
  return keys;
}

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() / "store";
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  std::shared_ptr<LocalStore> Open(LocalStoreOptions options = {.min_part_size = 5}) {
    auto opened = LocalStore::Open(root_, options);
    EXPECT_THAT(opened, IsOk());
    return opened.ok() ? *opened : nullptr;
  }

  std::string Read(std::string_view key) {
    auto got = store_->Get(key, {});
    EXPECT_THAT(got, IsOk()) << key;
    return got.ok() ? got->data.ToString() : "<error>";
  }

  Status Put(std::string_view key, std::string_view data, PutOptions options = {}) {
    return store_->Put(key, Bytes::Copy(data), options).status();
  }

  TempDir dir_;
  fs::path root_;
  std::shared_ptr<LocalStore> store_;
};

TEST_F(LocalStoreTest, LargeAlignedPutsAreStoredExactlyThroughDirectIo) {
  // A page-aligned buffer of 40 MiB and a few bytes: its aligned bulk is written with O_DIRECT,
  // its tail through the page cache; both must read back exactly, with the content's MD5 ETag.
  for (size_t size : {(size_t{40} << 20) + 123, size_t{40} << 20}) {
    SCOPED_TRACE(size);
    std::shared_ptr<char> buffer(
        static_cast<char*>(std::aligned_alloc(4096, (size + 4095) / 4096 * 4096)), std::free);
    ASSERT_NE(buffer, nullptr);
    const std::string pattern = RandomBytes(size, 7);
    std::memcpy(buffer.get(), pattern.data(), size);
    const char* bytes = buffer.get();
    auto stored = store_->Put("direct/big", Bytes::WithOwner(std::move(buffer), bytes, size), {});
    ASSERT_THAT(stored, IsOk());
    EXPECT_EQ(stored->etag, Md5::HexOf(pattern));
    EXPECT_TRUE(Read("direct/big") == pattern);
    EXPECT_EQ(fs::file_size(root_ / "direct" / "big"), size);
  }
}

TEST_F(LocalStoreTest, EveryKeyS3AcceptsIsStoredBeneathTheRoot) {
  const std::string long_segment(300, 'x');
  const std::string hashed_depot = ".depot" + std::string(245, 'd');  // 251 bytes: too long escaped
  std::string slashes(1024, '/');  // 1025 empty segments: a path deeper than one openat2 takes
  // The shapes of the conformance suite's EveryKeyShapeS3Accepts, and those that look like the
  // store's own names or need more than one openat2.
  const std::vector<std::string> keys = {"e/",
                                         "../x",
                                         "a/./b",
                                         "./..",
                                         ".depot",
                                         ".depot/lock",
                                         ".depot/uploads/x",
                                         ".depot-tmp-0123",
                                         ".depot-k-",
                                         ".depot-self",
                                         "a/.depotx",
                                         long_segment,
                                         "a/" + long_segment + "/b",
                                         hashed_depot,
                                         slashes,
                                         std::string(255, 'y'),
                                         "plain/file"};
  for (const std::string& key : keys) {
    SCOPED_TRACE(QuoteKey(key));
    ASSERT_THAT(Put(key, key), IsOk());
  }
  for (const std::string& key : keys) {
    SCOPED_TRACE(QuoteKey(key));
    EXPECT_EQ(Read(key), key);
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  auto page = store_->List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_EQ(Keys(*page), sorted);
  // With a delimiter, from prefixes that are escaped ("../", "//") and hashed.
  page = store_->List({.prefix = "/", .delimiter = "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());
  EXPECT_THAT(page->common_prefixes, ElementsAre("//"));
  page = store_->List({.prefix = "../", .delimiter = "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("../x"));
  page = store_->List({.prefix = "a/" + long_segment + "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("a/" + long_segment + "/b"));
  page = store_->List({.prefix = "e", .delimiter = "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->common_prefixes, ElementsAre("e/"));

  // Plain keys are plain files; the others are escaped, and nothing lies outside the root.
  EXPECT_EQ(ReadFile(root_ / "plain" / "file"), "plain/file");
  EXPECT_EQ(ReadFile(root_ / "e" / ".depot-k-"), "e/");
  EXPECT_EQ(ReadFile(root_ / ".depot-k-.." / "x"), "../x");
  EXPECT_EQ(ReadFile(root_ / "a" / ".depot-k-." / "b"), "a/./b");
  EXPECT_EQ(ReadFile(root_ / ".depot-k-.depot" / ".depot-self"), ".depot");  // ".depot/lock" too
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename(), "store");
  }
  // The store's own files are untouched by the keys that look like them.
  EXPECT_EQ(ReadFile(root_ / ".depot" / "format"), "2\n");
  EXPECT_FALSE(fs::exists(root_ / ".depot" / "uploads" / "x"));

  // A reopened store reads them all, and they delete.
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  for (const std::string& key : keys) {
    SCOPED_TRACE(QuoteKey(key));
    EXPECT_EQ(Read(key), key);
    EXPECT_THAT(store_->Delete(key), IsOk());
    EXPECT_THAT(store_->Get(key, {}), StatusIs(StatusCode::kNotFound));
  }
  page = store_->List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());
  // std::filesystem::remove_all (TempDir) cannot go as deep as the 1025 levels of `slashes`.
  store_ = nullptr;
  EXPECT_EQ(FileSystem::Posix().RemoveTree(AT_FDCWD, root_.c_str()), 0);
}

TEST_F(LocalStoreTest, HandMadeNamesThatNoKeyEncodesToAreNotListed) {
  WriteFile(root_ / ".depot-k-abc", "not canonical: \"abc\" is plain");
  WriteFile(root_ / ".depot-h-0123", "a hashed name without its attribute");
  WriteFile(root_ / ".depot-other", "reserved");
  ASSERT_THAT(Put("abc", "the key"), IsOk());
  auto page = store_->List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("abc"));
  EXPECT_EQ(Read("abc"), "the key");
}

TEST_F(LocalStoreTest, AnObjectCanAlsoBeADirectoryOfKeys) {
  // The object first, then keys below it: it moves into its directory, keeping its ETag.
  auto first = store_->Put("foo/bar", Bytes::Copy("object"), {.content_type = "text/plain"});
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(Put("foo/bar/xyzzy", "below"), IsOk());
  ASSERT_THAT(Put("foo/bar-baz", "beside"), IsOk());
  EXPECT_TRUE(fs::is_directory(root_ / "foo" / "bar"));
  EXPECT_EQ(ReadFile(root_ / "foo" / "bar" / ".depot-self"), "object");
  auto head = store_->Head("foo/bar");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->etag, first->etag);
  EXPECT_EQ(head->content_type, "text/plain");
  EXPECT_EQ(Read("foo/bar/xyzzy"), "below");
  auto page = store_->List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("foo/bar", "foo/bar-baz", "foo/bar/xyzzy"));
  page = store_->List({.prefix = "foo/", .delimiter = "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("foo/bar", "foo/bar-baz"));
  EXPECT_THAT(page->common_prefixes, ElementsAre("foo/bar/"));
  page = store_->List({.start_after = "foo/bar"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("foo/bar-baz", "foo/bar/xyzzy"));

  // Conditions, overwrites and deletes find it there.
  EXPECT_THAT(Put("foo/bar", "x", {.mode = PutMode::kCreate}),
              StatusIs(StatusCode::kAlreadyExists));
  ASSERT_THAT(Put("foo/bar", "updated", {.mode = PutMode::kUpdate, .if_match = first->etag}),
              IsOk());
  EXPECT_EQ(Read("foo/bar"), "updated");
  ASSERT_THAT(store_->Delete("foo/bar"), IsOk());
  EXPECT_THAT(store_->Get("foo/bar", {}), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(Read("foo/bar/xyzzy"), "below");
  ASSERT_THAT(Put("foo/bar", "again", {.mode = PutMode::kCreate}), IsOk());
  EXPECT_EQ(Read("foo/bar"), "again");

  // Keys below first, then the object.
  ASSERT_THAT(Put("a/b", "under a"), IsOk());
  ASSERT_THAT(Put("a", "a itself", {.mode = PutMode::kCreate}), IsOk());
  EXPECT_EQ(Read("a"), "a itself");
  EXPECT_EQ(ReadFile(root_ / "a" / ".depot-self"), "a itself");

  // Copies and renames in and out of such places.
  ASSERT_THAT(store_->Copy("a", "a/b/c", CopyMode::kOverwrite), IsOk());
  EXPECT_EQ(Read("a/b/c"), "a itself");
  EXPECT_EQ(Read("a/b"), "under a");
  ASSERT_THAT(store_->Rename("a/b", "a/b/c/d", CopyMode::kCreate), IsOk());
  EXPECT_EQ(Read("a/b/c/d"), "under a");
  EXPECT_THAT(store_->Get("a/b", {}), StatusIs(StatusCode::kNotFound));
  ASSERT_THAT(store_->Rename("a/b/c/d", "a", CopyMode::kOverwrite), IsOk());
  EXPECT_EQ(Read("a"), "under a");
  EXPECT_THAT(store_->Rename("a/b/c", "a", CopyMode::kCreate),
              StatusIs(StatusCode::kAlreadyExists));
  page = store_->List({.prefix = "a"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("a", "a/b/c"));

  // A multipart upload completes into such a place too.
  auto upload = store_->CreateMultipart("foo", {});
  ASSERT_THAT(upload, IsOk());
  auto part = store_->PutPart("foo", *upload, 1, Bytes::Copy("assembled"));
  ASSERT_THAT(part, IsOk());
  ASSERT_THAT(store_->CompleteMultipart("foo", *upload, std::vector<PartInfo>{*part}), IsOk());
  EXPECT_EQ(Read("foo"), "assembled");
  EXPECT_EQ(ReadFile(root_ / "foo" / ".depot-self"), "assembled");
  EXPECT_THAT(StagingNames(root_), IsEmpty());
}

// One thread keeps making "r" a directory (putting and deleting "r/x"), another keeps writing and
// deleting the object "r": every call succeeds, and each key reads back its last value.
TEST_F(LocalStoreTest, ObjectAndDirectoryRacesAllSucceed) {
  std::atomic<int> failures{0};
  auto expect = [&](const Status& status) {
    if (status.ok()) return;
    ++failures;
    ADD_FAILURE() << status;
  };
  std::thread as_directory([&] {
    for (int i = 0; i < 40; ++i) {
      expect(Put("r/x", "below"));
      expect(store_->Delete("r/x"));
    }
  });
  std::thread as_file([&] {
    for (int i = 0; i < 40; ++i) {
      expect(Put("r", "file", {.mode = i % 2 == 0 ? PutMode::kOverwrite : PutMode::kCreate}));
      expect(store_->Delete("r"));
    }
  });
  as_directory.join();
  as_file.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_THAT(StagingNames(root_), IsEmpty());
  ASSERT_THAT(Put("r", "finally a file"), IsOk());
  ASSERT_THAT(Put("r/x", "and below it"), IsOk());
  EXPECT_EQ(Read("r"), "finally a file");
  EXPECT_EQ(Read("r/x"), "and below it");
}

TEST_F(LocalStoreTest, OpensAFormat1StoreAndRefusesALaterFormat) {
  ASSERT_THAT(Put("a/b", "kept"), IsOk());
  store_ = nullptr;
  const fs::path format = root_ / ".depot" / "format";
  fs::remove(format);  // as format 1 left it
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Read("a/b"), "kept");
  EXPECT_EQ(ReadFile(format), "2\n");
  store_ = nullptr;

  WriteFile(format, "3\n");
  EXPECT_THAT(LocalStore::Open(root_, {}),
              StatusIs(StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("format 3"), HasSubstr("reads formats 1 to 2"))));
  WriteFile(format, "two");
  EXPECT_THAT(LocalStore::Open(root_, {}),
              StatusIs(StatusCode::kDataLoss, HasSubstr(".depot/format is corrupt")));
  EXPECT_EQ(ReadFile(root_ / "a" / "b"), "kept");
}

TEST_F(LocalStoreTest, EmptyDirectoriesAreNeitherKeysNorCommonPrefixes) {
  ASSERT_THAT(Put("gone/deep/x", "x"), IsOk());
  ASSERT_THAT(Put("kept/y", "y"), IsOk());
  ASSERT_THAT(store_->Delete("gone/deep/x"), IsOk());
  auto page = store_->List({.delimiter = "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());
  EXPECT_THAT(page->common_prefixes, ElementsAre("kept/"));
  ASSERT_THAT(Put("gone/deep", "a file where a directory was"), IsOk());
  EXPECT_EQ(Read("gone/deep"), "a file where a directory was");
}

TEST_F(LocalStoreTest, SymlinkedDirectoryPointingOutsideIsNeverFollowed) {
  const fs::path outside = dir_.path() / "outside";
  WriteFile(outside / "secret", "top secret");
  fs::create_directory_symlink(outside, root_ / "link");
  fs::create_directories(root_ / "deep");
  fs::create_directory_symlink(outside, root_ / "deep" / "link");

  for (const char* key : {"link/secret", "deep/link/secret"}) {
    SCOPED_TRACE(key);
    EXPECT_THAT(store_->Get(key, {}), StatusIs(StatusCode::kNotFound, HasSubstr("symbolic link")));
    EXPECT_THAT(store_->Head(key), StatusIs(StatusCode::kNotFound));
    EXPECT_THAT(store_->Copy(key, "stolen", CopyMode::kOverwrite), StatusIs(StatusCode::kNotFound));
    EXPECT_THAT(store_->Rename(key, "stolen", CopyMode::kOverwrite),
                StatusIs(StatusCode::kNotFound));
    EXPECT_THAT(store_->Delete(key), IsOk());
  }
  EXPECT_THAT(Put("link/new", "x"),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("symbolic link")));
  EXPECT_THAT(Put("link/sub/new", "x"), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(Put("deep/link/new", "x"), StatusIs(StatusCode::kPermissionDenied));
  ASSERT_THAT(Put("inside", "x"), IsOk());
  EXPECT_THAT(store_->Copy("inside", "link/copied", CopyMode::kOverwrite),
              StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(store_->Rename("inside", "link/moved", CopyMode::kOverwrite),
              StatusIs(StatusCode::kPermissionDenied));
  auto upload = store_->CreateMultipart("link/multi", {});
  ASSERT_THAT(upload, IsOk());
  auto part = store_->PutPart("link/multi", *upload, 1, Bytes::Copy("part"));
  ASSERT_THAT(part, IsOk());
  std::vector<PartInfo> parts = {*part};
  EXPECT_THAT(store_->CompleteMultipart("link/multi", *upload, parts),
              StatusIs(StatusCode::kPermissionDenied));

  std::set<std::string> outside_names;
  for (const auto& entry : fs::recursive_directory_iterator(outside)) {
    outside_names.insert(fs::relative(entry.path(), outside).string());
  }
  EXPECT_EQ(outside_names, std::set<std::string>{"secret"});
  EXPECT_EQ(ReadFile(outside / "secret"), "top secret");

  for (const std::string prefix : {"", "link", "link/", "deep/", "deep/link/"}) {
    SCOPED_TRACE(prefix);
    auto page = store_->List({.prefix = prefix});
    ASSERT_THAT(page, IsOk());
    EXPECT_EQ(Keys(*page),
              prefix.empty() ? std::vector<std::string>{"inside"} : std::vector<std::string>{});
    page = store_->List({.prefix = prefix, .delimiter = "/"});
    ASSERT_THAT(page, IsOk());
    EXPECT_THAT(page->common_prefixes, IsEmpty());
  }
}

TEST_F(LocalStoreTest, SymlinkedFilePointingOutsideIsNeverFollowed) {
  const fs::path outside = dir_.path() / "outside";
  WriteFile(outside / "secret", "top secret");
  fs::create_symlink(outside / "secret", root_ / "file-link");
  fs::create_symlink(outside / "secret", root_ / "delete-link");
  fs::create_symlink(outside / "not-there", root_ / "dangling-link");

  EXPECT_THAT(store_->Get("file-link", {}),
              StatusIs(StatusCode::kNotFound, HasSubstr("symbolic link")));
  EXPECT_THAT(store_->Head("file-link"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(Put("file-link", "x", {.mode = PutMode::kUpdate, .if_match = "*"}),
              StatusIs(StatusCode::kFailedPrecondition));
  auto page = store_->List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->objects, IsEmpty());

  // A put replaces the link itself, never writes through it.
  ASSERT_THAT(Put("file-link", "replaced"), IsOk());
  EXPECT_FALSE(fs::is_symlink(root_ / "file-link"));
  EXPECT_EQ(Read("file-link"), "replaced");
  ASSERT_THAT(Put("source", "copied"), IsOk());
  ASSERT_THAT(store_->Copy("source", "dangling-link", CopyMode::kOverwrite), IsOk());
  EXPECT_FALSE(fs::exists(outside / "not-there"));
  EXPECT_EQ(Read("dangling-link"), "copied");
  // So does a create-only put: a link is not an object, the key counts as absent.
  fs::create_symlink(outside / "secret", root_ / "create-link");
  ASSERT_THAT(Put("create-link", "created", {.mode = PutMode::kCreate}), IsOk());
  EXPECT_FALSE(fs::is_symlink(root_ / "create-link"));
  EXPECT_EQ(Read("create-link"), "created");
  // A delete removes the link, not its target.
  ASSERT_THAT(store_->Delete("delete-link"), IsOk());
  EXPECT_FALSE(fs::is_symlink(root_ / "delete-link"));
  EXPECT_EQ(ReadFile(outside / "secret"), "top secret");
}

TEST_F(LocalStoreTest, StoresPlainFilesWithMetadataInOneAttribute) {
  PutOptions options;
  options.content_type = "text/plain";
  options.user_metadata = {{"owner", "ada"}};
  auto put = store_->Put("dir/file.txt", Bytes::Copy("plain bytes"), options);
  ASSERT_THAT(put, IsOk());
  EXPECT_EQ(put->etag, Md5::HexOf("plain bytes"));
  const fs::path file = root_ / "dir" / "file.txt";
  EXPECT_EQ(ReadFile(file), "plain bytes");
  char names[256];
  ssize_t length = ::listxattr(file.c_str(), names, sizeof(names));
  ASSERT_GT(length, 0);
  EXPECT_EQ(std::string(names, static_cast<size_t>(length)), std::string("user.depot\0", 11));
  char value[1024];
  ssize_t value_length = ::getxattr(file.c_str(), "user.depot", value, sizeof(value));
  ASSERT_GT(value_length, 0);
  std::string json(value, static_cast<size_t>(value_length));
  EXPECT_THAT(json, AllOf(HasSubstr(put->etag), HasSubstr("text/plain"), HasSubstr("ada")));
  EXPECT_THAT(StagingNames(root_), IsEmpty());
}

// Reads keep decoded attributes by inode (MetaCache in local_store.cc): a change made to the
// attribute in place, or a file put back with the same size, must still be seen.
TEST_F(LocalStoreTest, ReadsSeeAnAttributeChangedInPlaceAndAFileReplaced) {
  ASSERT_THAT(Put("cached", "same size"), IsOk());
  const fs::path file = root_ / "cached";
  // Files changed within the last second are never kept: wait, so that this one is.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto before = store_->Head("cached");
  ASSERT_THAT(store_->Head("cached"), IsOk());  // from the cache
  ASSERT_THAT(before, IsOk());
  char value[1024];
  ssize_t length = ::getxattr(file.c_str(), "user.depot", value, sizeof(value));
  ASSERT_GT(length, 0);
  std::string json(value, static_cast<size_t>(length));
  const size_t at = json.find(before->etag);
  ASSERT_NE(at, std::string::npos);
  json.replace(at, before->etag.size(), std::string(before->etag.size(), 'e'));
  ASSERT_EQ(::setxattr(file.c_str(), "user.depot", json.data(), json.size(), 0), 0);
  auto changed = store_->Head("cached");
  ASSERT_THAT(changed, IsOk());
  EXPECT_EQ(changed->etag, std::string(before->etag.size(), 'e'));

  ::removexattr(file.c_str(), "user.depot");
  ASSERT_THAT(store_->Head("cached"), IsOk());  // a file without depot's attribute still reads
  ASSERT_EQ(::setxattr(file.c_str(), "user.depot", "{", 1, 0), 0);
  EXPECT_THAT(store_->Get("cached", {}), StatusIs(StatusCode::kDataLoss, HasSubstr("corrupt")));

  ASSERT_THAT(Put("cached", "SAME SIZE"), IsOk());
  auto replaced = store_->Get("cached", {});
  ASSERT_THAT(replaced, IsOk());
  EXPECT_EQ(replaced->data.view(), "SAME SIZE");
  EXPECT_EQ(replaced->meta.etag, Md5::HexOf("SAME SIZE"));
}

TEST_F(LocalStoreTest, MetadataAndStagingAreNeverListed) {
  ASSERT_THAT(Put("visible", "v"), IsOk());
  auto upload = store_->CreateMultipart("pending", {});
  ASSERT_THAT(upload, IsOk());
  ASSERT_THAT(store_->PutPart("pending", *upload, 1, Bytes::Copy("part")), IsOk());
  WriteFile(root_ / "half" / ".depot-tmp-0123456789abcdef0123456789abcdef", "in progress");
  WriteFile(root_ / ".depot-tmp-fedcba9876543210fedcba9876543210", "in progress");

  auto page = store_->List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("visible"));
  page = store_->List({.delimiter = "/"});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("visible"));
  EXPECT_THAT(page->common_prefixes, IsEmpty());
  for (const char* prefix : {".", ".depot", ".depot/", ".depot/uploads/", "half/.depot"}) {
    SCOPED_TRACE(prefix);
    page = store_->List({.prefix = prefix});
    ASSERT_THAT(page, IsOk());
    EXPECT_THAT(page->objects, IsEmpty());
  }
}

TEST_F(LocalStoreTest, FilesDroppedInByHandAreObjects) {
  WriteFile(root_ / "hand" / "made.txt", "written by hand");
  auto got = store_->Get("hand/made.txt", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.ToString(), "written by hand");
  EXPECT_EQ(got->meta.size, 15u);
  EXPECT_EQ(got->meta.content_type, "");
  EXPECT_THAT(got->meta.etag, MatchesRegex("[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"));
  auto head = store_->Head("hand/made.txt");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->etag, got->meta.etag);
  auto page = store_->List({});
  ASSERT_THAT(page, IsOk());
  ASSERT_THAT(Keys(*page), ElementsAre("hand/made.txt"));
  EXPECT_EQ(page->objects[0].etag, got->meta.etag);

  // Rewriting the file by hand changes its ETag.
  WriteFile(root_ / "hand" / "made.txt", "written by HAND");
  auto rewritten = store_->Head("hand/made.txt");
  ASSERT_THAT(rewritten, IsOk());
  EXPECT_NE(rewritten->etag, got->meta.etag);

  // Its ETag works for conditional writes, and a copy gets the MD5 of its bytes.
  auto copied = store_->Copy("hand/made.txt", "copy", CopyMode::kOverwrite);
  ASSERT_THAT(copied, IsOk());
  EXPECT_EQ(copied->etag, Md5::HexOf("written by HAND"));
  EXPECT_THAT(Put("hand/made.txt", "updated", {.mode = PutMode::kUpdate, .if_match = "stale"}),
              StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_THAT(
      Put("hand/made.txt", "updated", {.mode = PutMode::kUpdate, .if_match = rewritten->etag}),
      IsOk());
  EXPECT_EQ(Read("hand/made.txt"), "updated");
}

TEST_F(LocalStoreTest, FilesNoKeyCanNameAreNotListed) {
  WriteFile(root_ / "bad\xff.bin", "not UTF-8");
  WriteFile(root_ / "good.bin", "fine");
  auto page = store_->List({});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Keys(*page), ElementsAre("good.bin"));
  EXPECT_THAT(DeletePrefix(*store_, ""), ::testing::Optional(1u));
}

// Changes one byte of `key`'s file in place, keeping its size (and, as a bit flip on disk
// would, its metadata).
void FlipByte(const fs::path& file, uint64_t offset) {
  std::fstream io(file, std::ios::binary | std::ios::in | std::ios::out);
  io.seekg(static_cast<std::streamoff>(offset));
  const char c = static_cast<char>(io.get());
  io.seekp(static_cast<std::streamoff>(offset));
  io.put(static_cast<char>(c ^ 0x20));
}

TEST_F(LocalStoreTest, AByteChangedOnDiskIsNeverReturnedAsData) {
  // 300 KiB: five blocks of 64 KiB, the last one short. Byte 200,000 is in block 4.
  const std::string data = RandomBytes(300 * 1024, 31);
  ASSERT_THAT(Put("flip", data), IsOk());
  ASSERT_EQ(Read("flip"), data);
  FlipByte(root_ / "flip", 200'000);

  EXPECT_THAT(store_->Get("flip", {}),
              StatusIs(StatusCode::kDataLoss, AllOf(HasSubstr("bytes 196608-262143 (block 4 of 5)"),
                                                    HasSubstr("do not match their CRC-32C"))));
  // A range inside the damaged block, and one that only touches it.
  EXPECT_THAT(store_->Get("flip", {.range = ByteRange::Bounded(199'990, 200'010)}),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(store_->Get("flip", {.range = ByteRange::Bounded(190'000, 196'609)}),
              StatusIs(StatusCode::kDataLoss));
  // Ranges of sound blocks still read, ranged and whole-block alike.
  auto head = store_->Get("flip", {.range = ByteRange::Bounded(1000, 70'000)});
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->data.ToString(), data.substr(1000, 69'000));
  auto tail = store_->Get("flip", {.range = ByteRange::Bounded(262'144, data.size())});
  ASSERT_THAT(tail, IsOk());
  EXPECT_EQ(tail->data.ToString(), data.substr(262'144));

  // A stream hands on the sound blocks before the damaged one, and none of its bytes.
  std::string streamed;
  Status stream = store_->GetStream(
      "flip", {}, [](const GetResult&) { return Status::Ok(); },
      [&](std::string_view bytes) {
        streamed.append(bytes);
        return Status::Ok();
      });
  EXPECT_THAT(stream, StatusIs(StatusCode::kDataLoss));
  EXPECT_EQ(streamed, data.substr(0, 196'608));
  // A copy of a damaged object is refused and leaves nothing behind.
  EXPECT_THAT(store_->Copy("flip", "flip-copy", CopyMode::kOverwrite),
              StatusIs(StatusCode::kDataLoss, HasSubstr("does not match its CRC-32Cs")));
  EXPECT_THAT(store_->Head("flip-copy"), StatusIs(StatusCode::kNotFound));
  // Rewriting the key mends it.
  ASSERT_THAT(Put("flip", data), IsOk());
  EXPECT_EQ(Read("flip"), data);
}

// Reads of several pieces are read and checked ahead of the sink on a thread of their own: the
// same bytes, the same refusals, and a sink that gives up stops the read.
TEST_F(LocalStoreTest, LargeReadsAreCheckedAheadOfTheSink) {
  // 20 MiB: 160 blocks of 128 KiB, read in pieces of 4 MiB.
  const std::string data = RandomBytes(20 << 20, 33);
  ASSERT_THAT(Put("large", data), IsOk());
  ASSERT_EQ(Read("large"), data);
  auto middle = store_->Get("large", {.range = ByteRange::Bounded(3'000'000, 17'000'000)});
  ASSERT_THAT(middle, IsOk());
  EXPECT_EQ(middle->data.ToString(), data.substr(3'000'000, 14'000'000));
  int pieces = 0;
  EXPECT_THAT(store_->GetStream(
                  "large", {}, [](const GetResult&) { return Status::Ok(); },
                  [&](std::string_view) {
                    return ++pieces == 2 ? CancelledError("the client went away") : Status::Ok();
                  }),
              StatusIs(StatusCode::kCancelled, HasSubstr("the client went away")));
  EXPECT_EQ(pieces, 2);

  // Byte 13,631,493 is in block 105 (bytes 13,631,488-13,762,559), in the fourth piece.
  FlipByte(root_ / "large", 13'631'493);
  std::string streamed;
  EXPECT_THAT(store_->GetStream(
                  "large", {}, [](const GetResult&) { return Status::Ok(); },
                  [&](std::string_view bytes) {
                    streamed.append(bytes);
                    return Status::Ok();
                  }),
              StatusIs(StatusCode::kDataLoss, HasSubstr("bytes 13631488-13762559 (block 105")));
  EXPECT_TRUE(streamed == data.substr(0, 13'631'488)) << streamed.size() << " bytes streamed";
  EXPECT_THAT(store_->Get("large", {}), StatusIs(StatusCode::kDataLoss));
  // The last block, damaged, fails the read too.
  ASSERT_THAT(Put("large", data), IsOk());
  FlipByte(root_ / "large", data.size() - 1);
  EXPECT_THAT(store_->Get("large", {.range = ByteRange::Bounded(1'000'000, data.size())}),
              StatusIs(StatusCode::kDataLoss, HasSubstr("(block 160 of 160)")));
}

TEST_F(LocalStoreTest, EveryWayOfWritingKeepsBlockCrcs) {
  const std::string data = RandomBytes(200 * 1024, 32);
  // A streaming writer, a copy, and a multipart upload (its parts have none of their own).
  DEPOT_ASSERT_OK_AND_ASSIGN(auto writer, store_->OpenWriter("written", {}));
  ASSERT_THAT(writer->Write(data), IsOk());
  ASSERT_THAT(writer->Finish(), IsOk());
  ASSERT_THAT(store_->Copy("written", "copied", CopyMode::kOverwrite), IsOk());
  DEPOT_ASSERT_OK_AND_ASSIGN(std::string upload, store_->CreateMultipart("multi", {}));
  std::vector<PartInfo> parts;
  for (int n = 1; n <= 2; ++n) {
    DEPOT_ASSERT_OK_AND_ASSIGN(
        PartInfo part, store_->PutPart("multi", upload, n,
                                       Bytes::Copy(data.substr((n - 1) * 100 * 1024, 100 * 1024))));
    parts.push_back(part);
  }
  ASSERT_THAT(store_->CompleteMultipart("multi", upload, parts), IsOk());
  for (const char* key : {"written", "copied", "multi"}) {
    SCOPED_TRACE(key);
    ASSERT_EQ(Read(key), data);
    FlipByte(root_ / key, 150'000);
    EXPECT_THAT(store_->Get(key, {}), StatusIs(StatusCode::kDataLoss));
  }
}

TEST_F(LocalStoreTest, BlockCrcsFitBesideLargeMetadata) {
  // 2 KiB of user metadata leaves no room for 256 CRCs in the attribute: fewer, larger blocks.
  const std::string data = RandomBytes(16 << 20, 33);
  PutOptions options;
  options.user_metadata["note"] = std::string(2000, 'n');
  ASSERT_THAT(Put("big-meta", data, options), IsOk());
  ASSERT_EQ(Read("big-meta"), data);
  FlipByte(root_ / "big-meta", 5'000'000);
  EXPECT_THAT(store_->Get("big-meta", {}), StatusIs(StatusCode::kDataLoss));
}

TEST_F(LocalStoreTest, FilesWithoutBlockCrcsReadUnchecked) {
  // A file dropped in by hand (no metadata at all) reads as it is.
  {
    std::ofstream out(root_ / "by-hand", std::ios::binary);
    out << "made elsewhere";
  }
  EXPECT_EQ(Read("by-hand"), "made elsewhere");
}

TEST_F(LocalStoreTest, FileEditedInPlaceReadsAsDataLoss) {
  ASSERT_THAT(Put("edited", "hello"), IsOk());
  {
    std::ofstream out(root_ / "edited", std::ios::binary | std::ios::app);
    out << " world";
  }
  EXPECT_THAT(store_->Get("edited", {}),
              StatusIs(StatusCode::kDataLoss, HasSubstr("changed outside depot")));
  EXPECT_THAT(store_->List({}), StatusIs(StatusCode::kDataLoss));
  ASSERT_THAT(Put("edited", "repaired"), IsOk());
  EXPECT_EQ(Read("edited"), "repaired");
}

TEST_F(LocalStoreTest, OversizedMetadataIsRefusedAndLeavesNothing) {
  PutOptions options;
  options.user_metadata = {{"big", std::string(100 << 10, 'm')}};
  Status put = Put("meta", "x", options);
  EXPECT_THAT(put, Not(IsOk()));
  EXPECT_THAT(put.message(), HasSubstr("extended-attribute limit"));
  EXPECT_THAT(store_->Get("meta", {}), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(StagingNames(root_), IsEmpty());

  options.user_metadata = {{"bad", "\xff"}};
  EXPECT_THAT(Put("meta", "x", options),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

TEST_F(LocalStoreTest, UploadsSurviveReopen) {
  auto upload = store_->CreateMultipart("multi", {.content_type = "text/x-parts"});
  ASSERT_THAT(upload, IsOk());
  auto p1 = store_->PutPart("multi", *upload, 1, Bytes::Copy("hello"));
  auto p2 = store_->PutPart("multi", *upload, 2, Bytes::Copy(" world"));
  ASSERT_THAT(p1, IsOk());
  ASSERT_THAT(p2, IsOk());
  store_.reset();
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  auto uploads = store_->ListMultipartUploads("");
  ASSERT_THAT(uploads, IsOk());
  ASSERT_EQ(uploads->size(), 1u);
  EXPECT_EQ((*uploads)[0].key, "multi");
  EXPECT_EQ((*uploads)[0].upload_id, *upload);
  EXPECT_LT(std::chrono::abs(Clock::now() - (*uploads)[0].initiated), std::chrono::minutes(5));
  std::vector<PartInfo> parts = {*p1, *p2};
  auto done = store_->CompleteMultipart("multi", *upload, parts);
  ASSERT_THAT(done, IsOk());
  std::vector<std::string> etags = {Md5::HexOf("hello"), Md5::HexOf(" world")};
  EXPECT_EQ(done->etag, MultipartEtag(etags));
  auto got = store_->Get("multi", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->data.ToString(), "hello world");
  EXPECT_EQ(got->meta.content_type, "text/x-parts");
  EXPECT_EQ(got->meta.etag, done->etag);
  EXPECT_TRUE(fs::is_empty(root_ / ".depot" / "uploads"));
  // Upload ids are checked, not used as paths.
  EXPECT_THAT(store_->PutPart("multi", "../../../etc", 1, Bytes::Copy("x")),
              StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store_->AbortMultipart("multi", "0123456789abcdef0123456789abcdef"),
              StatusIs(StatusCode::kNotFound));
}

TEST_F(LocalStoreTest, UploadOfAnotherKeyIsNotFound) {
  auto upload = store_->CreateMultipart("mine", {});
  ASSERT_THAT(upload, IsOk());
  EXPECT_THAT(store_->PutPart("theirs", *upload, 1, Bytes::Copy("x")),
              StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store_->AbortMultipart("theirs", *upload), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(store_->AbortMultipart("mine", *upload), IsOk());
}

TEST_F(LocalStoreTest, StaleStagingIsRemovedOnlyWhenNoOtherStoreIsOpen) {
  ASSERT_THAT(Put("d/object", "kept"), IsOk());
  auto upload = store_->CreateMultipart("up", {});
  ASSERT_THAT(upload, IsOk());
  auto part = store_->PutPart("up", *upload, 1, Bytes::Copy("part one"));
  ASSERT_THAT(part, IsOk());
  const fs::path uploads = root_ / ".depot" / "uploads";
  WriteFile(root_ / "d" / ".depot-tmp-00000000000000000000000000000001", "debris");
  WriteFile(root_ / ".depot-tmp-00000000000000000000000000000002", "debris");
  WriteFile(uploads / *upload / ".depot-tmp-00000000000000000000000000000003", "debris");
  WriteFile(uploads / ".depot-tmp-00000000000000000000000000000004" / "upload.json", "{}");
  ASSERT_EQ(StagingNames(root_).size(), 4u);

  // Another store on the same root might be writing those files: they stay.
  auto second = Open();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(StagingNames(root_).size(), 4u);
  second.reset();
  EXPECT_EQ(StagingNames(root_).size(), 4u);

  // The first store to open a root nobody has open removes them, and nothing else.
  store_.reset();
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_THAT(StagingNames(root_), IsEmpty());
  EXPECT_EQ(Read("d/object"), "kept");
  std::vector<PartInfo> parts = {*part};
  ASSERT_THAT(store_->CompleteMultipart("up", *upload, parts), IsOk());
  EXPECT_EQ(Read("up"), "part one");
}

TEST_F(LocalStoreTest, UniqueEtagPolicy) {
  store_.reset();
  store_ = Open({.etag = EtagPolicy::kUnique, .min_part_size = 5});
  ASSERT_NE(store_, nullptr);
  auto first = store_->Put("u", Bytes::Copy("same"), {});
  auto second = store_->Put("u", Bytes::Copy("same"), {});
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(first->etag, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(first->etag, second->etag);
  EXPECT_NE(first->etag, Md5::HexOf("same"));
  auto head = store_->Head("u");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->etag, second->etag);
  EXPECT_THAT(Put("u", "next", {.mode = PutMode::kUpdate, .if_match = first->etag}),
              StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_THAT(Put("u", "next", {.mode = PutMode::kUpdate, .if_match = second->etag}), IsOk());

  auto copied = store_->Copy("u", "v", CopyMode::kOverwrite);
  ASSERT_THAT(copied, IsOk());
  EXPECT_THAT(copied->etag, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(copied->etag, store_->Head("u")->etag);

  auto upload = store_->CreateMultipart("m", {});
  ASSERT_THAT(upload, IsOk());
  auto part = store_->PutPart("m", *upload, 1, Bytes::Copy("part"));
  ASSERT_THAT(part, IsOk());
  EXPECT_THAT(part->etag, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(part->etag, Md5::HexOf("part"));
  std::vector<PartInfo> parts = {*part};
  auto done = store_->CompleteMultipart("m", *upload, parts);
  ASSERT_THAT(done, IsOk());
  EXPECT_THAT(done->etag, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(Read("m"), "part");
}

TEST_F(LocalStoreTest, CompareAndSwapAcrossTwoStoresOnOneRoot) {
  // Two instances have separate lock-file descriptions, as two processes would.
  auto other = Open();
  ASSERT_NE(other, nullptr);
  ASSERT_THAT(Put("counter", "0"), IsOk());
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    ObjectStore* store = w % 2 == 0 ? static_cast<ObjectStore*>(store_.get()) : other.get();
    workers.emplace_back([store, &failures] {
      for (int i = 0; i < 10; ++i) {
        for (;;) {
          auto current = store->Get("counter", {});
          if (!current.ok()) {
            ++failures;
            return;
          }
          int value = std::stoi(current->data.ToString());
          PutOptions update{.mode = PutMode::kUpdate, .if_match = current->meta.etag};
          auto put = store->Put("counter", Bytes::Copy(std::to_string(value + 1)), update);
          if (put.ok()) break;
          if (put.status().code() != StatusCode::kFailedPrecondition) {
            ++failures;
            return;
          }
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Read("counter"), "40");
}

TEST_F(LocalStoreTest, RootAndUrl) {
  EXPECT_TRUE(store_->root().is_absolute());
  EXPECT_EQ(store_->root(), root_);
  EXPECT_EQ(store_->ToString(), "file://" + root_.string());
  auto relative = LocalStore::Open(fs::relative(root_));
  ASSERT_THAT(relative, IsOk());
  EXPECT_EQ((*relative)->root(), root_);
  auto trailing = LocalStore::Open(root_.string() + "/");
  ASSERT_THAT(trailing, IsOk());
  EXPECT_EQ((*trailing)->root(), root_);
  auto spaced = LocalStore::Open(dir_.path() / "with space");
  ASSERT_THAT(spaced, IsOk());
  EXPECT_EQ((*spaced)->ToString(), "file://" + dir_.path().string() + "/with%20space");
}

TEST_F(LocalStoreTest, OpenCreatesOrRefuses) {
  EXPECT_THAT(LocalStore::Open(dir_.path() / "missing", {.create = false}),
              StatusIs(StatusCode::kNotFound, HasSubstr("missing")));
  EXPECT_FALSE(fs::exists(dir_.path() / "missing"));
  WriteFile(dir_.path() / "a-file", "x");
  EXPECT_THAT(LocalStore::Open(dir_.path() / "a-file"), Not(IsOk()));
  auto nested = LocalStore::Open(dir_.path() / "new" / "nested" / "root");
  ASSERT_THAT(nested, IsOk());
  EXPECT_TRUE(fs::is_directory(dir_.path() / "new" / "nested" / "root" / ".depot" / "uploads"));
  auto existing = LocalStore::Open(root_, {.create = false});
  ASSERT_THAT(existing, IsOk());
}

TEST_F(LocalStoreTest, RenameMovesFileAndMetadata) {
  PutOptions options;
  options.content_type = "image/png";
  auto put = store_->Put("from/here", Bytes::Copy("pixels"), options);
  ASSERT_THAT(put, IsOk());
  ASSERT_THAT(store_->Rename("from/here", "to/there/now", CopyMode::kCreate), IsOk());
  auto head = store_->Head("to/there/now");
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->etag, put->etag);
  EXPECT_EQ(head->content_type, "image/png");
  EXPECT_FALSE(fs::exists(root_ / "from" / "here"));
  ASSERT_THAT(store_->Rename("to/there/now", "to/there/now", CopyMode::kCreate), IsOk());
  EXPECT_EQ(Read("to/there/now"), "pixels");
}

// The directory walk (sorted per directory, pruned by the seek key, rolled-up directories left
// after their first key) must page exactly as the memory store does over the same keys.
TEST_F(LocalStoreTest, ListingMatchesTheMemoryModel) {
  MemoryStore model;
  std::mt19937 rng(1234);
  const std::vector<std::string> segments = {"a", "b", "ab", "a-b", "a.b", "c0",
                                             "-", "A", "b-", "",    ".",   ".."};
  for (int i = 0; i < 300; ++i) {
    std::string key;
    int depth = 1 + static_cast<int>(rng() % 4);
    for (int d = 0; d < depth; ++d) {
      if (d > 0) key += "/";
      key += segments[rng() % segments.size()];
    }
    if (key.empty()) continue;  // the one key no store accepts
    ASSERT_THAT(Put(key, key), IsOk()) << key;
    ASSERT_THAT(model.Put(key, Bytes::Copy(key), {}), IsOk());
  }
  // Deletes leave empty directories behind, which must not show.
  auto all = model.List({});
  ASSERT_THAT(all, IsOk());
  for (size_t i = 0; i < all->objects.size(); i += 4) {
    ASSERT_THAT(store_->Delete(all->objects[i].key), IsOk());
    ASSERT_THAT(model.Delete(all->objects[i].key), IsOk());
  }

  int compared = 0;
  for (const std::string prefix : {"", "a", "a/", "a/b", "a-", "b/a", "zz", "a//", "/", "A/-/"}) {
    for (const std::string delimiter : {"", "/", "-", "b", "/a"}) {
      for (const std::string start_after : {"", "a", "a/b", "a-b/", "b", "b-/c0"}) {
        for (size_t max_keys : {1u, 2u, 3u, 1000u}) {
          SCOPED_TRACE(fmt::format("prefix '{}' delimiter '{}' start_after '{}' max_keys {}",
                                   prefix, delimiter, start_after, max_keys));
          ListOptions options{.prefix = prefix,
                              .delimiter = delimiter,
                              .start_after = start_after,
                              .max_keys = max_keys};
          for (int page = 0;; ++page) {
            ASSERT_LT(page, 1000);
            auto want = model.List(options);
            auto got = store_->List(options);
            ASSERT_THAT(want, IsOk());
            ASSERT_THAT(got, IsOk());
            ASSERT_EQ(Keys(*got), Keys(*want));
            ASSERT_EQ(got->common_prefixes, want->common_prefixes);
            ASSERT_EQ(got->next_continuation_token, want->next_continuation_token);
            for (const auto& meta : got->objects) EXPECT_EQ(meta.size, meta.key.size());
            ++compared;
            if (want->next_continuation_token.empty()) break;
            options.continuation_token = want->next_continuation_token;
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 1000);
}

}  // namespace
}  // namespace depot::object
