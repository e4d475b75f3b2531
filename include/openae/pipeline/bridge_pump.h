// openae — bridge_pump: a capture endpoint feeding a render endpoint, on the capture device's
// own thread, with drift control.
//
// A bridge joins two devices that run on two clocks (a desktop's sound server and a remote
// client, a USB microphone and a sound card). The pump is the capture endpoint's inline consumer:
// right after each capture period it drains the capture endpoint's ring through a variable-ratio
// resampler into the render endpoint's ring, both through their RT views, so nothing between the
// two device threads can block (no engine thread, no wake-up). The render ring is the queue
// between the two clocks. Its level, averaged over time, is held where it settled after the start
// (a PI loop, queue_level_control) by nudging the resampler's ratio: the queue neither grows nor
// drains when one clock runs fast. Without drift control the ratio stays 1 and the queue drifts.
//
// Both endpoints carry f32 frames of one format (the bridge's); their chains convert to and from
// each device's own. Built off the RT threads; after_device_period() runs on the capture device's
// thread only; figures() from any thread.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/resampler.h>
#include <openae/rt/capture_endpoint_rt.h>
#include <openae/rt/render_endpoint_rt.h>

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <system_error>
#include <vector>

namespace ae::pipeline {

class queue_level_control;

class bridge_pump final : public inline_consumer {
public:
    struct options {
        std::uint32_t rate = 48'000;
        std::uint32_t channels = 2;
        bool drift_control = true;
        // Where the render ring's lowest point (just before the pump writes) is held: above empty
        // by this much. More rides out a device thread that is late, at the cost of latency.
        double margin_ms = 4;
        // The resampler's input block (frames): 0 is 5 ms. The capture device's period when it is
        // shorter: nothing then waits in the pump for the rest of a block (at 128-frame JACK
        // periods a 5 ms block held up to a period more, in a beat with the periods).
        std::uint32_t block_frames = 0;
        // Signalled (a non-blocking eventfd write) after the first pass: the control side starts
        // the render endpoint then, so its device never waits for a capture device that is slow
        // to begin. -1: none.
        int first_pass_fd = -1;
    };
    // What the pump measured last (any thread; each figure complete in itself).
    struct figures {
        double queue_frames = 0;    // render ring + what the pump holds, at the last pass
        double average_frames = 0;  // the queue averaged over ~2 s (what drift control holds)
        double target_frames = 0;   // the level it settled at (0 until settled)
        double drift_ppm = 0;       // the resampler's correction: + when the capture clock runs fast
        std::uint64_t frames_in = 0;      // taken from the capture endpoint
        std::uint64_t frames_out = 0;     // written into the render endpoint
        std::uint64_t dropped_frames = 0; // made but not written: the render ring was full
        std::uint64_t passes = 0;
        std::uint64_t raises = 0; // the render ring came near empty: the held level rose
    };

    // `from` and `to` must outlive the pump's last pass; both in `opts`' format, f32.
    [[nodiscard]] static std::expected<std::unique_ptr<bridge_pump>, std::error_code>
    create(capture_endpoint_rt& from, render_endpoint_rt& to, const options& opts);
    ~bridge_pump();
    bridge_pump(const bridge_pump&) = delete;
    bridge_pump& operator=(const bridge_pump&) = delete;

    // Before either endpoint starts (control thread): `frames` of silence into the render ring,
    // the queue's first level (it must cover both devices' periods so the render side never
    // finds it empty before the first capture period arrives). Returns the frames written.
    std::uint64_t prefill(std::uint64_t frames) noexcept;

    // One pass: drains the capture ring, resamples, writes the render ring, steers.
    // rt-safe: bounded (the capture ring's content, 64 reads at most)
    void after_device_period() noexcept override;

    [[nodiscard]] figures read_figures() const noexcept;

private:
    bridge_pump(capture_endpoint_rt& from, render_endpoint_rt& to, const options& opts, resampler rs);
    // rt-safe: wait-free
    void write_render(const float* samples, std::size_t frames) noexcept;
    // rt-safe: bounded
    void steer(hns now) noexcept;
    // rt-safe: wait-free
    void guard_level(hns now) noexcept;

    capture_endpoint_rt* from_;
    render_endpoint_rt* to_;
    options options_;
    resampler resampler_;
    std::unique_ptr<queue_level_control> control_;
    std::vector<float> staged_;    // captured frames waiting for a whole resampler block
    std::size_t staged_frames_ = 0;
    std::vector<float> resampled_;
    hns last_raise_{0};
    double settle_lowest_ = 1e18;  // the render ring's lowest level while the queue settled
    bool target_placed_ = false;

    // order: relaxed — figures, each complete in itself; nothing is read because of them.
    std::atomic<double> queue_frames_{0};
    std::atomic<double> average_frames_{0};
    std::atomic<double> target_frames_{0};
    std::atomic<double> drift_ppm_{0};
    std::atomic<std::uint64_t> frames_in_{0};
    std::atomic<std::uint64_t> frames_out_{0};
    std::atomic<std::uint64_t> dropped_frames_{0};
    std::atomic<std::uint64_t> passes_{0};
    std::atomic<std::uint64_t> raises_{0};
};

} // namespace ae::pipeline

#pragma GCC visibility pop
