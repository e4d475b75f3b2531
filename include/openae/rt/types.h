// openae — value types of the endpoint contract (docs/contract.md; the names map the Remote Desktop AudioEndpoint API).
//
// Every type here is a trivially copyable value: it can be published between threads by copy,
// stored in rings and queues, and handed across the C boundary. Nothing here allocates.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ratio>
#include <type_traits>

namespace ae {

// 100 ns units, as Windows' HNSTIME.
using hns = std::chrono::duration<std::int64_t, std::ratio<1, 10'000'000>>;

// Sample encoding of interleaved frames. `s24` is packed: 3 little-endian bytes a sample.
enum class sample_type : std::uint8_t { s16 = 1, s24 = 2, s32 = 3, f32 = 4 };

// Bytes one sample of `type` occupies; 0 for a value outside the enumeration.
// rt-safe: wait-free
[[nodiscard]] constexpr std::uint32_t bytes_per_sample(sample_type type) noexcept {
    switch (type) {
    case sample_type::s16: return 2;
    case sample_type::s24: return 3;
    case sample_type::s32: return 4;
    case sample_type::f32: return 4;
    }
    return 0;
}

// A stream format (WAVEFORMATEX): rate, channel count and sample encoding.
struct frame_format {
    std::uint32_t sample_rate = 48'000;
    std::uint16_t channels = 2;
    sample_type sample = sample_type::f32;

    // Bytes one interleaved frame occupies.
    // rt-safe: wait-free
    [[nodiscard]] constexpr std::uint32_t bytes_per_frame() const noexcept {
        return bytes_per_sample(sample) * channels;
    }
    friend constexpr bool operator==(const frame_format&, const frame_format&) = default;
};

// Which way frames flow: an endpoint renders (engine → device) or captures (device → engine); a
// device serves endpoints of one direction.
enum class endpoint_direction : std::uint8_t { render, capture };

// The one channel limit: what every stage of the pipeline (remix, meter, mix) carries. Every
// check of a channel count uses it.
inline constexpr std::uint16_t max_channels = 8;
inline constexpr std::uint32_t min_sample_rate = 1'000;
inline constexpr std::uint32_t max_sample_rate = 768'000;

// True when openae can carry `format` (rate and channels in range, a known sample type).
// rt-safe: wait-free
[[nodiscard]] constexpr bool is_valid(const frame_format& format) noexcept {
    return format.sample_rate >= min_sample_rate && format.sample_rate <= max_sample_rate &&
           format.channels >= 1 && format.channels <= max_channels &&
           bytes_per_sample(format.sample) != 0;
}

// Validity of a position record (AE_POSITION_FLAGS).
enum class position_flags : std::uint32_t {
    invalid = 0,
    discontinuous = 1,
    continuous = 2,
    time_error = 4,
};

constexpr position_flags operator|(position_flags a, position_flags b) noexcept {
    return static_cast<position_flags>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}
constexpr position_flags operator&(position_flags a, position_flags b) noexcept {
    return static_cast<position_flags>(static_cast<std::uint32_t>(a) & static_cast<std::uint32_t>(b));
}
constexpr position_flags operator~(position_flags a) noexcept {
    return static_cast<position_flags>(~static_cast<std::uint32_t>(a) & 7u);
}
constexpr position_flags& operator|=(position_flags& a, position_flags b) noexcept { return a = a | b; }
constexpr position_flags& operator&=(position_flags& a, position_flags b) noexcept { return a = a & b; }
// True when any bit of `bit` is set in `flags`.
constexpr bool has(position_flags flags, position_flags bit) noexcept {
    return (flags & bit) != position_flags::invalid;
}

// One timing record (AE_CURRENT_POSITION plus `epoch` and `time_error`).
// `time` is CLOCK_MONOTONIC at the instant `device_position` was (or is estimated to have been)
// reached; `time_error` bounds its error. `stream_position` never goes backwards except after reset.
struct position {
    std::uint64_t device_position = 0;
    std::uint64_t stream_position = 0;
    std::uint64_t padding_frames = 0;
    hns time{0};
    float frames_per_second = 0.0f;
    position_flags flags = position_flags::invalid;
    std::uint32_t epoch = 0;
    hns time_error{0};

    friend constexpr bool operator==(const position&, const position&) = default;
};
static_assert(std::is_trivially_copyable_v<position>);

// APO_BUFFER_FLAGS.
enum class buffer_flags : std::uint32_t { invalid = 0, valid = 1, silent = 2 };

// APO_CONNECTION_PROPERTY: a buffer handed between engine and endpoint.
struct connection_property {
    std::byte* buffer = nullptr;
    std::uint32_t valid_frames = 0;
    buffer_flags flags = buffer_flags::invalid;
};

// AUDCLNT_STREAMFLAGS_*.
enum class stream_flags : std::uint32_t { none = 0, event_callback = 0x0004'0000 };

} // namespace ae

#pragma GCC visibility pop
