// The C API's handles (openae.h's opaque ae_context and ae_endpoint), shared by its files. Internal.
#pragma once

#include <openae/control/context.h>
#include <openae/openae.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

struct ae_context {
    std::optional<ae::context> ctx;
    std::mutex mutex; // the event queue (control thread pushes, the host polls)
    std::condition_variable ready;
    std::deque<ae_event> events;
    std::uint64_t missed = 0;
    static constexpr std::size_t max_events = 4096;
    // The context (its control thread, which pushes events) goes before the queue it pushes into.
    ~ae_context() { ctx.reset(); }
};

struct ae_endpoint {
    ae_context* owner = nullptr;
    std::optional<ae::render_endpoint> render;
    std::optional<ae::capture_endpoint> capture;
    ae::render_endpoint_rt* render_rt = nullptr;   // the RT calls go straight here
    ae::capture_endpoint_rt* capture_rt = nullptr;

    template <typename Fn>
    auto visit(Fn&& fn) const {
        return render ? fn(*render) : fn(*capture);
    }
    template <typename Fn>
    auto visit(Fn&& fn) {
        return render ? fn(*render) : fn(*capture);
    }
};

// An error code as the C API returns it: openae's own codes as they are, any other as AE_ERR_IO_ERROR.
inline int c_api_code(std::error_code ec) noexcept {
    if (!ec) return AE_OK;
    return ec.category() == ae::error_category() ? ec.value() : AE_ERR_IO_ERROR;
}
