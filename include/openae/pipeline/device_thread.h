// openae — device_thread: one real-time thread per device, running every attached endpoint's
// chain once per device period.
//
// Render: wait for the device → each chain pulls its endpoint's frames through its stages → mix
// → the device's sample type → the device. Capture is the mirror. The thread ("ae-rt-dev-<kind>",
// SCHED_FIFO when the system allows it; an event says when it does not) waits in one place —
// for the device — and otherwise never blocks, allocates or logs.
//
// It is an actor: the control side talks to it only through SPSC queues. Chains arrive built (attach)
// and leave whole (detach → retire queue → freed by collect_retired() on the control side);
// what happens to the device comes back as device_events. When the device is lost, the thread
// carries on with a virtual clock of the same rate and period: the engines' passes never stall,
// positions keep advancing, and every frame that could not reach the device is counted in a
// device_lost glitch record of its endpoint.
#pragma once

#include <openae/pipeline/chain.h>
#include <openae/pipeline/device.h>
#include <openae/pipeline/meter.h>
#include <openae/pipeline/virtual_clock.h>
#include <openae/rt/spsc_queue.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ae::pipeline {

// Calls made on the device thread, for test harnesses and profilers (function pointers: calling
// them never allocates).
struct device_thread_hooks {
    void* context = nullptr;
    void (*started)(void* context) = nullptr;   // first thing on the thread, after naming it
    void (*stopping)(void* context) = nullptr;  // last thing on the thread
    void (*wait_begin)(void* context) = nullptr; // around the one wait point
    void (*wait_end)(void* context) = nullptr;
};

struct device_thread_options {
    std::uint32_t max_endpoints = 4096;
    // Stop after this many device frames (0: run until stop()). The last period is cut short to
    // land exactly on it: an offline render of exactly N seconds.
    std::uint64_t stop_after_frames = 0;
    int realtime_priority = 70; // SCHED_FIFO priority; 0: do not ask
    // A non-blocking eventfd the thread signals with every device_event it queues (a loss, a
    // format change): the control side acts on it at once instead of at its next drain. -1: none.
    int control_wake_fd = -1;
    device_thread_hooks hooks{};
};

enum class device_event_kind : std::uint8_t {
    lost,             // the device went away; the thread runs on its virtual clock
    format_changed,   // the device changed format (`format`); a new rate needs rebuilt chains
    end_of_stream,    // a capture source ran out
    finished,         // stop_after_frames reached, or end of stream: the thread has ended
    realtime_refused, // SCHED_FIFO was refused: the thread runs at normal priority
    device_dropped,   // the device itself dropped or padded `frames` frames (its I/O fell behind)
};
[[nodiscard]] const char* to_string(device_event_kind kind) noexcept;

struct device_event {
    device_event_kind kind = device_event_kind::lost;
    hns time{0};
    std::uint64_t device_position = 0;
    std::uint64_t frames = 0;
    frame_format format{};
};

class device_thread {
public:
    [[nodiscard]] static std::expected<std::unique_ptr<device_thread>, device_error>
    create(std::unique_ptr<device> dev, const device_thread_options& options = {});
    ~device_thread(); // stops and joins
    device_thread(const device_thread&) = delete;
    device_thread& operator=(const device_thread&) = delete;

    // Control side. Attach an endpoint (set_buffer done; its direction must be the device's).
    // Builds the chain here and hands it to the thread; it runs from the next period.
    [[nodiscard]] std::expected<void, device_error> attach(render_endpoint_core& endpoint, const chain_options& options = {});
    [[nodiscard]] std::expected<void, device_error> attach(capture_endpoint_core& endpoint, const chain_options& options = {});
    // What a chain for this device is built for (control side) — its format, period and the
    // gain to start from.
    struct chain_plan {
        frame_format device_format{};
        std::uint32_t period_frames = 0;
        float gain = 1.0f;
        std::string device_spec;
        bool realtime = true;
    };
    [[nodiscard]] chain_plan plan() const;
    // attach in two steps, for a control side that must not spend a resampler's priming
    // (milliseconds) on its own thread: build_chain() on any thread (no lock; the endpoint must
    // outlive it), then attach() the chain on the control side (refused when the device's format
    // changed meanwhile).
    [[nodiscard]] static std::expected<std::unique_ptr<render_chain>, device_error>
    build_chain(render_endpoint_core& endpoint, const chain_plan& plan, const chain_options& options = {});
    [[nodiscard]] static std::expected<std::unique_ptr<capture_chain>, device_error>
    build_chain(capture_endpoint_core& endpoint, const chain_plan& plan, const chain_options& options = {});
    [[nodiscard]] std::expected<void, device_error> attach(render_endpoint_core& endpoint, std::unique_ptr<render_chain> chain);
    [[nodiscard]] std::expected<void, device_error> attach(capture_endpoint_core& endpoint, std::unique_ptr<capture_chain> chain);
    // The endpoint leaves at the next period; its chain comes back through collect_retired().
    [[nodiscard]] std::error_code detach(std::uint32_t endpoint_id);
    // An attached endpoint is about to change its rate to `format`'s: a chain built for it is
    // sent now and takes over at the seam, in the period the new ring's first frames arrive.
    // Send it before posting the new ring (endpoint_core::reconfigure).
    [[nodiscard]] std::expected<void, device_error> change_rate(render_endpoint_core& endpoint, const frame_format& format);
    [[nodiscard]] std::expected<void, device_error> change_rate(capture_endpoint_core& endpoint, const frame_format& format);
    // change_rate in its three steps, as attach: plan_successor() (control side: the device's
    // plan with the endpoint's gain now), build_chain(endpoint, plan, {gain, endpoint_format})
    // (any thread), send_successor() (control side; refused when the endpoint left).
    [[nodiscard]] std::expected<chain_plan, device_error> plan_successor(std::uint32_t endpoint_id) const;
    [[nodiscard]] std::expected<void, device_error> send_successor(render_endpoint_core& endpoint, std::unique_ptr<render_chain> chain);
    [[nodiscard]] std::expected<void, device_error> send_successor(capture_endpoint_core& endpoint, std::unique_ptr<capture_chain> chain);
    // An attached endpoint's gain target.
    [[nodiscard]] std::expected<float, std::error_code> gain(std::uint32_t endpoint_id) const;
    // Sets an attached endpoint's gain (ramped on the device thread).
    [[nodiscard]] std::error_code set_gain(std::uint32_t endpoint_id, float gain);
    // An attached endpoint's level after gain.
    [[nodiscard]] std::expected<meter_reading, std::error_code> endpoint_levels(std::uint32_t endpoint_id) const;

    // Starts the device and the thread. Once.
    [[nodiscard]] std::expected<void, device_error> start();
    // Stops the thread (joins it) and the device. Idempotent.
    void stop();

    [[nodiscard]] bool try_pop_event(device_event& out) noexcept { return events_.try_pop(out); }
    // Commands sent (attach, detach) and commands the thread has applied: once applied() reaches
    // the value sent() had after a detach, the thread no longer touches that endpoint.
    [[nodiscard]] std::uint64_t commands_sent() const noexcept { return sent_.load(std::memory_order_acquire); }
    [[nodiscard]] std::uint64_t commands_applied() const noexcept { return applied_.load(std::memory_order_acquire); }
    // Frees the chains the thread let go of. Returns how many.
    std::size_t collect_retired();

    [[nodiscard]] device& dev() noexcept { return *device_; }
    [[nodiscard]] const device& dev() const noexcept { return *device_; }
    // Device frames played or recorded so far.
    [[nodiscard]] std::uint64_t frames_processed() const noexcept { return frames_.load(std::memory_order_acquire); }
    [[nodiscard]] bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
    [[nodiscard]] bool lost() const noexcept { return lost_flag_.load(std::memory_order_acquire); }
    // Periods the thread ran.
    [[nodiscard]] std::uint64_t periods() const noexcept { return periods_.load(std::memory_order_relaxed); }
    // The mix's level (render) or the device's input level (capture).
    [[nodiscard]] meter_reading levels() const noexcept { return device_meter_.read(); }
    [[nodiscard]] std::size_t attached() const;

private:
    struct command {
        enum class kind : std::uint8_t { attach_render, attach_capture, detach, successor } what = kind::detach;
        std::unique_ptr<render_chain> render;
        std::unique_ptr<capture_chain> capture;
        std::uint32_t endpoint_id = 0;
    };
    // A chain the thread let go of, on its way to be freed on the control side.
    struct retired {
        std::unique_ptr<render_chain> render;
        std::unique_ptr<capture_chain> capture;
    };
    explicit device_thread(std::unique_ptr<device> dev, const device_thread_options& options);
    template <typename Chain, typename Endpoint>
    static std::expected<std::unique_ptr<Chain>, device_error> build(Endpoint& endpoint, const chain_plan& plan, chain_options options);
    template <typename Endpoint, typename Chain>
    std::expected<void, device_error> attach_built(Endpoint& endpoint, std::unique_ptr<Chain> chain);
    template <typename Endpoint>
    std::expected<void, device_error> change_rate_of(Endpoint& endpoint, const frame_format& format);
    template <typename Endpoint, typename Chain>
    std::expected<void, device_error> send_built_successor(Endpoint& endpoint, std::unique_ptr<Chain> chain);
    [[nodiscard]] std::expected<void, device_error> send(command&& c);

    void run() noexcept;
    void apply_commands() noexcept;
    void wait() noexcept;
    [[nodiscard]] bool endpoints_ready(std::uint32_t frames) noexcept;
    // Offline: tells every endpoint's engine whether the device waits for it. rt-safe
    void set_waiting(bool waiting) noexcept;
    void render_period(std::uint32_t frames) noexcept;
    void capture_period(std::uint32_t frames) noexcept;
    void enter_lost(device_event_kind why) noexcept;
    // Replaces chains that handed over at a rate seam by their successors. rt-safe
    void promote_successors() noexcept;
    void signal_engines() noexcept;
    void emit(device_event_kind kind, std::uint64_t frames = 0) noexcept;

    std::unique_ptr<device> device_;
    device_thread_options options_;
    device_direction direction_;
    // Our own SPSC queues rather than moodycamel's ReaderWriterQueue: its ordering rests on
    // std::atomic_thread_fence, which ThreadSanitizer cannot see (g++ refuses it under -Werror).
    spsc_queue<command> commands_;    // control → thread (control callers serialised by control_mutex_)
    spsc_queue<retired> retired_;     // thread → control
    spsc_queue<device_event> events_; // thread → control
    std::mutex control_mutex_; // serialises control-side callers; never taken by the thread

    // Thread-owned.
    std::vector<std::unique_ptr<render_chain>> render_chains_;   // reserved to max_endpoints
    std::vector<std::unique_ptr<capture_chain>> capture_chains_; // reserved to max_endpoints
    std::vector<float> mix_;
    std::vector<float> scratch_;
    std::vector<std::byte> device_buffer_;
    virtual_clock lost_clock_;
    bool lost_ = false;
    std::uint64_t lost_base_position_ = 0;
    device_timing last_timing_{};
    device_status last_status_ = device_status::ok;
    std::uint64_t reported_device_drops_ = 0;
    int offline_periods_unsignalled_ = 0; // offline: periods since the engines were last woken
    int wake_fd_ = -1;
    // Signalled by send() while the device is lost: the thread, waiting on its virtual clock,
    // applies commands at once (owned: closed by the destructor, after the thread ended).
    int command_fd_ = -1;
    // Closes wake_fd_ once the thread and every endpoint that was given it are gone: an engine
    // may still signal it after its endpoint left (endpoint_core::hold).
    std::shared_ptr<const void> wake_fd_owner_;
    meter device_meter_;

    // Control-side bookkeeping of attached chains (for set_gain / levels), guarded by control_mutex_.
    std::vector<chain_base*> attached_;

    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> finished_{false};
    std::atomic<bool> lost_flag_{false};
    std::atomic<std::uint64_t> frames_{0};
    std::atomic<std::uint64_t> periods_{0};
    std::atomic<std::uint64_t> sent_{0};
    std::atomic<std::uint64_t> applied_{0};
    bool started_ = false;
};

} // namespace ae::pipeline
