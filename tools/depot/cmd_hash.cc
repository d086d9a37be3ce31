// depot hash [LOCATION...] [--length N] [--no-names] [--raw] [--keyed] [--derive-key CONTEXT]
// [--num-threads N]
// depot hash --check [--quiet] [CHECKFILE...]
// BLAKE3 of files, objects (any location: s3://, mem://, a local store; streamed) and standard
// input ("-", or no argument), printed as b3sum prints it: "HEX  NAME", a name holding a
// backslash or a newline escaped ("\\", "\n") and its line started with a backslash. --check
// reads such lines and checks each name ("NAME: OK" / "NAME: FAILED"), as `b3sum --check`.
// Exit codes as b3sum's: 0 when every input was hashed (every check passed), 1 otherwise (an
// unreadable input is reported and the others still hashed), 2 for a usage error.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "depot/core/blake3/blake3.h"
#include "depot/core/executor.h"
#include "depot/core/unique_fd.h"
#include "depot/object/key.h"
#include "location.h"

namespace depot::cli {
namespace {

constexpr std::string_view kCmd = "hash";
constexpr size_t kReadPiece = 1 << 20;

struct HashOptions {
  std::vector<std::string> inputs;
  bool check = false;
  bool quiet = false;
  bool no_names = false;
  bool raw = false;
  bool keyed = false;
  std::string derive_key;
  size_t length = blake3::kOutLen;
  size_t threads = 0;  // 0: one per core
};

// Calls `take` with each piece read from `fd` (at most `piece` bytes), until the end or until
// `take` returns false; errors name `what`.
Status ReadPieces(int fd, std::string_view what, size_t piece,
                  const std::function<bool(std::string_view)>& take) {
  std::unique_ptr<char[]> buffer(new char[piece]);
  while (true) {
    const ssize_t n = ::read(fd, buffer.get(), piece);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, fmt::format("read {}", what));
    if (n == 0 || !take(std::string_view(buffer.get(), static_cast<size_t>(n)))) {
      return Status::Ok();
    }
  }
}

Status HashFd(int fd, std::string_view what, blake3::Hasher& hasher) {
  return ReadPieces(fd, what, kReadPiece, [&](std::string_view data) {
    hasher.Update(data);
    return true;
  });
}

// Up to out.size() bytes from `fd`, fewer only at its end.
Result<size_t> ReadFull(int fd, std::span<char> out, std::string_view what) {
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, fmt::format("read {}", what));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

// A plain file. With `executor`, read in large pieces, the next read (a task) overlapping the
// hashing of the last one on the executor's threads; without, read and hashed here. Reading beats
// mapping here: a mapped file's page faults cost more than the copy (measured: BENCHMARKS.md).
Status HashFile(const std::filesystem::path& path, const std::string& what, Executor* executor,
                blake3::Hasher& hasher) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, fmt::format("open {}", what));
  if (executor == nullptr) return HashFd(fd.get(), what, hasher);
  constexpr size_t kPiece = 16 << 20;
  std::vector<char> buffers[2] = {std::vector<char>(kPiece), std::vector<char>(kPiece)};
  const auto read_into = [&](int which) {
    return executor->Submit(
        [&, which] { return ReadFull(fd.get(), std::span<char>(buffers[which]), what); });
  };
  std::future<Result<size_t>> pending = read_into(0);
  for (int which = 0;; which ^= 1) {
    DEPOT_ASSIGN_OR_RETURN(const size_t got, pending.get());
    if (got == 0) return Status::Ok();
    if (got == kPiece) pending = read_into(which ^ 1);
    hasher.UpdateParallel(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(buffers[which].data()), got),
        *executor);
    if (got < kPiece) return Status::Ok();
  }
}

// The hash of one input: "-" (standard input), a plain file, or an object, streamed.
Status HashInput(const std::string& input, LocationResolver& resolver, Executor* executor,
                 blake3::Hasher& hasher) {
  if (input == "-") return HashFd(STDIN_FILENO, "standard input", hasher);
  DEPOT_ASSIGN_OR_RETURN(Location loc, resolver.Resolve(input));
  if (!loc.is_store()) return HashFile(loc.path, input, executor, hasher);
  if (loc.key.empty() || loc.key.back() == '/') {
    return InvalidArgumentError(
        fmt::format("\"{}\" names a store or a prefix, not an object", input));
  }
  DEPOT_RETURN_IF_ERROR(object::ValidateKey(loc.key).WithContext(input));
  return loc.store
      ->GetStream(
          loc.key, {}, [](const object::GetResult&) { return Status::Ok(); },
          [&](std::string_view piece) {
            hasher.Update(piece);
            return Status::Ok();
          })
      .WithContext(input);
}

// b3sum's escaping of a name: true when it needed any (the line then starts with '\').
bool Escape(std::string_view name, std::string& out) {
  bool escaped = false;
  for (char c : name) {
    if (c == '\\') {
      out += "\\\\";
      escaped = true;
    } else if (c == '\n') {
      out += "\\n";
      escaped = true;
    } else {
      out += c;
    }
  }
  return escaped;
}

// The reverse; nullopt for a backslash that starts no escape.
std::optional<std::string> Unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (i + 1 == text.size()) return std::nullopt;
    const char next = text[++i];
    if (next == '\\') {
      out += '\\';
    } else if (next == 'n') {
      out += '\n';
    } else {
      return std::nullopt;
    }
  }
  return out;
}

blake3::Hasher NewHasher(const HashOptions& options, const std::optional<blake3::Key>& key) {
  if (key) return blake3::Hasher::Keyed(*key);
  if (!options.derive_key.empty()) return blake3::Hasher::DeriveKey(options.derive_key);
  return blake3::Hasher();
}

int RunHashes(const HashOptions& options, const std::optional<blake3::Key>& key,
              Executor* executor) {
  LocationResolver resolver;
  bool failed = false;
  for (const std::string& input : options.inputs) {
    blake3::Hasher hasher = NewHasher(options, key);
    if (Status hashed = HashInput(input, resolver, executor, hasher); !hashed.ok()) {
      ReportFailure(kCmd, hashed);
      failed = true;
      continue;
    }
    std::vector<uint8_t> out(options.length);
    hasher.Finalize(out);
    if (options.raw) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      continue;
    }
    std::string line;
    std::string name;
    const bool escaped = !options.no_names && Escape(input, name);
    if (escaped) line += '\\';
    line += blake3::ToHex(out);
    if (!options.no_names) line += "  " + name;
    fmt::print("{}\n", line);
  }
  std::fflush(stdout);
  return failed ? kExitFailed : kExitOk;
}

// Checks the lines of one checkfile; false if any failed or could not be read.
bool CheckFile(const std::string& checkfile, const HashOptions& options,
               const std::optional<blake3::Key>& key, LocationResolver& resolver,
               Executor* executor) {
  std::string text;
  {
    UniqueFd fd(checkfile == "-" ? ::dup(STDIN_FILENO)
                                 : ::open(checkfile.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      ReportFailure(kCmd, ErrnoToStatus(errno, fmt::format("open {}", checkfile)));
      return false;
    }
    Status read = ReadPieces(fd.get(), checkfile, 65536, [&](std::string_view data) {
      text.append(data);
      return true;
    });
    if (!read.ok()) {
      ReportFailure(kCmd, read);
      return false;
    }
  }
  bool all_ok = true;
  size_t line_number = 0;
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    std::string_view line(text.data() + at, (end == std::string::npos ? text.size() : end) - at);
    at = end == std::string::npos ? text.size() : end + 1;
    ++line_number;
    const auto malformed = [&](std::string_view why) {
      ReportFailure(
          kCmd, InvalidArgumentError(fmt::format("{} line {}: {}", checkfile, line_number, why)));
      all_ok = false;
    };
    const bool escaped = line.starts_with('\\');
    if (escaped) line.remove_prefix(1);
    constexpr size_t kHex = 2 * blake3::kOutLen;
    if (line.empty()) {
      malformed("an empty line");
      continue;
    }
    if (line.size() < kHex + 3 || line.substr(kHex, 2) != "  ") {
      malformed("not \"<64 hex digits>  <name>\"");
      continue;
    }
    const std::string_view hex = line.substr(0, kHex);
    if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
      malformed(fmt::format("\"{}\" is not hex", hex));
      continue;
    }
    const std::string_view shown = line.substr(kHex + 2);
    std::optional<std::string> name =
        escaped ? Unescape(shown) : std::optional<std::string>(std::string(shown));
    if (!name) {
      malformed(fmt::format("bad escape in the name \"{}\"", shown));
      continue;
    }
    std::string printed = escaped ? "\\" + std::string(shown) : std::string(shown);
    blake3::Hasher hasher = NewHasher(options, key);
    Status hashed = HashInput(*name, resolver, executor, hasher);
    if (!hashed.ok()) {
      fmt::print("{}: FAILED ({})\n", printed, hashed.message());
      all_ok = false;
      continue;
    }
    std::string want(hex);
    for (char& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (blake3::ToHex(hasher.Finalize()) != want) {
      fmt::print("{}: FAILED\n", printed);
      all_ok = false;
    } else if (!options.quiet) {
      fmt::print("{}: OK\n", printed);
    }
  }
  std::fflush(stdout);
  return all_ok;
}

int RunHash(HashOptions options) {
  if (options.inputs.empty()) options.inputs.push_back("-");
  if (options.quiet && !options.check) {
    return ReportUsage(kCmd, InvalidArgumentError("--quiet goes with --check"));
  }
  if (options.keyed && !options.derive_key.empty()) {
    return ReportUsage(kCmd, InvalidArgumentError("--keyed and --derive-key exclude each other"));
  }
  if (options.raw && options.inputs.size() != 1) {
    return ReportUsage(kCmd, InvalidArgumentError("--raw takes a single input"));
  }
  if (options.check && (options.raw || options.no_names || options.length != blake3::kOutLen)) {
    return ReportUsage(kCmd,
                       InvalidArgumentError("--check takes no --raw, --no-names or --length"));
  }
  if (options.length == 0) {
    return ReportUsage(kCmd, InvalidArgumentError("--length must be at least 1"));
  }
  std::optional<blake3::Key> key;
  if (options.keyed) {
    for (const std::string& input : options.inputs) {
      if (input == "-") {
        return ReportUsage(kCmd, InvalidArgumentError(
                                     "--keyed reads the key from standard input: no input \"-\""));
      }
    }
    std::string bytes;
    Status read = ReadPieces(STDIN_FILENO, "standard input", 64, [&](std::string_view data) {
      bytes.append(data);
      return bytes.size() <= blake3::kKeyLen;
    });
    if (!read.ok()) return ReportFailure(kCmd, read);
    if (bytes.size() != blake3::kKeyLen) {
      return ReportUsage(kCmd, InvalidArgumentError(fmt::format(
                                   "--keyed: standard input must hold exactly {} bytes of key, "
                                   "not {}{}",
                                   blake3::kKeyLen, bytes.size(),
                                   bytes.size() > blake3::kKeyLen ? " or more" : "")));
    }
    key.emplace();
    std::copy(bytes.begin(), bytes.end(), key->begin());
  }
  // Threads for large files: --num-threads, else one per core; 1 hashes on this thread.
  const size_t threads =
      options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  std::unique_ptr<Executor> executor;
  if (threads > 1) executor = std::make_unique<Executor>(threads);
  if (!options.check) return RunHashes(options, key, executor.get());
  LocationResolver resolver;
  bool all_ok = true;
  for (const std::string& checkfile : options.inputs) {
    all_ok = CheckFile(checkfile, options, key, resolver, executor.get()) && all_ok;
  }
  return all_ok ? kExitOk : kExitFailed;
}

}  // namespace

Command AddHashCommand(CLI::App& parent) {
  auto options = std::make_shared<HashOptions>();
  CLI::App* app = parent.add_subcommand(
      "hash", "BLAKE3 of files, objects or standard input, in b3sum's format (--check too)");
  app->add_option("INPUT", options->inputs,
                  "Files or objects to hash (\"-\" or none: standard input); with --check, "
                  "files of \"HEX  NAME\" lines");
  app->add_flag("-c,--check", options->check, "Check the hashes listed in the INPUT files");
  app->add_flag("--quiet", options->quiet, "With --check: print only the failures");
  app->add_option("-l,--length", options->length, "Output bytes, before hex (default 32)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30));
  app->add_flag("--no-names", options->no_names, "Print the hashes only");
  app->add_option("--num-threads", options->threads,
                  "Threads hashing a large file (default: one per core; 1: no others)")
      ->check(CLI::Range(size_t{0}, size_t{1024}));
  app->add_flag("--raw", options->raw, "Write the raw output bytes (one input)");
  app->add_flag("--keyed", options->keyed, "keyed_hash, the 32-byte key read from standard input");
  app->add_option("--derive-key", options->derive_key, "derive_key with this context string")
      ->type_name("CONTEXT");
  return {app, [options] { return RunHash(*options); }};
}

}  // namespace depot::cli
