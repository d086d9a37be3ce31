// Building blocks shared by object-store backends (internal to the object module and its
// backends), so that every backend applies the same rules: key validation (key.h), RFC 9110 read
// preconditions, paginated listing with delimiters, and the validation of a multipart part list.
// Stateless functions and a single-use ListBuilder; all thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"
#include "depot/object/checksums.h"
#include "depot/object/key.h"
#include "depot/object/preconditions.h"
#include "depot/object/store.h"

namespace depot::object {

// Checks that a put in `options.mode` may replace `current` (nullptr: the key is absent).
Status CheckPutMode(std::string_view key, const PutOptions& options, const ObjectMeta* current);

// Builds one page of a listing from keys fed in ascending order.
//
//   ListBuilder builder(options);  // validates options; check builder.status()
//   for (each object with key >= builder.seek_key(), ascending) if (!builder.Add(meta)) break;
//   ListResult page = std::move(builder).Finish();
class ListBuilder {
 public:
  explicit ListBuilder(const ListOptions& options);

  // kInvalidArgument for max_keys == 0 or a continuation token this builder did not make.
  const Status& status() const { return status_; }
  // Keys below this one can never be part of the page.
  const std::string& seek_key() const { return seek_key_; }
  // Feeds the next key. False when the page is complete (or the key is past the prefix): stop.
  bool Add(const ObjectMeta& meta);
  ListResult Finish() &&;

 private:
  ListOptions options_;
  Status status_;
  std::string start_;        // keys <= start_ are skipped
  std::string skip_prefix_;  // keys with this prefix are skipped (a prefix already returned)
  std::string seek_key_;
  std::string last_emitted_token_;
  size_t count_ = 0;
  ListResult result_;
};

// The ETag S3 gives a multipart object: hex(md5(md5(part 1) || ... || md5(part n))) + "-n".
// `part_etags` are the parts' hex MD5s.
std::string MultipartEtag(std::span<const std::string> part_etags);

// Checks a CompleteMultipart part list against the staged parts (`staged`, any order):
// non-empty, strictly ascending part numbers, each naming a staged part with the same ETag, and
// every part but the last at least `min_part_size` bytes. kInvalidArgument names the part.
// CreateMultipart's options carry no condition: a mode other than kOverwrite is kInvalidArgument
// naming the key (the condition goes on CompleteMultipart).
Status CheckNoCreateCondition(std::string_view key, const PutOptions& options);
// The PutOptions of a put whose condition is `condition`.
PutOptions ConditionedPut(PutOptions options, const WriteCondition& condition);

Status ValidateCompleteParts(std::span<const PartInfo> requested, std::span<const PartInfo> staged,
                             uint64_t min_part_size);

// Keeps in `part` what a part keeps of `checksum` (PartWriter::FinishChecked) in an upload whose
// PutOptions::checksum is `spec`: its value and algorithm, nothing when the upload names no
// algorithm (or none was given); kInvalidArgument naming the part for another algorithm or a value
// that is not the base64 of one digest (and `part` unchanged).
Status KeepPartChecksum(std::string_view key, const Checksum& spec, const Checksum& checksum,
                        PartInfo& part);

// OK while `ctx` lets a call go on; else kCancelled / kDeadlineExceeded naming `what` and the
// quoted key ("get of key \"a/b\": cancelled").
Status CheckContext(const Context& ctx, std::string_view what, std::string_view key);

// DeleteMany for a backend with no batch operation: Delete of each key, one Status per key.
std::vector<Status> DeleteEach(ObjectStore& store, std::span<const std::string> keys,
                               const Context& ctx);

// A writer that gathers the bytes in memory and stores them with one Put at Finish (FinishChecked
// puts the checksum in the Put's options): the default writer of stores without multipart.
std::unique_ptr<ObjectWriter> NewGatheringWriter(ObjectStore& store, std::string key,
                                                 PutOptions put, uint64_t size_hint, Context ctx);

// A part writer that gathers the part in memory and hands it whole to `store` at Finish (with the
// checksum FinishChecked was given): the default part writer, PutPart underneath.
using PartStorer = std::function<Result<PartInfo>(Bytes data, const Checksum& checksum)>;
std::unique_ptr<PartWriter> NewGatheringPartWriter(std::string key, std::string upload_id,
                                                   int part_number, Context ctx, PartStorer store);

// A new random upload id / ETag-safe token: 32 lower-case hex characters.
std::string RandomHexId();

}  // namespace depot::object
