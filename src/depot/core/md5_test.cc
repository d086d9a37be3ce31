#include "depot/core/md5.h"

#include <gtest/gtest.h>

namespace depot {
namespace {

// RFC 1321 test suite.
TEST(Md5Test, Rfc1321Vectors) {
  EXPECT_EQ(Md5::HexOf(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Md5::HexOf("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Md5::HexOf("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
}

TEST(Md5Test, IncrementalEqualsOneShot) {
  Md5 md5;
  md5.Update("message ");
  md5.Update("digest");
  EXPECT_EQ(HexEncode(md5.Finish()), "f96b697d7cb7938d525a2f31aaf161d0");
}

}  // namespace
}  // namespace depot
