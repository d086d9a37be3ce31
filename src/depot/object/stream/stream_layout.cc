#include "depot/object/stream/stream_layout.h"

#include <fmt/format.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "depot/core/byte_buffer.h"
#include "depot/object/backend_util.h"
#include "depot/object/helpers.h"

namespace depot::object {

Result<uint64_t> DeleteStream(ObjectStore& store, std::string_view key) {
  DEPOT_RETURN_IF_ERROR(stream::ValidateStreamKey(key));
  Result<uint64_t> deleted = DeletePrefix(store, std::string(key) + "/");
  if (!deleted.ok()) {
    return deleted.status().WithContext(fmt::format("deleting stream {}", QuoteKey(key)));
  }
  return deleted;
}

namespace stream {
namespace {

constexpr std::string_view kIndexMagic = "DPSTIDX1";

void PutU32(char* out, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
}
void PutU64(char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
}
uint32_t GetU32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
uint64_t GetU64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

Status Corrupt(std::string_view object_key, std::string_view what) {
  return DataLossError(fmt::format("stream object {}: {}", QuoteKey(object_key), what));
}

Bytes Json(const nlohmann::json& value) {
  // Replace invalid UTF-8 (an abort reason can quote any bytes) instead of throwing.
  return Bytes::FromString(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// Parses a marker object: valid JSON, an object, with our format tag.
Result<nlohmann::json> ParseMarker(std::string_view object_key, std::string_view data) {
  nlohmann::json value = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) {
    return Corrupt(object_key, fmt::format("not a JSON object ({} bytes)", data.size()));
  }
  auto format = value.find("format");
  if (format == value.end() || !format->is_string() || format->get<std::string>() != kFormat) {
    return Corrupt(object_key, fmt::format("format is not \"{}\"", kFormat));
  }
  return value;
}

Result<uint64_t> UnsignedField(std::string_view object_key, const nlohmann::json& value,
                               const char* name) {
  auto field = value.find(name);
  if (field == value.end() || !field->is_number_unsigned()) {
    return Corrupt(object_key,
                   fmt::format("field \"{}\" is missing or not an unsigned integer", name));
  }
  return field->get<uint64_t>();
}

}  // namespace

Status ValidateStreamKey(std::string_view key) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  const std::string longest = IndexKey(key, 0);
  if (longest.size() > kMaxKeyBytes) {
    return InvalidArgumentError(fmt::format(
        "stream key {} is {} bytes; at most {} are allowed, so that its index keys ({}) stay "
        "within {} bytes",
        QuoteKey(key), key.size(), kMaxKeyBytes - (longest.size() - key.size()),
        QuoteKey(longest.substr(key.size())), kMaxKeyBytes));
  }
  return Status::Ok();
}

std::string PartKey(std::string_view key, uint64_t part) {
  return fmt::format("{}/part/{:010d}", key, part);
}
std::string IndexKey(std::string_view key, uint64_t segment) {
  return fmt::format("{}/index/{:010d}", key, segment);
}
std::string CompleteKey(std::string_view key) { return fmt::format("{}/complete", key); }
std::string AbortedKey(std::string_view key) { return fmt::format("{}/aborted", key); }

Bytes EncodeIndexSegment(const IndexSegment& segment) {
  ByteBuffer out(kIndexHeaderBytes + 8 * segment.ends.size());
  char* p = out.data();
  std::memcpy(p, kIndexMagic.data(), kIndexMagic.size());
  PutU32(p + 8, segment.capacity);
  PutU32(p + 12, static_cast<uint32_t>(segment.ends.size()));
  PutU64(p + 16, segment.number);
  PutU64(p + 24, segment.base);
  for (size_t i = 0; i < segment.ends.size(); ++i) {
    PutU64(p + kIndexHeaderBytes + 8 * i, segment.ends[i]);
  }
  out.Commit(out.capacity());
  return std::move(out).Freeze();
}

Result<IndexSegment> DecodeIndexSegment(std::string_view object_key, uint64_t expected_number,
                                        std::string_view data) {
  if (data.size() < kIndexHeaderBytes) {
    return Corrupt(object_key, fmt::format("index segment of {} bytes is shorter than its {}-byte "
                                           "header",
                                           data.size(), kIndexHeaderBytes));
  }
  if (data.substr(0, kIndexMagic.size()) != kIndexMagic) {
    return Corrupt(object_key, "not an index segment (bad magic)");
  }
  IndexSegment segment;
  segment.capacity = GetU32(data.data() + 8);
  const uint32_t count = GetU32(data.data() + 12);
  segment.number = GetU64(data.data() + 16);
  segment.base = GetU64(data.data() + 24);
  if (segment.capacity == 0 || count > segment.capacity) {
    return Corrupt(object_key,
                   fmt::format("index segment holds {} entries of {}", count, segment.capacity));
  }
  if (data.size() != kIndexHeaderBytes + 8 * uint64_t{count}) {
    return Corrupt(object_key, fmt::format("index segment of {} entries is {} bytes, not {}", count,
                                           data.size(), kIndexHeaderBytes + 8 * uint64_t{count}));
  }
  if (segment.number != expected_number) {
    return Corrupt(object_key, fmt::format("index segment says it is number {}", segment.number));
  }
  segment.ends.resize(count);
  uint64_t previous = segment.base;
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t end = GetU64(data.data() + kIndexHeaderBytes + 8 * i);
    if (end <= previous) {
      return Corrupt(object_key,
                     fmt::format("index entry {} ends at {}, not after {}", i, end, previous));
    }
    segment.ends[i] = previous = end;
  }
  return segment;
}

Bytes EncodeCompleteMarker(const CompleteMarker& marker) {
  return Json({{"format", kFormat},
               {"size", marker.size},
               {"parts", marker.parts},
               {"index_segment_entries", marker.index_segment_entries}});
}

Result<CompleteMarker> DecodeCompleteMarker(std::string_view object_key, std::string_view data) {
  DEPOT_ASSIGN_OR_RETURN(nlohmann::json value, ParseMarker(object_key, data));
  CompleteMarker marker;
  DEPOT_ASSIGN_OR_RETURN(marker.size, UnsignedField(object_key, value, "size"));
  DEPOT_ASSIGN_OR_RETURN(marker.parts, UnsignedField(object_key, value, "parts"));
  DEPOT_ASSIGN_OR_RETURN(uint64_t entries,
                         UnsignedField(object_key, value, "index_segment_entries"));
  if (entries == 0 || entries > UINT32_MAX) {
    return Corrupt(object_key, fmt::format("index_segment_entries is {}", entries));
  }
  marker.index_segment_entries = static_cast<uint32_t>(entries);
  if (marker.parts > marker.size || (marker.size > 0 && marker.parts == 0)) {
    return Corrupt(object_key, fmt::format("{} bytes cannot be held by {} non-empty parts",
                                           marker.size, marker.parts));
  }
  return marker;
}

Bytes EncodeAbortMarker(std::string_view reason) {
  return Json({{"format", kFormat}, {"reason", std::string(reason)}});
}

Result<std::string> DecodeAbortMarker(std::string_view object_key, std::string_view data) {
  DEPOT_ASSIGN_OR_RETURN(nlohmann::json value, ParseMarker(object_key, data));
  auto reason = value.find("reason");
  if (reason == value.end() || !reason->is_string()) {
    return Corrupt(object_key, "field \"reason\" is missing or not a string");
  }
  return reason->get<std::string>();
}

}  // namespace stream
}  // namespace depot::object
