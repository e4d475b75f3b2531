// The pipeline's stages: remix, gain (+ mix_add), meter, resampler.
#include <openae/pipeline/gain.h>
#include <openae/pipeline/meter.h>
#include <openae/pipeline/remix.h>
#include <openae/pipeline/resampler.h>
#include <openae/rt/errc.h>

#include "rt_guard.h"
#include "signal_checks.h"

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

using ae::pipeline::remix;

TEST_CASE("remix") {
    SUBCASE("mono to stereo copies, stereo to mono averages") {
        const auto up = remix::between(1, 2);
        REQUIRE(up);
        const float mono[] = {0.5f, -0.25f};
        float stereo[4] = {};
        up->process(mono, stereo, 2);
        CHECK(stereo[0] == 0.5f);
        CHECK(stereo[1] == 0.5f);
        CHECK(stereo[2] == -0.25f);
        CHECK(stereo[3] == -0.25f);
        const auto down = remix::between(2, 1);
        REQUIRE(down);
        const float pair[] = {1.0f, 0.5f, -1.0f, 0.0f};
        float out[2] = {};
        down->process(pair, out, 2);
        CHECK(out[0] == 0.75f);
        CHECK(out[1] == -0.5f);
    }
    SUBCASE("5.1 to stereo uses the documented ITU coefficients, scaled not to clip") {
        const auto down = remix::between(6, 2);
        REQUIRE(down);
        const double scale = 1.0 / (1.0 + std::numbers::sqrt2);
        CHECK(down->gain(0, 0) == doctest::Approx(scale));                          // L
        CHECK(down->gain(0, 2) == doctest::Approx(scale * std::numbers::sqrt2 / 2)); // C
        CHECK(down->gain(0, 3) == 0.0f);                                            // LFE dropped
        CHECK(down->gain(0, 4) == doctest::Approx(scale * std::numbers::sqrt2 / 2)); // Ls
        CHECK(down->gain(0, 1) == 0.0f);
        CHECK(down->gain(1, 5) == doctest::Approx(scale * std::numbers::sqrt2 / 2)); // Rs
        const float full[] = {1, 1, 1, 1, 1, 1};
        float out[2] = {};
        down->process(full, out, 1);
        CHECK(out[0] == doctest::Approx(1.0f)); // full scale everywhere: exactly full scale
        CHECK(out[1] == doctest::Approx(1.0f));
        const float centre_only[] = {0, 0, 1, 0, 0, 0};
        down->process(centre_only, out, 1);
        CHECK(out[0] == doctest::Approx(0.2928932f));
    }
    SUBCASE("an arbitrary map swaps and silences channels") {
        const int map[] = {1, 0, -1};
        const auto r = remix::from_map(2, map);
        REQUIRE(r);
        CHECK_FALSE(r->is_identity());
        const float in[] = {0.1f, 0.2f};
        float out[3] = {9, 9, 9};
        r->process(in, out, 1);
        CHECK(out[0] == 0.2f);
        CHECK(out[1] == 0.1f);
        CHECK(out[2] == 0.0f);
    }
    SUBCASE("bad maps are refused") {
        const int out_of_range[] = {2};
        CHECK(remix::from_map(2, out_of_range).error() == ae::errc::bad_argument);
        CHECK(remix::between(0, 2).error() == ae::errc::bad_argument);
        CHECK(remix::between(2, 9).error() == ae::errc::bad_argument);
        CHECK(remix::between(2, 2)->is_identity());
    }
}

TEST_CASE("gain_stage ramps without steps") {
    ae::pipeline::gain_stage gain(2, 480, 0.0f);
    std::vector<float> ones(2 * 1000, 1.0f);
    gain.set_target(1.0f);
    gain.process(ones.data(), 1000);
    // Linear ramp: frame f has gain (f + 1) / 480 until it reaches 1, then stays there.
    float largest_step = 0;
    for (std::size_t f = 1; f < 1000; ++f) largest_step = std::max(largest_step, std::abs(ones[2 * f] - ones[2 * (f - 1)]));
    CHECK(largest_step <= 1.0f / 480 + 1e-6f);
    CHECK(ones[0] == doctest::Approx(1.0 / 480));
    CHECK(ones[2 * 479] == 1.0f); // lands exactly
    CHECK(ones[2 * 999 + 1] == 1.0f);
    CHECK(ones[2 * 10] == ones[2 * 10 + 1]); // both channels alike

    SUBCASE("a new target mid-ramp turns around from where the gain is") {
        ae::pipeline::gain_stage g(1, 100, 1.0f);
        std::vector<float> block(50, 1.0f);
        g.set_target(0.0f);
        g.process(block.data(), 50);
        const float middle = g.current();
        CHECK(middle == doctest::Approx(0.5f));
        g.set_target(1.0f);
        std::vector<float> next(100, 1.0f);
        g.process(next.data(), 100);
        CHECK(std::abs(next[0] - middle) <= 0.011f); // continuous across the turn
        CHECK(g.current() == 1.0f);
    }
    SUBCASE("mix_add sums") {
        const float a[] = {0.25f, -0.5f};
        float out[] = {0.5f, 0.5f};
        ae::pipeline::mix_add(a, out, 2);
        CHECK(out[0] == 0.75f);
        CHECK(out[1] == 0.0f);
    }
}

TEST_CASE("meter publishes per-channel peak and RMS") {
    ae::pipeline::meter m(2, 480);
    CHECK(m.read().windows == 0);
    std::vector<float> block(2 * 480);
    for (std::size_t f = 0; f < 480; ++f) {
        block[2 * f] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 1000.0 * f / 48000.0));
        block[2 * f + 1] = (f == 100) ? -0.9f : 0.0f;
    }
    ae::test::rt_guard guard;
    {
        auto armed = guard.arm();
        m.process(block.data(), 480);
    }
    CHECK(guard.violations() == 0);
    const auto reading = m.read();
    CHECK(reading.windows == 1);
    CHECK(reading.channels == 2);
    CHECK(reading.peak[0] == doctest::Approx(0.5).epsilon(0.001));
    CHECK(reading.rms[0] == doctest::Approx(0.5 / std::numbers::sqrt2).epsilon(0.001)); // 10 whole cycles
    CHECK(reading.peak[1] == doctest::Approx(0.9f));
    CHECK(reading.rms[1] == doctest::Approx(0.9 / std::sqrt(480.0)).epsilon(0.001));
}

namespace {
// Resamples `seconds` of a sine at `hz` from `in_rate` to `out_rate` in blocks of `block`
// frames and returns the output (mono).
std::vector<float> resample_sine(ae::pipeline::resampler& r, double in_rate, double hz, double seconds, std::size_t block,
                                 ae::test::rt_guard* guard) {
    const auto total = static_cast<std::size_t>(in_rate * seconds);
    std::vector<float> in(total);
    for (std::size_t i = 0; i < total; ++i) in[i] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * hz * i / in_rate));
    std::vector<float> out(r.max_output_for(total) + 4096);
    std::size_t produced = 0;
    {
        std::optional<ae::test::rt_guard::armed_scope> armed;
        if (guard) armed.emplace(*guard);
        for (std::size_t at = 0; at < total; at += block) {
            const std::size_t n = std::min(block, total - at);
            const auto result = r.process(in.data() + at, n, out.data() + produced, r.max_output_for(n));
            CHECK(result.consumed == n);
            produced += result.produced;
        }
    }
    produced += r.process(nullptr, 0, out.data() + produced, out.size() - produced).produced;
    out.resize(produced);
    return out;
}

} // namespace

TEST_CASE("resampler (libsoxr)") {
    SUBCASE("48 kHz to 44.1 kHz: length and SNR, no allocation after priming") {
        auto r = ae::pipeline::resampler::create(48000, 44100, 1, ae::pipeline::resampler::mode::fixed, 480);
        REQUIRE(r);
        ae::test::rt_guard guard;
        const auto out = resample_sine(*r, 48000, 997, 1.0, 480, &guard);
        const std::string first = guard.first_violation();
        CAPTURE(first);
        CHECK(guard.allocations() == 0);
        CHECK(r->leading_silence_frames() > 0);
        CHECK(std::abs(static_cast<long>(out.size() - r->leading_silence_frames()) - 44100) <= 1);
        // Silence first: the linear-phase filter pre-rings just before the signal (90 frames here).
        REQUIRE(r->leading_silence_frames() > 100);
        float before_pre_ring = 0;
        for (std::size_t i = 0; i + 100 < r->leading_silence_frames(); ++i) before_pre_ring = std::max(before_pre_ring, std::abs(out[i]));
        CHECK(before_pre_ring < 1e-6f);
        CHECK(std::abs(out[r->leading_silence_frames() + 20]) > 0.05f);
        const double snr = ae::test::snr_db(out, 44100, 997, 2000, 2000);
        MESSAGE("fixed 48k->44.1k SNR ", snr, " dB");
        CHECK(snr >= 120);
        MESSAGE("latency ", r->leading_silence_frames(), " frames");
    }
    SUBCASE("variable ratio follows a nudge without a click") {
        auto r = ae::pipeline::resampler::create(48000, 48000, 1, ae::pipeline::resampler::mode::variable, 480);
        REQUIRE(r);
        CHECK(r->set_ratio_adjust(500)); // consume 500 ppm more input per output frame
        const auto out = resample_sine(*r, 48000, 1000, 2.0, 480, nullptr);
        // 96,000 input frames at 500 ppm faster make ~48 fewer output frames.
        const auto length = static_cast<long>(out.size() - r->leading_silence_frames());
        CHECK(length < 96000 - 20);
        CHECK(length > 96000 - 80);
        // No click: the largest sample-to-sample step stays that of a 1 kHz sine at 0.5.
        float largest = 0;
        for (std::size_t i = 2000; i + 2000 < out.size(); ++i) largest = std::max(largest, std::abs(out[i] - out[i - 1]));
        CHECK(largest <= 0.5 * 2 * std::numbers::pi * 1000.5 / 48000 * 1.01);
        CHECK(ae::test::snr_db(out, 48000 / (1 + 500e-6), 1000, 6000, 6000) >= 80);
        auto fixed = ae::pipeline::resampler::create(48000, 44100, 1);
        REQUIRE(fixed);
        CHECK_FALSE(fixed->set_ratio_adjust(10));
    }
    SUBCASE("variable ratio's delay is the same at every rate and channel count") {
        for (const double rate : {8000.0, 44100.0, 48000.0, 192000.0}) {
            for (const std::uint32_t channels : {1u, 2u, 8u}) {
                auto r = ae::pipeline::resampler::create(rate, rate, channels, ae::pipeline::resampler::mode::variable, 240);
                REQUIRE(r);
                CHECK(r->delay_frames() == doctest::Approx(ae::pipeline::resampler::variable_delay_frames));
                CHECK(r->set_ratio_adjust(800));
                CHECK(r->delay_frames() == doctest::Approx(ae::pipeline::resampler::variable_delay_frames).epsilon(0.01));
            }
        }
    }
    SUBCASE("bad rates are refused") {
        CHECK(ae::pipeline::resampler::create(0, 44100, 2).error() == ae::errc::bad_argument);
    }
}

TEST_CASE("resampler: fixed blocks never allocate, varying blocks do (why the chains use fixed ones)") {
    for (const auto& [in_rate, out_rate] : {std::pair{48000.0, 44100.0}, std::pair{44100.0, 48000.0}}) {
        CAPTURE(in_rate);
        std::vector<float> in(2 * 304, 0.25f);
        std::vector<float> out(2 * 4096);
        {
            auto r = ae::pipeline::resampler::create(in_rate, out_rate, 2, ae::pipeline::resampler::mode::fixed, 64);
            REQUIRE(r);
            ae::test::rt_guard guard;
            {
                auto armed = guard.arm();
                for (int i = 0; i < 20000; ++i) (void)r->process(in.data(), 64, out.data(), r->max_output_for(64));
            }
            const std::string first = guard.first_violation();
            CAPTURE(first);
            CHECK(guard.allocations() == 0);
        }
        {
            auto r = ae::pipeline::resampler::create(in_rate, out_rate, 2, ae::pipeline::resampler::mode::fixed, 304);
            REQUIRE(r);
            ae::test::rt_guard guard;
            std::uint32_t lcg = 1;
            {
                auto armed = guard.arm();
                for (int i = 0; i < 20000; ++i) {
                    lcg = lcg * 1664525u + 1013904223u;
                    const std::size_t n = 1 + (lcg >> 8) % 304;
                    (void)r->process(in.data(), n, out.data(), r->max_output_for(n));
                }
            }
            // Not asserted (soxr's business): 2 reallocs at 48k -> 44.1k, 0 the other way, with
            // libsoxr 0.1.3 — enough to keep the chains on fixed blocks.
            MESSAGE("varying blocks up to the primed size: ", guard.allocations(), " allocations in 20000 calls");
        }
    }
}

TEST_CASE("resampler: after create, fixed blocks never allocate — heavy decimation, 1 to 8 channels, tiny and large blocks") {
    // Small-block priming left soxr's slowest fifo growing on the RT thread at 8:1 decimation
    // and beyond (5 to 1,592 reallocs here); the large priming blocks reserve it up front.
    struct shape {
        double in_rate, out_rate;
        std::uint32_t channels, block;
    };
    // Both latencies: the small DFT blocks of real-time devices, soxr's large ones for offline.
    for (const auto latency : {ae::pipeline::resampler::latency::low, ae::pipeline::resampler::latency::throughput})
    for (const shape s : {shape{96000, 8000, 1, 128}, shape{768000, 8000, 2, 128}, shape{192000, 44100, 8, 32},
                          shape{48000, 1000, 1, 480}, shape{44100, 48000, 8, 16}, shape{8000, 96000, 1, 480},
                          shape{48000, 44100, 2, 64}, shape{44100, 192000, 2, 64}}) {
        CAPTURE(s.in_rate);
        CAPTURE(s.out_rate);
        CAPTURE(s.channels);
        CAPTURE(static_cast<int>(latency));
        auto r = ae::pipeline::resampler::create(s.in_rate, s.out_rate, s.channels, ae::pipeline::resampler::mode::fixed, s.block,
                                                 latency);
        REQUIRE(r);
        std::vector<float> in(std::size_t{s.block} * s.channels, 0.25f);
        std::vector<float> out(r->max_output_for(s.block) * s.channels);
        ae::test::rt_guard guard;
        std::size_t produced = 0;
        {
            auto armed = guard.arm();
            // Four seconds of input, whatever the block.
            const auto calls = static_cast<std::size_t>(4 * s.in_rate / s.block);
            for (std::size_t i = 0; i < calls; ++i) produced += r->process(in.data(), s.block, out.data(), out.size() / s.channels).produced;
        }
        const std::string first = guard.first_violation();
        CAPTURE(first);
        CHECK(guard.allocations() == 0);
        CHECK(produced > static_cast<std::size_t>(3.5 * s.out_rate)); // it did convert (less the filter's delay)
    }
}
