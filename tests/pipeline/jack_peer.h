// A JACK client of a test's own with two ports: a recorder (input ports, keeps what arrives) or
// a player (output ports, plays marker/sine from frame 0 on).
#pragma once

#include "signal_rig.h"

#include <jack/jack.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace ae::test {

class jack_peer {
public:
    jack_peer(const std::string& server, const char* name, bool records, std::size_t capacity_frames)
        : records_(records), frames_(2 * capacity_frames) {
        jack_status_t status{};
        client_ = jack_client_open(name, static_cast<jack_options_t>(JackNoStartServer | JackServerName), &status, server.c_str());
        REQUIRE(client_ != nullptr);
        for (int ch = 0; ch < 2; ++ch) {
            const std::string port = (records ? "in_" : "out_") + std::to_string(ch + 1);
            ports_[ch] = jack_port_register(client_, port.c_str(), JACK_DEFAULT_AUDIO_TYPE, records ? JackPortIsInput : JackPortIsOutput, 0);
            REQUIRE(ports_[ch] != nullptr);
        }
        jack_set_process_callback(client_, [](jack_nframes_t n, void* self) { return static_cast<jack_peer*>(self)->process(n); }, this);
        REQUIRE(jack_activate(client_) == 0);
    }
    ~jack_peer() { jack_client_close(client_); }
    jack_peer(const jack_peer&) = delete;
    jack_peer& operator=(const jack_peer&) = delete;

    // Recorder: frames kept so far (interleaved in frames()).
    [[nodiscard]] std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }
    [[nodiscard]] const std::vector<float>& frames() const noexcept { return frames_; }
    // Frames of the cycles JACK did not call this client for.
    [[nodiscard]] std::size_t missed() const noexcept { return missed_.load(std::memory_order_relaxed); }

private:
    int process(jack_nframes_t n) {
        auto* left = static_cast<float*>(jack_port_get_buffer(ports_[0], n));
        auto* right = static_cast<float*>(jack_port_get_buffer(ports_[1], n));
        // Cycles JACK ran without this client (it found it late): their frames were never seen.
        const jack_nframes_t now = jack_last_frame_time(client_);
        if (cycles_ != 0 && now != next_frame_time_) {
            const auto skipped = static_cast<std::int32_t>(now - next_frame_time_);
            if (skipped > 0) missed_.fetch_add(static_cast<std::size_t>(skipped), std::memory_order_relaxed);
        }
        next_frame_time_ = now + n;
        ++cycles_;
        std::size_t at = count_.load(std::memory_order_relaxed);
        if (records_) {
            const std::size_t room = frames_.size() / 2 - std::min(frames_.size() / 2, at);
            const auto take = static_cast<jack_nframes_t>(std::min<std::size_t>(n, room));
            copy_in(left, right, frames_.data() + 2 * at, take);
            at += take;
        } else {
            play_out(left, right, at, n);
            at += n;
        }
        count_.store(at, std::memory_order_release);
        return 0;
    }
    // The port buffers are JACK's, handed from client to client inside libjack where TSan cannot
    // follow (at a graph change, jack2 may even run two clients' cycles side by side): the test's
    // own clients touch them uninstrumented. openae's device stays instrumented.
    __attribute__((no_sanitize("thread"))) static void copy_in(const float* left, const float* right, float* out, jack_nframes_t n) {
        for (jack_nframes_t i = 0; i < n; ++i) {
            out[2 * i] = left[i];
            out[2 * i + 1] = right[i];
        }
    }
    __attribute__((no_sanitize("thread"))) static void play_out(float* left, float* right, std::size_t at, jack_nframes_t n) {
        for (jack_nframes_t i = 0; i < n; ++i, ++at) {
            left[i] = signal::marker(at);
            right[i] = signal::sine(at % 65536, 48000); // periodic with the marker: a frame says where it is
        }
    }

    bool records_;
    jack_client_t* client_ = nullptr;
    jack_port_t* ports_[2]{};
    std::vector<float> frames_;
    // order: release/acquire — the frames are in frames_ before the count says so.
    std::atomic<std::size_t> count_{0};
    // order: relaxed — a statistic.
    std::atomic<std::size_t> missed_{0};
    std::uint64_t cycles_ = 0;
    jack_nframes_t next_frame_time_ = 0;
};


} // namespace ae::test
