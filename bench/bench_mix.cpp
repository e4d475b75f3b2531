// How many endpoints one device thread mixes with zero glitches.
//
// A null device at 48 kHz with 128-frame periods (2.67 ms); N render endpoints (48 kHz stereo
// f32, 128-frame packets, 512-frame buffers) attached to its one device thread; one engine thread
// tops every endpoint up on each period event. For each N: run `--seconds`, count underruns and
// late passes and device periods missed (the device thread fell behind real time: an xrun on a
// sound card), and measure the device thread's CPU time. The knee is the last N with none. SCHED_FIFO for both threads (root).
//
//   bench_mix [--seconds S] [N...]       (default sweep 250 500 1000 1500 2000 3000 4000)
#include <openae/openae.hpp>
#include <openae/pipeline/device_thread.h>
#include <openae/pipeline/devices.h>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

struct thread_clock {
    std::atomic<clockid_t> id{0};
    std::atomic<bool> known{false};
};

double cpu_seconds(clockid_t id) {
    timespec t{};
    clock_gettime(id, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct result {
    std::size_t endpoints = 0;
    std::uint64_t underruns = 0;
    std::uint64_t late = 0;
    std::uint64_t periods = 0;
    std::uint64_t behind = 0; // device periods missed
    double device_cpu = 0; // seconds of device-thread CPU per second of audio
    double engine_cpu = 0;
};

result run(std::size_t endpoints, double seconds) {
    auto dev = ae::pipeline::make_device("null?period=" + std::to_string(128.0 / 48.0), ae::endpoint_direction::render);
    if (!dev) {
        std::fprintf(stderr, "%s\n", dev.error().message.c_str());
        std::exit(1);
    }
    thread_clock device_clock;
    ae::pipeline::device_thread_options options;
    options.max_endpoints = static_cast<std::uint32_t>(endpoints);
    options.hooks.context = &device_clock;
    options.hooks.started = [](void* c) {
        auto* clock = static_cast<thread_clock*>(c);
        clockid_t id{};
        pthread_getcpuclockid(pthread_self(), &id);
        clock->id.store(id);
        clock->known.store(true);
    };
    auto thread = ae::pipeline::device_thread::create(std::move(*dev), options);
    const int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    std::vector<std::unique_ptr<ae::render_endpoint_core>> cores;
    for (std::size_t i = 0; i < endpoints; ++i) {
        auto core = std::make_unique<ae::render_endpoint_core>(static_cast<std::uint32_t>(i + 1));
        (void)core->set_buffer({48000, 2, ae::sample_type::f32}, 128, 512);
        (void)core->set_event_handle(wake);
        if (auto ok = (*thread)->control().attach(*core); !ok) {
            std::fprintf(stderr, "%s\n", ok.error().message.c_str());
            std::exit(1);
        }
        (void)core->start();
        cores.push_back(std::move(core));
    }
    std::atomic<bool> done{false};
    std::atomic<double> engine_cpu{0};
    std::thread engine([&] {
        ae::set_current_thread_name("ae-rt-engine");
        (void)ae::try_set_realtime_priority(60);
        while (!done.load(std::memory_order_relaxed)) {
            for (auto& core : cores) {
                auto& rt = core->rt();
                std::uint64_t free = rt.buffer_frames() - rt.current_padding();
                while (free >= 128) {
                    auto span = rt.output_data_pointer(128);
                    if (!span) break;
                    float* samples = reinterpret_cast<float*>(*span);
                    for (int i = 0; i < 256; ++i) samples[i] = 0.001f; // a trivial signal, really written
                    rt.release_output_data_pointer({*span, 128, ae::buffer_flags::valid});
                    free -= 128;
                }
                rt.processing_complete();
            }
            pollfd p{wake, POLLIN, 0};
            if (::poll(&p, 1, 100) > 0) {
                std::uint64_t n = 0;
                [[maybe_unused]] auto got = ::read(wake, &n, sizeof n);
            }
        }
        engine_cpu.store(cpu_seconds(CLOCK_THREAD_CPUTIME_ID));
    });
    // Prime every buffer before the device starts, so the start is not counted as underruns.
    (void)(*thread)->start();
    while (!device_clock.known.load()) std::this_thread::yield();
    const double cpu_before = cpu_seconds(device_clock.id.load());
    const std::uint64_t frames_before = (*thread)->frames_processed();
    const double wall_before = cpu_seconds(CLOCK_MONOTONIC);
    const timespec pause{static_cast<time_t>(seconds), static_cast<long>((seconds - static_cast<time_t>(seconds)) * 1e9)};
    nanosleep(&pause, nullptr); // the benchmark's duration (this is not a test)
    const double cpu_after = cpu_seconds(device_clock.id.load());
    const std::uint64_t frames_after = (*thread)->frames_processed();
    const double wall = cpu_seconds(CLOCK_MONOTONIC) - wall_before;
    result r;
    // Periods the device should have played in the window but had not: it fell behind real time
    // (on a sound card, an xrun).
    const double behind = wall * 48000.0 / 128.0 - static_cast<double>(frames_after - frames_before) / 128.0;
    r.behind = behind > 1.5 ? static_cast<std::uint64_t>(behind) : 0;
    r.endpoints = endpoints;
    r.periods = (*thread)->periods();
    (*thread)->stop();
    done.store(true);
    engine.join();
    for (auto& core : cores) {
        core->drain_glitches([&](const ae::glitch_record& g) {
            if (g.kind == ae::glitch_kind::underrun) ++r.underruns;
            if (g.kind == ae::glitch_kind::late_pass) ++r.late;
        });
    }
    const double audio_seconds = static_cast<double>(frames_after - frames_before) / 48000.0;
    r.device_cpu = (cpu_after - cpu_before) / audio_seconds;
    r.engine_cpu = engine_cpu.load() / audio_seconds;
    ::close(wake);
    return r;
}

} // namespace

int main(int argc, char** argv) {
    double seconds = 5;
    std::vector<std::size_t> sweep;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else {
            sweep.push_back(static_cast<std::size_t>(std::atol(argv[i])));
        }
    }
    if (sweep.empty()) sweep = {250, 500, 1000, 1500, 2000, 3000, 4000};
    std::printf("endpoints  periods  periods_behind  underruns  late_passes  device_cpu  device_us_per_endpoint_period  engine_cpu\n");
    for (std::size_t n : sweep) {
        const result r = run(n, seconds);
        const double periods_per_second = 48000.0 / 128.0;
        std::printf("%9zu  %7llu  %14llu  %9llu  %11llu  %9.1f%%  %29.3f  %9.1f%%\n", r.endpoints,
                    static_cast<unsigned long long>(r.periods), static_cast<unsigned long long>(r.behind),
                    static_cast<unsigned long long>(r.underruns),
                    static_cast<unsigned long long>(r.late), 100 * r.device_cpu,
                    1e6 * r.device_cpu / periods_per_second / static_cast<double>(n), 100 * r.engine_cpu);
        std::fflush(stdout);
    }
}
