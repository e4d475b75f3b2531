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
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
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

} // namespace

TEST_CASE("alsa hotplug: a card's node appearing and going - the PCM it brings is told as added then removed") {
    const fs::path dir = fs::temp_directory_path() / ("openae-alsa-hotplug-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    ae::test::remove_on_success(dir);
    const fs::path conf = dir / "card.conf";
    const fs::path nodes = dir / "snd"; // not there yet: the watch waits for it in its parent
    replace_file(conf, "# no card yet\n");
    const char* before = std::getenv("ALSA_CONFIG_PATH");
    const std::string original = before != nullptr ? before : "/usr/share/alsa/alsa.conf";
    REQUIRE(::setenv("ALSA_CONFIG_PATH", (original + ":" + conf.string()).c_str(), 1) == 0);

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
    REQUIRE(::setenv("ALSA_CONFIG_PATH", original.c_str(), 1) == 0);
}
