// A bridge between two clocks apart by ±ppm for a long run, on virtual time (the simulation of
// tests/pipeline/bridge_simulation.h: 1,024-frame capture periods, 960-frame render periods, the
// pump under the RT harness): the render ring's level before each of the render device's reads,
// averaged over seconds 40-50 and over the last 10 s, and how far the pump's queue strayed from the
// level it holds. With and without drift control.
//
//   ./build/release/bench/bench_bridge_drift [--seconds S] [--ppm P]
#include "bench_asserts.h" // first: the rigs' REQUIREs, outside a test case

#include "bridge_simulation.h"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    doctest::Context doctest_context;
    ae::bench::report_failed_asserts(doctest_context);
    double seconds = 600, ppm = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--seconds") seconds = std::atof(argv[i + 1]);
        else if (a == "--ppm") ppm = std::atof(argv[i + 1]);
    }
    if (seconds < 60) seconds = 60;
    std::printf("bridge, capture clock against render clock, %.0f s simulated (1024-frame capture periods, 960-frame render periods)\n", seconds);
    for (const double p : {ppm, -ppm}) {
        for (const bool drift : {true, false}) {
            const auto r = ae::test::bridge_simulation::run(p, seconds, drift);
            std::printf("  %+6.0f ppm, drift control %-3s: ring %.2f ms at 40-50 s, %.2f ms in the last 10 s (%+.2f ms); measured %+.1f ppm; "
                        "underrun frames %llu; worst |queue - held| %.2f ms, |2 s average - held| %.2f ms; RT violations %llu\n",
                        p, drift ? "on" : "off", r.first_queue_ms, r.last_queue_ms, r.last_queue_ms - r.first_queue_ms, r.drift_ppm,
                        static_cast<unsigned long long>(r.underrun_frames), drift ? r.worst_queue_off_ms : 0.0, drift ? r.worst_average_off_ms : 0.0,
                        static_cast<unsigned long long>(r.violations));
        }
    }
    return 0;
}
