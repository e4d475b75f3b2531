#include <openae/openae.hpp>

#include "rt_guard.h"

#include <doctest/doctest.h>

#include <string>

#include <cstring>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vector>

namespace {
const ae::frame_format stereo_f32{48000, 2, ae::sample_type::f32};

struct render_fixture {
    ae::render_endpoint_core core{7};
    ae::render_endpoint_rt& rt = core.rt();
    ae::render_device_port& device = core.device();

    explicit render_fixture(std::uint32_t frames_per_packet = 480, std::uint64_t buffer_frames = 960,
                            std::uint64_t start_position = 0) {
        REQUIRE_FALSE(core.set_buffer(stereo_f32, frames_per_packet, buffer_frames, start_position));
        REQUIRE_FALSE(core.start());
    }

    // One engine pass writing `frames` frames of value `value` (as floats).
    void pass(std::uint32_t frames, float value) {
        auto span = rt.output_data_pointer(frames);
        REQUIRE(span);
        auto* samples = reinterpret_cast<float*>(*span);
        for (std::uint32_t i = 0; i < frames * 2; ++i) samples[i] = value;
        rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
        rt.processing_complete();
    }
    // Drains up to `frames` frames on the device side into floats.
    std::vector<float> drain(std::uint32_t frames) {
        std::vector<float> out;
        while (frames > 0) {
            auto run = device.acquire(frames);
            if (run.frames == 0) break;
            const auto* samples = reinterpret_cast<const float*>(run.data);
            out.insert(out.end(), samples, samples + run.frames * 2);
            device.release(run.frames);
            frames -= run.frames;
        }
        return out;
    }
    std::vector<ae::glitch_record> glitches() {
        std::vector<ae::glitch_record> out;
        core.drain_glitches([&](const ae::glitch_record& r) { out.push_back(r); });
        return out;
    }
};
} // namespace

TEST_CASE("ae::render_endpoint_rt") {
    SUBCASE("before set_buffer every RT call answers not_initialized") {
        ae::render_endpoint_core core{1};
        ae::position pos;
        pos.device_position = 99;
        CHECK(core.rt().current_padding(&pos) == 0);
        CHECK(pos.flags == ae::position_flags::invalid);
        CHECK(pos.device_position == 0);
        CHECK(core.rt().output_data_pointer(10).error() == ae::errc::not_initialized);
        CHECK(core.rt().set_pin_inactive() == ae::errc::not_initialized);
        CHECK(core.rt().set_pin_active() == ae::errc::not_initialized);
        core.rt().processing_complete();
        core.rt().pulse();
        CHECK(core.rt().format() == ae::frame_format{});
        CHECK(core.rt().frames_per_packet() == 0);
        CHECK(core.start() == ae::errc::not_initialized);
        CHECK(core.set_event_handle(0) == ae::errc::not_initialized);
    }
    SUBCASE("control lifecycle errors") {
        ae::render_endpoint_core core{1};
        CHECK(core.set_buffer(ae::frame_format{0, 2, ae::sample_type::f32}, 480, 960) == ae::errc::unsupported_format);
        CHECK(core.set_buffer(stereo_f32, 480, 100) == ae::errc::bad_argument);
        REQUIRE_FALSE(core.set_buffer(stereo_f32, 480, 960));
        CHECK(core.set_buffer(stereo_f32, 480, 960) == ae::errc::already_initialized);
        CHECK(core.stop() == ae::errc::not_running);
        // Stopped but initialised: the engine may pre-fill.
        auto prefill = core.rt().output_data_pointer(10);
        REQUIRE(prefill);
        core.rt().release_output_data_pointer({*prefill, 10, ae::buffer_flags::silent});
        CHECK(core.rt().current_padding() == 10);
        REQUIRE_FALSE(core.start());
        CHECK(core.start() == ae::errc::already_running);
        CHECK(core.reset() == ae::errc::already_running);
        REQUIRE_FALSE(core.stop());
        CHECK(core.rt().output_data_pointer(10).has_value());
        CHECK(core.set_event_handle(12345) == ae::errc::bad_argument);
    }
    SUBCASE("padding is frames written minus frames the device consumed") {
        render_fixture f;
        CHECK(f.rt.current_padding() == 0);
        f.pass(480, 0.5f);
        CHECK(f.rt.current_padding() == 480);
        CHECK(f.drain(200).size() == 400);
        CHECK(f.rt.current_padding() == 280);
        ae::position pos;
        CHECK(f.rt.current_padding(&pos) == 280);
        CHECK(pos.padding_frames == 280);
        CHECK(pos.stream_position == 480);
        CHECK(pos.epoch == 1);
        CHECK(f.rt.format() == stereo_f32);
        CHECK(f.rt.frames_per_packet() == 480);
        CHECK(f.rt.buffer_frames() == 960);
    }
    SUBCASE("wrong requests answer errors and leave the stream intact") {
        render_fixture f;
        CHECK(f.rt.output_data_pointer(481).error() == ae::errc::too_many_frames);
        auto span = f.rt.output_data_pointer(100);
        REQUIRE(span);
        CHECK(f.rt.output_data_pointer(100).error() == ae::errc::busy); // one pair at a time
        f.rt.release_output_data_pointer({*span, 0, ae::buffer_flags::valid});
        CHECK(f.rt.try_release_output_data_pointer({nullptr, 0, ae::buffer_flags::valid}) == ae::errc::bad_argument);
        CHECK(f.rt.misuse_count() == 2);
    }
    SUBCASE("release of fewer frames than acquired commits only those") {
        render_fixture f;
        auto span = f.rt.output_data_pointer(480);
        REQUIRE(span);
        auto* samples = reinterpret_cast<float*>(*span);
        for (int i = 0; i < 480 * 2; ++i) samples[i] = 0.25f;
        f.rt.release_output_data_pointer({*span, 100, ae::buffer_flags::valid});
        f.rt.processing_complete();
        CHECK(f.rt.current_padding() == 100);
        const auto out = f.drain(480);
        CHECK(out.size() == 200);
        CHECK(out.front() == 0.25f);
    }
    SUBCASE("release of more frames than acquired is an error and corrupts nothing") {
        render_fixture f;
        f.pass(300, 0.5f);
        auto span = f.rt.output_data_pointer(100);
        REQUIRE(span);
        std::memset(*span, 0xff, 100 * 8);
        CHECK(f.rt.try_release_output_data_pointer({*span, 101, ae::buffer_flags::valid}) == ae::errc::bad_argument);
        f.rt.processing_complete();
        CHECK(f.rt.current_padding() == 300);
        const auto out = f.drain(1000);
        REQUIRE(out.size() == 600);
        std::size_t wrong = 0;
        for (float v : out) wrong += v != 0.5f;
        CHECK(wrong == 0);
        f.pass(50, 0.75f); // the endpoint still works
        CHECK(f.drain(1000).size() == 100);
    }
    SUBCASE("the silent flag writes silence, invalid or zero frames write nothing") {
        render_fixture f;
        auto span = f.rt.output_data_pointer(200);
        REQUIRE(span);
        auto* samples = reinterpret_cast<float*>(*span);
        for (int i = 0; i < 400; ++i) samples[i] = 1.0f;
        f.rt.release_output_data_pointer({*span, 200, ae::buffer_flags::silent});
        f.rt.processing_complete();
        auto out = f.drain(1000);
        REQUIRE(out.size() == 400);
        std::size_t loud = 0;
        for (float v : out) loud += v != 0.0f;
        CHECK(loud == 0);
        span = f.rt.output_data_pointer(200);
        REQUIRE(span);
        f.rt.release_output_data_pointer({*span, 200, ae::buffer_flags::invalid});
        span = f.rt.output_data_pointer(0);
        REQUIRE(span);
        f.rt.release_output_data_pointer({*span, 0, ae::buffer_flags::valid});
        CHECK(f.rt.current_padding() == 0);
    }
    SUBCASE("a full buffer answers busy and queues an overrun record") {
        render_fixture f;
        f.pass(480, 0.1f);
        f.pass(480, 0.1f);
        CHECK(f.rt.output_data_pointer(1).error() == ae::errc::busy);
        const auto records = f.glitches();
        REQUIRE(records.size() == 1);
        CHECK(records[0].kind == ae::glitch_kind::overrun);
        CHECK(records[0].endpoint_id == 7);
        CHECK(records[0].epoch == 1);
        CHECK(records[0].stream_position == 960);
        CHECK(records[0].frames == 1);
    }
    SUBCASE("contiguous pointers at the ring edge, through many wraps") {
        render_fixture f(480, 1000); // 1000 stereo f32 frames = 8000 bytes in an 8192-byte ring
        float value = 0;
        std::size_t mismatches = 0;
        for (int round = 0; round < 500; ++round) {
            const std::uint32_t frames = 137 + round % 300;
            auto span = f.rt.output_data_pointer(frames);
            REQUIRE(span);
            auto* samples = reinterpret_cast<float*>(*span);
            for (std::uint32_t i = 0; i < frames; ++i) samples[2 * i] = samples[2 * i + 1] = value + static_cast<float>(i);
            f.rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
            f.rt.processing_complete();
            const auto out = f.drain(frames);
            REQUIRE(out.size() == frames * 2);
            for (std::uint32_t i = 0; i < frames; ++i) mismatches += out[2 * i] != value + static_cast<float>(i);
            value += 1000;
        }
        CHECK(mismatches == 0);
    }
    SUBCASE("padding across 2^32 frames of stream position") {
        const std::uint64_t start = (std::uint64_t{1} << 32) - 1000;
        render_fixture f(480, 960, start);
        for (int round = 0; round < 10; ++round) {
            f.pass(480, 0.5f);
            CHECK(f.rt.current_padding() == 480);
            CHECK(f.drain(480).size() == 960);
            ae::position pos;
            CHECK(f.rt.current_padding(&pos) == 0);
            CHECK(pos.stream_position == start + 480u * (round + 1));
        }
        CHECK(f.device.stream_position() > (std::uint64_t{1} << 32));
    }
    SUBCASE("a reconfiguration takes effect at processing_complete, never mid-pass") {
        render_fixture f;
        f.pass(480, 0.5f);
        const ae::frame_format mono_s16{44100, 1, ae::sample_type::s16};
        REQUIRE_FALSE(f.core.reconfigure(mono_s16, 441, 882));
        // Mid-pass: everything still speaks epoch 1.
        ae::position pos;
        (void)f.rt.current_padding(&pos);
        CHECK(pos.epoch == 1);
        auto span = f.rt.output_data_pointer(480);
        REQUIRE(span);
        CHECK(f.rt.format() == stereo_f32);
        CHECK(f.rt.epoch() == 1);
        CHECK(f.rt.output_data_pointer(1).error() == ae::errc::busy);
        f.rt.release_output_data_pointer({*span, 100, ae::buffer_flags::silent});
        CHECK(f.rt.epoch() == 1);
        f.rt.processing_complete();
        // The next pass sees epoch 2 and the new format.
        (void)f.rt.current_padding(&pos);
        CHECK(pos.epoch == 2);
        CHECK(f.rt.epoch() == 2);
        CHECK(f.rt.format() == mono_s16);
        CHECK(f.rt.frames_per_packet() == 441);
        CHECK(f.rt.output_data_pointer(442).error() == ae::errc::too_many_frames);
        span = f.rt.output_data_pointer(441);
        REQUIRE(span);
        auto* samples = reinterpret_cast<std::int16_t*>(*span);
        for (int i = 0; i < 441; ++i) samples[i] = static_cast<std::int16_t>(i);
        f.rt.release_output_data_pointer({*span, 441, ae::buffer_flags::valid});
        f.rt.processing_complete();
        CHECK(pos.stream_position == 580); // the stream position runs on across the seam
        // Padding across a rate seam: the old rate's 580 frames count as the time they take to
        // play, in the new rate's frames (580 x 44.1/48, rounded up: 533), then the new 441.
        CHECK(f.rt.current_padding() == 533 + 441);
        // The device side reads the old epoch up to the seam, then the new one.
        auto run = f.device.acquire(2000);
        CHECK(run.frames == 580);
        CHECK(run.segment->epoch == 1);
        f.device.release(run.frames);
        run = f.device.acquire(2000);
        CHECK(run.frames == 441);
        REQUIRE(run.segment);
        CHECK(run.segment->epoch == 2);
        CHECK(run.segment->format == mono_s16);
        CHECK(reinterpret_cast<const std::int16_t*>(run.data)[440] == 440);
        f.device.release(run.frames);
        CHECK(f.rt.current_padding() == 0);
        CHECK(f.glitches().empty());
    }
    SUBCASE("the first record after a gap is discontinuous; the start of the stream is not") {
        render_fixture f;
        ae::position pos;
        (void)f.rt.current_padding(&pos);
        CHECK(pos.flags == ae::position_flags::invalid); // no device timing yet
        f.device.observe(0, ae::hns{1'000'000});
        (void)f.rt.current_padding(&pos);
        CHECK(ae::has(pos.flags, ae::position_flags::continuous));
        CHECK_FALSE(ae::has(pos.flags, ae::position_flags::discontinuous));
        CHECK(ae::has(pos.flags, ae::position_flags::time_error)); // not settled yet
        f.device.mark_gap();
        f.device.observe(480, ae::hns{1'100'000});
        (void)f.rt.current_padding(); // without a record the flag waits
        (void)f.rt.current_padding(&pos);
        CHECK(ae::has(pos.flags, ae::position_flags::discontinuous));
        CHECK_FALSE(ae::has(pos.flags, ae::position_flags::continuous));
        CHECK(pos.device_position == 480);
        (void)f.rt.current_padding(&pos);
        CHECK_FALSE(ae::has(pos.flags, ae::position_flags::discontinuous));
        f.rt.processing_complete();
        const auto records = f.glitches();
        REQUIRE(records.size() == 1);
        CHECK(records[0].kind == ae::glitch_kind::late_pass);
    }
    SUBCASE("a reconfiguration that re-bases the device position flags the next record") {
        render_fixture f;
        f.device.observe(0, ae::hns{1'000'000});
        REQUIRE_FALSE(f.core.reconfigure(stereo_f32, 256, 512, true));
        f.rt.processing_complete();
        ae::position pos;
        (void)f.rt.current_padding(&pos);
        CHECK(ae::has(pos.flags, ae::position_flags::discontinuous));
        CHECK(pos.epoch == 2);
    }
    SUBCASE("pulse signals the registered eventfd, which is made non-blocking") {
        render_fixture f;
        const int fd = ::eventfd(0, EFD_CLOEXEC);
        REQUIRE(fd >= 0);
        REQUIRE_FALSE(f.core.set_event_handle(fd));
        CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        f.rt.pulse();
        f.rt.pulse();
        std::uint64_t count = 0;
        REQUIRE(::read(fd, &count, sizeof count) == sizeof count);
        CHECK(count == 2);
        REQUIRE_FALSE(f.core.set_event_handle(-1));
        f.rt.pulse();
        CHECK(::read(fd, &count, sizeof count) == -1); // nothing signalled
        ::close(fd);
    }
    SUBCASE("the pin state reaches the device side") {
        render_fixture f;
        CHECK(f.device.pin_active());
        CHECK(f.rt.set_pin_inactive() == ae::errc{});
        CHECK_FALSE(f.device.pin_active());
        CHECK(f.rt.set_pin_active() == ae::errc{});
        CHECK(f.device.pin_active());
    }
    SUBCASE("reset discards unprocessed data, counted apart from glitches, acknowledged to the control side") {
        render_fixture f;
        f.pass(480, 0.5f);
        REQUIRE_FALSE(f.core.stop());
        REQUIRE_FALSE(f.core.reset());
        CHECK(f.core.control_link().reset_applied() != f.core.control_link().reset_generation());
        CHECK(f.device.begin_period() == 480);
        CHECK(f.core.control_link().reset_applied() == f.core.control_link().reset_generation());
        CHECK(f.core.control_link().discarded_frames() == 480);
        CHECK(f.rt.current_padding() == 0);
        CHECK(f.glitches().empty());
        CHECK(f.device.begin_period() == 0); // once per reset
        REQUIRE_FALSE(f.core.start());
        ae::position pos;
        (void)f.rt.current_padding(&pos);
        CHECK(pos.stream_position == 480); // positions do not go backwards
    }
    SUBCASE("every RT call is rt-safe across many passes") {
        render_fixture f(256, 1024);
        const int fd = ::eventfd(0, EFD_CLOEXEC);
        REQUIRE_FALSE(f.core.set_event_handle(fd));
        ae::test::rt_guard guard;
        std::uint64_t frames_out = 0;
        std::uint64_t errors = 0;
        for (int block = 0; block < 20; ++block) {
            REQUIRE_FALSE(f.core.reconfigure(block % 2 ? stereo_f32 : ae::frame_format{44100, 1, ae::sample_type::s16},
                                             256, 1024)); // allocation happens here, unarmed
            {
                auto armed = guard.arm();
                for (int pass = 0; pass < 500; ++pass) {
                    ae::position pos;
                    const std::uint64_t padding = f.rt.current_padding(&pos);
                    const auto frames = static_cast<std::uint32_t>(
                        std::min<std::uint64_t>(f.rt.frames_per_packet(), f.rt.buffer_frames() - padding));
                    if (auto span = f.rt.output_data_pointer(frames)) {
                        std::memset(*span, 0, std::size_t{frames} * f.rt.format().bytes_per_frame());
                        f.rt.release_output_data_pointer({*span, frames, pass % 7 ? ae::buffer_flags::valid : ae::buffer_flags::silent});
                    } else {
                        ++errors;
                    }
                    errors += f.rt.set_pin_inactive() != ae::errc{};
                    errors += f.rt.set_pin_active() != ae::errc{};
                    f.rt.processing_complete();
                    f.rt.pulse();
                    (void)f.device.begin_period();
                    for (;;) {
                        const auto run = f.device.acquire(128);
                        if (run.frames == 0) break;
                        f.device.release(run.frames);
                        frames_out += run.frames;
                    }
                    f.device.observe(frames_out, ae::monotonic_now());
                }
            }
            f.core.collect_retired();
        }
        const std::string guard_first = guard.first_violation();
        CAPTURE(guard_first);
        CHECK(guard.violations() == 0);
        CHECK(errors == 0);
        CHECK(frames_out > 20 * 500 * 200);
        CHECK(f.rt.epoch() == 21);
        CHECK(f.core.segments_in_flight() <= 1);
        ::close(fd);
    }
}
