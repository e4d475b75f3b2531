// Two threads through a render endpoint: the engine writes a counting sequence with random packet
// sizes, the device drains with random sizes and checks it. AE_STRESS_FRAMES frames (10^8, or
// 10^7 under a sanitizer). Both threads run under the RT-safety harness.
#include <openae/openae.hpp>

#include "rt_guard.h"

#include <doctest/doctest.h>

#include <string>

#include <atomic>
#include <cstring>
#include <thread>

namespace {
struct xorshift {
    std::uint64_t state;
    std::uint32_t next(std::uint32_t bound) noexcept { // 1..bound
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return static_cast<std::uint32_t>(state % bound) + 1;
    }
};
void cpu_relax() noexcept { __builtin_ia32_pause(); }
} // namespace

TEST_CASE("ae::render_endpoint_rt stress") {
    SUBCASE("two threads: every frame arrives in order or is in a glitch record") {
        constexpr std::uint64_t total = AE_STRESS_FRAMES;
        ae::render_endpoint_core core{3};
        REQUIRE_FALSE(core.set_buffer({48000, 2, ae::sample_type::f32}, 1024, 4096));
        REQUIRE_FALSE(core.start());
        ae::test::rt_guard engine_guard;
        ae::test::rt_guard device_guard;
        std::atomic<bool> engine_done{false};

        std::thread engine([&] {
            ae::set_current_thread_name("ae-rt-engine");
            auto& rt = core.rt();
            xorshift random{0x9e3779b97f4a7c15ull};
            std::uint64_t written = 0;
            auto armed = engine_guard.arm();
            while (written < total) {
                const std::uint64_t free = rt.buffer_frames() - rt.current_padding();
                std::uint32_t frames = random.next(rt.frames_per_packet());
                if (frames > free) frames = static_cast<std::uint32_t>(free);
                if (frames > total - written) frames = static_cast<std::uint32_t>(total - written);
                if (frames == 0) {
                    rt.processing_complete();
                    cpu_relax();
                    continue;
                }
                auto span = rt.output_data_pointer(frames);
                if (!span) break; // would be a bug: the free space was checked
                auto* words = reinterpret_cast<std::uint32_t*>(*span);
                for (std::uint32_t i = 0; i < frames; ++i) {
                    words[2 * i] = static_cast<std::uint32_t>(written + i);
                    words[2 * i + 1] = ~static_cast<std::uint32_t>(written + i);
                }
                rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
                rt.processing_complete();
                written += frames;
            }
            engine_done.store(true, std::memory_order_release);
        });

        std::uint64_t received = 0;
        std::uint64_t out_of_order = 0;
        std::uint64_t underrun_frames = 0;
        std::thread device([&] {
            ae::set_current_thread_name("ae-rt-dev-test");
            auto& port = core.device();
            xorshift random{0x2545f4914f6cdd1dull};
            auto armed = device_guard.arm();
            while (received < total) {
                (void)port.begin_period();
                const std::uint32_t wanted = random.next(1500);
                const auto run = port.acquire(wanted);
                if (run.frames < wanted && !engine_done.load(std::memory_order_acquire)) {
                    // What a device would play as silence: counted, never silent about it.
                    underrun_frames += wanted - run.frames;
                }
                const auto* words = reinterpret_cast<const std::uint32_t*>(run.data);
                for (std::uint32_t i = 0; i < run.frames; ++i) {
                    const auto expected = static_cast<std::uint32_t>(received + i);
                    out_of_order += (words[2 * i] != expected) | (words[2 * i + 1] != ~expected);
                }
                port.release(run.frames);
                received += run.frames;
                port.observe(received, ae::monotonic_now());
                if (run.frames == 0) cpu_relax();
            }
        });
        engine.join();
        device.join();

        std::uint64_t overrun_records = 0;
        core.drain_glitches([&](const ae::glitch_record& r) { overrun_records += r.kind == ae::glitch_kind::overrun; });
        CHECK(received == total);
        CHECK(out_of_order == 0);
        CHECK(overrun_records == 0);
        CHECK(core.glitch_overflow_count() == 0);
        const std::string engine_guard_first = engine_guard.first_violation();
        CAPTURE(engine_guard_first);
        const std::string device_guard_first = device_guard.first_violation();
        CAPTURE(device_guard_first);
        CHECK(engine_guard.violations() == 0);
        CHECK(device_guard.violations() == 0);
        MESSAGE("frames: " << received << ", device found the ring short by " << underrun_frames << " frames in total");
    }
}
