// Ring cost side by side: ae::frame_ring, JACK's jack_ringbuffer and PipeWire's spa_ringbuffer,
// same capacity (8192 stereo f32 frames = 64 KiB), two threads, chunks of 128/512/2048 frames.
// The producer (benchmark thread) writes a counting sequence straight into ring memory; a consumer
// thread reads and verifies it. One iteration = one chunk written. Counters: producer and consumer
// ns per chunk (median, p99.9; TSC-timed, timer cost subtracted), frames/s, verification errors.
// bench_ring_paired runs the same rings in short alternating trials, for comparisons within a run.
#include "ring_adapters.h"
#include "tsc_timer.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

using namespace ae::bench::rings;

template <typename Ring>
void ring(benchmark::State& state) {
    const auto chunk = static_cast<std::uint32_t>(state.range(0));
    alignas(own_lines) Ring ring;
    alignas(own_lines) std::atomic<bool> stop{false};
    alignas(own_lines) std::uint64_t bad = 0;
    alignas(own_lines) std::vector<std::uint64_t> consumer_samples; // its end pointer moves on the consumer
    consumer_samples.reserve(1 << 22);
    std::thread consumer([&] {
        pin_to_cpu(1);
        std::uint64_t next = 0;
        std::uint64_t consumer_bad = 0; // on the consumer's own stack until the run ends
        while (!stop.load(std::memory_order_relaxed)) {
            const auto t0 = ae::bench::tsc_begin();
            const std::uint32_t frames = ring.try_read(chunk, next, consumer_bad);
            const auto t1 = ae::bench::tsc_end();
            if (frames == 0) {
                _mm_pause();
                continue;
            }
            if (frames == chunk && consumer_samples.size() < consumer_samples.capacity()) consumer_samples.push_back(t1 - t0);
            next += frames;
        }
        bad = consumer_bad;
    });
    pin_to_cpu(0);
    std::vector<std::uint64_t> samples;
    samples.reserve(1 << 22);
    std::uint64_t produced = 0;
    for (auto _ : state) {
        for (;;) {
            const auto t0 = ae::bench::tsc_begin();
            const bool written = ring.try_write(chunk, produced);
            const auto t1 = ae::bench::tsc_end();
            if (written) {
                if (samples.size() < samples.capacity()) samples.push_back(t1 - t0);
                break;
            }
            _mm_pause();
        }
        produced += chunk;
    }
    stop.store(true);
    consumer.join();
    const double overhead = ae::bench::timer_overhead_ns();
    state.SetItemsProcessed(static_cast<std::int64_t>(produced)); // frames/s
    state.counters["write_med_ns"] = ae::bench::quantile_ns(samples, 0.5) - overhead;
    state.counters["write_p999_ns"] = ae::bench::quantile_ns(samples, 0.999) - overhead;
    state.counters["read_med_ns"] = ae::bench::quantile_ns(consumer_samples, 0.5) - overhead;
    state.counters["read_p999_ns"] = ae::bench::quantile_ns(consumer_samples, 0.999) - overhead;
    state.counters["bad_frames"] = static_cast<double>(bad);
}

} // namespace

BENCHMARK(ring<ae_ring>)->Name("frame_ring")->Arg(128)->Arg(512)->Arg(2048)->MinTime(1.0)->UseRealTime();
BENCHMARK(ring<jack_ring>)->Name("jack_ringbuffer")->Arg(128)->Arg(512)->Arg(2048)->MinTime(1.0)->UseRealTime();
BENCHMARK(ring<spa_ring<heap_bytes>>)->Name("spa_ringbuffer")->Arg(128)->Arg(512)->Arg(2048)->MinTime(1.0)->UseRealTime();
BENCHMARK(ring<spa_ring<shared_bytes>>)->Name("spa_ringbuffer_memfd")->Arg(128)->Arg(512)->Arg(2048)->MinTime(1.0)->UseRealTime();
BENCHMARK_MAIN();
