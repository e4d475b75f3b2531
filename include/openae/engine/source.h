// openae — what ae::engine plays into a render endpoint: `tone:HZ`, `silence`, `wav:PATH`.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_error.h>

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

namespace ae {

using engine_error = pipeline::device_error;

struct engine_source {
    enum class kind : std::uint8_t { tone, silence, wav } what = kind::tone;
    double tone_hz = 440;
    double phase = 0;              // radians, advanced at the current rate: continuous across rate changes
    std::vector<float> samples;    // wav: interleaved f32, the whole file (read when parsed)
    std::uint32_t channels = 2;    // wav: the file's
    std::uint32_t sample_rate = 0; // wav: the file's
    std::size_t next_frame = 0;
    std::string text;              // as given

    // Parses (and for wav reads, off any RT thread) a source. Errors name the source and the reason.
    [[nodiscard]] static std::expected<engine_source, engine_error> parse(const std::string& text);

    // Writes the next `frames` frames of `channels` f32 samples at `rate` Hz into `out`; a wav
    // source past its end writes silence, channels it lacks are silent. rt-safe: bounded
    void fill(float* out, std::uint32_t frames, std::uint32_t channels, std::uint32_t rate) noexcept;
};

} // namespace ae

#pragma GCC visibility pop
