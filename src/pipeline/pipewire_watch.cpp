// Hotplug on PipeWire: the nodes of the server this process connects to, and the server itself
// starting and stopping. A registry walk (pipewire_registry.h) hears of nodes as they come and go;
// a thread of the watch's own (`ae-pw-connect`) looks every interval for the server's socket while
// none is connected — a file's existence: cheap — and tells of a server that went away.
#include "pipewire_registry.h"

#include <openae/rt/thread_name.h>

#include <sys/stat.h>

#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace ae::pipeline {
namespace {

// Where libpipewire connects (its own search): PIPEWIRE_REMOTE when it is a path, else that name
// (pipewire-0 by default) in PIPEWIRE_RUNTIME_DIR, XDG_RUNTIME_DIR or USERPROFILE. Empty: no
// directory to look in, and libpipewire (0.3.65, Debian 12's) cannot connect either.
std::string pipewire_socket_path() {
    const char* remote = std::getenv("PIPEWIRE_REMOTE");
    const std::string name = remote != nullptr && *remote != '\0' ? remote : "pipewire-0";
    if (name.starts_with('/')) return name;
    for (const char* variable : {"PIPEWIRE_RUNTIME_DIR", "XDG_RUNTIME_DIR", "USERPROFILE"}) {
        const char* dir = std::getenv(variable);
        if (dir != nullptr && *dir != '\0') return std::string(dir) + "/" + name;
    }
    return {};
}

bool socket_present() {
    const std::string path = pipewire_socket_path();
    struct stat seen{};
    return !path.empty() && ::stat(path.c_str(), &seen) == 0;
}

class pipewire_watch final : public device_watch {
public:
    pipewire_watch(callback changed, std::chrono::milliseconds timeout, std::chrono::milliseconds interval)
        : changed_(std::move(changed)), timeout_(timeout), interval_(interval) {
        // The server that is there now (if any): what it has is not news.
        if (socket_present()) connect(false);
        thread_ = std::thread([this] { run(); });
    }
    ~pipewire_watch() override {
        {
            const std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
        walk_.reset(); // no callback runs after this
    }
    pipewire_watch(const pipewire_watch&) = delete;
    pipewire_watch& operator=(const pipewire_watch&) = delete;

private:
    void connect(bool announce) {
        auto walk = std::make_unique<registry_walk>(changed_, [this] {
            // The walk's loop thread, the connection broken: the watch's thread tells of it.
            {
                const std::lock_guard lock(mutex_);
                lost_ = true;
            }
            wake_.notify_all();
        });
        bool answered = false;
        (void)walk->run(timeout_, &answered, announce);
        if (answered) walk_ = std::move(walk);
    }

    void run() {
        set_current_thread_name("ae-pw-connect");
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            wake_.wait_for(lock, interval_, [this] { return stopping_ || lost_; });
            if (stopping_) break;
            const bool lost = std::exchange(lost_, false);
            lock.unlock();
            if (walk_ && lost) {
                // Read before the walk goes, told after: its loop tells nothing more by then.
                const auto gone = walk_->known_devices();
                walk_.reset();
                for (const auto& d : gone) changed_(false, d);
            }
            if (!walk_ && socket_present()) connect(true);
            lock.lock();
        }
    }

    callback changed_;
    std::chrono::milliseconds timeout_;
    std::chrono::milliseconds interval_;
    std::unique_ptr<registry_walk> walk_; // the watch's thread's (the constructor's before it starts)
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool lost_ = false;
    std::thread thread_; // last: it starts once the rest is built
};

} // namespace

std::unique_ptr<device_watch> device_watch::watch_pipewire(callback changed, std::chrono::milliseconds timeout) {
    ensure_pipewire_initialised();
    return std::make_unique<pipewire_watch>(std::move(changed), timeout, std::chrono::milliseconds(500));
}

} // namespace ae::pipeline
