#include <openae/pipeline/devices.h>

#include <openae/rt/errc.h>

#include <cmath>

namespace ae::pipeline {

hns device::latency() const noexcept {
    return hns{static_cast<std::int64_t>(std::llround(1e7 * period_frames_ / format_.sample_rate))};
}

device_status device::play(const std::byte*, std::uint32_t) noexcept { return device_status::ok; } // rt-safe: bounded
device_status device::record(std::byte*, std::uint32_t frames) noexcept { // rt-safe: bounded
    last_record_frames_ = frames;
    return device_status::ok;
}

std::expected<void, device_error> device::inject(std::string_view) {
    return std::unexpected(device_error{make_error_code(errc::bad_argument),
                                        "device '" + spec_ + "' is not a faulty device: nothing to inject"});
}

std::expected<std::unique_ptr<device>, device_error> make_device(std::string_view text, endpoint_direction direction) {
    auto spec = device_spec::parse(text);
    if (!spec) return std::unexpected(spec.error());
    if (spec->kind() == "null") return make_null_device(std::move(*spec), direction);
    if (spec->kind() == "wav") return make_wav_device(std::move(*spec), direction);
    if (spec->kind() == "faulty") return make_faulty_device(std::move(*spec), direction);
    if (spec->kind() == "alsa") return make_alsa_device(std::move(*spec), direction);
    if (spec->kind() == "jack") return make_jack_device(std::move(*spec), direction);
    if (spec->kind() == "pipewire") return make_pipewire_device(std::move(*spec), direction);
    if (spec->kind() == "rtp") return make_rtp_device(std::move(*spec), direction);
    if (spec->kind() == "rdp") return make_rdp_device(std::move(*spec), direction);
    return std::unexpected(device_error{make_error_code(errc::device_unavailable),
                                        "device spec '" + std::string(text) + "': unknown device kind '" +
                                            spec->kind() + "' (null, wav, faulty, alsa, jack, pipewire, rtp, rdp)"});
}

} // namespace ae::pipeline
