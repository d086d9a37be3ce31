#include "depot/server/form_data.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "depot/core/testing/status_matchers.h"

namespace depot::server {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::StatusIs;
using ::testing::HasSubstr;

// A form as a browser sends it: two fields, the file (whose bytes look almost like a boundary),
// and a field after the file that S3 ignores.
const std::string kFile = "line one\r\n--Xy not quite\r\n--X\r\n-\r\n--XyA";
const std::string kBody =
    "--XyZ\r\nContent-Disposition: form-data; name=\"Key\"\r\n\r\nuploads/${filename}\r\n"
    "--XyZ\r\nContent-Disposition: form-data; name=\"Content-Type\"\r\n\r\nimage/png\r\n"
    "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".png\"\r\n"
    "Content-Type: image/png\r\n\r\n" +
    kFile +
    "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"late\"\r\n\r\nignored\r\n--XyZ--\r\n";

struct Read {
  std::string filename, content_type, data;
  std::map<std::string, std::string> fields;
  Status status;
};

Read ReadInPieces(const std::string& body, size_t piece) {
  Read read;
  FormDataReader reader(
      "XyZ",
      [&](std::string_view filename, std::string_view type) {
        read.filename = filename;
        read.content_type = type;
        read.fields = reader.fields();
        return Status::Ok();
      },
      [&](std::string_view bytes) {
        read.data.append(bytes);
        return Status::Ok();
      });
  for (size_t at = 0; at < body.size() && read.status.ok(); at += piece) {
    read.status = reader.Feed(std::string_view(body).substr(at, piece));
  }
  if (read.status.ok()) read.status = reader.Finish();
  return read;
}

TEST(FormDataReaderTest, FieldsThenTheFileInPiecesOfAnySize) {
  for (size_t piece : {size_t{1}, size_t{2}, size_t{7}, kBody.size()}) {
    SCOPED_TRACE(piece);
    const Read read = ReadInPieces(kBody, piece);
    ASSERT_THAT(read.status, IsOk());
    EXPECT_EQ(read.fields, (std::map<std::string, std::string>{{"content-type", "image/png"},
                                                               {"key", "uploads/${filename}"}}));
    EXPECT_EQ(read.filename, "a \"b\".png");
    EXPECT_EQ(read.content_type, "image/png");
    EXPECT_EQ(read.data, kFile);
  }
  EXPECT_EQ(FormDataReader::BoundaryOf("multipart/form-data; boundary=\"XyZ\""), "XyZ");
  EXPECT_EQ(FormDataReader::BoundaryOf("Multipart/Form-Data;boundary=----abc"), "----abc");
  EXPECT_EQ(FormDataReader::BoundaryOf("application/x-www-form-urlencoded"), "");
}

TEST(FormDataReaderTest, TruncatedOrMalformedBodiesAreRefused) {
  EXPECT_THAT(ReadInPieces(kBody.substr(0, kBody.find(kFile) + 3), 5).status,
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("MalformedPOSTRequest")));
  EXPECT_THAT(
      ReadInPieces("--XyZ\r\nContent-Disposition: attachment\r\n\r\nx\r\n--XyZ--", 4).status,
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("attachment")));
  EXPECT_THAT(ReadInPieces("--XyZ\r\nContent-Disposition: form-data; name=\"big\"\r\n\r\n" +
                               std::string(30000, 'x') + "\r\n--XyZ--",
                           1000)
                  .status,
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"big\"")));
  // A form without a file ends at its closing boundary.
  EXPECT_THAT(
      ReadInPieces("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--", 3)
          .status,
      IsOk());
}

}  // namespace
}  // namespace depot::server
