// Same-rate format changes, stepped (stepped_rig.h): with an engine that keeps its pace, a seam
// between two encodings of one rate loses nothing — no underrun at the smallest default buffer
// (two periods), every frame the device took is one the engine wrote, each change live at the
// next pass. bench_control's first section underran when its engine, blocked in set_format on
// ae-ctl, missed its own deadline; this is the seam alone.
#include "stepped_rig.h"

#include <openae/pipeline/convert.h>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr ae::hns period_2667us{26'667};

ae::context_options rig_options() {
    ae::context_options options;
    options.default_device = "null?period=2.6667";
    return options;
}

ae::endpoint_config endpoint(std::string name) {
    return {.name = std::move(name), .device = "null?period=2.6667", .format = {48000, 2, ae::sample_type::f32}, .period = period_2667us};
}

// One engine pass in whatever encoding the endpoint has now: tops the buffer up with a ramp
// converted to that encoding (each pass writes real samples of its own format).
// `unaccounted`: passes where the frames written so far were not the stream position.
std::uint64_t pass(ae::render_endpoint_rt& rt, std::uint64_t& written, ae::position& at, std::uint64_t& unaccounted) {
    const std::uint64_t padding = rt.current_padding(&at);
    if (written != at.stream_position) ++unaccounted;
    const ae::frame_format format = rt.format();
    std::uint64_t free = rt.buffer_frames() > padding ? rt.buffer_frames() - padding : 0;
    std::uint64_t failed = 0;
    std::array<float, 2 * 256> ramp{};
    while (free > 0) {
        const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>({rt.frames_per_packet(), free, 256}));
        auto span = rt.output_data_pointer(frames);
        if (!span) {
            ++failed;
            break;
        }
        for (std::uint32_t i = 0; i < frames * format.channels; ++i) {
            ramp[i] = static_cast<float>((written + i / format.channels) % 1000) / 1000.0f;
        }
        (void)ae::pipeline::convert_samples(reinterpret_cast<const std::byte*>(ramp.data()), ae::sample_type::f32, *span, format.sample,
                                            std::size_t{frames} * format.channels);
        rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
        written += frames;
        free -= frames;
    }
    rt.processing_complete();
    return failed;
}

} // namespace

TEST_CASE("format change: 1000 same-rate changes (s16 and f32 at 48 kHz) with an engine on time, no underrun at a two-period buffer") {
    ae::test::stepped_rig rig(rig_options());
    // The buffer: two periods (latency_coefficient 2), 256 frames.
    ae::render_endpoint& ep = rig.start_render(endpoint("same_rate"));
    auto& rt = ep.rt();

    std::uint64_t written = 0, failed = 0, busy = 0, late_changes = 0, unaccounted = 0;
    ae::position at;
    std::vector<std::uint64_t> consumed; // frames the device took: written before the pass, less the queue
    auto step = [&] {
        rig.time.advance(period_2667us);
        rig.ctx.step_devices();
        rig.ctx.poll();
        failed += pass(rt, written, at, unaccounted);
        consumed.push_back(at.stream_position - at.padding_frames);
        rig.ctx.poll();
    };
    for (int i = 0; i < 4; ++i) step();
    REQUIRE(rt.frames_per_packet() == 128);
    REQUIRE(rt.buffer_frames() == 256);
    const std::uint32_t first_epoch = ep.epoch();
    const std::array<ae::frame_format, 2> formats{ae::frame_format{48000, 2, ae::sample_type::s16},
                                                  ae::frame_format{48000, 2, ae::sample_type::f32}};
    for (int change = 1; change <= 1000; ++change) {
        std::optional<std::error_code> answered;
        ep.async_set_format(formats[static_cast<std::size_t>(change - 1) % 2], [&](std::error_code ec) { answered = ec; });
        rig.ctx.poll();
        for (int tries = 0; tries < 8 && !answered; ++tries) step();
        REQUIRE(answered);
        if (*answered == ae::errc::busy) ++busy;
        REQUIRE((!*answered || *answered == ae::errc::busy));
        // Installed at the engine's next processing_complete: the pass after runs in it.
        step();
        if (ep.epoch() != first_epoch + static_cast<std::uint32_t>(change) - busy) ++late_changes;
    }
    for (int i = 0; i < 8; ++i) step();
    CHECK(busy == 0);
    CHECK(late_changes == 0);
    CHECK(ep.epoch() == first_epoch + 1000);
    CHECK(failed == 0);
    CHECK(rig.events.of(ae::event_kind::glitch).empty());
    // The device took 128 written frames every period, across every seam, and the stream position
    // is every frame written (it does not restart with an epoch).
    std::uint64_t uneven = 0;
    for (std::size_t i = 1; i < consumed.size(); ++i) {
        if (consumed[i] - consumed[i - 1] != 128) ++uneven;
    }
    CHECK(uneven == 0);
    CHECK(unaccounted == 0);
    MESSAGE("steps ", consumed.size(), ", frames written ", written, ", taken by the device ", consumed.back());
}

// bench_control's first section (its engine is the thread that calls set_format, and waits for
// ae-ctl) underran now and then. Here the engine misses three periods' passes, longer than its
// two-period buffer, once with a change in flight and once without: the glitch records are the
// same, record for record. The underrun is the engine's lateness, not the seam's.
TEST_CASE("format change: an engine that misses its passes underruns the same with or without a same-rate change in flight") {
    auto glitches = [](bool change_in_flight) {
        ae::test::stepped_rig rig(rig_options());
        ae::render_endpoint& ep = rig.start_render(endpoint("late_engine"));
        std::uint64_t written = 0, unaccounted = 0, failed = 0;
        ae::position at;
        auto step = [&](bool engine_passes) {
            rig.time.advance(period_2667us);
            rig.ctx.step_devices();
            rig.ctx.poll();
            if (engine_passes) failed += pass(ep.rt(), written, at, unaccounted);
            rig.ctx.poll();
        };
        for (int i = 0; i < 8; ++i) step(true);
        std::optional<std::error_code> answered;
        if (change_in_flight) {
            ep.async_set_format({48000, 2, ae::sample_type::s16}, [&](std::error_code ec) { answered = ec; });
            rig.ctx.poll();
            REQUIRE(answered == std::error_code{});
        }
        for (int i = 0; i < 3; ++i) step(false);
        for (int i = 0; i < 8; ++i) step(true);
        CHECK(failed == 0);
        CHECK(unaccounted == 0);
        CHECK(ep.epoch() == (change_in_flight ? 2u : 1u));
        std::string records; // kind, frames and stream position of every glitch record, in order
        for (const auto& g : rig.events.of(ae::event_kind::glitch)) {
            records += std::string(ae::to_string(g.glitch)) + ":" + std::to_string(g.frames) + "@" + std::to_string(g.stream_position) + " ";
        }
        return records;
    };
    const std::string without_change = glitches(false);
    const std::string with_change = glitches(true);
    // Two periods after the last pass the queue is empty; that period and the next (the pass that
    // ends the gap comes after the device's period in its step) each underrun a whole period, at
    // the stream position the engine had reached (9 passes: 256 + 8 × 128 frames written); the
    // pass that ends the gap is late.
    CHECK(without_change == "underrun:128@1152 underrun:128@1152 late_pass:0@1408 ");
    CHECK(with_change == without_change);
}
