#include <openae/rt/endpoint_core.h>
#include <openae/rt/errc.h>

#include <cerrno>
#include <fcntl.h>

namespace ae {

endpoint_core::endpoint_core(std::uint32_t endpoint_id, std::size_t queue_capacity)
    : link_(endpoint_id, queue_capacity), control_(link_.take_control()), shared_(link_.take_control_view()) {}

std::error_code endpoint_core::set_buffer(const frame_format& format, std::uint32_t frames_per_packet,
                                          std::uint64_t buffer_frames, std::uint64_t start_position) {
    if (initial_) return errc::already_initialized;
    auto segment = ring_segment::create(format, frames_per_packet, buffer_frames, next_epoch_);
    if (!segment) return segment.error();
    if (start_position != 0) (*segment)->writer.rebase(start_position);
    (*segment)->reader.sync_after_rebase();
    ++next_epoch_;
    initial_ = std::move(*segment);
    shared_.publish_initial(initial_.get(), start_position);
    return {};
}

std::error_code endpoint_core::start() {
    if (!initial_) return errc::not_initialized;
    if (shared_.running()) return errc::already_running;
    shared_.set_running(true);
    return {};
}

std::error_code endpoint_core::stop() {
    if (!initial_) return errc::not_initialized;
    if (!shared_.running()) return errc::not_running;
    shared_.set_running(false);
    return {};
}

std::error_code endpoint_core::reset() {
    if (!initial_) return errc::not_initialized;
    if (shared_.running()) return errc::already_running;
    shared_.request_reset();
    return {};
}

std::error_code endpoint_core::set_event_handle(int eventfd) {
    if (!initial_) return errc::not_initialized;
    if (eventfd >= 0) {
        const int flags = ::fcntl(eventfd, F_GETFL);
        if (flags < 0) return errc::bad_argument;
        // pulse() runs on the RT thread: its write must never wait.
        if ((flags & O_NONBLOCK) == 0 && ::fcntl(eventfd, F_SETFL, flags | O_NONBLOCK) != 0) {
            return {errno, std::system_category()};
        }
    }
    shared_.set_event_fd(eventfd < 0 ? -1 : eventfd);
    return {};
}

std::error_code endpoint_core::reconfigure(const frame_format& format, std::uint32_t frames_per_packet,
                                           std::uint64_t buffer_frames, bool rebase_device_position) {
    if (!initial_) return errc::not_initialized;
    collect_retired();
    // Every segment in flight sits in one queue slot at most (commands, handoffs, retired), so
    // keeping them below the capacity means no RT-side push can ever fail.
    if (in_flight_ + 1 >= control_.reconfigures.capacity()) return errc::busy;
    auto segment = ring_segment::create(format, frames_per_packet, buffer_frames, next_epoch_);
    if (!segment) return segment.error();
    reconfigure_command command{std::move(*segment), rebase_device_position};
    if (!control_.reconfigures.try_push(std::move(command))) return errc::busy;
    ++next_epoch_;
    ++in_flight_;
    return {};
}

std::size_t endpoint_core::collect_retired() {
    std::size_t freed = 0;
    retired_object retired;
    while (control_.rt_retired.try_pop(retired)) { retired.segment.reset(); ++freed; }
    while (control_.device_retired.try_pop(retired)) { retired.segment.reset(); ++freed; }
    in_flight_ -= freed < in_flight_ ? freed : in_flight_;
    return freed;
}

void endpoint_core::hold(std::shared_ptr<const void> resource) {
    for (const auto& held : held_) {
        if (held == resource) return;
    }
    held_.push_back(std::move(resource));
}

} // namespace ae
