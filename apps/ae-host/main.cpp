// ae-host — the openae demo host. This first version runs one render endpoint: an engine thread
// ("ae-rt-engine") renders a tone through the RT contract, a virtual-clock consumer
// ("ae-rt-dev-null", paced by clock_nanosleep) drains it like a device, and the control thread
// prints positions and padding, then a summary.
#include <openae/openae.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <numbers>
#include <thread>

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

struct engine_stats {
    std::uint64_t frames_rendered = 0;
    std::uint64_t passes = 0;
    std::uint64_t padding_min = ~std::uint64_t{0};
    std::uint64_t padding_max = 0;
    std::uint64_t padding_sum = 0;
    std::uint64_t errors = 0;
};

void sleep_until(ae::hns when) noexcept {
    const timespec at = ae::to_timespec(when);
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {}
}

// The engine: every period, top the endpoint's buffer up with a sine tone.
void run_engine(ae::render_endpoint_rt& rt, double tone_hz, ae::hns period, const std::atomic<bool>& done,
                engine_stats& stats) noexcept {
    ae::set_current_thread_name("ae-rt-engine");
    (void)ae::try_set_realtime_priority(60);
    double phase = 0;
    ae::hns next = ae::monotonic_now();
    while (!done.load(std::memory_order_relaxed)) {
        const std::uint64_t padding = rt.current_padding();
        stats.padding_min = std::min(stats.padding_min, padding);
        stats.padding_max = std::max(stats.padding_max, padding);
        stats.padding_sum += padding;
        ++stats.passes;
        // Top the buffer up, a packet at a time (bounded: buffer / packet packets at most).
        std::uint64_t free = rt.buffer_frames() - padding;
        while (free > 0) {
            const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(rt.frames_per_packet(), free));
            auto span = rt.output_data_pointer(frames);
            if (!span) {
                ++stats.errors;
                break;
            }
            auto* samples = reinterpret_cast<float*>(*span);
            const double step = 2 * std::numbers::pi * tone_hz / rt.format().sample_rate;
            for (std::uint32_t i = 0; i < frames; ++i) {
                const auto value = static_cast<float>(0.25 * std::sin(phase));
                samples[2 * i] = samples[2 * i + 1] = value;
                phase = std::fmod(phase + step, 2 * std::numbers::pi);
            }
            rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
            stats.frames_rendered += frames;
            free -= frames;
        }
        rt.processing_complete();
        next += period;
        sleep_until(next);
    }
}

// The virtual-clock device: consumes one device period per wake-up at the nominal rate.
void run_null_device(ae::render_device_port& port, std::uint32_t rate, std::uint32_t period_frames,
                     const std::atomic<bool>& done) noexcept {
    ae::set_current_thread_name("ae-rt-dev-null");
    (void)ae::try_set_realtime_priority(70);
    port.restart_clock({.nominal_rate = static_cast<double>(rate)});
    const ae::hns start = ae::monotonic_now();
    std::uint64_t device_position = 0;
    while (!done.load(std::memory_order_relaxed)) {
        device_position += period_frames;
        sleep_until(start + ae::hns{static_cast<std::int64_t>(device_position * 10'000'000 / rate)});
        port.begin_period();
        std::uint32_t needed = period_frames;
        while (needed > 0) {
            const auto run = port.acquire(needed);
            if (run.frames == 0) break;
            port.release(run.frames); // a null device plays into the void
            needed -= run.frames;
        }
        if (needed > 0 && port.running()) {
            port.report(ae::glitch_kind::underrun, port.stream_position(), needed);
            port.mark_gap();
        }
        port.observe(device_position, ae::monotonic_now());
    }
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"ae-host: the openae demo host"};
    double seconds = 0;
    double period_ms = 10;
    std::uint32_t rate = 48000;
    double tone_hz = 440;
    app.add_option("--seconds", seconds, "Stop after N seconds (default: until SIGINT/SIGTERM)")->check(CLI::NonNegativeNumber);
    app.add_option("--period-ms", period_ms, "Engine and device period in milliseconds")->check(CLI::Range(1.0, 100.0));
    app.add_option("--rate", rate, "Sample rate")->check(CLI::Range(8000, 192000));
    app.add_option("--tone", tone_hz, "Tone frequency in Hz")->check(CLI::Range(1.0, 20000.0));
    CLI11_PARSE(app, argc, argv);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    const auto period_frames = static_cast<std::uint32_t>(std::lround(rate * period_ms / 1000.0));
    ae::render_endpoint_core endpoint{1};
    if (auto ec = endpoint.set_buffer({rate, 2, ae::sample_type::f32}, period_frames, 2ull * period_frames)) {
        std::fprintf(stderr, "ae-host: cannot set up the endpoint: %s\n", ec.message().c_str());
        return 1;
    }
    (void)endpoint.start();

    std::atomic<bool> done{false};
    engine_stats stats;
    const ae::hns period{static_cast<std::int64_t>(period_ms * 10'000)};
    std::thread device([&] { run_null_device(endpoint.device(), rate, period_frames, done); });
    std::thread engine([&] { run_engine(endpoint.rt(), tone_hz, period, done, stats); });
    ae::set_current_thread_name("ae-ctl");

    std::printf("ae-host: render endpoint on null (virtual clock), %u Hz stereo f32, period %u frames, buffer %u frames\n",
                rate, period_frames, 2 * period_frames);
    std::array<std::uint64_t, ae::glitch_kind_count + 1> glitches{};
    const ae::hns begin = ae::monotonic_now();
    ae::hns next_print = begin;
    ae::clock_snapshot last{};
    while (!g_stop.load(std::memory_order_relaxed)) {
        const ae::hns now = ae::monotonic_now();
        if (seconds > 0 && now - begin >= ae::hns{static_cast<std::int64_t>(seconds * 1e7)}) break;
        endpoint.drain_glitches([&](const ae::glitch_record& r) { ++glitches[static_cast<int>(r.kind)]; });
        if (now >= next_print) {
            if (endpoint.link().clock.try_read(last)) {
                std::printf("  t=%6.2f s  device_position=%9llu  time=%.6f s  rate=%.3f Hz%s\n",
                            static_cast<double>((now - begin).count()) / 1e7,
                            static_cast<unsigned long long>(last.device_position),
                            static_cast<double>(last.time.count()) / 1e7, last.frames_per_second,
                            last.uncertain ? " (settling)" : "");
            }
            next_print += ae::hns{5'000'000};
        }
        sleep_until(now + ae::hns{1'000'000});
    }
    done.store(true);
    engine.join();
    device.join();
    endpoint.drain_glitches([&](const ae::glitch_record& r) { ++glitches[static_cast<int>(r.kind)]; });
    (void)endpoint.link().clock.try_read(last);

    std::printf("ae-host: summary\n");
    std::printf("  frames rendered: %llu in %llu passes (%llu errors)\n",
                static_cast<unsigned long long>(stats.frames_rendered), static_cast<unsigned long long>(stats.passes),
                static_cast<unsigned long long>(stats.errors));
    std::printf("  measured rate:   %.3f Hz (nominal %u)\n", last.frames_per_second, rate);
    std::printf("  padding frames:  min %llu  avg %.1f  max %llu\n",
                static_cast<unsigned long long>(stats.passes ? stats.padding_min : 0),
                stats.passes ? static_cast<double>(stats.padding_sum) / static_cast<double>(stats.passes) : 0.0,
                static_cast<unsigned long long>(stats.padding_max));
    std::printf("  glitches:");
    for (int kind = 1; kind <= ae::glitch_kind_count; ++kind) {
        std::printf(" %s=%llu", ae::to_string(static_cast<ae::glitch_kind>(kind)),
                    static_cast<unsigned long long>(glitches[kind]));
    }
    std::printf("\n");
    return stats.errors == 0 ? 0 : 1;
}
