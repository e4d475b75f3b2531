#include <openae/pipeline/resampler.h>

#include <openae/rt/errc.h>

#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace ae::pipeline {
namespace {
soxr_t as_soxr(void* handle) noexcept { return static_cast<soxr_t>(handle); }
constexpr std::size_t slew_frames = 4800; // a ratio change glides over 100 ms at 48 kHz
} // namespace

void resampler::soxr_deleter::operator()(void* handle) const noexcept { soxr_delete(as_soxr(handle)); }

resampler::resampler(void* handle, double input_rate, double output_rate, std::uint32_t channels, mode how) noexcept
    : handle_(handle), input_rate_(input_rate), output_rate_(output_rate), channels_(channels), mode_(how) {}
resampler::resampler(resampler&&) noexcept = default;
resampler& resampler::operator=(resampler&&) noexcept = default;
resampler::~resampler() = default;

std::expected<resampler, std::error_code> resampler::create(double input_rate, double output_rate, std::uint32_t channels,
                                                            mode how, std::uint32_t block_frames, latency for_what, double max_adjust_ppm) {
    if (!(input_rate > 0) || !(output_rate > 0) || channels == 0 || block_frames == 0)
        return std::unexpected(make_error_code(errc::bad_argument));
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t quality = how == mode::fixed ? soxr_quality_spec(SOXR_HQ, 0)
                                                           : soxr_quality_spec(SOXR_HQ, SOXR_VR);
    soxr_runtime_spec_t runtime = soxr_runtime_spec(1); // no OpenMP threads
    // Small DFT blocks: soxr's default (2^10..2^17) delivers output in bursts of 0 to 1.7 times a
    // 10 ms period's worth; 2^8 keeps every block within 0.6 to 1.2 times.
    // (Offline: soxr's defaults, 2^10..2^17 — 300 s rendered 48 -> 44.1 kHz took 0.40 s wall
    // against 0.48 s with 2^8.)
    if (for_what == latency::low) {
        runtime.log2_min_dft_size = 8;
        runtime.log2_large_dft_size = 8;
    }
    soxr_error_t error = nullptr;
    soxr_t handle = nullptr;
    if (how == mode::fixed) {
        handle = soxr_create(input_rate, output_rate, channels, &error, &io, &quality, &runtime);
    } else {
        // Variable rate: created with the largest input/output ratio it may see; the actual
        // ratio is set below (soxr example 5).
        const double io_ratio = input_rate / output_rate;
        handle = soxr_create(io_ratio * (1 + 2 * max_adjust_ppm * 1e-6), 1, channels, &error, &io, &quality, &runtime);
        if (handle && !error) error = soxr_set_io_ratio(handle, io_ratio, 0);
    }
    if (error || !handle) {
        if (handle) soxr_delete(handle);
        return std::unexpected(make_error_code(errc::unsupported_format));
    }
    resampler r(handle, input_rate, output_rate, channels, how);
    r.block_frames_ = block_frames;
    r.max_adjust_ppm_ = max_adjust_ppm;
    // Prime: let soxr reserve its buffers for blocks this size now, off the RT thread (its fifos
    // grow with realloc on the first calls). Clearing would free them again, so the filter keeps
    // the silence: it comes out as the first `leading_silence_frames()` output frames, the same
    // latency a fresh resampler has before its first output.
    // soxr's fifos (fifo.h) grow with realloc until they hold FIFO_MIN (16 KiB) beyond their
    // content; after that they compact with memmove instead. Small blocks grow them a few bytes
    // at a time (65,536 frames of them took 3 ms, and at 8:1 decimation or more the slowest
    // stage's fifo still grew on the RT thread); two large blocks reserve every stage's fifo at
    // once — sized so the slowest stage (the output side when decimating) sees them whole —
    // then fixed blocks settle the cycle. 240 rate pairs, channel counts and block sizes
    // (1 to 8 channels, 16 to 4,800 frames, 1 kHz to 768 kHz): no allocation after this.
    const double decimation = std::max(1.0, input_rate / output_rate);
    const auto large_frames = static_cast<std::size_t>(std::ceil(std::max(4096.0, 8192.0 / channels) * decimation));
    std::vector<float> in(std::max<std::size_t>(large_frames, block_frames) * channels, 0.0f);
    std::vector<float> out(r.max_output_for(std::max<std::size_t>(large_frames, block_frames)) * channels);
    std::size_t primed_in = 0, primed_out = 0;
    const auto prime = [&](std::size_t frames) {
        const auto result = r.process(in.data(), frames, out.data(), out.size() / channels);
        primed_in += result.consumed;
        primed_out += result.produced;
    };
    for (int block = 0; block < 2; ++block) prime(large_frames);
    if (how == mode::variable) {
        // soxr's variable-rate engine grows its buffers again the first time the ratio goes
        // below 1 (more output than input: 4 reallocations at -1000 ppm, none after): both ends
        // of the range, slewed to and held, here.
        for (const double ppm : {-max_adjust_ppm, max_adjust_ppm, 0.0}) {
            (void)r.set_ratio_adjust(ppm);
            for (int block = 0; block < 64; ++block) prime(block_frames);
        }
    }
    for (int block = 0; block < 64; ++block) prime(block_frames);
    // The primed silence still inside the filter comes out first: the pipeline's latency.
    r.leading_delay_ = static_cast<double>(primed_in) * output_rate / input_rate - static_cast<double>(primed_out);
    r.leading_silence_ = static_cast<std::size_t>(std::llround(r.leading_delay_));
    return r;
}

resampler::result resampler::process(const float* in, std::size_t in_frames, float* out, std::size_t out_capacity) noexcept { // rt-safe: bounded
    std::size_t consumed = 0;
    std::size_t produced = 0;
    soxr_process(as_soxr(handle_.get()), in, in ? in_frames : 0, &consumed, out, out_capacity, &produced);
    return {consumed, produced};
}

bool resampler::set_ratio_adjust(double ppm) noexcept { // rt-safe: bounded
    if (mode_ != mode::variable) return false;
    adjust_ppm_ = std::clamp(ppm, -max_adjust_ppm_, max_adjust_ppm_);
    soxr_set_io_ratio(as_soxr(handle_.get()), input_rate_ / output_rate_ * (1 + adjust_ppm_ * 1e-6), slew_frames);
    return true;
}

double resampler::delay_frames() const noexcept { return soxr_delay(as_soxr(handle_.get())); }

std::size_t resampler::max_output_for(std::size_t in_frames) const noexcept {
    const double most = static_cast<double>(in_frames) * output_rate_ / input_rate_ * (1 + 2 * max_adjust_ppm_ * 1e-6);
    return static_cast<std::size_t>(std::ceil(most)) + 64;
}

} // namespace ae::pipeline
