// Fuzzes depot::Url::Parse: it must never crash, must reject only with kInvalidArgument, and
// every URL it accepts must survive a round trip: Parse(u.ToString()) == u, and ToString() of
// the result is the same text again. Also checks PercentDecode(PercentEncode(x)) == x.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "depot/core/url.h"

namespace {

[[noreturn]] void Fail(const char* what, std::string_view input, const std::string& detail) {
  std::fprintf(stderr, "fuzz_url: %s\n  input:  \"%.*s\"\n  detail: %s\n", what,
               static_cast<int>(input.size()), input.data(), detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  depot::Result<std::string> decoded = depot::PercentDecode(depot::PercentEncode(input, "/"));
  if (!decoded.ok() || *decoded != input) {
    Fail("PercentDecode(PercentEncode(x)) != x", input,
         decoded.ok() ? *decoded : decoded.status().ToString());
  }

  depot::Result<depot::Url> url = depot::Url::Parse(input);
  if (!url.ok()) {
    if (url.status().code() != depot::StatusCode::kInvalidArgument) {
      Fail("rejected with a code other than InvalidArgument", input, url.status().ToString());
    }
    return 0;
  }
  const std::string text = url->ToString();
  depot::Result<depot::Url> again = depot::Url::Parse(text);
  if (!again.ok())
    Fail("ToString() of a parsed URL does not parse", input, again.status().ToString());
  if (!(*again == *url)) Fail("Parse(ToString(u)) != u", input, text + " -> " + again->ToString());
  if (again->ToString() != text) Fail("ToString() is not stable", input, text);
  return 0;
}
