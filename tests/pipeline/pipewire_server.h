// A PipeWire of a test's own: pipewire, a null sink `openae_test_sink` and wireplumber under a
// dbus-run-session, in a private runtime directory (tests/data/pipewire/peer.sh). Ready when the
// peer says so through a FIFO; stopped — the whole process group — with the object. This
// process's PipeWire clients (openae's device, the test's own streams) find it through
// PIPEWIRE_RUNTIME_DIR.
#pragma once

#include "jack_server.h" // spawn_server, wait_exit
#include "scratch.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace ae::test {

struct pipewire_server {
    std::string dir;
    pid_t pid = -1;
    explicit pipewire_server(const std::string& tag) : dir("/tmp/openae-pw-" + tag + "-" + std::to_string(::getpid())) {
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        ::chmod(dir.c_str(), 0700);
        const std::string fifo = dir + "/ready";
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        ::setenv("XDG_RUNTIME_DIR", dir.c_str(), 1);
        ::setenv("PIPEWIRE_RUNTIME_DIR", dir.c_str(), 1);
        pid = spawn_server({"dbus-run-session", "--", "sh", OPENAE_TEST_DATA "/pipewire/peer.sh", fifo}, dir + "/peer.log");
        REQUIRE(pid > 0);
        REQUIRE(read_ready_fifo(fifo).starts_with("ready")); // an early exit: empty
    }
    ~pipewire_server() { stop(); }
    pipewire_server(const pipewire_server&) = delete;
    pipewire_server& operator=(const pipewire_server&) = delete;
    // Ends the peer: pipewire, wireplumber and the session bus.
    void stop() {
        if (pid <= 0) return;
        ::kill(-pid, SIGTERM);
        wait_exit(pid);
        pid = -1;
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
        // pipewire may make it again while it exits (the process group is not waited for: it
        // costs seconds): again at the end of a passing run.
        remove_on_success(dir);
    }
};

} // namespace ae::test
