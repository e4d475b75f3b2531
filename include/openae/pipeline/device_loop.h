// openae — device_loop: a device's real-time side, one period at a time.
//
// One period of a device's work — apply the control side's commands, play or record through every
// attached endpoint's chain, publish timing, report glitches, hand rate seams over — is one call,
// `step()`. Whoever owns the device's period calls it: openae's own device thread after the
// device's wait point (`wait()`: null, wav, and later ALSA's poll), or a backend's own real-time
// callback (JACK's process callback, PipeWire's process event) with the status and timing that
// callback hands over. Offline pacing (an offline device waits for its engines) and the virtual
// clock of a lost device live in `wait()`.
//
// The loop talks to the control side (device_control) only through the ends of three SPSC queues:
// commands in, retired chains and device events out. It never allocates, locks, logs or blocks
// outside `wait()`; every function here is for the one thread that runs the loop unless it says
// otherwise.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/loop_load.h>
#include <openae/pipeline/chain.h>
#include <openae/pipeline/device.h>
#include <openae/pipeline/device_hooks.h>
#include <openae/pipeline/meter.h>
#include <openae/pipeline/virtual_clock.h>
#include <openae/rt/spsc_queue.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace ae::pipeline {

struct device_thread_options {
    std::uint32_t max_endpoints = 4096;
    // Stop after this many device frames (0: run until stop()). The last period is cut short to
    // land exactly on it: an offline render of exactly N seconds.
    std::uint64_t stop_after_frames = 0;
    int realtime_priority = 70; // SCHED_FIFO priority; 0: do not ask
    // A non-blocking eventfd the loop signals with every device_event it queues (a loss, a
    // format change): the control side acts on it at once instead of at its next drain. -1: none.
    int control_wake_fd = -1;
    device_thread_hooks hooks{};
    // device_thread: no thread of its own — its owner runs each period with step_once() (a
    // deterministic simulation: one thread drives devices, engine and control side in turn).
    bool stepped = false;
};

enum class device_event_kind : std::uint8_t {
    lost,             // the device went away; the loop runs on its virtual clock
    format_changed,   // the device changed format (`format`); a new rate needs rebuilt chains
    end_of_stream,    // a capture source ran out
    finished,         // stop_after_frames reached, or end of stream: the loop has ended
    realtime_refused, // SCHED_FIFO was refused: the thread runs at normal priority
    device_dropped,   // the device itself dropped or padded `frames` frames (its I/O fell behind)
    period_changed,   // a self-driven device's cycles are now `frames` long (within its max_period_frames;
                      // reported when they move by more than 2 frames)
    latency_changed,  // the device's latency() changed (its latency_generation() moved)
};
// rt-safe: wait-free
[[nodiscard]] const char* to_string(device_event_kind kind) noexcept;

struct device_event {
    device_event_kind kind = device_event_kind::lost;
    hns time{0};
    std::uint64_t device_position = 0;
    std::uint64_t frames = 0;
    frame_format format{};
};

// Control → loop.
struct device_command {
    enum class kind : std::uint8_t { attach_render, attach_capture, detach, successor } what = kind::detach;
    std::unique_ptr<render_chain> render;
    std::unique_ptr<capture_chain> capture;
    std::uint32_t endpoint_id = 0;
};

// A chain the loop retired (detached, or replaced by its successor at a seam), on its way to be
// freed on the control side.
struct retired_chain {
    std::unique_ptr<render_chain> render;
    std::unique_ptr<capture_chain> capture;
};

// What the wait point (or a backend's callback) says about the period about to run.
struct device_period {
    device_status status = device_status::ok;
    device_timing timing{};
    std::uint32_t frames = 0; // a self-driven device's cycle, in frames; 0: its period_frames()
    // The step leaves the engines' wake-up to wake_deferred_engines(), which the backend calls once
    // it has handed the period back to its server (JACK: after jack_cycle_signal), so the wake-up
    // (a cross-CPU one: ~10 us of a cycle on a VM) is not inside the server's graph cycle.
    bool defer_engine_wake = false;
};

// The loop's queue ends, and the eventfds it waits on.
struct device_loop_ends {
    spsc_consumer<device_command> commands;
    spsc_producer<retired_chain> retired;
    spsc_producer<device_event> events;
    // Signalled by the control side with each command while the device is lost (the loop, waiting
    // on its virtual clock, applies commands at once). -1: none.
    int command_fd = -1;
    // Offline devices: engines signal it when the loop waits for them. -1: none.
    int engine_wake_fd = -1;
};

class device_loop {
public:
    // Allocates everything the loop will ever use (chains' slots, mix buffers); not rt-safe.
    device_loop(device& dev, const device_thread_options& options, device_loop_ends ends);
    device_loop(const device_loop&) = delete;
    device_loop& operator=(const device_loop&) = delete;

    // For a loop on openae's own thread: the one wait point — the device's wait_period(), the
    // virtual clock once the device is lost, and, offline, the wait for the engines. Applies
    // commands that arrive meanwhile.
    // rt-safe: waits for the device only
    [[nodiscard]] device_period wait() noexcept;

    enum class step_result : std::uint8_t { go_on, done };
    // One period of work for `period` (from wait(), or from a backend's callback). `done`: the
    // loop has ended (stop_after_frames reached, end of stream); call finish().
    // rt-safe: bounded
    [[nodiscard]] step_result step(const device_period& period) noexcept;

    // Wakes the engines a step with `defer_engine_wake` did not wake (nothing otherwise). On the
    // thread that stepped, before it may hand the loop over.
    // rt-safe: bounded, non-blocking writes
    void wake_deferred_engines() noexcept {
        if (engine_wake_pending_) {
            engine_wake_pending_ = false;
            signal_engines();
        }
    }

    // Last call on the loop's thread: flushes every chain's pending glitch reports, says
    // `finished` (unless stopped) and publishes finished().
    // rt-safe: bounded
    void finish() noexcept;

    // The thread could not get SCHED_FIFO: an event says so.
    // rt-safe: wait-free
    void report_realtime_refused() noexcept { emit(device_event_kind::realtime_refused); }

    // Any thread: asks the loop to stop; wait() returns at once when it is offline-waiting.
    // rt-safe: wait-free
    void request_stop() noexcept { stop_.store(true, std::memory_order_release); }
    [[nodiscard]] bool stop_requested() const noexcept { return stop_.load(std::memory_order_acquire); }

    // Any thread: what the loop has done so far.
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t frames_processed() const noexcept { return frames_.load(std::memory_order_acquire); }
    [[nodiscard]] bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
    [[nodiscard]] bool lost() const noexcept { return lost_flag_.load(std::memory_order_acquire); }
    [[nodiscard]] std::uint64_t periods() const noexcept { return periods_.load(std::memory_order_relaxed); }
    // How busy the loop is: the time its steps took, and how many (any thread). rt-safe: wait-free
    [[nodiscard]] loop_load::reading load() const noexcept { return load_.read(); }
    // Commands the loop has applied (device_control compares it with what it sent).
    // rt-safe: wait-free
    [[nodiscard]] std::uint64_t commands_applied() const noexcept { return applied_.load(std::memory_order_acquire); }
    // The mix's level (render) or the device's input level (capture).
    // rt-safe: wait-free
    [[nodiscard]] meter_reading levels() const noexcept { return device_meter_.read(); }

private:
    // The parts of a period (device_loop.cpp tags each with its guarantee).
    // rt-safe: bounded
    void apply_commands() noexcept;
    void wait_for_engines() noexcept;
    [[nodiscard]] bool endpoints_ready(std::uint32_t frames) noexcept;
    void set_waiting(bool waiting) noexcept;
    void render_period(std::uint32_t frames) noexcept;
    void capture_period(std::uint32_t frames) noexcept;
    void enter_lost(device_event_kind why) noexcept;
    void hand_over_successors() noexcept;
    void signal_engines() noexcept;
    void emit(device_event_kind kind, std::uint64_t frames = 0) noexcept;

    device* device_;
    device_thread_options options_;
    endpoint_direction direction_;
    device_loop_ends ends_;

    std::vector<std::unique_ptr<render_chain>> render_chains_;   // reserved to max_endpoints
    std::vector<std::unique_ptr<capture_chain>> capture_chains_; // reserved to max_endpoints
    std::vector<float> mix_;
    std::vector<float> scratch_;
    std::vector<std::byte> device_buffer_;
    virtual_clock lost_clock_;
    bool lost_ = false;
    std::uint64_t lost_base_position_ = 0;
    // Lost by a rate change, the device is opened again at once: for this many more periods the
    // render rings are held, not drained — their frames wait to play there, as a sound server's
    // clients wait while it restarts its driver. Then (the open failed, or is slow: after 0.5 s) drained.
    std::uint32_t hold_periods_left_ = 0;
    device_timing last_timing_{};
    device_status last_status_ = device_status::ok;
    std::uint64_t reported_device_drops_ = 0;
    std::uint64_t reported_latency_generation_ = 0;
    std::uint64_t done_frames_ = 0;
    std::uint32_t cycle_frames_ = 0; // a self-driven device's cycle length as last reported (its period at first)
    int offline_periods_unsignalled_ = 0; // offline: periods since the engines were last woken
    bool engine_wake_pending_ = false;    // a step deferred the engines' wake-up (defer_engine_wake)
    meter device_meter_;

    // order: release/acquire — a stop asked for after the control side's last command is seen with it.
    std::atomic<bool> stop_{false};
    // order: release/acquire — the loop's last writes (finish()) are seen with it.
    std::atomic<bool> finished_{false};
    // order: release/acquire — the lost event queued before it is there to be drained.
    std::atomic<bool> lost_flag_{false};
    // order: release/acquire — the frames are in the device before a reader of the count looks.
    std::atomic<std::uint64_t> frames_{0};
    // order: relaxed — a statistic.
    std::atomic<std::uint64_t> periods_{0};
    loop_load load_;
    // order: release/acquire — a command is applied (a detached chain retired) before it is counted.
    std::atomic<std::uint64_t> applied_{0};
};

} // namespace ae::pipeline

#pragma GCC visibility pop
