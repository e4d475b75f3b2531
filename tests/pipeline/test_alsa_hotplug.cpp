// ALSA hotplug without a card: the watch is pointed at a directory of the test's own instead of
// /dev/snd, and the "card" is a PCM the test adds to ALSA's configuration (a file on
// ALSA_CONFIG_PATH, replaced — alsa-lib reloads a file whose inode or mtime changed) as it makes
// the card's node. What the watch tells must be exactly that PCM, coming and going.
#include "scratch.h"

#include <openae/pipeline/device_discovery.h>

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

// What the watch told, for the test thread to wait on (explicit synchronisation, bounded).
struct told {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::string> added, removed;

    void note(bool is_added, const ae::pipeline::available_device& d) {
        {
            const std::lock_guard lock(mutex);
            (is_added ? added : removed).push_back(d.spec);
        }
        changed.notify_all();
    }
    // Waits until `list` holds `count` entries (bounded: the watch settles for 100 ms first).
    bool wait(std::vector<std::string>& list, std::size_t count) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, std::chrono::seconds(10), [&] { return list.size() >= count; });
    }
};

// Replaces `path` with `text` through a new file (a new inode: alsa-lib sees the change even
// within the same second).
void replace_file(const fs::path& path, const std::string& text) {
    const fs::path next = path.string() + ".next";
    std::ofstream(next) << text;
    fs::rename(next, path);
}

const char* hotplug_pcm = R"(pcm.ae_hotplug {
    type null
    hint {
        show on
        description "openae hotplug test PCM"
    }
}
)";

// A directory of the test's own with a card configuration file ALSA reads (on ALSA_CONFIG_PATH,
// "no card yet" at first); ALSA_CONFIG_PATH is put back when the scene goes.
struct card_scene {
    fs::path dir;
    fs::path conf;
    std::string original_config_path;

    explicit card_scene(const std::string& tag)
        : dir(fs::temp_directory_path() / ("openae-alsa-" + tag + "-" + std::to_string(::getpid()))), conf(dir / "card.conf") {
        fs::create_directories(dir);
        ae::test::remove_on_success(dir);
        replace_file(conf, "# no card yet\n");
        const char* before = std::getenv("ALSA_CONFIG_PATH");
        original_config_path = before != nullptr ? before : "/usr/share/alsa/alsa.conf";
        REQUIRE(::setenv("ALSA_CONFIG_PATH", (original_config_path + ":" + conf.string()).c_str(), 1) == 0);
    }
    ~card_scene() { ::setenv("ALSA_CONFIG_PATH", original_config_path.c_str(), 1); }
    card_scene(const card_scene&) = delete;
    card_scene& operator=(const card_scene&) = delete;
};

// Nanoseconds the thread named `name` has run on a CPU (its schedstat), or -1 when not found.
std::int64_t thread_cpu_ns(const std::string& name) {
    for (const auto& task : fs::directory_iterator("/proc/self/task")) {
        std::string comm;
        std::getline(std::ifstream(task.path() / "comm"), comm);
        if (comm != name) continue;
        std::int64_t ns = -1;
        std::ifstream(task.path() / "schedstat") >> ns;
        return ns;
    }
    return -1;
}

} // namespace

TEST_CASE("alsa hotplug: before the card's directory exists - its parent's other entries changing - the watch sleeps and still sees the card come") {
    // The directory a machine without a card lacks (/dev/snd) is waited for in its parent (/dev),
    // whose other entries change all the time. Each such event once made the watch remove and add
    // its parent's watch, which queued an event of its own: the thread spun on a CPU for ever, and
    // could miss the directory's arrival in between (a CI run did).
    const card_scene scene("busy-parent");
    const fs::path& dir = scene.dir;
    const fs::path& conf = scene.conf;
    told t;
    {
        auto watch = ae::pipeline::device_watch::watch_alsa([&](bool added, const ae::pipeline::available_device& d) { t.note(added, d); },
                                                            (dir / "snd").string());
        REQUIRE(watch);
        for (int i = 0; i < 20; ++i) fs::create_directories(dir / ("other" + std::to_string(i)));
        // What the thread does with them: half a second of its CPU time, measured (a spinning
        // thread takes most of it, even on a loaded machine; a sleeping one none).
        const std::int64_t cpu_before = thread_cpu_ns("ae-alsa-watch");
        REQUIRE(cpu_before >= 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        const std::int64_t cpu_ms = (thread_cpu_ns("ae-alsa-watch") - cpu_before) / 1'000'000;
        CAPTURE(cpu_ms);
        CHECK(cpu_ms < 50);
        // The card still comes through.
        replace_file(conf, hotplug_pcm);
        fs::create_directories(dir / "snd");
        std::ofstream(dir / "snd" / "controlC9") << "";
        REQUIRE(t.wait(t.added, 1));
    }
    const std::lock_guard lock(t.mutex);
    CHECK(t.added == std::vector<std::string>{"alsa:ae_hotplug"});
    CHECK(t.removed.empty());
}

TEST_CASE("alsa hotplug: a card's node appearing and going - the PCM it brings is told as added then removed") {
    const card_scene scene("hotplug");
    const fs::path& conf = scene.conf;
    const fs::path nodes = scene.dir / "snd"; // not there yet: the watch waits for it in its parent

    told t;
    {
        auto watch = ae::pipeline::device_watch::watch_alsa([&](bool added, const ae::pipeline::available_device& d) { t.note(added, d); },
                                                            nodes.string());
        REQUIRE(watch);
        // Plugged in: the card's PCM in ALSA's configuration, then its node from "udev".
        replace_file(conf, hotplug_pcm);
        fs::create_directories(nodes);
        std::ofstream(nodes / "controlC9") << "";
        REQUIRE(t.wait(t.added, 1));
        // Pulled out: the node goes, and the PCM with it.
        replace_file(conf, "# the card is gone\n");
        fs::remove(nodes / "controlC9");
        REQUIRE(t.wait(t.removed, 1));
    }
    // What was there before the watch (ae_listed, default) is not news; nothing else came or went.
    const std::lock_guard lock(t.mutex);
    CHECK(t.added == std::vector<std::string>{"alsa:ae_hotplug"});
    CHECK(t.removed == std::vector<std::string>{"alsa:ae_hotplug"});
}
