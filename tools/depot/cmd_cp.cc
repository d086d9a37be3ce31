// depot cp SRC DST: copies one object or file to another store object or file.
//
//   store -> store   object::CopyBetween (a server-side Copy within one store)
//   file  -> store   a parallel BufferedUpload fed straight from the file
//   store -> file    an ObjectReader into a temporary file, fsync'd and renamed into place
//   file  -> file    a plain copy with the same temporary-file protocol
//
// A destination that names a directory (ends with '/', an existing directory, or a store root)
// receives the source's file name. Silent on success unless -v; a progress bar on stderr only
// when stderr is a terminal.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "commands.h"
#include "depot/object/key.h"
#include "location.h"
#include "progress.h"
#include "transfer.h"

namespace depot::cli {
namespace {

namespace fs = std::filesystem;

struct CpOptions {
  std::string source;
  std::string destination;
  std::string part_size;
  int parallel = 4;
  std::string content_type;
  bool verbose = false;
};

// Checks that `loc` names a single object (not a store or a prefix) whose key is valid.
Status CheckObjectKey(const Location& loc) {
  if (loc.key.empty() || loc.key.back() == '/') {
    return InvalidArgumentError(
        fmt::format("\"{}\" names a store or a prefix, not an object", loc.text));
  }
  return object::ValidateKey(loc.key).WithContext(fmt::format("\"{}\"", loc.text));
}

int RunCp(const CpOptions& options) {
  constexpr std::string_view kCmd = "cp";
  TransferOptions transfer;
  transfer.parallel = options.parallel;
  transfer.content_type = options.content_type;
  if (!options.part_size.empty()) {
    Result<uint64_t> part_size = ParseByteSize(options.part_size);
    if (!part_size.ok()) return ReportUsage(kCmd, part_size.status());
    if (*part_size == 0) {
      return ReportUsage(kCmd, InvalidArgumentError("--part-size must be at least 1 byte"));
    }
    transfer.part_size = *part_size;
  }

  LocationResolver resolver;
  Result<Location> src = resolver.Resolve(options.source);
  if (!src.ok()) return ReportUsage(kCmd, src.status());
  Result<Location> dst = resolver.Resolve(options.destination);
  if (!dst.ok()) return ReportUsage(kCmd, dst.status());

  // The source: its size and, for an object, its metadata.
  object::ObjectMeta source_meta;
  if (src->is_store()) {
    if (Status s = CheckObjectKey(*src); !s.ok()) return ReportUsage(kCmd, s);
    Result<object::ObjectMeta> meta = src->store->Head(src->key);
    if (!meta.ok()) return ReportFailure(kCmd, meta.status().WithContext(src->text));
    source_meta = *std::move(meta);
  } else {
    std::error_code ec;
    const fs::file_status st = fs::status(src->path, ec);
    if (!fs::exists(st)) {
      return ReportFailure(kCmd, NotFoundError(fmt::format("{}: no such file", src->text)));
    }
    if (!fs::is_regular_file(st)) {
      return ReportUsage(
          kCmd, InvalidArgumentError(fmt::format("\"{}\" is not a regular file", src->text)));
    }
    source_meta.size = fs::file_size(src->path, ec);
    if (ec) {
      return ReportFailure(kCmd,
                           ErrnoToStatus(ec.value(), fmt::format("stat {}", src->path.string())));
    }
  }

  // Copying into a directory keeps the source's name.
  if (dst->names_directory) {
    const std::string name = src->BaseName();
    if (dst->is_store()) {
      dst->key += name;
    } else {
      dst->path /= name;
    }
  }
  if (dst->is_store()) {
    if (Status s = CheckObjectKey(*dst); !s.ok()) return ReportUsage(kCmd, s);
  }
  const std::string what = fmt::format("{} -> {}", src->text, dst->text);

  Progress progress(fmt::format("cp {}", src->BaseName()), source_meta.size, StderrIsTerminal());
  Status status;
  if (src->is_store() && dst->is_store()) {
    status =
        CopyObject(*src->store, src->key, source_meta, *dst->store, dst->key, transfer, &progress)
            .status();
  } else if (dst->is_store()) {
    status = UploadFile(*dst->store, dst->key, src->path, transfer, &progress).status();
  } else if (src->is_store()) {
    status = DownloadFile(*src->store, src->key, dst->path, transfer, &progress);
  } else {
    status = CopyLocalFile(src->path, dst->path, &progress);
  }
  progress.Finish();
  if (!status.ok()) return ReportFailure(kCmd, status.WithContext(what));
  if (options.verbose) {
    fmt::print("{}: {} in {:.2f} s ({})\n", what, FormatBytes(source_meta.size), progress.seconds(),
               FormatRate(source_meta.size, progress.seconds()));
  }
  return kExitOk;
}

}  // namespace

Command AddCpCommand(CLI::App& parent) {
  auto options = std::make_shared<CpOptions>();
  CLI::App* app = parent.add_subcommand(
      "cp", "Copy an object or a file to another store or file (SRC and DST: any location)");
  app->add_option("SRC", options->source, "What to copy: an object or a plain file")->required();
  app->add_option("DST", options->destination,
                  "Where to: an object, a plain file, or a directory/prefix ending in '/'")
      ->required();
  app->add_option("--part-size", options->part_size,
                  "Upload part and read-ahead chunk size, e.g. 16MiB (default: files go in "
                  "equal parts of 8 MiB, raised to fit 10,000 parts; other sources in parts "
                  "that grow from 8 MiB to 128 MiB; chunks of 8 MiB)")
      ->type_name("BYTES");
  app->add_option("--parallel", options->parallel, "Parts uploading / chunks fetched at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app->add_option("--content-type", options->content_type, "Content type of the new object")
      ->type_name("TYPE");
  app->add_flag("-v,--verbose", options->verbose, "Print what was copied, and how fast");
  return {app, [options] { return RunCp(*options); }};
}

}  // namespace depot::cli
