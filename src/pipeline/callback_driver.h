// The handshake between a sound server's real-time callback that steps a device loop (JACK's
// process callback, PipeWire's data thread) and openae's own device thread standing by.
//
// A self-driven device owns one callback_driver. The server's thread brackets each cycle with
// begin_cycle()/end_cycle() and steps the loop only when begin_cycle() says it may; openae's
// device thread sits in stand_by() until the server's thread will never step the loop again —
// the server went away (gone), the period or rate changed under the chains (reshaped), the loop
// said done (ended), or the loop is being stopped (interrupted) — and then owns the loop.
// Guarantee: the loop never has two drivers. After stand_by() returns, a callback either saw
// stop_driving_ and left the loop alone, or was already inside and has finished (Dekker's
// handshake on two seq_cst flags; each step is bounded).
#pragma once

#include <openae/pipeline/device.h>
#include <openae/pipeline/device_loop.h>
#include <openae/rt/event_signal.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <ctime>

namespace ae::pipeline {

class callback_driver {
public:
    callback_driver() : wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
    ~callback_driver() {
        if (wake_fd_ >= 0) ::close(wake_fd_);
    }
    callback_driver(const callback_driver&) = delete;
    callback_driver& operator=(const callback_driver&) = delete;

    // Control side: false when the eventfd could not be made (the device cannot be opened).
    [[nodiscard]] bool ok() const noexcept { return wake_fd_ >= 0; }

    // Control side, from start(): callbacks may step the loop from now on.
    void allow() noexcept { allowed_.store(true, std::memory_order_release); }

    // Server's thread, at the start of a cycle: true when this cycle steps the loop.
    // rt-safe: wait-free
    [[nodiscard]] bool begin_cycle() noexcept {
        cycles_.fetch_add(1, std::memory_order_relaxed);
        in_callback_.store(true, std::memory_order_seq_cst);
        return allowed_.load(std::memory_order_acquire) && !stop_driving_.load(std::memory_order_seq_cst);
    }
    // Server's thread, at the end of a cycle (whatever begin_cycle() said).
    // rt-safe: wait-free
    void end_cycle() noexcept {
        // release: the loop's state is the standby thread's once it sees this.
        in_callback_.store(false, std::memory_order_release);
    }

    // Server's thread, between begin_cycle() and end_cycle(): one period of the loop. A period
    // whose status is period_changed (the chains no longer fit) or a loop that says done hands
    // the loop back: this thread steps it no more.
    // rt-safe: bounded
    void step(device_loop& loop, const device_period& period) noexcept {
        const bool done = loop.step(period) == device_loop::step_result::done;
        if (period.status == device_status::period_changed) {
            hand_back(reshaped_);
        } else if (done) {
            hand_back(ended_);
        }
    }
    // Any thread: the server went away (shut down, stream error, disconnected).
    // rt-safe: wait-free
    void gone() noexcept {
        gone_.store(true, std::memory_order_release);
        signal_eventfd(wake_fd_);
    }
    // rt-safe: wait-free
    [[nodiscard]] bool is_gone() const noexcept { return gone_.load(std::memory_order_acquire); }
    // Any thread: ends stand_by() with `interrupted`.
    // rt-safe: wait-free
    void interrupt() noexcept {
        interrupted_.store(true, std::memory_order_release);
        signal_eventfd(wake_fd_);
    }

    // openae's device thread: returns once the server's thread will never step the loop again.
    // Two looks `watchdog_ms` apart without a cycle while allowed: the server is gone (stopped,
    // hung) for openae — its endpoints must not wait for it.
    // rt-safe: waits for the device only
    [[nodiscard]] drive_end stand_by(int watchdog_ms) noexcept {
        drive_end end = drive_end::interrupted;
        std::uint64_t cycles_seen = cycles_.load(std::memory_order_relaxed);
        int silent_turns = 0;
        for (;;) {
            pollfd p{wake_fd_, POLLIN, 0};
            if (::poll(&p, 1, watchdog_ms) > 0) {
                std::uint64_t count = 0;
                [[maybe_unused]] const auto got = ::read(wake_fd_, &count, sizeof count);
            } else if (const std::uint64_t cycles = cycles_.load(std::memory_order_relaxed); cycles != cycles_seen) {
                cycles_seen = cycles;
                silent_turns = 0;
            } else if (++silent_turns >= 2) {
                gone_.store(true, std::memory_order_release);
            }
            if (gone_.load(std::memory_order_acquire) || reshaped_.load(std::memory_order_acquire)) {
                end = drive_end::lost;
                break;
            }
            if (ended_.load(std::memory_order_acquire)) {
                end = drive_end::ended;
                break;
            }
            if (interrupted_.load(std::memory_order_acquire)) break;
        }
        stop_driving_.store(true, std::memory_order_seq_cst);
        for (int turns = 0; turns < 10'000 && in_callback_.load(std::memory_order_seq_cst); ++turns) {
            const timespec pause{0, 100'000};
            ::nanosleep(&pause, nullptr);
        }
        return end;
    }

private:
    void hand_back(std::atomic<bool>& why) noexcept { // rt-safe: wait-free
        stop_driving_.store(true, std::memory_order_relaxed); // this thread's own flag
        why.store(true, std::memory_order_release);
        signal_eventfd(wake_fd_);
    }

    int wake_fd_;
    // order: seq_cst — Dekker's handshake between begin_cycle() and stand_by() (see there).
    std::atomic<bool> in_callback_{false};
    std::atomic<bool> stop_driving_{false};
    // order: release/acquire — what set it is seen by stand_by() (and callbacks) with it.
    std::atomic<bool> allowed_{false};
    std::atomic<bool> gone_{false};
    std::atomic<bool> reshaped_{false};
    std::atomic<bool> ended_{false};
    std::atomic<bool> interrupted_{false};
    // order: relaxed — a count the watchdog compares, nothing published with it.
    std::atomic<std::uint64_t> cycles_{0};
};

// A device whose periods a sound server's real-time callback runs (JACK's process callback,
// PipeWire's data thread): the callback hands each cycle to its callback_driver's step(); openae's
// device thread stands by in wait_driven() and carries the loop on once the server stops calling.
// Cycles may change length while it runs, up to max_cycle_frames, without a rebuild.
class callback_device : public device {
public:
    bool self_driven() const noexcept override { return true; }
    // rt-safe: wait-free
    [[nodiscard]] std::uint32_t max_period_frames() const noexcept override { return std::max(period_frames_, max_cycle_frames); }
    void drive(device_loop& loop, const device_thread_hooks& hooks) noexcept override {
        loop_ = &loop;
        hooks_ = hooks;
    }
    // Reached only once the server has stopped calling: the loop carries on on its virtual clock.
    [[nodiscard]] device_status wait_period() noexcept override { return device_status::lost; } // rt-safe: wait-free
    [[nodiscard]] drive_end wait_driven() noexcept override { return driver_.stand_by(watchdog_ms); } // rt-safe: waits for the device only
    void interrupt_driving() noexcept override { driver_.interrupt(); } // rt-safe: wait-free

protected:
    using device::device;
    // The longest cycle a running server may switch to that the loop takes without a rebuild.
    static constexpr std::uint32_t max_cycle_frames = 4096;
    // The standby thread looks at the cycle count this often; two looks without a cycle: gone.
    static constexpr int watchdog_ms = 500;

    device_loop* loop_ = nullptr;   // set by drive(), before the callbacks may step it
    device_thread_hooks hooks_{};
    callback_driver driver_;
};

} // namespace ae::pipeline
