// ALSA cards coming and going. udev makes and removes a card's nodes in /dev/snd (controlC<n>,
// pcmC<n>D<m>p...); the watch sees that through inotify and lists ALSA's PCMs again (the name
// hints discover_alsa_devices() reads), telling what appeared and what went. No polling: its
// thread sleeps in poll() on the inotify descriptor and a stop eventfd. A machine without the
// directory yet (no card so far) has its parent watched for it.
#include <openae/pipeline/device_discovery.h>

#include "unique_fd.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <thread>

namespace ae::pipeline {
namespace {

// udev makes a card's nodes one by one: the list is read once they have stopped coming for this
// long (bounded by settle_limit, a card that keeps changing is read anyway).
constexpr int settle_ms = 100;
constexpr int settle_limit_ms = 2000;

class alsa_watch final : public device_watch {
public:
    alsa_watch(callback changed, std::string directory)
        : changed_(std::move(changed)), directory_(std::move(directory)), known_(discover_alsa_devices()) {
        stop_ = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        inotify_ = unique_fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
        // Watched before the constructor returns, not when the thread gets to it: a card plugged
        // in right after the watch was made is news however late the thread starts.
        if (inotify_.get() >= 0) watch_directory();
        thread_ = std::thread([this] { run(); });
        // Named from here, not from the thread: it has its name however late it starts.
        ::pthread_setname_np(thread_.native_handle(), "ae-alsa-watch");
    }
    ~alsa_watch() override {
        const std::uint64_t one = 1;
        if (stop_.get() >= 0) (void)!::write(stop_.get(), &one, sizeof one);
        thread_.join();
    }
    alsa_watch(const alsa_watch&) = delete;
    alsa_watch& operator=(const alsa_watch&) = delete;

private:
    void run() {
        if (stop_.get() < 0 || inotify_.get() < 0) return; // no descriptors: nothing to watch with
        for (;;) {
            if (!wait_change()) return;
            // The rest of the burst, then one listing for all of it.
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(settle_limit_ms);
            while (std::chrono::steady_clock::now() < deadline) {
                const int changed = wait_for_more(settle_ms);
                if (changed < 0) return;
                if (changed == 0) break;
            }
            rescan();
        }
    }

    // Watches the directory, or (while it is not there) its parent for it. Called again when the
    // directory came or went; a watch already in place is kept (removing and adding the parent's
    // watch on every event made an event of its own, IN_IGNORED: the thread spun on it).
    void watch_directory() {
        if (directory_wd_ < 0) {
            directory_wd_ = ::inotify_add_watch(inotify_.get(), directory_.c_str(),
                                                IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR);
        }
        if (directory_wd_ >= 0) {
            if (parent_wd_ >= 0) (void)::inotify_rm_watch(inotify_.get(), parent_wd_);
            parent_wd_ = -1;
            return;
        }
        if (parent_wd_ >= 0) return;
        const auto slash = directory_.find_last_of('/');
        const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : directory_.substr(0, slash);
        parent_wd_ = ::inotify_add_watch(inotify_.get(), parent.c_str(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
    }

    // Blocks until inotify says something changed (true) or the watch stops (false).
    bool wait_change() {
        for (;;) {
            const int r = wait_for_more(-1);
            if (r < 0) return false;
            if (r > 0) return true;
        }
    }

    // 1: a change read; 0: none within `timeout_ms`; -1: stopping (or the descriptors failed).
    int wait_for_more(int timeout_ms) {
        std::array<pollfd, 2> fds{{{stop_.get(), POLLIN, 0}, {inotify_.get(), POLLIN, 0}}};
        const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
        if (ready < 0) return errno == EINTR ? 0 : -1;
        if (fds[0].revents != 0) return -1;
        if ((fds[1].revents & POLLIN) == 0) return 0;
        return read_events() ? 1 : 0;
    }

    // Reads what inotify has; true when it concerns the card nodes (the directory came, went, or
    // something in it did). Events of a watch already removed (its IN_IGNORED) and of the parent's
    // other entries are not news.
    bool read_events() {
        alignas(inotify_event) std::array<char, 4096> buffer;
        bool relevant = false;
        bool came_or_went = false;
        for (;;) {
            const ssize_t got = ::read(inotify_.get(), buffer.data(), buffer.size());
            if (got <= 0) break;
            for (ssize_t at = 0; at < got;) {
                const auto* e = reinterpret_cast<const inotify_event*>(buffer.data() + at);
                at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
                if (e->wd == directory_wd_ && directory_wd_ >= 0) {
                    relevant = true;
                    if ((e->mask & (IN_DELETE_SELF | IN_IGNORED)) != 0) {
                        directory_wd_ = -1; // the kernel dropped the watch with the directory
                        came_or_went = true;
                    }
                } else if (e->wd == parent_wd_ && parent_wd_ >= 0 && e->len > 0 && directory_.ends_with("/" + std::string(e->name))) {
                    relevant = true;
                    came_or_went = true;
                }
            }
        }
        if (came_or_went) watch_directory();
        return relevant;
    }

    void rescan() {
        auto now = discover_alsa_devices();
        const auto has = [](const std::vector<available_device>& list, const std::string& spec) {
            return std::any_of(list.begin(), list.end(), [&](const available_device& d) { return d.spec == spec; });
        };
        for (const auto& d : known_) {
            if (!has(now, d.spec)) changed_(false, d);
        }
        for (const auto& d : now) {
            if (!has(known_, d.spec)) changed_(true, d);
        }
        known_ = std::move(now);
    }

    callback changed_;
    std::string directory_;
    std::vector<available_device> known_; // the listing at the last change (at the start: not news)
    unique_fd stop_;
    unique_fd inotify_;
    int directory_wd_ = -1;
    int parent_wd_ = -1;
    std::thread thread_;
};

} // namespace

std::unique_ptr<device_watch> device_watch::watch_alsa(callback changed, const std::string& directory) {
    return std::make_unique<alsa_watch>(std::move(changed), directory);
}

} // namespace ae::pipeline
