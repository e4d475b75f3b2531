// How a sound server's device holds up at a small period: N render endpoints on one openae
// device (JACK or PipeWire: the server's real-time callback runs the device loop), an engine
// thread (SCHED_FIFO) refilling every endpoint on each period event, memory locked. Runs for
// SECONDS and counts what went wrong: the server's cycles that ran without openae (xruns and
// late cycles, the device's dropped frames), the endpoints' underruns and late passes, losses.
// A second line gives how long the server's callbacks into openae took (bench/callback_timer.h).
//
//   bench_device_period SPEC SECONDS [ENDPOINTS] [event|timer]
// `timer`: the engine wakes on its own timer every quarter period instead of on the endpoints'
// event, so the device's callback does not wake it (what that wake-up costs the callback).
//   e.g. bench_device_period 'jack:openae?server=bench&connect=auto' 600 1
#include "callback_timer.h"

#include <openae/openae.hpp>
#include <openae/pipeline/device_thread.h>
#include <openae/pipeline/devices.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_device_period SPEC SECONDS [ENDPOINTS] [event|timer]\n");
        return 2;
    }
    const std::string spec = argv[1];
    const double seconds = std::atof(argv[2]);
    const std::size_t endpoints = argc > 3 ? static_cast<std::size_t>(std::atol(argv[3])) : 1;
    const bool timer_engine = argc > 4 && std::string(argv[4]) == "timer";
    const bool locked = ::mlockall(MCL_CURRENT | MCL_FUTURE) == 0;

    auto dev = ae::pipeline::make_device(spec, ae::endpoint_direction::render);
    if (!dev) {
        std::fprintf(stderr, "%s\n", dev.error().message.c_str());
        return 1;
    }
    const std::uint32_t period = (*dev)->period_frames();
    const std::uint32_t rate = (*dev)->format().sample_rate;
    ae::pipeline::device_thread_options options;
    options.max_endpoints = static_cast<std::uint32_t>(endpoints);
    options.realtime_priority = 70;
    // How long each of the server's callbacks into openae takes (JACK's process, PipeWire's
    // on_process): the device loop's step, the engine's wake-up, the buffers.
    ae::bench::callback_timer callback_time;
    options.hooks.context = &callback_time;
    options.hooks.callback_begin = [](void* t) { static_cast<ae::bench::callback_timer*>(t)->begin(); };
    options.hooks.callback_end = [](void* t) { static_cast<ae::bench::callback_timer*>(t)->end(); };
    auto thread = ae::pipeline::device_thread::create(std::move(*dev), options);
    if (!thread) {
        std::fprintf(stderr, "%s\n", thread.error().message.c_str());
        return 1;
    }
    const int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    std::vector<std::unique_ptr<ae::render_endpoint_core>> cores;
    for (std::size_t i = 0; i < endpoints; ++i) {
        auto core = std::make_unique<ae::render_endpoint_core>(static_cast<std::uint32_t>(i + 1));
        // Two periods of buffer: the usual low-latency setting.
        (void)core->set_buffer({rate, 2, ae::sample_type::f32}, period, 2 * period);
        if (!timer_engine) (void)core->set_event_handle(wake);
        if (auto ok = (*thread)->control().attach(*core); !ok) {
            std::fprintf(stderr, "%s\n", ok.error().message.c_str());
            return 1;
        }
        cores.push_back(std::move(core));
    }
    std::atomic<bool> done{false};
    std::atomic<bool> engine_rt{false};
    std::thread engine([&] {
        ae::set_current_thread_name("ae-rt-engine");
        engine_rt.store(ae::try_set_realtime_priority(60));
        std::uint64_t phase = 0;
        while (!done.load(std::memory_order_relaxed)) {
            for (auto& core : cores) {
                auto& rt = core->rt();
                const std::uint64_t free = rt.buffer_frames() - rt.current_padding();
                if (free > 0) {
                    const auto frames = static_cast<std::uint32_t>(free);
                    if (auto span = rt.output_data_pointer(frames)) {
                        float* samples = reinterpret_cast<float*>(*span);
                        for (std::uint32_t i = 0; i < frames; ++i, ++phase) {
                            samples[2 * i] = samples[2 * i + 1] = 0.1f * static_cast<float>(std::sin(6.283185307 * 440.0 * static_cast<double>(phase) / rate));
                        }
                        rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
                    }
                }
                rt.processing_complete();
            }
            pollfd p{wake, POLLIN, 0};
            const timespec quarter{0, static_cast<long>(250'000'000.0 * period / rate)};
            const timespec hundred_ms{0, 100'000'000};
            if (::ppoll(&p, 1, timer_engine ? &quarter : &hundred_ms, nullptr) > 0) {
                std::uint64_t n = 0;
                [[maybe_unused]] auto got = ::read(wake, &n, sizeof n);
            }
        }
    });
    // Pre-filled before start: the first period plays the engine's frames.
    const timespec settle{0, 50'000'000};
    nanosleep(&settle, nullptr);
    for (auto& core : cores) (void)core->start();
    if (auto ok = (*thread)->start(); !ok) {
        std::fprintf(stderr, "%s\n", ok.error().message.c_str());
        done.store(true);
        engine.join();
        return 1;
    }
    std::uint64_t dropped = 0;
    std::uint64_t period_changes = 0;
    bool lost = false;
    auto take_events = [&] {
        ae::pipeline::device_event event;
        while ((*thread)->control().try_pop_event(event)) {
            if (event.kind == ae::pipeline::device_event_kind::device_dropped) dropped += event.frames;
            if (event.kind == ae::pipeline::device_event_kind::period_changed) ++period_changes;
            lost |= event.kind == ae::pipeline::device_event_kind::lost;
        }
    };
    // The benchmark's duration (this is not a test), looking at the device's events each second.
    for (double left = seconds; left > 0; left -= 1.0) {
        const double step = std::min(left, 1.0);
        const timespec pause{static_cast<time_t>(step), static_cast<long>((step - static_cast<time_t>(step)) * 1e9)};
        nanosleep(&pause, nullptr);
        take_events();
    }
    const std::uint64_t frames = (*thread)->frames_processed();
    (*thread)->stop();
    take_events();
    done.store(true);
    engine.join();
    std::uint64_t underruns = 0, underrun_frames = 0, late = 0, other = 0;
    for (auto& core : cores) {
        core->drain_glitches([&](const ae::glitch_record& g) {
            if (g.kind == ae::glitch_kind::underrun) {
                ++underruns;
                underrun_frames += g.frames;
            } else if (g.kind == ae::glitch_kind::late_pass) {
                ++late;
            } else {
                ++other;
            }
        });
    }
    std::printf("spec %s period %u frames (%.2f ms) endpoints %zu seconds %.0f frames %llu mlock %s engine_fifo %s | device_dropped_frames %llu "
                "underruns %llu (%llu frames) late_passes %llu other_glitches %llu period_changes %llu lost %s\n",
                spec.c_str(), period, 1000.0 * period / rate, endpoints, seconds, static_cast<unsigned long long>(frames),
                locked ? "yes" : "no", engine_rt.load() ? "yes" : "no", static_cast<unsigned long long>(dropped),
                static_cast<unsigned long long>(underruns), static_cast<unsigned long long>(underrun_frames), static_cast<unsigned long long>(late),
                static_cast<unsigned long long>(other), static_cast<unsigned long long>(period_changes), lost ? "yes" : "no");
    callback_time.print("openae");
    ::close(wake);
    return 0;
}
