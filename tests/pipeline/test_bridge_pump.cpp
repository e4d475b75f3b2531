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
