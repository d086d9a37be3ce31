// depot::object::StreamReader: reads a stream written by StreamUpload (stream_upload.h), by byte
// range, while the upload is still in progress, from any thread or process that can reach the
// store.
//
//   DEPOT_ASSIGN_OR_RETURN(auto reader, StreamReader::Open(store, "live/cam1.ts"));
//   DEPOT_ASSIGN_OR_RETURN(StreamRead got,
//                          reader->ReadRange(ByteRange::Bounded(0, 1 << 20),
//                          std::chrono::seconds(5)));
//
// What can be read: every byte of an indexed part (see stream_layout.h). While the upload is in
// progress, a bounded range [b, e) can be read once e <= available; the full, open-ended and
// suffix ranges are relative to the end of the stream, which exists only once it is complete, so
// they wait for the completion marker. Once complete, ranges follow ByteRange::Validate against
// the total size: a range starting past the end is kOutOfRange, an end past it is truncated.
//
// ReadRange(range, wait) answers at once when the range is present; otherwise it polls the
// stream's markers and index (with jittered, growing delays: options.poll) until the range is
// present, the stream is complete, or `wait` has passed. A read fetches only the parts that
// overlap the range, and only the overlapping bytes of each (ranged Gets), up to
// max_concurrency parts at once; one part is returned without a copy.
//
// Failures:
//   kInvalidArgument    a bounded range whose begin is after its end; a bad key or option.
//   kNotFound           no stream under the key (neither index nor markers), or it was deleted
//                       while being read.
//   kOutOfRange         the stream is complete and the range starts past its end.
//   kDeadlineExceeded   `wait` ran out first; the message names the range, the bytes present and
//                       how long ago the index last changed. A writer that was killed leaves an
//                       incomplete stream that never grows, which readers see as exactly this.
//   kFailedPrecondition the upload was aborted (by its writer or by a failure); the message
//                       holds the reason from the abort marker.
//   kDataLoss           the stream's objects contradict each other or the format (a part
//                       missing or of the wrong size, an index that does not match the
//                       completion marker).
//   other               a store error, naming the object being read.
//
// A reader caches the full index segments it has read (8 bytes per part: segments never change
// once full) and, once it has seen the stream complete, the whole index; a later State() of a
// stream deleted after that still reports it complete, and reads report kNotFound. Thread-safe:
// any number of threads may share a reader (index refreshes are serialised; part fetches run on
// the options' executor or the reader's own max_concurrency threads). `store` must outlive the
// reader.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "depot/core/backoff.h"
#include "depot/core/byte_range.h"
#include "depot/core/bytes.h"
#include "depot/core/executor.h"
#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::object {

struct StreamReaderOptions {
  // Part fetches in flight at once for this reader (threads of its own executor).
  int max_concurrency = 4;
  // Where fetches run: a shared executor (a server's one pool; it must outlive the reader), or
  // nullptr for max_concurrency threads of the reader's own. A read waits for its fetches, so it
  // must not run as a task of that same executor.
  Executor* executor = nullptr;
  // Delays between polls while waiting: `initial` (at least 1 ms), then jittered growth up to
  // `max`. max_attempts and max_total are not used: a wait ends at its own deadline.
  BackoffOptions poll{.initial = std::chrono::milliseconds(10),
                      .max = std::chrono::milliseconds(1000)};
};

// What a reader knows of a stream, as of its last look at the markers and the index.
struct StreamState {
  uint64_t available = 0;  // bytes [0, available) are readable (the total size when complete)
  uint64_t parts = 0;      // parts indexed
  bool complete = false;   // the completion marker is present
  bool aborted = false;    // the abort marker is present; its reason:
  std::string abort_reason;
  // The newest modification time (as the store reports it) of the index segment or marker
  // read: what tells a reader that an incomplete stream has stopped growing.
  Clock::time_point last_update;

  // "in progress: 1048576 bytes in 2 parts", "complete: 5 bytes in 1 parts", "aborted: <reason>".
  std::string ToString() const;
};

struct StreamRead {
  ResolvedRange range;  // the bytes `data` holds
  Bytes data;
};

class StreamReader {
 public:
  // Validates the key and options; does no I/O (the stream need not exist yet). Every store call
  // and every wait of the reader runs under `ctx`: a cancel or a passed deadline ends a waiting
  // ReadRange at once with that status.
  static Result<std::unique_ptr<StreamReader>> Open(ObjectStore& store, std::string key,
                                                    StreamReaderOptions options = {},
                                                    const Context& ctx = {});
  ~StreamReader();
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  // Looks at the stream now. kNotFound when there is no stream; an aborted stream is a state,
  // not an error, here.
  Result<StreamState> State();
  // The bytes of `range`, waiting up to `wait` for them (0: look once). See the header comment.
  Result<StreamRead> ReadRange(const ByteRange& range,
                               std::chrono::milliseconds wait = std::chrono::milliseconds(0));

  const std::string& key() const;

 private:
  class Impl;
  explicit StreamReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot::object
