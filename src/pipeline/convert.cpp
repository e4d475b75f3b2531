#include <openae/pipeline/convert.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace ae::pipeline {
namespace {

// Integer samples travel as Q31 (the top bits of an int32); f32 as float.
std::int32_t load_q31(const std::byte* at, sample_type type) noexcept {
    switch (type) {
    case sample_type::s16: {
        std::int16_t v;
        std::memcpy(&v, at, 2);
        return static_cast<std::int32_t>(static_cast<std::uint32_t>(v) << 16);
    }
    case sample_type::s24: {
        const auto b0 = static_cast<std::uint32_t>(at[0]);
        const auto b1 = static_cast<std::uint32_t>(at[1]);
        const auto b2 = static_cast<std::uint32_t>(at[2]);
        return static_cast<std::int32_t>((b0 << 8) | (b1 << 16) | (b2 << 24));
    }
    case sample_type::s32: {
        std::int32_t v;
        std::memcpy(&v, at, 4);
        return v;
    }
    case sample_type::f32: break;
    }
    return 0;
}

// Narrows Q31 to `bits` bits: round to nearest, ties away from zero, saturating.
std::int32_t narrow(std::int32_t q31, int bits) noexcept {
    const int shift = 32 - bits;
    const std::int64_t half = std::int64_t{1} << (shift - 1);
    const std::int64_t wide = q31;
    std::int64_t rounded = wide >= 0 ? (wide + half) >> shift : -((-wide + half) >> shift);
    const std::int64_t max = (std::int64_t{1} << (bits - 1)) - 1;
    if (rounded > max) rounded = max;
    if (rounded < -max - 1) rounded = -max - 1;
    return static_cast<std::int32_t>(rounded);
}

void store_int(std::byte* at, sample_type type, std::int32_t value) noexcept {
    switch (type) {
    case sample_type::s16: {
        const auto v = static_cast<std::int16_t>(value);
        std::memcpy(at, &v, 2);
        return;
    }
    case sample_type::s24: {
        const auto u = static_cast<std::uint32_t>(value);
        at[0] = static_cast<std::byte>(u & 0xff);
        at[1] = static_cast<std::byte>((u >> 8) & 0xff);
        at[2] = static_cast<std::byte>((u >> 16) & 0xff);
        return;
    }
    case sample_type::s32: std::memcpy(at, &value, 4); return;
    case sample_type::f32: return;
    }
}

int bits_of(sample_type type) noexcept { return static_cast<int>(bytes_per_sample(type)) * 8; }

std::int32_t from_float(float sample, int bits) noexcept {
    if (std::isnan(sample)) return 0;
    const double scale = static_cast<double>(std::int64_t{1} << (bits - 1));
    double scaled = std::nearbyint(static_cast<double>(sample) * scale);
    if (scaled > scale - 1) scaled = scale - 1;
    if (scaled < -scale) scaled = -scale;
    return static_cast<std::int32_t>(scaled);
}

} // namespace

bool convert_samples(const std::byte* in, sample_type from, std::byte* out, sample_type to,
                     std::size_t samples) noexcept { // rt-safe
    const std::size_t in_bytes = bytes_per_sample(from);
    const std::size_t out_bytes = bytes_per_sample(to);
    if (in_bytes == 0 || out_bytes == 0) return false;
    if (from == to) {
        std::memmove(out, in, samples * in_bytes);
        return true;
    }
    for (std::size_t i = 0; i < samples; ++i, in += in_bytes, out += out_bytes) {
        if (from == sample_type::f32) {
            float sample;
            std::memcpy(&sample, in, 4);
            store_int(out, to, from_float(sample, bits_of(to)));
        } else if (to == sample_type::f32) {
            const float sample = static_cast<float>(static_cast<double>(load_q31(in, from)) / 2147483648.0);
            std::memcpy(out, &sample, 4);
        } else {
            const std::int32_t q31 = load_q31(in, from);
            store_int(out, to, to == sample_type::s32 ? q31 : narrow(q31, bits_of(to)));
        }
    }
    return true;
}

} // namespace ae::pipeline
