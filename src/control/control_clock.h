// openae — the control plane's clock and timers.
//
// control_clock is monotonic_now() as a std::chrono clock, so ae-ctl's timers (drain, open
// timeouts, retries, hold-downs, reset deadlines) and the log's repeat windows run on the time of
// every position record. control_timer is the one timer on ae-ctl: an Asio timer on that clock —
// or, while an ae::virtual_time is installed (a simulation with a stepped context), a virtual one:
// its wait is kept in the io_context's virtual_timers service and fires when the test has moved
// time past it and the context's poll() runs (Asio's own timers cannot: on Linux their expiry is
// only looked at when a timerfd armed on the real clock fires).
#pragma once

#include <openae/rt/monotonic_clock.h>

#include <asio/any_io_executor.hpp>
#include <asio/basic_waitable_timer.hpp>
#include <asio/error.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <system_error>
#include <vector>

namespace ae::detail {

struct control_clock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<control_clock>;
    static constexpr bool is_steady = true;

    [[nodiscard]] static time_point now() noexcept { return time_point(std::chrono::duration_cast<duration>(monotonic_now())); }
};

// The waits of an io_context's virtual timers (one per io_context, made on first use).
class virtual_timers final : public asio::execution_context::service {
public:
    using key_type = virtual_timers;
    static inline asio::execution_context::id id;
    explicit virtual_timers(asio::execution_context& owner) : asio::execution_context::service(owner) {}

    [[nodiscard]] std::uint64_t next_timer() noexcept { return ++last_timer_; }
    void add(std::uint64_t timer, control_clock::time_point at, std::function<void(std::error_code)> fire) {
        // Kept in deadline order, FIFO among equal deadlines (after the last wait due at `at`).
        const auto pos = std::upper_bound(waits_.begin(), waits_.end(), at, [](control_clock::time_point t, const wait& w) { return t < w.at; });
        waits_.insert(pos, wait{timer, at, std::move(fire)});
    }
    // Fires `timer`'s waits with operation_aborted. Returns how many.
    std::size_t cancel(std::uint64_t timer) { return take(std::error_code(asio::error::operation_aborted), [&](const wait& w) { return w.timer == timer; }); }
    // Fires every wait due at `now`, oldest deadline first. Returns how many.
    std::size_t fire_due(control_clock::time_point now) {
        return take({}, [&](const wait& w) { return w.at <= now; });
    }

private:
    struct wait {
        std::uint64_t timer;
        control_clock::time_point at;
        std::function<void(std::error_code)> fire;
    };
    void shutdown() override { waits_.clear(); }
    template <typename Pred>
    std::size_t take(std::error_code ec, Pred&& pred) {
        std::vector<wait> taken;
        for (auto it = waits_.begin(); it != waits_.end();) {
            if (pred(*it)) {
                taken.push_back(std::move(*it));
                it = waits_.erase(it);
            } else {
                ++it;
            }
        }
        for (auto& w : taken) w.fire(ec);
        return taken.size();
    }

    std::vector<wait> waits_;
    std::uint64_t last_timer_ = 0;
};

// Every timer on ae-ctl. The subset of asio::basic_waitable_timer the control plane uses; a
// handler always runs through the executor, with operation_aborted when cancelled.
class control_timer {
public:
    using duration = control_clock::duration;

    explicit control_timer(const asio::any_io_executor& executor) : executor_(executor) {
        if (virtual_time_active()) {
            timers_ = &asio::use_service<virtual_timers>(asio::query(executor_, asio::execution::context));
            id_ = timers_->next_timer();
        } else {
            real_.emplace(executor_);
        }
    }
    explicit control_timer(asio::io_context& io) : control_timer(asio::any_io_executor(io.get_executor())) {}
    control_timer(const asio::any_io_executor& executor, duration after) : control_timer(executor) { expires_after(after); }
    control_timer(asio::io_context& io, duration after) : control_timer(io) { expires_after(after); }
    ~control_timer() { cancel(); }
    control_timer(const control_timer&) = delete;
    control_timer& operator=(const control_timer&) = delete;

    // Cancels what waits, as Asio's does.
    std::size_t expires_after(duration after) {
        if (real_) return real_->expires_after(after);
        const std::size_t cancelled = cancel();
        expiry_ = control_clock::now() + after;
        return cancelled;
    }
    template <typename Handler>
    void async_wait(Handler handler) {
        if (real_) {
            real_->async_wait(std::move(handler));
            return;
        }
        timers_->add(id_, expiry_, [executor = executor_, handler = std::move(handler)](std::error_code ec) mutable {
            asio::post(executor, [handler = std::move(handler), ec]() mutable { handler(ec); });
        });
    }
    std::size_t cancel() { return real_ ? real_->cancel() : timers_->cancel(id_); }

private:
    asio::any_io_executor executor_;
    std::optional<asio::basic_waitable_timer<control_clock>> real_;
    virtual_timers* timers_ = nullptr;
    std::uint64_t id_ = 0;
    control_clock::time_point expiry_{};
};

} // namespace ae::detail
