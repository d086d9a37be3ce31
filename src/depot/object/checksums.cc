#include "depot/object/checksums.h"

#include <fmt/format.h>

#include <optional>
#include <string>

#include "depot/core/base64.h"
#include "depot/core/checksum.h"
#include "depot/object/key.h"

namespace depot::object {

Result<AssembledChecksums> AssembleChecksums(std::string_view key, const Checksum& spec,
                                             std::span<const PartInfo> parts) {
  AssembledChecksums out;
  const auto algorithm = PayloadChecksum::FromName(spec.algorithm);
  std::string whole;  // full-object: the CRC so far; composite: the digests so far
  for (const PartInfo& part : parts) {
    out.parts.push_back({part.size, algorithm ? part.checksum : ""});
    if (!algorithm) continue;
    auto digest = Base64Decode(part.checksum);
    if (part.checksum.empty() || !digest.ok()) {
      return InvalidArgumentError(fmt::format(
          "complete multipart of key {}: part {} has no {} checksum, which the upload asked for "
          "(InvalidRequest)",
          QuoteKey(key), part.part_number, spec.algorithm));
    }
    if (spec.composite) {
      whole += *digest;
    } else if (&part == &parts.front()) {
      whole = *digest;
    } else {
      std::optional<std::string> combined =
          PayloadChecksum::Combine(*algorithm, whole, *digest, part.size);
      if (!combined) {
        return InvalidArgumentError(
            fmt::format("complete multipart of key {}: part {}'s {} checksum cannot be combined",
                        QuoteKey(key), part.part_number, spec.algorithm));
      }
      whole = std::move(*combined);
    }
  }
  if (!algorithm) return out;
  out.checksum.algorithm = std::string(PayloadChecksum::Name(*algorithm));
  out.checksum.composite = spec.composite;
  if (spec.composite) {
    PayloadChecksum of_digests(*algorithm);
    of_digests.Update(whole);
    out.checksum.value = fmt::format("{}-{}", of_digests.Base64Finish(), parts.size());
  } else {
    out.checksum.value = Base64Encode(whole);
  }
  return out;
}

}  // namespace depot::object
