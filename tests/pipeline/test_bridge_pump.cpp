// The bridge pump between two simulated devices on two clocks, on virtual time
// (bridge_simulation.h): the queue holds its level whichever clock runs fast, the tone stays whole,
// a generous start glides down, and a run replays exactly.
#include "bridge_simulation.h"

#include <doctest/doctest.h>

#include <cmath>

using ae::test::bridge_simulation::run;
using ae::test::bridge_simulation::run_result;


TEST_CASE("bridge pump: a capture clock 300 ppm fast for 2 minutes - the queue holds its level and the tone stays whole") {
    const run_result r = run(300, 120, true);
    MESSAGE("queue " << r.first_queue_ms << " ms at the start, " << r.last_queue_ms << " ms at the end; drift " << r.drift_ppm
                     << " ppm; largest step " << r.largest_step);
    CHECK(std::abs(r.last_queue_ms - r.first_queue_ms) < 2.0);
    CHECK(r.drift_ppm == doctest::Approx(300).epsilon(0.15));
    CHECK(r.underrun_frames == 0);
    CHECK(r.dropped_frames == 0);
    // A 1 kHz tone at 0.5 moves at most 0.0654 between samples: anything larger is a break.
    CHECK(r.largest_step < 0.068);
    CHECK(r.violations == 0);
}

TEST_CASE("bridge pump: without drift control the same clocks grow the queue by the drift") {
    const run_result r = run(300, 60, false);
    MESSAGE("queue " << r.first_queue_ms << " ms at the start, " << r.last_queue_ms << " ms at the end");
    // 300 ppm over the 10 s between the two windows: 3 ms.
    CHECK(r.last_queue_ms - r.first_queue_ms == doctest::Approx(3).epsilon(0.15));
    CHECK(r.drift_ppm == 0);
}

TEST_CASE("bridge pump: a capture clock 500 ppm slow - the queue does not drain") {
    const run_result r = run(-500, 90, true);
    MESSAGE("queue " << r.first_queue_ms << " ms at the start, " << r.last_queue_ms << " ms at the end; drift " << r.drift_ppm);
    CHECK(std::abs(r.last_queue_ms - r.first_queue_ms) < 1.0);
    CHECK(r.drift_ppm == doctest::Approx(-500).epsilon(0.15));
    CHECK(r.underrun_frames == 0);
}

TEST_CASE("bridge pump: the same run twice gives the same samples") {
    const run_result a = run(120, 52, true);
    const run_result b = run(120, 52, true);
    REQUIRE_FALSE(a.tail.empty());
    CHECK(a.tail == b.tail);
}

TEST_CASE("bridge pump: a first level 25 ms more than the devices need glides down to what they need") {
    const run_result tight = run(0, 90, true);
    const run_result generous = run(0, 90, true, 1200);
    MESSAGE("at the end: " << tight.last_queue_ms << " ms from a tight start, " << generous.last_queue_ms << " ms from a generous one");
    MESSAGE("40 to 50 s from the generous start: " << generous.first_queue_ms << " ms");
    // 25 ms at 0.5 ms/s from 5 s on: down by the end, to no more than the tight start holds.
    CHECK(generous.first_queue_ms > generous.last_queue_ms + 3);
    CHECK(generous.last_queue_ms < tight.last_queue_ms + 1);
    CHECK(generous.underrun_frames == 0);
    CHECK(generous.largest_step < 0.068);
}

TEST_CASE("bridge pump: a resampler block of the capture period - each pass passes on what it took - a 5 ms block holds 128-frame periods back") {
    using namespace ae;
    // Frames written into the render ring after each of 15 capture periods of 128 frames (2.67 ms
    // at 48 kHz: a small JACK period), with the block given and with the default one.
    auto written_after_each_pass = [](std::uint32_t block_frames) {
        constexpr std::uint32_t period = 128;
        virtual_time time{hns{0}};
        const frame_format format{48'000, 2, sample_type::f32};
        capture_endpoint_core capture{1};
        render_endpoint_core render{2};
        REQUIRE_FALSE(capture.set_buffer(format, 1024, 4096));
        REQUIRE_FALSE(render.set_buffer(format, 960, 9600));
        pipeline::bridge_pump::options opts;
        opts.block_frames = block_frames;
        auto pump = pipeline::bridge_pump::create(capture.rt(), render.rt(), opts);
        REQUIRE(pump);
        capture.control_link().set_consumer(pump->get());
        REQUIRE_FALSE(render.start());
        REQUIRE_FALSE(capture.start());
        std::vector<float> frames(std::size_t{period} * 2, 0.25f);
        std::vector<std::uint64_t> written;
        for (int pass = 0; pass < 15; ++pass) {
            time.advance(hns{26'667});
            auto& port = capture.device();
            (void)port.begin_period();
            REQUIRE(port.write(reinterpret_cast<const std::byte*>(frames.data()), period) == period);
            port.run_consumer();
            written.push_back((*pump)->read_figures().frames_out);
        }
        return written;
    };
    const auto by_period = written_after_each_pass(128);
    const auto by_5ms = written_after_each_pass(0);
    int passes_writing_nothing_by_period = 0, passes_writing_nothing_by_5ms = 0;
    for (std::size_t i = 0; i < by_period.size(); ++i) {
        const std::uint64_t before_period = i == 0 ? 0 : by_period[i - 1];
        const std::uint64_t before_5ms = i == 0 ? 0 : by_5ms[i - 1];
        passes_writing_nothing_by_period += by_period[i] == before_period ? 1 : 0;
        passes_writing_nothing_by_5ms += by_5ms[i] == before_5ms ? 1 : 0;
    }
    MESSAGE("passes that wrote nothing: ", passes_writing_nothing_by_period, " with a 128-frame block, ", passes_writing_nothing_by_5ms,
            " with 5 ms; written after 15 passes: ", by_period.back(), " and ", by_5ms.back());
    CHECK(passes_writing_nothing_by_period == 0);
    CHECK(passes_writing_nothing_by_5ms >= 7); // 240-frame blocks out of 128-frame periods: every other pass, about
}
