// Tree copies: `depot sync SRC DST` and `depot cp --recursive SRC DST`. Both copy everything
// under SRC (a directory, or a prefix of any store) to the same relative names under DST (a
// directory, made as needed, or a prefix of any store), each file through the path a single
// `depot cp` takes (transfer.h). sync copies only what is missing or differs at DST and, with
// --delete, removes from DST what SRC does not have.
//
// What "differs" means, as aws s3 sync and rclone decide it:
//   by default   the sizes differ, or the source was modified after the destination (in whole
//                seconds). An object's time is when it was stored; a file that a tree copy writes
//                takes its source's time, so a second sync finds nothing to do.
//   --checksum   the sizes differ, or the MD5s of the contents do: an object's ETag when it is
//                32 hex digits (a single-part upload's MD5), otherwise what reading and hashing
//                the object gives; a file is read and hashed. An ETag of that form that is no
//                MD5 (a local store with random ETags, S3's encrypted objects) makes the file
//                look changed every time: it is copied again, never skipped.
// Filters (--exclude GLOB, --include GLOB) match a relative name ("photos/2026/a.jpg") with
// fnmatch, '*' crossing '/'. In the order given, the last that matches decides; a name that none
// matches is included. A name filtered out is neither copied nor deleted.
//
// Files move `transfers` at a time with one progress line for the whole transfer (on a terminal).
// A file that fails does not stop the others: at the end come a summary (standard output), then
// every failure (standard error), and the exit status is 1. Deletions come after the copies and
// are skipped when any copy failed, and --delete from a source that holds nothing (a mistyped
// prefix, say) is refused, so that a failing source never empties a destination.
// An object whose key cannot be a file name under a directory DST ("a/../b", "a//b") is a
// failure naming the key; a zero-byte "dir/" marker (made by S3 consoles) is passed over.
// --dryrun prints what would be copied and deleted ("(dryrun) copy: A -> B"), changing nothing.
//
// Ctrl-C (or SIGTERM): uploads from files are aborted, leaving nothing on the store, no further
// file is started, and the exit status is 128 + the signal; other copies end at once, as `depot
// cp` does.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "interrupts.h"
#include "location.h"
#include "transfer.h"

namespace depot::cli {

struct TreeFilter {
  bool include = false;  // --include; otherwise --exclude
  std::string glob;
};

// Whether `name` (relative, '/'-separated) passes `filters`.
bool PassesFilters(std::span<const TreeFilter> filters, std::string_view name);

struct TreeCopyOptions {
  bool changed_only = false;  // sync: leave what does not differ
  bool checksum = false;      // compare contents, not times
  bool delete_extra = false;  // remove from DST what SRC does not have
  bool dryrun = false;
  bool verbose = false;  // a line for each file copied or deleted
  std::vector<TreeFilter> filters;
  int transfers = 4;  // files at once
  TransferOptions transfer;
};

// Copies the tree `source` to `destination` as described above; `command` names it in messages
// ("sync", "cp"). Returns the exit status. A source that is neither a store location nor an
// existing directory, or a destination that is an existing file, is a usage error.
int CopyTree(std::string_view command, const Location& source, const Location& destination,
             const TreeCopyOptions& options, Interrupts& interrupts);

// The options every tree copy takes (--exclude, --include, --dryrun, --transfers), added to `app`
// for `options`. After parsing, Filters() gives the filters in the order they were given.
class TreeFlags {
 public:
  TreeFlags(CLI::App& app, TreeCopyOptions& options);
  std::vector<TreeFilter> Filters() const;

 private:
  const CLI::App& app_;
  std::vector<std::string> exclude_;
  std::vector<std::string> include_;
  CLI::Option* exclude_option_ = nullptr;
  CLI::Option* include_option_ = nullptr;
};

}  // namespace depot::cli
