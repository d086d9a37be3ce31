#include "depot/resource/files.h"

#include <fcntl.h>
#include <unistd.h>

#include "depot/core/unique_fd.h"

namespace depot::resource::internal {

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write {}", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status SyncDirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string(".")
                          : slash == 0               ? std::string("/")
                                                     : path.substr(0, slash);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Errno("open directory {}", dir);
  if (::fsync(fd.get()) != 0) return Errno("fsync directory {}", dir);
  return Status::Ok();
}

}  // namespace depot::resource::internal
