#include "depot/core/unique_fd.h"

#include <unistd.h>

#include <cerrno>

namespace depot {

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status UniqueFd::Close(std::string_view what) {
  const int fd = std::exchange(fd_, -1);
  if (fd >= 0 && ::close(fd) != 0) return ErrnoToStatus(errno, what);
  return Status::Ok();
}

}  // namespace depot
