// ae::engine's sources: the tone is one sine whatever the call sizes, and across rate changes.
#include <openae/engine/source.h>

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

TEST_CASE("engine source: a tone is sin(2 pi f t) to f32 precision over calls of any size, its phase continuous across a rate change") {
    auto source = ae::engine_source::parse("tone:997");
    REQUIRE(source);
    double t = 0; // seconds of the stream so far
    double worst = 0;
    std::size_t frames_checked = 0;
    auto check = [&](std::uint32_t frames, std::uint32_t rate) {
        std::vector<float> out(std::size_t{frames} * 3);
        source->fill(out.data(), frames, 3, rate);
        for (std::uint32_t i = 0; i < frames; ++i) {
            const double expected = 0.25 * std::sin(2 * std::numbers::pi * 997 * (t + static_cast<double>(i) / rate));
            for (std::size_t c = 0; c < 3; ++c) worst = std::max(worst, std::abs(out[std::size_t{i} * 3 + c] - expected));
        }
        t += static_cast<double>(frames) / rate;
        frames_checked += frames;
    };
    // Sizes around the phasors' four lanes: 1, 2, 3, 4, 5, 7, then a long one; then the same at 44.1 kHz.
    for (const std::uint32_t rate : {48'000u, 44'100u}) {
        for (const std::uint32_t frames : {1u, 2u, 3u, 4u, 5u, 7u, 4096u, 480u, 13u}) check(frames, rate);
    }
    CHECK(frames_checked == 2 * (1 + 2 + 3 + 4 + 5 + 7 + 4096 + 480 + 13));
    // f32's own rounding (6e-8 of 0.25) and the phasors' error together.
    CHECK(worst < 1e-7);
}
