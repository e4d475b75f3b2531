// RDP speakers against a simulated client whose clock runs slow: its own channels (rdp_channels,
// the interface FreeRDP sits behind) play the blocks openae sends at 48 kHz - 800 ppm and confirm
// each once, as mstsc does, with how long the block will wait in its queue. Without drift control
// the client's queue would grow 0.8 ms a second; openae's pace follows the client's clock instead.
#include "peer_rig.h"
#include "rdp_session.h"
#include "test_engine.h"

#include <openae/pipeline/devices.h>
#include <openae/pipeline/rdp.h>
#include <openae/rt/monotonic_clock.h>

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <deque>
#include <mutex>
#include <thread>

using namespace ae;
using namespace ae::test;

namespace {

class slow_client final : public pipeline::rdp_channels {
public:
    static constexpr double rate = 48000;

    slow_client(pipeline::rdp_channel_events& events, double ppm) : events_(events), client_rate_(rate * (1 + ppm * 1e-6)) {
        player_ = std::thread([this] { play(); });
    }
    ~slow_client() override {
        stop_.store(true);
        player_.join();
    }

    pipeline::rdp_pcm_format speakers_format() const override { return {48000, 2}; }
    bool speakers_ready() const override { return true; }
    std::uint8_t next_block() const override { return next_block_; }
    bool send_block(const std::int16_t*, std::uint32_t count, std::uint16_t timestamp_ms, std::uint8_t& block) override {
        block = next_block_++;
        const std::lock_guard lock(mutex_);
        arrived_.push_back({block, timestamp_ms, count});
        return true;
    }
    pipeline::rdp_pcm_format microphone_format() const override { return {}; }
    bool microphone_open() const override { return false; }
    void poll() override {}

    // The queue's mean (ms) over [from, to) seconds since the first block, and the frames it
    // could not play once it had started.
    double mean_queue_ms(double from, double to) {
        const std::lock_guard lock(mutex_);
        double sum = 0;
        int n = 0;
        for (const auto& [t, ms] : queue_log_) {
            if (t >= from && t < to) {
                sum += ms;
                ++n;
            }
        }
        return n ? sum / n : -1;
    }
    double seconds_playing() {
        const std::lock_guard lock(mutex_);
        return queue_log_.empty() ? 0 : queue_log_.back().first;
    }
    std::uint64_t starved_frames() {
        const std::lock_guard lock(mutex_);
        return static_cast<std::uint64_t>(starved_);
    }

private:
    struct block {
        std::uint8_t number;
        std::uint16_t timestamp_ms;
        std::uint32_t frames;
    };

    // Every 2 ms: takes what arrived (confirming each block with its wait in the queue), plays
    // at the client's own rate once 100 ms are queued, logs the queue.
    void play() {
        hns last = monotonic_now();
        hns first{0};
        bool playing = false;
        while (!stop_.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2)); // the simulated client's own period
            const hns now = monotonic_now();
            const double dt = static_cast<double>((now - last).count()) * 1e-7;
            last = now;
            std::deque<block> taken;
            {
                const std::lock_guard lock(mutex_);
                taken.swap(arrived_);
                if (playing) {
                    queued_ -= dt * client_rate_;
                    if (queued_ < 0) {
                        starved_ += -queued_;
                        queued_ = 0;
                    }
                }
            }
            for (const auto& b : taken) {
                if (first == hns{0}) first = now;
                double queued_now = 0;
                {
                    const std::lock_guard lock(mutex_);
                    queued_ += b.frames;
                    queued_now = queued_;
                }
                const auto wait_ms = static_cast<std::uint16_t>(queued_now / client_rate_ * 1000);
                events_.confirmed(b.number, static_cast<std::uint16_t>(b.timestamp_ms + wait_ms));
            }
            const std::lock_guard lock(mutex_);
            if (!playing && queued_ >= 0.1 * client_rate_) playing = true;
            if (playing) queue_log_.emplace_back(static_cast<double>((now - first).count()) * 1e-7, queued_ / client_rate_ * 1000);
        }
    }

    pipeline::rdp_channel_events& events_;
    const double client_rate_;
    std::uint8_t next_block_ = 0; // the sender's
    std::mutex mutex_;
    std::deque<block> arrived_;
    double queued_ = 0;
    double starved_ = 0;
    std::vector<std::pair<double, double>> queue_log_;
    std::atomic<bool> stop_{false};
    std::thread player_;
};

} // namespace

TEST_CASE("rdp speakers: a client whose clock runs 800 ppm slow - openae's pace follows it and its queue stays near where it settled") {
    const auto id = pipeline::rdp_attach_channels("slow", [](pipeline::rdp_channel_events& events) {
        return std::expected<std::unique_ptr<pipeline::rdp_channels>, pipeline::device_error>(std::make_unique<slow_client>(events, -800));
    });
    REQUIRE(id);
    slow_client* client = nullptr;
    {
        device_rig<render_endpoint_core> out(pipeline::make_device("rdp:" + *id, endpoint_direction::render), 1, 4);
        REQUIRE_FALSE(out.endpoint.start());
        std::uint64_t written = 0;
        rt_guard engine_guard;
        const hns until = monotonic_now() + hns{14 * 10'000'000LL};
        {
            auto armed = engine_guard.arm();
            while (monotonic_now() < until) {
                (void)render_pass(out.endpoint.rt(), written, ~std::uint64_t{0}, [](std::uint64_t, float* f) { f[0] = f[1] = 0.1f; });
                (void)out.wake.wait(100);
            }
        }
        CHECK(engine_guard.violations() == 0);
        out.check_device_rt();
        const auto sessions = pipeline::rdp_sessions();
        REQUIRE_FALSE(sessions.empty());
        const auto& figures = sessions.back();
        // The queue from 4 s (drift control has settled its level: 2 s of warm-up, 1 s of
        // settling) to the end: uncontrolled, it would grow 0.8 ms a second — 7.2 ms by 13 s.
        (void)pipeline::find_rdp_session(*id)->with_channels([&](pipeline::rdp_channels& c) { client = dynamic_cast<slow_client*>(&c); });
        REQUIRE(client != nullptr);
        const double end = client->seconds_playing();
        const double settled = client->mean_queue_ms(3.5, 4.5);
        const double last = client->mean_queue_ms(end - 1, end);
        MESSAGE("pace ", figures.speakers_pace_ppm, " ppm; the client's queue: ", settled, " ms at 4 s, ", last, " ms at ", end,
                " s (target ", figures.client_queue_target_ms, " ms); starved ", client->starved_frames(), " frames");
        CHECK(figures.speakers_pace_ppm < -400);
        CHECK(figures.speakers_pace_ppm > -1000);
        CHECK(last - settled < 4.0);
        CHECK(client->starved_frames() == 0);
        out.thread->stop();
    }
    pipeline::rdp_detach_session(*id);
}
