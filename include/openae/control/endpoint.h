// openae — ae::render_endpoint / ae::capture_endpoint: the control side's view of an endpoint
// (IAudioEndpoint + IAudioEndpointControl + IAudioDeviceEndpoint).
//
// Cheap handles (copyable) onto an endpoint owned by its ae::context. Every operation exists as
// `async_*(token)` — an Asio completion token: a callback `void(std::error_code)`,
// `asio::use_future`, `asio::use_awaitable` — and as a blocking call of the same name without
// `async_`, which answers `wrong_thread` on the control thread itself (it would wait for itself).
// Changes are made on the control thread; the engine sees them at a pass boundary (`rt()`).
#pragma once

#include <openae/control/detail/context_core.h>

#include <asio/async_result.hpp>

#include <memory>
#include <string>
#include <system_error>

namespace ae {

template <typename Rt>
class basic_endpoint {
public:
    using rt_type = Rt;

    [[nodiscard]] const std::string& name() const noexcept { return detail::context_core::name(*block_); }
    [[nodiscard]] ae::frame_format frame_format() const { return detail::context_core::summary(*block_).format; }
    [[nodiscard]] std::uint32_t frames_per_packet() const { return detail::context_core::summary(*block_).frames_per_packet; }
    // Endpoint buffer plus the device's own latency.
    [[nodiscard]] hns latency() const { return detail::context_core::summary(*block_).latency; }
    [[nodiscard]] endpoint_state state() const { return detail::context_core::summary(*block_).state; }
    // The device the endpoint actually plays to / records from.
    [[nodiscard]] std::string device() const { return detail::context_core::summary(*block_).device; }
    [[nodiscard]] std::uint32_t epoch() const { return detail::context_core::summary(*block_).epoch; }
    [[nodiscard]] bool event_driven_capable() const noexcept { return true; }
    [[nodiscard]] bool rt_capable() const noexcept { return true; }

    // Glitch counts by kind, padding histogram (a round trip through the control thread).
    [[nodiscard]] std::expected<endpoint_stats, std::error_code> stats() const {
        return core_->call([&] { return core_->stats(*block_); });
    }

    // The engine's RT view. For the engine's RT thread.
    [[nodiscard]] Rt& rt() noexcept;


    // Completes once the ring is made and the endpoint's chain (built off the control thread) is
    // on its device thread.
    std::error_code set_buffer(hns max_period, std::uint32_t latency_coefficient) {
        return wait([max_period, latency_coefficient](detail::context_core& c, detail::endpoint_block& e, auto done) {
            c.set_buffer(e, max_period, latency_coefficient, std::move(done));
        });
    }
    std::error_code set_stream_flags(stream_flags flags) {
        return core_->call_ec([&] { return core_->set_stream_flags(*block_, flags); });
    }
    std::error_code set_event_handle(int eventfd) {
        return core_->call_ec([&] { return core_->set_event_handle(*block_, eventfd); });
    }
    std::error_code start() { return core_->call_ec([&] { return core_->start(*block_); }); }
    std::error_code stop() { return core_->call_ec([&] { return core_->stop(*block_); }); }
    // Completes once the unprocessed frames are discarded: after it, the RT view's padding is 0.
    std::error_code reset() {
        return wait([](detail::context_core& c, detail::endpoint_block& e, auto done) { c.reset(e, std::move(done)); });
    }
    // A new sample rate completes once the chain for it (built off the control thread) is on
    // the device thread and the new ring is posted; `busy` while another rate change is prepared.
    std::error_code set_format(const ae::frame_format& format) {
        return wait([format](detail::context_core& c, detail::endpoint_block& e, auto done) { c.set_format(e, format, std::move(done)); });
    }
    std::error_code set_period(hns period) { return core_->call_ec([&] { return core_->set_period(*block_, period); }); }
    // Completes once the endpoint plays on `device`: the new device is opened off the control
    // thread (with a timeout), the old one lets go, the new one takes over at its next period.
    std::error_code move_to(const std::string& device) {
        return wait([device](detail::context_core& c, detail::endpoint_block& e, auto done) { c.move_to(e, device, std::move(done)); });
    }

    // A fault for the endpoint's current device (faulty devices only; `bad_argument` elsewhere):
    // "unplug", "replug", "stall:MS", "jump:MS", "late:N:MS", "format:RATE[:CH[:TYPE]]".
    std::error_code inject(const std::string& fault) {
        return core_->call_ec([&] {
            std::string message;
            return core_->inject(*block_, fault, message);
        });
    }

    template <typename Token>
    auto async_set_buffer(hns max_period, std::uint32_t latency_coefficient, Token&& token) {
        return run_deferred(std::forward<Token>(token), [max_period, latency_coefficient](detail::context_core& c, detail::endpoint_block& e,
                                                                                          auto done) {
            c.set_buffer(e, max_period, latency_coefficient, std::move(done));
        });
    }
    template <typename Token>
    auto async_set_stream_flags(stream_flags flags, Token&& token) {
        return run(std::forward<Token>(token),
                   [flags](detail::context_core& c, detail::endpoint_block& e) { return c.set_stream_flags(e, flags); });
    }
    template <typename Token>
    auto async_set_event_handle(int eventfd, Token&& token) {
        return run(std::forward<Token>(token),
                   [eventfd](detail::context_core& c, detail::endpoint_block& e) { return c.set_event_handle(e, eventfd); });
    }
    template <typename Token>
    auto async_start(Token&& token) {
        return run(std::forward<Token>(token), [](detail::context_core& c, detail::endpoint_block& e) { return c.start(e); });
    }
    template <typename Token>
    auto async_stop(Token&& token) {
        return run(std::forward<Token>(token), [](detail::context_core& c, detail::endpoint_block& e) { return c.stop(e); });
    }
    template <typename Token>
    auto async_reset(Token&& token) {
        return run_deferred(std::forward<Token>(token),
                            [](detail::context_core& c, detail::endpoint_block& e, auto done) { c.reset(e, std::move(done)); });
    }
    template <typename Token>
    auto async_set_format(const ae::frame_format& format, Token&& token) {
        return run_deferred(std::forward<Token>(token), [format](detail::context_core& c, detail::endpoint_block& e, auto done) {
            c.set_format(e, format, std::move(done));
        });
    }
    template <typename Token>
    auto async_set_period(hns period, Token&& token) {
        return run(std::forward<Token>(token),
                   [period](detail::context_core& c, detail::endpoint_block& e) { return c.set_period(e, period); });
    }
    template <typename Token>
    auto async_move_to(std::string device, Token&& token) {
        return run_deferred(std::forward<Token>(token), [device = std::move(device)](detail::context_core& c, detail::endpoint_block& e,
                                                                                     auto done) { c.move_to(e, device, std::move(done)); });
    }

    basic_endpoint(std::shared_ptr<detail::context_core> core, std::shared_ptr<detail::endpoint_block> block) noexcept
        : core_(std::move(core)), block_(std::move(block)) {}

private:
    template <typename Token, typename Op>
    auto run(Token&& token, Op op) {
        return asio::async_initiate<Token, void(std::error_code)>(
            [core = core_, block = block_, op = std::move(op)](auto handler) mutable {
                detail::post_op(core, std::move(handler),
                                [block, op = std::move(op)](detail::context_core& c) mutable { return op(c, *block); });
            },
            token);
    }

    // For operations that complete later (`op` gets a `done(std::error_code)` to call on ae-ctl).
    template <typename Token, typename Op>
    auto run_deferred(Token&& token, Op op) {
        return asio::async_initiate<Token, void(std::error_code)>(
            [core = core_, block = block_, op = std::move(op)](auto handler) mutable {
                auto executor = asio::get_associated_executor(handler, core->executor());
                auto shared = std::make_shared<decltype(handler)>(std::move(handler));
                asio::post(core->executor(), [core, block, op = std::move(op), executor, shared]() mutable {
                    op(*core, *block, std::function<void(std::error_code)>([executor, shared](std::error_code ec) {
                           asio::post(executor, [shared, ec] { std::move(*shared)(ec); });
                       }));
                });
            },
            token);
    }
    template <typename Op>
    std::error_code wait(Op op) {
        if (core_->on_control_thread()) return make_error_code(errc::wrong_thread);
        std::promise<std::error_code> done;
        auto future = done.get_future();
        asio::post(core_->executor(), [&] {
            op(*core_, *block_, std::function<void(std::error_code)>([&done](std::error_code ec) { done.set_value(ec); }));
        });
        return future.get();
    }

    std::shared_ptr<detail::context_core> core_;
    std::shared_ptr<detail::endpoint_block> block_;
};

template <>
inline render_endpoint_rt& basic_endpoint<render_endpoint_rt>::rt() noexcept {
    return *detail::context_core::render_rt(*block_);
}
template <>
inline capture_endpoint_rt& basic_endpoint<capture_endpoint_rt>::rt() noexcept {
    return *detail::context_core::capture_rt(*block_);
}

using render_endpoint = basic_endpoint<render_endpoint_rt>;
using capture_endpoint = basic_endpoint<capture_endpoint_rt>;

} // namespace ae
