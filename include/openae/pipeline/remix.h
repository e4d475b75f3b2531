// openae — remix: maps interleaved f32 frames of one channel count onto another.
//
// A remix is a matrix: out[o] = sum over i of gain[o][i] * in[i], for up to `max_channels` each
// way, fixed-size (building one never allocates, so the device thread can rebuild it when an
// epoch changes the channel count). The standard maps (`between`):
// - same count: identity;
// - mono → N: the mono signal on every output channel (unchanged level);
// - N → mono: the average of the inputs;
// - 5.1 (L R C LFE Ls Rs) → stereo: ITU-R BS.775 downmix, L' = L + C/√2 + Ls/√2 and
//   R' = R + C/√2 + Rs/√2, LFE dropped, all scaled by 1/(1 + √2) so a full-scale input cannot clip
//   (L' = 0.4142 L + 0.2929 C + 0.2929 Ls);
// - otherwise: channel i → channel i for the channels both sides have, silence for the rest.
// `from_map` builds an arbitrary routing: output o takes input map[o] (or silence for -1).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/types.h>

#include <array>
#include <cstdint>
#include <expected>
#include <span>
#include <system_error>

namespace ae::pipeline {

class remix {
public:
    static constexpr std::uint32_t max_channels = ae::max_channels;

    // Identity on `channels` channels.
    explicit remix(std::uint32_t channels = 2) noexcept;

    // The standard map from `in_channels` to `out_channels` (see above).
    // `bad_argument` for 0 or more than max_channels.
    // rt-safe: wait-free
    [[nodiscard]] static std::expected<remix, std::error_code> between(std::uint32_t in_channels,
                                                                       std::uint32_t out_channels) noexcept;
    // Output channel o takes input channel map[o]; -1 makes it silent. `bad_argument` for an
    // index out of range or a map longer than max_channels.
    [[nodiscard]] static std::expected<remix, std::error_code> from_map(std::uint32_t in_channels,
                                                                        std::span<const int> map) noexcept;
    // Any matrix: gains[o * in_channels + i].
    [[nodiscard]] static std::expected<remix, std::error_code>
    from_matrix(std::uint32_t in_channels, std::uint32_t out_channels, std::span<const float> gains) noexcept;

    // Maps `frames` frames from `in` (in_channels() wide) to `out` (out_channels() wide).
    // `in` and `out` must not overlap.
    // rt-safe: wait-free
    void process(const float* in, float* out, std::uint32_t frames) const noexcept;

    [[nodiscard]] std::uint32_t in_channels() const noexcept { return in_; }
    [[nodiscard]] std::uint32_t out_channels() const noexcept { return out_; }
    [[nodiscard]] float gain(std::uint32_t out_channel, std::uint32_t in_channel) const noexcept {
        return gains_[out_channel][in_channel];
    }
    [[nodiscard]] bool is_identity() const noexcept { return identity_; }

private:
    remix(std::uint32_t in_channels, std::uint32_t out_channels) noexcept;
    void update_identity() noexcept;

    std::uint32_t in_ = 0;
    std::uint32_t out_ = 0;
    bool identity_ = false;
    std::array<std::array<float, max_channels>, max_channels> gains_{};
};

} // namespace ae::pipeline

#pragma GCC visibility pop
