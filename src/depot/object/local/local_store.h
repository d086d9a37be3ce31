// depot::object::LocalStore: an object store in a local directory, one plain file per object.
//
// The object "a/b/c" is the file <root>/a/b/c holding exactly its bytes, so the tree can be read
// with ordinary tools and files copied in by hand are objects too. Everything the ObjectStore
// interface offers is supported: conditional puts, multipart uploads, delimiter listing, copy,
// copy-if-absent and atomic rename. The on-disk and crash-consistency protocol is described at the
// top of local_store.cc; in short, every write goes to a temporary file beside its destination,
// is fsync'd and renamed (or linked) into place, and the directory is fsync'd before the call
// returns: an acknowledged write survives a crash or power loss, an interrupted one leaves the old
// object. Thread-safe, and safe to share between processes opening the same root: every change of
// a name (commit of a put, copy or multipart upload; delete; rename) holds an in-process mutex plus
// flock() on <root>/.depot/lock for the check-and-rename only, which makes conditional writes
// atomic with respect to all other writes. Local file systems only (flock semantics).
//
// Keys. Every key the ObjectStore contract allows (1..1024 bytes of UTF-8 without NUL), which is
// every key S3 accepts, is stored and listed exactly, in any combination. A segment that cannot be
// a file name of its own ("" in "e/" or "//d", ".", "..", a name starting with ".depot", one longer
// than 255 bytes) is stored under an escaped or hashed name, and an object whose key is also a
// directory of other keys ("foo/bar" beside "foo/bar/xyzzy") lives inside that directory as
// ".depot-self" (local_store.cc, KEYS). Plain keys stay plain paths. The store's format version
// is in <root>/.depot/format; stores written before it (format 1) open unchanged, and a store of
// a later format is refused with kFailedPrecondition.
//
// Paths never leave the root: directories are resolved with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS) and files opened with O_NOFOLLOW. A symbolic link inside the root is not
// an object and is never read, written or listed through: reads through one are kNotFound, writes
// through a linked directory are kPermissionDenied, and a put or delete of a key whose file is a
// link replaces or removes the link itself, never its target.
//
// Metadata. The ETag, size, content type and user metadata live in one extended attribute,
// "user.depot" (JSON), on the data file; Open fails with kUnimplemented when the file system has
// no user extended attributes. A file without the attribute (dropped in by hand) has an empty
// content type and the ETag "<size>-<mtime ns>-<inode>" (hex): it changes whenever the file is
// replaced or touched. A depot-written file whose size no longer matches its metadata (edited in
// place by hand) reads as kDataLoss until it is overwritten or deleted. The content type and user
// metadata must be UTF-8 (kInvalidArgument otherwise) and must fit the file system's
// extended-attribute limit (about 4 KiB in total on ext4). Checksums (capabilities().checksums)
// live there too, and so does a multipart object's part list, within 2 KiB: without its part
// checksums when they do not fit, and not at all when even the sizes do not (local_store.cc).
//
// Integrity. Every object depot writes carries a CRC-32C per block (64 KiB blocks, at most 256
// of them per object, larger for large objects; local_store.cc, BLOCK CRCS). Every read checks
// each block it touches before handing on any of its bytes, so a byte changed on disk (a flipped
// bit that keeps the size) is kDataLoss naming the bytes, never data; a copy of such an object
// fails the same way. Files without the CRCs (dropped in by hand, written before them) are read
// unchecked.
//
// Costs. A page of List reads and sorts every directory it walks through: the directories on the
// path to the first key of the page and those the page spans (with a delimiter, a rolled-up
// directory is left after its first key). Empty directories are not removed on Delete. The first
// store opened on a root (no other process or instance has it open) walks the whole tree to
// remove temporary files left by a crash; see local_store.cc.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "depot/core/result.h"
#include "depot/object/local/file_system.h"
#include "depot/object/store.h"

namespace depot::object {

enum class EtagPolicy {
  // The MD5 of the bytes (hex), as S3 reports for single-part objects; multipart objects get
  // S3's md5-of-md5s-N. Costs one MD5 pass over every byte written.
  kContentMd5,
  // A random 128-bit id (32 hex characters) per write: no hashing cost, but not an MD5, and equal
  // bytes written twice get different ETags.
  kUnique,
};

struct LocalStoreOptions {
  EtagPolicy etag = EtagPolicy::kContentMd5;
  // Multipart: the minimum size of every part but the last (S3's is 5 MiB).
  uint64_t min_part_size = 5 << 20;
  // Create the root directory (and its missing parents) if it does not exist; otherwise a missing
  // root is kNotFound.
  bool create = true;
  // The system calls that change files and directories go through this (file_system.h); it must
  // outlive the store. nullptr: the kernel's (FileSystem::Posix()). Tests put a fault-injecting
  // one here.
  FileSystem* file_system = nullptr;
};

class LocalStore final : public ObjectStore {
 public:
  // Opens (and with options.create, creates) the store rooted at `root`, a relative or absolute
  // path. kNotFound for a missing root without options.create, kInvalidArgument when it is not a
  // directory, kUnimplemented when its file system has no user extended attributes.
  static Result<std::shared_ptr<LocalStore>> Open(std::filesystem::path root,
                                                  LocalStoreOptions options = {});
  ~LocalStore() override;
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  // The absolute, normalised root directory.
  const std::filesystem::path& root() const;

  Capabilities capabilities() const override;
  // "file://" + the absolute root (percent-encoded where a URL needs it).
  std::string ToString() const override;

 protected:
  Result<PutResult> DoPut(std::string_view key, Bytes data, const PutOptions& options,
                          const Context& ctx) override;
  Result<GetResult> DoGet(std::string_view key, const GetOptions& options,
                          const Context& ctx) override;
  Result<ObjectMeta> DoHead(std::string_view key, const Context& ctx) override;
  // Writes straight into the object's temporary file (PUT steps 1 and 2 at open, the bytes as
  // they come with their MD5 kept running, steps 3 and 4 at Finish); Abort unlinks it.
  Result<std::unique_ptr<ObjectWriter>> DoOpenWriter(std::string_view key,
                                                     const WriteOptions& options,
                                                     const Context& ctx) override;
  Status DoGetStream(std::string_view key, const GetOptions& options,
                     const std::function<Status(const GetResult&)>& on_head,
                     const std::function<Status(std::string_view)>& on_data,
                     const Context& ctx) override;
  Status DoDelete(std::string_view key, const Context& ctx) override;
  std::vector<Status> DoDeleteMany(std::span<const std::string> keys, const Context& ctx) override;
  Result<ListResult> DoList(const ListOptions& options, const Context& ctx) override;
  Result<PutResult> DoCopy(std::string_view from, std::string_view to, CopyMode mode,
                           const Context& ctx) override;
  Status DoRename(std::string_view from, std::string_view to, CopyMode mode,
                  const Context& ctx) override;

  // Uploads live in <root>/.depot/uploads/ and survive closing and reopening the store (as in S3)
  // until they are completed or aborted.
  Result<std::string> DoCreateMultipart(std::string_view key, const PutOptions& options,
                                        const Context& ctx) override;
  Result<PartInfo> DoPutPart(std::string_view key, std::string_view upload_id, int part_number,
                             Bytes data, const Context& ctx) override;
  Result<PutResult> DoCompleteMultipart(std::string_view key, std::string_view upload_id,
                                        std::span<const PartInfo> parts,
                                        const WriteCondition& condition,
                                        const Context& ctx) override;
  Status DoAbortMultipart(std::string_view key, std::string_view upload_id,
                          const Context& ctx) override;
  // Writes the part straight into its temporary file in the upload's directory.
  Result<std::unique_ptr<PartWriter>> DoOpenPartWriter(std::string_view key,
                                                       std::string_view upload_id, int part_number,
                                                       const Context& ctx) override;
  Result<std::vector<PartInfo>> DoListParts(std::string_view key, std::string_view upload_id,
                                            const Context& ctx) override;
  Result<std::vector<MultipartUploadInfo>> DoListMultipartUploads(std::string_view prefix,
                                                                  const Context& ctx) override;

 private:
  struct State;  // descriptors, locks and options (local_store.cc)
  class FileWriter;
  class PartFileWriter;
  struct PartFile;  // a part's temporary file in its upload's directory

  // The common start of PutPart and OpenPartWriter: checks, the upload, the temporary file.
  Result<PartFile> StagePart(std::string_view key, std::string_view upload_id, int part_number);

  explicit LocalStore(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace depot::object
