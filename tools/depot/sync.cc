#include "sync.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "depot/core/md5.h"
#include "depot/core/mutex.h"
#include "depot/object/helpers.h"
#include "depot/object/key.h"
#include "progress.h"

namespace depot::cli {
namespace {

namespace fs = std::filesystem;

// One file or object of a tree, by its name relative to the tree's root.
struct Entry {
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // an object's: when it was stored
  std::string etag;      // objects only, as the store gives it
};
using Tree = std::map<std::string, Entry, std::less<>>;

// The key prefix a store location stands for: "" (the whole store) or ending with '/'.
std::string PrefixOf(const Location& loc) {
  if (loc.key.empty() || loc.key.back() == '/') return loc.key;
  return loc.key + '/';
}

// How a location and a relative name read together in messages.
std::string Joined(const Location& loc, std::string_view name) {
  if (!loc.text.empty() && loc.text.back() == '/') return fmt::format("{}{}", loc.text, name);
  return fmt::format("{}/{}", loc.text, name);
}

int64_t ToNanos(object::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int64_t Seconds(int64_t ns) {
  return ns >= 0 ? ns / 1'000'000'000 : -((-ns + 999'999'999) / 1'000'000'000);
}

Result<Tree> ListStoreTree(const Location& loc, const Context& ctx) {
  const std::string prefix = PrefixOf(loc);
  Tree tree;
  object::ListPager pages(*loc.store, {.prefix = prefix}, ctx);
  while (auto page = pages.Next()) {
    if (!page->ok()) return page->status().WithContext(fmt::format("listing {}", loc.text));
    for (const object::ObjectMeta& meta : (*page)->objects) {
      std::string name = meta.key.substr(prefix.size());
      if (name.empty()) continue;  // the prefix's own marker object
      tree.emplace(std::move(name), Entry{meta.size, ToNanos(meta.last_modified), meta.etag});
    }
  }
  return tree;
}

// The regular files under a directory (symbolic links to files included, as aws and rclone
// take them); a directory that does not exist is an empty tree.
Result<Tree> ListDirectoryTree(const Location& loc) {
  Tree tree;
  std::error_code ec;
  if (!fs::exists(loc.path, ec)) return tree;
  for (fs::recursive_directory_iterator it(loc.path, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) {
      return ErrnoToStatus(errno, fmt::format("stat {}", it->path().string()));
    }
    tree.emplace(
        it->path().lexically_relative(loc.path).generic_string(),
        Entry{static_cast<uint64_t>(st.st_size),
              static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec, ""});
  }
  if (ec) return ErrnoToStatus(ec.value(), fmt::format("listing {}", loc.text));
  return tree;
}

Result<Tree> ListTree(const Location& loc, const Context& ctx) {
  return loc.is_store() ? ListStoreTree(loc, ctx) : ListDirectoryTree(loc);
}

// Whether a key's relative name can be a file beneath a directory: no empty, "." or ".."
// segment, so that it never resolves outside it.
bool IsFileName(std::string_view name) {
  size_t start = 0;
  while (start <= name.size()) {
    const size_t slash = std::min(name.find('/', start), name.size());
    const std::string_view segment = name.substr(start, slash - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    start = slash + 1;
  }
  return true;
}

// The MD5 (lower-case hex) of a file's or an object's contents; an object's ETag when that is
// one (32 hex digits: a single-part upload).
Result<std::string> ContentMd5(const Location& loc, std::string_view name, const Entry& entry,
                               const TransferOptions& transfer) {
  Md5 md5;
  if (loc.is_store()) {
    std::string etag = entry.etag;
    etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
    if (etag.size() == 32 && std::all_of(etag.begin(), etag.end(), [](char c) {
          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        })) {
      return etag;
    }
    DEPOT_RETURN_IF_ERROR(StreamObject(*loc.store, PrefixOf(loc) + std::string(name), transfer,
                                       nullptr, [&](const char* data, size_t size) {
                                         md5.Update(std::string_view(data, size));
                                         return Status::Ok();
                                       }));
    return HexEncode(md5.Finish());
  }
  DEPOT_RETURN_IF_ERROR(
      StreamFile(loc.path / fs::path(std::string(name)), [&](const char* data, size_t size) {
        md5.Update(std::string_view(data, size));
        return Status::Ok();
      }));
  return HexEncode(md5.Finish());
}

Status SetModificationTime(const fs::path& path, int64_t mtime_ns) {
  const timespec times[2] = {{0, UTIME_OMIT},
                             {static_cast<time_t>(Seconds(mtime_ns)),
                              static_cast<long>(mtime_ns - Seconds(mtime_ns) * 1'000'000'000)}};
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
    return ErrnoToStatus(errno, fmt::format("setting the modification time of {}", path.string()));
  }
  return Status::Ok();
}

enum class Action { kCopy, kCompare };

struct Task {
  std::string name;
  Entry source;
  std::optional<Entry> existing;  // at the destination
  Action action = Action::kCopy;
};

struct Failure {
  std::string what;
  Status status;
};

class TreeCopy {
 public:
  TreeCopy(std::string_view command, const Location& source, const Location& destination,
           const TreeCopyOptions& options, Interrupts& interrupts)
      : command_(command),
        source_(source),
        destination_(destination),
        options_(options),
        interrupts_(interrupts),
        uploads_cancel_(!source.is_store() && destination.is_store()) {}

  int Run();

 private:
  // Decides what each source file needs; fills tasks_, doomed_, unchanged_, failures_.
  void Plan(const Tree& source, const Tree& destination);
  void Work(Progress& progress);
  Status Copy(const Task& task, Progress& progress);
  // Whether the task's two sides hold the same bytes (--checksum).
  Result<bool> SameContents(const Task& task) const;
  void DeleteExtra();
  void Say(std::string_view line);
  void Fail(std::string what, Status status);
  std::string Summary(double seconds) const;
  Context ctx() const { return uploads_cancel_ ? Context(interrupts_.token()) : Context(); }

  const std::string command_;
  const Location& source_;
  const Location& destination_;
  const TreeCopyOptions& options_;
  Interrupts& interrupts_;
  const bool uploads_cancel_;  // file -> store: an interrupted upload is aborted

  std::vector<Task> tasks_;
  std::vector<std::string> doomed_;  // destination names to delete
  std::atomic<size_t> next_{0};
  std::atomic<uint64_t> copied_{0};
  std::atomic<uint64_t> copied_bytes_{0};
  std::atomic<uint64_t> unchanged_{0};
  uint64_t deleted_ = 0;
  uint64_t skipped_markers_ = 0;
  Mutex mu_;
  std::vector<Failure> failures_ DEPOT_GUARDED_BY(mu_);
};

void TreeCopy::Say(std::string_view line) {
  MutexLock lock(mu_);
  fmt::print("{}{}\n", options_.dryrun ? "(dryrun) " : "", line);
  std::fflush(stdout);
}

void TreeCopy::Fail(std::string what, Status status) {
  MutexLock lock(mu_);
  failures_.push_back({std::move(what), std::move(status)});
}

void TreeCopy::Plan(const Tree& source, const Tree& destination) {
  for (const auto& [name, entry] : source) {
    if (!PassesFilters(options_.filters, name)) continue;
    if (!destination_.is_store() && !IsFileName(name)) {
      if (name.back() == '/' && entry.size == 0) {
        ++skipped_markers_;
      } else {
        Fail(fmt::format("{} -> {}", Joined(source_, name), destination_.text),
             InvalidArgumentError(fmt::format("key {} cannot be a file name beneath a directory",
                                              object::QuoteKey(PrefixOf(source_) + name))));
      }
      continue;
    }
    Task task{name, entry, std::nullopt, Action::kCopy};
    if (auto it = destination.find(name); it != destination.end()) task.existing = it->second;
    if (options_.changed_only && task.existing && task.existing->size == entry.size) {
      if (options_.checksum) {
        task.action = Action::kCompare;
      } else if (Seconds(entry.mtime_ns) <= Seconds(task.existing->mtime_ns)) {
        ++unchanged_;
        continue;
      }
    }
    tasks_.push_back(std::move(task));
  }
  if (!options_.delete_extra) return;
  for (const auto& [name, entry] : destination) {
    if (!source.contains(name) && PassesFilters(options_.filters, name)) doomed_.push_back(name);
  }
}

Result<bool> TreeCopy::SameContents(const Task& task) const {
  DEPOT_ASSIGN_OR_RETURN(std::string a,
                         ContentMd5(source_, task.name, task.source, options_.transfer));
  DEPOT_ASSIGN_OR_RETURN(std::string b,
                         ContentMd5(destination_, task.name, *task.existing, options_.transfer));
  return a == b;
}

Status TreeCopy::Copy(const Task& task, Progress& progress) {
  const TransferOptions& transfer = options_.transfer;
  const std::string from_key = PrefixOf(source_) + task.name;
  const std::string to_key = PrefixOf(destination_) + task.name;
  const fs::path from_path = source_.path / fs::path(task.name);
  const fs::path to_path = destination_.path / fs::path(task.name);
  if (destination_.is_store()) DEPOT_RETURN_IF_ERROR(object::ValidateKey(to_key));
  if (!destination_.is_store()) {
    std::error_code ec;
    fs::create_directories(to_path.parent_path(), ec);
    if (ec) {
      return ErrnoToStatus(ec.value(),
                           fmt::format("making the directory {}", to_path.parent_path().string()));
    }
  }
  if (source_.is_store() && destination_.is_store()) {
    // A listing carries no content type or user metadata: the copy keeps them.
    DEPOT_ASSIGN_OR_RETURN(object::ObjectMeta meta, source_.store->Head(from_key));
    return CopyObject(*source_.store, from_key, meta, *destination_.store, to_key, transfer,
                      &progress)
        .status();
  }
  if (destination_.is_store()) {
    return UploadFile(*destination_.store, to_key, from_path, transfer, &progress, ctx()).status();
  }
  if (source_.is_store()) {
    DEPOT_RETURN_IF_ERROR(DownloadFile(*source_.store, from_key, to_path, transfer, &progress));
  } else {
    DEPOT_RETURN_IF_ERROR(CopyLocalFile(from_path, to_path, &progress));
  }
  return SetModificationTime(to_path, task.source.mtime_ns);
}

void TreeCopy::Work(Progress& progress) {
  for (;;) {
    const size_t i = next_.fetch_add(1);
    if (i >= tasks_.size() || interrupts_.signal() != 0) return;
    const Task& task = tasks_[i];
    const std::string what =
        fmt::format("{} -> {}", Joined(source_, task.name), Joined(destination_, task.name));
    if (task.action == Action::kCompare) {
      Result<bool> same = SameContents(task);
      if (!same.ok()) {
        Fail(what, same.status());
        continue;
      }
      if (*same) {
        progress.Add(task.source.size);
        ++unchanged_;
        continue;
      }
    }
    if (options_.dryrun) {
      Say(fmt::format("copy: {}", what));
      ++copied_;
      copied_bytes_ += task.source.size;
      continue;
    }
    Status status = Copy(task, progress);
    if (!status.ok()) {
      if (interrupts_.signal() == 0) Fail(what, std::move(status));
      continue;
    }
    ++copied_;
    copied_bytes_ += task.source.size;
    if (options_.verbose) Say(fmt::format("copy: {}", what));
  }
}

void TreeCopy::DeleteExtra() {
  if (doomed_.empty()) return;
  {
    MutexLock lock(mu_);
    if (!failures_.empty()) {
      fmt::print(stderr, "depot: {}: not deleting {} extra file(s) from {}: some copies failed\n",
                 command_, doomed_.size(), destination_.text);
      return;
    }
  }
  if (options_.dryrun || options_.verbose) {
    for (const std::string& name : doomed_)
      Say(fmt::format("delete: {}", Joined(destination_, name)));
  }
  if (options_.dryrun) {
    deleted_ = doomed_.size();
    return;
  }
  if (destination_.is_store()) {
    std::vector<std::string> keys;
    for (const std::string& name : doomed_) keys.push_back(PrefixOf(destination_) + name);
    const std::vector<Status> results = destination_.store->DeleteMany(keys);
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok() || results[i].code() == StatusCode::kNotFound) {
        ++deleted_;
      } else {
        Fail(fmt::format("delete {}", Joined(destination_, doomed_[i])), results[i]);
      }
    }
    return;
  }
  for (const std::string& name : doomed_) {
    const fs::path path = destination_.path / fs::path(name);
    if (::unlink(path.c_str()) == 0 || errno == ENOENT) {
      ++deleted_;
    } else {
      Fail(fmt::format("delete {}", Joined(destination_, name)),
           ErrnoToStatus(errno, fmt::format("unlink {}", path.string())));
    }
  }
}

std::string TreeCopy::Summary(double seconds) const {
  std::string out =
      fmt::format("{}{}: {} {} ({})", command_, options_.dryrun ? " (dryrun)" : "", copied_.load(),
                  options_.dryrun ? "to copy" : "copied", FormatBytes(copied_bytes_.load()));
  if (options_.changed_only) out += fmt::format(", {} unchanged", unchanged_.load());
  if (options_.delete_extra) {
    out += fmt::format(", {} {}", deleted_, options_.dryrun ? "to delete" : "deleted");
  }
  if (skipped_markers_ != 0)
    out += fmt::format(", {} folder marker(s) passed over", skipped_markers_);
  if (!options_.dryrun) {
    out += fmt::format(" in {:.2f} s ({})", seconds, FormatRate(copied_bytes_.load(), seconds));
  }
  return out;
}

int TreeCopy::Run() {
  if (!uploads_cancel_) interrupts_.ExitOnSignal();
  Stopwatch stopwatch;
  Result<Tree> source = ListTree(source_, ctx());
  if (!source.ok()) return ReportFailure(command_, source.status());
  if (options_.delete_extra && source->empty()) {
    // A mistyped prefix lists nothing: never read that as "delete everything".
    return ReportFailure(command_, FailedPreconditionError(fmt::format(
                                       "{} holds nothing; --delete would empty {}, so nothing was "
                                       "done (remove it with `depot rm --recursive` instead)",
                                       source_.text, destination_.text)));
  }
  Tree destination;
  if (options_.changed_only || options_.delete_extra) {
    Result<Tree> listed = ListTree(destination_, ctx());
    if (!listed.ok()) return ReportFailure(command_, listed.status());
    destination = *std::move(listed);
  }
  Plan(*source, destination);

  uint64_t total = 0;
  for (const Task& task : tasks_) total += task.source.size;
  {
    Progress progress(std::string(command_), total, StderrIsTerminal() && !options_.dryrun);
    const size_t workers =
        std::min<size_t>(static_cast<size_t>(std::max(options_.transfers, 1)), tasks_.size());
    std::vector<std::thread> threads;
    for (size_t i = 1; i < workers; ++i) threads.emplace_back([&] { Work(progress); });
    if (workers > 0) Work(progress);
    for (std::thread& thread : threads) thread.join();
    progress.Finish();
  }
  if (interrupts_.signal() != 0) {
    fmt::print(stderr, "depot: {}: interrupted after {} of {} file(s); the rest were not started\n",
               command_, copied_.load(), tasks_.size());
    return interrupts_.exit_code();
  }
  DeleteExtra();

  fmt::print("{}\n", Summary(stopwatch.Seconds()));
  MutexLock lock(mu_);
  for (const Failure& failure : failures_) {
    fmt::print(stderr, "depot: {}: failed: {}: {}\n", command_, failure.what,
               failure.status.ToString());
  }
  if (failures_.empty()) return kExitOk;
  fmt::print(stderr, "depot: {}: {} file(s) failed\n", command_, failures_.size());
  return kExitFailed;
}

}  // namespace

bool PassesFilters(std::span<const TreeFilter> filters, std::string_view name) {
  const std::string text(name);
  bool included = true;
  for (const TreeFilter& filter : filters) {
    if (::fnmatch(filter.glob.c_str(), text.c_str(), 0) == 0) included = filter.include;
  }
  return included;
}

int CopyTree(std::string_view command, const Location& source, const Location& destination,
             const TreeCopyOptions& options, Interrupts& interrupts) {
  std::error_code ec;
  if (!source.is_store() && !fs::is_directory(source.path, ec)) {
    return ReportUsage(command, InvalidArgumentError(fmt::format(
                                    "\"{}\" is not a directory or a store location", source.text)));
  }
  if (!destination.is_store() && fs::exists(destination.path, ec) &&
      !fs::is_directory(destination.path, ec)) {
    return ReportUsage(command, InvalidArgumentError(fmt::format(
                                    "\"{}\" is a file, not a directory", destination.text)));
  }
  return TreeCopy(command, source, destination, options, interrupts).Run();
}

TreeFlags::TreeFlags(CLI::App& app, TreeCopyOptions& options) : app_(app) {
  exclude_option_ = app.add_option("--exclude", exclude_,
                                   "Leave out relative names matching GLOB ('*' crosses '/'); "
                                   "repeatable, the last --exclude/--include that matches decides")
                        ->type_name("GLOB")
                        ->allow_extra_args(false);
  include_option_ = app.add_option("--include", include_,
                                   "Take back names matching GLOB that an earlier "
                                   "--exclude left out")
                        ->type_name("GLOB")
                        ->allow_extra_args(false);
  app.add_flag("--dryrun", options.dryrun,
               "Print what would be copied and deleted; change nothing");
  app.add_option("--transfers", options.transfers, "Files copied at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
}

std::vector<TreeFilter> TreeFlags::Filters() const {
  std::vector<TreeFilter> filters;
  size_t excludes = 0;
  size_t includes = 0;
  for (const CLI::Option* option : app_.parse_order()) {
    if (option == exclude_option_ && excludes < exclude_.size()) {
      filters.push_back({false, exclude_[excludes++]});
    } else if (option == include_option_ && includes < include_.size()) {
      filters.push_back({true, include_[includes++]});
    }
  }
  return filters;
}

}  // namespace depot::cli
