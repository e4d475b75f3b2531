// The C API's control and RT functions (include/openae/openae.h): thin wrappers over ae::context,
// ae::render_endpoint / ae::capture_endpoint and their RT views. No exception crosses into C.
#include "c_api_handles.h"

#include <openae/control/context.h>
#include <openae/openae.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>

namespace {

int code(std::error_code ec) noexcept { return c_api_code(ec); }

int code(ae::errc e) noexcept { return static_cast<int>(e); }

void copy_text(char* out, std::size_t size, const std::string& text) {
    const std::size_t n = std::min(size - 1, text.size());
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
}

ae::frame_format from_c(const ae_frame_format& f) {
    return {f.sample_rate, f.channels, static_cast<ae::sample_type>(f.sample)};
}

ae_frame_format to_c(const ae::frame_format& f) {
    return {f.sample_rate, f.channels, static_cast<std::uint8_t>(f.sample)};
}

ae_event to_c(const ae::event& e) {
    ae_event out{};
    out.kind = static_cast<int>(e.kind);
    copy_text(out.endpoint, sizeof out.endpoint, e.endpoint);
    out.epoch = e.epoch;
    out.time = e.time.count();
    out.glitch = static_cast<int>(e.glitch);
    out.stream_position = e.stream_position;
    out.frames = e.frames;
    out.state = static_cast<int>(e.state);
    out.format = to_c(e.format);
    out.latency = e.latency.count();
    copy_text(out.device, sizeof out.device, e.device);
    copy_text(out.to, sizeof out.to, e.to);
    out.stage = static_cast<int>(e.stage);
    out.attempt = e.attempt;
    return out;
}

template <typename Fn>
int guarded(Fn&& fn) noexcept {
    try {
        return fn();
    } catch (const std::bad_alloc&) {
        return AE_ERR_BUSY;
    } catch (...) {
        return AE_ERR_IO_ERROR;
    }
}

} // namespace

static_assert(AE_EVENT_DEVICE_UNRESPONSIVE == static_cast<int>(ae::event_kind::device_unresponsive));
static_assert(AE_EVENT_ROUTE_STAGE == static_cast<int>(ae::event_kind::route_stage));
static_assert(AE_EVENT_DEVICE_REMOVED == static_cast<int>(ae::event_kind::device_removed));
static_assert(AE_ROUTE_FAILED == static_cast<int>(ae::route_stage::failed));
static_assert(AE_STATE_ERROR == static_cast<int>(ae::endpoint_state::error));
static_assert(AE_ROUTING_FAIL == static_cast<int>(ae::routing_policy::fail));

extern "C" {

int ae_context_create(const ae_context_options* options, ae_context** out) {
    if (!out) return AE_ERR_BAD_ARGUMENT;
    *out = nullptr;
    return guarded([&] {
        ae::context_options o;
        if (options) {
            if (options->log_level) o.log_level = options->log_level;
            if (options->log_file) o.log_file = options->log_file;
            if (options->default_device && *options->default_device) o.default_device = options->default_device;
            o.watch_devices = options->watch_devices != 0;
            if (options->log_format && *options->log_format) {
                const std::string_view format = options->log_format;
                if (format == "text") o.log_format = ae::log_format::text;
                else if (format == "json") o.log_format = ae::log_format::json;
                else if (format != "auto") return static_cast<int>(AE_ERR_BAD_ARGUMENT);
            }
        }
        auto c = std::make_unique<ae_context>();
        c->ctx.emplace(o);
        ae_context* raw = c.get();
        c->ctx->subscribe([raw](const ae::event& e) {
            const std::lock_guard lock(raw->mutex);
            if (raw->events.size() >= ae_context::max_events) {
                ++raw->missed;
                return;
            }
            raw->events.push_back(to_c(e));
            raw->ready.notify_one();
        });
        *out = c.release();
        return static_cast<int>(AE_OK);
    });
}

void ae_context_destroy(ae_context* context) { delete context; }

int ae_endpoint_create(ae_context* context, int direction, const ae_endpoint_config* config, ae_endpoint** out) {
    if (!context || !config || !out || !config->name) return AE_ERR_BAD_ARGUMENT;
    if (direction != AE_DIRECTION_RENDER && direction != AE_DIRECTION_CAPTURE) return AE_ERR_BAD_ARGUMENT;
    if (config->routing < AE_ROUTING_FOLLOW_DEFAULT || config->routing > AE_ROUTING_FAIL) return AE_ERR_BAD_ARGUMENT;
    *out = nullptr;
    return guarded([&] {
        ae::endpoint_config c;
        c.name = config->name;
        c.device = config->device ? config->device : "";
        c.format = from_c(config->format);
        c.period = ae::hns{config->period};
        c.routing = static_cast<ae::routing_policy>(config->routing);
        if (config->latency_coefficient != 0) c.latency_coefficient = config->latency_coefficient;
        auto e = std::make_unique<ae_endpoint>();
        e->owner = context;
        if (direction == AE_DIRECTION_RENDER) {
            auto made = context->ctx->create_render_endpoint(c);
            if (!made) return code(made.error());
            e->render.emplace(std::move(*made));
            e->render_rt = &e->render->rt();
        } else {
            auto made = context->ctx->create_capture_endpoint(c);
            if (!made) return code(made.error());
            e->capture.emplace(std::move(*made));
            e->capture_rt = &e->capture->rt();
        }
        *out = e.release();
        return static_cast<int>(AE_OK);
    });
}

int ae_endpoint_destroy(ae_endpoint* endpoint) {
    if (!endpoint) return AE_ERR_BAD_ARGUMENT;
    const int result = guarded([&] { return code(endpoint->owner->ctx->destroy(endpoint->visit([](auto& e) { return e.name(); }))); });
    delete endpoint;
    return result;
}

#define AE_CONTROL(endpoint, call)                                                           \
    do {                                                                                       \
        if (!(endpoint)) return AE_ERR_BAD_ARGUMENT;                                           \
        return guarded([&] { return code((endpoint)->visit([&](auto& e) { return e.call; })); }); \
    } while (false)

int ae_endpoint_set_buffer(ae_endpoint* endpoint, ae_hns max_period, uint32_t latency_coefficient) {
    AE_CONTROL(endpoint, set_buffer(ae::hns{max_period}, latency_coefficient));
}
int ae_endpoint_set_stream_flags(ae_endpoint* endpoint, uint32_t flags) {
    AE_CONTROL(endpoint, set_stream_flags(static_cast<ae::stream_flags>(flags)));
}
int ae_endpoint_set_event_handle(ae_endpoint* endpoint, int eventfd) { AE_CONTROL(endpoint, set_event_handle(eventfd)); }
int ae_endpoint_start(ae_endpoint* endpoint) { AE_CONTROL(endpoint, start()); }
int ae_endpoint_stop(ae_endpoint* endpoint) { AE_CONTROL(endpoint, stop()); }
int ae_endpoint_reset(ae_endpoint* endpoint) { AE_CONTROL(endpoint, reset()); }
int ae_endpoint_set_period(ae_endpoint* endpoint, ae_hns period) { AE_CONTROL(endpoint, set_period(ae::hns{period})); }

int ae_endpoint_set_format(ae_endpoint* endpoint, const ae_frame_format* format) {
    if (!format) return AE_ERR_BAD_ARGUMENT;
    const ae::frame_format f = from_c(*format);
    AE_CONTROL(endpoint, set_format(f));
}

int ae_endpoint_move_to(ae_endpoint* endpoint, const char* device) {
    if (!device) return AE_ERR_BAD_ARGUMENT;
    AE_CONTROL(endpoint, move_to(device));
}

// The completion handler Asio calls on ae-ctl: a plain callable (no exception may leave it).
#define AE_CONTROL_ASYNC(endpoint, done, call)                                                            \
    do {                                                                                                  \
        if (!(endpoint) || !(done)) return AE_ERR_BAD_ARGUMENT;                                           \
        return guarded([&] {                                                                              \
            auto handler = [done, user_data](std::error_code ec) noexcept { done(user_data, code(ec)); }; \
            (endpoint)->visit([&](auto& e) { e.call; });                                                  \
            return AE_OK;                                                                                 \
        });                                                                                               \
    } while (false)

int ae_endpoint_set_buffer_async(ae_endpoint* endpoint, ae_hns max_period, uint32_t latency_coefficient, ae_completion done,
                                 void* user_data) {
    AE_CONTROL_ASYNC(endpoint, done, async_set_buffer(ae::hns{max_period}, latency_coefficient, handler));
}

int ae_endpoint_set_format_async(ae_endpoint* endpoint, const ae_frame_format* format, ae_completion done, void* user_data) {
    if (!format) return AE_ERR_BAD_ARGUMENT;
    const ae::frame_format f = from_c(*format);
    AE_CONTROL_ASYNC(endpoint, done, async_set_format(f, handler));
}

int ae_endpoint_move_to_async(ae_endpoint* endpoint, const char* device, ae_completion done, void* user_data) {
    if (!device) return AE_ERR_BAD_ARGUMENT;
    AE_CONTROL_ASYNC(endpoint, done, async_move_to(device, handler));
}

int ae_endpoint_inject(ae_endpoint* endpoint, const char* fault) {
    if (!fault) return AE_ERR_BAD_ARGUMENT;
    AE_CONTROL(endpoint, inject(fault));
}

#undef AE_CONTROL

void ae_endpoint_frame_format(const ae_endpoint* endpoint, ae_frame_format* out) {
    if (!endpoint || !out) return;
    *out = to_c(endpoint->visit([](const auto& e) { return e.frame_format(); }));
}

uint32_t ae_endpoint_frames_per_packet(const ae_endpoint* endpoint) {
    return endpoint ? endpoint->visit([](const auto& e) { return e.frames_per_packet(); }) : 0;
}

ae_hns ae_endpoint_latency(const ae_endpoint* endpoint) {
    return endpoint ? endpoint->visit([](const auto& e) { return e.latency(); }).count() : 0;
}

int ae_endpoint_state_of(const ae_endpoint* endpoint) {
    return endpoint ? static_cast<int>(endpoint->visit([](const auto& e) { return e.state(); })) : AE_STATE_CREATED;
}

uint32_t ae_endpoint_epoch(const ae_endpoint* endpoint) {
    return endpoint ? endpoint->visit([](const auto& e) { return e.epoch(); }) : 0;
}

int ae_endpoint_route_stage(const ae_endpoint* endpoint) {
    return endpoint ? static_cast<int>(endpoint->visit([](const auto& e) { return e.route_stage(); })) : AE_ROUTE_ROUTED;
}

size_t ae_endpoint_device(const ae_endpoint* endpoint, char* buffer, size_t size) {
    if (!endpoint) return 0;
    const std::string device = endpoint->visit([](const auto& e) { return e.device(); });
    if (buffer && size > 0) copy_text(buffer, size, device);
    return device.size();
}

int ae_endpoint_glitches(const ae_endpoint* endpoint, int kind, uint64_t* count, uint64_t* frames) {
    if (!endpoint || kind < 1 || kind > ae::glitch_kind_count) return AE_ERR_BAD_ARGUMENT;
    return guarded([&] {
        auto stats = endpoint->visit([](const auto& e) { return e.stats(); });
        if (!stats) return code(stats.error());
        if (count) *count = stats->glitch_count[static_cast<std::size_t>(kind)];
        if (frames) *frames = stats->glitch_frames[static_cast<std::size_t>(kind)];
        return static_cast<int>(AE_OK);
    });
}

int ae_endpoint_discarded(const ae_endpoint* endpoint, uint64_t* frames) {
    if (!endpoint || !frames) return AE_ERR_BAD_ARGUMENT;
    return guarded([&] {
        auto stats = endpoint->visit([](const auto& e) { return e.stats(); });
        if (!stats) return code(stats.error());
        *frames = stats->discarded_frames;
        return static_cast<int>(AE_OK);
    });
}

static_assert(AE_PADDING_BUCKETS == ae::endpoint_stats::padding_buckets);

int ae_endpoint_padding(const ae_endpoint* endpoint, uint64_t histogram[AE_PADDING_BUCKETS], uint64_t* samples, uint64_t* min_frames,
                        uint64_t* max_frames) {
    if (!endpoint) return AE_ERR_BAD_ARGUMENT;
    return guarded([&] {
        auto stats = endpoint->visit([](const auto& e) { return e.stats(); });
        if (!stats) return code(stats.error());
        if (histogram) std::copy(stats->padding_histogram.begin(), stats->padding_histogram.end(), histogram);
        if (samples) *samples = stats->padding_samples;
        if (min_frames) *min_frames = stats->padding_min;
        if (max_frames) *max_frames = stats->padding_max;
        return static_cast<int>(AE_OK);
    });
}

int ae_context_poll_event(ae_context* context, ae_event* out, int timeout_ms, uint64_t* missed) {
    if (!context || !out) return 0;
    std::unique_lock lock(context->mutex);
    if (timeout_ms > 0)
        context->ready.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !context->events.empty(); });
    if (missed) *missed = context->missed;
    if (context->events.empty()) return 0;
    *out = context->events.front();
    context->events.pop_front();
    return 1;
}

// ---- RT side: straight to the endpoint's RT view ------------------------------------------

uint64_t ae_rt_current_padding(ae_endpoint* endpoint, ae_position* position) AE_RT_NOEXCEPT { // rt-safe: bounded
    auto* pos = reinterpret_cast<ae::position*>(position);
    return endpoint->render_rt ? endpoint->render_rt->current_padding(pos) : endpoint->capture_rt->current_padding(pos);
}

void ae_rt_processing_complete(ae_endpoint* endpoint) AE_RT_NOEXCEPT { // rt-safe: bounded
    if (endpoint->render_rt) {
        endpoint->render_rt->processing_complete();
    } else {
        endpoint->capture_rt->processing_complete();
    }
}

void ae_rt_pulse(ae_endpoint* endpoint) AE_RT_NOEXCEPT { // rt-safe: bounded
    if (endpoint->render_rt) {
        endpoint->render_rt->pulse();
    } else {
        endpoint->capture_rt->pulse();
    }
}

int ae_rt_set_pin_inactive(ae_endpoint* endpoint) AE_RT_NOEXCEPT { // rt-safe: bounded
    return code(endpoint->render_rt ? endpoint->render_rt->set_pin_inactive() : endpoint->capture_rt->set_pin_inactive());
}

int ae_rt_set_pin_active(ae_endpoint* endpoint) AE_RT_NOEXCEPT { // rt-safe: bounded
    return code(endpoint->render_rt ? endpoint->render_rt->set_pin_active() : endpoint->capture_rt->set_pin_active());
}

void ae_rt_format(ae_endpoint* endpoint, ae_frame_format* out) AE_RT_NOEXCEPT { // rt-safe: bounded
    *out = to_c(endpoint->render_rt ? endpoint->render_rt->format() : endpoint->capture_rt->format());
}

uint32_t ae_rt_frames_per_packet(ae_endpoint* endpoint) AE_RT_NOEXCEPT { // rt-safe: wait-free
    return endpoint->render_rt ? endpoint->render_rt->frames_per_packet() : endpoint->capture_rt->frames_per_packet();
}

uint64_t ae_rt_buffer_frames(ae_endpoint* endpoint) AE_RT_NOEXCEPT { // rt-safe: wait-free
    return endpoint->render_rt ? endpoint->render_rt->buffer_frames() : 0;
}

int ae_rt_output_data_pointer(ae_endpoint* endpoint, uint32_t frames, void** out) AE_RT_NOEXCEPT { // rt-safe: bounded
    if (!endpoint->render_rt || !out) return AE_ERR_BAD_ARGUMENT;
    auto span = endpoint->render_rt->output_data_pointer(frames);
    if (!span) return code(span.error());
    *out = *span;
    return AE_OK;
}

int ae_rt_release_output_data_pointer(ae_endpoint* endpoint, const ae_connection_property* property) AE_RT_NOEXCEPT { // rt-safe: bounded
    if (!endpoint->render_rt || !property) return AE_ERR_BAD_ARGUMENT;
    ae::connection_property p{static_cast<std::byte*>(property->buffer), property->valid_frames,
                              static_cast<ae::buffer_flags>(property->flags)};
    const ae::errc result = endpoint->render_rt->try_release_output_data_pointer(p);
    return result == ae::errc{} ? AE_OK : code(result);
}

int ae_rt_input_data_pointer(ae_endpoint* endpoint, ae_connection_property* property, ae_position* timestamp) AE_RT_NOEXCEPT { // rt-safe: bounded
    if (!endpoint->capture_rt || !property) return AE_ERR_BAD_ARGUMENT;
    ae::connection_property p{static_cast<std::byte*>(property->buffer), property->valid_frames,
                              static_cast<ae::buffer_flags>(property->flags)};
    const ae::errc result = endpoint->capture_rt->input_data_pointer(p, reinterpret_cast<ae::position*>(timestamp));
    if (result != ae::errc{}) return code(result);
    property->buffer = p.buffer;
    property->valid_frames = p.valid_frames;
    property->flags = static_cast<uint32_t>(p.flags);
    return AE_OK;
}

int ae_rt_release_input_data_pointer(ae_endpoint* endpoint, uint32_t frames_consumed, const void* buffer) AE_RT_NOEXCEPT { // rt-safe: bounded
    if (!endpoint->capture_rt) return AE_ERR_BAD_ARGUMENT;
    const ae::errc result = endpoint->capture_rt->try_release_input_data_pointer(frames_consumed, static_cast<const std::byte*>(buffer));
    return result == ae::errc{} ? AE_OK : code(result);
}

} // extern "C"
