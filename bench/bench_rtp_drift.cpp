// Drift over a simulated hour: a sender whose clock is off by ±100 ppm (and 2 ms of jitter) into
// the RTP receiver, on stream time (tests/pipeline/rtp_simulation.h). Prints the queue's largest
// excursion from its target after it settled, the error at the end, and the largest change of the
// resampler's correction from one 5 ms read to the next — with drift control, and without.
//
//   ./build/release/bench/bench_rtp_drift [SECONDS=3600]
#include "rtp_simulation.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? std::atof(argv[1]) : 3600;
    using ae::test::rtp_sim::simulate;
    std::printf("%-8s %-10s %16s %16s %18s %12s %10s\n", "ppm", "control", "worst error ms", "final error ms", "largest step ppm",
                "concealed", "wall s");
    for (const double ppm : {100.0, -100.0}) {
        for (const bool control : {true, false}) {
            const auto begin = std::chrono::steady_clock::now();
            const auto r = simulate({.seconds = seconds, .drift_ppm = ppm, .jitter_ms = 2, .drift_control = control});
            const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
            std::printf("%-8.0f %-10s %16.3f %16.3f %18.3f %12llu %10.1f\n", ppm, control ? "on" : "off", r.worst_queue_error_ms,
                        r.final_queue_error_ms, r.largest_step_ppm, static_cast<unsigned long long>(r.concealed), wall);
        }
    }
    return 0;
}
