// openae — bridges: a capture device feeding a render device inside openae, on two clocks.
//
// A bridge is two endpoints, `NAME.capture` on its `from` device and `NAME.render` on its `to`
// device, joined by a pump that runs on the capture device's own thread (no engine, no thread hop
// that can block): each capture period goes straight through a variable-ratio resampler into
// the render endpoint. The render ring is the queue between the two clocks; drift control holds
// it where it settled — its lowest point `margin` (4 ms) above empty — so the delay neither grows nor
// shrinks when one device's clock runs fast (docs/DESIGN.md, "Bridges"). Both endpoints are
// ordinary ones (status, glitches, routing on device loss); they belong to the bridge: destroy
// the bridge, not them, and do not change their format.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/control/config.h>
#include <openae/control/event.h>

#include <cstdint>
#include <string>

namespace ae {

struct bridge_config {
    std::string name;   // unique among bridges and endpoints; its endpoints are NAME.capture, NAME.render
    std::string from;   // the capture device's spec (empty: the context's default device)
    std::string to;     // the render device's spec (empty: the context's default device)
    // The queue's format: both endpoints carry it (f32; the devices' chains convert).
    std::uint32_t sample_rate = 48'000;
    std::uint16_t channels = 2;
    hns period{100'000};                 // the endpoints' period (10 ms)
    bool drift_control = true;           // false: the ratio stays 1 and the queue drifts with the clocks
    // How far above empty the render ring's lowest point is held (4 ms): more rides out a device
    // thread that is late (no SCHED_FIFO, a loaded machine) at the cost of as much latency.
    hns margin{40'000};
    routing_policy routing = routing_policy::follow_default; // both endpoints', on device loss
};

struct bridge_status {
    std::string name;
    std::string from; // the devices the endpoints are on now
    std::string to;
    frame_format format{};
    bool drift_control = true;
    // The queue between the two clocks (render ring + what the pump holds), at the last capture
    // period; averaged over ~2 s (what drift control holds); the level it holds (0 until settled,
    // about a second after the start).
    double queue_ms = 0;
    double average_ms = 0;
    double target_ms = 0;
    // The resampler's correction: + when the capture device's clock runs fast against the render
    // device's (how far apart the two clocks are, once settled).
    double drift_ppm = 0;
    // From sound entering the capture device to leaving the render device: the capture device's
    // latency, the queue (averaged), the render device's latency.
    hns latency{0};
    std::uint64_t frames_in = 0;      // taken from the capture endpoint
    std::uint64_t frames_out = 0;     // written into the render endpoint
    std::uint64_t dropped_frames = 0; // made but not written (the render ring was full)
    std::uint64_t raises = 0;         // the render side came near empty and the level rose
    endpoint_stats capture;           // glitches by kind on each side
    endpoint_stats render;
};

} // namespace ae

#pragma GCC visibility pop
