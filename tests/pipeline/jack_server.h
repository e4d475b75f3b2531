// A jackd of a test's own: the dummy driver (paced in real time, no sound card), a server name
// no other test uses, started when jack_wait says it answers and stopped with the object.
#pragma once

#include "fork_exec.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ae::test {

// Runs `args` in a process group of its own (a signal meant for it stays there); -1 when it
// could not be started.
inline pid_t spawn(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawnattr_t attr;
    ::posix_spawnattr_init(&attr);
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    ::posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, argv[0], nullptr, &attr, argv.data(), environ);
    ::posix_spawnattr_destroy(&attr);
    return rc == 0 ? pid : -1;
}
// A server: as spawn(), and it dies with the test (a crashed test leaves no jackd behind) and
// writes to `log_path`, not to the test's output (which ctest waits on until every holder is gone).
inline pid_t spawn_server(std::vector<std::string> args, const std::string& log_path) {
    return fork_exec(std::move(args), [&] {
        const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (log >= 0) {
            ::dup2(log, 1);
            ::dup2(log, 2);
        }
    });
}
inline int wait_exit(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct jack_server {
    std::string name;
    pid_t pid = -1;
    explicit jack_server(const std::string& tag, unsigned period_frames = 256)
        // One name per test, the same on every run: JACK's registry of servers (/dev/shm/
        // jack-shm-registry, 8 entries) reclaims the entry a dead server left only when a server
        // of the same name starts; with a name per process, servers that died without
        // unregistering filled it ("Too many servers already active").
        : name("openae-" + tag),
          pid(spawn_server({"jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", std::to_string(period_frames)},
                           "/tmp/" + name + ".log")) {
        REQUIRE(pid > 0);
        // Started when jack_wait says so (bounded by its own timeout), not after a sleep. A
        // jack_wait that connects while the server is still starting can fail at once (exit 1,
        // the server logging "Cannot read socket"; once in a CI-like run): asked again while
        // jackd lives, up to 20 s in all.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        bool up = false;
        while (!up && std::chrono::steady_clock::now() < deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now()).count();
            up = wait_exit(spawn({"jack_wait", "-s", name, "-w", "-t", std::to_string(std::max<long long>(1, left))})) == 0;
            int status = 0;
            if (!up && ::waitpid(pid, &status, WNOHANG) == pid) {
                pid = -1;
                break; // jackd itself failed: its log says why
            }
        }
        const std::string log = up ? std::string{} : read_log();
        if (!up) stop();
        CAPTURE(log);
        REQUIRE(up);
        // For clients that take no server name (the ALSA jack plugin, jack_bufsize).
        ::setenv("JACK_DEFAULT_SERVER", name.c_str(), 1);
        ::setenv("JACK_NO_START_SERVER", "1", 1);
    }
    ~jack_server() { stop(); }
    jack_server(const jack_server&) = delete;
    jack_server& operator=(const jack_server&) = delete;
    std::string read_log() const {
        std::ifstream in("/tmp/" + name + ".log");
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    void stop() {
        if (pid <= 0) return;
        ::kill(pid, SIGTERM);
        wait_exit(pid);
        pid = -1;
        std::remove(("/tmp/" + name + ".log").c_str());
        remove_shared_memory(name);
    }
    // What JACK leaves in /dev/shm when its server is killed under its clients (the server-death
    // tests): its clients' semaphores, named after the server. 134 of them had piled up on a
    // machine that ran the suite many times; a unique server name keeps this from touching others.
    static void remove_shared_memory(const std::string& server) {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
            const std::string file = entry.path().filename().string();
            if (file.find("_" + server + "_") != std::string::npos) std::filesystem::remove(entry.path(), ec);
        }
    }
};

} // namespace ae::test
