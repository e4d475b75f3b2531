// openae — ae::render_endpoint / ae::capture_endpoint: the control side's view of an endpoint
// (IAudioEndpoint + IAudioEndpointControl + IAudioDeviceEndpoint).
//
// Cheap handles (copyable) onto an endpoint owned by its ae::context. Every operation exists as
// `async_*(token)` — an Asio completion token: a callback `void(std::error_code)`,
// `asio::use_future`, `asio::use_awaitable` — and as a blocking call of the same name without
// `async_`, which answers `wrong_thread` on the control thread itself (it would wait for itself).
// Changes are made on the control thread; the engine sees them at a pass boundary (`rt()`).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/control/config.h>
#include <openae/control/event.h>
#include <openae/rt/capture_endpoint_rt.h>
#include <openae/rt/errc.h>
#include <openae/rt/render_endpoint_rt.h>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace ae {

namespace detail {
class control_actor;    // the control actor (src/control): not part of the API
struct endpoint_block; // one endpoint's control state, owned by the actor

// An endpoint as a handle holds it: opaque to hosts.
struct endpoint_ref {
    std::shared_ptr<control_actor> actor;
    std::shared_ptr<endpoint_block> block;
};
// Called on the control thread with an operation's result.
using completion = std::function<void(std::error_code)>;

// The endpoint operations behind the handles. Each posts its work to the control thread and calls
// `done` there with the result; the getters read a copy the control thread keeps (any thread).
struct endpoint_ops {
    static void set_buffer(const endpoint_ref& e, hns max_period, std::uint32_t latency_coefficient, completion done);
    static void set_stream_flags(const endpoint_ref& e, stream_flags flags, completion done);
    static void set_event_handle(const endpoint_ref& e, int eventfd, completion done);
    static void start(const endpoint_ref& e, completion done);
    static void stop(const endpoint_ref& e, completion done);
    static void reset(const endpoint_ref& e, completion done);
    static void set_format(const endpoint_ref& e, const frame_format& format, completion done);
    static void set_period(const endpoint_ref& e, hns period, completion done);
    static void move_to(const endpoint_ref& e, const std::string& device, completion done);
    static void inject(const endpoint_ref& e, const std::string& fault, completion done);
    // Blocking (wrong_thread on the control thread).
    [[nodiscard]] static std::expected<endpoint_stats, std::error_code> stats(const endpoint_ref& e);
    // Starts an operation with `start(done)` and waits for its result (wrong_thread on the control thread).
    [[nodiscard]] static std::error_code wait(const endpoint_ref& e, const std::function<void(completion)>& start);

    [[nodiscard]] static asio::any_io_executor executor(const endpoint_ref& e);
    [[nodiscard]] static const std::string& name(const endpoint_ref& e) noexcept;
    struct summary_view {
        endpoint_state state = endpoint_state::created;
        frame_format format{};
        std::uint32_t frames_per_packet = 0;
        hns latency{0};
        std::uint32_t epoch = 0;
        std::string device; // the actual route
        ae::route_stage stage = ae::route_stage::routed;
        std::uint32_t attempt = 0;
    };
    [[nodiscard]] static summary_view summary(const endpoint_ref& e);
    [[nodiscard]] static render_endpoint_rt& render_rt(const endpoint_ref& e) noexcept;
    [[nodiscard]] static capture_endpoint_rt& capture_rt(const endpoint_ref& e) noexcept;
};

// Completes an Asio handler from a completion called on the control thread: the result goes to
// the handler's own executor (the control thread's when it has none).
template <typename Token, typename Start>
auto initiate(const endpoint_ref& e, Token&& token, Start start) {
    return asio::async_initiate<Token, void(std::error_code)>(
        [e, start = std::move(start)](auto handler) mutable {
            auto executor = asio::get_associated_executor(handler, endpoint_ops::executor(e));
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            start(e, completion([executor, shared](std::error_code ec) { asio::post(executor, [shared, ec] { std::move(*shared)(ec); }); }));
        },
        token);
}
} // namespace detail

template <typename Rt>
class basic_endpoint {
    using ops = detail::endpoint_ops;

public:
    using rt_type = Rt;

    [[nodiscard]] const std::string& name() const noexcept { return ops::name(ref_); }
    [[nodiscard]] ae::frame_format frame_format() const { return ops::summary(ref_).format; }
    [[nodiscard]] std::uint32_t frames_per_packet() const { return ops::summary(ref_).frames_per_packet; }
    // Endpoint buffer plus the device's own latency.
    [[nodiscard]] hns latency() const { return ops::summary(ref_).latency; }
    [[nodiscard]] endpoint_state state() const { return ops::summary(ref_).state; }
    // The device the endpoint actually plays to / records from.
    [[nodiscard]] std::string device() const { return ops::summary(ref_).device; }
    [[nodiscard]] std::uint32_t epoch() const { return ops::summary(ref_).epoch; }
    // Where its route is after a device loss (lost, held_down, reopening, switching, rerouted, failed).
    [[nodiscard]] ae::route_stage route_stage() const { return ops::summary(ref_).stage; }
    [[nodiscard]] bool event_driven_capable() const noexcept { return true; }
    [[nodiscard]] bool rt_capable() const noexcept { return true; }

    // Glitch counts by kind, padding histogram (a round trip through the control thread).
    [[nodiscard]] std::expected<endpoint_stats, std::error_code> stats() const { return ops::stats(ref_); }

    // The engine's RT view. For the engine's RT thread.
    [[nodiscard]] Rt& rt() noexcept;

    // Completes once the ring is made and the endpoint's chain (built off the control thread) is
    // on its device thread.
    std::error_code set_buffer(hns max_period, std::uint32_t latency_coefficient) {
        return ops::wait(ref_, [&](detail::completion done) { ops::set_buffer(ref_, max_period, latency_coefficient, std::move(done)); });
    }
    std::error_code set_stream_flags(stream_flags flags) {
        return ops::wait(ref_, [&](detail::completion done) { ops::set_stream_flags(ref_, flags, std::move(done)); });
    }
    std::error_code set_event_handle(int eventfd) {
        return ops::wait(ref_, [&](detail::completion done) { ops::set_event_handle(ref_, eventfd, std::move(done)); });
    }
    std::error_code start() {
        return ops::wait(ref_, [&](detail::completion done) { ops::start(ref_, std::move(done)); });
    }
    std::error_code stop() {
        return ops::wait(ref_, [&](detail::completion done) { ops::stop(ref_, std::move(done)); });
    }
    // Completes once the unprocessed frames are discarded: after it, the RT view's padding is 0.
    std::error_code reset() {
        return ops::wait(ref_, [&](detail::completion done) { ops::reset(ref_, std::move(done)); });
    }
    // A new sample rate completes once the chain for it (built off the control thread) is on
    // the device thread and the new ring is posted; `busy` while another rate change is prepared.
    std::error_code set_format(const ae::frame_format& format) {
        return ops::wait(ref_, [&](detail::completion done) { ops::set_format(ref_, format, std::move(done)); });
    }
    std::error_code set_period(hns period) {
        return ops::wait(ref_, [&](detail::completion done) { ops::set_period(ref_, period, std::move(done)); });
    }
    // Completes once the endpoint plays on `device`: the new device is opened off the control
    // thread (with a timeout), the old one lets go, the new one takes over at its next period.
    std::error_code move_to(const std::string& device) {
        return ops::wait(ref_, [&](detail::completion done) { ops::move_to(ref_, device, std::move(done)); });
    }

    // A fault for the endpoint's current device (faulty devices only; `bad_argument` elsewhere):
    // "unplug", "replug", "stall:MS", "jump:MS", "late:N:MS", "format:RATE[:CH[:TYPE]]".
    std::error_code inject(const std::string& fault) {
        return ops::wait(ref_, [&](detail::completion done) { ops::inject(ref_, fault, std::move(done)); });
    }

    template <typename Token>
    auto async_set_buffer(hns max_period, std::uint32_t latency_coefficient, Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token), [max_period, latency_coefficient](const detail::endpoint_ref& e, detail::completion done) {
            ops::set_buffer(e, max_period, latency_coefficient, std::move(done));
        });
    }
    template <typename Token>
    auto async_set_stream_flags(stream_flags flags, Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token),
                                [flags](const detail::endpoint_ref& e, detail::completion done) { ops::set_stream_flags(e, flags, std::move(done)); });
    }
    template <typename Token>
    auto async_set_event_handle(int eventfd, Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token),
                                [eventfd](const detail::endpoint_ref& e, detail::completion done) { ops::set_event_handle(e, eventfd, std::move(done)); });
    }
    template <typename Token>
    auto async_start(Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token),
                                [](const detail::endpoint_ref& e, detail::completion done) { ops::start(e, std::move(done)); });
    }
    template <typename Token>
    auto async_stop(Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token),
                                [](const detail::endpoint_ref& e, detail::completion done) { ops::stop(e, std::move(done)); });
    }
    template <typename Token>
    auto async_reset(Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token),
                                [](const detail::endpoint_ref& e, detail::completion done) { ops::reset(e, std::move(done)); });
    }
    template <typename Token>
    auto async_set_format(const ae::frame_format& format, Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token),
                                [format](const detail::endpoint_ref& e, detail::completion done) { ops::set_format(e, format, std::move(done)); });
    }
    template <typename Token>
    auto async_set_period(hns period, Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token),
                                [period](const detail::endpoint_ref& e, detail::completion done) { ops::set_period(e, period, std::move(done)); });
    }
    template <typename Token>
    auto async_move_to(std::string device, Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token), [device = std::move(device)](const detail::endpoint_ref& e, detail::completion done) {
            ops::move_to(e, device, std::move(done));
        });
    }
    template <typename Token>
    auto async_inject(std::string fault, Token&& token) {
        return detail::initiate(ref_, std::forward<Token>(token), [fault = std::move(fault)](const detail::endpoint_ref& e, detail::completion done) {
            ops::inject(e, fault, std::move(done));
        });
    }

    explicit basic_endpoint(detail::endpoint_ref ref) noexcept : ref_(std::move(ref)) {}

private:
    detail::endpoint_ref ref_;
};

template <>
inline render_endpoint_rt& basic_endpoint<render_endpoint_rt>::rt() noexcept {
    return detail::endpoint_ops::render_rt(ref_);
}
template <>
inline capture_endpoint_rt& basic_endpoint<capture_endpoint_rt>::rt() noexcept {
    return detail::endpoint_ops::capture_rt(ref_);
}

using render_endpoint = basic_endpoint<render_endpoint_rt>;
using capture_endpoint = basic_endpoint<capture_endpoint_rt>;

} // namespace ae

#pragma GCC visibility pop
