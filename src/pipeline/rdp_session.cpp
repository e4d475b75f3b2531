// The RDP sessions openae knows (rdp.h): a process-wide registry, the watches on it, and each
// session's hand-off from FreeRDP's threads to the devices attached to it.
#include "rdp_session.h"

#include <openae/rt/errc.h>

#include <algorithm>
#include <map>

namespace ae::pipeline {
namespace {

struct registry {
    std::mutex mutex;
    std::uint64_t next_session = 1;
    std::vector<std::shared_ptr<rdp_session>> sessions; // oldest first
    std::uint64_t next_watch = 1;
    std::map<std::uint64_t, rdp_session_watch::callback> watches;
    // Held while a watch runs, so that a watch's destructor can wait for it (not the registry's
    // mutex: a watch may read the registry).
    std::recursive_mutex calling;
};

registry& the_registry() {
    static registry r;
    return r;
}

void notify(bool added, const std::string& id, bool render) {
    registry& r = the_registry();
    const std::lock_guard calling(r.calling);
    std::vector<rdp_session_watch::callback> watches;
    {
        const std::lock_guard lock(r.mutex);
        for (const auto& [key, watch] : r.watches) watches.push_back(watch);
    }
    for (const auto& watch : watches) watch(added, "rdp:" + id, render);
}

} // namespace

rdp_session_info rdp_session::info() const {
    rdp_session_info i;
    i.id = id_;
    i.client = client_;
    auto* self = const_cast<rdp_session*>(this); // with_channels locks; the channels are not changed
    (void)self->with_channels([&](rdp_channels& c) {
        i.speakers = c.speakers_ready();
        i.microphone = c.microphone_open();
        const auto speakers = c.speakers_format();
        const auto microphone = c.microphone_format();
        i.speakers_rate = speakers.rate;
        i.speakers_channels = speakers.channels;
        i.microphone_rate = microphone.rate;
        i.microphone_channels = microphone.channels;
    });
    const std::lock_guard lock(listeners_mutex_);
    if (speakers_) speakers_->report(i);
    if (microphone_) microphone_->report(i);
    return i;
}

bool rdp_session::attach_speakers(rdp_speakers_listener* listener) {
    const std::lock_guard lock(listeners_mutex_);
    if (speakers_ && speakers_ != listener) return false;
    speakers_ = listener;
    return true;
}
void rdp_session::detach_speakers(rdp_speakers_listener* listener) {
    const std::lock_guard lock(listeners_mutex_);
    if (speakers_ == listener) speakers_ = nullptr;
}
bool rdp_session::attach_microphone(rdp_microphone_listener* listener) {
    const std::lock_guard lock(listeners_mutex_);
    if (microphone_ && microphone_ != listener) return false;
    microphone_ = listener;
    return true;
}
void rdp_session::detach_microphone(rdp_microphone_listener* listener) {
    const std::lock_guard lock(listeners_mutex_);
    if (microphone_ == listener) microphone_ = nullptr;
}

void rdp_session::open(std::unique_ptr<rdp_channels> channels) {
    const std::lock_guard lock(channels_mutex_);
    channels_ = std::move(channels);
}

void rdp_session::close() {
    connected_.store(false, std::memory_order_release);
    std::unique_ptr<rdp_channels> closing;
    {
        const std::lock_guard lock(channels_mutex_);
        closing = std::move(channels_);
    }
    const bool had_speakers = closing && closing->speakers_ready();
    const bool had_microphone = closing && closing->microphone_open();
    closing.reset(); // joins FreeRDP's channel threads: no event after this
    if (had_speakers) notify(false, id_, true);
    if (had_microphone) notify(false, id_, false);
}

void rdp_session::poll() {
    (void)with_channels([](rdp_channels& c) { c.poll(); });
}

void rdp_session::speakers_changed(bool ready) noexcept { notify(ready, id_, true); }
void rdp_session::microphone_changed(bool open) noexcept { notify(open, id_, false); }

void rdp_session::confirmed(std::uint8_t block, std::uint16_t timestamp_ms) noexcept {
    const std::lock_guard lock(listeners_mutex_);
    if (speakers_) speakers_->confirmed(block, timestamp_ms);
}

void rdp_session::recorded(const std::int16_t* frames, std::size_t count) noexcept {
    const std::lock_guard lock(listeners_mutex_);
    if (microphone_) microphone_->recorded(frames, count);
}

std::shared_ptr<rdp_session> find_rdp_session(std::string_view id) {
    registry& r = the_registry();
    const std::lock_guard lock(r.mutex);
    if (r.sessions.empty()) return nullptr;
    if (id.empty() || id == "latest") return r.sessions.back();
    for (const auto& s : r.sessions) {
        if (s->id() == id) return s;
    }
    return nullptr;
}

std::expected<std::string, device_error> rdp_attach_session(void* vcm, void* rdp_context, std::string_view client) {
    return rdp_attach_channels(client, [&](rdp_channel_events& events) { return rdp_channels::open(vcm, rdp_context, events); });
}

std::expected<std::string, device_error> rdp_attach_channels(std::string_view client, const channels_factory& open) {
    registry& r = the_registry();
    std::shared_ptr<rdp_session> session;
    {
        const std::lock_guard lock(r.mutex);
        session = std::make_shared<rdp_session>(std::to_string(r.next_session++), std::string(client));
    }
    // Opened before it is listed: its channels' first events may come at once.
    auto channels = open(*session);
    if (!channels) return std::unexpected(channels.error());
    session->open(std::move(*channels));
    {
        const std::lock_guard lock(r.mutex);
        r.sessions.push_back(session);
    }
    return session->id();
}

void rdp_detach_session(std::string_view id) {
    registry& r = the_registry();
    std::shared_ptr<rdp_session> session;
    {
        const std::lock_guard lock(r.mutex);
        const auto at = std::find_if(r.sessions.begin(), r.sessions.end(), [&](const auto& s) { return s->id() == id; });
        if (at == r.sessions.end()) return;
        session = *at;
        r.sessions.erase(at);
    }
    session->close();
}

std::vector<rdp_session_info> rdp_sessions() {
    std::vector<std::shared_ptr<rdp_session>> sessions;
    {
        registry& r = the_registry();
        const std::lock_guard lock(r.mutex);
        sessions = r.sessions;
    }
    std::vector<rdp_session_info> infos;
    for (const auto& s : sessions) infos.push_back(s->info());
    return infos;
}

rdp_session_watch::rdp_session_watch(callback changed) {
    registry& r = the_registry();
    const std::lock_guard lock(r.mutex);
    id_ = r.next_watch++;
    r.watches.emplace(id_, std::move(changed));
}

rdp_session_watch::~rdp_session_watch() {
    registry& r = the_registry();
    const std::lock_guard calling(r.calling); // a callback running now finishes first
    const std::lock_guard lock(r.mutex);
    r.watches.erase(id_);
}

} // namespace ae::pipeline
