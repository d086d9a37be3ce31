// The objects a streaming upload (StreamUpload) writes under its logical key K, and their formats.
// StreamUpload writes them, StreamReader reads them, and DeleteStream removes them; anyone else
// (a tool, another language) can read a stream from this description alone.
//
//   K/part/0000000000, K/part/0000000001, ...
//       The bytes, in order: part i is one plain object holding bytes [start_i, end_i) of the
//       stream. Parts are never empty and never rewritten. Ten decimal digits, so the names sort
//       in part order.
//   K/index/0000000000, K/index/0000000001, ...
//       The index, in fixed-size segments: segment s lists the end offsets of parts s*N ..
//       s*N+N-1 (N = entries per segment, fixed for the stream and stored in every segment). Only
//       the newest segment is ever rewritten, so each index write costs O(N) bytes and the index
//       as a whole O(parts x N), never O(parts^2). Segment 0 is written (empty) when the upload
//       starts, so a stream exists from its first moment. An entry is added only after its part,
//       and every part before it, has landed: every indexed byte is readable.
//       Binary, big-endian:
//         offset 0   8 bytes   magic "DPSTIDX1"
//         offset 8   u32       N, entries per segment (>= 1)
//         offset 12  u32       k, entries in this segment (0 <= k <= N)
//         offset 16  u64       s, the segment's number (equal to the number in its key)
//         offset 24  u64       base: the stream offset where part s*N starts (0 for s = 0, the
//                              last end offset of segment s-1 otherwise)
//         offset 32  k x u64   end offsets of the parts, strictly increasing, the first > base
//       A segment with k < N is the last one; after a full segment, a missing next segment means
//       no more parts yet.
//   K/complete
//       Written once, after the last index segment is durable: the stream is whole. JSON:
//       {"format":"depot-stream/1","size":<bytes>,"parts":<count>,"index_segment_entries":<N>}.
//   K/aborted
//       Written when the upload fails or is aborted, before its parts and index are deleted; it
//       is all that remains afterwards. JSON: {"format":"depot-stream/1","reason":"<text>"}.
//
// A stream owns every key under K + "/": two streams must not nest (K and K/part/x), and nothing
// else should be stored under K + "/". K itself is never written.
//
// The functions below are pure (no I/O) except DeleteStream; all are thread-safe. Decoders answer
// kDataLoss naming the object when its bytes are not what this format allows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/bytes.h"
#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::object {

// Deletes every object of the stream `key` (its parts, index, markers: everything under
// key + "/"), in key order, so markers and the index go before the parts. Returns how many
// objects were deleted (0 for a stream that does not exist). Delete a stream only when its
// writer has finished, aborted or died: a live writer would write new parts and index segments.
Result<uint64_t> DeleteStream(ObjectStore& store, std::string_view key);

namespace stream {

// Part and segment numbers have ten digits.
inline constexpr uint64_t kMaxParts = 10'000'000'000;
inline constexpr size_t kIndexHeaderBytes = 32;
inline constexpr std::string_view kFormat = "depot-stream/1";

// A stream key must be a valid key for every backend with each suffix above appended: 1..1007
// bytes of UTF-8 without NUL. kInvalidArgument names the key.
Status ValidateStreamKey(std::string_view key);

std::string PartKey(std::string_view key, uint64_t part);
std::string IndexKey(std::string_view key, uint64_t segment);
std::string CompleteKey(std::string_view key);
std::string AbortedKey(std::string_view key);

struct IndexSegment {
  uint64_t number = 0;
  uint32_t capacity = 0;  // N
  uint64_t base = 0;
  std::vector<uint64_t> ends;

  bool full() const { return ends.size() == capacity; }
};

Bytes EncodeIndexSegment(const IndexSegment& segment);
// Checks everything the format states that one segment can show; `object_key` and
// `expected_number` are for the check of s and for messages.
Result<IndexSegment> DecodeIndexSegment(std::string_view object_key, uint64_t expected_number,
                                        std::string_view data);

struct CompleteMarker {
  uint64_t size = 0;
  uint64_t parts = 0;
  uint32_t index_segment_entries = 0;
};

Bytes EncodeCompleteMarker(const CompleteMarker& marker);
Result<CompleteMarker> DecodeCompleteMarker(std::string_view object_key, std::string_view data);

// `reason` may hold any bytes; invalid UTF-8 is replaced so that the marker is valid JSON.
Bytes EncodeAbortMarker(std::string_view reason);
// The reason.
Result<std::string> DecodeAbortMarker(std::string_view object_key, std::string_view data);

}  // namespace stream
}  // namespace depot::object
