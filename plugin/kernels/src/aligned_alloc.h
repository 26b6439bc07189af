// 64-byte aligned allocation that never throws (no exceptions cross the API).
#pragma once
#include <cstddef>
#include <cstdlib>

namespace sbnn {
inline void* alloc_aligned64(size_t bytes) {
  if (bytes == 0) bytes = 64;
  bytes = (bytes + 63) & ~size_t(63);  // aligned_alloc wants a multiple of the alignment
  return std::aligned_alloc(64, bytes);
}
inline void free_aligned(void* p) { std::free(p); }

// A packed-weights object of the dense families: its aligned storage, then itself.
template <class Packed>
void free_packed(Packed* w) {
  if (w == nullptr) return;
  free_aligned(w->storage);
  delete w;
}
inline size_t round_up64(size_t bytes) { return (bytes + 63) & ~size_t(63); }
}  // namespace sbnn
