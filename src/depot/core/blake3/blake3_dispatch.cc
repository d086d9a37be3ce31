// Which chunk hasher runs: the widest the CPU has (AVX-512 with VL, AVX2, SSE4.1, else portable),
// found once; tests force each in turn with ForceIsa.
#include <atomic>

#include "depot/core/blake3/blake3_impl.h"

namespace depot::blake3::internal {
namespace {

std::atomic<int> forced{-1};

using SimdFn = void (*)(const uint8_t* const*, const uint32_t*, uint64_t, uint8_t, uint32_t*);

struct Simd {
  SimdFn fn;
  size_t lanes;
};

Simd SimdOf(Isa isa) {
#if defined(__x86_64__)
  switch (isa) {
    case Isa::kSse41:
      return {HashChunksSse41, 4};
    case Isa::kAvx2:
      return {HashChunksAvx2, 8};
    case Isa::kAvx512:
      return {HashChunksAvx512, 16};
    case Isa::kPortable:
      break;
  }
#else
  (void)isa;
#endif
  return {nullptr, 1};
}

}  // namespace

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return "portable";
    case Isa::kSse41:
      return "sse4.1";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

Isa DetectIsa() {
  static const Isa best = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) {
      return Isa::kAvx512;
    }
    if (__builtin_cpu_supports("avx2")) return Isa::kAvx2;
    if (__builtin_cpu_supports("sse4.1")) return Isa::kSse41;
#endif
    return Isa::kPortable;
  }();
  return best;
}

Isa ActiveIsa() {
  const int chosen = forced.load(std::memory_order_relaxed);
  return chosen < 0 ? DetectIsa() : static_cast<Isa>(chosen);
}

bool ForceIsa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(DetectIsa())) return false;
  forced.store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

void HashChunks(const uint8_t* input, size_t count, const uint32_t key[8], uint64_t counter,
                uint8_t flags, uint32_t* out) {
  const Simd simd = SimdOf(ActiveIsa());
  constexpr size_t kChunk = 1024;
  if (simd.fn != nullptr) {
    const uint8_t* inputs[16];
    while (count >= simd.lanes) {
      for (size_t lane = 0; lane < simd.lanes; ++lane) inputs[lane] = input + lane * kChunk;
      simd.fn(inputs, key, counter, flags, out);
      input += simd.lanes * kChunk;
      counter += simd.lanes;
      out += 8 * simd.lanes;
      count -= simd.lanes;
    }
  }
  for (; count > 0; --count) {
    HashChunkPortable(input, key, counter, flags, out);
    input += kChunk;
    ++counter;
    out += 8;
  }
}

}  // namespace depot::blake3::internal
