// loop_engine — a host's engine as the shortest loop openae allows: a capture endpoint on one device
// copied, pass by pass, into a render endpoint on another, by one event-driven RT thread. What a
// marker sent round that loop takes (jack_iodelay, bench/run_jack_latency.sh and
// bench/run_alsa_latency.sh) is the latency openae adds on that backend for an engine of its own,
// against a plain client of the backend closing the same loop.
//
//   loop_engine FROM TO SECONDS [PERIOD_FRAMES] [BUFFER_PERIODS]
//
// Both endpoints are 48 kHz mono f32 with periods of PERIOD_FRAMES (default 128) and buffers of
// BUFFER_PERIODS periods (default 2). The engine wakes on the capture endpoint's event, moves every
// frame captured into the render endpoint, and ends both passes. It prints the frames moved, the
// frames it had no room for, and both endpoints' glitch counts.
#include <openae/openae.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace {

struct loop_counters {
    std::atomic<std::uint64_t> moved{0}, no_room{0}, passes{0};
};

// The RT thread: one pass per capture period; only RT-view calls, memcpy and arithmetic besides
// the wait for the event.
void engine(ae::capture_endpoint_rt& in, ae::render_endpoint_rt& out, int wake, const std::atomic<bool>& running, loop_counters& counters) {
    ae::set_current_thread_name("ae-rt-engine");
    while (running.load(std::memory_order_relaxed)) {
        pollfd p{wake, POLLIN, 0};
        std::uint64_t ticks = 0;
        if (poll(&p, 1, 100) <= 0 || read(wake, &ticks, sizeof ticks) < 0) continue;
        // Bounded: at most the capture buffer's packets.
        for (int packet = 0; packet < 64; ++packet) {
            const std::uint64_t captured = in.current_padding();
            if (captured == 0) break;
            ae::connection_property got; // in: the frames asked for (at most a packet)
            got.valid_frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(captured, in.frames_per_packet()));
            if (in.input_data_pointer(got) != ae::errc{}) break;
            const std::size_t bytes = std::size_t{got.valid_frames} * sizeof(float);
            const std::uint64_t room = out.buffer_frames() - out.current_padding();
            if (room >= got.valid_frames) {
                if (auto span = out.output_data_pointer(got.valid_frames); span) {
                    std::memcpy(*span, got.buffer, bytes);
                    out.release_output_data_pointer({*span, got.valid_frames, ae::buffer_flags::valid});
                    counters.moved.fetch_add(got.valid_frames, std::memory_order_relaxed);
                }
            } else {
                counters.no_room.fetch_add(got.valid_frames, std::memory_order_relaxed);
            }
            in.release_input_data_pointer(got.valid_frames, got.buffer);
        }
        in.processing_complete();
        out.processing_complete();
        counters.passes.fetch_add(1, std::memory_order_relaxed);
    }
}

std::uint64_t glitches(const ae::endpoint_stats& stats, ae::glitch_kind kind) {
    return stats.glitch_frames[static_cast<std::size_t>(kind)];
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s FROM TO SECONDS [PERIOD_FRAMES] [BUFFER_PERIODS]\n", argv[0]);
        return 2;
    }
    const std::string from = argv[1], to = argv[2];
    const double seconds = std::atof(argv[3]);
    const std::uint32_t period_frames = argc > 4 ? static_cast<std::uint32_t>(std::atoi(argv[4])) : 128;
    const std::uint32_t buffer_periods = argc > 5 ? static_cast<std::uint32_t>(std::atoi(argv[5])) : 2;

    ae::context_options options;
    options.log_level = "warn";
    options.default_device = "null";
    ae::context context(options);
    ae::endpoint_config config;
    config.format = {48'000, 1, ae::sample_type::f32};
    config.period = ae::hns{static_cast<std::int64_t>(period_frames) * 10'000'000 / 48'000};
    config.latency_coefficient = buffer_periods;
    config.routing = ae::routing_policy::fail;
    config.name = "loop-in";
    config.device = from;
    auto in = context.create_capture_endpoint(config);
    config.name = "loop-out";
    config.device = to;
    auto out = context.create_render_endpoint(config);
    if (!in || !out) {
        std::fprintf(stderr, "create: %s\n", (!in ? in.error() : out.error()).message().c_str());
        return 1;
    }
    const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (in->set_event_handle(wake) || out->start() || in->start()) {
        std::fprintf(stderr, "could not start the endpoints\n");
        return 1;
    }
    std::atomic<bool> running{true};
    loop_counters counters;
    std::thread rt_thread(engine, std::ref(in->rt()), std::ref(out->rt()), wake, std::cref(running), std::ref(counters));
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); // the run's length
    running = false;
    rt_thread.join();
    (void)in->stop();
    (void)out->stop();
    const auto in_stats = in->stats();
    const auto out_stats = out->stats();
    std::printf("loop %s -> %s: %llu passes, %llu frames moved, %llu without room; capture overrun %llu, render underrun %llu frames;"
                " latency reported: capture %.3f ms, render %.3f ms\n",
                from.c_str(), to.c_str(), static_cast<unsigned long long>(counters.passes.load()),
                static_cast<unsigned long long>(counters.moved.load()), static_cast<unsigned long long>(counters.no_room.load()),
                static_cast<unsigned long long>(in_stats ? glitches(*in_stats, ae::glitch_kind::overrun) : 0),
                static_cast<unsigned long long>(out_stats ? glitches(*out_stats, ae::glitch_kind::underrun) : 0),
                std::chrono::duration<double, std::milli>(in->latency()).count(),
                std::chrono::duration<double, std::milli>(out->latency()).count());
    close(wake);
    return 0;
}
