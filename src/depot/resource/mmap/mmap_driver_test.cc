#include "depot/resource/mmap/mmap_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "depot/core/testing/random_bytes.h"
#include "depot/core/testing/status_matchers.h"
#include "depot/core/testing/temp_dir.h"
#include "depot/resource/testing/conformance.h"

namespace depot::resource {
namespace {

using ::depot::testing::FileText;
using ::depot::testing::IsOk;
using ::depot::testing::IsOkAndHolds;
using ::depot::testing::RandomBytes;
using ::depot::testing::StatusIs;
using ::depot::testing::TempDir;
using ::depot::testing::WriteFileText;
using ::testing::HasSubstr;
using testing::ResourceConformance;
using testing::ResourceDriver;
using testing::ResourceDriverName;

INSTANTIATE_TEST_SUITE_P(Mmap, ResourceConformance,
                         ::testing::Values(ResourceDriver{
                             "mmap",
                             [](const std::filesystem::path& dir) {
                               return OpenMmapResource(
                                   {.path = (dir / "resource").string(), .initial_size = 16});
                             }}),
                         ResourceDriverName);

class MmapResourceTest : public ::testing::Test {
 protected:
  std::string Path(std::string_view name = "file") const { return (dir_.path() / name).string(); }
  TempDir dir_;
};

TEST_F(MmapResourceTest, ACommitLeavesTheFileAtItsLengthAndNoRecord) {
  const std::string data = RandomBytes(100'000, 1);
  {
    auto resource = OpenMmapResource({.path = Path(), .initial_size = 4096});
    ASSERT_THAT(resource, IsOk());
    EXPECT_TRUE(std::filesystem::exists(PresentRecordPath(Path())));
    ASSERT_THAT(resource->writer().WriteAt(0, data), IsOk());
    EXPECT_GE(std::filesystem::file_size(Path()), data.size());
    ASSERT_THAT(resource->writer().Commit(), IsOk());
    EXPECT_EQ(resource->path(), Path());
  }
  EXPECT_EQ(FileText(Path()), data);
  EXPECT_FALSE(std::filesystem::exists(PresentRecordPath(Path())));
  // Reopened: complete, committed, read-only until reactivated.
  auto again = OpenMmapResource({.path = Path()});
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->status().committed());
  EXPECT_EQ(again->status().length, data.size());
  std::string got(data.size(), '\0');
  EXPECT_THAT(again->reader().Read(0, got), IsOkAndHolds(data.size()));
  EXPECT_EQ(got, data);
  EXPECT_THAT(again->writer().WriteAt(data.size(), "more"),
              StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(MmapResourceTest, AnUnfinishedFileResumesWithWhatItHad) {
  const std::string data = RandomBytes(50'000, 2);
  {
    auto resource = OpenMmapResource({.path = Path(), .initial_size = 1024});
    ASSERT_THAT(resource, IsOk());
    ASSERT_THAT(resource->writer().SetLength(data.size()), IsOk());
    ASSERT_THAT(resource->writer().WriteAt(0, std::string_view(data).substr(0, 10'000)), IsOk());
    ASSERT_THAT(resource->writer().WriteAt(30'000, std::string_view(data).substr(30'000, 5'000)),
                IsOk());
    // The last handle going records the progress (no Sync called).
  }
  auto resumed = OpenMmapResource({.path = Path()});
  ASSERT_THAT(resumed, IsOk());
  EXPECT_TRUE(resumed->status().active());
  EXPECT_EQ(resumed->status().length, data.size());
  EXPECT_EQ(resumed->present().ToString(), "[0, 10000) [30000, 35000)");
  char byte;
  EXPECT_THAT(resumed->reader().ReadAt(10'000, {&byte, 1}),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(resumed->writer().NextGap(0, UINT64_MAX), (Span64{10'000, 30'000}));
  ASSERT_THAT(resumed->writer().WriteAt(10'000, std::string_view(data).substr(10'000, 20'000)),
              IsOk());
  ASSERT_THAT(resumed->writer().WriteAt(35'000, std::string_view(data).substr(35'000)), IsOk());
  ASSERT_THAT(resumed->writer().Commit(), IsOk());
  EXPECT_EQ(FileText(Path()), data);
}

TEST_F(MmapResourceTest, ProgressIsRecordedEveryIntervalAndOnSync) {
  auto resource = OpenMmapResource({.path = Path(), .persist_interval = 1000});
  ASSERT_THAT(resource, IsOk());
  ASSERT_THAT(resource->writer().WriteAt(0, std::string(600, 'a')), IsOk());
  EXPECT_THAT(FileText(PresentRecordPath(Path())), HasSubstr("end 0\n"));
  ASSERT_THAT(resource->writer().WriteAt(600, std::string(600, 'b')), IsOk());
  EXPECT_EQ(FileText(PresentRecordPath(Path())),
            "depot-resource-present 1\nlength -\n0 1200\nend 1\n");
  ASSERT_THAT(resource->writer().WriteAt(2000, "c"), IsOk());
  ASSERT_THAT(resource->writer().Sync(), IsOk());
  EXPECT_EQ(FileText(PresentRecordPath(Path())),
            "depot-resource-present 1\nlength -\n0 1200\n2000 2001\nend 2\n");
}

TEST_F(MmapResourceTest, AFileWithoutARecordIsComplete) {
  WriteFileText(Path(), "a file someone else wrote");
  auto resource = OpenMmapResource({.path = Path()});
  ASSERT_THAT(resource, IsOk());
  EXPECT_TRUE(resource->status().committed());
  char buffer[64];
  EXPECT_THAT(resource->reader().Read(0, buffer), IsOkAndHolds(25u));
}

TEST_F(MmapResourceTest, ReadOnlyOpensOnlyCompleteFiles) {
  EXPECT_THAT(OpenMmapResource({.path = Path(), .mode = OpenMode::kReadOnly}),
              StatusIs(StatusCode::kNotFound, HasSubstr(Path())));
  {
    auto unfinished = OpenMmapResource({.path = Path()});
    ASSERT_THAT(unfinished, IsOk());
    ASSERT_THAT(unfinished->writer().WriteAt(0, "abc"), IsOk());
  }
  EXPECT_THAT(OpenMmapResource({.path = Path(), .mode = OpenMode::kReadOnly}),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("unfinished ([0, 3) present)")));
  WriteFileText(Path("done"), "done");
  auto done = OpenMmapResource({.path = Path("done"), .mode = OpenMode::kReadOnly});
  ASSERT_THAT(done, IsOk());
  EXPECT_THAT(done->writer().Reactivate(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("read-only")));
  EXPECT_THAT(done->writer().WriteAt(4, "x"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("read-only")));
}

TEST_F(MmapResourceTest, ReadWriteOpensACompleteFileForAppending) {
  WriteFileText(Path(), "head");
  {
    auto resource = OpenMmapResource({.path = Path(), .mode = OpenMode::kReadWrite});
    ASSERT_THAT(resource, IsOk());
    EXPECT_TRUE(resource->status().active());
    EXPECT_EQ(resource->present().ToString(), "[0, 4)");
    ASSERT_THAT(resource->writer().WriteAt(4, "+tail"), IsOk());
    ASSERT_THAT(resource->writer().Commit(), IsOk());
  }
  EXPECT_EQ(FileText(Path()), "head+tail");
}

TEST_F(MmapResourceTest, ReactivateRecordsTheFileBeforeItGrows) {
  auto resource = OpenMmapResource({.path = Path()});
  ASSERT_THAT(resource, IsOk());
  ASSERT_THAT(resource->writer().WriteAt(0, "abc"), IsOk());
  ASSERT_THAT(resource->writer().Commit(), IsOk());
  ASSERT_THAT(resource->writer().Reactivate(), IsOk());
  // A crash from here on must not leave a grown file that reads as complete.
  EXPECT_EQ(FileText(PresentRecordPath(Path())),
            "depot-resource-present 1\nlength -\n0 3\nend 1\n");
  ASSERT_THAT(resource->writer().WriteAt(3, "def"), IsOk());
  ASSERT_THAT(resource->writer().Commit(), IsOk());
  EXPECT_EQ(FileText(Path()), "abcdef");
}

TEST_F(MmapResourceTest, ADamagedRecordIsDataLossNamingIt) {
  WriteFileText(Path(), std::string(100, 'x'));
  for (const std::string& record :
       {std::string("junk\n"), std::string("depot-resource-present 1\nlength -\n0 10\nend 2\n"),
        std::string("depot-resource-present 1\nlength -\n0 10\n"),
        std::string("depot-resource-present 1\nlength 5\n0 10\nend 1\n"),
        std::string("depot-resource-present 1\nlength -\n0 500\nend 1\n")}) {
    WriteFileText(PresentRecordPath(Path()), record);
    EXPECT_THAT(OpenMmapResource({.path = Path()}),
                StatusIs(StatusCode::kDataLoss, HasSubstr(PresentRecordPath(Path()))))
        << record;
  }
}

TEST_F(MmapResourceTest, BadPathsAreErrorsNamingThem) {
  EXPECT_THAT(OpenMmapResource({}), StatusIs(StatusCode::kInvalidArgument));
  std::filesystem::create_directory(Path("dir"));
  EXPECT_THAT(OpenMmapResource({.path = Path("dir")}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
}

TEST_F(MmapResourceTest, CommitToPublishesUnderTheNewName) {
  auto resource =
      OpenMmapResource({.path = Path("tmp"), .record_progress = false, .commit_to = Path("final")});
  ASSERT_THAT(resource, IsOk());
  ASSERT_THAT(resource->writer().WriteAt(0, "published"), IsOk());
  EXPECT_FALSE(std::filesystem::exists(Path("final")));
  ASSERT_THAT(resource->writer().Commit(), IsOk());
  EXPECT_FALSE(std::filesystem::exists(Path("tmp")));
  EXPECT_EQ(FileText(Path("final")), "published");
  EXPECT_EQ(resource->path(), Path("final"));
  char buffer[16];
  EXPECT_THAT(resource->reader().Read(0, buffer), IsOkAndHolds(9u));
}

}  // namespace
}  // namespace depot::resource
