// depot cas put | get | stat | ls | pin | unpin | gc | slice | verify-slice: the content-addressed
// blob store (depot/cas/blob_store.h) from the shell.
//
// CAS is a cas URL (depot/cas/open.h): cas:///dir (local bytes, RocksDB index), cas:///dir?
// index=sqlite, or cas://?objects=URL&index=URL. `put` prints "ID  NAME" per input, as b3sum
// does (the ID is the BLAKE3 hash); `get` writes a blob or a range of it to standard output or
// -o FILE, every byte verified against the ID first (--no-verify skips the tree); a failed
// verification removes -o FILE and exits 1. `slice` writes a verified slice of a range (for a
// party that has only the ID) and `verify-slice` checks one from standard input, writing the
// range's bytes only if all of it checks out.
#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "depot/cas/open.h"
#include "depot/cas/outboard.h"
#include "depot/core/byte_range.h"
#include "depot/core/unique_fd.h"
#include "transfer.h"

namespace depot::cli {
namespace {

constexpr size_t kPiece = 4 << 20;

struct CasOptions {
  std::string url;
  std::vector<std::string> inputs;  // put: files ("-": stdin); pin, unpin: ids
  std::string id;
  std::string range;
  std::string output;
  uint64_t begin = 0;
  uint64_t end = 0;
  bool no_pin = false;
  bool no_verify = false;
};

Result<std::unique_ptr<cas::BlobStore>> OpenCas(const CasOptions& options) {
  return cas::Open(options.url);
}

// A store or id that is malformed is a usage error; anything else a failure.
int Report(std::string_view command, const Status& status) {
  if (status.code() == StatusCode::kInvalidArgument) return ReportUsage(command, status);
  return ReportFailure(command, status);
}

Status WriteOut(int fd, std::string_view data) {
  return WriteAll(fd, data.data(), data.size(), "the output");
}

Result<cas::PutBlobResult> PutFd(cas::BlobStore& blobs, int fd, std::string_view name,
                                 const CasOptions& options) {
  DEPOT_ASSIGN_OR_RETURN(auto writer, blobs.OpenWriter({.pin = !options.no_pin}));
  std::unique_ptr<char[]> buffer(new char[kPiece]);
  while (true) {
    DEPOT_ASSIGN_OR_RETURN(size_t n, ReadFull(fd, buffer.get(), kPiece, name));
    if (n == 0) break;
    DEPOT_RETURN_IF_ERROR(writer->Write(std::string_view(buffer.get(), n)));
    if (n < kPiece) break;
  }
  return writer->Finish();
}

int RunPut(const CasOptions& options) {
  constexpr std::string_view kCmd = "cas put";
  auto blobs = OpenCas(options);
  if (!blobs.ok()) return Report(kCmd, blobs.status());
  std::vector<std::string> inputs = options.inputs;
  if (inputs.empty()) inputs.push_back("-");
  for (const std::string& input : inputs) {
    UniqueFd owned;
    int fd = STDIN_FILENO;
    if (input != "-") {
      owned = UniqueFd(::open(input.c_str(), O_RDONLY | O_CLOEXEC));
      if (!owned.valid()) {
        return ReportFailure(kCmd, ErrnoToStatus(errno, fmt::format("open \"{}\"", input)));
      }
      fd = owned.get();
    }
    auto put = PutFd(**blobs, fd, input == "-" ? "standard input" : input, options);
    if (!put.ok()) return ReportFailure(kCmd, put.status());
    fmt::print("{}  {}\n", put->id.ToHex(), input);
  }
  return kExitOk;
}

Result<cas::ContentId> ParseId(std::string_view text) { return cas::ContentId::FromHex(text); }

int RunGet(const CasOptions& options) {
  constexpr std::string_view kCmd = "cas get";
  auto id = ParseId(options.id);
  if (!id.ok()) return ReportUsage(kCmd, id.status());
  ByteRange range;
  if (!options.range.empty()) {
    auto parsed = ByteRange::Parse(options.range);
    if (!parsed.ok()) return ReportUsage(kCmd, parsed.status());
    range = *parsed;
  }
  auto blobs = OpenCas(options);
  if (!blobs.ok()) return Report(kCmd, blobs.status());
  UniqueFd owned;
  int fd = STDOUT_FILENO;
  if (!options.output.empty()) {
    owned =
        UniqueFd(::open(options.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!owned.valid()) {
      return ReportFailure(kCmd, ErrnoToStatus(errno, fmt::format("open \"{}\"", options.output)));
    }
    fd = owned.get();
  }
  const Status read =
      (*blobs)->Read(*id, range, [&](std::string_view piece) { return WriteOut(fd, piece); },
                     {.verify = !options.no_verify});
  if (!read.ok()) {
    if (!options.output.empty()) std::filesystem::remove(options.output);
    return ReportFailure(kCmd, read);
  }
  return kExitOk;
}

int RunStat(const CasOptions& options) {
  constexpr std::string_view kCmd = "cas stat";
  auto id = ParseId(options.id);
  if (!id.ok()) return ReportUsage(kCmd, id.status());
  auto blobs = OpenCas(options);
  if (!blobs.ok()) return Report(kCmd, blobs.status());
  auto info = (*blobs)->Stat(*id);
  if (!info.ok()) return ReportFailure(kCmd, info.status());
  fmt::print("id       {}\nsize     {}\npins     {}\ncreated  {:%Y-%m-%dT%H:%M:%SZ}\n",
             info->id.ToHex(), info->size, info->pins,
             std::chrono::floor<std::chrono::seconds>(info->created));
  return kExitOk;
}

int RunLs(const CasOptions& options) {
  constexpr std::string_view kCmd = "cas ls";
  auto blobs = OpenCas(options);
  if (!blobs.ok()) return Report(kCmd, blobs.status());
  std::optional<cas::ContentId> after;
  while (true) {
    auto page = (*blobs)->List(after, 1000);
    if (!page.ok()) return ReportFailure(kCmd, page.status());
    for (const cas::BlobInfo& info : *page) {
      fmt::print("{}  {:>12}  {} pins\n", info.id.ToHex(), info.size, info.pins);
    }
    if (page->size() < 1000) return kExitOk;
    after = page->back().id;
  }
}

int RunPins(const CasOptions& options, bool pin) {
  const std::string_view kCmd = pin ? "cas pin" : "cas unpin";
  std::vector<cas::ContentId> ids;
  for (const std::string& text : options.inputs) {
    auto id = ParseId(text);
    if (!id.ok()) return ReportUsage(kCmd, id.status());
    ids.push_back(*id);
  }
  auto blobs = OpenCas(options);
  if (!blobs.ok()) return Report(kCmd, blobs.status());
  for (const cas::ContentId& id : ids) {
    auto pins = pin ? (*blobs)->Pin(id) : (*blobs)->Unpin(id);
    if (!pins.ok()) return ReportFailure(kCmd, pins.status());
    fmt::print("{}  {} pins\n", id.ToHex(), *pins);
  }
  return kExitOk;
}

int RunGc(const CasOptions& options) {
  constexpr std::string_view kCmd = "cas gc";
  auto blobs = OpenCas(options);
  if (!blobs.ok()) return Report(kCmd, blobs.status());
  auto gc = (*blobs)->CollectGarbage();
  if (!gc.ok()) return ReportFailure(kCmd, gc.status());
  fmt::print("deleted {} blobs ({} bytes) and {} leftover objects\n", gc->blobs_deleted,
             gc->bytes_freed, gc->leftovers_deleted);
  return kExitOk;
}

int RunSlice(const CasOptions& options) {
  constexpr std::string_view kCmd = "cas slice";
  auto id = ParseId(options.id);
  if (!id.ok()) return ReportUsage(kCmd, id.status());
  auto blobs = OpenCas(options);
  if (!blobs.ok()) return Report(kCmd, blobs.status());
  auto slice = (*blobs)->Slice(*id, options.begin, options.end);
  if (!slice.ok()) return ReportFailure(kCmd, slice.status());
  const Status wrote = WriteOut(STDOUT_FILENO, *slice);
  return wrote.ok() ? kExitOk : ReportFailure(kCmd, wrote);
}

int RunVerifySlice(const CasOptions& options) {
  constexpr std::string_view kCmd = "cas verify-slice";
  auto id = ParseId(options.id);
  if (!id.ok()) return ReportUsage(kCmd, id.status());
  std::string slice;
  std::unique_ptr<char[]> buffer(new char[kPiece]);
  while (true) {
    auto n = ReadFull(STDIN_FILENO, buffer.get(), kPiece, "standard input");
    if (!n.ok()) return ReportFailure(kCmd, n.status());
    slice.append(buffer.get(), *n);
    if (*n < kPiece) break;
  }
  auto bytes = cas::VerifySlice({reinterpret_cast<const uint8_t*>(slice.data()), slice.size()},
                                id->digest, options.begin, options.end);
  if (!bytes.ok()) return ReportFailure(kCmd, bytes.status());
  const Status wrote = WriteOut(STDOUT_FILENO, *bytes);
  return wrote.ok() ? kExitOk : ReportFailure(kCmd, wrote);
}

}  // namespace

Command AddCasCommand(CLI::App& parent) {
  auto options = std::make_shared<CasOptions>();
  CLI::App* cas = parent.add_subcommand(
      "cas", "Content-addressed blobs: put, get, stat, ls, pin, unpin, gc, slice, verify-slice");
  cas->require_subcommand(1);
  const auto store = [&](CLI::App* app) {
    app->add_option("cas", options->url, "cas URL (cas:///dir, cas://?objects=URL&index=URL)")
        ->required();
  };
  CLI::App* put = cas->add_subcommand("put", "Store files (\"-\" or none: stdin); print their ids");
  store(put);
  put->add_option("files", options->inputs, "files to store");
  put->add_flag("--no-pin", options->no_pin, "do not pin: the next gc may delete the blob");
  CLI::App* get = cas->add_subcommand("get", "Write a blob (or --range of it), verified");
  store(get);
  get->add_option("id", options->id, "the blob's id (64 hex digits)")->required();
  get->add_option("--range", options->range,
                  "A-B (bytes A to B, both included, as curl -r), A- or -N");
  get->add_option("-o,--output", options->output, "write to FILE instead of stdout");
  get->add_flag("--no-verify", options->no_verify, "skip the hash tree (faster, unchecked)");
  CLI::App* stat = cas->add_subcommand("stat", "Print a blob's size, pins and creation time");
  store(stat);
  stat->add_option("id", options->id, "the blob's id")->required();
  CLI::App* ls = cas->add_subcommand("ls", "List every blob: id, size, pins");
  store(ls);
  CLI::App* pin = cas->add_subcommand("pin", "Add a pin to each blob");
  store(pin);
  pin->add_option("ids", options->inputs, "blob ids")->required();
  CLI::App* unpin = cas->add_subcommand("unpin", "Take a pin from each blob");
  store(unpin);
  unpin->add_option("ids", options->inputs, "blob ids")->required();
  CLI::App* gc = cas->add_subcommand("gc", "Delete unpinned blobs and what crashes left");
  store(gc);
  CLI::App* slice = cas->add_subcommand("slice", "Write the verified slice of bytes [BEGIN, END)");
  store(slice);
  CLI::App* verify = cas->add_subcommand(
      "verify-slice", "Check a slice from stdin against ID alone; write its bytes if it holds");
  for (CLI::App* app : {slice, verify}) {
    app->add_option("id", options->id, "the blob's id")->required();
    app->add_option("begin", options->begin, "first byte")->required();
    app->add_option("end", options->end, "end byte (exclusive)")->required();
  }
  return Command{cas, [=] {
                   if (put->parsed()) return RunPut(*options);
                   if (get->parsed()) return RunGet(*options);
                   if (stat->parsed()) return RunStat(*options);
                   if (ls->parsed()) return RunLs(*options);
                   if (pin->parsed()) return RunPins(*options, true);
                   if (unpin->parsed()) return RunPins(*options, false);
                   if (gc->parsed()) return RunGc(*options);
                   if (slice->parsed()) return RunSlice(*options);
                   return RunVerifySlice(*options);
                 }};
}

}  // namespace depot::cli
