// rdp[:SESSION] as a capture device: the RDP client's microphone (audin).
//
// FreeRDP's audin thread hands over 16-bit frames as the client sends them (in bursts: the
// FreeRDP client reads its microphone in large pieces — 1.7 s every 2 s from PulseAudio's sine
// source in the tests); they go into a ring as f32. The device thread reads a period per tick of
// its virtual clock. A stream starts once the ring holds `latency` ms; a period the ring cannot
// fill is padded with silence and counted (a glitch), and the stream waits for `latency` ms
// again: nothing the client sent is thrown away, and a client whose bursts are longer than the
// latency costs a gap per burst, not a gap per period. Audin carries no timestamps: the position
// is the local clock's. When the client leaves, what it sent is delivered before the loss.
#include "rdp_session.h"

#include <openae/pipeline/devices.h>
#include <openae/pipeline/virtual_clock.h>
#include <openae/rt/errc.h>
#include <openae/rt/frame_ring.h>
#include <openae/rt/monotonic_clock.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

namespace ae::pipeline {
namespace {

class rdp_microphone final : public device, public rdp_microphone_listener {
public:
    rdp_microphone(std::string spec, std::shared_ptr<rdp_session> session, rdp_pcm_format format, double period_ms, double latency_ms)
        : device(std::move(spec), endpoint_direction::capture, frame_format{format.rate, format.channels, sample_type::f32},
                 static_cast<std::uint32_t>(std::lround(period_ms * format.rate / 1000.0)), true),
          session_(std::move(session)), latency_frames_(static_cast<std::uint32_t>(std::lround(latency_ms * format.rate / 1000.0))),
          clock_({.rate = static_cast<double>(format.rate), .period_frames = period_frames_}) {}

    ~rdp_microphone() override { session_->detach_microphone(this); }

    std::expected<void, device_error> start() override {
        if (!session_->connected()) return fail("the client has gone");
        auto ring = frame_ring::create(std::uint64_t{format_.sample_rate} * 2 + latency_frames_, format_.bytes_per_frame());
        if (!ring) return fail("cannot create the ring: " + ring.error().message());
        ring_ = std::move(*ring);
        auto [writer, reader] = ring_.split();
        writer_ = std::move(writer);
        reader_ = std::move(reader);
        converted_.resize(std::size_t{format_.sample_rate} * format_.channels); // a second of frames per hand-over at most
        if (!session_->attach_microphone(this)) return fail("another device records this session's microphone");
        clock_.start(monotonic_now());
        return {};
    }

    void stop() noexcept override { session_->detach_microphone(this); }

    device_status wait_period() noexcept override { // rt-safe: waits for the device only
        // A client that has gone leaves what it sent in the ring: delivered first, then the loss.
        if (!session_->connected() && reader_.available_frames() == 0) return device_status::lost;
        timing_ = clock_.wait_next();
        return device_status::ok;
    }

    device_status record(std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        const std::uint64_t ready = reader_.available_frames();
        // Nothing more will come once the client has gone: the rest plays without its latency.
        if (!playing_ && ready > 0 && (ready >= latency_frames_ || !session_->connected())) playing_ = started_ = true;
        const auto got = playing_ ? static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, frames)) : 0u;
        const std::size_t bytes_per_frame = format_.bytes_per_frame();
        if (got > 0) {
            std::memcpy(data, reader_.try_acquire(got), std::size_t{got} * bytes_per_frame);
            reader_.commit(got);
        }
        if (got < frames) {
            std::memset(data + std::size_t{got} * bytes_per_frame, 0, std::size_t{frames - got} * bytes_per_frame);
            // Once the stream has started, every frame of silence stands in for the stream's.
            if (started_) short_.fetch_add(frames - got, std::memory_order_relaxed);
            playing_ = false; // until the ring holds `latency` again
        }
        last_record_frames_ = frames;
        return device_status::ok;
    }

    device_timing timing() const noexcept override { return timing_; } // rt-safe: wait-free
    std::uint64_t device_dropped_frames() const noexcept override {
        return short_.load(std::memory_order_relaxed) + overflow_.load(std::memory_order_relaxed);
    }
    hns latency() const noexcept override { return hns{static_cast<std::int64_t>(latency_frames_) * 10'000'000 / format_.sample_rate}; }

    // FreeRDP's audin thread.
    void recorded(const std::int16_t* frames, std::size_t count) noexcept override {
        const std::uint32_t channels = format_.channels;
        received_.fetch_add(count, std::memory_order_relaxed);
        while (count > 0) {
            const std::size_t take = std::min(count, converted_.size() / channels);
            for (std::size_t i = 0; i < take * channels; ++i) converted_[i] = static_cast<float>(frames[i]) / 32768.0f;
            const std::uint64_t room = writer_.free_frames();
            const auto fitting = static_cast<std::uint32_t>(std::min<std::uint64_t>(room, take));
            if (fitting > 0) {
                std::memcpy(writer_.try_acquire(fitting), converted_.data(), std::size_t{fitting} * format_.bytes_per_frame());
                writer_.commit(fitting);
            }
            if (fitting < take) overflow_.fetch_add(take - fitting, std::memory_order_relaxed);
            frames += take * channels;
            count -= take;
        }
    }

    void report(rdp_session_info& info) const noexcept override {
        info.microphone_frames = received_.load(std::memory_order_relaxed);
        info.microphone_short_frames = short_.load(std::memory_order_relaxed);
    }

private:
    std::unexpected<device_error> fail(const std::string& why) const {
        return std::unexpected(device_error{make_error_code(errc::device_unavailable), "rdp device '" + spec_ + "': " + why});
    }

    std::shared_ptr<rdp_session> session_;
    std::uint32_t latency_frames_;
    virtual_clock clock_;
    device_timing timing_{};
    frame_ring ring_;
    frame_ring_writer writer_;
    frame_ring_reader reader_;
    std::vector<float> converted_; // audin thread's
    bool playing_ = false;         // device thread's
    bool started_ = false;         // device thread's: the stream played once
    // order: relaxed — counts, each read on its own.
    std::atomic<std::uint64_t> short_{0};
    std::atomic<std::uint64_t> overflow_{0};
    std::atomic<std::uint64_t> received_{0};
};

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_rdp_microphone(const std::string& text, std::shared_ptr<rdp_session> session,
                                                                         device_spec& spec) {
    const auto period = spec.take_number("period", 10, 1, 100);
    if (!period) return std::unexpected(period.error());
    const auto latency = spec.take_number("latency", 100, 10, 2000);
    if (!latency) return std::unexpected(latency.error());
    if (auto done = spec.finish(); !done) return std::unexpected(done.error());
    rdp_pcm_format format{};
    bool open = false;
    (void)session->with_channels([&](rdp_channels& c) {
        open = c.microphone_open();
        format = c.microphone_format();
    });
    if (!open) return std::unexpected(device_error{make_error_code(errc::device_unavailable), "rdp device '" + text + "': session " + session->id() + " has no microphone (yet)"});
    return std::make_unique<rdp_microphone>(text, std::move(session), format, *period, *latency);
}

} // namespace ae::pipeline
