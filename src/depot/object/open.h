// Opening object stores by URL.
//
//   object::Open("mem://")              a new, empty memory store
//   object::Open("mem://name")          the process-wide memory store called `name`
//   object::Open("file:///srv/data")    the local-directory store rooted at /srv/data
//   object::Open("/srv/data"), Open("rel/dir")   the same, from a plain path
//   object::Open("...?prefix=tenant/")  any of them wrapped in a PrefixStore
//
// Options: "prefix" (every scheme; given twice, the values are joined in order); file: takes
// "etag=md5|unique" (LocalStoreOptions::etag). mem:// names a process-wide store that lives until
// the process exits; mem:// without a name is a new store each time.
//
// Schemes are registered explicitly: RegisterBuiltinBackends() (called by Open itself, once)
// registers mem and file; a later backend adds itself with RegisterScheme. An unknown scheme, a
// malformed URL or an unknown option is kInvalidArgument naming it. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "depot/core/result.h"
#include "depot/core/url.h"
#include "depot/object/store.h"

namespace depot::object {

using StoreFactory = std::function<Result<std::shared_ptr<ObjectStore>>(const Url& url)>;

Result<std::shared_ptr<ObjectStore>> Open(std::string_view url_or_path);

// Adds or replaces the factory for `scheme` (lower case).
void RegisterScheme(std::string scheme, StoreFactory factory);
void RegisterBuiltinBackends();

}  // namespace depot::object
