// An RDP client for the tests, started and stopped by them: Xvfb (a free display), a private
// PulseAudio (its own XDG_RUNTIME_DIR and HOME) with a null sink `out` and a 440 Hz sine source
// `mic`, parec recording `out.monitor` to a raw file, and xfreerdp connecting to 127.0.0.1:PORT
// with its speakers and microphone on that PulseAudio.
#pragma once

#include "fork_exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace ae::test {

class rdp_client_rig {
public:
    static constexpr std::uint32_t played_rate = 44100; // the null sink's, and parec's
    static constexpr std::uint32_t played_channels = 2;

    // `live`: parec writes into a pipe (live_fd()) read as it comes, with 5 ms of latency, instead
    // of a file (the latency bench times what the client plays).
    explicit rdp_client_rig(std::uint16_t port, bool live = false, const std::string& user = "openae", const std::string& password = "openae") {
        // One directory per rig: several clients of one server may run at once.
        static std::atomic<int> rigs{0};
        dir_ = std::filesystem::temp_directory_path() /
               ("openae-rdp-rig-" + std::to_string(::getpid()) + "-" + std::to_string(port) + "-" + std::to_string(rigs.fetch_add(1)));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_ / "run");
        std::filesystem::create_directories(dir_ / "home");
        std::filesystem::permissions(dir_ / "run", std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
        display_ = start_xvfb();
        if (display_ < 0) return;
        pulse_ = spawn({"pulseaudio", "-n", "--exit-idle-time=-1", "--daemonize=no", "--log-target=stderr", "-L", "module-native-protocol-unix", "-L",
                        "module-null-sink sink_name=out rate=44100 norewinds=1", "-L",
                        "module-sine-source source_name=mic rate=44100 frequency=440", "-L", "module-always-sink"},
                       "pulseaudio.log");
        if (!wait_for_pulse()) return;
        (void)run({"pactl", "set-default-sink", "out"});
        (void)run({"pactl", "set-default-source", "mic"});
        if (live) {
            int ends[2];
            if (::pipe2(ends, O_CLOEXEC) != 0) return;
            parec_ = spawn({"parec", "-d", "out.monitor", "--format=s16le", "--rate=44100", "--channels=2", "--raw", "--latency-msec=5"}, "parec.log", -1,
                           ends[1]);
            ::close(ends[1]);
            live_fd_ = ends[0];
        } else {
            parec_ = spawn({"sh", "-c", "exec parec -d out.monitor --format=s16le --rate=44100 --channels=2 --raw > " + (dir_ / "played.raw").string()},
                           "parec.log");
        }
        client_ = spawn({"stdbuf", "-oL", "xfreerdp", "/v:127.0.0.1:" + std::to_string(port), "/u:" + user, "/p:" + password, "/cert:ignore", "/sec:tls",
                         "/sound:sys:pulse", "/microphone:sys:pulse", "/size:640x480", "-grab-keyboard"},
                        "xfreerdp.log");
        ready_ = client_ > 0;
    }

    ~rdp_client_rig() {
        stop_client();
        stop(parec_);
        stop(pulse_);
        stop(xvfb_);
        if (live_fd_ >= 0) ::close(live_fd_);
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    rdp_client_rig(const rdp_client_rig&) = delete;
    rdp_client_rig& operator=(const rdp_client_rig&) = delete;

    [[nodiscard]] bool ready() const { return ready_; }
    // live: what the client plays, s16 stereo at played_rate, as parec delivers it.
    [[nodiscard]] int live_fd() const { return live_fd_; }
    [[nodiscard]] std::string log(const std::string& name) const {
        std::ifstream in(dir_ / name);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    void stop_client() {
        const pid_t pid = client_;
        stop(client_);
        forget_client(pid);
    }
    // Waits (bounded, 30 s) for the client to end by itself; its exit status, or -1.
    int wait_client_exit() {
        for (int i = 0; i < 3000 && client_ > 0; ++i) {
            int status = 0;
            if (::waitpid(client_, &status, WNOHANG) == client_) {
                forget_client(client_);
                client_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10)); // a child's exit, polled (bounded)
        }
        return -1;
    }
    void pause_client(bool paused) {
        if (client_ > 0) ::kill(client_, paused ? SIGSTOP : SIGCONT);
    }
    // What the client has played so far (channel-interleaved s16 at played_rate).
    [[nodiscard]] std::vector<std::int16_t> played() const {
        std::ifstream in(dir_ / "played.raw", std::ios::binary);
        std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        std::vector<std::int16_t> samples(bytes.size() / 2);
        std::memcpy(samples.data(), bytes.data(), samples.size() * 2);
        return samples;
    }

private:
    // xfreerdp leaves a shared-memory file named after its pid behind when it is killed.
    static void forget_client(pid_t pid) {
        if (pid <= 0) return;
        char name[64];
        std::snprintf(name, sizeof name, "/com.freerdp.xfreerdp.tsmf_%016X", static_cast<unsigned>(pid));
        ::shm_unlink(name);
    }

    // The child's environment: the rig's runtime dir, home and display.
    pid_t spawn(std::vector<std::string> args, const std::string& log_name, int display_fd = -1, int stdout_fd = -1) {
        std::vector<std::string> env_args = {"env", "XDG_RUNTIME_DIR=" + (dir_ / "run").string(), "HOME=" + (dir_ / "home").string(),
                                             "DISPLAY=:" + std::to_string(display_), "PULSE_SERVER=" + (dir_ / "run" / "pulse" / "native").string()};
        env_args.insert(env_args.end(), args.begin(), args.end());
        const std::string log_path = (dir_ / log_name).string();
        return fork_exec(std::move(env_args), [&] {
            const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (log >= 0) {
                ::dup2(log, 2);
                if (display_fd < 0 && stdout_fd < 0) ::dup2(log, 1);
            }
            if (stdout_fd >= 0) ::dup2(stdout_fd, 1);
            if (display_fd >= 0) ::dup2(display_fd, 3);
            const int null = ::open("/dev/null", O_RDONLY);
            ::dup2(null, 0);
        });
    }

    int run(std::vector<std::string> args) {
        const pid_t pid = spawn(std::move(args), "run.log");
        int status = 0;
        ::waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    int start_xvfb() {
        int ends[2];
        if (::pipe(ends) != 0) return -1;
        display_ = 0; // not known yet: Xvfb's own environment does not need it
        xvfb_ = spawn({"Xvfb", "-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "640x480x24"}, "xvfb.log", ends[1]);
        ::close(ends[1]);
        char text[16] = {};
        ssize_t got = 0;
        // Xvfb writes the display number once it is ready (bounded: it exits or writes).
        got = ::read(ends[0], text, sizeof text - 1);
        ::close(ends[0]);
        if (got <= 0) return -1;
        return std::atoi(text);
    }

    bool wait_for_pulse() {
        for (int attempt = 0; attempt < 100; ++attempt) {
            if (run({"pactl", "info"}) == 0) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100)); // a process we cannot be told by: polled, bounded
        }
        return false;
    }

    static void stop(pid_t& pid) {
        if (pid <= 0) return;
        ::kill(pid, SIGCONT);
        ::kill(-pid, SIGTERM);
        ::kill(pid, SIGTERM);
        for (int i = 0; i < 300; ++i) {
            if (::waitpid(pid, nullptr, WNOHANG) == pid) {
                pid = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        pid = -1;
    }

    std::filesystem::path dir_;
    int display_ = -1;
    pid_t xvfb_ = -1, pulse_ = -1, parec_ = -1, client_ = -1;
    int live_fd_ = -1;
    bool ready_ = false;
};

} // namespace ae::test
