#include <openae/pipeline/remix.h>

#include <openae/rt/errc.h>

#include <cmath>
#include <cstring>
#include <numbers>

namespace ae::pipeline {
namespace {
bool valid_count(std::uint32_t channels) noexcept { return channels >= 1 && channels <= remix::max_channels; }
} // namespace

remix::remix(std::uint32_t in_channels, std::uint32_t out_channels) noexcept : in_(in_channels), out_(out_channels) {}

remix::remix(std::uint32_t channels) noexcept : remix(channels, channels) {
    for (std::uint32_t c = 0; c < channels && c < max_channels; ++c) gains_[c][c] = 1.0f;
    update_identity();
}

void remix::update_identity() noexcept { // rt-safe: bounded
    identity_ = in_ == out_;
    for (std::uint32_t o = 0; o < out_ && identity_; ++o) {
        for (std::uint32_t i = 0; i < in_; ++i) {
            if (gains_[o][i] != (o == i ? 1.0f : 0.0f)) identity_ = false;
        }
    }
}

std::expected<remix, std::error_code> remix::between(std::uint32_t in_channels, std::uint32_t out_channels) noexcept { // rt-safe: bounded
    if (!valid_count(in_channels) || !valid_count(out_channels)) return std::unexpected(make_error_code(errc::bad_argument));
    remix r(in_channels, out_channels);
    if (in_channels == 1) {
        for (std::uint32_t o = 0; o < out_channels; ++o) r.gains_[o][0] = 1.0f;
    } else if (out_channels == 1) {
        for (std::uint32_t i = 0; i < in_channels; ++i) r.gains_[0][i] = 1.0f / static_cast<float>(in_channels);
    } else if (in_channels == 6 && out_channels == 2) {
        constexpr double centre = std::numbers::sqrt2 / 2; // -3 dB
        constexpr double scale = 1.0 / (1.0 + std::numbers::sqrt2);
        enum { left, right, centre_ch, lfe, surround_left, surround_right };
        r.gains_[0][left] = static_cast<float>(scale);
        r.gains_[0][centre_ch] = static_cast<float>(centre * scale);
        r.gains_[0][surround_left] = static_cast<float>(centre * scale);
        r.gains_[1][right] = static_cast<float>(scale);
        r.gains_[1][centre_ch] = static_cast<float>(centre * scale);
        r.gains_[1][surround_right] = static_cast<float>(centre * scale);
        (void)lfe;
    } else {
        for (std::uint32_t c = 0; c < in_channels && c < out_channels; ++c) r.gains_[c][c] = 1.0f;
    }
    r.update_identity();
    return r;
}

std::expected<remix, std::error_code> remix::from_map(std::uint32_t in_channels, std::span<const int> map) noexcept { // rt-safe: bounded
    if (!valid_count(in_channels) || !valid_count(static_cast<std::uint32_t>(map.size())))
        return std::unexpected(make_error_code(errc::bad_argument));
    remix r(in_channels, static_cast<std::uint32_t>(map.size()));
    for (std::size_t o = 0; o < map.size(); ++o) {
        if (map[o] == -1) continue;
        if (map[o] < 0 || static_cast<std::uint32_t>(map[o]) >= in_channels)
            return std::unexpected(make_error_code(errc::bad_argument));
        r.gains_[o][static_cast<std::size_t>(map[o])] = 1.0f;
    }
    r.update_identity();
    return r;
}

std::expected<remix, std::error_code> remix::from_matrix(std::uint32_t in_channels, std::uint32_t out_channels,
                                                         std::span<const float> gains) noexcept { // rt-safe: bounded
    if (!valid_count(in_channels) || !valid_count(out_channels) || gains.size() != std::size_t{in_channels} * out_channels)
        return std::unexpected(make_error_code(errc::bad_argument));
    remix r(in_channels, out_channels);
    for (std::uint32_t o = 0; o < out_channels; ++o) {
        for (std::uint32_t i = 0; i < in_channels; ++i) {
            const float g = gains[std::size_t{o} * in_channels + i];
            if (!std::isfinite(g)) return std::unexpected(make_error_code(errc::bad_argument));
            r.gains_[o][i] = g;
        }
    }
    r.update_identity();
    return r;
}

void remix::process(const float* in, float* out, std::uint32_t frames) const noexcept { // rt-safe: bounded
    if (identity_) {
        std::memcpy(out, in, sizeof(float) * frames * in_);
        return;
    }
    for (std::uint32_t f = 0; f < frames; ++f) {
        const float* frame_in = in + std::size_t{f} * in_;
        float* frame_out = out + std::size_t{f} * out_;
        for (std::uint32_t o = 0; o < out_; ++o) {
            float sum = 0;
            for (std::uint32_t i = 0; i < in_; ++i) sum += gains_[o][i] * frame_in[i];
            frame_out[o] = sum;
        }
    }
}

} // namespace ae::pipeline
