#include "depot/core/byte_buffer.h"

#include <gtest/gtest.h>

#include <cstring>

namespace depot {
namespace {

TEST(ByteBufferTest, FillsAndFreezesWithoutCopy) {
  for (size_t capacity : {size_t{16}, size_t{4} << 20}) {
    ByteBuffer buffer(capacity);
    EXPECT_EQ(buffer.capacity(), capacity);
    buffer.Append("hello ");
    std::memcpy(buffer.data() + buffer.size(), "world", 5);
    buffer.Commit(5);
    const char* where = buffer.data();
    Bytes frozen = std::move(buffer).Freeze();
    EXPECT_EQ(frozen.view(), "hello world");
    EXPECT_EQ(frozen.data(), where);
    EXPECT_EQ(buffer.capacity(), 0u);
  }
}

TEST(ByteBufferTest, FrozenBytesOutliveSlices) {
  Bytes tail;
  {
    ByteBuffer buffer(size_t{2} << 20);
    buffer.Append(std::string(1 << 20, 'q'));
    tail = std::move(buffer).Freeze().Slice((1 << 20) - 3);
  }
  EXPECT_EQ(tail.view(), "qqq");
}

TEST(ByteBufferDeathTest, AppendPastCapacityAborts) {
  ByteBuffer buffer(4);
  EXPECT_DEATH(buffer.Append("too long"), "append past the capacity");
}

}  // namespace
}  // namespace depot
