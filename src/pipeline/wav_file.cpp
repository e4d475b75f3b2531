#include <openae/pipeline/wav_file.h>

#include "wav_open.h"

#include <openae/rt/errc.h>

#include <algorithm>

namespace ae::pipeline {

std::expected<opened_wav, device_error> open_wav_for_reading(const std::string& path) {
    auto fail = [&](errc code, const std::string& why) {
        return std::unexpected(device_error{make_error_code(code), why});
    };
    opened_wav opened;
    opened.file = sf_open(path.c_str(), SFM_READ, &opened.info);
    if (!opened.file) {
        const int error = sf_error(nullptr);
        const errc code = error == SF_ERR_UNRECOGNISED_FORMAT || error == SF_ERR_MALFORMED_FILE ||
                                  error == SF_ERR_UNSUPPORTED_ENCODING
                              ? errc::unsupported_format
                              : errc::device_unavailable;
        return fail(code, std::string("cannot read: ") + sf_strerror(nullptr));
    }
    const SF_INFO& info = opened.info;
    if (info.channels < 1 || info.channels > static_cast<int>(max_channels) ||
        info.samplerate < static_cast<int>(min_sample_rate) || info.samplerate > static_cast<int>(max_sample_rate)) {
        sf_close(opened.file);
        return fail(errc::unsupported_format, "unsupported layout: " + std::to_string(info.channels) + " channels at " +
                                                  std::to_string(info.samplerate) + " Hz (1-" + std::to_string(max_channels) +
                                                  " channels, 1-768 kHz)");
    }
    return opened;
}

std::expected<wav_samples, device_error> read_wav_file(const std::string& path) {
    auto opened = open_wav_for_reading(path);
    if (!opened) return std::unexpected(opened.error());
    wav_samples out;
    out.format = {static_cast<std::uint32_t>(opened->info.samplerate), static_cast<std::uint16_t>(opened->info.channels),
                  sample_type::f32};
    const auto channels = static_cast<std::size_t>(opened->info.channels);
    out.samples.resize(static_cast<std::size_t>(opened->info.frames) * channels);
    const sf_count_t got = sf_readf_float(opened->file, out.samples.data(), opened->info.frames);
    sf_close(opened->file);
    out.samples.resize(static_cast<std::size_t>(std::max<sf_count_t>(got, 0)) * channels);
    return out;
}

} // namespace ae::pipeline
