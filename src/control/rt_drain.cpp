// What comes back from the RT side: glitch records (the control inbox, drained when its eventfd says
// so), resets applied, detaches confirmed — drained when
// a device loop wakes ae-ctl, and on the drain timer.
#include "context_state.h"

#include <algorithm>

namespace ae::detail {

void control_actor::schedule_drain() {
    if (impl_->stopping) return;
    impl_->drain_timer.expires_after(std::chrono::microseconds(impl_->options.drain_interval.count() / 10));
    impl_->drain_timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
        if (ec || self->impl_->stopping) return;
        self->drain();
        self->check_detached();
        self->check_resets();
        self->impl_->log.flush_repeats(false);
        self->schedule_drain();
    });
}

void control_actor::watch_wake() {
    if (impl_->stopping || impl_->wake_fd < 0) return;
    impl_->wake.async_wait(asio::posix::descriptor_base::wait_read, [self = shared_from_this()](const std::error_code& ec) {
        if (ec || self->impl_->stopping) return;
        std::uint64_t count = 0;
        [[maybe_unused]] const auto got = ::read(self->impl_->wake_fd, &count, sizeof count);
        self->drain();
        self->check_detached();
        self->check_resets();
        self->check_bridge_starts();
        self->watch_wake();
    });
}

void control_actor::check_resets() {
    const auto now = control_clock::now();
    auto& resets = impl_->resets;
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
            control_detail::log_json(impl_->log.logger(), spdlog::level::warn,
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

void control_actor::watch_inbox() {
    if (impl_->stopping || !impl_->inbox_watch.is_open()) return;
    impl_->inbox_watch.async_wait(asio::posix::descriptor_base::wait_read, [self = shared_from_this()](const std::error_code& ec) {
        if (ec || self->impl_->stopping) return;
        std::uint64_t count = 0;
        [[maybe_unused]] const auto got = ::read(self->impl_->inbox_watch.native_handle(), &count, sizeof count);
        self->drain_inbox();
        self->watch_inbox();
    });
}

void control_actor::note_glitch(endpoint_block& e, const glitch_record& r) {
    ++e.stats.glitch_count[static_cast<int>(r.kind)];
    e.stats.glitch_frames[static_cast<int>(r.kind)] += r.frames;
    e.stats.last_glitch = r.time;
    event ev;
    ev.kind = event_kind::glitch;
    ev.endpoint = e.name;
    ev.epoch = r.epoch;
    ev.time = r.time;
    ev.glitch = r.kind;
    ev.stream_position = r.stream_position;
    ev.frames = r.frames;
    emit(std::move(ev));
}

void control_actor::drain_inbox() {
    impl_->inbox.drain([&](const glitch_record& r) {
        const auto found = impl_->by_id.find(r.endpoint_id);
        if (found == impl_->by_id.end()) return; // its endpoint is gone: nobody to tell
        note_glitch(*found->second, r);
    });
}

void control_actor::on_device_dropped(device_entry& entry, std::uint64_t device_frames, hns time) {
    // With endpoints on the device, their `dropped` glitches say it (folded within the repeat
    // window: an RDP microphone short every period logged a line a period); alone, this line.
    if (std::ranges::none_of(impl_->endpoints, [&](const auto& named) { return named.second->entry == &entry; })) {
        control_detail::log_json(impl_->log.logger(), spdlog::level::warn,
                                 {{"component", "device"}, {"event", "device_dropped"}, {"device", entry.spec}, {"frames", device_frames}});
    }
    // Frames the device itself dropped (an xrun, a window past which a client took nothing, a
    // period it padded) are missing from every stream on it: a `dropped` glitch for each, in its
    // own frames, at no one stream position (0).
    const std::uint32_t device_rate = entry.thread->dev().format().sample_rate;
    for (auto& [name, e] : impl_->endpoints) {
        if (e->entry != &entry || device_rate == 0) continue;
        glitch_record r{};
        r.kind = glitch_kind::dropped;
        r.frames = device_frames * e->format.sample_rate / device_rate;
        r.time = time;
        r.epoch = e->core().requested_epoch();
        note_glitch(*e, r);
    }
}

void control_actor::drain() {
    drain_inbox();
    for (auto& [name, e] : impl_->endpoints) {
        if (e->state == endpoint_state::running || e->state == endpoint_state::error) {
            const std::uint64_t padding = e->core().control_link().last_padding();
            const int bucket = padding == 0 ? 0 : std::min(endpoint_stats::padding_buckets - 1, static_cast<int>(std::bit_width(padding)));
            auto& st = e->stats;
            ++st.padding_histogram[static_cast<std::size_t>(bucket)];
            st.padding_min = st.padding_samples == 0 ? padding : std::min(st.padding_min, padding);
            st.padding_max = std::max(st.padding_max, padding);
            ++st.padding_samples;
        }
        e->core().collect_retired();
    }
    struct loss {
        device_entry* entry;
        const char* why;
        hns time; // when the device thread saw it
    };
    std::vector<loss> lost;
    for (const auto& entry : impl_->registry.entries()) {
        entry->thread->control().collect_retired();
        pipeline::device_event de;
        while (entry->thread->control().try_pop_event(de)) {
            if (de.kind == pipeline::device_event_kind::lost && !entry->lost) {
                lost.push_back({entry.get(), "device went away; its endpoints run on the virtual clock", de.time});
            } else if (de.kind == pipeline::device_event_kind::format_changed && entry->thread->lost() && !entry->lost) {
                lost.push_back({entry.get(), "device changed its rate or period; its endpoints run on the virtual clock", de.time});
            } else if (de.kind == pipeline::device_event_kind::latency_changed) {
                on_device_latency_changed(*entry);
            } else if (de.kind == pipeline::device_event_kind::period_changed) {
                on_device_period_changed(*entry, static_cast<std::uint32_t>(de.frames));
            } else if (de.kind == pipeline::device_event_kind::realtime_refused) {
                control_detail::log_json(impl_->log.logger(), spdlog::level::warn,
                                         {{"component", "device"}, {"event", "realtime_refused"}, {"device", entry->spec},
                                          {"message", "device thread runs without SCHED_FIFO"}});
            } else if (de.kind == pipeline::device_event_kind::device_dropped) {
                on_device_dropped(*entry, de.frames, de.time);
            }
        }
    }
    // Handled after the loop: rerouting opens devices (the registry grows).
    for (const auto& l : lost) on_device_lost(*l.entry, l.why, l.time);
}

void control_actor::wait_detached(std::shared_ptr<endpoint_block> e, device_entry* entry, std::function<void()> then) {
    // The device thread applies the detach at its next period and wakes ae-ctl when it has.
    impl_->detaches.push_back({std::move(e), entry, entry->thread->control().commands_sent(), std::move(then)});
    check_detached();
}

void control_actor::check_detached() {
    auto& waits = impl_->detaches;
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

// The buffer a device needs: two of its periods, in the endpoint's frames, and a resampler's
// margin when the rates differ.

} // namespace ae::detail
