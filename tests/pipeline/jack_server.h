// A jackd of a test's own: the dummy driver (paced in real time, no sound card), a server name
// no other test uses, started when jack_wait says it answers and stopped with the object.
#pragma once

#include "fork_exec.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
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
// What a peer writes into `fifo` once it is ready, read within 20 s; empty when it exited first
// (its end of the FIFO closes) or said nothing in time.
inline std::string read_ready_fifo(const std::string& fifo) {
    const int fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return {};
    char text[512]{};
    ssize_t got = 0;
    for (int turns = 0; turns < 200 && got <= 0; ++turns) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) > 0) got = ::read(fd, text, sizeof text - 1);
    }
    ::close(fd);
    return std::string(text, got > 0 ? static_cast<std::size_t>(got) : 0);
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

// A JACK server whose sample rate a test can change while it runs: jackdbus with the dummy
// driver under a session bus of its own (tests/data/jack/dbus-peer.sh). Stopped — server, bus
// and all — with the object. Needs OPENAE_TEST_DATA.
#ifdef OPENAE_TEST_DATA
struct jack_dbus_server {
    std::string name;
    std::string dir;
    std::string bus; // the session bus's address: how set_rate reaches jackdbus
    pid_t pid = -1;
    jack_dbus_server(const std::string& tag, unsigned rate, unsigned period_frames)
        : name("openae-" + tag), dir("/tmp/openae-jackdbus-" + tag + "-" + std::to_string(::getpid())) {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
        std::filesystem::create_directories(dir);
        const std::string fifo = dir + "/ready";
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        // jackdbus keeps its settings (and its log) under HOME: the test's directory, not root's.
        pid = spawn_server({"env", "HOME=" + dir, "dbus-run-session", "--", "sh", OPENAE_TEST_DATA "/jack/dbus-peer.sh", fifo, name, std::to_string(rate),
                            std::to_string(period_frames)},
                           dir + "/peer.log");
        REQUIRE(pid > 0);
        bus = read_ready_fifo(fifo); // the session bus's address
        while (!bus.empty() && bus.back() == '\n') bus.pop_back();
        CAPTURE(read_log());
        REQUIRE_FALSE(bus.empty());
        ::setenv("JACK_DEFAULT_SERVER", name.c_str(), 1);
        ::setenv("JACK_NO_START_SERVER", "1", 1);
    }
    ~jack_dbus_server() { stop(); }
    jack_dbus_server(const jack_dbus_server&) = delete;
    jack_dbus_server& operator=(const jack_dbus_server&) = delete;

    // Starts restarting the server's driver at `rate` with every client kept ("switch master");
    // the process ends (exit 0) once jackdbus has done it. -1 when it could not be started.
    [[nodiscard]] pid_t set_rate(unsigned rate) const {
        const std::string call = "dbus-send --session --print-reply --dest=org.jackaudio.service /org/jackaudio/Controller ";
        const std::string script = call + "org.jackaudio.Configure.SetParameterValue array:string:driver,rate variant:uint32:" +
                                   std::to_string(rate) + " >/dev/null && " + call + "org.jackaudio.JackControl.SwitchMaster >/dev/null";
        return spawn({"env", "DBUS_SESSION_BUS_ADDRESS=" + bus, "sh", "-c", script});
    }
    std::string read_log() const {
        std::ifstream in(dir + "/peer.log");
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    void stop() {
        if (pid <= 0) return;
        // The server stopped by jackdbus itself: killed, it leaves its entry in JACK's registry
        // of servers, and the next server of this name fails to open.
        if (!bus.empty()) (void)wait_exit(spawn({"env", "DBUS_SESSION_BUS_ADDRESS=" + bus, "timeout", "10", "dbus-send", "--session", "--print-reply",
                                                 "--dest=org.jackaudio.service", "/org/jackaudio/Controller", "org.jackaudio.JackControl.StopServer"}));
        ::kill(-pid, SIGTERM); // the session bus, jackdbus and the peer's shell
        wait_exit(pid);
        pid = -1;
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
        jack_server::remove_shared_memory(name);
    }
};
#endif

} // namespace ae::test
