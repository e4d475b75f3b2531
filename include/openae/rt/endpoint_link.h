// openae — endpoint_link: what the three sides of one endpoint share.
//
// An endpoint has three sides: the engine's RT thread (the RT view), the device thread (the device
// port) and the control thread (the core). They share only this block: atomics, the position
// clock, and SPSC queues, each with one named producer and one named consumer. Ring memory travels
// between them in `ring_segment`s, one per format epoch, as move-only handles: the side that
// reads a segment last owns it and sends it to the control thread to be freed.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/event_signal.h>
#include <openae/rt/frame_ring.h>
#include <openae/rt/glitch.h>
#include <openae/rt/position_clock.h>
#include <openae/rt/spsc_queue.h>
#include <openae/rt/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

namespace ae {

// The ring of one format epoch, with the format its frames are in.
struct ring_segment {
    frame_ring ring;
    frame_ring_writer writer;
    frame_ring_reader reader;
    frame_format format{};
    std::uint32_t frames_per_packet = 0;
    std::uint32_t epoch = 0;
    // Capture: where a short read is padded with silence (frames_per_packet frames).
    std::unique_ptr<std::byte[]> scratch;

    // Builds a segment holding `buffer_frames` frames of `format`. Allocates; control thread only.
    [[nodiscard]] static std::expected<std::unique_ptr<ring_segment>, std::error_code>
    create(const frame_format& format, std::uint32_t frames_per_packet, std::uint64_t buffer_frames,
           std::uint32_t epoch);
};

// A new segment handed from the writing side to the reading side: the reader switches to it once
// it has read everything before `start_position`.
struct segment_handoff {
    std::unique_ptr<ring_segment> segment;
    std::uint64_t start_position = 0;
};

// A command for the side that applies reconfigurations (render: the RT view at processing_complete;
// capture: the device port at its period boundary).
struct reconfigure_command {
    std::unique_ptr<ring_segment> segment; // the new epoch's ring and format
    bool rebase_device_position = false;   // the device position had to re-base: flag discontinuous
};

// What retires to the control thread.
struct retired_object {
    std::unique_ptr<ring_segment> segment;
};

// A consumer that runs on a capture endpoint's device thread itself, right after each period the
// device wrote, instead of on an engine's thread (a bridge: no thread hop between two devices).
// Everything it does must keep the device thread's rules.
class inline_consumer {
public:
    // rt-safe: bounded (the implementation's contract)
    virtual void after_device_period() noexcept = 0;

protected:
    ~inline_consumer() = default;
};

// The queue ends one side of an endpoint holds; endpoint_link hands each bundle out once.
//
// Every side that runs (the engine's RT view, the device port) reports glitches and retires the
// segments it is done with.
struct side_ends {
    glitch_reporter glitches;              // → control
    spsc_producer<retired_object> retired; // → control
};
// The side that writes the ring (render: the RT view; capture: the device port) applies the
// reconfigurations and leads the reader from segment to segment.
struct writer_ends {
    spsc_consumer<reconfigure_command> reconfigures; // control → writer
    spsc_producer<segment_handoff> handoffs;         // writer → reader
};
// The side that reads the ring follows the writer's segments.
struct reader_ends {
    spsc_consumer<segment_handoff> handoffs; // writer → reader
};
// The control thread: posts reconfigurations, frees what the sides retire, collects glitches.
struct control_ends {
    spsc_producer<reconfigure_command> reconfigures;
    spsc_consumer<retired_object> rt_retired;
    spsc_consumer<retired_object> device_retired;
    glitch_collector rt_glitches;
    glitch_collector device_glitches;
};

// The shared state of one endpoint: atomics, the position clock and six queues, none of them open to
// anyone. Each side takes, once, the ends of its queues (take_*) and a view of the shared state that
// holds exactly the operations it is allowed — engine_view for the engine's RT view, device_view for
// the device port, control_view for the control thread — with each atomic's memory order inside the
// operation that uses it. A second take gives empty ends and an empty view.
class endpoint_link {
public:
    class view_base;
    class engine_view;
    class device_view;
    class control_view;

    endpoint_link(std::uint32_t endpoint_id, std::size_t queue_capacity);
    endpoint_link(const endpoint_link&) = delete;
    endpoint_link& operator=(const endpoint_link&) = delete;

    // The ends, each bundle once (a second call gives empty ends). Control thread, before the
    // sides run.
    [[nodiscard]] side_ends take_rt_side() noexcept { return std::move(rt_side_); }
    [[nodiscard]] side_ends take_device_side() noexcept { return std::move(device_side_); }
    [[nodiscard]] writer_ends take_writer() noexcept { return std::move(writer_); }
    [[nodiscard]] reader_ends take_reader() noexcept { return std::move(reader_); }
    [[nodiscard]] control_ends take_control() noexcept { return std::move(control_); }
    // The views, each once.
    [[nodiscard]] engine_view take_engine_view() noexcept;
    [[nodiscard]] device_view take_device_view() noexcept;
    [[nodiscard]] control_view take_control_view() noexcept;

    const std::uint32_t id;

private:
    // The reading side (render: the device port; capture: the RT view) applied reset `generation`,
    // discarding `discarded` frames.
    // rt-safe: wait-free
    void acknowledge_reset(std::uint32_t generation, std::uint64_t discarded) noexcept {
        // relaxed: a statistic, ordered by the acknowledgement below.
        discarded_frames_.fetch_add(discarded, std::memory_order_relaxed);
        // release: the discard is done before the control side sees it acknowledged.
        reset_applied_.store(generation, std::memory_order_release);
    }

    // Each atomic's `order:` says why its stores and loads are ordered as they are.
    // control → everyone.
    // order: release/acquire — what start() set up (positions, a reset) is seen with `true`.
    std::atomic<bool> running_{false};
    // order: release/acquire — the segment is built before its pointer is seen. Written once.
    std::atomic<ring_segment*> initial_segment_{nullptr};
    // The engine's event: pulse() and the device's period end.
    // order: release/acquire — the descriptor is open before anyone who reads it signals it.
    std::atomic<int> event_fd_{-1};
    // Set by an offline device: processing_complete() wakes it.
    // order: release/acquire — as event_fd.
    std::atomic<int> device_wake_fd_{-1};
    // device → RT: the offline device waits for this endpoint (processing_complete() signals
    // device_wake_fd only then: a signal per pass woke nobody and cost a syscall).
    // order: seq_cst exchanges — the device's "I wait" and the engine's "I wrote" must not both be
    // missed (a store-load pair: Dekker's case, which acquire/release does not order).
    std::atomic<bool> device_waiting_{false};
    // Bumped by control; the reading side discards.
    // order: release/acquire — the reset's request is seen with its generation.
    std::atomic<std::uint32_t> reset_generation_{0};
    // the reading side → control: the last reset generation it applied, and the frames resets
    // discarded (asked for by the host: not glitches).
    // order: release/acquire — the discard (and discarded_frames) is done before it is acknowledged.
    std::atomic<std::uint32_t> reset_applied_{0};
    // order: relaxed — a statistic, read after reset_applied's acquire.
    std::atomic<std::uint64_t> discarded_frames_{0};
    // control → device/RT sides: an eventfd that wakes the control thread (a reset applied);
    // -1: none.
    // order: release/acquire — as event_fd.
    std::atomic<int> control_wake_fd_{-1};
    // RT → device: the engine's pin state (the device may pause its side while inactive).
    // order: release/acquire — what the engine wrote before it went inactive is seen with it.
    std::atomic<bool> pin_active_{true};
    // the reading side → the writing side: frames consumed so far, across segments.
    // order: release/acquire — the reader is done with the frames before the writer reuses them.
    std::atomic<std::uint64_t> consumer_position_{0};
    // render, device → RT: frames a successor chain has read from the next segment ahead of the
    // seam (consumer_position is still in the old one); 0 once the reader is past the seam.
    // order: release/acquire — ordered with the segment switch it accompanies (the padding
    // across a seam reads it before consumer_position).
    std::atomic<std::uint64_t> read_ahead_{0};
    // control → device (capture): runs after every device period that wrote this endpoint.
    // Set before the endpoint starts; it must outlive the endpoint's last device period.
    // order: release/acquire — the consumer is built before the device thread calls it.
    std::atomic<inline_consumer*> consumer_{nullptr};
    // device → RT (render): when the device last read the ring (monotonic_now at its period's
    // start, in hns) — a bridge's pump takes the reads as continuous from it.
    // order: relaxed — a time stamp; a read that pairs it with the padding of the period before
    // is off by one period once, in a figure averaged over seconds.
    std::atomic<std::int64_t> device_read_time_{0};
    // RT → control: the padding the engine's last current_padding() saw (sampled for statistics).
    // order: relaxed — a sample: nothing is read because of it.
    std::atomic<std::uint64_t> last_padding_{0};

    position_clock clock_; // device writes, RT and control read

    glitch_queue rt_glitches_;                     // RT → control
    glitch_queue device_glitches_;                 // device → control
    spsc_queue<reconfigure_command> reconfigures_; // control → writer
    spsc_queue<segment_handoff> handoffs_;         // writer → reader
    spsc_queue<retired_object> rt_retired_;        // RT → control
    spsc_queue<retired_object> device_retired_;    // device → control
    // The queues' ends, split at construction, until their side takes them.
    side_ends rt_side_;
    side_ends device_side_;
    writer_ends writer_;
    reader_ends reader_;
    control_ends control_;
    bool engine_view_taken_ = false;
    bool device_view_taken_ = false;
    bool control_view_taken_ = false;
};

// What the three views share: the link, held by one owner at a time (moved, never copied; a view
// moved from, or taken a second time, is empty).
class endpoint_link::view_base {
public:
    view_base(view_base&& other) noexcept : link_(std::exchange(other.link_, nullptr)) {}
    view_base& operator=(view_base&& other) noexcept {
        link_ = std::exchange(other.link_, nullptr);
        return *this;
    }
    [[nodiscard]] explicit operator bool() const noexcept { return link_ != nullptr; }
    [[nodiscard]] std::uint32_t id() const noexcept { return link_->id; } // rt-safe: wait-free

protected:
    explicit view_base(endpoint_link* link) noexcept : link_(link) {}
    ~view_base() = default;
    endpoint_link* link_;
};

// The engine's RT view's operations on the shared state.
class endpoint_link::engine_view : public endpoint_link::view_base {
public:
    // rt-safe: wait-free (all of them)
    // The first segment, once the control side published it (acquire: it was built first).
    [[nodiscard]] ring_segment* initial_segment() const noexcept { return link_->initial_segment_.load(std::memory_order_acquire); }
    // acquire: start() happens after everything the control thread prepared for it.
    [[nodiscard]] bool running() const noexcept { return link_->running_.load(std::memory_order_acquire); }
    // acquire: the fd was set up before it was published.
    [[nodiscard]] int event_fd() const noexcept { return link_->event_fd_.load(std::memory_order_acquire); }
    // release: what the engine did before going inactive is visible to the device side.
    void set_pin_active(bool active) noexcept { link_->pin_active_.store(active, std::memory_order_release); }
    // rt-safe: lock-free (a seqlock read)
    [[nodiscard]] bool read_clock(clock_snapshot& out) const noexcept { return link_->clock_.try_read(out); }
    // A sample for statistics (relaxed: nothing is read because of it).
    void sample_padding(std::uint64_t padding) noexcept { link_->last_padding_.store(padding, std::memory_order_relaxed); }
    // Capture (the reading side). relaxed: a hint; the caller re-reads with reset_generation().
    [[nodiscard]] bool reset_pending(std::uint32_t seen) const noexcept {
        return link_->reset_generation_.load(std::memory_order_relaxed) != seen;
    }
    // acquire: pairs with the control thread's bump (made after it stopped the endpoint).
    [[nodiscard]] std::uint32_t reset_generation() const noexcept { return link_->reset_generation_.load(std::memory_order_acquire); }
    void acknowledge_reset(std::uint32_t generation, std::uint64_t discarded) noexcept { link_->acknowledge_reset(generation, discarded); }
    // Capture: frames consumed so far (release: read before their room is reused).
    void publish_consumed(std::uint64_t position) noexcept { link_->consumer_position_.store(position, std::memory_order_release); }
    // Render: what the device side has consumed, across a seam (read_ahead first: see its order).
    [[nodiscard]] std::uint64_t read_ahead() const noexcept { return link_->read_ahead_.load(std::memory_order_acquire); }
    [[nodiscard]] std::uint64_t consumed() const noexcept { return link_->consumer_position_.load(std::memory_order_acquire); }
    [[nodiscard]] hns device_read_time() const noexcept { return hns{link_->device_read_time_.load(std::memory_order_relaxed)}; }
    // Wakes an offline device that waits for this endpoint (seq_cst: see device_waiting's order).
    // rt-safe: wait-free (one non-blocking write, only when the device waits)
    void wake_waiting_device() noexcept {
        if (link_->device_waiting_.load(std::memory_order_relaxed) && link_->device_waiting_.exchange(false, std::memory_order_seq_cst))
            signal_eventfd(link_->device_wake_fd_.load(std::memory_order_acquire));
    }

private:
    friend class endpoint_link;
    explicit engine_view(endpoint_link* link) noexcept : view_base(link) {}
};

// The device port's operations on the shared state.
class endpoint_link::device_view : public endpoint_link::view_base {
public:
    // rt-safe: wait-free (all of them)
    [[nodiscard]] ring_segment* initial_segment() const noexcept { return link_->initial_segment_.load(std::memory_order_acquire); }
    [[nodiscard]] bool running() const noexcept { return link_->running_.load(std::memory_order_acquire); }
    [[nodiscard]] bool pin_active() const noexcept { return link_->pin_active_.load(std::memory_order_acquire); }
    [[nodiscard]] int engine_event_fd() const noexcept { return link_->event_fd_.load(std::memory_order_acquire); }
    void observe(std::uint64_t device_position, hns time, std::uint32_t gap_count, hns device_error) noexcept {
        link_->clock_.observe(device_position, time, gap_count, device_error);
    }
    void restart_clock(const rate_estimator::options& opts) noexcept { link_->clock_.restart(opts); }
    void set_wake_fd(int fd) noexcept { link_->device_wake_fd_.store(fd, std::memory_order_release); }
    void set_waiting(bool waiting) noexcept { (void)link_->device_waiting_.exchange(waiting, std::memory_order_seq_cst); }
    // relaxed: a statistic.
    void add_discarded(std::uint64_t frames) noexcept { link_->discarded_frames_.fetch_add(frames, std::memory_order_relaxed); }
    // The newest reset asked for. relaxed: a hint (render re-reads with acquire before it discards;
    // capture's device side has nothing to order: what it drops is its own).
    [[nodiscard]] std::uint32_t requested_reset() const noexcept { return link_->reset_generation_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint32_t reset_generation() const noexcept { return link_->reset_generation_.load(std::memory_order_acquire); }
    // Render (the reading side): the reset applied, and ae-ctl woken to see it.
    void acknowledge_reset(std::uint32_t generation, std::uint64_t discarded) noexcept {
        link_->acknowledge_reset(generation, discarded);
        signal_eventfd(link_->control_wake_fd_.load(std::memory_order_acquire));
    }
    void publish_consumed(std::uint64_t position) noexcept { link_->consumer_position_.store(position, std::memory_order_release); }
    void publish_read_ahead(std::uint64_t frames) noexcept { link_->read_ahead_.store(frames, std::memory_order_release); }
    void publish_read_time(hns now) noexcept { link_->device_read_time_.store(now.count(), std::memory_order_relaxed); }
    // Capture: the inline consumer (acquire: built before it was set).
    [[nodiscard]] inline_consumer* consumer() const noexcept { return link_->consumer_.load(std::memory_order_acquire); }

private:
    friend class endpoint_link;
    explicit device_view(endpoint_link* link) noexcept : view_base(link) {}
};

// The control thread's operations on the shared state.
class endpoint_link::control_view : public endpoint_link::view_base {
public:
    // The first segment published: consumer position first (relaxed: the segment's release orders it).
    void publish_initial(ring_segment* segment, std::uint64_t start_position) noexcept {
        link_->consumer_position_.store(start_position, std::memory_order_relaxed);
        link_->initial_segment_.store(segment, std::memory_order_release);
    }
    [[nodiscard]] ring_segment* initial_segment() const noexcept { return link_->initial_segment_.load(std::memory_order_acquire); }
    // relaxed: only the control thread writes it.
    [[nodiscard]] bool running() const noexcept { return link_->running_.load(std::memory_order_relaxed); }
    // release: everything configured before start is visible to a side that sees running.
    void set_running(bool running) noexcept { link_->running_.store(running, std::memory_order_release); }
    // release: the reading side discards everything written before this bump.
    void request_reset() noexcept { link_->reset_generation_.fetch_add(1, std::memory_order_release); }
    [[nodiscard]] std::uint32_t reset_generation() const noexcept { return link_->reset_generation_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint32_t reset_applied() const noexcept { return link_->reset_applied_.load(std::memory_order_acquire); }
    [[nodiscard]] std::uint64_t discarded_frames() const noexcept { return link_->discarded_frames_.load(std::memory_order_relaxed); }
    void set_event_fd(int fd) noexcept { link_->event_fd_.store(fd, std::memory_order_release); }
    void set_control_wake_fd(int fd) noexcept { link_->control_wake_fd_.store(fd, std::memory_order_release); }
    // Wakes an offline device's wait (to acknowledge a reset at once).
    void wake_device() const noexcept { signal_eventfd(link_->device_wake_fd_.load(std::memory_order_acquire)); }
    // Capture: `consumer` runs after each device period that wrote the endpoint; null: none.
    void set_consumer(inline_consumer* consumer) noexcept { link_->consumer_.store(consumer, std::memory_order_release); }
    [[nodiscard]] std::uint64_t last_padding() const noexcept { return link_->last_padding_.load(std::memory_order_relaxed); }
    [[nodiscard]] bool read_clock(clock_snapshot& out) const noexcept { return link_->clock_.try_read(out); }

private:
    friend class endpoint_link;
    explicit control_view(endpoint_link* link) noexcept : view_base(link) {}
};

inline endpoint_link::engine_view endpoint_link::take_engine_view() noexcept {
    return engine_view(std::exchange(engine_view_taken_, true) ? nullptr : this);
}
inline endpoint_link::device_view endpoint_link::take_device_view() noexcept {
    return device_view(std::exchange(device_view_taken_, true) ? nullptr : this);
}
inline endpoint_link::control_view endpoint_link::take_control_view() noexcept {
    return control_view(std::exchange(control_view_taken_, true) ? nullptr : this);
}

} // namespace ae

#pragma GCC visibility pop
