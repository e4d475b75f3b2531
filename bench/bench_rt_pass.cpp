// RT pass cost: current_padding + output_data_pointer + release_output_data_pointer +
// processing_complete for stereo f32 packets, audio copy excluded. Each pass is timed with the
// TSC; counters give the median and p99.9 in ns with the timer's own cost subtracted. The device
// drains after each pass, outside the timed region (Google Benchmark's time column includes it).
#include <openae/openae.hpp>

#include "tsc_timer.h"

#include <benchmark/benchmark.h>

namespace {

void rt_pass(benchmark::State& state) {
    const auto packet = static_cast<std::uint32_t>(state.range(0));
    ae::render_endpoint_core core{1};
    if (core.set_buffer({48000, 2, ae::sample_type::f32}, packet, 4ull * packet) || core.start()) {
        state.SkipWithError("endpoint setup failed");
        return;
    }
    auto& rt = core.rt();
    auto& device = core.device();
    std::vector<std::uint64_t> samples;
    samples.reserve(1 << 22);
    std::uint64_t errors = 0;
    for (auto _ : state) {
        ae::position pos;
        const auto t0 = ae::bench::tsc_begin();
        const std::uint64_t padding = rt.current_padding(&pos);
        auto span = rt.output_data_pointer(packet);
        if (span) rt.release_output_data_pointer({*span, packet, ae::buffer_flags::valid});
        rt.processing_complete();
        const auto t1 = ae::bench::tsc_end();
        if (samples.size() < samples.capacity()) samples.push_back(t1 - t0);
        errors += !span;
        benchmark::DoNotOptimize(padding);
        const auto run = device.acquire(packet);
        device.release(run.frames);
    }
    const double overhead = ae::bench::timer_overhead_ns();
    state.counters["median_ns"] = ae::bench::quantile_ns(samples, 0.5) - overhead;
    state.counters["p99.9_ns"] = ae::bench::quantile_ns(samples, 0.999) - overhead;
    state.counters["timer_ns"] = overhead;
    state.counters["errors"] = static_cast<double>(errors);
}

// The mean pass cost with nothing else in the timed region: the buffer holds 4096 packets, and
// the device drains it (timing paused) once every 4096 passes.
void rt_pass_mean(benchmark::State& state) {
    const auto packet = static_cast<std::uint32_t>(state.range(0));
    constexpr std::uint32_t passes_per_drain = 4096;
    ae::render_endpoint_core core{1};
    if (core.set_buffer({48000, 2, ae::sample_type::f32}, packet, std::uint64_t{packet} * passes_per_drain) ||
        core.start()) {
        state.SkipWithError("endpoint setup failed");
        return;
    }
    auto& rt = core.rt();
    auto& device = core.device();
    std::uint32_t since_drain = 0;
    std::uint64_t errors = 0;
    for (auto _ : state) {
        ae::position pos;
        benchmark::DoNotOptimize(rt.current_padding(&pos));
        auto span = rt.output_data_pointer(packet);
        if (span) rt.release_output_data_pointer({*span, packet, ae::buffer_flags::valid});
        rt.processing_complete();
        errors += !span;
        if (++since_drain == passes_per_drain) {
            state.PauseTiming();
            for (;;) {
                const auto run = device.acquire(1u << 20);
                if (run.frames == 0) break;
                device.release(run.frames);
            }
            since_drain = 0;
            state.ResumeTiming();
        }
    }
    state.counters["errors"] = static_cast<double>(errors);
}

} // namespace

BENCHMARK(rt_pass_mean)->Arg(128)->Arg(480)->Arg(1024)->MinTime(1.0);
BENCHMARK(rt_pass)->Arg(128)->Arg(480)->Arg(1024)->MinTime(1.0);
BENCHMARK_MAIN();
