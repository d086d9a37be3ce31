// (internal to resource/) File helpers shared by the mmap driver and the atomic writer: errno as
// a Status with a formatted message, whole writes, and making a directory entry durable.
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include "depot/core/status.h"

namespace depot::resource::internal {

// errno as a Status whose message is `format` filled in (errno is read first).
template <typename... Args>
Status Errno(fmt::format_string<Args...> format, Args&&... args) {
  const int error = errno;
  return ErrnoToStatus(error, fmt::format(format, std::forward<Args>(args)...));
}

// write(2) until all of `data` is written, retrying on EINTR; errors name `path`.
Status WriteAll(int fd, std::string_view data, const std::string& path);

// fsync(2) of the directory holding `path`, so that a create, rename or unlink there is durable.
Status SyncDirectoryOf(const std::string& path);

}  // namespace depot::resource::internal
