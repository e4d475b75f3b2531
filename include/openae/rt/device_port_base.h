// openae — what render and capture device ports share: the device thread's side of an endpoint
// (timing publication, glitch reports, reading the control side's state).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/endpoint_link.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/monotonic_clock.h>

#include <cstdint>

namespace ae {

class device_port_base {
public:
    device_port_base(const device_port_base&) = delete;
    device_port_base& operator=(const device_port_base&) = delete;

    // The device reached `device_position` frames (played or captured) at `time`, known within
    // `device_error` (a network path's jitter; 0 for a local device). Runs the position clock's
    // rate estimator and publishes a snapshot to the engine.
    // rt-safe: wait-free
    void observe(std::uint64_t device_position, hns time, hns device_error = hns{0}) noexcept {
        link_.observe(device_position, time, gap_count_, device_error);
    }
    // Marks a gap in the stream (silence played, frames lost, a clock jump): the engine's next
    // position record says `discontinuous`.
    // rt-safe: wait-free
    void mark_gap() noexcept { ++gap_count_; }
    // Queues a glitch record for the control thread.
    // rt-safe: wait-free
    void report(glitch_kind kind, std::uint64_t stream_position, std::uint64_t frames) noexcept {
        side_.glitches.report(
            glitch_record{kind, link_.id(), segment_ ? segment_->epoch : 0, stream_position, frames, monotonic_now()});
    }
    // Signals the engine's event (event-driven engines wake once per device period).
    // rt-safe: wait-free (a non-blocking eventfd write)
    void signal_engine() noexcept { signal_eventfd(engine_event_fd()); }
    // The engine's eventfd (-1: none), for a device thread that signals each fd once per period.
    [[nodiscard]] int engine_event_fd() const noexcept { return link_.engine_event_fd(); }
    // Registers the eventfd (non-blocking) an offline device waits on; -1 removes it. The
    // engine's processing_complete() signals it.
    void set_wake_fd(int fd) noexcept { link_.set_wake_fd(fd); }
    // The offline device is about to wait for the engine (true), or has stopped waiting. A
    // seq_cst exchange here and in the engine's processing_complete(): either the device sees
    // the engine's frames when it checks again, or the engine sees this flag and signals (and
    // the device's wait is bounded anyway: a lost wake-up costs one poll timeout, 20 ms).
    // rt-safe: wait-free
    void set_device_waiting(bool waiting) noexcept { link_.set_waiting(waiting); }
    // Counts frames a reset discarded on the device side (what a chain's stages still held).
    // rt-safe: wait-free
    void add_discarded(std::uint64_t frames) noexcept { link_.add_discarded(frames); }
    // Restarts the rate estimator (new device, new rate).
    // rt-safe: wait-free
    void restart_clock(const rate_estimator::options& opts) noexcept { link_.restart_clock(opts); }

    [[nodiscard]] bool running() const noexcept { return link_.running(); }
    [[nodiscard]] bool pin_active() const noexcept { return link_.pin_active(); }
    // The segment (format, epoch) this side is working in; nullptr before the buffer exists.
    [[nodiscard]] const ring_segment* segment() const noexcept { return segment_; }
    [[nodiscard]] std::uint32_t gap_count() const noexcept { return gap_count_; }
    [[nodiscard]] std::uint32_t endpoint_id() const noexcept { return link_.id(); }

protected:
    explicit device_port_base(endpoint_link& link) noexcept : link_(link.take_device_view()), side_(link.take_device_side()) {}
    ~device_port_base() = default;

    [[nodiscard]] bool attach() noexcept {
        if (segment_) return true;
        segment_ = link_.initial_segment();
        return segment_ != nullptr;
    }

    endpoint_link::device_view link_; // this side's operations on the shared state
    side_ends side_;
    ring_segment* segment_ = nullptr;
    std::uint32_t gap_count_ = 0;
};

} // namespace ae

#pragma GCC visibility pop
