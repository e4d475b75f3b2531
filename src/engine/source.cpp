// Sources: parsing one, and filling frames from it on the engine thread.
#include <openae/engine/source.h>

#include <openae/pipeline/wav_file.h>
#include <openae/rt/errc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

namespace ae {

std::expected<engine_source, engine_error> engine_source::parse(const std::string& text) {
    auto fail = [&](errc code, const std::string& why) {
        return std::unexpected(engine_error{make_error_code(code), "source '" + text + "': " + why});
    };
    engine_source src;
    src.text = text;
    if (text == "silence") {
        src.what = kind::silence;
        return src;
    }
    if (text.rfind("tone:", 0) == 0 || text == "tone") {
        src.what = kind::tone;
        if (text.size() > 5) {
            const std::string number = text.substr(5);
            const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), src.tone_hz);
            if (ec != std::errc{} || end != number.data() + number.size() || !(src.tone_hz > 0) || src.tone_hz > 100'000)
                return fail(errc::bad_argument, "the tone needs a frequency in Hz (tone:440)");
        }
        return src;
    }
    if (text.rfind("wav:", 0) == 0) {
        auto read = pipeline::read_wav_file(text.substr(4));
        if (!read) return std::unexpected(engine_error{read.error().code, "source '" + text + "': " + read.error().message});
        src.what = kind::wav;
        src.channels = read->format.channels;
        src.sample_rate = read->format.sample_rate;
        src.samples = std::move(read->samples);
        return src;
    }
    return fail(errc::bad_argument, "unknown (tone:HZ, wav:PATH, silence)");
}

void engine_source::fill(float* out, std::uint32_t frames, std::uint32_t out_channels, std::uint32_t rate) noexcept { // rt-safe: bounded
    switch (what) {
    case kind::tone: {
        // A rotating phasor, seeded exactly at each call (its rounding error stays below 1e-12
        // over a call's frames): a multiply-add per frame instead of a sin().
        const double step = 2 * std::numbers::pi * tone_hz / rate;
        const double cos_step = std::cos(step), sin_step = std::sin(step);
        double re = std::cos(phase), im = std::sin(phase);
        for (std::uint32_t i = 0; i < frames; ++i) {
            const auto value = static_cast<float>(0.25 * im);
            for (std::uint32_t c = 0; c < out_channels; ++c) out[std::size_t{i} * out_channels + c] = value;
            const double next_re = re * cos_step - im * sin_step;
            im = im * cos_step + re * sin_step;
            re = next_re;
        }
        phase = std::fmod(phase + step * frames, 2 * std::numbers::pi);
        break;
    }
    case kind::silence: std::fill_n(out, std::size_t{frames} * out_channels, 0.0f); break;
    case kind::wav: {
        const std::size_t total = samples.size() / channels;
        for (std::uint32_t i = 0; i < frames; ++i) {
            for (std::uint32_t c = 0; c < out_channels; ++c) {
                out[std::size_t{i} * out_channels + c] =
                    next_frame < total && c < channels ? samples[next_frame * channels + c] : 0.0f;
            }
            if (next_frame < total) ++next_frame;
        }
        break;
    }
    }
}

} // namespace ae
