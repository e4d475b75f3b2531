// Where a frame_ring chunk's time goes, for bench_ring_paired's workload (stereo f32, 8192-frame
// ring, producer pinned to CPU 0 filling, consumer pinned to CPU 1 verifying, the same `fill` and
// `verify` machine code as bench_ring and bench_ring_paired):
//   local      fill and verify alone on one thread, over a 64 KiB buffer: what the payload costs
//              with no other core touching its cache lines;
//   both       the ring as benchmarked: both sides touch every line;
//   no verify  the consumer takes and gives back each chunk without reading it;
//   no fill    the producer publishes each chunk without writing it.
// For each: ns per chunk, and the ns per chunk spent inside fill, verify and the writer's
// try_acquire (TSC-timed, the timer's own cost not subtracted: compare like with like).
//   bench_ring_floor [TRIALS=3] [FRAMES_PER_TRIAL=16777216]
#include "ring_adapters.h"
#include "tsc_timer.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

using namespace ae::bench::rings;
using ae::bench::tsc_begin;
using ae::bench::tsc_end;

enum class mode { both, no_verify, no_fill };

struct breakdown {
    double ns_per_chunk = 0, fill_ns = 0, verify_ns = 0, acquire_ns = 0;
};

breakdown trial(mode m, std::uint32_t chunk, std::uint64_t frames) {
    alignas(own_lines) ae_ring ring;
    alignas(own_lines) std::atomic<bool> consumer_ready{false};
    alignas(own_lines) std::uint64_t verify_ticks = 0;
    std::thread consumer([&] {
        pin_to_cpu(1);
        consumer_ready.store(true, std::memory_order_release);
        std::uint64_t next = 0, ticks = 0, bad = 0;
        while (next < frames) {
            const std::uint64_t available = ring.reader.available_frames(chunk);
            const auto got = static_cast<std::uint32_t>(available < chunk ? available : chunk);
            if (got == 0) {
                _mm_pause();
                continue;
            }
            const std::byte* span = ring.reader.try_acquire(got);
            if (m != mode::no_verify) {
                const auto t0 = tsc_begin();
                bad += verify(span, next, got);
                ticks += tsc_end() - t0;
            }
            ring.reader.commit(got);
            next += got;
        }
        verify_ticks = ticks;
        // Unwritten chunks (no fill) fail by design; in the other modes every frame must verify.
        if (bad != 0 && m == mode::both) std::fprintf(stderr, "verification errors: %llu\n", static_cast<unsigned long long>(bad));
    });
    pin_to_cpu(0);
    while (!consumer_ready.load(std::memory_order_acquire)) _mm_pause();
    std::uint64_t fill_ticks = 0, acquire_ticks = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t produced = 0; produced < frames; produced += chunk) {
        const auto t0 = tsc_begin();
        std::byte* span = nullptr;
        while ((span = ring.writer.try_acquire(chunk)) == nullptr) _mm_pause();
        const auto t1 = tsc_end();
        acquire_ticks += t1 - t0;
        if (m != mode::no_fill) {
            fill(span, produced, chunk);
            fill_ticks += tsc_end() - t1;
        }
        ring.writer.commit(chunk);
    }
    consumer.join();
    const double chunks = static_cast<double>(frames / chunk);
    const double per_tick = 1.0 / (ae::bench::ticks_per_ns() * chunks);
    return {std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / chunks,
            static_cast<double>(fill_ticks) * per_tick, static_cast<double>(verify_ticks) * per_tick,
            static_cast<double>(acquire_ticks) * per_tick};
}

void local(std::uint32_t chunk, std::uint64_t frames) {
    alignas(own_lines) static std::byte buffer[capacity_frames * frame_bytes];
    const std::uint64_t chunks = frames / chunk; // frames: a multiple of the capacity
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < chunks; ++i) fill(buffer + i * chunk % capacity_frames * frame_bytes, i * chunk, chunk);
    const auto t1 = std::chrono::steady_clock::now();
    // The buffer holds the last lap: frame offset o holds position last_lap + o.
    const std::uint64_t last_lap = frames - capacity_frames;
    std::uint64_t bad = 0;
    for (std::uint64_t i = 0; i < chunks; ++i) {
        const std::uint64_t offset = i * chunk % capacity_frames;
        bad += verify(buffer + offset * frame_bytes, last_lap + offset, chunk);
    }
    const auto t2 = std::chrono::steady_clock::now();
    const double n = static_cast<double>(chunks);
    std::printf("  local      fill %8.1f  verify %8.1f  (verification errors %llu)\n", std::chrono::duration<double, std::nano>(t1 - t0).count() / n,
                std::chrono::duration<double, std::nano>(t2 - t1).count() / n, static_cast<unsigned long long>(bad));
}

} // namespace

int main(int argc, char** argv) {
    const int trials = argc > 1 ? std::atoi(argv[1]) : 3;
    const std::uint64_t frames = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : std::uint64_t{1} << 24;
    if (trials < 1 || frames < capacity_frames || frames % capacity_frames != 0) {
        std::fprintf(stderr, "usage: bench_ring_floor [TRIALS>=1] [FRAMES_PER_TRIAL, a multiple of 8192]\n");
        return 2;
    }
    for (const std::uint32_t chunk : {128u, 512u, 2048u}) {
        std::printf("chunk %u frames, ns per chunk:\n", chunk);
        local(chunk, frames);
        for (int t = 0; t < trials; ++t) {
            for (const auto& [m, name] : {std::pair{mode::both, "both     "}, std::pair{mode::no_verify, "no verify"}, std::pair{mode::no_fill, "no fill  "}}) {
                const breakdown b = trial(m, chunk, frames);
                std::printf("  %s  chunk %8.1f  fill %8.1f  verify %8.1f  writer's try_acquire %6.1f\n", name, b.ns_per_chunk, b.fill_ns, b.verify_ns, b.acquire_ns);
            }
        }
    }
    return 0;
}
