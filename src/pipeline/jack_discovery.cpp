// JACK servers for discovery and hotplug: which run (jackd keeps `jack_NAME_UID_0` in /dev/shm
// while it runs), what each offers (a probe client reads its physical ports; never starts a
// server), and a watch that polls for servers coming and going.
#include "jack_discovery.h"

#include <openae/rt/thread_name.h>
#include <openae/rt/types.h>

#include <jack/jack.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace ae::pipeline {

std::string default_jack_server() {
    const char* named = std::getenv("JACK_DEFAULT_SERVER");
    return named != nullptr && *named != '\0' ? named : "default";
}

std::vector<std::string> running_jack_servers() {
    std::vector<std::string> names;
    const std::string suffix = "_" + std::to_string(::getuid()) + "_0";
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
        const std::string file = entry.path().filename().string();
        // jack_sem.UID_NAME_CLIENT are a server's semaphores, jack_db-UID its metadata: not it.
        if (!file.starts_with("jack_") || file.starts_with("jack_sem.") || file.starts_with("jack_db-")) continue;
        if (file.size() <= 5 + suffix.size() || !file.ends_with(suffix)) continue;
        names.push_back(file.substr(5, file.size() - 5 - suffix.size()));
    }
    std::sort(names.begin(), names.end());
    return names;
}

namespace {
// JACK's messages go where libjack's own handlers put them (stderr), except a probe's: a server
// that is not running is not an error here. The handlers are process-wide and set once — JACK
// may report from any client's thread at any time (a null handler crashed jack_client_close of a
// client whose server had died).
thread_local bool probing = false;
void jack_message(const char* message) {
    if (!probing) std::fprintf(stderr, "%s\n", message);
}
struct probe_scope {
    probe_scope() {
        static std::once_flag once;
        std::call_once(once, [] {
            jack_set_error_function(jack_message);
            jack_set_info_function(jack_message);
        });
        probing = true;
    }
    ~probe_scope() { probing = false; }
    probe_scope(const probe_scope&) = delete;
    probe_scope& operator=(const probe_scope&) = delete;
};
} // namespace

std::vector<available_device> discover_jack_server(const std::string& server) {
    std::vector<available_device> found;
    const probe_scope quiet;
    jack_status_t status{};
    jack_client_t* client = jack_client_open("openae-probe", static_cast<jack_options_t>(JackNoStartServer | JackServerName), &status,
                                             server.c_str());
    if (client != nullptr) {
        const std::uint32_t rate = jack_get_sample_rate(client);
        auto add = [&](unsigned long flags, bool render) {
            const char** ports = jack_get_ports(client, nullptr, JACK_DEFAULT_AUDIO_TYPE, JackPortIsPhysical | flags);
            std::size_t count = 0;
            std::string names;
            for (; ports != nullptr && ports[count] != nullptr; ++count) names += (count == 0 ? "" : ", ") + std::string(ports[count]);
            jack_free(ports);
            if (count == 0) return;
            available_device d;
            d.kind = "jack";
            const auto channels = static_cast<std::uint16_t>(std::min<std::size_t>(count, max_channels));
            d.spec = "jack?server=" + server + "&connect=auto&channels=" + std::to_string(channels);
            d.description = "JACK server '" + server + "': " + names;
            d.render = render;
            d.capture = !render;
            d.sample_rate = rate;
            d.channels = channels;
            d.backend_default = server == default_jack_server();
            found.push_back(std::move(d));
        };
        add(JackPortIsInput, true);  // the server's playback ports take input
        add(JackPortIsOutput, false); // its capture ports give output
        jack_client_close(client);
    }
    return found;
}

std::vector<available_device> discover_jack_devices() {
    auto servers = running_jack_servers();
    // The default one too when it left no file where we look (another JACK build's layout).
    if (std::find(servers.begin(), servers.end(), default_jack_server()) == servers.end()) servers.push_back(default_jack_server());
    std::vector<available_device> found;
    for (const auto& server : servers) {
        auto devices = discover_jack_server(server);
        found.insert(found.end(), std::make_move_iterator(devices.begin()), std::make_move_iterator(devices.end()));
    }
    return found;
}

namespace {

// Polls for servers (a directory listing: cheap); a new one is probed once. One that leaves its
// file behind without answering (killed with SIGKILL) is not announced.
class jack_watch final : public device_watch {
public:
    jack_watch(callback changed, std::chrono::milliseconds interval) : changed_(std::move(changed)), interval_(interval) {
        thread_ = std::thread([this] { run(); });
    }
    ~jack_watch() override {
        {
            const std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    jack_watch(const jack_watch&) = delete;
    jack_watch& operator=(const jack_watch&) = delete;

private:
    void run() {
        set_current_thread_name("ae-jack-watch");
        std::map<std::string, std::vector<available_device>> known;
        std::set<std::string> silent; // a file without a server that answers
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            const auto running = running_jack_servers();
            for (const auto& name : running) {
                if (known.contains(name) || silent.contains(name)) continue;
                auto devices = discover_jack_server(name);
                if (devices.empty()) {
                    silent.insert(name);
                    continue;
                }
                for (const auto& d : devices) changed_(true, d);
                known.emplace(name, std::move(devices));
            }
            for (auto it = known.begin(); it != known.end();) {
                if (std::binary_search(running.begin(), running.end(), it->first)) {
                    ++it;
                    continue;
                }
                for (const auto& d : it->second) changed_(false, d);
                it = known.erase(it);
            }
            std::erase_if(silent, [&](const std::string& name) { return !std::binary_search(running.begin(), running.end(), name); });
            lock.lock();
            wake_.wait_for(lock, interval_, [this] { return stopping_; });
        }
    }

    callback changed_;
    std::chrono::milliseconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace

std::unique_ptr<device_watch> device_watch::watch_jack(callback changed, std::chrono::milliseconds interval) {
    return std::make_unique<jack_watch>(std::move(changed), interval);
}

} // namespace ae::pipeline
