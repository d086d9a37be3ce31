// depot::kv::Open: a kv store by URL, over every backend this build has.
//
//   mem://                                  the memory model (nothing persists)
//   rocksdb:///srv/db?compression=zstd      a RocksDB directory; compression none, snappy, lz4
//                                           (the default), zstd, zlib or bzip2
//   sqlite:///srv/kv.db                     a SQLite database file
//   lmdb:///srv/env?map_size=1073741824     an LMDB environment directory; map_size is where
//                                           its map starts (it grows by itself)
//
// Every store opens with the state spaces it already has plus `spaces` (created when missing).
// Options are query parameters; an unknown one, an unknown scheme, or a scheme this build left
// out is kInvalidArgument naming it (with the schemes there are). `create=0` refuses to create a
// store that does not exist yet (kNotFound naming it). Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "depot/core/result.h"
#include "depot/kv/store.h"

namespace depot::kv {

Result<std::shared_ptr<Store>> Open(std::string_view url,
                                    const std::vector<std::string>& spaces = {});

}  // namespace depot::kv
