// engine_loop.cpp — the shape of a real host's engine: an event-driven real-time thread that sizes
// each pass from the padding, checks the epoch at the start of every pass (a format change takes
// effect between passes, never inside one), and a control side that reacts to events. Midway the
// control side changes the endpoint's format (48 kHz f32 -> 44.1 kHz s16): the engine sees the new
// epoch and writes the new format from its next pass; nothing else is needed.
// Build: c++ -std=c++23 engine_loop.cpp $(pkg-config --cflags --libs openae)
#include <openae/openae.h>   // ae_version()
#include <openae/openae.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <thread>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace {

// What the RT thread leaves for the control side: counters only (no printing, no locks there).
struct engine_counters {
    std::atomic<std::uint64_t> passes{0}, frames{0}, epochs_seen{0}, rt_errors{0};
};

// The RT thread: waits for the device's period, tops the buffer up, ends the pass. rt-safe apart
// from the wait: only ae::render_endpoint_rt calls and arithmetic.
void engine(ae::render_endpoint_rt& rt, int wake, const std::atomic<bool>& running, engine_counters& counters) {
    ae::set_current_thread_name("ae-rt-engine");
    double phase = 0;
    std::uint32_t epoch = 0;
    while (running.load(std::memory_order_relaxed)) {
        pollfd p{wake, POLLIN, 0};
        std::uint64_t ticks = 0;
        if (poll(&p, 1, 100) <= 0 || read(wake, &ticks, sizeof ticks) < 0) continue;
        ae::position position;
        const std::uint64_t padding = rt.current_padding(&position);
        // The epoch first: a new one means a new format (or buffer) from this pass on.
        if (position.epoch != epoch) {
            epoch = position.epoch;
            counters.epochs_seen.fetch_add(1, std::memory_order_relaxed);
        }
        const ae::frame_format format = rt.format();
        std::uint64_t room = rt.buffer_frames() - padding;
        while (room > 0) {
            const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(room, rt.frames_per_packet()));
            auto span = rt.output_data_pointer(frames);
            if (!span) {
                counters.rt_errors.fetch_add(1, std::memory_order_relaxed);
                break;
            }
            for (std::uint32_t i = 0; i < frames; ++i) {
                const double v = 0.2 * std::sin(phase);
                phase = std::fmod(phase + 2 * std::numbers::pi * 440 / format.sample_rate, 2 * std::numbers::pi);
                for (std::uint32_t c = 0; c < format.channels; ++c) {
                    const std::size_t at = std::size_t{i} * format.channels + c;
                    if (format.sample == ae::sample_type::f32) reinterpret_cast<float*>(*span)[at] = static_cast<float>(v);
                    if (format.sample == ae::sample_type::s16) reinterpret_cast<std::int16_t*>(*span)[at] = static_cast<std::int16_t>(v * 32767);
                }
            }
            rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
            room -= frames;
            counters.frames.fetch_add(frames, std::memory_order_relaxed);
        }
        rt.processing_complete();
        counters.passes.fetch_add(1, std::memory_order_relaxed);
    }
}

} // namespace

int main() {
    ae::context_options options;
    options.log_level = "warn"; // the JSON log lines on stderr: warnings and errors only
    ae::context context(options); // its control thread, "ae-ctl", does everything slow
    // Events arrive on ae-ctl: a host reacts here (reopen its own resources, update its UI...).
    context.subscribe([](const ae::event& e) {
        if (e.kind == ae::event_kind::format_changed)
            std::printf("event: %s now %u Hz, %u channels (epoch %u)\n", e.endpoint.c_str(), e.format.sample_rate, e.format.channels, e.epoch);
        if (e.kind == ae::event_kind::rerouted) std::printf("event: %s moved from %s to %s\n", e.endpoint.c_str(), e.device.c_str(), e.to.c_str());
        if (e.kind == ae::event_kind::latency_changed)
            std::printf("event: %s latency %.2f ms\n", e.endpoint.c_str(), std::chrono::duration<double, std::milli>(e.latency).count());
        if (e.kind == ae::event_kind::glitch)
            std::printf("event: %s glitch %s, %llu frames\n", e.endpoint.c_str(), ae::to_string(e.glitch), static_cast<unsigned long long>(e.frames));
    });
    ae::endpoint_config config;
    config.name = "music";
    config.period = std::chrono::milliseconds(10);
    auto endpoint = context.create_render_endpoint(config);
    if (!endpoint) {
        std::fprintf(stderr, "create: %s\n", endpoint.error().message().c_str());
        return 1;
    }
    const int wake = eventfd(0, EFD_CLOEXEC);
    if (auto ec = endpoint->set_event_handle(wake); ec) return std::fprintf(stderr, "set_event_handle: %s\n", ec.message().c_str()), 1;
    if (auto ec = endpoint->start(); ec) return std::fprintf(stderr, "start: %s\n", ec.message().c_str()), 1;
    std::atomic<bool> running{true};
    engine_counters counters;
    std::thread rt_thread(engine, std::ref(endpoint->rt()), wake, std::cref(running), std::ref(counters));

    std::this_thread::sleep_for(std::chrono::seconds(1)); // the host's own business; here, waiting
    // A format change, as a host does when its mix format changes: effective at the engine's next
    // pass boundary (a new epoch), the device side converting and resampling as needed.
    const auto changed = endpoint->set_format({44'100, 2, ae::sample_type::s16});
    std::this_thread::sleep_for(std::chrono::seconds(1));
    running = false;
    rt_thread.join();
    (void)endpoint->stop();
    const auto stats = endpoint->stats();
    const std::uint64_t underruns = stats ? stats->glitch_count[static_cast<std::size_t>(ae::glitch_kind::underrun)] : 0;
    std::printf("openae %s on '%s': %llu passes, %llu frames, %llu epochs seen, format change %s, now %u Hz, %llu RT errors, %llu underruns\n",
                ae_version(), endpoint->device().c_str(), static_cast<unsigned long long>(counters.passes.load()),
                static_cast<unsigned long long>(counters.frames.load()), static_cast<unsigned long long>(counters.epochs_seen.load()),
                changed ? changed.message().c_str() : "ok", endpoint->frame_format().sample_rate,
                static_cast<unsigned long long>(counters.rt_errors.load()), static_cast<unsigned long long>(underruns));
    (void)context.destroy("music");
    close(wake);
    return !changed && counters.epochs_seen.load() >= 2 && counters.rt_errors.load() == 0 ? 0 : 1;
}
