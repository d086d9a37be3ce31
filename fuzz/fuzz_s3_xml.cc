// Fuzzes the XML request bodies depot serve reads from the network (depot/s3/xml.h):
// DeleteObjects (<Delete>) and CompleteMultipartUpload. The input is the body, as a client sends
// it.
//
// Neither parser may crash or refuse with a code other than kInvalidArgument. What they accept
// must survive depot's own writer: DeleteObjectsXml(keys) and CompleteMultipartXml(parts) parse
// back to the same keys and parts (for keys and ETags without control characters, which XML
// cannot carry unchanged, and ETags without quotes, which the writer adds).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "depot/s3/xml.h"

namespace {

[[noreturn]] void Fail(const char* what, std::string_view input, const std::string& detail) {
  std::fprintf(stderr, "fuzz_s3_xml: %s\n  input:  \"%.*s\"\n  detail: %s\n", what,
               static_cast<int>(input.size()), input.data(), detail.c_str());
  std::abort();
}

bool Printable(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace s3 = depot::s3;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto deletes = s3::ParseDeleteObjects(input);
  if (!deletes.ok()) {
    if (deletes.status().code() != depot::StatusCode::kInvalidArgument) {
      Fail("ParseDeleteObjects refused with another code", input, deletes.status().ToString());
    }
  } else {
    bool clean = true;
    for (const std::string& key : deletes->keys) clean = clean && Printable(key);
    if (clean) {
      const std::string xml = s3::DeleteObjectsXml(deletes->keys);
      auto again = s3::ParseDeleteObjects(xml);
      if (!again.ok() || again->keys != deletes->keys || !again->quiet) {
        Fail("DeleteObjectsXml does not parse back to its keys", input, xml);
      }
    }
  }

  auto parts = s3::ParseCompleteMultipartUpload(input);
  if (!parts.ok()) {
    if (parts.status().code() != depot::StatusCode::kInvalidArgument) {
      Fail("ParseCompleteMultipartUpload refused with another code", input,
           parts.status().ToString());
    }
  } else {
    bool clean = true;
    for (const auto& part : *parts) {
      clean = clean && Printable(part.etag) && part.etag.find('"') == std::string::npos;
    }
    if (clean) {
      const std::string xml = s3::CompleteMultipartXml(*parts);
      auto again = s3::ParseCompleteMultipartUpload(xml);
      bool same = again.ok() && again->size() == parts->size();
      for (size_t i = 0; same && i < parts->size(); ++i) {
        same = (*again)[i].part_number == (*parts)[i].part_number &&
               (*again)[i].etag == (*parts)[i].etag;
      }
      if (!same) Fail("CompleteMultipartXml does not parse back to its parts", input, xml);
    }
  }
  return 0;
}
