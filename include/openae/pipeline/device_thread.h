// openae — a device with its loop and control side, and the thread of openae's own that can
// drive it.
//
// Render: wait for the device → each chain pulls its endpoint's frames through its stages → mix
// → the device's sample type → the device. Capture is the mirror.
//
// driven_device: the device, its device_loop (the real-time side) and its device_control (the
// control side: one control thread, no lock), wired through SPSC queues. Chains arrive built
// (attach) and leave whole (detach → retired → freed by collect_retired()); what happens to the
// device comes back as device_events. Whoever owns the device's periods calls loop().step(): a
// backend's own real-time callback (JACK, PipeWire), or a test stepping time itself.
//
// device_thread: a driven_device whose periods run on a thread of openae's own ("ae-rt-dev-<kind>",
// SCHED_FIFO when the system allows it; an event says when it does not), which waits in one place —
// loop().wait(), for the device — and otherwise never blocks, allocates or logs. When the device is
// lost, the loop carries on with a virtual clock of the same rate and period: the engines' passes
// never stall, positions keep advancing, and every frame that could not reach the device is counted
// in a device_lost glitch record of its endpoint.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_control.h>
#include <openae/pipeline/device_loop.h>

#include <memory>
#include <thread>

namespace ae::pipeline {

class driven_device {
public:
    [[nodiscard]] static std::expected<std::unique_ptr<driven_device>, device_error>
    create(std::unique_ptr<device> dev, const device_thread_options& options = {});
    ~driven_device(); // frees what the loop retired; the loop must not run any more
    driven_device(const driven_device&) = delete;
    driven_device& operator=(const driven_device&) = delete;

    // The one thread that runs the device's periods.
    [[nodiscard]] device_loop& loop() noexcept { return *loop_; }
    [[nodiscard]] const device_loop& loop() const noexcept { return *loop_; }
    // The control thread.
    [[nodiscard]] device_control& control() noexcept { return *control_; }
    [[nodiscard]] const device_control& control() const noexcept { return *control_; }
    [[nodiscard]] device& dev() noexcept { return *device_; }
    [[nodiscard]] const device& dev() const noexcept { return *device_; }

private:
    driven_device(std::unique_ptr<device> dev, const device_thread_options& options);

    std::unique_ptr<device> device_;
    // Our own SPSC queues rather than moodycamel's ReaderWriterQueue: its ordering rests on
    // std::atomic_thread_fence, which ThreadSanitizer cannot see (g++ refuses it under -Werror).
    spsc_queue<device_command> commands_; // control → loop
    spsc_queue<retired_chain> retired_;   // loop → control
    spsc_queue<device_event> events_;     // loop → control
    // Signalled by the control side while the device is lost (owned: closed by the destructor).
    int command_fd_ = -1;
    // Offline devices: engines wake the loop with it. Closed once the device and every endpoint
    // that was given it are gone: an engine may still signal it after its endpoint left
    // (endpoint_core::hold).
    int engine_wake_fd_ = -1;
    std::shared_ptr<const void> engine_wake_fd_owner_;
    std::unique_ptr<device_loop> loop_;
    std::unique_ptr<device_control> control_;
};

class device_thread {
public:
    [[nodiscard]] static std::expected<std::unique_ptr<device_thread>, device_error>
    create(std::unique_ptr<device> dev, const device_thread_options& options = {});
    ~device_thread(); // stops and joins
    device_thread(const device_thread&) = delete;
    device_thread& operator=(const device_thread&) = delete;

    // Starts the device and the thread. Once.
    [[nodiscard]] std::expected<void, device_error> start();
    // Stops the thread (joins it) and the device. Idempotent.
    void stop();
    // Stepped (options.stepped): one period — the loop's wait (which does not sleep under a
    // virtual time) and its step — on the caller's thread. False once the loop has ended, or
    // when not started or not stepped.
    bool step_once() noexcept;

    [[nodiscard]] device_control& control() noexcept { return driven_->control(); }
    [[nodiscard]] const device_control& control() const noexcept { return driven_->control(); }
    [[nodiscard]] const device_loop& loop() const noexcept { return driven_->loop(); }
    [[nodiscard]] device& dev() noexcept { return driven_->dev(); }
    [[nodiscard]] const device& dev() const noexcept { return driven_->dev(); }

    // What the loop has done (any thread).
    [[nodiscard]] std::uint64_t frames_processed() const noexcept { return loop().frames_processed(); }
    [[nodiscard]] bool finished() const noexcept { return loop().finished(); }
    [[nodiscard]] bool lost() const noexcept { return loop().lost(); }
    [[nodiscard]] std::uint64_t periods() const noexcept { return loop().periods(); }
    [[nodiscard]] loop_load::reading load() const noexcept { return loop().load(); }
    [[nodiscard]] meter_reading levels() const noexcept { return loop().levels(); }

private:
    device_thread(std::unique_ptr<driven_device> driven, const device_thread_options& options)
        : driven_(std::move(driven)), options_(options) {}
    void run() noexcept;

    std::unique_ptr<driven_device> driven_;
    device_thread_options options_;
    std::thread thread_;
    bool started_ = false;
    bool stepped_running_ = false; // stepped: started and not yet ended or stopped
    bool stepped_stopped_ = false;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
