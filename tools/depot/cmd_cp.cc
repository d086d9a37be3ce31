// depot cp SRC DST: copies one object or file to another store object or file.
//
//   store -> store   object::CopyBetween (a server-side Copy within one store)
//   file  -> store   a parallel BufferedUpload fed straight from the file
//   store -> file    an ObjectReader into a temporary file, fsync'd and renamed into place
//   file  -> file    a plain copy with the same temporary-file protocol
//
// A destination that names a directory (ends with '/', an existing directory, or a store root)
// receives the source's file name. "-" as SRC reads standard input to its end (into an object in
// growing parts, memory bounded by the parts in flight, or into a file); "-" as DST writes the
// source to standard output as it is read. Silent on success unless -v; a progress bar on stderr
// only when stderr is a terminal.
//
// With --recursive, SRC and DST are trees (directories or store prefixes): everything under SRC
// is copied to the same relative names under DST, files in parallel (sync.h).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "commands.h"
#include "depot/core/checksum.h"
#include "depot/core/hex.h"
#include "depot/object/key.h"
#include "interrupts.h"
#include "location.h"
#include "progress.h"
#include "sync.h"
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
  bool recursive = false;
  std::string checksum;
  TreeCopyOptions tree;
};

// Checks that `loc` names a single object (not a store or a prefix) whose key is valid.
Status CheckObjectKey(const Location& loc) {
  if (loc.key.empty() || loc.key.back() == '/') {
    return InvalidArgumentError(
        fmt::format("\"{}\" names a store or a prefix, not an object", loc.text));
  }
  return object::ValidateKey(loc.key).WithContext(fmt::format("\"{}\"", loc.text));
}

constexpr std::string_view kCmd = "cp";

Status ChecksumOnlyUploads() {
  return InvalidArgumentError("--checksum goes with uploads into a store (from files or -)");
}

// After an upload with --checksum: the digest in hex and the object, as sha256sum prints them.
void PrintDigest(const std::string& digest, const Location& destination) {
  if (!digest.empty())
    fmt::print("{}  {}\n", HexEncode(std::string_view(digest)), destination.text);
}

// After Ctrl-C (or SIGTERM): what became of the copy, and 128 + the signal. `status` is the
// copy's: kCancelled when it was stopped and cleaned up (nothing left on the store, or the file
// as it was); OK when it had ended anyway.
int ReportInterrupted(std::string_view what, const Status& status, const Interrupts& interrupts) {
  if (status.ok()) {
    fmt::print(stderr, "depot: {}: {}: interrupted after the copy had completed\n", kCmd, what);
  } else if (status.code() == StatusCode::kCancelled) {
    fmt::print(stderr, "depot: {}: {}: interrupted; nothing was written\n", kCmd, what);
  } else {
    fmt::print(stderr, "depot: {}: {}: interrupted: {}\n", kCmd, what, status.ToString());
  }
  return interrupts.exit_code();
}

// depot cp - DST: standard input to its end, into an object or a file.
int CopyStdin(LocationResolver& resolver, const std::string& destination,
              const TransferOptions& transfer, const Interrupts& interrupts) {
  Result<Location> dst = resolver.Resolve(destination);
  if (!dst.ok()) return ReportUsage(kCmd, dst.status());
  if (dst->names_directory) {
    return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                 "standard input has no name: give the object or file to write, "
                                 "not the directory \"{}\"",
                                 dst->text)));
  }
  const std::string what = fmt::format("- -> {}", dst->text);
  Progress progress("cp -", 0, StderrIsTerminal());
  Status status;
  std::string digest;
  if (dst->is_store()) {
    if (Status s = CheckObjectKey(*dst); !s.ok()) return ReportUsage(kCmd, s);
    Result<UploadResult> uploaded =
        UploadFd(*dst->store, dst->key, STDIN_FILENO, "standard input", transfer, &progress,
                 Context(interrupts.token()), [&] { return interrupts.Arrived(); });
    status = uploaded.status();
    if (uploaded.ok()) digest = uploaded->digest;
  } else if (transfer.checksum) {
    return ReportUsage(kCmd, ChecksumOnlyUploads());
  } else {
    status = CopyFdToFile(STDIN_FILENO, "standard input", dst->path, &progress, interrupts.token());
  }
  progress.Finish();
  if (interrupts.signal() != 0) return ReportInterrupted(what, status, interrupts);
  if (!status.ok()) return ReportFailure(kCmd, status.WithContext(what));
  PrintDigest(digest, *dst);
  return kExitOk;
}

// depot cp SRC -: the object or file to standard output, as it is read.
int CopyToStdout(const Location& src, const TransferOptions& transfer) {
  const std::string what = fmt::format("{} -> -", src.text);
  Status status;
  if (src.is_store()) {
    if (Status s = CheckObjectKey(src); !s.ok()) return ReportUsage(kCmd, s);
    status = DownloadToFd(*src.store, src.key, STDOUT_FILENO, "standard output", transfer, nullptr);
  } else {
    status = StreamFile(src.path, [](const char* data, size_t size) {
      return WriteAll(STDOUT_FILENO, data, size, "standard output");
    });
  }
  if (!status.ok()) return ReportFailure(kCmd, status.WithContext(what));
  return kExitOk;
}

int RunCp(CpOptions& options, const TreeFlags& tree_flags) {
  // Before any thread starts (stores may start theirs when they are opened).
  Interrupts interrupts;
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
  if (!options.checksum.empty()) {
    transfer.checksum = PayloadChecksum::FromName(options.checksum);
    if (!transfer.checksum) {
      return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                   "--checksum \"{}\" is not sha256, sha1, crc32, crc32c or "
                                   "crc64nvme",
                                   options.checksum)));
    }
  }

  LocationResolver resolver;
  const bool from_stdin = options.source == "-";
  const bool to_stdout = options.destination == "-";
  if (options.recursive) {
    if (from_stdin || to_stdout) {
      return ReportUsage(kCmd, InvalidArgumentError("--recursive copies trees, not \"-\""));
    }
    Result<Location> src = resolver.Resolve(options.source);
    if (!src.ok()) return ReportUsage(kCmd, src.status());
    Result<Location> dst = resolver.Resolve(options.destination);
    if (!dst.ok()) return ReportUsage(kCmd, dst.status());
    if (transfer.checksum && (src->is_store() || !dst->is_store())) {
      return ReportUsage(kCmd, ChecksumOnlyUploads());
    }
    options.tree.transfer = transfer;  // each upload keeps its checksum; none is printed
    options.tree.verbose = options.verbose;
    options.tree.filters = tree_flags.Filters();
    return CopyTree(kCmd, *src, *dst, options.tree, interrupts);
  }
  if (!tree_flags.Filters().empty() || options.tree.dryrun) {
    return ReportUsage(
        kCmd, InvalidArgumentError("--exclude, --include and --dryrun go with --recursive"));
  }
  if (from_stdin && to_stdout) {
    return ReportUsage(kCmd, InvalidArgumentError("\"-\" to \"-\" copies nothing: give a "
                                                  "source or a destination"));
  }
  if (from_stdin) return CopyStdin(resolver, options.destination, transfer, interrupts);
  Result<Location> src = resolver.Resolve(options.source);
  if (!src.ok()) return ReportUsage(kCmd, src.status());
  if (to_stdout) {
    if (transfer.checksum) return ReportUsage(kCmd, ChecksumOnlyUploads());
    interrupts.ExitOnSignal();  // nothing to clean up
    return CopyToStdout(*src, transfer);
  }
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
  if (transfer.checksum && (src->is_store() || !dst->is_store())) {
    return ReportUsage(kCmd, ChecksumOnlyUploads());
  }

  Progress progress(fmt::format("cp {}", src->BaseName()), source_meta.size, StderrIsTerminal());
  Status status;
  std::string digest;
  // Only an upload from a file stops cleanly; the rest end at a signal, as by default.
  if (src->is_store() || !dst->is_store()) interrupts.ExitOnSignal();
  if (src->is_store() && dst->is_store()) {
    status =
        CopyObject(*src->store, src->key, source_meta, *dst->store, dst->key, transfer, &progress)
            .status();
  } else if (dst->is_store()) {
    Result<UploadResult> uploaded = UploadFile(*dst->store, dst->key, src->path, transfer,
                                               &progress, Context(interrupts.token()));
    status = uploaded.status();
    if (uploaded.ok()) digest = uploaded->digest;
    if (interrupts.signal() != 0) {
      progress.Finish();
      return ReportInterrupted(what, status, interrupts);
    }
  } else if (src->is_store()) {
    status = DownloadFile(*src->store, src->key, dst->path, transfer, &progress);
  } else {
    status = CopyLocalFile(src->path, dst->path, &progress);
  }
  progress.Finish();
  if (!status.ok()) return ReportFailure(kCmd, status.WithContext(what));
  PrintDigest(digest, *dst);
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
  app->add_option("SRC", options->source,
                  "What to copy: an object, a plain file, or - (standard input)")
      ->required();
  app->add_option("DST", options->destination,
                  "Where to: an object, a plain file, a directory/prefix ending in '/', or - "
                  "(standard output)")
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
  app->add_option("--checksum", options->checksum,
                  "Compute this checksum of an upload as it is sent, print it (hex, as sha256sum "
                  "does), and have the store keep it where it keeps checksums: sha256, sha1, "
                  "crc32, crc32c or crc64nvme (a multipart upload keeps each part's, and of "
                  "SHA-256 and SHA-1 the checksum of those)")
      ->type_name("ALGORITHM");
  app->add_flag("-v,--verbose", options->verbose, "Print what was copied, and how fast");
  app->add_flag("-r,--recursive", options->recursive,
                "Copy every file under SRC (a directory or a store prefix) to the same names "
                "under DST");
  auto tree_flags = std::make_shared<TreeFlags>(*app, options->tree);
  return {app, [options, tree_flags] { return RunCp(*options, *tree_flags); }};
}

}  // namespace depot::cli
