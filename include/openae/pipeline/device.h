// openae — device: what a device thread drives, one period at a time.
//
// A device has one direction (render: it plays frames; capture: it records them), a native
// format and a period. The device thread calls, in a loop: `wait_period()` (its one wait point),
// then `play` or `record` for `period_frames()` frames, then reads `timing()`. Nothing but
// `wait_period` may wait; nothing on the device thread may allocate, lock or log — a device
// that needs slow I/O (a file) does it on its own non-RT thread behind a ring.
// `start`/`stop` run on the control side, before and after the device thread's loop.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_error.h>
#include <openae/pipeline/device_hooks.h>
#include <openae/rt/types.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>

namespace ae::pipeline {

enum class device_status : std::uint8_t {
    ok,
    lost,           // the device went away (unplugged, server gone); no more periods from it
    format_changed, // the device now runs in a new format(): the thread must adapt before playing
    end_of_stream,  // a source has nothing more (the frames of this period are silence-padded)
    period_changed, // the device's period changed beyond what the chains were built for (its rate,
                    // or a period over max_period_frames()): they must be rebuilt before it plays again
};

class device_loop;

// Why a self-driven device's own thread stopped stepping its loop.
enum class drive_end : std::uint8_t {
    lost,        // the device went away or changed its period: openae's thread carries the loop on
    interrupted, // interrupt_driving(): the loop is being stopped
    ended,       // the loop's step said done (stop_after_frames)
};

// Where the device was at one instant: `position` frames played or recorded at `time`
// (CLOCK_MONOTONIC; offline devices give stream time). `discontinuity`: the device's clock
// jumped or it skipped frames since the previous period. `time_error`: how far `time` may be off
// for reasons the device knows (a network device: the path's jitter); it is added to the
// position record's `time_error`.
struct device_timing {
    std::uint64_t position = 0;
    hns time{0};
    bool discontinuity = false;
    hns time_error{0};
};

class device {
public:
    virtual ~device() = default;
    device(const device&) = delete;
    device& operator=(const device&) = delete;

    [[nodiscard]] const std::string& spec() const noexcept { return spec_; }
    [[nodiscard]] endpoint_direction direction() const noexcept { return direction_; }
    // The device's native format; changes only when wait_period() says format_changed.
    [[nodiscard]] const frame_format& format() const noexcept { return format_; }
    [[nodiscard]] std::uint32_t period_frames() const noexcept { return period_frames_; }
    // The longest period the device may switch to while it runs (a JACK buffer-size or PipeWire
    // quantum change, handed to the loop in device_period::frames): the loop's buffers and the
    // chains are sized for it, so such a change needs no rebuild. A longer one is a loss.
    // Never less than period_frames().
    // rt-safe: wait-free
    [[nodiscard]] virtual std::uint32_t max_period_frames() const noexcept { return period_frames_; }
    // Paced in real time; false: offline, as fast as the CPU and the endpoints allow.
    [[nodiscard]] bool realtime() const noexcept { return realtime_; }
    // The device's own latency (frames it holds between play() and the listener).
    [[nodiscard]] virtual hns latency() const noexcept;

    // Control side, before start(): the SCHED_FIFO priority for the device's own helper threads
    // (a network device's socket thread), which feed or drain what the device thread plays or
    // records and so must not wait behind the machine's ordinary work. 0: they do not ask.
    void set_helper_priority(int priority) noexcept { helper_priority_ = priority; }
    [[nodiscard]] int helper_priority() const noexcept { return helper_priority_; }

    // Control side, before the device thread starts: opens files, starts clocks.
    [[nodiscard]] virtual std::expected<void, device_error> start() { return {}; }
    // Control side, after the device thread ended: flushes and closes.
    virtual void stop() noexcept {}

    // Device thread: waits until the device wants the next period. The one wait point.
    // rt-safe: waits for the device only
    [[nodiscard]] virtual device_status wait_period() noexcept = 0;
    // Device thread, render: `frames` frames in format().
    // rt-safe: wait-free
    [[nodiscard]] virtual device_status play(const std::byte* data, std::uint32_t frames) noexcept;
    // Device thread, capture: fills `frames` frames in format(); silence where it has none.
    // rt-safe: wait-free
    [[nodiscard]] virtual device_status record(std::byte* data, std::uint32_t frames) noexcept;
    // Device thread, capture: how many of the frames the last record() filled are real (fewer
    // only with end_of_stream: the rest is padding the stream does not contain).
    // rt-safe: wait-free
    [[nodiscard]] virtual std::uint32_t recorded_frames() const noexcept { return last_record_frames_; }
    // Device thread: the timing of the period just waited for.
    // rt-safe: wait-free
    [[nodiscard]] virtual device_timing timing() const noexcept = 0;

    // Control side, any time: a fault to inject (faulty devices only; `bad_argument` elsewhere).
    [[nodiscard]] virtual std::expected<void, device_error> inject(std::string_view fault);

    // A self-driven device runs its periods on a real-time thread of its own (JACK's process
    // callback, PipeWire's data thread), calling the loop's step() from there. openae's device
    // thread then only stands by: it waits in wait_driven() until that thread will never step the
    // loop again, and carries the loop on from there (on its virtual clock when the device is lost).
    [[nodiscard]] virtual bool self_driven() const noexcept { return false; }
    // Control side, before start(): the loop the device's thread steps, and the hooks it calls
    // around each of its callbacks (a test's RT-safety harness).
    virtual void drive(device_loop& loop, const device_thread_hooks& hooks) noexcept {
        (void)loop;
        (void)hooks;
    }
    // openae's device thread (self-driven devices): returns once the device's own thread will
    // never step the loop again.
    // rt-safe: waits for the device only
    [[nodiscard]] virtual drive_end wait_driven() noexcept { return drive_end::interrupted; }
    // Any thread: ends wait_driven() (with `interrupted`).
    // rt-safe: wait-free
    virtual void interrupt_driving() noexcept {}

    // Changes whenever latency() does (a JACK port latency callback, an RTP round trip measured):
    // the device loop reports it as a `latency_changed` event, and the control side republishes
    // its endpoints' latency then.
    // rt-safe: wait-free
    [[nodiscard]] virtual std::uint64_t latency_generation() const noexcept { return 0; }

    // Frames the device itself had to drop or pad (its I/O could not keep up); device thread
    // reads it to report glitches.
    [[nodiscard]] virtual std::uint64_t device_dropped_frames() const noexcept { return 0; }

protected:
    device(std::string spec, endpoint_direction direction, const frame_format& format, std::uint32_t period_frames,
           bool realtime)
        : spec_(std::move(spec)), direction_(direction), format_(format), period_frames_(period_frames),
          realtime_(realtime) {}

    std::string spec_;
    endpoint_direction direction_;
    frame_format format_;
    std::uint32_t period_frames_;
    bool realtime_;
    std::uint32_t last_record_frames_ = 0; // set by record()
    int helper_priority_ = 0;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
