// The local-directory object store: on-disk layout and crash-consistency protocol.
//
// LAYOUT (format 2)
//   <root>/a/b/c                   the object "a/b/c": a regular file holding exactly its bytes,
//                                  with its metadata in the extended attribute "user.depot"
//   <root>/a/b/.depot-self         the object "a/b" when "a/b" is also a directory of other keys
//   <root>/.depot/format           the format version, "2\n" (FORMAT)
//   <root>/.depot/lock             the commit lock (flock LOCK_EX around check-and-rename)
//   <root>/.depot/open.lock        flock LOCK_SH by every open store (see CLEANUP)
//   <root>/.depot/uploads/<id>/    a multipart upload: upload.json and part files "1", "2", ...
//   .depot-tmp-<32 hex>            staging names: files beside their destination while a write is
//                                  in progress; directories being built (uploads, MAKING ROOM)
//
// KEYS. Every key S3 accepts (1 to 1024 bytes of UTF-8 without NUL) is stored. A key is split at
// each '/' into segments (so "e/" is "e" and "", and "//d" is "", "" and "d"); every segment but
// the last names a directory, the last names the object's file, each by its segment's name:
//   - the segment itself, when it can be a file name: not empty, not "." or "..", not starting
//     with ".depot", at most 255 bytes. Plain keys are plain paths, browsable as files;
//   - else ".depot-k-" + the segment, when that fits in 255 bytes ("" -> ".depot-k-",
//     ".." -> ".depot-k-..", ".depot" -> ".depot-k-.depot");
//   - else ".depot-h-" + the BLAKE3 hash of the segment in hex, and the entry (file or directory)
//     carries the segment in the extended attribute "user.depot.n.<that hex>". A directory gets it
//     right after its mkdir (each put through it checks, so a crash in between is mended); a file
//     before it takes the name.
// No segment becomes ".", ".." or a name with '/', so nothing resolves outside the root, and paths
// are opened with RESOLVE_BENEATH besides. A listing decodes each name and skips any that is not
// the canonical name of what it decodes to (the store's own files, a hand-made ".depot-k-abc").
// An object whose name is also a directory of other keys ("foo/bar" beside "foo/bar/xyzzy") lives
// in that directory as ".depot-self" (see MAKING ROOM).
//
// FORMAT. Format 1 (no .depot/format) refused the keys that need ".depot-k-", ".depot-h-" or
// ".depot-self", so its layout is format 2's for the keys it held: Open reads it as it is and
// writes .depot/format (staging file, fsync, rename, fsync). A store of a later format is refused.
//
// METADATA is the JSON object {"etag", "size", "content_type"?, "headers"?, "user_metadata"?,
// "checksum"?, "parts"?, "crc32c"?} ("headers": Cache-Control, Content-Disposition,
// Content-Encoding, Content-Language, Expires by their HTTP names, the given ones only; "checksum":
// {"algorithm", "value", "composite"?}; "parts": see PARTS; stores written before these have none)
// in the extended attribute "user.depot" of the data file (and {"etag", "size", "checksum"?} on
// part files, the checksum's value only). It is set on the temporary file before the rename, so
// bytes and metadata are replaced together by one atomic rename. A regular file without the
// attribute is an object written by someone else: its ETag is
// "<size>-<mtime ns>-<inode>" in hex (the '-' tells S3 clients it is not an MD5). A stored size
// that differs from the file's size means the file was edited in place: kDataLoss, never data.
//
// BLOCK CRCS. "crc32c" is {"block": B, "values": base64 of one big-endian CRC-32C per block}:
// block i holds bytes [i * B, min((i + 1) * B, size)). B is 64 KiB, doubled until there are at
// most 256 blocks (4 MiB for 1 GiB), and again (neighbours' CRCs joined) while the attribute
// would pass 3 KiB. Every object written (put, writer, copy, complete) gets them, computed from
// the temporary file, read back before it is sealed; a copy's must equal its source's, or the
// copy fails with kDataLoss. Part files have none. Reads (see READS) check them. Files without
// the member (written before it existed, or by others) are read unchecked, and depot versions
// before it ignore it, so the format version stays 2.
//
// PARTS. A multipart object's parts are {"sizes": [[size, count], ...], "checksums"?: [...]}: the
// sizes run-length encoded, then one checksum per part. The member is kept within 2 KiB of JSON:
// without the checksums when they do not fit, and left out when the sizes alone do not.
//
// PUT (also Copy and CompleteMultipart, which only fill the temporary file differently)
//   1. Open the key's directory beneath the root with openat2(RESOLVE_BENEATH |
//      RESOLVE_NO_SYMLINKS), creating missing levels one mkdirat at a time and fsyncing the parent
//      of each new directory. A level that is an object's file is first made a directory that
//      keeps the object (MAKING ROOM).
//   2. Create ".depot-tmp-<random>" in that directory (O_CREAT | O_EXCL | O_NOFOLLOW), write every
//      byte, set "user.depot", fsync the file. Nothing is locked during this step.
//   3. Commit under the commit lock. The destination is the key's name, or ".depot-self" in it
//      when that name is a directory with entries (an empty one, left by deletes, is removed).
//      kOverwrite renames the temporary file to the destination; kCreate links it there (linkat
//      fails with EEXIST if the key exists: kAlreadyExists) and then unlinks the temporary name;
//      kUpdate and kUnlessEtag read the current ETag, compare it, and rename.
//   4. Release the lock, fsync the destination's directory, return. Only now is the write
//      acknowledged.
//   Any failure before the commit unlinks the temporary file; a crash leaves it for CLEANUP.
//
// MAKING ROOM turns the object file "foo/bar" into a directory that keeps it, when "foo/bar/x"
// is written. Under the commit lock: mkdir a staging directory beside it, link the object into it
// as ".depot-self", fsync it, swap it with the file by renameat2(RENAME_EXCHANGE), unlink the
// file's old name (now the staging name), fsync the parent. The object has its name at every
// instant, so readers never miss it; a crash leaves at most a staging name (a directory holding a
// second link, or the file's second name) that CLEANUP removes without touching the object.
//
// COMMIT LOCK. Every change of a name (put, copy and complete commits, delete, rename) holds
// State::commit_mu (threads of this process) and then flock(LOCK_EX) on .depot/lock (other
// processes, and other LocalStore instances of this process, which have their own open file
// description). It covers only the check and the rename/link/unlink, never the writing or fsync
// of data, so it is held for microseconds. Taking it for unconditional commits as well is what
// makes kUpdate linearizable: otherwise a plain put or delete could land between its ETag check
// and its rename and be silently overwritten.
//
// READS open the file, its whole path in one openat2 beneath the root that follows no symbolic
// link, and read through that descriptor: a concurrent rename replaces the name, not the inode
// being read, so a reader sees exactly one version. A read that returns fewer bytes than the range
// asks for is kDataLoss. A read of an object with BLOCK CRCS reads every block its range touches
// whole and checks it before handing on any of its bytes (blocks over 16 MiB, of objects over
// 4 GiB: as they are read, failing the read at the block's end); a mismatch is kDataLoss naming
// the bytes, so a byte changed on disk is never returned as data. The decoded "user.depot" of files
// read lately is kept by inode (MetaCache), good while the file's ctime, mtime and size are
// unchanged: sound because a version is never rewritten in place and any change of the attribute
// moves the ctime. A Head of a file whose attribute is kept looks it up with O_PATH only (no open
// for reading).
//
// DELETE unlinks the file (or the directory's ".depot-self") under the commit lock and fsyncs its
// directory. Directories are left in place (an empty directory holds no keys and is never listed
// or rolled up into a prefix).
//
// RENAME is renameat (kOverwrite) or renameat2(RENAME_NOREPLACE) (kCreate) under the commit lock,
// between the destinations a put and a delete would use, then both directories are fsync'd. Within
// one file system it is atomic: the object is always under exactly one of the two keys.
//
// MULTIPART. CreateMultipart builds uploads/.depot-tmp-<random>/upload.json (key, PutOptions,
// initiation time), fsyncs it and the directory, renames the directory to uploads/<upload id>
// and fsyncs uploads/. PutPart writes a temporary file in the upload's directory, sets its
// "user.depot" {"etag", "size"}, fsyncs it, renames it to "<part number>" (replacing an earlier
// upload of the same part) and fsyncs the directory. CompleteMultipart opens the listed parts,
// checks them with ValidateCompleteParts, concatenates them into a temporary file beside the key
// with copy_file_range, and commits it as a put under CompleteMultipart's condition; then it
// removes the upload. Removing an upload (complete or abort) renames uploads/<id> to a staging
// name, fsyncs uploads/, and deletes the staged tree. Uploads survive closing the store until
// completed or aborted. A crash after the commit but before the removal leaves the upload in place;
// completing it again writes the same object again.
//
// CLEANUP. Every open store holds flock(LOCK_SH) on .depot/open.lock. Open first tries
// LOCK_EX | LOCK_NB: if that succeeds, no other process or instance has the store open, so no
// write can be in progress and every ".depot-tmp-*" entry in the tree (files beside objects, part
// files and staging directories under uploads/) is a leftover of a crash; Open removes them all,
// then converts its lock to LOCK_SH. (The conversion is not atomic: another opener may take
// LOCK_EX in between and clean up too, which is harmless since this store has written nothing
// yet.) When the lock is busy, cleanup is left to a later opener. This walks the whole tree once.
//
// CRASHES. A kill or power loss at any instant leaves each key with its old object or its new
// one, because the only step that changes what a key names is a rename or link of a complete,
// fsync'd file; an acknowledged write had its directory fsync'd. Temporary names may remain until
// CLEANUP. A crash between the link and the unlink of a kCreate leaves a second name of the new
// object, which CLEANUP removes without touching the object.
#include "depot/object/local/local_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>  // renameat2
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "depot/core/base64.h"
#include "depot/core/blake3/blake3.h"
#include "depot/core/channel.h"
#include "depot/core/checksum.h"
#include "depot/core/md5.h"
#include "depot/core/mutex.h"
#include "depot/core/unique_fd.h"
#include "depot/core/url.h"
#include "depot/object/backend_util.h"
#include "depot/object/local/file_system.h"

namespace depot::object {

namespace {

constexpr char kMetaXattr[] = "user.depot";
constexpr char kDepotDir[] = ".depot";
constexpr char kUploadsDir[] = "uploads";
constexpr char kUploadRecord[] = "upload.json";
constexpr std::string_view kReservedPrefix = ".depot";
constexpr std::string_view kTempPrefix = ".depot-tmp-";
constexpr std::string_view kEscapedPrefix = ".depot-k-";
constexpr std::string_view kHashedPrefix = ".depot-h-";
constexpr char kNameXattrPrefix[] = "user.depot.n.";
constexpr char kSelfName[] = ".depot-self";
constexpr char kFormatFile[] = "format";
constexpr int kFormatVersion = 2;
constexpr size_t kMaxNameBytes = 255;
// Longest path handed to one openat2: PATH_MAX less a margin. Deeper paths are opened in steps.
constexpr size_t kMaxPathStep = 4000;
constexpr int kMaxParts = 10000;
constexpr uint64_t kMaxUploadRecordBytes = 1 << 20;
// Retries of a step that lost a race with a concurrent put removing an empty directory.
constexpr int kMaxAttempts = 8;
// BLOCK CRCS: blocks of 64 KiB, doubled until an object has at most 256 (a 16 MiB object has
// 64 KiB blocks, a 1 GiB one 4 MiB blocks); halved in number again while "user.depot" would be
// longer than kMaxMetaAttribute (large user metadata), so that it fits the file system's
// extended-attribute space. Reads go through pieces of at most kCrcReadPiece.
constexpr uint64_t kMinCrcBlock = 64 << 10;
constexpr uint64_t kMaxCrcBlocks = 256;
constexpr uint64_t kCrcReadPiece = 4 << 20;
constexpr size_t kMaxMetaAttribute = 3072;
// Blocks up to this size are read whole and checked before their bytes are handed on; reads go in
// slices of kCrcSlice, each checksummed while it is in the CPU's cache.
constexpr uint64_t kMaxHeldBlock = 16 << 20;
constexpr uint64_t kCrcSlice = 256 << 10;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string TempName() { return std::string(kTempPrefix) + RandomHexId(); }

// ---------------------------------------------------------------------------------------------
// Keys

// A key segment's name on disk (see KEYS): itself when it can be a file name, else escaped.
std::string EncodeSegment(std::string_view segment) {
  const bool plain = !segment.empty() && segment != "." && segment != ".." &&
                     !StartsWith(segment, kReservedPrefix) && segment.size() <= kMaxNameBytes;
  if (plain) return std::string(segment);
  if (kEscapedPrefix.size() + segment.size() <= kMaxNameBytes) {
    return std::string(kEscapedPrefix) + std::string(segment);
  }
  blake3::Digest digest = blake3::Hash(segment);
  return std::string(kHashedPrefix) + blake3::ToHex(digest);
}

bool IsHashedName(std::string_view name) { return StartsWith(name, kHashedPrefix); }

// The extended attribute that holds the segment a hashed name stands for. Named after the hash,
// so that one file can carry the segments of every hashed name it has (a rename sets the new one
// before it moves the file, and the old name's attribute stays true of the old name).
std::string NameXattr(std::string_view hashed_name) {
  return std::string(kNameXattrPrefix) + std::string(hashed_name.substr(kHashedPrefix.size()));
}

// A key as the local store lays it out: its segments, as given and as named on disk. The last
// segment names the object's file; the others name directories.
struct KeyPath {
  std::vector<std::string> segments;
  std::vector<std::string> names;

  const std::string& name() const { return names.back(); }
  const std::string& segment() const { return segments.back(); }
  size_t depth() const { return names.size() - 1; }  // the number of directory levels
};

Result<KeyPath> ParseKey(std::string_view key) {
  DEPOT_RETURN_IF_ERROR(ValidateKey(key));
  KeyPath path;
  for (size_t start = 0;;) {
    size_t slash = key.find('/', start);
    std::string_view segment =
        key.substr(start, slash == std::string_view::npos ? slash : slash - start);
    path.segments.emplace_back(segment);
    path.names.push_back(EncodeSegment(segment));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return path;
}

// The key segment that the directory entry `name` in `dirfd` stands for, or nullopt when no key
// can have that name (the store's own files, staging, a hashed name without its attribute, a
// name that is not the canonical encoding of what it decodes to).
std::optional<std::string> DecodeName(int dirfd, const std::string& name) {
  std::string segment;
  if (!StartsWith(name, kReservedPrefix)) {
    segment = name;
  } else if (StartsWith(name, kEscapedPrefix)) {
    segment = name.substr(kEscapedPrefix.size());
  } else if (IsHashedName(name)) {
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid() || FileSystem::GetXattr(fd.get(), NameXattr(name).c_str(), &segment) != 0) {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  if (EncodeSegment(segment) != name) return std::nullopt;
  return segment;
}

// ---------------------------------------------------------------------------------------------
// Metadata

bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// The metadata is stored as JSON, whose strings are UTF-8.
Status CheckMetadataText(std::string_view key, const PutOptions& options) {
  if (!IsUtf8(options.content_type)) {
    return InvalidArgumentError(fmt::format(
        "key {}: the content type is not valid UTF-8, which the local store's metadata requires",
        QuoteKey(key)));
  }
  for (const auto& [name, member] : kObjectHeaderFields) {
    if (!IsUtf8(options.headers.*member)) {
      return InvalidArgumentError(fmt::format(
          "key {}: the {} header is not valid UTF-8, which the local store's metadata requires",
          QuoteKey(key), name));
    }
  }
  for (const auto& [name, value] : options.user_metadata) {
    if (!IsUtf8(name) || !IsUtf8(value)) {
      return InvalidArgumentError(
          fmt::format("key {}: user metadata {} is not valid UTF-8, which the local store's "
                      "metadata requires",
                      QuoteKey(key), QuoteKey(name)));
    }
  }
  const bool etag_condition =
      options.mode == PutMode::kUpdate || options.mode == PutMode::kUnlessEtag;
  if (etag_condition && !IsUtf8(options.if_match)) {
    return InvalidArgumentError(
        fmt::format("key {}: the if_match ETag is not valid UTF-8", QuoteKey(key)));
  }
  return Status::Ok();
}

// The object's HTTP headers as the JSON member "headers": {"Cache-Control": ...}, the given ones
// only, and no member when none was given.
void EncodeHeaders(const ObjectHeaders& headers, nlohmann::json& json) {
  nlohmann::json given = nlohmann::json::object();
  for (const auto& [name, member] : kObjectHeaderFields) {
    if (!(headers.*member).empty()) given[name] = headers.*member;
  }
  if (!given.empty()) json["headers"] = std::move(given);
}

// What "user.depot" holds.
// An object's bytes, block by block (see BLOCK CRCS): block i covers bytes [i * block,
// min((i + 1) * block, size)) and values[i] is its CRC-32C.
struct BlockCrcs {
  uint64_t block = 0;  // 0: none kept (files of earlier versions, or written by others)
  std::vector<uint32_t> values;
};

struct StoredMeta {
  std::string etag;
  uint64_t size = 0;
  std::string content_type;
  ObjectHeaders headers;
  std::map<std::string, std::string> user_metadata;
  Checksum checksum;  // a part file's: the value only (its upload names the algorithm)
  std::vector<ObjectPart> parts;
  BlockCrcs crcs;  // objects only, not part files
};

// Reads the string member `name` of `json` into `out`; false if it is present but not a string.
bool OptionalString(const nlohmann::json& json, const char* name, std::string* out) {
  auto it = json.find(name);
  if (it == json.end()) return true;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

bool OptionalStringMap(const nlohmann::json& json, const char* name,
                       std::map<std::string, std::string>* out) {
  auto it = json.find(name);
  if (it == json.end()) return true;
  if (!it->is_object()) return false;
  for (auto entry = it->begin(); entry != it->end(); ++entry) {
    if (!entry.value().is_string()) return false;
    (*out)[entry.key()] = entry.value().get<std::string>();
  }
  return true;
}

// The member "headers" (EncodeHeaders) into `out`; false if it is malformed or names a header
// depot does not keep.
bool DecodeHeaders(const nlohmann::json& json, ObjectHeaders* out) {
  std::map<std::string, std::string> given;
  if (!OptionalStringMap(json, "headers", &given)) return false;
  for (const auto& entry : given) {
    auto field = std::find_if(std::begin(kObjectHeaderFields), std::end(kObjectHeaderFields),
                              [&](const auto& f) { return entry.first == f.first; });
    if (field == std::end(kObjectHeaderFields)) return false;
    out->*(field->second) = entry.second;
  }
  return true;
}

// The member "checksum": {"algorithm", "value", "composite"}, the given ones only.
void EncodeChecksum(const Checksum& checksum, nlohmann::json& json) {
  if (checksum.value.empty() && checksum.algorithm.empty()) return;
  nlohmann::json out = nlohmann::json::object();
  if (!checksum.algorithm.empty()) out["algorithm"] = checksum.algorithm;
  if (!checksum.value.empty()) out["value"] = checksum.value;
  if (checksum.composite) out["composite"] = true;
  json["checksum"] = std::move(out);
}

bool DecodeChecksum(const nlohmann::json& json, Checksum* out) {
  auto it = json.find("checksum");
  if (it == json.end()) return true;
  if (!it->is_object() || !OptionalString(*it, "algorithm", &out->algorithm) ||
      !OptionalString(*it, "value", &out->value)) {
    return false;
  }
  auto composite = it->find("composite");
  if (composite != it->end()) {
    if (!composite->is_boolean()) return false;
    out->composite = composite->get<bool>();
  }
  return true;
}

// The member "parts": {"sizes": [[size, count], ...], "checksums": [...]}: the sizes run-length
// encoded (a client's parts are all one size but the last), the checksums one per part. Kept
// within kMaxPartsBytes of JSON, so that a long part list cannot push the metadata past the
// extended-attribute limit: without the checksums when they do not fit, without the list when the
// sizes alone do not (PARTS).
constexpr size_t kMaxPartsBytes = 2048;

void EncodeParts(const std::vector<ObjectPart>& parts, nlohmann::json& json) {
  if (parts.empty()) return;
  nlohmann::json sizes = nlohmann::json::array();
  for (const ObjectPart& part : parts) {
    if (!sizes.empty() && sizes.back()[0] == part.size) {
      sizes.back()[1] = sizes.back()[1].get<uint64_t>() + 1;
    } else {
      sizes.push_back({part.size, 1});
    }
  }
  nlohmann::json out = nlohmann::json::object();
  out["sizes"] = std::move(sizes);
  if (out.dump().size() > kMaxPartsBytes) return;
  if (std::all_of(parts.begin(), parts.end(),
                  [](const ObjectPart& p) { return !p.checksum.empty(); })) {
    nlohmann::json checksums = nlohmann::json::array();
    for (const ObjectPart& part : parts) checksums.push_back(part.checksum);
    nlohmann::json with = out;
    with["checksums"] = std::move(checksums);
    if (with.dump().size() <= kMaxPartsBytes) out = std::move(with);
  }
  json["parts"] = std::move(out);
}

bool DecodeParts(const nlohmann::json& json, std::vector<ObjectPart>* out) {
  auto it = json.find("parts");
  if (it == json.end()) return true;
  if (!it->is_object() || !it->contains("sizes") || !(*it)["sizes"].is_array()) return false;
  for (const nlohmann::json& run : (*it)["sizes"]) {
    if (!run.is_array() || run.size() != 2 || !run[0].is_number_unsigned() ||
        !run[1].is_number_unsigned() || run[1].get<uint64_t>() > 10000 - out->size()) {
      return false;
    }
    out->insert(out->end(), run[1].get<size_t>(), ObjectPart{run[0].get<uint64_t>(), ""});
  }
  if (auto checksums = it->find("checksums"); checksums != it->end()) {
    if (!checksums->is_array() || checksums->size() != out->size()) return false;
    for (size_t i = 0; i < out->size(); ++i) {
      if (!(*checksums)[i].is_string()) return false;
      (*out)[i].checksum = (*checksums)[i].get<std::string>();
    }
  }
  return true;
}

uint32_t FromBigEndian32(std::string_view digest) {
  uint32_t value = 0;
  for (char c : digest) value = (value << 8) | static_cast<unsigned char>(c);
  return value;
}

std::string ToBigEndian32(uint32_t value) {
  std::string bytes;
  for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>((value >> shift) & 0xff);
  return bytes;
}

// Requires UTF-8 strings (CheckMetadataText), as JSON does.
std::string EncodeMeta(const StoredMeta& meta) {
  nlohmann::json json = nlohmann::json::object();
  json["etag"] = meta.etag;
  json["size"] = meta.size;
  if (!meta.content_type.empty()) json["content_type"] = meta.content_type;
  EncodeHeaders(meta.headers, json);
  if (!meta.user_metadata.empty()) json["user_metadata"] = meta.user_metadata;
  EncodeChecksum(meta.checksum, json);
  EncodeParts(meta.parts, json);
  if (meta.crcs.block != 0) {
    std::string bytes;
    for (uint32_t crc : meta.crcs.values) bytes += ToBigEndian32(crc);
    json["crc32c"] = {{"block", meta.crcs.block}, {"values", Base64Encode(bytes)}};
  }
  return json.dump();
}

// The optional "crc32c" member: false when it is present but malformed or does not cover `size`.
bool DecodeBlockCrcs(const nlohmann::json& json, uint64_t size, BlockCrcs* out) {
  auto it = json.find("crc32c");
  if (it == json.end()) return true;
  if (!it->is_object()) return false;
  auto block = it->find("block");
  auto values = it->find("values");
  if (block == it->end() || !block->is_number_unsigned() || values == it->end() ||
      !values->is_string()) {
    return false;
  }
  out->block = block->get<uint64_t>();
  Result<std::string> bytes = Base64Decode(values->get<std::string>());
  if (out->block == 0 || !bytes.ok() || bytes->size() % 4 != 0 ||
      bytes->size() / 4 != (size + out->block - 1) / out->block) {
    return false;
  }
  out->values.clear();
  for (size_t i = 0; i < bytes->size(); i += 4) {
    out->values.push_back(FromBigEndian32(std::string_view(*bytes).substr(i, 4)));
  }
  return true;
}

std::optional<StoredMeta> DecodeMeta(std::string_view text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return std::nullopt;
  auto etag = json.find("etag");
  auto size = json.find("size");
  if (etag == json.end() || !etag->is_string() || size == json.end() ||
      !size->is_number_unsigned()) {
    return std::nullopt;
  }
  StoredMeta meta;
  meta.etag = etag->get<std::string>();
  meta.size = size->get<uint64_t>();
  if (!OptionalString(json, "content_type", &meta.content_type) ||
      !DecodeHeaders(json, &meta.headers) ||
      !OptionalStringMap(json, "user_metadata", &meta.user_metadata) ||
      !DecodeChecksum(json, &meta.checksum) || !DecodeParts(json, &meta.parts) ||
      !DecodeBlockCrcs(json, meta.size, &meta.crcs)) {
    return std::nullopt;
  }
  return meta;
}

int64_t MtimeNanos(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// One staged part of a multipart upload, opened (nullopt if it was never uploaded).
struct StagedPart {
  UniqueFd fd;
  PartInfo info;
};

Result<std::optional<StagedPart>> OpenPart(int upload_dir, std::string_view key, int number) {
  UniqueFd fd(
      ::openat(upload_dir, std::to_string(number).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<StagedPart>();
    const int saved_errno = errno;
    return ErrnoToStatus(saved_errno,
                         fmt::format("key {} part {}: opening", QuoteKey(key), number));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    const int saved_errno = errno;
    return ErrnoToStatus(saved_errno, fmt::format("key {} part {}: fstat", QuoteKey(key), number));
  }
  std::string text;
  std::optional<StoredMeta> meta;
  if (FileSystem::GetXattr(fd.get(), kMetaXattr, &text) == 0) meta = DecodeMeta(text);
  if (!meta || meta->size != static_cast<uint64_t>(st.st_size)) {
    return DataLossError(
        fmt::format("key {} part {}: its metadata is missing or corrupt", QuoteKey(key), number));
  }
  PartInfo info{number, std::move(meta->etag), meta->size,
                Clock::time_point(std::chrono::duration_cast<Clock::duration>(
                    std::chrono::nanoseconds(MtimeNanos(st)))),
                std::move(meta->checksum.value)};
  return std::optional<StagedPart>(StagedPart{std::move(fd), std::move(info)});
}

// The object's metadata from its open file. `*stored` (if given) tells whether the ETag came from
// "user.depot" rather than from the file's identity.
// The decoded "user.depot" attributes of files read lately, by device and inode, each good while
// the file's ctime, mtime and size are what they were when it was read: a read of a hot object
// then skips fgetxattr and the JSON. Sound because every change of an attribute moves the ctime,
// depot never rewrites a file's bytes in place (a new version is a new file renamed over the
// old), and an inode used again gets a new ctime (files changed within the last second are not
// kept, so that coarse timestamps cannot match). Shared by every store of the process (inodes
// are the file system's, not a store's); bounded (emptied when full); small attributes only, so a
// multipart object's list of parts is never held.
class MetaCache {
 public:
  static MetaCache& Instance() {
    static MetaCache* cache = new MetaCache;  // never destroyed: readers may outlive main
    return *cache;
  }

  std::shared_ptr<const StoredMeta> Find(const struct stat& st) {
    MutexLock lock(mu_);
    auto it = entries_.find({st.st_dev, st.st_ino});
    if (it == entries_.end() || !it->second.Matches(st)) return nullptr;
    return it->second.meta;
  }

  void Keep(const struct stat& st, std::shared_ptr<const StoredMeta> meta) {
    // A file changed within the last second is not kept: timestamps are coarse (a tick of up to
    // 10 ms on many kernels), so an inode freed and used again within one tick by a file of the
    // same size could otherwise match. Entries older than that differ from any reuse's ctime.
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const int64_t now_ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
    if (now_ns - CtimeNanos(st) < 1'000'000'000 || now_ns - MtimeNanos(st) < 1'000'000'000) {
      return;
    }
    MutexLock lock(mu_);
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_[{st.st_dev, st.st_ino}] = {CtimeNanos(st), MtimeNanos(st), st.st_size,
                                        std::move(meta)};
  }

  static constexpr size_t kMaxAttribute = 2048;  // longer attributes are not kept

 private:
  static constexpr size_t kMaxEntries = 8192;
  static int64_t CtimeNanos(const struct stat& st) {
    return static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  }
  struct Entry {
    int64_t ctime_ns = 0;
    int64_t mtime_ns = 0;
    off_t size = 0;
    std::shared_ptr<const StoredMeta> meta;
    bool Matches(const struct stat& st) const {
      return ctime_ns == CtimeNanos(st) && mtime_ns == MtimeNanos(st) && size == st.st_size;
    }
  };

  Mutex mu_;
  std::map<std::pair<dev_t, ino_t>, Entry> entries_ DEPOT_GUARDED_BY(mu_);
};

// What the file `st` says of the object `key` by itself: its size and time.
ObjectMeta FileMeta(const struct stat& st, std::string_view key) {
  ObjectMeta meta;
  meta.key = std::string(key);
  meta.size = static_cast<uint64_t>(st.st_size);
  meta.last_modified = Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(MtimeNanos(st))));
  return meta;
}

// `meta` (FileMeta) completed from the file's decoded attribute; kDataLoss when they disagree.
Status Complete(ObjectMeta& meta, const StoredMeta& decoded) {
  if (decoded.size != meta.size) {
    return DataLossError(
        fmt::format("key {}: the file holds {} bytes but its metadata says {} (was it changed "
                    "outside depot? overwrite or delete the key)",
                    QuoteKey(meta.key), meta.size, decoded.size));
  }
  meta.etag = decoded.etag;
  meta.content_type = decoded.content_type;
  meta.headers = decoded.headers;
  meta.user_metadata = decoded.user_metadata;
  meta.checksum = decoded.checksum;
  meta.parts = decoded.parts;
  return Status::Ok();
}

// The object's metadata when MetaCache holds the file's attribute (and it agrees with the file).
std::optional<ObjectMeta> CachedMeta(const struct stat& st, std::string_view key) {
  std::shared_ptr<const StoredMeta> decoded = MetaCache::Instance().Find(st);
  if (decoded == nullptr) return std::nullopt;
  ObjectMeta meta = FileMeta(st, key);
  if (!Complete(meta, *decoded).ok()) return std::nullopt;
  return meta;
}

Result<ObjectMeta> MetaOf(int fd, const struct stat& st, std::string_view key,
                          bool* stored = nullptr, BlockCrcs* crcs = nullptr) {
  ObjectMeta meta = FileMeta(st, key);
  std::shared_ptr<const StoredMeta> decoded = MetaCache::Instance().Find(st);
  if (decoded == nullptr) {
    std::string text;
    const int err = FileSystem::GetXattr(fd, kMetaXattr, &text);
    if (err == ENODATA || err == ENOTSUP) {
      if (stored != nullptr) *stored = false;
      // Not written by depot: an ETag that changes whenever the file is replaced or touched.
      meta.etag = fmt::format("{:x}-{:x}-{:x}", meta.size, static_cast<uint64_t>(MtimeNanos(st)),
                              static_cast<uint64_t>(st.st_ino));
      return meta;
    }
    if (err != 0) {
      return ErrnoToStatus(err, fmt::format("key {}: reading its metadata", QuoteKey(key)));
    }
    std::optional<StoredMeta> parsed = DecodeMeta(text);
    if (!parsed) {
      return DataLossError(fmt::format("key {}: its metadata attribute \"{}\" is corrupt",
                                       QuoteKey(key), kMetaXattr));
    }
    decoded = std::make_shared<const StoredMeta>(std::move(*parsed));
    if (text.size() <= MetaCache::kMaxAttribute) MetaCache::Instance().Keep(st, decoded);
  }
  if (stored != nullptr) *stored = true;
  if (crcs != nullptr) *crcs = decoded->crcs;
  DEPOT_RETURN_IF_ERROR(Complete(meta, *decoded));
  return meta;
}

// What uploads/<id>/upload.json holds.
struct UploadRecord {
  std::string key;
  PutOptions options;
  Clock::time_point initiated;
};

constexpr std::pair<PutMode, const char*> kModeNames[] = {{PutMode::kOverwrite, "overwrite"},
                                                          {PutMode::kCreate, "create"},
                                                          {PutMode::kUpdate, "update"},
                                                          {PutMode::kUnlessEtag, "unless-etag"}};

std::string EncodeUpload(const UploadRecord& record) {
  nlohmann::json json = nlohmann::json::object();
  json["key"] = record.key;
  for (const auto& [mode, name] : kModeNames) {
    if (mode == record.options.mode) json["mode"] = name;
  }
  if (record.options.mode == PutMode::kUpdate || record.options.mode == PutMode::kUnlessEtag) {
    json["if_match"] = record.options.if_match;
  }
  if (!record.options.content_type.empty()) json["content_type"] = record.options.content_type;
  EncodeHeaders(record.options.headers, json);
  if (!record.options.user_metadata.empty()) {
    json["user_metadata"] = record.options.user_metadata;
  }
  EncodeChecksum(record.options.checksum, json);
  json["initiated_ns"] =
      std::chrono::duration_cast<std::chrono::nanoseconds>(record.initiated.time_since_epoch())
          .count();
  return json.dump();
}

std::optional<UploadRecord> DecodeUpload(std::string_view text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return std::nullopt;
  auto key = json.find("key");
  auto mode = json.find("mode");
  auto initiated = json.find("initiated_ns");
  if (key == json.end() || !key->is_string() || mode == json.end() || !mode->is_string() ||
      initiated == json.end() || !initiated->is_number_integer()) {
    return std::nullopt;
  }
  UploadRecord record;
  record.key = key->get<std::string>();
  bool known_mode = false;
  for (const auto& [value, name] : kModeNames) {
    if (*mode == name) {
      record.options.mode = value;
      known_mode = true;
    }
  }
  if (!known_mode || !OptionalString(json, "if_match", &record.options.if_match) ||
      !OptionalString(json, "content_type", &record.options.content_type) ||
      !DecodeHeaders(json, &record.options.headers) ||
      !OptionalStringMap(json, "user_metadata", &record.options.user_metadata) ||
      !DecodeChecksum(json, &record.options.checksum)) {
    return std::nullopt;
  }
  record.initiated = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::nanoseconds(initiated->get<int64_t>())));
  return record;
}

bool IsUploadId(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// ---------------------------------------------------------------------------------------------
// Files

// A staging file ".depot-tmp-<random>" in a directory, unlinked on destruction unless committed.
class TempFile {
 public:
  TempFile() = default;
  TempFile(FileSystem& fs, int dirfd, std::string name, UniqueFd fd)
      : fs_(&fs), dirfd_(dirfd), name_(std::move(name)), fd_(std::move(fd)) {}
  TempFile(TempFile&& other) noexcept
      : fs_(other.fs_),
        dirfd_(other.dirfd_),
        name_(std::exchange(other.name_, "")),
        fd_(std::move(other.fd_)) {}
  TempFile& operator=(TempFile&& other) noexcept {
    if (this != &other) {
      Discard();
      fs_ = other.fs_;
      dirfd_ = other.dirfd_;
      name_ = std::exchange(other.name_, "");
      fd_ = std::move(other.fd_);
    }
    return *this;
  }
  ~TempFile() { Discard(); }

  int fd() const { return fd_.get(); }
  const char* name() const { return name_.c_str(); }
  FileSystem& fs() const { return *fs_; }
  // The file now has its final name (or was unlinked by the caller): nothing left to remove.
  void Committed() {
    name_.clear();
    fd_.Reset();
  }

 private:
  void Discard() {
    if (!name_.empty()) (void)fs_->UnlinkAt(dirfd_, name_.c_str(), 0);
    name_.clear();
  }

  FileSystem* fs_ = &FileSystem::Posix();
  int dirfd_ = -1;
  std::string name_;
  UniqueFd fd_;
};

// Creates a staging file in `dirfd`; -1 with errno on failure.
int CreateTempIn(FileSystem& fs, int dirfd, TempFile* temp) {
  std::string name = TempName();
  // Read and write: SealTemp reads an object's bytes back for their CRCs.
  int fd = fs.OpenAt(dirfd, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0666);
  if (fd < 0) return -1;
  *temp = TempFile(fs, dirfd, std::move(name), UniqueFd(fd));
  return 0;
}

// The CRC-32C of each block of the first `size` bytes of `fd` (BLOCK CRCS), read back from it;
// blocks of `block` bytes, or (0) of the size BLOCK CRCS gives `size`.
Result<BlockCrcs> ComputeBlockCrcs(int fd, uint64_t size, std::string_view what,
                                   uint64_t block = 0) {
  BlockCrcs crcs;
  crcs.block = block != 0 ? block : kMinCrcBlock;
  while (block == 0 && (size + crcs.block - 1) / crcs.block > kMaxCrcBlocks) crcs.block *= 2;
  const size_t piece = static_cast<size_t>(std::min<uint64_t>(crcs.block, kCrcReadPiece));
  std::unique_ptr<char[]> buffer(new char[piece]);
  for (uint64_t start = 0; start < size; start += crcs.block) {
    PayloadChecksum crc(PayloadChecksum::Algorithm::kCrc32c);
    const uint64_t end = std::min(size, start + crcs.block);
    for (uint64_t at = start; at < end;) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(piece, end - at));
      const int64_t got = FileSystem::ReadAt(fd, buffer.get(), want, at);
      if (got < 0) return ErrnoToStatus(errno, fmt::format("{}: reading it back", what));
      if (static_cast<size_t>(got) != want) {
        return DataLossError(
            fmt::format("{}: read back {} of {} bytes at offset {}", what, got, want, at));
      }
      crc.Update(std::string_view(buffer.get(), want));
      at += want;
    }
    crcs.values.push_back(FromBigEndian32(crc.Finish()));
  }
  return crcs;
}

// Halves the number of blocks (each pair's CRC joined without the bytes), for an attribute that
// would not fit otherwise.
void CoarsenBlockCrcs(BlockCrcs& crcs, uint64_t size) {
  std::vector<uint32_t> joined;
  for (size_t i = 0; i < crcs.values.size(); i += 2) {
    if (i + 1 == crcs.values.size()) {
      joined.push_back(crcs.values[i]);
      break;
    }
    const uint64_t second = std::min(crcs.block, size - (i + 1) * crcs.block);
    joined.push_back(FromBigEndian32(*PayloadChecksum::Combine(
        PayloadChecksum::Algorithm::kCrc32c, ToBigEndian32(crcs.values[i]),
        ToBigEndian32(crcs.values[i + 1]), second)));
  }
  crcs.values = std::move(joined);
  crcs.block *= 2;
}

// Sets the metadata attribute of a fully written staging file and makes it durable. `what` names
// the file in messages ("key \"x\""). With `block_crcs` (objects, not part files), the file is
// read back for its BLOCK CRCS first, unless `meta` has them already.
Status SealTemp(const TempFile& temp, StoredMeta meta, std::string_view what, bool block_crcs) {
  if (block_crcs && meta.crcs.block == 0) {
    DEPOT_ASSIGN_OR_RETURN(meta.crcs, ComputeBlockCrcs(temp.fd(), meta.size, what));
  }
  std::string text = EncodeMeta(meta);
  while (text.size() > kMaxMetaAttribute && meta.crcs.values.size() > 1) {
    CoarsenBlockCrcs(meta.crcs, meta.size);
    text = EncodeMeta(meta);
  }
  if (int err = temp.fs().SetXattr(temp.fd(), kMetaXattr, text); err != 0) {
    if (err == E2BIG || err == ERANGE) {
      return InvalidArgumentError(
          fmt::format("{}: its metadata ({} bytes as JSON) exceeds the file system's "
                      "extended-attribute limit",
                      what, text.size()));
    }
    if (err == ENOSPC) {
      return ResourceExhaustedError(
          fmt::format("{}: no room for its metadata ({} bytes as JSON): the disk is full or the "
                      "metadata exceeds the file system's extended-attribute limit",
                      what, text.size()));
    }
    return ErrnoToStatus(err, fmt::format("{}: setting its metadata", what));
  }
  if (int err = temp.fs().Fsync(temp.fd()); err != 0) {
    return ErrnoToStatus(err, fmt::format("{}: fsync", what));
  }
  return Status::Ok();
}

Status SyncDirectory(FileSystem& fs, int dirfd, std::string_view what) {
  if (int err = fs.Fsync(dirfd); err != 0) {
    return ErrnoToStatus(err, fmt::format("{}: fsync of its directory", what));
  }
  return Status::Ok();
}

std::string KeyWhat(std::string_view key) { return fmt::format("key {}", QuoteKey(key)); }

// An object opened for reading: the descriptor pins the version that `meta` describes.
struct OpenedObject {
  UniqueFd fd;
  ObjectMeta meta;
  bool stored_etag = false;  // false: the ETag was derived from the file (no "user.depot")
  BlockCrcs crcs;            // what the file's bytes are checked against (none: block 0)
};

// Opens the object `name` in `dirfd` (or, when `name` is a directory of other keys, the object
// kept in it as ".depot-self"); kNotFound (with the reason) when it is absent or not a regular
// file.
Result<OpenedObject> OpenedAt(int fd, std::string_view key, bool in_directory);

// The answer to a failed open of the object `key`'s file, from its errno.
Status OpenFailure(int err, std::string_view key) {
  if (err == ELOOP || err == EXDEV) {
    return NotFoundError(
        fmt::format("key {} does not exist (its file or a directory on its path is a symbolic "
                    "link, which the local store never follows)",
                    QuoteKey(key)));
  }
  if (err == ENOENT || err == ENOTDIR || err == ENXIO) {
    return NotFoundError(fmt::format("key {} does not exist", QuoteKey(key)));
  }
  return ErrnoToStatus(err, fmt::format("key {}: opening its file", QuoteKey(key)));
}

constexpr int kReadFlags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;

Result<OpenedObject> OpenObjectAt(int dirfd, const std::string& name, std::string_view key,
                                  bool in_directory = false) {
  const int fd = ::openat(dirfd, name.c_str(), kReadFlags | O_NOFOLLOW);
  if (fd < 0) return OpenFailure(errno, key);
  return OpenedAt(fd, key, in_directory);
}

// The object whose file `fd` (owned from here on) was opened as.
Result<OpenedObject> OpenedAt(int fd, std::string_view key, bool in_directory) {
  OpenedObject object;
  object.fd = UniqueFd(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int saved_errno = errno;
    return ErrnoToStatus(saved_errno, fmt::format("key {}: fstat", QuoteKey(key)));
  }
  if (S_ISDIR(st.st_mode) && !in_directory) {
    return OpenObjectAt(fd, kSelfName, key, /*in_directory=*/true);
  }
  if (!S_ISREG(st.st_mode)) {
    return NotFoundError(
        fmt::format("key {} does not exist (its file is not a regular file)", QuoteKey(key)));
  }
  DEPOT_ASSIGN_OR_RETURN(object.meta, MetaOf(fd, st, key, &object.stored_etag, &object.crcs));
  return object;
}

// The pieces of an object's file that a read of bytes [begin, end) goes through, read and checked
// in order (see ReadRange). With block CRCs a piece is whole blocks (as many as fit kCrcReadPiece,
// at least one) each checked before the piece is returned, or, for blocks over kMaxHeldBlock,
// kCrcReadPiece of one block, checked when the block's last piece is read. Not thread-safe.
class PieceReader {
 public:
  PieceReader(int fd, uint64_t size, const BlockCrcs& crcs, uint64_t begin, uint64_t end,
              std::string_view key)
      : fd_(fd), size_(size), crcs_(crcs), key_(key), checked_(crcs.block != 0) {
    constexpr uint64_t kUncheckedPiece = 1 << 20;
    if (!checked_) {
      piece_ = kUncheckedPiece;
      at_ = begin;
      stop_ = end;
      return;
    }
    piece_ = crcs.block <= kMaxHeldBlock
                 ? std::max<uint64_t>(kCrcReadPiece / crcs.block, 1) * crcs.block
                 : kCrcReadPiece;
    at_ = begin / crcs.block * crcs.block;
    stop_ = std::min(size, (end + crcs.block - 1) / crcs.block * crcs.block);
  }

  bool done() const { return at_ >= stop_ && damaged_.ok(); }
  // Bytes a piece can hold, and how many pieces are left.
  uint64_t buffer_size() const { return at_ >= stop_ ? 1 : std::min(piece_, stop_ - at_); }
  uint64_t pieces_left() const { return at_ >= stop_ ? 0 : (stop_ - at_ + piece_ - 1) / piece_; }

  // Reads the next piece into `buffer` (buffer_size() bytes): its offset in the file and length.
  // A piece whose block fails its check ends before that block, and the next call fails.
  Result<std::pair<uint64_t, uint64_t>> Next(char* buffer) {
    if (!damaged_.ok()) return damaged_;
    const uint64_t start = at_;
    const uint64_t length = std::min(piece_, stop_ - at_);
    // Slices end at block ends, and each is checksummed as it lands (still in the CPU's cache).
    for (uint64_t done = 0; done < length;) {
      const uint64_t block_end =
          checked_ ? std::min(size_, (at_ / crcs_.block + 1) * crcs_.block) : stop_;
      const uint64_t slice =
          checked_ ? std::min({kCrcSlice, length - done, block_end - at_}) : length - done;
      const int64_t got = FileSystem::ReadAt(fd_, buffer + done, slice, at_);
      if (got < 0) {
        const int saved_errno = errno;
        return ErrnoToStatus(saved_errno, fmt::format("key {}: reading", QuoteKey(key_)));
      }
      if (static_cast<uint64_t>(got) != slice) {
        return DataLossError(fmt::format(
            "key {}: read {} of the {} bytes at offset {}: the file is shorter than its size",
            QuoteKey(key_), got, slice, at_));
      }
      if (checked_) {
        if (!crc_) crc_.emplace(PayloadChecksum::Algorithm::kCrc32c);
        crc_->Update(std::string_view(buffer + done, slice));
      }
      done += slice;
      at_ += slice;
      if (checked_ && at_ == block_end) {
        damaged_ = CheckBlock(block_end);
        const uint64_t sound = (block_end - 1) / crcs_.block * crcs_.block;  // the block's start
        if (!damaged_.ok() && sound <= start) return damaged_;
        if (!damaged_.ok()) return std::make_pair(start, sound - start);
      }
    }
    return std::make_pair(start, length);
  }

 private:
  Status CheckBlock(uint64_t block_end) {
    const uint64_t index = (block_end - 1) / crcs_.block;
    const bool sound = FromBigEndian32(crc_->Finish()) == crcs_.values[index];
    crc_.reset();
    if (sound) return Status::Ok();
    return DataLossError(fmt::format(
        "key {}: bytes {}-{} (block {} of {}) do not match their CRC-32C: the file was changed or "
        "damaged on disk",
        QuoteKey(key_), index * crcs_.block, block_end - 1, index + 1, crcs_.values.size()));
  }

  const int fd_;
  const uint64_t size_;
  const BlockCrcs& crcs_;
  const std::string_view key_;
  const bool checked_;
  uint64_t piece_ = 0;
  uint64_t at_ = 0;
  uint64_t stop_ = 0;
  std::optional<PayloadChecksum> crc_;
  Status damaged_;  // the block that failed its check
};

// Hands bytes [begin, end) of an object's file `fd` (`size` bytes, checked against `crcs`) to
// `sink` in pieces (PieceReader). With block CRCs every block the range touches is read whole and
// checked before any of its bytes is handed on: a mismatch is kDataLoss naming the block. Blocks
// larger than kMaxHeldBlock (objects over 4 GiB) are handed on as they are read and checked at
// their end, so a damaged one fails the read before it completes. A read of several pieces reads
// and checks the next piece on a thread of its own while `sink` takes the current one (two
// buffers), so the CRC stays off the path of the bytes.
Status ReadRange(int fd, uint64_t size, const BlockCrcs& crcs, uint64_t begin, uint64_t end,
                 std::string_view key, const Context& ctx,
                 const std::function<Status(std::string_view)>& sink) {
  if (begin == end) return Status::Ok();  // nothing to hand on, so nothing to check
  PieceReader reader(fd, size, crcs, begin, end, key);
  const uint64_t buffer_size = reader.buffer_size();
  // The part of a piece (at `start` in the file) that the range asks for.
  auto hand_on = [&](const char* data, uint64_t start, uint64_t length) {
    const uint64_t from = std::max(begin, start);
    const uint64_t to = std::min(end, start + length);
    return from < to ? sink(std::string_view(data + (from - start), to - from)) : Status::Ok();
  };
  auto one_at_a_time = [&]() -> Status {
    std::unique_ptr<char[]> buffer(new char[buffer_size]);
    while (!reader.done()) {
      DEPOT_RETURN_IF_ERROR(CheckContext(ctx, "get of key", key));
      DEPOT_ASSIGN_OR_RETURN(auto piece, reader.Next(buffer.get()));
      DEPOT_RETURN_IF_ERROR(hand_on(buffer.get(), piece.first, piece.second));
    }
    return Status::Ok();
  };
  if (reader.pieces_left() < 2) return one_at_a_time();
  struct Piece {
    std::unique_ptr<char[]> data;
    uint64_t start = 0;
    uint64_t length = 0;
    Status status;  // the read's failure, in its place in the order
  };
  BoundedChannel<Piece> filled(1);
  BoundedChannel<std::unique_ptr<char[]>> spare(2);
  for (int i = 0; i < 2; ++i) (void)spare.Send(std::unique_ptr<char[]>(new char[buffer_size]));
  std::thread ahead;
  auto read_ahead = [&] {
    while (!reader.done()) {
      std::optional<std::unique_ptr<char[]>> buffer = spare.Receive();
      if (!buffer) return;  // the sink gave up
      Piece piece{std::move(*buffer)};
      piece.status = CheckContext(ctx, "get of key", key);
      if (piece.status.ok()) {
        Result<std::pair<uint64_t, uint64_t>> read = reader.Next(piece.data.get());
        if (read.ok()) std::tie(piece.start, piece.length) = *read;
        piece.status = read.status();
      }
      const bool failed = !piece.status.ok();
      if (!filled.Send(std::move(piece)).ok() || failed) break;
    }
    filled.Close();
  };
  try {
    ahead = std::thread(read_ahead);
  } catch (const std::system_error&) {
    return one_at_a_time();  // no thread to be had (a thread limit): read without one
  }
  Status status;
  while (std::optional<Piece> piece = filled.Receive()) {
    status = piece->status.ok() ? hand_on(piece->data.get(), piece->start, piece->length)
                                : piece->status;
    if (!status.ok()) break;
    (void)spare.Send(std::move(piece->data));
  }
  if (!status.ok()) {
    spare.Close(status);
    filled.Close(status);
  }
  ahead.join();
  return status;
}

// The current object `name` in `dirfd`, or nullopt when there is none.
Result<std::optional<ObjectMeta>> CurrentObject(int dirfd, const std::string& name,
                                                std::string_view key) {
  Result<OpenedObject> object = OpenObjectAt(dirfd, name, key);
  if (!object.ok()) {
    if (object.status().code() == StatusCode::kNotFound) return std::optional<ObjectMeta>();
    return object.status();
  }
  return std::optional<ObjectMeta>(std::move(object->meta));
}

// Where a commit puts the object `name` of `dirfd`, decided under the commit lock: the name
// itself, or ".depot-self" inside it when it is a directory of other keys. An empty directory in
// the way (left by deletes) is removed, so that the object gets the plain name.
struct Slot {
  UniqueFd inside;  // the directory `name`, when the object goes in it
  int dir = -1;
  std::string name;
};

Result<Slot> ResolveSlot(FileSystem& fs, int dirfd, const std::string& name, std::string_view key) {
  Slot slot{UniqueFd(), dirfd, name};
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
    return slot;  // absent or a file: the commit itself reports what it finds
  }
  const int err = fs.UnlinkAt(dirfd, name.c_str(), AT_REMOVEDIR);
  if (err == 0 || err == ENOENT) return slot;
  if (err != ENOTEMPTY && err != EEXIST) {
    return ErrnoToStatus(
        err, fmt::format("key {}: removing the empty directory in its place", QuoteKey(key)));
  }
  slot.inside =
      UniqueFd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!slot.inside.valid()) {
    const int saved_errno = errno;
    return ErrnoToStatus(
        saved_errno,
        fmt::format("key {}: opening the directory it shares its name with", QuoteKey(key)));
  }
  slot.dir = slot.inside.get();
  slot.name = kSelfName;
  return slot;
}

// Holds the commit lock: the in-process mutex, then flock(LOCK_EX) on .depot/lock.
class DEPOT_SCOPED_CAPABILITY CommitGuard {
 public:
  CommitGuard(Mutex& mu, int lock_fd) DEPOT_ACQUIRE(mu) : lock_(mu), fd_(lock_fd) {
    if (int err = FileSystem::Flock(fd_, LOCK_EX); err != 0) {
      status_ = ErrnoToStatus(err, "local store: taking the commit lock .depot/lock");
    }
  }
  ~CommitGuard() DEPOT_RELEASE() {
    if (status_.ok()) (void)FileSystem::Flock(fd_, LOCK_UN);
  }
  CommitGuard(const CommitGuard&) = delete;
  CommitGuard& operator=(const CommitGuard&) = delete;

  const Status& status() const { return status_; }

 private:
  MutexLock lock_;
  int fd_;
  Status status_;
};

// The Put step 1-2 result: the key's directory and a staging file in it. `temp` refers to `dir`,
// so it is declared after it (destroyed first).
struct Staging {
  UniqueFd dir;
  TempFile temp;
};

// Reads the whole (small) file `name` in `dirfd` into `out`. 0 or an errno value (EFBIG when
// larger than `limit`).
int ReadSmallFile(int dirfd, const char* name, uint64_t limit, std::string* out) {
  UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return errno;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  if (static_cast<uint64_t>(st.st_size) > limit) return EFBIG;
  out->resize(static_cast<size_t>(st.st_size));
  int64_t got = FileSystem::ReadAt(fd.get(), out->data(), out->size(), 0);
  if (got < 0) return errno;
  out->resize(static_cast<size_t>(got));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Listing

// Walks a directory tree in key order, feeding a ListBuilder. Sorting each directory's entries by
// the key segments they stand for, with "/" appended for directories, visits keys in byte order:
// every key under directory "d" starts with "d/", and no other key of that directory's parent
// does. A directory's own object (".depot-self") sorts as "d", a file would.
class ListWalk {
 public:
  ListWalk(const ListOptions& options, ListBuilder& builder)
      : options_(options), builder_(builder), seek_(builder.seek_key()) {}

  // Visits the directory `dirfd`, whose keys start with `key_prefix`; at this level only segments
  // starting with `segment_filter` are considered.
  Status Visit(int dirfd, const std::string& key_prefix, std::string_view segment_filter) {
    std::vector<FileSystem::DirEntry> entries;
    if (int err = FileSystem::ReadDirectory(dirfd, &entries); err != 0) {
      if (err == ENOENT) return Status::Ok();  // removed while listing
      return ErrnoToStatus(
          err, fmt::format("list: reading the directory of prefix {}", QuoteKey(key_prefix)));
    }
    enum class Kind { kFile, kDirectory, kSelf };
    struct Item {
      std::string sort_name;  // the segment, + "/" for a directory
      const FileSystem::DirEntry* entry;
      Kind kind;
    };
    std::vector<Item> items;
    for (const FileSystem::DirEntry& entry : entries) {
      if (entry.type == FileSystem::DirEntry::Type::kOther) continue;  // symbolic links, ...
      std::optional<std::string> segment = DecodeName(dirfd, entry.name);
      if (!segment || !StartsWith(*segment, segment_filter)) continue;
      if (entry.type == FileSystem::DirEntry::Type::kDirectory) {
        items.push_back({*segment + "/", &entry, Kind::kDirectory});
        items.push_back({std::move(*segment), &entry, Kind::kSelf});
      } else {
        items.push_back({std::move(*segment), &entry, Kind::kFile});
      }
    }
    std::sort(items.begin(), items.end(),
              [](const Item& a, const Item& b) { return a.sort_name < b.sort_name; });

    for (const Item& item : items) {
      std::string key = key_prefix + item.sort_name;
      const bool is_dir = item.kind == Kind::kDirectory;
      // Everything below the seek key is outside the page; a directory can hold keys past it
      // only when the seek key lies inside it.
      if (key < seek_ && !(is_dir && StartsWith(seek_, key))) continue;
      if (!rolled_up_.empty() && StartsWith(key, rolled_up_)) continue;
      if (is_dir) {
        UniqueFd child(::openat(dirfd, item.entry->name.c_str(),
                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!child.valid()) {
          if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;  // replaced
          const int saved_errno = errno;
          return ErrnoToStatus(
              saved_errno, fmt::format("list: opening the directory of prefix {}", QuoteKey(key)));
        }
        DEPOT_RETURN_IF_ERROR(Visit(child.get(), key, ""));
        if (full_) return Status::Ok();
        continue;
      }
      // A file dropped in by hand under a name no key can have (not UTF-8, ...) is not an object:
      // listing it would offer a key that Get and Delete refuse.
      if (!ValidateKey(key).ok()) continue;
      std::optional<std::string> common = CommonPrefix(key);
      ObjectMeta meta;
      if (common && item.kind == Kind::kFile) {
        meta.key = key;  // rolled up into a common prefix: only the key matters
      } else {
        // (A directory's own object is opened even when it rolls up: most directories have none.)
        Result<OpenedObject> object = OpenObjectAt(dirfd, item.entry->name, key);
        if (!object.ok()) {
          if (object.status().code() == StatusCode::kNotFound) continue;  // none, or deleted
          return object.status();
        }
        if (common) {
          meta.key = key;
        } else {
          meta = std::move(object->meta);
        }
      }
      if (!builder_.Add(meta)) {
        full_ = true;
        return Status::Ok();
      }
      // Every later key with this common prefix is a duplicate of it (or skipped by the builder
      // for the same reason as this one): leave them unread.
      if (common && key > seek_) rolled_up_ = std::move(*common);
    }
    return Status::Ok();
  }

 private:
  std::optional<std::string> CommonPrefix(const std::string& key) const {
    if (options_.delimiter.empty()) return std::nullopt;
    size_t pos = key.find(options_.delimiter, options_.prefix.size());
    if (pos == std::string::npos) return std::nullopt;
    return key.substr(0, pos + options_.delimiter.size());
  }

  const ListOptions& options_;
  ListBuilder& builder_;
  const std::string seek_;
  std::string rolled_up_;
  bool full_ = false;
};

// Opens the directory that the names `names` lead to from `dirfd` ("." for none), beneath it and
// never through a link (FileSystem::OpenBeneath), in steps when the path is too long for one call.
// An invalid descriptor with errno set on failure.
UniqueFd OpenDirectoryPath(int dirfd, std::span<const std::string> names) {
  UniqueFd current;
  size_t i = 0;
  do {
    std::string step;
    for (; i < names.size() && (step.empty() || step.size() + names[i].size() < kMaxPathStep);
         ++i) {
      if (!step.empty()) step += '/';
      step += names[i];
    }
    const int fd =
        FileSystem::OpenBeneath(current.valid() ? current.get() : dirfd,
                                step.empty() ? "." : step.c_str(), O_RDONLY | O_DIRECTORY);
    const int saved_errno = errno;
    current = UniqueFd(fd);
    errno = saved_errno;
    if (fd < 0) break;
  } while (i < names.size());
  return current;
}

// ---------------------------------------------------------------------------------------------
// Opening

// Creates `dir` and its missing parents, fsyncing the parent of each new directory.
Status CreateDirectories(FileSystem& fs, const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> missing;
  for (std::filesystem::path p = dir;; p = p.parent_path()) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) break;
    if (errno != ENOENT) {
      const int saved_errno = errno;
      return ErrnoToStatus(saved_errno, fmt::format("local store root \"{}\": stat \"{}\"",
                                                    dir.string(), p.string()));
    }
    missing.push_back(p);
    if (!p.has_relative_path() || p.parent_path() == p) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (int made = fs.MkdirAt(AT_FDCWD, it->c_str(), 0777); made != 0) {
      if (made == EEXIST) continue;
      return ErrnoToStatus(made, fmt::format("local store root \"{}\": creating \"{}\"",
                                             dir.string(), it->string()));
    }
    UniqueFd parent(::open(it->parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int err = parent.valid() ? fs.Fsync(parent.get()) : errno;
    if (err != 0) {
      return ErrnoToStatus(err, fmt::format("local store root \"{}\": fsync of \"{}\"",
                                            dir.string(), it->parent_path().string()));
    }
  }
  return Status::Ok();
}

// Creates (if needed) and opens the directory `name` in `parent`, never through a link.
Result<UniqueFd> OpenOrCreateDir(FileSystem& fs, int parent, const char* name,
                                 std::string_view what) {
  if (int made = fs.MkdirAt(parent, name, 0777); made == 0) {
    if (int err = fs.Fsync(parent); err != 0) {
      return ErrnoToStatus(err, fmt::format("{}: fsync after creating {}", what, name));
    }
  } else if (made != EEXIST) {
    return ErrnoToStatus(made, fmt::format("{}: creating {}", what, name));
  }
  UniqueFd fd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    const int saved_errno = errno;
    return ErrnoToStatus(saved_errno, fmt::format("{}: opening {}", what, name));
  }
  return fd;
}

// Removes every ".depot-tmp-*" entry under `dirfd` (see CLEANUP). Best effort: what cannot be
// read or removed now is left for a later Open.
void RemoveStaleStaging(FileSystem& fs, int dirfd, bool at_root) {
  std::vector<FileSystem::DirEntry> entries;
  if (FileSystem::ReadDirectory(dirfd, &entries) != 0) return;
  for (const FileSystem::DirEntry& entry : entries) {
    if (StartsWith(entry.name, kTempPrefix)) {
      (void)fs.RemoveTree(dirfd, entry.name.c_str());
      continue;
    }
    if (entry.type != FileSystem::DirEntry::Type::kDirectory) continue;
    if (at_root && entry.name == kDepotDir) continue;  // done apart
    UniqueFd child(
        ::openat(dirfd, entry.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (child.valid()) RemoveStaleStaging(fs, child.get(), /*at_root=*/false);
  }
}

// Reads .depot/format (FORMAT): a store of a later format is refused, and a store without the
// file (format 1, or new) is marked as format 2, whose layout reads format 1's unchanged.
Status CheckFormat(FileSystem& fs, int depot_dir, std::string_view what) {
  std::string text;
  const int err = ReadSmallFile(depot_dir, kFormatFile, 64, &text);
  if (err == 0) {
    int version = 0;
    const char* end = text.data() + text.size();
    auto [at, ec] = std::from_chars(text.data(), end, version);
    if (ec != std::errc() || version < 1 || (at != end && std::string_view(at, end - at) != "\n")) {
      return DataLossError(
          fmt::format("{}: .depot/{} is corrupt (it holds {})", what, kFormatFile, QuoteKey(text)));
    }
    if (version > kFormatVersion) {
      return FailedPreconditionError(fmt::format(
          "{}: the store is in format {}, written by a later depot; this one reads formats 1 to {}",
          what, version, kFormatVersion));
    }
    if (version == kFormatVersion) return Status::Ok();
  } else if (err != ENOENT) {
    return ErrnoToStatus(err, fmt::format("{}: reading .depot/{}", what, kFormatFile));
  }
  const std::string staging = TempName();
  const std::string content = fmt::format("{}\n", kFormatVersion);
  UniqueFd file(
      fs.OpenAt(depot_dir, staging.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0666));
  int write_err = file.valid() ? fs.WriteAll(file.get(), content.data(), content.size()) : errno;
  if (write_err == 0) write_err = fs.Fsync(file.get());
  if (write_err == 0) write_err = fs.RenameAt(depot_dir, staging.c_str(), depot_dir, kFormatFile);
  if (write_err == 0) write_err = fs.Fsync(depot_dir);
  if (write_err != 0) {
    (void)fs.UnlinkAt(depot_dir, staging.c_str(), 0);
    return ErrnoToStatus(write_err, fmt::format("{}: writing .depot/{}", what, kFormatFile));
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// State: everything LocalStore holds, and the steps its operations share.

struct LocalStore::State {
  std::filesystem::path root;
  LocalStoreOptions options;
  UniqueFd root_fd;
  UniqueFd uploads_fd;      // .depot/uploads
  UniqueFd lock_fd;         // .depot/lock: flock(LOCK_EX) around every commit
  UniqueFd open_lock_fd;    // .depot/open.lock: flock(LOCK_SH) while this store is open
  mutable Mutex commit_mu;  // the in-process half of the commit lock
  FileSystem* fs = &FileSystem::Posix();

  std::string NewEtag(std::string_view data) const {
    return options.etag == EtagPolicy::kContentMd5 ? Md5::HexOf(data) : RandomHexId();
  }

  // Writes all of `data` to `fd` and returns its ETag. A large object's MD5 runs on a second
  // thread while this one writes: both passes read the same memory, so a put costs the longer of
  // hashing and writing rather than their sum (see BENCHMARKS.md).
  Result<std::string> WriteAndTag(int fd, const Bytes& data, const std::string& what) const {
    constexpr size_t kOverlapAbove = size_t{4} << 20;
    std::future<std::string> md5;
    if (options.etag == EtagPolicy::kContentMd5 && data.size() >= kOverlapAbove) {
      try {
        md5 = std::async(std::launch::async, [view = data.view()] { return Md5::HexOf(view); });
      } catch (const std::system_error&) {
        // No thread to be had: hash after writing instead.
      }
    }
    if (int err = fs->WriteNewFile(fd, data.data(), data.size()); err != 0) {
      return ErrnoToStatus(err, fmt::format("{}: writing {} bytes", what, data.size()));
    }
    return md5.valid() ? md5.get() : NewEtag(data.view());
  }

  // Opens the directory of `path`; with `create`, makes the missing levels, turning a level that
  // is an object into a directory that keeps it (MakeRoom). Reads get kNotFound for a missing
  // directory or one reached through a symbolic link; writes get kPermissionDenied when a level
  // is a link, and kNotFound only when they lost a race with the removal of an empty directory
  // (retry).
  Result<UniqueFd> OpenKeyDir(const KeyPath& path, std::string_view key, bool create) const {
    if (!create) {
      UniqueFd dir = OpenDirectoryPath(root_fd.get(), std::span(path.names).first(path.depth()));
      if (dir.valid()) return dir;
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) {
        return NotFoundError(fmt::format("key {} does not exist", QuoteKey(key)));
      }
      if (err == ELOOP || err == EXDEV) {
        return NotFoundError(
            fmt::format("key {} does not exist (its path goes through a symbolic link, which the "
                        "local store never follows)",
                        QuoteKey(key)));
      }
      return ErrnoToStatus(err, fmt::format("key {}: opening its directory", QuoteKey(key)));
    }
    // One level at a time, so that each new directory's parent can be fsync'd and the exact
    // level that is in the way can be named.
    UniqueFd current(FileSystem::OpenBeneath(root_fd.get(), ".", O_RDONLY | O_DIRECTORY));
    if (!current.valid()) {
      const int saved_errno = errno;
      return ErrnoToStatus(saved_errno, fmt::format("key {}: opening the root", QuoteKey(key)));
    }
    size_t level_end = 0;  // where the key up to this level ends
    for (size_t i = 0; i < path.depth(); ++i) {
      const std::string& name = path.names[i];
      level_end += path.segments[i].size() + (i == 0 ? 0 : 1);
      const std::string_view level = key.substr(0, level_end);
      int next = -1;
      for (int attempt = 0; next < 0; ++attempt) {
        // The parent is fsync'd after EEXIST too: the thread that created the directory may not
        // have made its entry durable yet, and this put must not be acknowledged before it is.
        const int made = fs->MkdirAt(current.get(), name.c_str(), 0777);
        if (made != 0 && made != EEXIST) {
          if (made == ENOENT) {
            return NotFoundError(fmt::format("key {}: directory removed meanwhile", QuoteKey(key)));
          }
          return ErrnoToStatus(made, fmt::format("key {}: creating the directory {}", QuoteKey(key),
                                                 QuoteKey(level)));
        }
        if (int sync_err = fs->Fsync(current.get()); sync_err != 0) {
          return ErrnoToStatus(sync_err, fmt::format("key {}: fsync after creating {}",
                                                     QuoteKey(key), QuoteKey(level)));
        }
        next = FileSystem::OpenBeneath(current.get(), name.c_str(), O_RDONLY | O_DIRECTORY);
        if (next >= 0) break;
        const int open_err = errno;
        if (open_err == ENOTDIR && attempt + 1 < kMaxAttempts) {
          DEPOT_RETURN_IF_ERROR(MakeRoom(current.get(), name, path.segments[i], key, level));
          continue;
        }
        if (open_err == ELOOP || open_err == EXDEV) {
          return PermissionDeniedError(
              fmt::format("key {}: {} is a symbolic link, and the local store never follows one",
                          QuoteKey(key), QuoteKey(level)));
        }
        if (open_err == ENOENT) {
          return NotFoundError(fmt::format("key {}: directory removed meanwhile", QuoteKey(key)));
        }
        return ErrnoToStatus(open_err, fmt::format("key {}: opening the directory {}",
                                                   QuoteKey(key), QuoteKey(level)));
      }
      current = UniqueFd(next);
      if (IsHashedName(name)) {
        DEPOT_RETURN_IF_ERROR(NameDirectory(current.get(), name, path.segments[i], key));
      }
    }
    return current;
  }

  // Makes sure the directory `dirfd`, whose name `name` is hashed, records the segment it stands
  // for (a crash between its mkdir and this leaves it without: the next put through it mends it).
  Status NameDirectory(int dirfd, const std::string& name, const std::string& segment,
                       std::string_view key) const {
    const std::string attribute = NameXattr(name);
    std::string recorded;
    if (FileSystem::GetXattr(dirfd, attribute.c_str(), &recorded) == 0 && recorded == segment) {
      return Status::Ok();
    }
    int err = fs->SetXattr(dirfd, attribute.c_str(), segment);
    if (err == 0) err = fs->Fsync(dirfd);
    if (err != 0) {
      return ErrnoToStatus(err, fmt::format("key {}: recording the name of a directory with a "
                                            "hashed name",
                                            QuoteKey(key)));
    }
    return Status::Ok();
  }

  // MAKING ROOM: the object file `name` in `parent` must become a directory, because a key below
  // it is being written. Under the commit lock, a staging directory gets a second link to the
  // object as ".depot-self" and is fsync'd; renameat2(RENAME_EXCHANGE) swaps it with the file
  // (both names stay valid throughout, so a reader finds the object at every instant); the old
  // file name, now under the staging name, is unlinked and the parent fsync'd. A crash leaves the
  // object under its name either way, and at most a staging name that CLEANUP removes.
  Status MakeRoom(int parent, const std::string& name, const std::string& segment,
                  std::string_view key, std::string_view level) const {
    const std::string what =
        fmt::format("key {}: making {} a directory of keys", QuoteKey(key), QuoteKey(level));
    CommitGuard guard(commit_mu, lock_fd.get());
    DEPOT_RETURN_IF_ERROR(guard.status());
    struct stat st;
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return Status::Ok();  // gone meanwhile: the caller makes a directory
      const int saved_errno = errno;
      return ErrnoToStatus(saved_errno, what);
    }
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    if (!S_ISREG(st.st_mode)) {
      return FailedPreconditionError(
          fmt::format("{}: it is neither a directory nor a regular file", what));
    }
    const std::string staging = TempName();
    if (int err = fs->MkdirAt(parent, staging.c_str(), 0777); err != 0) {
      return ErrnoToStatus(err, fmt::format("{}: creating a staging directory", what));
    }
    Status staged = [&]() -> Status {
      UniqueFd dir(
          ::openat(parent, staging.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      int err = dir.valid() ? 0 : errno;
      if (err == 0) err = fs->LinkAt(parent, name.c_str(), dir.get(), kSelfName);
      if (err == 0 && IsHashedName(name))
        err = fs->SetXattr(dir.get(), NameXattr(name).c_str(), segment);
      if (err == 0) err = fs->Fsync(dir.get());
      if (err == 0)
        err = fs->RenameAt(parent, staging.c_str(), parent, name.c_str(), RENAME_EXCHANGE);
      if (err == EINVAL) {
        return UnimplementedError(fmt::format(
            "{}: the file system cannot exchange two names (renameat2 RENAME_EXCHANGE)", what));
      }
      return err == 0 ? Status::Ok() : ErrnoToStatus(err, what);
    }();
    if (!staged.ok()) {
      (void)fs->RemoveTree(parent, staging.c_str());
      return staged;
    }
    (void)fs->UnlinkAt(parent, staging.c_str(), 0);  // the file's old name; else CLEANUP's
    return SyncDirectory(*fs, parent, what);
  }

  static std::string Joined(const KeyPath& path) {
    std::string joined;
    for (const std::string& name : path.names) {
      if (!joined.empty()) joined += '/';
      joined += name;
    }
    return joined;
  }

  Result<OpenedObject> OpenObject(const KeyPath& path, std::string_view key) const {
    // The usual short path in one lookup, beneath the root and through no link; a long one a
    // directory at a time.
    const std::string joined = Joined(path);
    if (joined.size() < kMaxPathStep) {
      const int fd = FileSystem::OpenBeneath(root_fd.get(), joined.c_str(), kReadFlags);
      if (fd < 0) return OpenFailure(errno, key);
      return OpenedAt(fd, key, /*in_directory=*/false);
    }
    DEPOT_ASSIGN_OR_RETURN(UniqueFd dir, OpenKeyDir(path, key, /*create=*/false));
    return OpenObjectAt(dir.get(), path.name(), key);
  }

  // The metadata of `key`. When MetaCache holds its file's attribute, the file is only looked up
  // (O_PATH: no open for reading, which costs several times more); otherwise OpenObject. The
  // lookup stays confined beneath the root: an unconfined fstatat would be cheaper, but it
  // follows symbolic links above the file, and MetaCache would then answer for a key that only
  // names another key's file through such a link.
  Result<ObjectMeta> HeadObject(const KeyPath& path, std::string_view key) const {
    const std::string joined = Joined(path);
    if (joined.size() < kMaxPathStep) {
      UniqueFd found(FileSystem::OpenBeneath(root_fd.get(), joined.c_str(), O_PATH));
      if (!found.valid()) return OpenFailure(errno, key);
      struct stat st {};
      const bool stated = ::fstat(found.get(), &st) == 0;
      bool regular = stated && S_ISREG(st.st_mode);
      if (stated && S_ISDIR(st.st_mode)) {  // a directory of other keys: the object inside
        found = UniqueFd(::openat(found.get(), kSelfName, O_PATH | O_NOFOLLOW | O_CLOEXEC));
        regular = found.valid() && ::fstat(found.get(), &st) == 0 && S_ISREG(st.st_mode);
      }
      if (regular) {
        if (std::optional<ObjectMeta> meta = CachedMeta(st, key)) return std::move(*meta);
      }
    }
    DEPOT_ASSIGN_OR_RETURN(OpenedObject object, OpenObject(path, key));
    return std::move(object.meta);
  }

  // Put steps 1 and 2 up to the first byte: the key's directory and a staging file in it.
  Result<Staging> Stage(const KeyPath& path, std::string_view key) const {
    for (int attempt = 0;; ++attempt) {
      const bool last = attempt + 1 >= kMaxAttempts;
      Result<UniqueFd> dir = OpenKeyDir(path, key, /*create=*/true);
      if (!dir.ok()) {
        // kNotFound here only means a concurrent put removed an empty directory on our path.
        if (dir.status().code() == StatusCode::kNotFound && !last) continue;
        return dir.status();
      }
      Staging staging;
      staging.dir = std::move(*dir);
      if (CreateTempIn(*fs, staging.dir.get(), &staging.temp) != 0) {
        int err = errno;
        if (err == ENOENT && !last) continue;
        return ErrnoToStatus(err, fmt::format("key {}: creating a temporary file", QuoteKey(key)));
      }
      // A hashed name records its segment on the file before the file gets the name (SealTemp
      // makes it durable).
      if (IsHashedName(path.name())) {
        if (int err =
                fs->SetXattr(staging.temp.fd(), NameXattr(path.name()).c_str(), path.segment());
            err != 0) {
          return ErrnoToStatus(err, fmt::format("key {}: recording its name", QuoteKey(key)));
        }
      }
      return staging;
    }
  }

  // Fails early, before any byte is written, when `options.mode` already cannot succeed. The
  // commit checks again under the lock.
  Status PrecheckMode(const KeyPath& path, std::string_view key, const PutOptions& options) const {
    if (options.mode == PutMode::kOverwrite) return Status::Ok();
    Result<UniqueFd> dir = OpenKeyDir(path, key, /*create=*/false);
    std::optional<ObjectMeta> current;
    if (dir.ok()) {
      DEPOT_ASSIGN_OR_RETURN(current, CurrentObject(dir->get(), path.name(), key));
    } else if (dir.status().code() != StatusCode::kNotFound) {
      return dir.status();
    }
    return CheckPutMode(key, options, current ? &*current : nullptr);
  }

  static bool IsSymlinkAt(int dirfd, const std::string& name) {
    struct stat st;
    return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  }

  // Put steps 3 and 4: makes the staging file the object `name` (in the staging directory) as
  // `options.mode` asks, then makes the new name durable.
  Status Commit(Staging& staging, const std::string& name, std::string_view key,
                const PutOptions& options) {
    const int dirfd = staging.dir.get();
    TempFile& temp = staging.temp;
    Slot slot;
    {
      CommitGuard guard(commit_mu, lock_fd.get());
      DEPOT_RETURN_IF_ERROR(guard.status());
      const bool create = options.mode == PutMode::kCreate;
      for (int attempt = 0;; ++attempt) {
        DEPOT_ASSIGN_OR_RETURN(slot, ResolveSlot(*fs, dirfd, name, key));
        if (options.mode == PutMode::kUpdate || options.mode == PutMode::kUnlessEtag) {
          DEPOT_ASSIGN_OR_RETURN(std::optional<ObjectMeta> current,
                                 CurrentObject(slot.dir, slot.name, key));
          DEPOT_RETURN_IF_ERROR(CheckPutMode(key, options, current ? &*current : nullptr));
        }
        const char* to = slot.name.c_str();
        int err = create ? fs->LinkAt(dirfd, temp.name(), slot.dir, to)
                         : fs->RenameAt(dirfd, temp.name(), slot.dir, to);
        if (err == 0) break;
        const bool may_retry = attempt + 1 < kMaxAttempts;
        if (create && err == EEXIST && may_retry && IsSymlinkAt(slot.dir, slot.name)) {
          // A symbolic link is not an object (Get and Head say kNotFound), so a create-only put
          // replaces it as an overwrite would: the link itself goes, never its target.
          err = fs->UnlinkAt(slot.dir, to, 0);
          if (err == 0 || err == ENOENT) continue;
        }
        struct stat st;
        const bool now_directory = ::fstatat(slot.dir, to, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                   S_ISDIR(st.st_mode) && !slot.inside.valid();
        // A put of a key below this one made the name a directory since ResolveSlot: again.
        if ((err == EISDIR || err == EEXIST || err == ENOTEMPTY) && now_directory && may_retry) {
          continue;
        }
        if (create && err == EEXIST) {
          return AlreadyExistsError(fmt::format("key {} already exists", QuoteKey(key)));
        }
        return ErrnoToStatus(
            err, fmt::format("key {}: moving the new object into place", QuoteKey(key)));
      }
      // The object keeps its new name; a crash before this unlink leaves a second name that
      // CLEANUP removes.
      if (create) (void)fs->UnlinkAt(dirfd, temp.name(), 0);
      temp.Committed();
    }
    // Moved into the directory `name`: the staging name left the staging directory.
    if (slot.inside.valid()) DEPOT_RETURN_IF_ERROR(SyncDirectory(*fs, dirfd, KeyWhat(key)));
    return SyncDirectory(*fs, slot.dir, KeyWhat(key));
  }

  struct OpenedUpload {
    UniqueFd dir;
    UploadRecord record;
  };

  Result<OpenedUpload> OpenUpload(std::string_view key, std::string_view upload_id) const {
    auto missing = [&] {
      return NotFoundError(fmt::format("multipart upload {} for key {} does not exist",
                                       QuoteKey(upload_id), QuoteKey(key)));
    };
    if (!IsUploadId(upload_id)) return missing();
    std::string id(upload_id);
    OpenedUpload upload;
    upload.dir = UniqueFd(
        ::openat(uploads_fd.get(), id.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!upload.dir.valid()) {
      if (errno == ENOENT) return missing();
      const int saved_errno = errno;
      return ErrnoToStatus(saved_errno, fmt::format("multipart upload {}: opening", QuoteKey(id)));
    }
    Result<UploadRecord> record = ReadUpload(upload.dir.get(), id);
    if (!record.ok()) {
      if (record.status().code() == StatusCode::kNotFound) return missing();  // being removed
      return record.status();
    }
    if (record->key != key) return missing();
    upload.record = std::move(*record);
    return upload;
  }

  static Result<UploadRecord> ReadUpload(int dirfd, std::string_view id) {
    std::string text;
    if (int err = ReadSmallFile(dirfd, kUploadRecord, kMaxUploadRecordBytes, &text); err != 0) {
      if (err == ENOENT) return NotFoundError(fmt::format("multipart upload {}", QuoteKey(id)));
      return ErrnoToStatus(
          err, fmt::format("multipart upload {}: reading {}", QuoteKey(id), kUploadRecord));
    }
    std::optional<UploadRecord> record = DecodeUpload(text);
    if (!record) {
      return DataLossError(
          fmt::format("multipart upload {}: {} is corrupt", QuoteKey(id), kUploadRecord));
    }
    return std::move(*record);
  }

  // Makes uploads/<id> disappear atomically, then deletes its files.
  Status RemoveUpload(const std::string& id, std::string_view key) const {
    std::string claimed = TempName();
    if (int err = fs->RenameAt(uploads_fd.get(), id.c_str(), uploads_fd.get(), claimed.c_str());
        err != 0) {
      if (err == ENOENT) {
        return NotFoundError(fmt::format("multipart upload {} for key {} does not exist",
                                         QuoteKey(id), QuoteKey(key)));
      }
      return ErrnoToStatus(err, fmt::format("multipart upload {}: removing", QuoteKey(id)));
    }
    Status synced = SyncDirectory(*fs, uploads_fd.get(), fmt::format("multipart upload {}", id));
    // A part written concurrently can make this fail (ENOTEMPTY); CLEANUP finishes the job.
    (void)fs->RemoveTree(uploads_fd.get(), claimed.c_str());
    return synced;
  }
};

// ---------------------------------------------------------------------------------------------
// LocalStore

LocalStore::LocalStore(std::unique_ptr<State> state) : state_(std::move(state)) {}
LocalStore::~LocalStore() = default;

Result<std::shared_ptr<LocalStore>> LocalStore::Open(std::filesystem::path root,
                                                     LocalStoreOptions options) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(root, ec);
  if (ec || root.empty()) {
    return InvalidArgumentError(fmt::format("local store root \"{}\": not a usable path ({})",
                                            root.string(), ec ? ec.message() : "empty"));
  }
  absolute = absolute.lexically_normal();
  if (!absolute.has_filename() && absolute != absolute.root_path()) {
    absolute = absolute.parent_path();  // "/srv/data/" -> "/srv/data"
  }
  const std::string shown = absolute.string();
  FileSystem& fs = options.file_system != nullptr ? *options.file_system : FileSystem::Posix();
  if (options.create) DEPOT_RETURN_IF_ERROR(CreateDirectories(fs, absolute));

  auto state = std::make_unique<State>();
  state->root = absolute;
  state->options = options;
  state->fs = &fs;
  state->root_fd = UniqueFd(::open(absolute.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!state->root_fd.valid()) {
    if (errno == ENOENT) {
      return NotFoundError(fmt::format("local store root \"{}\" does not exist", shown));
    }
    if (errno == ENOTDIR) {
      return InvalidArgumentError(fmt::format("local store root \"{}\" is not a directory", shown));
    }
    const int saved_errno = errno;
    return ErrnoToStatus(saved_errno, fmt::format("local store root \"{}\": opening", shown));
  }
  const std::string what = fmt::format("local store root \"{}\"", shown);
  DEPOT_ASSIGN_OR_RETURN(UniqueFd depot_dir,
                         OpenOrCreateDir(fs, state->root_fd.get(), kDepotDir, what));
  DEPOT_RETURN_IF_ERROR(CheckFormat(fs, depot_dir.get(), what));
  DEPOT_ASSIGN_OR_RETURN(state->uploads_fd,
                         OpenOrCreateDir(fs, depot_dir.get(), kUploadsDir, what));
  for (const auto& [fd, name] :
       {std::pair<UniqueFd*, const char*>{&state->lock_fd, "lock"},
        std::pair<UniqueFd*, const char*>{&state->open_lock_fd, "open.lock"}}) {
    *fd = UniqueFd(state->fs->OpenAt(depot_dir.get(), name, O_RDWR | O_CREAT | O_NOFOLLOW, 0666));
    if (!fd->valid()) {
      const int saved_errno = errno;
      return ErrnoToStatus(saved_errno, fmt::format("{}: opening .depot/{}", what, name));
    }
  }
  // Metadata lives in user extended attributes: find out now whether the file system has them.
  if (int err = state->fs->SetXattr(state->lock_fd.get(), kMetaXattr, "{}"); err != 0) {
    if (err == ENOTSUP) {
      return UnimplementedError(
          fmt::format("{}: the file system does not support user extended attributes, which the "
                      "local store needs for object metadata",
                      what));
    }
    const int saved_errno = errno;
    return ErrnoToStatus(saved_errno, fmt::format("{}: setting an extended attribute", what));
  }
  // CLEANUP: exclusive means nobody else has the store open, so staging names are crash debris.
  int open_fd = state->open_lock_fd.get();
  if (FileSystem::Flock(open_fd, LOCK_EX | LOCK_NB) == 0) {
    RemoveStaleStaging(fs, state->root_fd.get(), /*at_root=*/true);
    RemoveStaleStaging(fs, depot_dir.get(), /*at_root=*/false);
  } else if (errno != EWOULDBLOCK) {
    const int saved_errno = errno;
    return ErrnoToStatus(saved_errno, fmt::format("{}: locking .depot/open.lock", what));
  }
  if (int err = FileSystem::Flock(open_fd, LOCK_SH); err != 0) {
    return ErrnoToStatus(err, fmt::format("{}: locking .depot/open.lock", what));
  }
  return std::shared_ptr<LocalStore>(new LocalStore(std::move(state)));
}

const std::filesystem::path& LocalStore::root() const { return state_->root; }

Capabilities LocalStore::capabilities() const {
  Capabilities caps;
  caps.conditional_put = true;
  caps.put_unless_etag = true;
  caps.multipart = true;
  caps.delimiter_list = true;
  caps.copy = true;
  caps.copy_if_absent = true;
  caps.atomic_rename = true;
  caps.min_part_size = state_->options.min_part_size;
  caps.max_part_size = uint64_t{5} << 30;
  caps.max_parts = kMaxParts;
  caps.max_delete_batch = 1000;
  caps.streaming_writes = true;
  caps.checksums = true;
  return caps;
}

std::string LocalStore::ToString() const {
  return "file://" + PercentEncode(state_->root.string(), "/");
}

Result<PutResult> LocalStore::DoPut(std::string_view key, Bytes data, const PutOptions& options,
                                    const Context& /*ctx*/) {
  DEPOT_ASSIGN_OR_RETURN(KeyPath path, ParseKey(key));
  DEPOT_RETURN_IF_ERROR(CheckMetadataText(key, options));
  State& s = *state_;
  DEPOT_RETURN_IF_ERROR(s.PrecheckMode(path, key, options));
  DEPOT_ASSIGN_OR_RETURN(Staging staging, s.Stage(path, key));
  DEPOT_ASSIGN_OR_RETURN(std::string etag, s.WriteAndTag(staging.temp.fd(), data,
                                                         fmt::format("key {}", QuoteKey(key))));
  StoredMeta meta{std::move(etag), data.size(),           options.content_type,
                  options.headers, options.user_metadata, options.checksum};
  DEPOT_RETURN_IF_ERROR(SealTemp(staging.temp, meta, KeyWhat(key), /*block_crcs=*/true));
  DEPOT_RETURN_IF_ERROR(s.Commit(staging, path.name(), key, options));
  return PutResult{std::move(meta.etag), std::nullopt, options.checksum};
}

// The bytes of a streamed write on their way into its temporary file, with their MD5 running.
class StreamedBytes {
 public:
  explicit StreamedBytes(EtagPolicy policy) : policy_(policy) {}

  // Appends `data` to `fd` through `fs`; `what` names the file in the error.
  Status Append(FileSystem& fs, int fd, std::string_view data, std::string_view what) {
    if (int err = fs.WriteAll(fd, data.data(), data.size()); err != 0) {
      return ErrnoToStatus(
          err, fmt::format("{}: writing {} bytes at byte {}", what, data.size(), size_));
    }
    if (policy_ == EtagPolicy::kContentMd5) md5_.Update(data);
    size_ += data.size();
    return Status::Ok();
  }
  // The ETag of everything appended; once, after the last Append.
  std::string Etag() {
    return policy_ == EtagPolicy::kContentMd5 ? HexEncode(md5_.Finish()) : RandomHexId();
  }
  uint64_t size() const { return size_; }

 private:
  const EtagPolicy policy_;
  Md5 md5_;
  uint64_t size_ = 0;
};

// A streamed PUT: steps 1 and 2 begin at open, the bytes go to the temporary file as they come
// (their MD5 running alongside), and Finish seals, commits and syncs as Put does.
class LocalStore::FileWriter final : public ObjectWriter {
 public:
  FileWriter(State& state, std::string key, KeyPath path, PutOptions put, Staging staging,
             Context ctx)
      : state_(state),
        key_(std::move(key)),
        path_(std::move(path)),
        put_(std::move(put)),
        staging_(std::move(staging)),
        ctx_(std::move(ctx)),
        bytes_(state.options.etag) {}

  Status Write(std::string_view data) override {
    DEPOT_RETURN_IF_ERROR(Usable());
    if (Status stopped = CheckContext(ctx_, "write of key", key_); !stopped.ok()) {
      return Fail(std::move(stopped));
    }
    Status written = bytes_.Append(*state_.fs, staging_.temp.fd(), data, KeyWhat(key_));
    return written.ok() ? written : Fail(std::move(written));
  }

  Result<PutResult> Finish() override { return FinishChecked({}); }

  Result<PutResult> FinishChecked(const Checksum& checksum) override {
    DEPOT_RETURN_IF_ERROR(Usable());
    StoredMeta meta{bytes_.Etag(), bytes_.size(),      put_.content_type,
                    put_.headers,  put_.user_metadata, checksum};
    Status committed = [&] {
      DEPOT_RETURN_IF_ERROR(SealTemp(staging_.temp, meta, KeyWhat(key_), /*block_crcs=*/true));
      return state_.Commit(staging_, path_.name(), key_, put_);
    }();
    if (!committed.ok()) return Fail(std::move(committed));
    finished_ = true;
    return PutResult{std::move(meta.etag), std::nullopt, checksum};
  }

  Status Abort() override {
    if (finished_) return Status::Ok();
    if (error_.ok()) error_ = CancelledError(fmt::format("write of {}: aborted", KeyWhat(key_)));
    Discard();
    return Status::Ok();
  }

  uint64_t bytes_written() const override { return bytes_.size(); }

 private:
  Status Usable() const {
    if (finished_) {
      return FailedPreconditionError(fmt::format("write of {}: already finished", KeyWhat(key_)));
    }
    return error_;
  }
  Status Fail(Status error) {
    error_ = std::move(error);
    Discard();
    return error_;
  }
  // Unlinks the temporary file (while its directory is still open), then closes the directory.
  void Discard() {
    staging_.temp = TempFile();
    staging_.dir = UniqueFd();
  }

  State& state_;
  const std::string key_;
  const KeyPath path_;
  const PutOptions put_;
  Staging staging_;
  const Context ctx_;
  StreamedBytes bytes_;
  bool finished_ = false;
  Status error_;
};

Result<std::unique_ptr<ObjectWriter>> LocalStore::DoOpenWriter(std::string_view key,
                                                               const WriteOptions& options,
                                                               const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(KeyPath path, ParseKey(key));
  DEPOT_RETURN_IF_ERROR(CheckMetadataText(key, options.put));
  State& s = *state_;
  DEPOT_RETURN_IF_ERROR(s.PrecheckMode(path, key, options.put));
  DEPOT_ASSIGN_OR_RETURN(Staging staging, s.Stage(path, key));
  return std::unique_ptr<ObjectWriter>(std::make_unique<FileWriter>(
      s, std::string(key), std::move(path), options.put, std::move(staging), ctx));
}

Result<GetResult> LocalStore::DoGet(std::string_view key, const GetOptions& options,
                                    const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(KeyPath path, ParseKey(key));
  DEPOT_ASSIGN_OR_RETURN(OpenedObject object, state_->OpenObject(path, key));
  GetResult result;
  result.meta = std::move(object.meta);
  DEPOT_ASSIGN_OR_RETURN(result.not_modified, EvaluatePreconditions(options, result.meta));
  DEPOT_ASSIGN_OR_RETURN(result.range, options.range.Validate(result.meta.size));
  const uint64_t length = result.range.length();
  if (options.head || result.not_modified || length == 0) return result;
  std::unique_ptr<char[]> buffer(new (std::nothrow) char[length]);
  if (buffer == nullptr) {
    return ResourceExhaustedError(
        fmt::format("key {}: cannot allocate {} bytes to read into", QuoteKey(key), length));
  }
  uint64_t filled = 0;
  DEPOT_RETURN_IF_ERROR(ReadRange(object.fd.get(), result.meta.size, object.crcs,
                                  result.range.begin, result.range.end, key, ctx,
                                  [&](std::string_view bytes) {
                                    std::memcpy(buffer.get() + filled, bytes.data(), bytes.size());
                                    filled += bytes.size();
                                    return Status::Ok();
                                  }));
  result.data = Bytes::Adopt(std::move(buffer), length);
  return result;
}

Status LocalStore::DoGetStream(std::string_view key, const GetOptions& options,
                               const std::function<Status(const GetResult&)>& on_head,
                               const std::function<Status(std::string_view)>& on_data,
                               const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(KeyPath path, ParseKey(key));
  // The open descriptor is the version: a concurrent overwrite renames another file into place
  // and a delete unlinks the name, neither of which changes what this file holds.
  DEPOT_ASSIGN_OR_RETURN(OpenedObject object, state_->OpenObject(path, key));
  GetResult head;
  head.meta = std::move(object.meta);
  DEPOT_ASSIGN_OR_RETURN(head.not_modified, EvaluatePreconditions(options, head.meta));
  if (!head.not_modified) {
    DEPOT_ASSIGN_OR_RETURN(head.range, options.range.Validate(head.meta.size));
  }
  DEPOT_RETURN_IF_ERROR(on_head(head));
  if (options.head || head.not_modified) return Status::Ok();
  return ReadRange(object.fd.get(), head.meta.size, object.crcs, head.range.begin, head.range.end,
                   key, ctx, on_data);
}

Result<ObjectMeta> LocalStore::DoHead(std::string_view key, const Context& /*ctx*/) {
  DEPOT_ASSIGN_OR_RETURN(KeyPath path, ParseKey(key));
  return state_->HeadObject(path, key);
}

Status LocalStore::DoDelete(std::string_view key, const Context& /*ctx*/) {
  DEPOT_ASSIGN_OR_RETURN(KeyPath path, ParseKey(key));
  State& s = *state_;
  Result<UniqueFd> dir = s.OpenKeyDir(path, key, /*create=*/false);
  if (!dir.ok()) {
    return dir.status().code() == StatusCode::kNotFound ? Status::Ok() : dir.status();
  }
  UniqueFd inside;  // the directory of other keys that keeps the object as ".depot-self"
  {
    CommitGuard guard(s.commit_mu, s.lock_fd.get());
    DEPOT_RETURN_IF_ERROR(guard.status());
    int err = s.fs->UnlinkAt(dir->get(), path.name().c_str(), 0);
    if (err == EISDIR) {
      inside = UniqueFd(::openat(dir->get(), path.name().c_str(),
                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      err = inside.valid() ? s.fs->UnlinkAt(inside.get(), kSelfName, 0) : errno;
    }
    if (err != 0) {
      if (err == ENOENT || err == ENOTDIR) return Status::Ok();  // absent: nothing to delete
      return ErrnoToStatus(err, fmt::format("key {}: deleting", QuoteKey(key)));
    }
  }
  return SyncDirectory(*state_->fs, inside.valid() ? inside.get() : dir->get(), KeyWhat(key));
}

std::vector<Status> LocalStore::DoDeleteMany(std::span<const std::string> keys,
                                             const Context& ctx) {
  return DeleteEach(*this, keys, ctx);
}

Result<ListResult> LocalStore::DoList(const ListOptions& options, const Context& /*ctx*/) {
  ListBuilder builder(options);
  DEPOT_RETURN_IF_ERROR(builder.status());
  // Walk from the deepest directory the prefix names; its last partial segment filters names.
  const std::string& prefix = options.prefix;
  size_t slash = prefix.rfind('/');
  std::string key_prefix = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
  if (key_prefix.find('\0') != std::string::npos) return std::move(builder).Finish();
  std::vector<std::string> names;  // the directories of the prefix's segments, encoded
  for (size_t start = 0; start < key_prefix.size();) {
    const size_t end = key_prefix.find('/', start);
    names.push_back(EncodeSegment(std::string_view(key_prefix).substr(start, end - start)));
    start = end + 1;
  }
  UniqueFd dirfd = OpenDirectoryPath(state_->root_fd.get(), names);
  if (!dirfd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV) {
      return std::move(builder).Finish();  // no key has this prefix
    }
    const int saved_errno = errno;
    return ErrnoToStatus(saved_errno,
                         fmt::format("list: opening the directory of prefix {}", QuoteKey(prefix)));
  }
  ListWalk walk(options, builder);
  DEPOT_RETURN_IF_ERROR(
      walk.Visit(dirfd.get(), key_prefix, std::string_view(prefix).substr(key_prefix.size())));
  return std::move(builder).Finish();
}

Result<PutResult> LocalStore::DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                                     const Context& /*ctx*/) {
  DEPOT_ASSIGN_OR_RETURN(KeyPath from_path, ParseKey(from));
  DEPOT_ASSIGN_OR_RETURN(KeyPath to_path, ParseKey(to));
  State& s = *state_;
  Result<OpenedObject> source = s.OpenObject(from_path, from);
  if (!source.ok()) {
    if (source.status().code() == StatusCode::kNotFound) {
      return NotFoundError(fmt::format("copy: source {}", source.status().message()));
    }
    return source.status();
  }
  PutOptions options;
  options.mode = mode == CopyMode::kCreate ? PutMode::kCreate : PutMode::kOverwrite;
  options.content_type = source->meta.content_type;
  options.headers = source->meta.headers;
  options.user_metadata = source->meta.user_metadata;
  DEPOT_RETURN_IF_ERROR(s.PrecheckMode(to_path, to, options));
  DEPOT_ASSIGN_OR_RETURN(Staging staging, s.Stage(to_path, to));

  // The same bytes: the source's checksum and parts hold for the copy.
  StoredMeta meta{source->meta.etag, source->meta.size,     options.content_type,
                  options.headers,   options.user_metadata, source->meta.checksum,
                  source->meta.parts};
  const int in = source->fd.get();
  const int out = staging.temp.fd();
  int64_t copied = 0;
  if (s.options.etag == EtagPolicy::kContentMd5 && !source->stored_etag) {
    // A file dropped in by hand has no MD5 yet: compute it on the way through.
    Md5 md5;
    std::unique_ptr<char[]> buffer(new (std::nothrow) char[1 << 20]);
    if (buffer == nullptr) return ResourceExhaustedError("copy: cannot allocate a 1 MiB buffer");
    for (;;) {
      int64_t got = FileSystem::ReadAt(in, buffer.get(), 1 << 20, static_cast<uint64_t>(copied));
      if (got < 0) {
        const int saved_errno = errno;
        return ErrnoToStatus(saved_errno, fmt::format("copy: reading {}", QuoteKey(from)));
      }
      if (got == 0) break;
      if (int err = state_->fs->WriteAll(out, buffer.get(), static_cast<size_t>(got)); err != 0) {
        return ErrnoToStatus(err, fmt::format("copy: writing {}", QuoteKey(to)));
      }
      md5.Update(std::string_view(buffer.get(), static_cast<size_t>(got)));
      copied += got;
    }
    meta.etag = HexEncode(md5.Finish());
  } else {
    copied = state_->fs->CopyRange(in, 0, out, meta.size);
    if (copied < 0) {
      return ErrnoToStatus(errno,
                           fmt::format("copy {} to {}: copying", QuoteKey(from), QuoteKey(to)));
    }
    if (s.options.etag == EtagPolicy::kUnique) meta.etag = RandomHexId();
  }
  if (static_cast<uint64_t>(copied) != meta.size) {
    return DataLossError(fmt::format("copy: source {} holds {} bytes, its size says {}",
                                     QuoteKey(from), copied, meta.size));
  }
  if (source->crcs.block != 0) {
    // The copy's blocks must have the source's CRCs: a damaged source is never copied.
    DEPOT_ASSIGN_OR_RETURN(meta.crcs,
                           ComputeBlockCrcs(out, meta.size, KeyWhat(to), source->crcs.block));
    if (meta.crcs.values != source->crcs.values) {
      return DataLossError(fmt::format(
          "copy: source {} does not match its CRC-32Cs: the file was changed or damaged on disk",
          QuoteKey(from)));
    }
  }
  DEPOT_RETURN_IF_ERROR(SealTemp(staging.temp, meta, KeyWhat(to), /*block_crcs=*/true));
  DEPOT_RETURN_IF_ERROR(s.Commit(staging, to_path.name(), to, options));
  return PutResult{std::move(meta.etag), std::nullopt, std::move(meta.checksum)};
}

Status LocalStore::DoRename(std::string_view from, std::string_view to, CopyMode mode,
                            const Context& /*ctx*/) {
  DEPOT_ASSIGN_OR_RETURN(KeyPath from_path, ParseKey(from));
  DEPOT_ASSIGN_OR_RETURN(KeyPath to_path, ParseKey(to));
  State& s = *state_;
  auto missing = [&] {
    return NotFoundError(fmt::format("rename: source key {} does not exist", QuoteKey(from)));
  };
  Result<UniqueFd> from_dir = s.OpenKeyDir(from_path, from, /*create=*/false);
  if (!from_dir.ok()) {
    return from_dir.status().code() == StatusCode::kNotFound ? missing() : from_dir.status();
  }
  UniqueFd to_dir;
  Slot target;
  UniqueFd source_inside;  // the directory that keeps the source as ".depot-self", if it does
  for (int attempt = 0;; ++attempt) {
    const bool may_retry = attempt + 1 < kMaxAttempts;
    if (!to_dir.valid()) {
      Result<UniqueFd> opened = s.OpenKeyDir(to_path, to, /*create=*/true);
      if (!opened.ok()) {
        if (opened.status().code() == StatusCode::kNotFound && may_retry) continue;
        return opened.status();
      }
      to_dir = std::move(*opened);
    }
    CommitGuard guard(s.commit_mu, s.lock_fd.get());
    DEPOT_RETURN_IF_ERROR(guard.status());
    int source_dir = from_dir->get();
    std::string source_name = from_path.name();
    struct stat st;
    for (int level = 0;; ++level) {
      if (::fstatat(source_dir, source_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return missing();
        const int saved_errno = errno;
        return ErrnoToStatus(saved_errno, fmt::format("rename: fstatat {}", QuoteKey(from)));
      }
      if (!S_ISDIR(st.st_mode) || level > 0) break;
      source_inside = UniqueFd(::openat(source_dir, source_name.c_str(),
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!source_inside.valid()) return missing();
      source_dir = source_inside.get();
      source_name = kSelfName;
    }
    if (!S_ISREG(st.st_mode)) return missing();
    if (from == to) return Status::Ok();
    DEPOT_ASSIGN_OR_RETURN(target, ResolveSlot(*s.fs, to_dir.get(), to_path.name(), to));
    if (IsHashedName(target.name)) {
      // The file records the segment its new name stands for before it takes the name.
      UniqueFd file(::openat(source_dir, source_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      int err = file.valid()
                    ? s.fs->SetXattr(file.get(), NameXattr(target.name).c_str(), to_path.segment())
                    : errno;
      if (err == 0) err = s.fs->Fsync(file.get());
      if (err != 0) {
        return ErrnoToStatus(err, fmt::format("rename: recording the name {}", QuoteKey(to)));
      }
    }
    const char* to_name = target.name.c_str();
    int err = s.fs->RenameAt(source_dir, source_name.c_str(), target.dir, to_name,
                             mode == CopyMode::kCreate ? RENAME_NOREPLACE : 0);
    if (err == EINVAL && mode == CopyMode::kCreate) {
      // A file system without RENAME_NOREPLACE: link (fails if the name exists), then unlink.
      err = s.fs->LinkAt(source_dir, source_name.c_str(), target.dir, to_name);
      if (err == 0) (void)s.fs->UnlinkAt(source_dir, source_name.c_str(), 0);
    }
    if (err == 0) break;
    if (err == ENOENT && may_retry) {  // the destination directory was removed: resolve again
      to_dir = UniqueFd();
      continue;
    }
    // The destination became a directory since ResolveSlot: again.
    if ((err == EISDIR || err == ENOTEMPTY || err == EEXIST) && may_retry &&
        !target.inside.valid() && ::fstatat(target.dir, to_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(st.st_mode)) {
      continue;
    }
    if (err == EEXIST && mode == CopyMode::kCreate) {
      return AlreadyExistsError(fmt::format("rename: destination {} exists", QuoteKey(to)));
    }
    return ErrnoToStatus(err, fmt::format("rename {} to {}", QuoteKey(from), QuoteKey(to)));
  }
  DEPOT_RETURN_IF_ERROR(SyncDirectory(*state_->fs, target.dir, KeyWhat(to)));
  const int source_dir = source_inside.valid() ? source_inside.get() : from_dir->get();
  if (source_dir != target.dir) {
    DEPOT_RETURN_IF_ERROR(SyncDirectory(*state_->fs, source_dir, KeyWhat(from)));
  }
  return Status::Ok();
}

Result<std::string> LocalStore::DoCreateMultipart(std::string_view key, const PutOptions& options,
                                                  const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ParseKey(key));
  DEPOT_RETURN_IF_ERROR(CheckNoCreateCondition(key, options));
  DEPOT_RETURN_IF_ERROR(CheckMetadataText(key, options));
  State& s = *state_;
  const int uploads = s.uploads_fd.get();
  UploadRecord record{std::string(key), options, Clock::now()};
  std::string id = RandomHexId();
  std::string staging_name = TempName();
  const std::string what = fmt::format("multipart upload for key {}", QuoteKey(key));
  if (int err = s.fs->MkdirAt(uploads, staging_name.c_str(), 0777); err != 0) {
    return ErrnoToStatus(err, fmt::format("{}: creating its directory", what));
  }
  auto built = [&]() -> Status {
    UniqueFd dir(
        ::openat(uploads, staging_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) {
      const int saved_errno = errno;
      return ErrnoToStatus(saved_errno, fmt::format("{}: opening its directory", what));
    }
    UniqueFd file(
        s.fs->OpenAt(dir.get(), kUploadRecord, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0666));
    if (!file.valid()) {
      const int saved_errno = errno;
      return ErrnoToStatus(saved_errno, fmt::format("{}: creating its record", what));
    }
    std::string text = EncodeUpload(record);
    int err = state_->fs->WriteAll(file.get(), text.data(), text.size());
    if (err == 0) err = state_->fs->Fsync(file.get());
    if (err == 0) err = state_->fs->Fsync(dir.get());
    if (err != 0) return ErrnoToStatus(err, fmt::format("{}: writing its record", what));
    if (int err = s.fs->RenameAt(uploads, staging_name.c_str(), uploads, id.c_str()); err != 0) {
      return ErrnoToStatus(err, fmt::format("{}: publishing", what));
    }
    return Status::Ok();
  }();
  if (!built.ok()) {
    (void)state_->fs->RemoveTree(uploads, staging_name.c_str());
    return built;
  }
  DEPOT_RETURN_IF_ERROR(SyncDirectory(*state_->fs, uploads, what));
  return id;
}

struct LocalStore::PartFile {
  UniqueFd dir;   // the upload's directory
  TempFile temp;  // in `dir`; destroyed (unlinked) before it closes
  std::string what;
  std::string key;
  Checksum spec;  // the upload's checksum algorithm and type
};

Result<LocalStore::PartFile> LocalStore::StagePart(std::string_view key, std::string_view upload_id,
                                                   int part_number) {
  DEPOT_RETURN_IF_ERROR(ParseKey(key));
  if (part_number < 1 || part_number > kMaxParts) {
    return InvalidArgumentError(
        fmt::format("part number {} is outside 1..{}", part_number, kMaxParts));
  }
  DEPOT_ASSIGN_OR_RETURN(State::OpenedUpload upload, state_->OpenUpload(key, upload_id));
  PartFile part{std::move(upload.dir),
                {},
                fmt::format("key {} part {}", QuoteKey(key), part_number),
                std::string(key),
                std::move(upload.record.options.checksum)};
  if (CreateTempIn(*state_->fs, part.dir.get(), &part.temp) != 0) {
    const int saved_errno = errno;
    return ErrnoToStatus(saved_errno, fmt::format("{}: creating a temporary file", part.what));
  }
  return part;
}

Result<PartInfo> LocalStore::DoPutPart(std::string_view key, std::string_view upload_id,
                                       int part_number, Bytes data, const Context& /*ctx*/) {
  State& s = *state_;
  DEPOT_ASSIGN_OR_RETURN(PartFile staged, StagePart(key, upload_id, part_number));
  const std::string& what = staged.what;
  TempFile& temp = staged.temp;
  DEPOT_ASSIGN_OR_RETURN(std::string etag, s.WriteAndTag(temp.fd(), data, what));
  PartInfo part{part_number, std::move(etag), data.size()};
  DEPOT_RETURN_IF_ERROR(
      SealTemp(temp, StoredMeta{part.etag, part.size}, what, /*block_crcs=*/false));
  std::string name = std::to_string(part_number);
  if (int err = s.fs->RenameAt(staged.dir.get(), temp.name(), staged.dir.get(), name.c_str());
      err != 0) {
    return ErrnoToStatus(err, fmt::format("{}: moving into place", what));
  }
  temp.Committed();
  DEPOT_RETURN_IF_ERROR(SyncDirectory(*state_->fs, staged.dir.get(), what));
  return part;
}

// A streamed PutPart: a temporary file in the upload's directory, renamed to the part's number
// at Finish.
class LocalStore::PartFileWriter final : public PartWriter {
 public:
  PartFileWriter(EtagPolicy etag, PartFile staged, int number, Context ctx)
      : what_(std::move(staged.what)),
        key_(std::move(staged.key)),
        spec_(std::move(staged.spec)),
        number_(number),
        dir_(std::move(staged.dir)),
        temp_(std::move(staged.temp)),
        ctx_(std::move(ctx)),
        bytes_(etag) {}

  Status Write(std::string_view data) override {
    DEPOT_RETURN_IF_ERROR(Usable());
    if (Status stopped = ctx_.Check(what_); !stopped.ok()) return Fail(std::move(stopped));
    Status written = bytes_.Append(temp_.fs(), temp_.fd(), data, what_);
    return written.ok() ? written : Fail(std::move(written));
  }

  Result<PartInfo> Finish() override { return FinishChecked({}); }

  Result<PartInfo> FinishChecked(const Checksum& checksum) override {
    DEPOT_RETURN_IF_ERROR(Usable());
    PartInfo part{number_, bytes_.Etag(), bytes_.size()};
    if (Status kept = KeepPartChecksum(key_, spec_, checksum, part); !kept.ok()) {
      return Fail(std::move(kept));
    }
    Status staged = [&] {
      StoredMeta meta{part.etag, part.size};
      meta.checksum.value = part.checksum;
      DEPOT_RETURN_IF_ERROR(SealTemp(temp_, meta, what_, /*block_crcs=*/false));
      const std::string name = std::to_string(number_);
      FileSystem& fs = temp_.fs();
      if (int err = fs.RenameAt(dir_.get(), temp_.name(), dir_.get(), name.c_str()); err != 0) {
        return ErrnoToStatus(err, fmt::format("{}: moving into place", what_));
      }
      temp_.Committed();
      return SyncDirectory(fs, dir_.get(), what_);
    }();
    if (!staged.ok()) return Fail(std::move(staged));
    finished_ = true;
    return part;
  }

 private:
  Status Usable() const {
    if (finished_) return FailedPreconditionError(fmt::format("{}: already finished", what_));
    return error_;
  }
  Status Fail(Status error) {
    error_ = std::move(error);
    temp_ = TempFile();
    return error_;
  }

  const std::string what_;
  const std::string key_;
  const Checksum spec_;
  const int number_;
  UniqueFd dir_;
  TempFile temp_;
  const Context ctx_;
  StreamedBytes bytes_;
  bool finished_ = false;
  Status error_;
};

Result<std::unique_ptr<PartWriter>> LocalStore::DoOpenPartWriter(std::string_view key,
                                                                 std::string_view upload_id,
                                                                 int part_number,
                                                                 const Context& ctx) {
  DEPOT_ASSIGN_OR_RETURN(PartFile staged, StagePart(key, upload_id, part_number));
  return std::unique_ptr<PartWriter>(
      std::make_unique<PartFileWriter>(state_->options.etag, std::move(staged), part_number, ctx));
}

Result<PutResult> LocalStore::DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                                  std::span<const PartInfo> parts,
                                                  const WriteCondition& condition,
                                                  const Context& /*ctx*/) {
  DEPOT_ASSIGN_OR_RETURN(KeyPath path, ParseKey(key));
  State& s = *state_;
  DEPOT_ASSIGN_OR_RETURN(State::OpenedUpload upload, s.OpenUpload(key, upload_id));
  // Open every listed part that exists; the descriptors pin the versions that were validated.
  std::vector<PartInfo> staged;
  std::map<int, UniqueFd> files;
  for (const PartInfo& listed : parts) {
    const int number = listed.part_number;
    if (number < 1 || number > kMaxParts || files.count(number) != 0) continue;
    DEPOT_ASSIGN_OR_RETURN(std::optional<StagedPart> part, OpenPart(upload.dir.get(), key, number));
    if (!part) continue;  // never uploaded: ValidateCompleteParts says so
    staged.push_back(std::move(part->info));
    files.emplace(number, std::move(part->fd));
  }
  DEPOT_RETURN_IF_ERROR(ValidateCompleteParts(parts, staged, s.options.min_part_size));
  // `staged` is in list order: the parts that were missing failed the validation.
  DEPOT_ASSIGN_OR_RETURN(AssembledChecksums checksums,
                         AssembleChecksums(key, upload.record.options.checksum, staged));
  // Uploads recorded before conditions moved to completion keep the mode they were made with.
  const PutOptions options =
      condition.mode == PutMode::kOverwrite && upload.record.options.mode != PutMode::kOverwrite
          ? upload.record.options
          : ConditionedPut(upload.record.options, condition);
  DEPOT_RETURN_IF_ERROR(s.PrecheckMode(path, key, options));

  DEPOT_ASSIGN_OR_RETURN(Staging staging, s.Stage(path, key));
  StoredMeta meta{"", 0, options.content_type, options.headers, options.user_metadata};
  std::vector<std::string> etags;
  for (const PartInfo& listed : parts) {
    const PartInfo& part = *std::find_if(staged.begin(), staged.end(), [&](const PartInfo& p) {
      return p.part_number == listed.part_number;
    });
    int64_t copied =
        state_->fs->CopyRange(files[part.part_number].get(), 0, staging.temp.fd(), part.size);
    if (copied < 0) {
      return ErrnoToStatus(errno,
                           fmt::format("key {}: copying part {}", QuoteKey(key), part.part_number));
    }
    if (static_cast<uint64_t>(copied) != part.size) {
      return DataLossError(fmt::format("key {} part {}: holds {} bytes, its metadata says {}",
                                       QuoteKey(key), part.part_number, copied, part.size));
    }
    meta.size += part.size;
    etags.push_back(part.etag);
  }
  meta.etag = s.options.etag == EtagPolicy::kContentMd5 ? MultipartEtag(etags) : RandomHexId();
  meta.checksum = std::move(checksums.checksum);
  meta.parts = std::move(checksums.parts);
  DEPOT_RETURN_IF_ERROR(SealTemp(staging.temp, meta, KeyWhat(key), /*block_crcs=*/true));
  DEPOT_RETURN_IF_ERROR(s.Commit(staging, path.name(), key, options));
  // The object is committed; an upload already removed by a concurrent complete or abort is fine.
  Status removed = s.RemoveUpload(std::string(upload_id), key);
  if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
  return PutResult{std::move(meta.etag), std::nullopt, std::move(meta.checksum)};
}

Status LocalStore::DoAbortMultipart(std::string_view key, std::string_view upload_id,
                                    const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ParseKey(key));
  State& s = *state_;
  DEPOT_ASSIGN_OR_RETURN(State::OpenedUpload upload, s.OpenUpload(key, upload_id));
  upload.dir = UniqueFd();
  return s.RemoveUpload(std::string(upload_id), key);
}

Result<std::vector<PartInfo>> LocalStore::DoListParts(std::string_view key,
                                                      std::string_view upload_id,
                                                      const Context& /*ctx*/) {
  DEPOT_RETURN_IF_ERROR(ParseKey(key));
  State& s = *state_;
  DEPOT_ASSIGN_OR_RETURN(State::OpenedUpload upload, s.OpenUpload(key, upload_id));
  std::vector<FileSystem::DirEntry> entries;
  if (int err = FileSystem::ReadDirectory(upload.dir.get(), &entries); err != 0) {
    return ErrnoToStatus(err, fmt::format("multipart upload {}: reading its parts", upload_id));
  }
  std::vector<PartInfo> parts;
  for (const FileSystem::DirEntry& entry : entries) {
    int number = 0;
    const char* end = entry.name.data() + entry.name.size();
    auto [at, ec] = std::from_chars(entry.name.data(), end, number);
    // Part files are named by their number; temporaries and the record are not.
    if (ec != std::errc() || at != end || number < 1 || number > kMaxParts ||
        entry.name != std::to_string(number)) {
      continue;
    }
    DEPOT_ASSIGN_OR_RETURN(std::optional<StagedPart> part, OpenPart(upload.dir.get(), key, number));
    if (!part) continue;
    if (!part->info.checksum.empty()) {
      part->info.checksum_algorithm = upload.record.options.checksum.algorithm;
    }
    parts.push_back(std::move(part->info));
  }
  std::sort(parts.begin(), parts.end(),
            [](const PartInfo& a, const PartInfo& b) { return a.part_number < b.part_number; });
  return parts;
}

Result<std::vector<MultipartUploadInfo>> LocalStore::DoListMultipartUploads(
    std::string_view prefix, const Context& /*ctx*/) {
  State& s = *state_;
  std::vector<FileSystem::DirEntry> entries;
  if (int err = FileSystem::ReadDirectory(s.uploads_fd.get(), &entries); err != 0) {
    return ErrnoToStatus(err, "list multipart uploads: reading .depot/uploads");
  }
  std::vector<MultipartUploadInfo> out;
  for (const FileSystem::DirEntry& entry : entries) {
    if (entry.type != FileSystem::DirEntry::Type::kDirectory || !IsUploadId(entry.name)) continue;
    UniqueFd dir(::openat(s.uploads_fd.get(), entry.name.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) {
      if (errno == ENOENT) continue;  // completed or aborted meanwhile
      const int saved_errno = errno;
      return ErrnoToStatus(saved_errno, fmt::format("multipart upload {}: opening", entry.name));
    }
    Result<UploadRecord> record = State::ReadUpload(dir.get(), entry.name);
    if (!record.ok()) {
      if (record.status().code() == StatusCode::kNotFound) continue;
      return record.status();
    }
    if (!StartsWith(record->key, prefix)) continue;
    out.push_back({std::move(record->key), entry.name, record->initiated});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.key, a.initiated) < std::tie(b.key, b.initiated);
  });
  return out;
}

}  // namespace depot::object
