// Offline chains against the slowest engine the device allows: it reads (capture) or writes
// (render) one packet only when the device would otherwise wait. Nothing may be lost and the
// stream must be the one a fast engine gets, frame for frame — whatever soxr's bursts and
// however small the ring.
#include <openae/openae.hpp>
#include <openae/pipeline/capture_chain.h>
#include <openae/pipeline/render_chain.h>

#include "rt_guard.h"
#include "test_engine.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

using namespace ae::pipeline;

namespace {

constexpr std::uint32_t device_rate = 44'100;
constexpr std::uint32_t period_frames = 441; // 10 ms
constexpr int periods = 100;

struct run_result {
    std::vector<float> left; // the endpoint's channel 0, as the engine read it
    std::size_t overruns = 0;
    std::size_t dropped = 0;
    bool discontinuous = false;
    int stalls = 0; // times the device could not go on until the engine read
};

// Reads at most `packets` packets (all there is when 0).
void read_packets(ae::capture_endpoint_rt& rt, run_result& out, int packets) {
    for (int n = 0; packets == 0 ? n < 64 : n < packets; ++n) {
        const std::uint64_t ready = rt.current_padding();
        if (ready == 0) break;
        ae::connection_property p{nullptr, static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, rt.frames_per_packet())),
                                  ae::buffer_flags::invalid};
        ae::position stamp;
        REQUIRE(rt.input_data_pointer(p, &stamp) == ae::errc{});
        // The first packet may say so (the stream's start); a gap after it is a loss.
        if (!out.left.empty()) out.discontinuous |= (stamp.flags & ae::position_flags::discontinuous) == ae::position_flags::discontinuous;
        const auto* samples = reinterpret_cast<const float*>(p.buffer);
        for (std::uint32_t i = 0; i < p.valid_frames; ++i) out.left.push_back(samples[std::size_t{i} * 2]);
        rt.release_input_data_pointer(p.valid_frames, p.buffer);
    }
    rt.processing_complete();
}

// `slow`: the engine reads one packet only while the chain is not ready (the device would wait);
// otherwise it reads everything after every period.
run_result run(std::uint32_t buffer_frames, bool slow) {
    ae::capture_endpoint_core endpoint{1};
    REQUIRE_FALSE(endpoint.set_buffer({48'000, 2, ae::sample_type::f32}, 480, buffer_frames));
    chain_options options;
    options.offline = true;
    options.resampler_latency = resampler::latency::throughput;
    auto created = capture_chain::create(endpoint, {device_rate, 2, ae::sample_type::f32}, period_frames, options);
    REQUIRE(created);
    capture_chain& chain = **created;
    REQUIRE_FALSE(endpoint.start());

    std::vector<float> in(std::size_t{period_frames} * 2);
    run_result out;
    out.left.reserve(60'000);
    ae::capture_endpoint_rt& rt = endpoint.rt();
    // The device's wait: bounded, and every turn reads a packet (a ring the engine has emptied
    // is always ready).
    auto wait_for_engine = [&] {
        for (int turns = 0; turns < 16 && !chain.ready(period_frames); ++turns) {
            read_packets(rt, out, 1);
            ++out.stalls;
        }
        REQUIRE(chain.ready(period_frames));
    };
    ae::test::rt_guard guard;
    {
        auto armed = guard.arm();
        std::uint64_t frame = 0;
        for (int p = 0; p < periods; ++p) {
            wait_for_engine();
            for (std::uint32_t i = 0; i < period_frames; ++i, ++frame) {
                const auto v = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 1000.0 * static_cast<double>(frame) / device_rate));
                in[2 * i] = in[2 * i + 1] = v;
            }
            chain.capture(in.data(), period_frames);
            if (!slow) read_packets(rt, out, 0);
        }
        // The end of the stream: its last frames, as the ring has room for them.
        for (int turns = 0; turns < 16; ++turns) {
            wait_for_engine();
            chain.finish_stream();
            if (!chain.holding_output()) break;
        }
        CHECK_FALSE(chain.holding_output());
        for (int turns = 0; turns < 16 && rt.current_padding() > 0; ++turns) read_packets(rt, out, 0);
    }
    CHECK(guard.violations() == 0);
    endpoint.drain_glitches([&](const ae::glitch_record& r) {
        out.overruns += r.kind == ae::glitch_kind::overrun;
        out.dropped += r.kind == ae::glitch_kind::dropped;
    });
    return out;
}

} // namespace

TEST_CASE("offline capture: an engine as slow as the device allows gets every frame a fast one gets") {
    // soxr at its default (offline) DFT sizes brings a 10 ms period out as 0 or 892 frames: a
    // 1920-frame ring that a slow engine keeps as full as allowed, and a 600-frame ring no
    // burst fits into.
    const run_result fast = run(1920, false);
    CHECK(fast.overruns == 0);
    CHECK(fast.dropped == 0);
    // Every frame of the source and the filter's delay before it, and nothing after it.
    CHECK(fast.left.size() >= std::size_t{periods} * 480);
    CHECK(fast.left.size() < std::size_t{periods} * 480 + 2048);
    for (const std::uint32_t buffer : {1920u, 600u}) {
        CAPTURE(buffer);
        const run_result slow = run(buffer, true);
        MESSAGE("ring of ", buffer, " frames: the device waited for the engine ", slow.stalls, " times");
        CHECK(slow.stalls > periods / 2); // the engine really was the one holding the device
        CHECK(slow.overruns == 0);
        CHECK(slow.dropped == 0);
        CHECK_FALSE(slow.discontinuous);
        REQUIRE(slow.left.size() == fast.left.size());
        CHECK(std::equal(slow.left.begin(), slow.left.end(), fast.left.begin()));
    }
}

namespace {

struct render_result {
    std::vector<float> left; // the device's channel 0
    std::size_t underruns = 0;
    std::size_t dropped = 0;
    int stalls = 0;
};

// The mirror: 48 kHz written by the engine, played by a 44.1 kHz offline device. `slow`: the
// engine writes one packet only while the chain is not ready; otherwise it fills the buffer
// before every period.
render_result render_run(std::uint32_t buffer_frames, bool slow) {
    ae::render_endpoint_core endpoint{1};
    REQUIRE_FALSE(endpoint.set_buffer({48'000, 2, ae::sample_type::f32}, 480, buffer_frames));
    chain_options options;
    options.offline = true;
    options.resampler_latency = resampler::latency::throughput;
    auto created = render_chain::create(endpoint, {device_rate, 2, ae::sample_type::f32}, period_frames, options);
    REQUIRE(created);
    render_chain& chain = **created;
    REQUIRE_FALSE(endpoint.start());
    std::uint64_t written = 0;
    auto write = [&](std::uint64_t limit) {
        REQUIRE(ae::test::render_pass(endpoint.rt(), written, limit, [](std::uint64_t n, float* frame) {
            frame[0] = frame[1] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 1000.0 * static_cast<double>(n) / 48'000));
        }));
    };
    std::vector<float> out(std::size_t{period_frames} * 2);
    render_result result;
    result.left.reserve(std::size_t{periods} * period_frames);
    ae::test::rt_guard guard;
    {
        auto armed = guard.arm();
        for (int p = 0; p < periods; ++p) {
            if (slow) {
                for (int turns = 0; turns < 16 && !chain.ready(period_frames); ++turns) {
                    write(written + 480);
                    ++result.stalls;
                }
            } else {
                write(~std::uint64_t{0});
            }
            REQUIRE(chain.ready(period_frames));
            chain.render(out.data(), period_frames);
            for (std::uint32_t i = 0; i < period_frames; ++i) result.left.push_back(out[2 * i]);
        }
    }
    CHECK(guard.violations() == 0);
    endpoint.drain_glitches([&](const ae::glitch_record& r) {
        result.underruns += r.kind == ae::glitch_kind::underrun;
        result.dropped += r.kind == ae::glitch_kind::dropped;
    });
    return result;
}

} // namespace

TEST_CASE("offline render: an engine as slow as the device allows plays what a fast one plays") {
    // A 480-frame buffer holds less than soxr's offline blocks may need for a period: the chain
    // takes the ring's frames into its resampler while it waits (before: never ready — an
    // offline device held for ever — and, ready at a full ring, an underrun).
    const render_result fast = render_run(1920, false);
    CHECK(fast.underruns == 0);
    for (const std::uint32_t buffer : {1920u, 480u}) {
        CAPTURE(buffer);
        const render_result slow = render_run(buffer, true);
        MESSAGE("ring of ", buffer, " frames: the device waited for the engine ", slow.stalls, " times");
        CHECK(slow.stalls > periods / 2);
        CHECK(slow.underruns == 0);
        CHECK(slow.dropped == 0);
        REQUIRE(slow.left.size() == fast.left.size());
        CHECK(std::equal(slow.left.begin(), slow.left.end(), fast.left.begin()));
    }
}
