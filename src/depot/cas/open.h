// depot::cas::Open: a blob store by URL.
//
//   cas:///srv/cas                  the bytes in the local directory /srv/cas/objects, the index
//                                   in RocksDB at /srv/cas/index (the directory is made)
//   cas:///srv/cas?index=sqlite     the index in SQLite at /srv/cas/index.db instead
//   cas://?objects=URL&index=URL    any object store and kv store, by their own URLs
//                                   (percent-encoded: object::Open and kv::Open read them)
//
// Options: window=BYTES (BlobStoreOptions::window). A URL that is not one of these, an unknown
// option or a bad value is kInvalidArgument naming it; the stores' own errors are returned as
// they are. Thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "depot/cas/blob_store.h"
#include "depot/core/result.h"

namespace depot::cas {

Result<std::unique_ptr<BlobStore>> Open(std::string_view url);

}  // namespace depot::cas
