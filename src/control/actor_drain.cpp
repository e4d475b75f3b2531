// The control actor's side of a drain (rt_drain.h says when): each endpoint's padding sampled
// into its statistics and its retired segments freed, each device loop's events acted on (a loss
// starts the router's stages), glitch records into statistics and events.
#include "context_state.h"

#include <algorithm>

namespace ae::detail {

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
        const char* why; // nullptr: not lost, reshaped (a rate its chains cannot take)
        hns time;        // when the device thread saw it
    };
    std::vector<loss> lost;
    for (const auto& entry : impl_->registry.entries()) {
        entry->thread->control().collect_retired();
        pipeline::device_event de;
        while (entry->thread->control().try_pop_event(de)) {
            if (de.kind == pipeline::device_event_kind::lost && !entry->lost) {
                lost.push_back({entry.get(), "device went away; its endpoints run on the virtual clock", de.time});
            } else if (de.kind == pipeline::device_event_kind::format_changed && entry->thread->lost() && !entry->lost) {
                lost.push_back({entry.get(), nullptr, de.time});
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
    for (const auto& l : lost) {
        if (l.why != nullptr) {
            on_device_lost(*l.entry, l.why, l.time);
        } else {
            on_device_reshaped(*l.entry, l.time);
        }
    }
}

void control_actor::drain_inbox() { impl_->drain.drain_inbox(); }

void control_actor::wait_detached(std::shared_ptr<endpoint_block> e, device_entry* entry, std::function<void()> then) {
    impl_->drain.wait_detached(std::move(e), entry, std::move(then));
}

} // namespace ae::detail
