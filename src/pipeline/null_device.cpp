// The null device: a virtual clock and nothing else.
#include <openae/pipeline/devices.h>
#include <openae/pipeline/virtual_clock.h>

#include <openae/rt/errc.h>
#include <openae/rt/monotonic_clock.h>

#include <cmath>
#include <cstring>

namespace ae::pipeline {
namespace {

class null_device final : public device {
public:
    null_device(std::string spec, endpoint_direction direction, const frame_format& format, const virtual_clock::options& clock)
        : device(std::move(spec), direction, format, clock.period_frames, true), clock_(clock) {}

    std::expected<void, device_error> start() override {
        clock_.start(monotonic_now());
        return {};
    }
    device_status wait_period() noexcept override { // rt-safe: bounded
        timing_ = clock_.wait_next();
        return device_status::ok;
    }
    device_status record(std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        std::memset(data, 0, std::size_t{frames} * format_.bytes_per_frame());
        last_record_frames_ = frames;
        return device_status::ok;
    }
    device_timing timing() const noexcept override { return timing_; } // rt-safe: wait-free

private:
    virtual_clock clock_;
    device_timing timing_{};
};

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_null_device(device_spec spec, endpoint_direction direction) {
    const auto rate = spec.take_count("rate", 48000, 8000, 384000);
    if (!rate) return std::unexpected(rate.error());
    const auto channels = spec.take_count("channels", 2, 1, max_channels);
    if (!channels) return std::unexpected(channels.error());
    const auto sample = spec.take_sample_type("sample", sample_type::f32);
    if (!sample) return std::unexpected(sample.error());
    const auto period_ms = spec.take_number("period", 10, 0.5, 1000);
    if (!period_ms) return std::unexpected(period_ms.error());
    const auto drift = spec.take_number("drift_ppm", 0, -10000, 10000);
    if (!drift) return std::unexpected(drift.error());
    const auto jitter = spec.take_number("jitter_us", 0, 0, 1e6);
    if (!jitter) return std::unexpected(jitter.error());
    const auto seed = spec.take_count("seed", 1, 0, 0xffffffffu);
    if (!seed) return std::unexpected(seed.error());
    if (auto done = spec.finish(); !done) return std::unexpected(done.error());
    const frame_format format{*rate, static_cast<std::uint16_t>(*channels), *sample};
    const virtual_clock::options clock{
        .rate = static_cast<double>(*rate),
        .period_frames = static_cast<std::uint32_t>(std::max(1L, std::lround(*rate * *period_ms / 1000.0))),
        .drift_ppm = *drift,
        .jitter_us = *jitter,
        .seed = *seed};
    return std::make_unique<null_device>(spec.text(), direction, format, clock);
}

} // namespace ae::pipeline
