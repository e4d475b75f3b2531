// openae — endpoint_core: owns one endpoint's shared block and hands out its three views.
//
// The control side's handle on an endpoint's RT machinery: it builds ring segments (allocating,
// off the RT threads), publishes them, starts and stops, posts reconfigurations, and frees what
// the RT sides retire. Its own calls are for one control thread; `rt()` is for the engine's RT
// thread and `device()` for the device thread. It must outlive both threads' use of their views.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/rt/capture_device_port.h>
#include <openae/rt/capture_endpoint_rt.h>
#include <openae/rt/endpoint_link.h>
#include <openae/rt/render_device_port.h>
#include <openae/rt/render_endpoint_rt.h>

#include <cstdint>
#include <memory>
#include <system_error>
#include <vector>

namespace ae {

class endpoint_core {
public:
    static constexpr std::size_t default_queue_capacity = 64;

    endpoint_core(std::uint32_t endpoint_id, std::size_t queue_capacity = default_queue_capacity);
    endpoint_core(const endpoint_core&) = delete;
    endpoint_core& operator=(const endpoint_core&) = delete;

    // Creates the first ring: `buffer_frames` frames of `format`, packets of at most
    // `frames_per_packet`; stream positions start at `start_position`. Once only
    // (`already_initialized`); `unsupported_format`, `bad_argument` for bad values.
    std::error_code set_buffer(const frame_format& format, std::uint32_t frames_per_packet,
                               std::uint64_t buffer_frames, std::uint64_t start_position = 0);
    [[nodiscard]] bool initialized() const noexcept { return initial_ != nullptr; }

    // start / stop: `not_initialized`, `already_running`, `not_running` as the API says.
    std::error_code start();
    std::error_code stop();
    // Discards unprocessed data (applied by the reading side at its next period or pass).
    // Only while stopped (`already_running` otherwise).
    std::error_code reset();
    [[nodiscard]] bool running() const noexcept { return shared_.running(); }

    // Registers an eventfd for pulse(); -1 removes it. The fd is made non-blocking.
    // `not_initialized` before set_buffer, `bad_argument` for a closed fd.
    std::error_code set_event_handle(int eventfd);

    // Posts a reconfiguration (a new epoch) that the applying side takes at its next boundary.
    // `busy` when too many reconfigurations are still in flight (collect_retired frees them).
    std::error_code reconfigure(const frame_format& format, std::uint32_t frames_per_packet,
                                std::uint64_t buffer_frames, bool rebase_device_position = false);

    // Takes every queued glitch record (RT and device side), oldest first per side.
    template <typename Fn>
    std::size_t drain_glitches(Fn&& on_record) {
        std::size_t count = 0;
        glitch_record record;
        while (control_.rt_glitches.try_pop(record)) { on_record(record); ++count; }
        while (control_.device_glitches.try_pop(record)) { on_record(record); ++count; }
        return count;
    }
    // Sends every later glitch record of the RT side to `rt` and of the device side to `device`
    // (null: back to their own rings). Before either side runs.
    void route_glitches_to(glitch_sink* rt, glitch_sink* device) noexcept {
        control_.rt_glitches.route_to(rt);
        control_.device_glitches.route_to(device);
    }
    // Records lost because a glitch queue was full.
    [[nodiscard]] std::uint64_t glitch_overflow_count() const noexcept {
        return control_.rt_glitches.overflow_count() + control_.device_glitches.overflow_count();
    }
    // Frees the segments the RT sides are done with. Returns how many.
    std::size_t collect_retired();
    // Segments created by reconfigure() and not yet retired.
    [[nodiscard]] std::size_t segments_in_flight() const noexcept { return in_flight_; }
    // The epoch of the newest configuration requested (the RT side may still be on an older one).
    [[nodiscard]] std::uint32_t requested_epoch() const noexcept { return next_epoch_ - 1; }
    // The shared state, as the control side may use it (resets, fds, statistics, the clock).
    [[nodiscard]] endpoint_link::control_view& control_link() noexcept { return shared_; }
    [[nodiscard]] const endpoint_link::control_view& control_link() const noexcept { return shared_; }
    [[nodiscard]] std::uint32_t id() const noexcept { return link_.id; }

    // Keeps `resource` alive as long as this endpoint: something its RT side may still touch
    // after its device detached it (a device thread's wake eventfd). Control side only.
    void hold(std::shared_ptr<const void> resource);

protected:
    // The block the RT view and the device port take their ends and views from (once each).
    [[nodiscard]] endpoint_link& link() noexcept { return link_; }

private:
    endpoint_link link_;
    control_ends control_;
    endpoint_link::control_view shared_;
    std::vector<std::shared_ptr<const void>> held_;
    std::unique_ptr<ring_segment> initial_;
    std::uint32_t next_epoch_ = 1;
    std::size_t in_flight_ = 0;
};

// An endpoint core with its direction's RT view and device port.
template <typename RtView, typename DevicePort>
class basic_endpoint_core : public endpoint_core {
public:
    explicit basic_endpoint_core(std::uint32_t endpoint_id, std::size_t queue_capacity = default_queue_capacity)
        : endpoint_core(endpoint_id, queue_capacity), rt_(link()), device_(link()) {}

    // The engine's RT view. For the engine's RT thread only.
    [[nodiscard]] RtView& rt() noexcept { return rt_; }
    // The device thread's port. For one device thread only.
    [[nodiscard]] DevicePort& device() noexcept { return device_; }

private:
    RtView rt_;
    DevicePort device_;
};

using render_endpoint_core = basic_endpoint_core<render_endpoint_rt, render_device_port>;
using capture_endpoint_core = basic_endpoint_core<capture_endpoint_rt, capture_device_port>;

} // namespace ae

#pragma GCC visibility pop
