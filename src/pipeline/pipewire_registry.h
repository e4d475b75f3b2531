// One walk of a PipeWire server's registry: its audio sinks and sources (and each sink's monitor,
// for capture), and the default sink and source from the "default" metadata. One connection, two
// round trips (the globals, then the metadata's properties), each bounded by the timeout. Shared
// by discovery and the default-setting helper (pipewire_discovery.cpp) and the hotplug watch
// (pipewire_watch.cpp).
#pragma once

#include "pipewire_init.h"

#include <openae/pipeline/device_discovery.h>

#include <pipewire/extensions/metadata.h>
#include <pipewire/pipewire.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ae::pipeline {

struct pw_node_seen {
    std::string name;
    std::string description;
    std::string media_class;
    std::uint32_t rate = 0;
    std::uint16_t channels = 0;
};

// The name in a default.audio.* value: {"name":"NODE"}.
inline std::string json_name(const char* value) {
    if (value == nullptr) return {};
    const std::string text(value);
    const auto key = text.find("\"name\"");
    if (key == std::string::npos) return {};
    const auto open = text.find('"', text.find(':', key) + 1);
    const auto close = open == std::string::npos ? open : text.find('"', open + 1);
    return close == std::string::npos ? std::string{} : text.substr(open + 1, close - open - 1);
}

inline std::uint32_t number_of(const spa_dict* props, const char* key) {
    const char* value = spa_dict_lookup(props, key);
    return value != nullptr ? static_cast<std::uint32_t>(std::strtoul(value, nullptr, 10)) : 0;
}

// One walk of a server's registry, on a thread loop of its own. A global's properties rarely carry
// the node's format (audio.rate / audio.channels): where they do not, it is unknown (0).
class registry_walk {
public:
    // Watching: after the first walk, `changed` hears of every node that comes or goes, on the
    // loop's thread, and of the server's own default (server_device()) when its first sink comes
    // or its last one goes; `lost` hears that the connection broke (the server is gone: no more
    // news comes).
    explicit registry_walk(device_watch::callback changed = {}, std::function<void()> lost = {})
        : changed_(std::move(changed)), lost_(std::move(lost)) {}
    registry_walk(const registry_walk&) = delete;
    registry_walk& operator=(const registry_walk&) = delete;
    ~registry_walk() {
        if (loop_ == nullptr) return;
        pw_thread_loop_lock(loop_);
        if (metadata_ != nullptr) pw_proxy_destroy(reinterpret_cast<pw_proxy*>(metadata_));
        if (registry_ != nullptr) pw_proxy_destroy(reinterpret_cast<pw_proxy*>(registry_));
        if (core_ != nullptr) pw_core_disconnect(core_);
        pw_thread_loop_unlock(loop_);
        pw_thread_loop_stop(loop_);
        destroy_pipewire(context_, loop_);
    }

    // The devices there now; empty when no server answers within `timeout` each round trip.
    // `answered` says whether one did. `announce`: a watch's server that came after the watch
    // began — what it has is news too, told before any change to it.
    std::vector<available_device> run(std::chrono::milliseconds timeout, bool* answered = nullptr, bool announce = false) {
        loop_ = new_pipewire_loop(changed_ ? "ae-pw-watch" : "ae-pw-probe");
        if (loop_ == nullptr) return {};
        context_ = new_pipewire_context(pw_thread_loop_get_loop(loop_));
        if (context_ == nullptr || pw_thread_loop_start(loop_) != 0) return {};
        pw_thread_loop_lock(loop_);
        core_ = connect_pipewire(context_, nullptr);
        if (core_ == nullptr) {
            pw_thread_loop_unlock(loop_);
            return {};
        }
        static const pw_core_events core_events = [] {
            pw_core_events e{};
            e.version = PW_VERSION_CORE_EVENTS;
            e.done = [](void* self, std::uint32_t id, int seq) {
                auto* walk = static_cast<registry_walk*>(self);
                if (id == PW_ID_CORE && seq == walk->pending_) walk->synced_ = true;
                pw_thread_loop_signal(walk->loop_, false);
            };
            e.error = [](void* self, std::uint32_t id, int, int, const char*) {
                auto* walk = static_cast<registry_walk*>(self);
                if (id == PW_ID_CORE) {
                    walk->failed_ = true;
                    if (walk->walked_ && walk->lost_) walk->lost_();
                }
                pw_thread_loop_signal(walk->loop_, false);
            };
            return e;
        }();
        pw_core_add_listener(core_, &core_listener_, &core_events, this);
        registry_ = pw_core_get_registry(core_, PW_VERSION_REGISTRY, 0);
        static const pw_registry_events registry_events = [] {
            pw_registry_events e{};
            e.version = PW_VERSION_REGISTRY_EVENTS;
            e.global = [](void* self, std::uint32_t id, std::uint32_t, const char* type, std::uint32_t, const spa_dict* props) {
                static_cast<registry_walk*>(self)->on_global(id, type, props);
            };
            e.global_remove = [](void* self, std::uint32_t id) { static_cast<registry_walk*>(self)->on_global_remove(id); };
            return e;
        }();
        pw_registry_add_listener(registry_, &registry_listener_, &registry_events, this);
        const bool listed = round_trip(timeout);
        if (listed && metadata_id_ != 0) {
            metadata_ = static_cast<pw_metadata*>(pw_registry_bind(registry_, metadata_id_, PW_TYPE_INTERFACE_Metadata, PW_VERSION_METADATA, 0));
            if (metadata_ != nullptr) {
                static const pw_metadata_events metadata_events = [] {
                    pw_metadata_events e{};
                    e.version = PW_VERSION_METADATA_EVENTS;
                    e.property = [](void* self, std::uint32_t, const char* key, const char*, const char* value) {
                        auto* walk = static_cast<registry_walk*>(self);
                        if (key != nullptr && std::strcmp(key, "default.audio.sink") == 0) walk->default_sink_ = json_name(value);
                        if (key != nullptr && std::strcmp(key, "default.audio.source") == 0) walk->default_source_ = json_name(value);
                        return 0;
                    };
                    return e;
                }();
                pw_metadata_add_listener(metadata_, &metadata_listener_, &metadata_events, this);
                (void)round_trip(timeout);
            }
        }
        // Read with the loop locked: the loop's thread goes on hearing of nodes and defaults.
        std::vector<available_device> found = listed ? devices() : std::vector<available_device>{};
        if (listed && announce && changed_) {
            if (sinks_ > 0) changed_(true, server_device());
            for (const auto& d : found) changed_(true, d);
        }
        walked_ = listed; // from here on a node is news
        pw_thread_loop_unlock(loop_);
        if (answered != nullptr) *answered = listed;
        return found;
    }

    // After run(): what the walk knows of now, the server's default last when it has a sink.
    std::vector<available_device> known_devices() {
        if (loop_ == nullptr) return {};
        pw_thread_loop_lock(loop_);
        std::vector<available_device> found = devices();
        if (sinks_ > 0) found.push_back(server_device());
        pw_thread_loop_unlock(loop_);
        return found;
    }

    // What `auto` names when a server answers with a sink: the server's own default sink and
    // source, wherever the session manager points them.
    static available_device server_device() {
        available_device d;
        d.kind = "pipewire";
        d.spec = "pipewire";
        d.description = "The PipeWire server's default sink and source";
        d.render = true;
        d.capture = true;
        d.backend_default = true;
        return d;
    }

    // After run(): sets the "default" metadata's `key` to {"name":"NODE"} (what `pactl
    // set-default-sink` does); true once the server has taken it.
    bool set_default(const char* key, const std::string& node, std::chrono::milliseconds timeout) {
        if (loop_ == nullptr) return false;
        pw_thread_loop_lock(loop_);
        bool done = false;
        if (metadata_ != nullptr) {
            const std::string value = "{\"name\":\"" + node + "\"}";
            done = pw_metadata_set_property(metadata_, 0, key, "Spa:String:JSON", value.c_str()) >= 0 && round_trip(timeout);
        }
        pw_thread_loop_unlock(loop_);
        return done;
    }

private:
    // With the loop locked: true once the server has answered everything asked before it.
    bool round_trip(std::chrono::milliseconds timeout) {
        synced_ = false;
        pending_ = pw_core_sync(core_, PW_ID_CORE, pending_);
        timespec deadline{};
        pw_thread_loop_get_time(loop_, &deadline, std::chrono::nanoseconds(timeout).count());
        while (!synced_ && !failed_) {
            if (pw_thread_loop_timed_wait_full(loop_, &deadline) != 0) break;
        }
        return synced_;
    }

    void on_global(std::uint32_t id, const char* type, const spa_dict* props) {
        if (props == nullptr) return;
        if (std::strcmp(type, PW_TYPE_INTERFACE_Metadata) == 0) {
            const char* name = spa_dict_lookup(props, PW_KEY_METADATA_NAME);
            if (name != nullptr && std::strcmp(name, "default") == 0) metadata_id_ = id;
            return;
        }
        if (std::strcmp(type, PW_TYPE_INTERFACE_Node) != 0) return;
        const char* media_class = spa_dict_lookup(props, PW_KEY_MEDIA_CLASS);
        const char* name = spa_dict_lookup(props, PW_KEY_NODE_NAME);
        if (media_class == nullptr || name == nullptr) return;
        const std::string cls(media_class);
        if (cls != "Audio/Sink" && cls != "Audio/Source" && cls != "Audio/Source/Virtual" && cls != "Audio/Duplex") return;
        const char* description = spa_dict_lookup(props, PW_KEY_NODE_DESCRIPTION);
        const pw_node_seen node{name, description != nullptr ? description : name, cls, number_of(props, "audio.rate"),
                                static_cast<std::uint16_t>(number_of(props, "audio.channels"))};
        nodes_.emplace(id, node);
        const bool first_sink = is_sink(node) && sinks_++ == 0;
        if (changed_ && walked_) {
            if (first_sink) changed_(true, server_device());
            for (const auto& d : node_devices(node)) changed_(true, d);
        }
    }

    void on_global_remove(std::uint32_t id) {
        const auto found = nodes_.find(id);
        if (found == nodes_.end()) return;
        const bool last_sink = is_sink(found->second) && --sinks_ == 0;
        if (changed_ && walked_) {
            for (const auto& d : node_devices(found->second)) changed_(false, d);
            if (last_sink) changed_(false, server_device());
        }
        nodes_.erase(found);
    }

    std::vector<available_device> devices() const {
        std::vector<available_device> found;
        for (const auto& [id, node] : nodes_) {
            for (auto& d : node_devices(node)) found.push_back(std::move(d));
        }
        return found;
    }

    static bool is_sink(const pw_node_seen& node) { return node.media_class == "Audio/Sink" || node.media_class == "Audio/Duplex"; }

    // What a node can be opened as: itself, and a sink's output again for capture.
    std::vector<available_device> node_devices(const pw_node_seen& node) const {
        std::vector<available_device> found;
        const bool sink = is_sink(node);
        const bool source = node.media_class != "Audio/Sink";
        available_device d;
        d.kind = "pipewire";
        d.spec = "pipewire:" + node.name;
        d.description = node.description;
        d.render = sink;
        d.capture = source;
        d.sample_rate = node.rate;
        d.channels = node.channels;
        d.backend_default = (sink && node.name == default_sink_) || (source && node.name == default_source_);
        found.push_back(d);
        if (sink) {
            d.spec += "?monitor=1";
            d.description = "Monitor of " + node.description;
            d.render = false;
            d.capture = true;
            d.backend_default = false;
            found.push_back(std::move(d));
        }
        return found;
    }

    device_watch::callback changed_;
    std::function<void()> lost_;
    pw_thread_loop* loop_ = nullptr;
    pw_context* context_ = nullptr;
    pw_core* core_ = nullptr;
    pw_registry* registry_ = nullptr;
    pw_metadata* metadata_ = nullptr;
    spa_hook core_listener_{};
    spa_hook registry_listener_{};
    spa_hook metadata_listener_{};
    // The loop thread's, read with the loop locked.
    int pending_ = 0;
    bool synced_ = false;
    bool failed_ = false;
    std::uint32_t metadata_id_ = 0;
    bool walked_ = false;
    std::map<std::uint32_t, pw_node_seen> nodes_; // by global id, in the order the server numbered them
    std::uint32_t sinks_ = 0;                     // of them
    std::string default_sink_;
    std::string default_source_;
};

} // namespace ae::pipeline
