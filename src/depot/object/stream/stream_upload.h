// depot::object::StreamUpload: an upload whose bytes can be read, by range, while it is still in
// progress (Store Stream's parted upload, done right), over any ObjectStore.
//
//   DEPOT_ASSIGN_OR_RETURN(auto upload, StreamUpload::Start(store, "live/cam1.ts"));
//   DEPOT_RETURN_IF_ERROR(upload->Write(chunk));   // any number of times, any sizes
//   DEPOT_ASSIGN_OR_RETURN(StreamSummary done, upload->Finish());
//
// or, with a producer thread feeding a channel (Store Stream's `upload(rx)`):
//
//   BoundedChannel<Bytes> channel(4);
//   std::thread producer([&] { ...channel.Send(chunk)...; channel.Close(); });
//   Result<StreamSummary> done = UploadStream(store, "live/cam1.ts", channel);
//
// Every part is its own object, and an index of part offsets is rewritten after parts land; a
// StreamReader (stream_reader.h) on any thread or process reads every indexed byte by range and
// waits for the rest. The objects and their formats are described in stream_layout.h.
//
// Parts: bytes are cut into parts of at least min_part_size and at most max_part_size bytes (the
// last part may be smaller). Bytes are readable once their part is cut, uploaded and indexed, so
// min_part_size is also the granularity at which readers see progress. A chunk that arrives while
// nothing is buffered and is at least min_part_size is shipped without a copy, split at
// max_part_size.
//
// Parallelism and memory: up to max_in_flight parts upload at once, and a part keeps its slot
// until it is indexed, so Write blocks while max_in_flight parts are uploading or waiting for the
// index. The upload holds at most (max_in_flight + 1) x max_part_size bytes (parts in flight and
// the one being cut or buffered); with UploadStream add the channel's capacity x the producer's
// chunk size. One thread of the upload rewrites the index, in part order, coalescing parts that
// land together into one write.
//
// Lifecycle and what a reader sees:
//   - Start checks that nothing exists under the key (kAlreadyExists otherwise: DeleteStream an
//     old stream first) and writes the empty index, after which a reader sees the stream, in
//     progress, with 0 bytes available.
//   - Finish ships the buffered bytes as the last part, waits for every part and every index
//     write, then writes the completion marker (total size, part count). It returns OK only once
//     all of that is durable; readers then see the stream complete.
//   - Any failure (a part or index write, the completion marker, a producer closing the channel
//     with an error) and Abort() make the upload write an abort marker holding the reason, then
//     delete every part and index segment it wrote. Every later call returns the first error
//     (kCancelled after Abort). Destroying an upload that was neither finished nor aborted aborts
//     it. Readers see the stream aborted (kFailedPrecondition from reads, naming the reason).
//   - A writer process that is killed leaves its parts and index and no marker. Readers see a
//     stream in progress that stops growing: StreamState::last_update stops advancing and reads
//     of ranges not yet present end with kDeadlineExceeded (naming what is present and how long
//     ago the index last changed). The writer writes nothing while its producer is idle, so
//     "dead" is the reader's judgement of how long a silence is too long; DeleteStream then
//     removes what the writer left.
//
// Errors: kInvalidArgument for a bad key or options (naming the value); kAlreadyExists as above;
// a store error names the object it was writing. Not thread-safe: one writer thread per upload
// (parts upload on the options' executor, or on the upload's own threads). `store` must outlive the
// upload.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "depot/core/bytes.h"
#include "depot/core/channel.h"
#include "depot/core/executor.h"
#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::object {

struct StreamUploadOptions {
  // Bytes reach readers in parts of this size; smaller parts mean lower latency and more objects.
  uint64_t min_part_size = 8 << 20;
  uint64_t max_part_size = 32 << 20;
  int max_in_flight = 4;
  // Where parts upload: a shared executor (a server's one pool; it must outlive the upload), or
  // nullptr for max_in_flight threads of the upload's own.
  Executor* executor = nullptr;
  // N, the entries per index segment: each index write costs at most 32 + 8 x N bytes.
  uint32_t index_segment_entries = 1024;
};

struct StreamSummary {
  uint64_t size = 0;
  uint64_t parts = 0;
};

class StreamUpload {
 public:
  // Validates the key and options and creates the stream (see the lifecycle above). Every store
  // call of the upload runs under `ctx`; once it is cancelled or past its deadline the next call
  // fails with that status and the stream is aborted (the cleanup under a context of its own, for
  // at most a minute per store call).
  static Result<std::unique_ptr<StreamUpload>> Start(ObjectStore& store, std::string key,
                                                     StreamUploadOptions options = {},
                                                     const Context& ctx = {});
  ~StreamUpload();  // aborts unless finished or aborted
  StreamUpload(const StreamUpload&) = delete;
  StreamUpload& operator=(const StreamUpload&) = delete;

  Status Write(std::string_view data);
  // Same, without a copy when the chunk can be shipped as whole parts.
  Status Write(Bytes data);
  // Writes every chunk received from `channel` until it is closed and drained. If the channel is
  // closed with an error, the upload is aborted with it and that error returned. If the upload
  // fails, the channel is closed with the upload's error (so that a blocked producer wakes up
  // and learns why) and the error returned.
  Status WriteFrom(BoundedChannel<Bytes>& channel);
  // Completes the stream; see the lifecycle above.
  Result<StreamSummary> Finish();
  // Abandons the stream: writes the abort marker with `reason` and deletes the parts and index.
  // Returns the first error of that cleanup (OK when it was clean).
  Status Abort(std::string_view reason = "aborted by the writer");

  uint64_t bytes_written() const;
  const std::string& key() const;

 private:
  class Impl;
  explicit StreamUpload(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Start, WriteFrom(channel), Finish: the whole upload of what a producer sends, on the calling
// thread. On any failure the channel is closed with the error and the stream aborted.
Result<StreamSummary> UploadStream(ObjectStore& store, std::string key,
                                   BoundedChannel<Bytes>& channel, StreamUploadOptions options = {},
                                   const Context& ctx = {});

}  // namespace depot::object
