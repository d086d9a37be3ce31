// depot presign s3://BUCKET/KEY [--expires DURATION] [--put]: prints a URL that anyone holding it
// can GET (or, with --put, PUT) for the given time, as `aws s3 presign` does. Any S3 endpoint:
// AWS, Ceph RGW, depot serve (AWS_ENDPOINT_URL_S3). DURATION is seconds, or a number with s, m,
// h or d ("90", "15m", "1h", "7d"); 1 second to 7 days (SigV4's limit), 1 hour by default.
// Signing is local: nothing is sent, and the URL works only while the credentials that signed it
// do.
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "commands.h"
#include "location.h"

#if DEPOT_WITH_S3
#include "depot/object/s3/s3_store.h"
#endif

namespace depot::cli {
namespace {

struct PresignOptions {
  std::string location;
  std::string expires = "1h";
  bool put = false;
};

// "90", "90s", "15m", "1h", "7d" -> seconds; kInvalidArgument naming the text.
Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  const auto bad = [&] {
    return InvalidArgumentError(fmt::format(
        "--expires \"{}\" is not a duration of 1 s to 7 days (write 3600, 90s, 15m, 1h or 7d)",
        text));
  };
  if (text.empty()) return bad();
  constexpr std::pair<char, int64_t> kUnits[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
  int64_t unit = 1;
  std::string_view digits = text;
  for (const auto& [suffix, seconds] : kUnits) {
    if (text.back() == suffix) {
      unit = seconds;
      digits.remove_suffix(1);
      break;
    }
  }
  int64_t count = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || count < 1 ||
      count > 7 * 86400 / unit || count * unit > 7 * 86400) {
    return bad();
  }
  return std::chrono::seconds(count * unit);
}

int RunPresign(const PresignOptions& options) {
  constexpr std::string_view kCmd = "presign";
  Result<std::chrono::seconds> expires = ParseDuration(options.expires);
  if (!expires.ok()) return ReportUsage(kCmd, expires.status());
#if DEPOT_WITH_S3
  LocationResolver resolver;
  Result<Location> loc = resolver.Resolve(options.location);
  if (!loc.ok()) return ReportUsage(kCmd, loc.status());
  auto* s3 = loc->is_store() ? dynamic_cast<object::S3Store*>(loc->store.get()) : nullptr;
  if (s3 == nullptr || loc->key.empty() || loc->key.back() == '/') {
    return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                 "\"{}\" is not an S3 object: write s3://BUCKET/KEY (a URL can "
                                 "only be signed for S3, depot serve's included)",
                                 loc->text)));
  }
  Result<std::string> url =
      options.put ? s3->PresignPut(loc->key, *expires) : s3->PresignGet(loc->key, *expires);
  if (!url.ok()) return ReportFailure(kCmd, url.status().WithContext(loc->text));
  fmt::print("{}\n", *url);
  return kExitOk;
#else
  return ReportUsage(kCmd, UnimplementedError("this depot was built without S3 support"));
#endif
}

}  // namespace

Command AddPresignCommand(CLI::App& parent) {
  auto options = std::make_shared<PresignOptions>();
  CLI::App* app = parent.add_subcommand(
      "presign", "Print a URL that lets anyone GET (or --put) an S3 object for a while");
  app->add_option("URL", options->location, "s3://BUCKET/KEY")->required();
  app->add_option("--expires", options->expires,
                  "How long the URL works: seconds, or 90s, 15m, 1h, 7d (at most 7 days)")
      ->capture_default_str();
  app->add_flag("--put", options->put,
                "A URL to upload with (curl -T FILE URL) instead of one to download");
  return {app, [options] { return RunPresign(*options); }};
}

}  // namespace depot::cli
