// depot::resource memory driver: a resource whose bytes live in a growable buffer in memory.
//
// The buffer doubles as writes reach past it, up to MemoryOptions::max_size (kResourceExhausted
// past it, naming both). Nothing persists: the bytes go with the last handle. A commit shrinks
// the buffer to the final length. Thread-safety is the Resource's (resource.h).
//
//   Resource r = OpenMemoryResource();
//   r.writer().WriteAt(4096, tail);            // any order
//   r.reader().Read(0, buf, ctx);              // blocks until [0, 4096 + ...) is there
#pragma once

#include <cstdint>
#include <string>

#include "depot/resource/resource.h"

namespace depot::resource {

struct MemoryOptions {
  // Bytes reserved up front.
  uint64_t initial_capacity = 64 * 1024;
  // The most the buffer may hold.
  uint64_t max_size = uint64_t{1} << 30;
  // A name for messages ("memory resource" when empty).
  std::string name;
};

Resource OpenMemoryResource(const MemoryOptions& options = {});

// A committed memory resource holding `data`.
Resource MemoryResourceOf(std::string_view data, const MemoryOptions& options = {});

}  // namespace depot::resource
