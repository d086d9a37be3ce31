// depot::object::AssembleChecksums: how a multipart object's checksum is made from its parts',
// as S3 makes it. The stores use it when CompleteMultipart lands an object; depot serve uses it to
// check a whole-object checksum sent with CompleteMultipartUpload before anything lands.
//
// COMPOSITE: the checksum (of the same algorithm) of the parts' digests, then "-<parts>".
// FULL_OBJECT (CRCs only): the CRC of all the bytes, combined from the parts' CRCs and sizes
// (PayloadChecksum::Combine), so no byte is read again. Pure function: thread-safe.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "depot/core/result.h"
#include "depot/object/store.h"

namespace depot::object {

// What CompleteMultipart keeps of the checksums of an upload whose PutOptions::checksum is `spec`,
// from its parts (the staged ones, in list order): the object's checksum, and each part's size and
// checksum. Without a spec the object has no checksum and its parts keep none. kInvalidArgument
// (InvalidRequest) naming a part without a checksum when the spec needs one.
struct AssembledChecksums {
  Checksum checksum;
  std::vector<ObjectPart> parts;
};
Result<AssembledChecksums> AssembleChecksums(std::string_view key, const Checksum& spec,
                                             std::span<const PartInfo> parts);

}  // namespace depot::object
