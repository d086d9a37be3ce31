// depot::UniqueFd: owns one file descriptor and closes it on destruction (move-only).
//
// Close(what) closes early and reports what close() said (it matters on network filesystems, where
// a write error can surface only there), as a Status naming `what`. Thread-compatible.
#pragma once

#include <string_view>
#include <utility>

#include "depot/core/status.h"

namespace depot {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes the descriptor (if any), ignoring close()'s result.
  void Reset();
  // Closes the descriptor and reports close()'s error, naming `what`.
  Status Close(std::string_view what);

 private:
  int fd_ = -1;
};

}  // namespace depot
