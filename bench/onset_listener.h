// The benches that time what an RDP client plays (tests/pipeline/rdp_rig.h, live): onsets of a
// marker — a loud sample after at least 100 ms of quiet — in what parec delivers, each timed as
// the read that brought it less the frames after it in that read.
#pragma once

#include "process_clock.h"
#include "rdp_rig.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace ae::bench {

class onset_listener {
public:
    explicit onset_listener(int live_fd) : thread_([this, live_fd] { run(live_fd); }) {}
    ~onset_listener() { finish(); }
    onset_listener(const onset_listener&) = delete;
    onset_listener& operator=(const onset_listener&) = delete;

    // After the client stopped (its pipe then ends the reads): the listener ends too.
    void finish() {
        stop_.store(true);
        if (thread_.joinable()) thread_.join();
    }
    // The onsets so far (seconds, monotonic).
    [[nodiscard]] std::vector<double> onsets() {
        const std::lock_guard lock(mutex_);
        return onsets_;
    }
    // The client's playback rate against this machine's monotonic clock (ppm off nominal), from the
    // frames parec delivered between the first read `skip_s` after the first one and the last read:
    // which side of an RDP link drifts. 0 until there are two such reads.
    [[nodiscard]] double played_rate_ppm(double skip_s = 10) {
        const std::lock_guard lock(mutex_);
        std::size_t from = 0;
        while (from < reads_.size() && reads_[from].at < reads_.front().at + skip_s) ++from;
        if (from >= reads_.size() || latest_.at <= reads_[from].at) return 0;
        const read_mark& a = reads_[from];
        const read_mark& b = latest_;
        const double frames = static_cast<double>(b.frames - a.frames);
        return (frames / ((b.at - a.at) * test::rdp_client_rig::played_rate) - 1) * 1e6;
    }

private:
    void run(int fd) {
        constexpr std::uint32_t rate = test::rdp_client_rig::played_rate;
        std::vector<std::int16_t> buffer(4096);
        std::uint64_t quiet = 0;
        std::uint64_t total = 0;
        while (!stop_.load()) {
            const ssize_t got = ::read(fd, buffer.data(), buffer.size() * 2);
            if (got <= 0) break;
            const double at = now_s();
            const std::size_t frames = static_cast<std::size_t>(got) / 4;
            total += frames;
            {
                const std::lock_guard lock(mutex_);
                // A read's time marks the end of the frames it brought.
                if (reads_.empty() || at >= reads_.back().at + 1) reads_.push_back({at, total});
                latest_ = {at, total};
            }
            for (std::size_t f = 0; f < frames; ++f) {
                if (std::abs(buffer[2 * f]) > 6000 && quiet > rate / 10) {
                    const std::lock_guard lock(mutex_);
                    onsets_.push_back(at - static_cast<double>(frames - f) / rate);
                    quiet = 0;
                }
                ++quiet;
            }
        }
    }

    struct read_mark {
        double at = 0;           // seconds, monotonic
        std::uint64_t frames = 0; // delivered up to then
    };
    std::mutex mutex_;
    std::vector<double> onsets_;
    std::vector<read_mark> reads_; // one a second at most
    read_mark latest_;
    std::atomic<bool> stop_{false};
    std::thread thread_; // last: it starts once the rest is built
};

} // namespace ae::bench
