// The engine's life: its thread and its one wait point, and the control side's adds, removes and
// collections of slots over SPSC queues.
#include "slot.h"

#include <openae/rt/errc.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/thread_name.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace ae {
namespace {

using engine_detail::capture_pass;
using engine_detail::render_pass;

constexpr int engine_wait_ms = 100; // a bound, not a pace: device periods wake the engine

engine_error error(errc code, std::string message) { return {make_error_code(code), std::move(message)}; }

} // namespace

std::expected<std::unique_ptr<engine>, engine_error> engine::create(engine_options options) {
    std::unique_ptr<engine> e(new engine(std::move(options)));
    if (e->wake_fd_ < 0 || e->release_fd_ < 0) return std::unexpected(error(errc::io_error, "engine: cannot create an eventfd"));
    e->thread_ = std::thread([raw = e.get()] { raw->run(); });
    return e;
}

engine::engine(engine_options options)
    : options_(options),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), release_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      commands_(std::make_unique<spsc_queue<command>>(options.max_endpoints * 2 + 16)),
      retired_(std::make_unique<spsc_queue<slot*>>(options.max_endpoints + 16)) {
    active_.reserve(options.max_endpoints);
}

engine::~engine() {
    stop_.store(true, std::memory_order_release);
    signal_eventfd(wake_fd_);
    if (thread_.joinable()) thread_.join();
    for (auto& [name, s] : slots_) {
        if (s->sink) s->sink->stop();
    }
    for (auto& s : leaving_) {
        if (s->sink) s->sink->stop();
    }
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (release_fd_ >= 0) ::close(release_fd_);
}

std::expected<void, engine_error> engine::add(std::unique_ptr<slot> s) {
    collect();
    if (slots_.contains(s->name)) return std::unexpected(error(errc::already_initialized, "engine: '" + s->name + "' is driven already"));
    if (slots_.size() + leaving_.size() >= options_.max_endpoints)
        return std::unexpected(error(errc::busy, "engine: at most " + std::to_string(options_.max_endpoints) + " endpoints"));
    // A render endpoint is pre-filled here, before the engine thread sees it: when the host starts
    // it, the first device period plays the source, however late the engine thread's next pass
    // (a stopped endpoint accepts data; the queue below hands the slot over with release/acquire).
    if (s->render_rt) {
        render_pass(*s);
        s->published.publish(s->record);
    }
    if (!commands_->try_push(command{s.get(), nullptr})) return std::unexpected(error(errc::busy, "engine: command queue full"));
    signal_eventfd(wake_fd_);
    slots_.emplace(s->name, std::move(s));
    return {};
}

std::expected<void, engine_error> engine::add_render(engine_endpoint<render_endpoint_rt> endpoint, engine_source source) {
    auto s = std::make_unique<slot>();
    s->name = std::move(endpoint.name);
    s->text = source.text;
    s->render_rt = endpoint.rt;
    s->owner = std::move(endpoint.owner);
    s->source = std::move(source);
    return add(std::move(s));
}

std::expected<void, engine_error> engine::add_capture(engine_endpoint<capture_endpoint_rt> endpoint, engine_sink sink) {
    const frame_format format = endpoint.rt->format();
    if (sink.writer && (sink.format.sample_rate != format.sample_rate || sink.format.channels != format.channels))
        return std::unexpected(error(errc::unsupported_format, "sink '" + sink.text + "' was opened for another format"));
    auto s = std::make_unique<slot>();
    s->name = std::move(endpoint.name);
    s->text = sink.text;
    s->sink_channels = sink.channels;
    s->sink = std::move(sink.writer);
    s->capture_rt = endpoint.rt;
    s->owner = std::move(endpoint.owner);
    return add(std::move(s));
}

bool engine::remove(const std::string& name) {
    collect();
    auto it = slots_.find(name);
    if (it == slots_.end()) return false;
    // The queue holds twice the slots: a remove always fits.
    if (!commands_->try_push(command{nullptr, it->second.get()})) return false;
    signal_eventfd(wake_fd_);
    leaving_.push_back(std::move(it->second));
    slots_.erase(it);
    return true;
}

void engine::take_retired() {
    slot* gone = nullptr;
    while (retired_->try_pop(gone)) {
        auto it = std::find_if(leaving_.begin(), leaving_.end(), [gone](const auto& s) { return s.get() == gone; });
        if (it != leaving_.end()) (*it)->retired = true;
    }
}

void engine::collect() {
    take_retired();
    for (auto it = leaving_.begin(); it != leaving_.end();) {
        if (!(*it)->retired) {
            ++it;
            continue;
        }
        if ((*it)->sink && sink_closer_) {
            sink_closer_(std::move((*it)->sink));
        } else if ((*it)->sink) {
            (*it)->sink->stop(); // flushes and closes the file
        }
        it = leaving_.erase(it);
    }
}

std::optional<std::unique_ptr<pipeline::device>> engine::take_retired(const std::string& name) {
    take_retired();
    auto it = std::find_if(leaving_.begin(), leaving_.end(), [&](const auto& s) { return s->name == name; });
    if (it == leaving_.end()) return std::unique_ptr<pipeline::device>{}; // never driven, or collected already
    if (!(*it)->retired) return std::nullopt;
    auto sink = std::move((*it)->sink);
    leaving_.erase(it);
    return sink;
}

bool engine::drives(const std::string& name) const { return slots_.contains(name); }

std::string engine::source_or_sink(const std::string& name) const {
    auto it = slots_.find(name);
    return it == slots_.end() ? std::string{} : it->second->text;
}

std::expected<engine_slot_stats, std::error_code> engine::stats(const std::string& name) const {
    auto it = slots_.find(name);
    if (it == slots_.end()) return std::unexpected(make_error_code(errc::unknown_endpoint));
    pass_record r;
    if (!it->second->published.try_read(r)) return std::unexpected(make_error_code(errc::busy));
    engine_slot_stats out;
    out.frames = r.frames;
    out.passes = r.passes;
    out.errors = r.errors;
    out.padding_min = r.padding_min;
    out.padding_max = r.padding_max;
    out.padding_avg = r.passes ? static_cast<double>(r.padding_sum) / static_cast<double>(r.passes) : 0.0;
    out.have_position = r.have_position != 0;
    out.last_position = r.last_position;
    return out;
}

void engine::apply_commands() noexcept { // rt-safe: bounded by the queue's capacity
    command c;
    bool released = false;
    while (commands_->try_pop(c)) {
        if (c.add && active_.size() < active_.capacity()) active_.push_back(c.add);
        if (c.remove) {
            auto it = std::find(active_.begin(), active_.end(), c.remove);
            if (it != active_.end()) {
                *it = active_.back();
                active_.pop_back();
            }
            // Holds max_endpoints + 16 and only removed slots travel: it cannot be full.
            [[maybe_unused]] const bool pushed = retired_->try_push(std::move(c.remove));
            released = true;
        }
    }
    if (released) signal_eventfd(release_fd_);
}

void engine::run() noexcept {
    set_current_thread_name("ae-rt-engine");
    if (options_.realtime_priority > 0) (void)try_set_realtime_priority(options_.realtime_priority);
    if (options_.hooks.started) options_.hooks.started(options_.hooks.context);
    while (!stop_.load(std::memory_order_acquire)) {
        apply_commands();
        for (slot* s : active_) {
            if (s->render_rt) {
                render_pass(*s);
            } else {
                capture_pass(*s);
            }
            s->published.publish(s->record);
        }
        passes_.fetch_add(1, std::memory_order_relaxed);
        // The engine's one wait point: the next device period (or a command).
        if (options_.hooks.wait_begin) options_.hooks.wait_begin(options_.hooks.context);
        pollfd p{wake_fd_, POLLIN, 0};
        if (::poll(&p, 1, engine_wait_ms) > 0) {
            std::uint64_t count = 0;
            [[maybe_unused]] const auto got = ::read(wake_fd_, &count, sizeof count);
        }
        if (options_.hooks.wait_end) options_.hooks.wait_end(options_.hooks.context);
    }
    if (options_.hooks.stopping) options_.hooks.stopping(options_.hooks.context);
}

} // namespace ae
