// The rings of bench_ring compared within one run, trial against trial: each round runs every
// ring once per chunk size (128, 512, 2048 frames), in an order shuffled per round, each trial a
// fixed number of frames (a producer pinned to CPU 0 writing, a consumer pinned to CPU 1
// verifying). Rounds follow each other closely, so a change in the machine over a run (a VM's
// neighbours) weighs on every ring alike; the figures are per-round ratios, not run-level medians
// that moved ×2.3 between two runs of the same configuration.
//   bench_ring_paired [ROUNDS=30] [FRAMES_PER_TRIAL=16777216] [ONLY_RING=0..3 ONLY_CHUNK]
// (the last two, for a profiler: one ring at one chunk size, nothing compared)
// Prints, per chunk size: each ring's median ns per chunk over the rounds (and its quartiles);
// frame_ring's time ÷ each peer's in the same round; frame_ring's time ÷ the fastest peer's in the
// same round (median, quartiles); the rounds frame_ring was the fastest of all; and verification
// errors (must be 0).
#include "ring_adapters.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <x86intrin.h>

namespace {

using namespace ae::bench::rings;

struct trial_result {
    double ns_per_chunk = 0;
    std::uint64_t bad = 0;
};

// One trial: `frames` frames through a fresh ring in chunks of `chunk`. Timed from the consumer's
// start to the last chunk verified.
template <typename Ring>
trial_result trial(std::uint32_t chunk, std::uint64_t frames) {
    alignas(own_lines) Ring ring;
    alignas(own_lines) std::atomic<bool> consumer_ready{false};
    alignas(own_lines) std::uint64_t bad = 0;
    std::thread consumer([&] {
        pin_to_cpu(1);
        consumer_ready.store(true, std::memory_order_release);
        std::uint64_t next = 0;
        std::uint64_t consumer_bad = 0; // on the consumer's own stack until the trial ends
        while (next < frames) {
            const std::uint32_t got = ring.try_read(chunk, next, consumer_bad);
            if (got == 0) {
                _mm_pause();
                continue;
            }
            next += got;
        }
        bad = consumer_bad;
    });
    pin_to_cpu(0);
    while (!consumer_ready.load(std::memory_order_acquire)) _mm_pause();
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t produced = 0; produced < frames; produced += chunk) {
        while (!ring.try_write(chunk, produced)) _mm_pause();
    }
    consumer.join(); // the last chunk verified
    const auto elapsed = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    return {elapsed / static_cast<double>(frames / chunk), bad};
}

constexpr std::array<const char*, 5> ring_names{"frame_ring", "jack_ringbuffer", "spa_ringbuffer", "spa_ringbuffer_memfd", "spa_on_frame_ring_memory"};

trial_result run(std::size_t ring, std::uint32_t chunk, std::uint64_t frames) {
    switch (ring) {
    case 0: return trial<ae_ring>(chunk, frames);
    case 1: return trial<jack_ring>(chunk, frames);
    case 2: return trial<spa_ring<heap_bytes>>(chunk, frames);
    case 3: return trial<spa_ring<shared_bytes>>(chunk, frames);
    default: return trial<spa_ring<mirrored_bytes>>(chunk, frames);
    }
}

double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double at = q * static_cast<double>(v.size() - 1);
    const auto below = static_cast<std::size_t>(at);
    const std::size_t above = std::min(below + 1, v.size() - 1);
    return v[below] + (v[above] - v[below]) * (at - static_cast<double>(below));
}

} // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 30;
    const std::uint64_t frames = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : std::uint64_t{1} << 24;
    if (rounds < 1 || frames < 2048) {
        std::fprintf(stderr, "usage: bench_ring_paired [ROUNDS>=1] [FRAMES_PER_TRIAL>=2048]\n");
        return 2;
    }
    constexpr std::array<std::uint32_t, 3> chunks{128, 512, 2048};
    if (argc > 4) { // profiling one ring
        const auto ring = static_cast<std::size_t>(std::atoi(argv[3]));
        const auto chunk = static_cast<std::uint32_t>(std::atoi(argv[4]));
        for (int round = 0; round < rounds; ++round) {
            const trial_result r = run(ring, chunk, frames - frames % chunk);
            std::printf("%s %u: %.1f ns per chunk, %llu bad\n", ring_names[ring % ring_names.size()], chunk, r.ns_per_chunk, static_cast<unsigned long long>(r.bad));
        }
        return 0;
    }
    // ns[chunk][ring][round]
    std::array<std::array<std::vector<double>, 5>, 3> ns;
    std::uint64_t bad = 0;
    std::mt19937 shuffle_rng(20261207);
    for (int round = 0; round < rounds; ++round) {
        for (std::size_t c = 0; c < chunks.size(); ++c) {
            std::array<std::size_t, 5> order{0, 1, 2, 3, 4};
            std::shuffle(order.begin(), order.end(), shuffle_rng);
            for (const std::size_t ring : order) {
                const trial_result r = run(ring, chunks[c], frames - frames % chunks[c]);
                ns[c][ring].push_back(r.ns_per_chunk);
                bad += r.bad;
            }
        }
    }
    std::printf("rounds %d, %llu frames per trial, verification errors %llu\n", rounds, static_cast<unsigned long long>(frames),
                static_cast<unsigned long long>(bad));
    for (std::size_t c = 0; c < chunks.size(); ++c) {
        std::printf("chunk %u frames, ns per chunk, median [quartiles] over the rounds:\n", chunks[c]);
        for (std::size_t ring = 0; ring < ring_names.size(); ++ring) {
            std::printf("  %-22s %8.1f [%.1f, %.1f]\n", ring_names[ring], quantile(ns[c][ring], 0.5), quantile(ns[c][ring], 0.25),
                        quantile(ns[c][ring], 0.75));
        }
        // Against each peer in the same round; the faster peer is the one this ratio is largest
        // against. The ratio to the fastest of the three peers in each round (below) is stricter:
        // the smallest of three noisy times is biased low, so at a true tie frame_ring would lose
        // it in about three rounds of four.
        std::printf("  frame_ring / each peer in the same round, median [quartiles]:");
        for (std::size_t peer = 1; peer <= 3; ++peer) {
            std::vector<double> against;
            for (int round = 0; round < rounds; ++round) against.push_back(ns[c][0][round] / ns[c][peer][round]);
            std::printf(" %s %.3f [%.3f, %.3f]%s", ring_names[peer], quantile(against, 0.5), quantile(against, 0.25), quantile(against, 0.75),
                        peer < 3 ? "," : "\n");
        }
        std::vector<double> ratio;
        int fastest = 0;
        for (int round = 0; round < rounds; ++round) {
            const double best_peer = std::min({ns[c][1][round], ns[c][2][round], ns[c][3][round]});
            ratio.push_back(ns[c][0][round] / best_peer);
            fastest += ns[c][0][round] <= best_peer ? 1 : 0;
        }
        std::printf("  frame_ring / fastest peer in the same round: median %.3f [%.3f, %.3f]; frame_ring fastest in %d of %d rounds\n",
                    quantile(ratio, 0.5), quantile(ratio, 0.25), quantile(ratio, 0.75), fastest, rounds);
    }
    return bad == 0 ? 0 : 1;
}
