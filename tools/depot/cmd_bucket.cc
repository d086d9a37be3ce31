// depot mb s3://BUCKET and depot rb [--force] s3://BUCKET: make and remove S3 buckets.
//
// mb of a bucket this account already owns succeeds (S3's us-east-1 rule, which awscli follows);
// rb refuses a bucket that still holds objects unless --force, which first deletes every object
// (page by page, in batches) and aborts every unfinished multipart upload.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "commands.h"
#include "depot/object/helpers.h"
#include "location.h"

#if DEPOT_WITH_S3
#include "depot/object/s3/s3_store.h"
#endif

namespace depot::cli {
namespace {

struct BucketOptions {
  std::string location;
  bool force = false;
};

#if DEPOT_WITH_S3
// The bucket named by an s3://BUCKET location (kInvalidArgument for anything else).
Result<object::S3Store*> BucketOf(const Location& loc) {
  auto* s3 = loc.is_store() ? dynamic_cast<object::S3Store*>(loc.store.get()) : nullptr;
  if (s3 == nullptr || !loc.key.empty()) {
    return InvalidArgumentError(fmt::format("\"{}\" is not a bucket: write s3://BUCKET", loc.text));
  }
  return s3;
}

int RunBucket(std::string_view command, const BucketOptions& options) {
  LocationResolver resolver;
  Result<Location> loc = resolver.Resolve(options.location);
  if (!loc.ok()) return ReportUsage(command, loc.status());
  Result<object::S3Store*> bucket = BucketOf(*loc);
  if (!bucket.ok()) return ReportUsage(command, bucket.status());
  object::S3Store& s3 = **bucket;
  if (command == "mb") {
    if (Status s = s3.CreateBucket(); !s.ok()) return ReportFailure(command, s);
    fmt::print("make_bucket: {}\n", loc->text);
    return kExitOk;
  }
  if (options.force) {
    if (auto deleted = object::DeletePrefix(s3, ""); !deleted.ok()) {
      return ReportFailure(command, deleted.status());
    }
    Result<std::vector<object::MultipartUploadInfo>> uploads = s3.ListMultipartUploads("");
    if (!uploads.ok()) return ReportFailure(command, uploads.status());
    for (const auto& upload : *uploads) {
      if (Status s = s3.AbortMultipart(upload.key, upload.upload_id); !s.ok()) {
        return ReportFailure(command, s);
      }
    }
  }
  if (Status s = s3.DeleteBucket(); !s.ok()) return ReportFailure(command, s);
  fmt::print("remove_bucket: {}\n", loc->text);
  return kExitOk;
}
#else
int RunBucket(std::string_view command, const BucketOptions&) {
  return ReportUsage(command, UnimplementedError("this depot was built without S3 support"));
}
#endif

}  // namespace

Command AddMbCommand(CLI::App& parent) {
  auto options = std::make_shared<BucketOptions>();
  CLI::App* app = parent.add_subcommand("mb", "Make an S3 bucket: depot mb s3://BUCKET");
  app->add_option("bucket", options->location, "s3://BUCKET")->required();
  return {app, [options] { return RunBucket("mb", *options); }};
}

Command AddRbCommand(CLI::App& parent) {
  auto options = std::make_shared<BucketOptions>();
  CLI::App* app = parent.add_subcommand("rb", "Remove an empty S3 bucket: depot rb s3://BUCKET");
  app->add_option("bucket", options->location, "s3://BUCKET")->required();
  app->add_flag("--force", options->force,
                "delete every object and unfinished upload in the bucket first");
  return {app, [options] { return RunBucket("rb", *options); }};
}

}  // namespace depot::cli
