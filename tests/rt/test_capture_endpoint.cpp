#include <openae/openae.hpp>

#include "rt_guard.h"

#include <doctest/doctest.h>

#include <string>

#include <cstring>
#include <vector>

namespace {
const ae::frame_format stereo_f32{48000, 2, ae::sample_type::f32};

struct capture_fixture {
    ae::capture_endpoint_core core{9};
    ae::capture_endpoint_rt& rt = core.rt();
    ae::capture_device_port& device = core.device();

    explicit capture_fixture(std::uint32_t frames_per_packet = 480, std::uint64_t buffer_frames = 960) {
        REQUIRE_FALSE(core.set_buffer(stereo_f32, frames_per_packet, buffer_frames));
        REQUIRE_FALSE(core.start());
    }
    // The device captures `frames` frames whose samples count up from `first`.
    std::uint32_t capture(std::uint32_t frames, float first) {
        std::vector<float> samples(frames * 2);
        for (std::uint32_t i = 0; i < frames; ++i) samples[2 * i] = samples[2 * i + 1] = first + static_cast<float>(i);
        return device.write(reinterpret_cast<const std::byte*>(samples.data()), frames);
    }
    std::vector<ae::glitch_record> glitches() {
        std::vector<ae::glitch_record> out;
        core.drain_glitches([&](const ae::glitch_record& r) { out.push_back(r); });
        return out;
    }
};
const float* floats(const ae::connection_property& p) { return reinterpret_cast<const float*>(p.buffer); }
} // namespace

TEST_CASE("ae::capture_endpoint_rt") {
    SUBCASE("before set_buffer and before start") {
        ae::capture_endpoint_core core{1};
        ae::connection_property p{nullptr, 10, ae::buffer_flags::invalid};
        CHECK(core.rt().input_data_pointer(p) == ae::errc::not_initialized);
        CHECK(core.rt().current_padding() == 0);
        REQUIRE_FALSE(core.set_buffer(stereo_f32, 480, 960));
        CHECK(core.rt().input_data_pointer(p) == ae::errc::not_running);
    }
    SUBCASE("a full packet comes straight from the ring") {
        capture_fixture f;
        CHECK(f.capture(480, 0) == 480);
        CHECK(f.rt.current_padding() == 480);
        ae::connection_property p{nullptr, 480, ae::buffer_flags::invalid};
        ae::position pos;
        REQUIRE(f.rt.input_data_pointer(p, &pos) == ae::errc{});
        CHECK(p.valid_frames == 480);
        CHECK(p.flags == ae::buffer_flags::valid);
        CHECK(floats(p)[0] == 0.0f);
        CHECK(floats(p)[2 * 479] == 479.0f);
        CHECK(pos.padding_frames == 480);
        f.rt.release_input_data_pointer(480, p.buffer);
        f.rt.processing_complete();
        CHECK(f.rt.current_padding() == 0);
        (void)f.rt.current_padding(&pos);
        CHECK(pos.stream_position == 480);
    }
    SUBCASE("a short read is padded with silence and the missing frames are counted") {
        capture_fixture f;
        f.capture(100, 1);
        ae::connection_property p{nullptr, 480, ae::buffer_flags::invalid};
        REQUIRE(f.rt.input_data_pointer(p) == ae::errc{});
        CHECK(p.valid_frames == 480);
        CHECK(p.flags == ae::buffer_flags::valid);
        CHECK(floats(p)[2 * 99] == 100.0f);
        std::size_t loud = 0;
        for (int i = 200; i < 960; ++i) loud += floats(p)[i] != 0.0f;
        CHECK(loud == 0);
        f.rt.release_input_data_pointer(480, p.buffer); // only the 100 captured frames leave the ring
        f.capture(10, 500);
        CHECK(f.rt.current_padding() == 10);
        const auto records = f.glitches();
        REQUIRE(records.size() == 1);
        CHECK(records[0].kind == ae::glitch_kind::underrun);
        CHECK(records[0].frames == 380);
    }
    SUBCASE("nothing captured: silent; zero frames: valid and empty") {
        capture_fixture f;
        ae::connection_property p{nullptr, 64, ae::buffer_flags::invalid};
        REQUIRE(f.rt.input_data_pointer(p) == ae::errc{});
        CHECK(p.flags == ae::buffer_flags::silent);
        CHECK(floats(p)[0] == 0.0f);
        f.rt.release_input_data_pointer(0, p.buffer);
        ae::connection_property none{nullptr, 0, ae::buffer_flags::invalid};
        REQUIRE(f.rt.input_data_pointer(none) == ae::errc{});
        CHECK(none.buffer != nullptr);
        CHECK(none.valid_frames == 0);
        CHECK(none.flags == ae::buffer_flags::valid);
        f.rt.release_input_data_pointer(0, none.buffer);
        CHECK(f.rt.misuse_count() == 0);
    }
    SUBCASE("wrong requests answer errors and consume nothing") {
        capture_fixture f;
        f.capture(480, 0);
        ae::connection_property p{nullptr, 481, ae::buffer_flags::invalid};
        CHECK(f.rt.input_data_pointer(p) == ae::errc::too_many_frames);
        std::byte dummy{};
        ae::connection_property not_null{&dummy, 10, ae::buffer_flags::invalid};
        CHECK(f.rt.input_data_pointer(not_null) == ae::errc::bad_argument);
        p.valid_frames = 200;
        REQUIRE(f.rt.input_data_pointer(p) == ae::errc{});
        ae::connection_property second{nullptr, 10, ae::buffer_flags::invalid};
        CHECK(f.rt.input_data_pointer(second) == ae::errc::busy);
        CHECK(f.rt.try_release_input_data_pointer(201, p.buffer) == ae::errc::bad_argument);
        CHECK(f.rt.current_padding() == 480);
        CHECK(f.rt.try_release_input_data_pointer(10, p.buffer) == ae::errc::bad_argument); // already released
        p = {nullptr, 200, ae::buffer_flags::invalid};
        REQUIRE(f.rt.input_data_pointer(p) == ae::errc{});
        CHECK(f.rt.try_release_input_data_pointer(10, &dummy) == ae::errc::bad_argument); // not our buffer
        CHECK(f.rt.current_padding() == 480);
    }
    SUBCASE("a device overrun drops frames, counts them and flags a discontinuity") {
        capture_fixture f;
        f.device.observe(0, ae::hns{10'000'000});
        ae::position pos;
        (void)f.rt.current_padding(&pos);
        CHECK_FALSE(ae::has(pos.flags, ae::position_flags::discontinuous));
        CHECK(f.capture(900, 0) == 900);
        CHECK(f.capture(100, 900) == 60);
        f.device.observe(1000, ae::hns{10'200'000});
        (void)f.rt.current_padding(&pos);
        CHECK(ae::has(pos.flags, ae::position_flags::discontinuous));
        const auto records = f.glitches();
        REQUIRE(records.size() == 1);
        CHECK(records[0].kind == ae::glitch_kind::overrun);
        CHECK(records[0].frames == 40);
        CHECK(records[0].stream_position == 960);
    }
    SUBCASE("a reconfiguration: old frames first, then the new epoch at processing_complete") {
        capture_fixture f;
        f.capture(300, 0);
        const ae::frame_format mono_s16{16000, 1, ae::sample_type::s16};
        REQUIRE_FALSE(f.core.reconfigure(mono_s16, 160, 320));
        CHECK(f.device.begin_period());
        CHECK(f.device.segment()->format == mono_s16);
        const std::int16_t samples[160] = {7};
        CHECK(f.device.write(reinterpret_cast<const std::byte*>(samples), 160) == 160);
        // The engine still sees only the old epoch's frames.
        ae::position pos;
        CHECK(f.rt.current_padding(&pos) == 300);
        CHECK(pos.epoch == 1);
        ae::connection_property p{nullptr, 300, ae::buffer_flags::invalid};
        REQUIRE(f.rt.input_data_pointer(p) == ae::errc{});
        CHECK(floats(p)[2 * 299] == 299.0f);
        f.rt.release_input_data_pointer(300, p.buffer);
        CHECK(f.rt.epoch() == 1);
        f.rt.processing_complete();
        CHECK(f.rt.epoch() == 2);
        CHECK(f.rt.format() == mono_s16);
        CHECK(f.rt.current_padding(&pos) == 160);
        CHECK(pos.stream_position == 300);
        p = {nullptr, 160, ae::buffer_flags::invalid};
        REQUIRE(f.rt.input_data_pointer(p) == ae::errc{});
        CHECK(reinterpret_cast<const std::int16_t*>(p.buffer)[0] == 7);
        f.rt.release_input_data_pointer(160, p.buffer);
        f.rt.processing_complete();
        CHECK(f.glitches().empty());
    }
    SUBCASE("reset discards what the engine has not read: padding 0 at the next call, counted apart, no glitch") {
        capture_fixture f;
        f.capture(400, 0);
        REQUIRE_FALSE(f.core.stop());
        REQUIRE_FALSE(f.core.reset());
        // No pass in between: the very next call sees the reset.
        ae::position pos;
        CHECK(f.rt.current_padding(&pos) == 0);
        CHECK(pos.stream_position == 400); // skipped, not replayed: positions do not go backwards
        CHECK(f.core.control_link().discarded_frames() == 400);
        CHECK(f.core.control_link().reset_applied() == f.core.control_link().reset_generation());
        CHECK(f.glitches().empty());
        f.rt.processing_complete();
        CHECK(f.rt.current_padding() == 0);
    }
    SUBCASE("every RT call is rt-safe across many passes") {
        capture_fixture f(256, 1024);
        ae::test::rt_guard guard;
        std::vector<float> packet(256 * 2, 0.5f);
        std::uint64_t frames_in = 0;
        std::uint64_t errors = 0;
        for (int block = 0; block < 10; ++block) {
            REQUIRE_FALSE(f.core.reconfigure(stereo_f32, 256, 1024));
            auto armed = guard.arm();
            for (int pass = 0; pass < 500; ++pass) {
                (void)f.device.begin_period();
                (void)f.device.write(reinterpret_cast<const std::byte*>(packet.data()), 200 + pass % 56);
                f.device.observe(static_cast<std::uint64_t>(block * 500 + pass + 1) * 256, ae::monotonic_now());
                ae::position pos;
                const auto padding = static_cast<std::uint32_t>(f.rt.current_padding(&pos));
                ae::connection_property p{nullptr, std::min<std::uint32_t>(padding, 256), ae::buffer_flags::invalid};
                errors += f.rt.input_data_pointer(p, &pos) != ae::errc{};
                errors += f.rt.try_release_input_data_pointer(p.valid_frames, p.buffer) != ae::errc{};
                frames_in += p.valid_frames;
                f.rt.processing_complete();
                f.rt.pulse();
            }
        }
        f.core.collect_retired();
        const std::string guard_first = guard.first_violation();
        CAPTURE(guard_first);
        CHECK(guard.violations() == 0);
        CHECK(errors == 0);
        CHECK(frames_in > 10 * 500 * 200);
        CHECK(f.rt.epoch() == 11);
    }
}
