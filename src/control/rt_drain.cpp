// The RT drain (rt_drain.h): the inbox, the wake eventfd and the drain timer watched; resets and
// detaches completed when the device loops say so.
#include "rt_drain.h"

#include "context_state.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace ae::detail {

rt_drain::rt_drain(asio::io_context& io, const context_options& options, event_log& log, rt_drain_owner& owner)
    : options_(options), log_(log), owner_(owner), timer_(io), wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), wake_(io),
      inbox_(options.glitch_inbox_records), inbox_watch_(io) {
    if (wake_fd_ >= 0) wake_.assign(wake_fd_); // closed with the descriptor
    // A dup: the inbox's own descriptor lives as long as its producers (they may outlive us).
    if (inbox_.wake_fd() >= 0) {
        if (const int watched = ::dup(inbox_.wake_fd()); watched >= 0) inbox_watch_.assign(watched);
    }
}

rt_drain::~rt_drain() = default;

void rt_drain::start() {
    schedule_timer();
    watch_wake();
    watch_inbox();
}

void rt_drain::stop() {
    stopping_ = true;
    timer_.cancel();
    std::error_code ignored;
    wake_.cancel(ignored);
    inbox_watch_.cancel(ignored);
    for (auto& r : resets_) r.done(make_error_code(errc::unknown_endpoint));
    resets_.clear();
}

void rt_drain::schedule_timer() {
    if (stopping_) return;
    timer_.expires_after(std::chrono::microseconds(options_.drain_interval.count() / 10));
    timer_.async_wait([this, alive = owner_.keep_alive()](const std::error_code& ec) {
        if (ec || stopping_) return;
        owner_.drain();
        check_detached();
        check_resets();
        log_.flush_repeats(false);
        schedule_timer();
    });
}

void rt_drain::watch_wake() {
    if (stopping_ || wake_fd_ < 0) return;
    wake_.async_wait(asio::posix::descriptor_base::wait_read, [this, alive = owner_.keep_alive()](const std::error_code& ec) {
        if (ec || stopping_) return;
        std::uint64_t count = 0;
        [[maybe_unused]] const auto got = ::read(wake_fd_, &count, sizeof count);
        owner_.drain();
        check_detached();
        check_resets();
        owner_.check_bridge_starts();
        watch_wake();
    });
}

void rt_drain::watch_inbox() {
    if (stopping_ || !inbox_watch_.is_open()) return;
    inbox_watch_.async_wait(asio::posix::descriptor_base::wait_read, [this, alive = owner_.keep_alive()](const std::error_code& ec) {
        if (ec || stopping_) return;
        std::uint64_t count = 0;
        [[maybe_unused]] const auto got = ::read(inbox_watch_.native_handle(), &count, sizeof count);
        drain_inbox();
        watch_inbox();
    });
}

void rt_drain::drain_inbox() {
    inbox_.drain([&](const glitch_record& r) {
        const auto found = by_id_.find(r.endpoint_id);
        if (found == by_id_.end()) return; // its endpoint is gone: nobody to tell
        owner_.note_glitch(*found->second, r);
    });
}

void rt_drain::wait_reset(std::shared_ptr<endpoint_block> e, std::uint32_t generation, std::function<void(std::error_code)> done) {
    resets_.push_back({std::move(e), generation, std::move(done), control_clock::now() + std::chrono::seconds(2)});
    check_resets();
}

void rt_drain::check_resets() {
    const auto now = control_clock::now();
    auto& resets = resets_;
    for (std::size_t i = 0; i < resets.size();) {
        pending_reset& r = resets[i];
        endpoint_block& e = *r.endpoint;
        std::error_code result;
        bool finished = true;
        const std::uint32_t applied = e.core().control_link().reset_applied();
        if (static_cast<std::int32_t>(applied - r.generation) >= 0) {
            result = {};
        } else if (e.destroyed) {
            result = make_error_code(errc::unknown_endpoint);
        } else if (!e.route.moving && (!e.attached || !e.entry || e.entry->thread->finished())) {
            // No device thread reads the endpoint now: the discard is made here.
            (void)e.render->device().begin_period();
        } else if (now >= r.deadline) {
            result = make_error_code(errc::timeout);
            control_detail::log_json(log_.logger(), spdlog::level::warn,
                                     {{"component", "endpoint"}, {"endpoint", e.name}, {"event", "reset_timeout"},
                                      {"device", e.device}, {"message", "the device thread did not discard the queue within 2 s"}});
        } else {
            finished = false;
        }
        if (!finished) {
            ++i;
            continue;
        }
        auto done = std::move(r.done);
        resets.erase(resets.begin() + static_cast<std::ptrdiff_t>(i));
        done(result);
    }
}

void rt_drain::wait_detached(std::shared_ptr<endpoint_block> e, device_entry* entry, std::function<void()> then) {
    // The device thread applies the detach at its next period and wakes ae-ctl when it has.
    detaches_.push_back({std::move(e), entry, entry->thread->control().commands_sent(), std::move(then)});
    check_detached();
}

void rt_drain::check_detached() {
    auto& waits = detaches_;
    for (std::size_t i = 0; i < waits.size();) {
        pending_detach& w = waits[i];
        if (w.entry->thread->control().commands_applied() < w.target && !w.entry->thread->finished()) {
            ++i;
            continue;
        }
        auto then = std::move(w.then);
        waits.erase(waits.begin() + static_cast<std::ptrdiff_t>(i));
        then(); // may add waits (a reroute's next step): the loop sees them
    }
}

} // namespace ae::detail
