// The public handles (ae::context, ae::render_endpoint, ae::capture_endpoint) onto the control
// actor: every call posts to ae-ctl, or waits for what it posted.
#include "control_actor.h"

#include <openae/control/context.h>

#include <asio/post.hpp>

#include <future>

namespace ae::detail {

namespace {
// Runs `op` (returning std::error_code) on the control thread and completes `done` there.
template <typename Op>
void post_ec(const endpoint_ref& e, completion done, Op op) {
    asio::post(e.actor->executor(), [e, op = std::move(op), done = std::move(done)]() mutable { done(op(*e.actor, *e.block)); });
}
} // namespace

void endpoint_ops::set_buffer(const endpoint_ref& e, hns max_period, std::uint32_t latency_coefficient, completion done) {
    asio::post(e.actor->executor(), [e, max_period, latency_coefficient, done = std::move(done)]() mutable {
        e.actor->set_buffer(*e.block, max_period, latency_coefficient, std::move(done));
    });
}
void endpoint_ops::set_stream_flags(const endpoint_ref& e, stream_flags flags, completion done) {
    post_ec(e, std::move(done), [flags](control_actor& c, endpoint_block& b) { return c.set_stream_flags(b, flags); });
}
void endpoint_ops::set_event_handle(const endpoint_ref& e, int eventfd, completion done) {
    post_ec(e, std::move(done), [eventfd](control_actor& c, endpoint_block& b) { return c.set_event_handle(b, eventfd); });
}
void endpoint_ops::start(const endpoint_ref& e, completion done) {
    post_ec(e, std::move(done), [](control_actor& c, endpoint_block& b) { return c.start(b); });
}
void endpoint_ops::stop(const endpoint_ref& e, completion done) {
    post_ec(e, std::move(done), [](control_actor& c, endpoint_block& b) { return c.stop(b); });
}
void endpoint_ops::reset(const endpoint_ref& e, completion done) {
    asio::post(e.actor->executor(), [e, done = std::move(done)]() mutable { e.actor->reset(*e.block, std::move(done)); });
}
void endpoint_ops::set_format(const endpoint_ref& e, const frame_format& format, completion done) {
    asio::post(e.actor->executor(), [e, format, done = std::move(done)]() mutable { e.actor->set_format(*e.block, format, std::move(done)); });
}
void endpoint_ops::set_period(const endpoint_ref& e, hns period, completion done) {
    post_ec(e, std::move(done), [period](control_actor& c, endpoint_block& b) { return c.set_period(b, period); });
}
void endpoint_ops::move_to(const endpoint_ref& e, const std::string& device, completion done) {
    asio::post(e.actor->executor(), [e, device, done = std::move(done)]() mutable { e.actor->move_to(*e.block, device, std::move(done)); });
}
void endpoint_ops::inject(const endpoint_ref& e, const std::string& fault, completion done) {
    post_ec(e, std::move(done), [fault](control_actor& c, endpoint_block& b) {
        std::string message;
        return c.inject(b, fault, message);
    });
}

std::expected<endpoint_stats, std::error_code> endpoint_ops::stats(const endpoint_ref& e) {
    return e.actor->call([&] { return e.actor->stats(*e.block); });
}

std::error_code endpoint_ops::wait(const endpoint_ref& e, const std::function<void(completion)>& start) {
    if (e.actor->on_control_thread()) return make_error_code(errc::wrong_thread);
    std::promise<std::error_code> done;
    auto future = done.get_future();
    start([&done](std::error_code ec) { done.set_value(ec); });
    return future.get();
}

asio::any_io_executor endpoint_ops::executor(const endpoint_ref& e) { return e.actor->executor(); }
const std::string& endpoint_ops::name(const endpoint_ref& e) noexcept { return control_actor::name(*e.block); }

endpoint_ops::summary_view endpoint_ops::summary(const endpoint_ref& e) {
    endpoint_summary s = control_actor::summary(*e.block);
    return {s.state, s.format, s.frames_per_packet, s.latency, s.epoch, std::move(s.device), s.stage, s.attempt};
}
render_endpoint_rt& endpoint_ops::render_rt(const endpoint_ref& e) noexcept { return *control_actor::render_rt(*e.block); }
capture_endpoint_rt& endpoint_ops::capture_rt(const endpoint_ref& e) noexcept { return *control_actor::capture_rt(*e.block); }

void context_ops::create(const std::shared_ptr<control_actor>& actor, endpoint_direction direction, endpoint_config config,
                         std::function<void(made)> done) {
    asio::post(actor->executor(), [actor, direction, config = std::move(config), done = std::move(done)]() mutable {
        actor->create(direction, config, [actor, done = std::move(done)](auto m, const std::string&) {
            if (!m) return done(std::unexpected(m.error()));
            done(endpoint_ref{actor, std::move(*m)});
        });
    });
}

void context_ops::destroy(const std::shared_ptr<control_actor>& actor, std::string name, completion done) {
    asio::post(actor->executor(), [actor, name = std::move(name), done = std::move(done)] { done(actor->destroy(name)); });
}

void context_ops::next_event(const std::shared_ptr<control_actor>& actor, std::function<void(const event&)> fn) {
    asio::post(actor->executor(), [actor, fn = std::move(fn)]() mutable {
        auto id = std::make_shared<std::uint64_t>(0);
        *id = actor->subscribe([actor, fn = std::move(fn), id](const event& e) {
            if (*id == 0) return;
            actor->unsubscribe(*id);
            *id = 0;
            fn(e);
        });
    });
}

asio::any_io_executor context_ops::executor(const control_actor& actor) { return actor.executor(); }

} // namespace ae::detail

namespace ae {

context::context() : context(context_options{}) {}

context::context(context_options options) : actor_(std::make_shared<detail::control_actor>(std::move(options))) {
    actor_->start_thread();
}

context::~context() { actor_->stop_thread(); }

namespace {
std::expected<detail::endpoint_ref, std::error_code> create_blocking(const std::shared_ptr<detail::control_actor>& actor,
                                                                     endpoint_direction direction, const endpoint_config& config) {
    using made = detail::context_ops::made;
    if (actor->on_control_thread()) return std::unexpected(make_error_code(errc::wrong_thread));
    std::promise<made> done;
    auto future = done.get_future();
    detail::context_ops::create(actor, direction, config, [&done](made m) { done.set_value(std::move(m)); });
    return future.get();
}
} // namespace

std::expected<render_endpoint, std::error_code> context::create_render_endpoint(const endpoint_config& config) {
    auto made = create_blocking(actor_, endpoint_direction::render, config);
    if (!made) return std::unexpected(made.error());
    return render_endpoint(std::move(*made));
}

std::expected<capture_endpoint, std::error_code> context::create_capture_endpoint(const endpoint_config& config) {
    auto made = create_blocking(actor_, endpoint_direction::capture, config);
    if (!made) return std::unexpected(made.error());
    return capture_endpoint(std::move(*made));
}

std::error_code context::destroy(const std::string& name) {
    return actor_->call_ec([&] { return actor_->destroy(name); });
}

std::expected<bridge_status, std::error_code> context::create_bridge(const bridge_config& config) {
    using made = std::expected<bridge_status, std::error_code>;
    if (actor_->on_control_thread()) return std::unexpected(make_error_code(errc::wrong_thread));
    std::promise<made> done;
    auto future = done.get_future();
    asio::post(actor_->executor(), [this, &config, &done] {
        actor_->create_bridge(config, [&done](made m, const std::string&) { done.set_value(std::move(m)); });
    });
    return future.get();
}

std::error_code context::enable_rdp_desktop_audio(const rdp_desktop_audio_options& options) {
    return actor_->call_ec([&] { return actor_->enable_rdp_desktop_audio(options); });
}

std::vector<bridge_status> context::bridges() const {
    if (actor_->on_control_thread()) return actor_->bridges();
    std::promise<std::vector<bridge_status>> done;
    auto future = done.get_future();
    asio::post(actor_->executor(), [&] { done.set_value(actor_->bridges()); });
    return future.get();
}

std::size_t context::poll() { return actor_->poll(); }
std::size_t context::step_devices() { return actor_->step_devices(); }

std::uint64_t context::subscribe(std::function<void(const event&)> fn) { return actor_->subscribe(std::move(fn)); }
void context::unsubscribe(std::uint64_t id) { actor_->unsubscribe(id); }

std::vector<pipeline::available_device> context::available_devices(const pipeline::discovery_options& options) const {
    if (actor_->on_control_thread()) return {};
    return pipeline::discover_devices(options);
}

void context::async_available_devices(std::function<void(std::vector<pipeline::available_device>)> done,
                                      pipeline::discovery_options options) const {
    actor_->off_thread("ae-probe", [done = std::move(done), options]() -> std::function<void()> {
        auto found = std::make_shared<std::vector<pipeline::available_device>>(pipeline::discover_devices(options));
        return [done, found] { done(std::move(*found)); };
    });
}

std::string context::default_device() const { return actor_->default_device(); }

std::vector<device_info> context::devices() const {
    if (actor_->on_control_thread()) return actor_->devices();
    std::promise<std::vector<device_info>> done;
    auto future = done.get_future();
    asio::post(actor_->executor(), [&] { done.set_value(actor_->devices()); });
    return future.get();
}

asio::any_io_executor context::executor() const { return actor_->executor(); }
bool context::on_control_thread() const noexcept { return actor_->on_control_thread(); }

} // namespace ae
