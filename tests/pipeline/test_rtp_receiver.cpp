// The RTP receiver on a simulated clock: a sender's packets (L16 or Opus, its clock off by
// `drift_ppm`, with seeded jitter, loss and duplication) arrive; a reader takes a period from the
// ring on the local clock. No network, no threads: every run is the same run.
#include <openae/pipeline/rtp_codec.h>
#include <openae/pipeline/rtp_packet.h>
#include <openae/pipeline/rtp_receiver.h>

#include "rtp_simulation.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <queue>
#include <random>
#include <vector>

using namespace ae;
using namespace ae::pipeline;

namespace {

using ae::test::rtp_sim::rate;
using ae::test::rtp_sim::signal_frame;
using ae::test::rtp_sim::sim_options;
using ae::test::rtp_sim::sim_result;
using ae::test::rtp_sim::simulate;

// Where the signal's frame 0 is in `output` (the priming silence before it), or npos.
std::size_t signal_start(const std::vector<float>& output) {
    float first[2];
    signal_frame(0, first);
    for (std::size_t at = 0; 2 * at < output.size(); ++at) {
        if (output[2 * at] == first[0] && output[2 * at + 1] == first[1]) return at;
    }
    return std::string::npos;
}

} // namespace

TEST_CASE("rtp receiver: L16 in order comes out exact after the latency's silence - with nothing counted") {
    const sim_result r = simulate({.seconds = 3, .drift_control = false, .keep_output = true});
    const std::size_t start = signal_start(r.output);
    REQUIRE(start != std::string::npos);
    // One empty read (5 ms) before the first packet came (whole at 5 ms, there at 6 ms), then the
    // 20 ms of priming silence.
    CHECK(start == 240 + 960);
    std::size_t wrong = 0;
    float expected[2];
    for (std::size_t at = start; 2 * at < r.output.size(); ++at) {
        signal_frame(at - start, expected);
        wrong += r.output[2 * at] != expected[0] || r.output[2 * at + 1] != expected[1];
    }
    CHECK(wrong == 0);
    CHECK(r.underrun_frames == 0);
    CHECK(r.lost == 0);
    CHECK(r.concealed == 0);
}

TEST_CASE("rtp receiver: lost packets are concealed in place and counted - the rest stays exact") {
    const sim_result r = simulate({.seconds = 5, .loss = 0.05, .drift_control = false, .keep_output = true, .seed = 7});
    MESSAGE("sent ", r.sent, ", dropped by the network ", r.dropped_by_network, ", counted lost ", r.lost);
    REQUIRE(r.dropped_by_network > 20);
    const std::size_t start = signal_start(r.output);
    REQUIRE(start != std::string::npos);
    // Every packet the network dropped and the reader reached is counted, and nothing else.
    const std::size_t read_packets = (r.output.size() / 2 - start) / 240;
    std::uint64_t dropped_read = 0;
    for (std::size_t p = 0; p < read_packets && p < r.lost_packet.size(); ++p) dropped_read += r.lost_packet[p];
    CHECK(r.lost >= dropped_read);
    CHECK(r.lost <= r.dropped_by_network);
    CHECK(r.concealed == r.lost * 240);
    CHECK(r.underrun_frames == 0);
    // A lost packet's frames are silence (L16), in its place: every other frame is the signal's.
    std::size_t wrong = 0;
    float expected[2];
    for (std::size_t at = start; 2 * at < r.output.size(); ++at) {
        const std::size_t n = at - start;
        signal_frame(n, expected);
        const bool was_lost = r.lost_packet[n / 240];
        if (was_lost) wrong += r.output[2 * at] != 0.0f || r.output[2 * at + 1] != 0.0f;
        else wrong += r.output[2 * at] != expected[0] || r.output[2 * at + 1] != expected[1];
    }
    CHECK(wrong == 0);
}

TEST_CASE("rtp receiver: jitter within the latency reorders - duplicates are dropped - nothing is lost") {
    // 12 ms of jitter on 5 ms packets: packets overtake each other; the latency (20 ms) less the
    // reader's period (5 ms) and the 2 ms margin leaves them 13 ms.
    const sim_result r = simulate({.seconds = 5, .jitter_ms = 12, .duplicate = 0.05, .drift_control = false, .keep_output = true, .seed = 3});
    MESSAGE("duplicated ", r.duplicated, ", counted duplicates ", r.duplicates, ", late ", r.late);
    REQUIRE(r.duplicated > 20);
    CHECK(r.duplicates + r.late == r.duplicated);
    CHECK(r.lost == 0);
    CHECK(r.underrun_frames == 0);
    const std::size_t start = signal_start(r.output);
    REQUIRE(start != std::string::npos);
    std::size_t wrong = 0;
    float expected[2];
    for (std::size_t at = start; 2 * at < r.output.size(); ++at) {
        signal_frame(at - start, expected);
        wrong += r.output[2 * at] != expected[0] || r.output[2 * at + 1] != expected[1];
    }
    CHECK(wrong == 0);
}

TEST_CASE("rtp receiver: a sender 100 ppm fast or slow - drift control holds the queue within 2 ms over 5 minutes") {
    for (const double ppm : {100.0, -100.0}) {
        CAPTURE(ppm);
        const sim_result held = simulate({.seconds = 300, .drift_ppm = ppm, .jitter_ms = 2});
        MESSAGE(ppm, " ppm, controlled: worst queue error ", held.worst_queue_error_ms, " ms, at the end ", held.final_queue_error_ms,
                " ms, largest step ", held.largest_step_ppm, " ppm");
        CHECK(held.worst_queue_error_ms <= 2.0);
        CHECK(held.underrun_frames == 0);
        CHECK(held.lost == 0);
        CHECK(held.largest_step_ppm < 20);
        // The same without control: the queue walks off by 100 ppm x 300 s = 30 ms.
        const sim_result free = simulate({.seconds = 300, .drift_ppm = ppm, .jitter_ms = 2, .drift_control = false});
        MESSAGE(ppm, " ppm, uncontrolled: queue error at the end ", free.final_queue_error_ms, " ms, concealed ",
                free.concealed, " frames, late packets ", free.late);
        if (ppm > 0) CHECK(free.final_queue_error_ms > 20); // grown by 100 ppm x 300 s = 30 ms
        else CHECK(free.late > 0); // drained: packets came after their frames had been concealed
    }
}

TEST_CASE("rtp receiver: Opus with loss conceals by PLC and counts it") {
    const sim_result r = simulate({.codec = rtp_codec::opus, .seconds = 5, .loss = 0.05, .ptime_ms = 10, .seed = 11});
    MESSAGE("opus: sent ", r.sent, ", dropped ", r.dropped_by_network, ", counted lost ", r.lost, ", concealed frames ", r.concealed);
    REQUIRE(r.dropped_by_network > 10);
    CHECK(r.lost <= r.dropped_by_network);
    CHECK(r.lost + 3 >= r.dropped_by_network); // the last ones may not be due yet
    CHECK(r.concealed == r.lost * 480);
    CHECK(r.underrun_frames == 0);
    CHECK(r.packets == r.delivered);
}

TEST_CASE("rtp receiver: short packets with jitter near the latency and loss - each lost packet concealed once") {
    // 2.5 ms packets, 5 ms of jitter against 10 ms of latency, 5 % loss: packets overtake each
    // other and some come after their deadline. Before the fix, a gap whose next packet came late
    // made the concealment run ahead of every later packet (6.5 s concealed out of 10).
    const sim_result r = simulate({.seconds = 10, .jitter_ms = 5, .loss = 0.05, .ptime_ms = 2.5, .reader_period_ms = 2.5, .latency_ms = 10});
    MESSAGE("dropped ", r.dropped_by_network, ", lost ", r.lost, ", late ", r.late, ", concealed ", r.concealed, " frames");
    REQUIRE(r.dropped_by_network > 100);
    CHECK(r.lost >= r.dropped_by_network);
    CHECK(r.lost <= r.dropped_by_network + r.late);
    CHECK(r.concealed <= (r.lost + r.late) * 120 + r.late * 480); // a packet each, and a refill of up to the latency per late one
    CHECK(r.underrun_frames == 0);
}

TEST_CASE("rtp receiver: after its thread stalled past the queue - the frames the reader missed are skipped and the latency is what it was") {
    // 60 ms without the receiver's thread against a 20 ms queue: the reader plays ~40 ms of
    // silence; the stream then resumes where it would have been, not 40 ms later.
    const sim_result r = simulate({.seconds = 6, .drift_control = true, .keep_output = true, .stall_at_s = 3, .stall_ms = 60});
    MESSAGE("underrun ", r.underrun_frames, " frames, skipped ", r.skipped, ", final queue error ", r.final_queue_error_ms, " ms");
    CHECK(r.underrun_frames >= 1440);
    CHECK(r.skipped == r.underrun_frames);
    CHECK(r.final_queue_error_ms < 1);
    CHECK(r.lost == 0);
    // The signal's frames (the left channel counts them) sit at the same output index offset
    // before and after the gap, give or take the drift resampler's slewing.
    const auto offset_at = [&](std::size_t at) {
        // Frame index of the signal whose left sample is at output frame `at`.
        const auto counted = static_cast<std::int64_t>(std::lround(r.output[2 * at] * 32768.0f)) + 32768;
        return static_cast<std::int64_t>(at) - counted;
    };
    const std::size_t before = static_cast<std::size_t>(2.5 * rate), after = static_cast<std::size_t>(5.5 * rate);
    const std::int64_t moved = ((offset_at(after) - offset_at(before)) % 65536 + 65536 + 32768) % 65536 - 32768;
    CHECK(std::abs(moved) <= 2);
}

TEST_CASE("rtp receiver: a jump in the path's delay grows the queue - it comes back down to where it settled once the delay is gone") {
    // For 3 s the path takes 25 ms longer: more than the 20 ms queue allows for: the first packets
    // come late and the queue grows by as many packets as were concealed ahead of them; 5 s
    // later it is drained back at 0.5 ms/s (and the 25 ms the path gave back, by drift control).
    const sim_result r = simulate({.seconds = 60, .jitter_ms = 1, .spike_at_s = 3, .spike_s = 3, .spike_ms = 25});
    MESSAGE("late ", r.late, ", target first ", r.first_target_ms, " ms, largest ", r.largest_target_ms, " ms, final ", r.final_target_ms,
            " ms; final queue error ", r.final_queue_error_ms, " ms, largest correction step ", r.largest_step_ppm, " ppm");
    REQUIRE(r.late > 0);
    CHECK(r.largest_target_ms >= r.first_target_ms + 5);
    CHECK(r.final_target_ms == doctest::Approx(r.first_target_ms).epsilon(0.02));
    CHECK(r.final_queue_error_ms < 1);
    CHECK(r.largest_step_ppm < 20); // drained by drift control, no step (the queue averaged over 2 s)
    CHECK(r.underrun_frames == 0);
}
