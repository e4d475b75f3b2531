// seam_tail: the old rate's stream continued past a render seam by linear prediction, under a
// fade-out that sums to 1 with the new stream's fade-in.
#include <openae/pipeline/seam_tail.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

using ae::pipeline::seam_tail;

namespace {

// `frames` frames of a stereo sine (channel 1 at half the amplitude, a quarter turn on) from
// frame `from`, at `rate`.
std::vector<float> sine(std::uint32_t rate, double tone_hz, std::uint64_t from, std::uint32_t frames) {
    std::vector<float> x(std::size_t{frames} * 2);
    for (std::uint32_t i = 0; i < frames; ++i) {
        const double phase = 2 * std::numbers::pi * tone_hz * static_cast<double>(from + i) / rate + 0.3;
        x[std::size_t{i} * 2] = static_cast<float>(0.5 * std::sin(phase));
        x[std::size_t{i} * 2 + 1] = static_cast<float>(0.25 * std::sin(phase + std::numbers::pi / 2));
    }
    return x;
}

// The worst difference between the continuation and the sine it continues, under the fade-out.
double continuation_error(seam_tail& tail, std::uint32_t rate, double tone_hz, std::uint64_t seam_frame) {
    const std::uint32_t fade = seam_tail::fade_frames(rate);
    std::vector<float> out(std::size_t{fade + 10} * 2);
    tail.peek(out.data(), fade + 10);
    const auto expected = sine(rate, tone_hz, seam_frame, fade + 10);
    double worst = 0;
    for (std::uint32_t j = 0; j < fade + 10; ++j) {
        const double fade_out = 1.0 - seam_tail::fade_in(j, rate);
        for (std::size_t c = 0; c < 2; ++c) {
            worst = std::max(worst, std::abs(out[j * 2 + c] - expected[j * 2 + c] * fade_out));
        }
    }
    return worst;
}

} // namespace

TEST_CASE("seam tail: fade-in and fade-out sum to 1 at every instant, over 2 ms at any rate") {
    for (const std::uint32_t rate : {8'000u, 44'100u, 192'000u}) {
        CAPTURE(rate);
        const std::uint32_t fade = seam_tail::fade_frames(rate);
        CHECK(fade == static_cast<std::uint32_t>(std::ceil(0.002 * rate)));
        CHECK(seam_tail::fade_in(0, rate) == 0.0f);
        CHECK(seam_tail::fade_in(fade, rate) == 1.0f);
        // Rising, never past 1: the new stream's first frame is silent, its frame after the fade whole.
        for (std::uint32_t j = 1; j < fade; ++j) CHECK(seam_tail::fade_in(j, rate) > seam_tail::fade_in(j - 1, rate));
        CHECK(seam_tail::fade_in(fade / 2, rate) == doctest::Approx(0.5).epsilon(0.02));
    }
}

TEST_CASE("seam tail: a steady tone is continued past the seam within -90 dB, at 8 to 192 kHz") {
    for (const std::uint32_t rate : {8'000u, 22'050u, 48'000u, 96'000u, 192'000u}) {
        for (const double tone : {1000.0, 3000.0}) {
            CAPTURE(rate);
            CAPTURE(tone);
            seam_tail tail(2, rate);
            // Taken in runs of odd sizes, more than the history holds.
            std::uint64_t at = 0;
            for (const std::uint32_t run : {700u, 333u, 1u, 1200u, 97u}) {
                const auto x = sine(rate, tone, at, run);
                tail.remember(x.data(), run, 2);
                at += run;
            }
            tail.begin();
            CHECK(continuation_error(tail, rate, tone, at) < 0.5 * 3.2e-5); // -90 dB of the amplitude
        }
    }
}

TEST_CASE("seam tail: frames taken back are not continued, and silence, a short history or another width give silence") {
    const std::uint32_t rate = 48'000;
    SUBCASE("forget") {
        seam_tail tail(2, rate);
        const auto x = sine(rate, 1000, 0, 2000);
        tail.remember(x.data(), 2000, 2);
        // A run the resampler did not take: garbage, then given back.
        std::vector<float> garbage(50 * 2, 0.9f);
        tail.remember(garbage.data(), 50, 2);
        tail.forget(50);
        tail.begin();
        CHECK(continuation_error(tail, rate, 1000, 2000) < 0.5 * 3.2e-5);
    }
    std::vector<float> out(200 * 2, 1.0f);
    auto all_silent = [&](seam_tail& tail) {
        tail.begin();
        tail.peek(out.data(), 200);
        return std::all_of(out.begin(), out.end(), [](float v) { return v == 0.0f; });
    };
    SUBCASE("silence") {
        seam_tail tail(2, rate);
        std::vector<float> zeros(1024 * 2, 0.0f);
        tail.remember(zeros.data(), 1024, 2);
        CHECK(all_silent(tail));
    }
    SUBCASE("too short a history to fit") {
        seam_tail tail(2, rate);
        const auto x = sine(rate, 1000, 0, 8);
        tail.remember(x.data(), 8, 2);
        CHECK(all_silent(tail));
    }
    SUBCASE("another channel count than the tail was made for") {
        seam_tail tail(2, rate);
        const auto x = sine(rate, 1000, 0, 1024);
        tail.remember(x.data(), 512, 2);
        tail.remember(x.data(), 256, 4);
        CHECK(all_silent(tail));
    }
    SUBCASE("after the fade: silence, whatever was continued") {
        seam_tail tail(2, rate);
        const auto x = sine(rate, 1000, 0, 1024);
        tail.remember(x.data(), 1024, 2);
        tail.begin();
        tail.advance(seam_tail::fade_frames(rate));
        tail.peek(out.data(), 200);
        CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v == 0.0f; }));
    }
}
