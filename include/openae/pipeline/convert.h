// openae — sample conversion between the encodings openae carries (s16, packed s24, s32, f32).
//
// Exact by construction, no dither (dither off is the default the pipeline promises):
// - integer → integer widens by shifting (exact) and narrows by rounding to nearest, ties away
//   from zero, saturating at the target's range;
// - integer → f32 divides by 2^(bits-1) (exact for s16 and s24; s32 rounds to f32's 24 bits);
// - f32 → integer multiplies by 2^(bits-1), rounds to nearest (ties to even), and clips to the
//   target's range, so +1.0 becomes the largest positive value; NaN becomes 0.
// Every function here is real-time safe: wait-free, allocation-free and noexcept.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/types.h>

#include <cstddef>

namespace ae::pipeline {

// Converts `samples` interleaved samples from `in` (encoded as `from`) to `out` (as `to`).
// `in` and `out` must not overlap unless from == to. Unknown types write nothing and return false.
// rt-safe: wait-free
[[nodiscard]] bool convert_samples(const std::byte* in, sample_type from, std::byte* out, sample_type to,
                     std::size_t samples) noexcept;

} // namespace ae::pipeline

#pragma GCC visibility pop
