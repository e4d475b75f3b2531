// rdp[:SESSION] as a render device: the RDP client's speakers (rdpsnd).
//
// The device thread copies each period into a ring; a sender thread (`ae-io-rdp`, not real time:
// FreeRDP locks and allocates) cuts it into blocks of `block` ms, converts them to 16-bit PCM and
// sends each as a Wave2 PDU. FreeRDP queues without bound, so the window is ours: at most
// `window` blocks may wait for the client's first Wave Confirm; past it a block is dropped and
// its frames counted (a stalled client costs frames, not memory).
//
// Wave Confirms are the timing truth: the client echoes each block's timestamp plus its delay
// (the FreeRDP client confirms twice: on arrival — the network's round trip — then once the
// block is queued for playing, adding the time until its last frame is heard; the later one
// counts). The position record says which frame the client has played, extrapolated from the
// last played confirm (1 ms resolution: time_error); the latency is the block, half the round
// trip and the client's delay.
#include "rdp_speakers_pace.h"
#include "rdp_session.h"

#include <openae/pipeline/devices.h>
#include <openae/pipeline/virtual_clock.h>
#include <openae/rt/errc.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/frame_ring.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/seqlock.h>
#include <openae/rt/thread_name.h>

#include "rtp_net.h" // wait_readable, clear_eventfd
#include "unique_fd.h"

#include <sys/eventfd.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

namespace ae::pipeline {
namespace {

struct rdp_speakers_settings {
    double period_ms = 10;
    double block_ms = 20;
    std::uint32_t window_blocks = 10;
    bool drift_control = true;
};


// What the last played confirm says, published by FreeRDP's thread to the device thread.
struct played_mark {
    std::uint64_t frames = 0; // frames the client has played (blocks up to the confirmed one)
    std::int64_t time = 0;    // when (hns, CLOCK_MONOTONIC): the block's send time + the client's delay
};

class rdp_speakers final : public device, public rdp_speakers_listener {
public:
    rdp_speakers(std::string spec, std::shared_ptr<rdp_session> session, rdp_pcm_format format, rdp_speakers_settings settings)
        : device(std::move(spec), endpoint_direction::render, frame_format{format.rate, format.channels, sample_type::f32},
                 static_cast<std::uint32_t>(std::lround(settings.period_ms * format.rate / 1000.0)), true),
          session_(std::move(session)), settings_(settings),
          block_frames_(static_cast<std::uint32_t>(std::lround(settings.block_ms * format.rate / 1000.0))),
          clock_({.rate = static_cast<double>(format.rate), .period_frames = period_frames_}), pace_(format.rate) {}

    ~rdp_speakers() override {
        stop();
        session_->detach_speakers(this);
    }

    std::expected<void, device_error> start() override {
        if (!session_->connected()) return fail(errc::device_unavailable, "the client has gone");
        if (!session_->attach_speakers(this)) return fail(errc::device_unavailable, "another device plays to this session's speakers");
        wake_ = unique_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (wake_.get() < 0) return fail(errc::io_error, "cannot create an eventfd");
        auto ring = frame_ring::create(std::max<std::uint64_t>(format_.sample_rate, 8ull * block_frames_), format_.bytes_per_frame());
        if (!ring) return fail(errc::io_error, "cannot create the ring: " + ring.error().message());
        ring_ = std::move(*ring);
        auto [writer, reader] = ring_.split();
        writer_ = std::move(writer);
        reader_ = std::move(reader);
        stopping_.store(false);
        clock_.start(monotonic_now());
        sender_ = std::thread([this] { run_sender(); });
        return {};
    }

    void stop() noexcept override {
        if (!sender_.joinable()) return;
        stopping_.store(true, std::memory_order_release);
        signal_eventfd(wake_.get());
        sender_.join();
    }

    device_status wait_period() noexcept override { // rt-safe: waits for the device only
        if (!session_->connected()) return device_status::lost;
        // Drift control: the pace the client's queue asks for (its clock against ours).
        const std::int64_t pace_ppb = pace_ppb_.load(std::memory_order_relaxed);
        if (pace_ppb != applied_pace_ppb_) {
            clock_.set_drift_ppm(static_cast<double>(pace_ppb) * 1e-3);
            applied_pace_ppb_ = pace_ppb;
        }
        timing_ = clock_.wait_next();
        played_mark mark;
        if (played_.try_read(mark) && mark.time != 0) {
            // Extrapolated from the last played confirm at the nominal rate, either way: the
            // confirm names a frame and when it will be heard, usually a few hundred ms from now
            // (the client's queue), so the frame heard now is that many frames before it.
            const double since = static_cast<double>(timing_.time.count() - mark.time) * 1e-7;
            const double heard = static_cast<double>(mark.frames) + since * clock_.true_rate();
            const auto sent = static_cast<double>(sent_frames_.load(std::memory_order_relaxed));
            timing_.position = static_cast<std::uint64_t>(std::clamp(heard, 0.0, sent));
        } else {
            timing_.position = 0; // nothing played yet
        }
        timing_.time_error = hns{10'000}; // confirms carry whole milliseconds
        if (unconfirmed_.exchange(false, std::memory_order_relaxed)) timing_.discontinuity = true;
        return device_status::ok;
    }

    device_status play(const std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        if (!session_->connected()) return device_status::lost;
        const std::uint64_t room = writer_.free_frames();
        const auto fitting = static_cast<std::uint32_t>(room < frames ? room : frames);
        if (fitting > 0) {
            std::memcpy(writer_.try_acquire(fitting), data, std::size_t{fitting} * format_.bytes_per_frame());
            writer_.commit(fitting);
            ring_written_ += fitting;
            handed_mark& mark = handed_[handed_periods_++ % handed_.size()];
            mark.end_frame.store(ring_written_, std::memory_order_relaxed);
            mark.time.store(timing_.time.count(), std::memory_order_relaxed);
            signal_eventfd(wake_.get());
        }
        if (fitting < frames) dropped_.fetch_add(frames - fitting, std::memory_order_relaxed);
        return device_status::ok;
    }

    device_timing timing() const noexcept override { return timing_; } // rt-safe: wait-free
    std::uint64_t device_dropped_frames() const noexcept override { return dropped_.load(std::memory_order_relaxed); }
    std::uint64_t latency_generation() const noexcept override { return latency_generation_.load(std::memory_order_relaxed); } // rt-safe: wait-free
    hns latency() const noexcept override {
        const std::int64_t delay_ms = published_delay_ms_.load(std::memory_order_relaxed);
        return hns{static_cast<std::int64_t>(settings_.block_ms * 1e4) + std::max<std::int64_t>(delay_ms, 0) * 10'000};
    }

    void report(rdp_session_info& info) const noexcept override {
        info.blocks_sent = sequence_count_.load(std::memory_order_relaxed);
        info.blocks_dropped = blocks_dropped_.load(std::memory_order_relaxed);
        info.client_refused_blocks = refused_blocks_.load(std::memory_order_relaxed);
        info.round_trip_ms = static_cast<double>(round_trip_published_.load(std::memory_order_relaxed)) / 1e4;
        info.client_delay_ms = client_delay_ms_.load(std::memory_order_relaxed);
        const std::uint64_t held = held_blocks_.load(std::memory_order_relaxed);
        info.hold_ms_mean = held ? static_cast<double>(hold_sum_.load(std::memory_order_relaxed)) / 1e4 / static_cast<double>(held) : 0;
        info.hold_ms_max = static_cast<double>(hold_max_.load(std::memory_order_relaxed)) / 1e4;
        info.speakers_pace_ppm = static_cast<double>(pace_ppb_.load(std::memory_order_relaxed)) * 1e-3;
        info.client_queue_target_ms = static_cast<double>(target_us_.load(std::memory_order_relaxed)) * 1e-3;
    }

    // FreeRDP's rdpsnd thread.
    void confirmed(std::uint8_t block, std::uint16_t timestamp_ms) noexcept override {
        sent_block& sent = blocks_[block];
        if (!sent.valid.load(std::memory_order_acquire)) return;
        const std::uint64_t sequence = sent.sequence.load(std::memory_order_relaxed);
        const std::int64_t send_time = sent.send_time.load(std::memory_order_relaxed);
        const auto delay_ms = static_cast<std::uint16_t>(timestamp_ms - sent.timestamp_ms.load(std::memory_order_relaxed));
        const std::uint64_t highest = confirmed_sequence_.load(std::memory_order_relaxed);
        if (sequence + 1 > highest) {
            if (sequence > highest) unconfirmed_.store(true, std::memory_order_relaxed); // blocks between were never confirmed
            confirmed_sequence_.store(sequence + 1, std::memory_order_relaxed);
        }
        // A second confirm of a block: this client confirms on arrival and once played (the later
        // one counts); the first one's delay is the network's round trip.
        const std::uint8_t seen = static_cast<std::uint8_t>(sent.confirms.fetch_add(1, std::memory_order_relaxed) + 1);
        if (seen == 1) {
            const std::int64_t round_trip = monotonic_now().count() - send_time;
            // Smoothed over ~8 blocks (the network's jitter, not its clock).
            round_trip_hns_ = round_trip_hns_ < 0 ? round_trip : round_trip_hns_ + (round_trip - round_trip_hns_) / 8;
            round_trip_published_.store(round_trip_hns_, std::memory_order_relaxed);
        }
        if (seen >= 2) twice_ = true;
        if (twice_ && seen < 2) return; // the arrival confirm of a client that confirms twice
        const std::int64_t one_way = std::max<std::int64_t>(round_trip_hns_, 0) / 2;
        const auto heard_after_ms = static_cast<std::uint16_t>(std::min<std::int64_t>(delay_ms + one_way / 10'000, 65535));
        const hns now = monotonic_now();
        const bool warm = pace_.warm(now);
        // FreeRDP's client drops a block that takes its own count of what it was sent more than a
        // block past its tick clock (rdpsnd_detect_overrun), and confirms it at once, with no
        // device delay: a block confirmed sooner than its own length was never played.
        if (warm && heard_after_ms < settings_.block_ms) {
            refused_blocks_.fetch_add(1, std::memory_order_relaxed);
            dropped_.fetch_add(block_frames_, std::memory_order_relaxed); // its frames were never heard
            if (settings_.drift_control) pace_.refused(block_frames_);
            return;
        }
        played_mark mark{sent.end_frame.load(std::memory_order_relaxed), send_time + one_way + std::int64_t{delay_ms} * 10'000};
        played_.publish(mark);
        client_delay_ms_.store(heard_after_ms, std::memory_order_relaxed);
        if (settings_.drift_control && warm) {
            if (const auto pace = pace_.played(heard_after_ms, now)) pace_ppb_.store(std::llround(*pace * 1000), std::memory_order_relaxed);
            target_us_.store(std::llround(pace_.target_ms() * 1000), std::memory_order_relaxed);
        }
        if (std::abs(static_cast<int>(heard_after_ms) - static_cast<int>(published_delay_ms_.load(std::memory_order_relaxed))) >= 5) {
            published_delay_ms_.store(heard_after_ms, std::memory_order_relaxed);
            latency_generation_.fetch_add(1, std::memory_order_relaxed);
        }
    }

private:
    // A block's record, written by the sender before the block goes (the client may confirm it
    // before SendSamples2 returns) and read by FreeRDP's rdpsnd thread; a slot is reused 256
    // blocks later, so a late confirm may read it while it is rewritten: every field is atomic.
    struct sent_block {
        // order: release/acquire — the block's fields are written before it is marked valid.
        std::atomic<bool> valid{false};
        // order: relaxed — published by `valid`.
        std::atomic<std::uint64_t> sequence{0};
        std::atomic<std::uint64_t> end_frame{0};
        std::atomic<std::int64_t> send_time{0};
        std::atomic<std::uint16_t> timestamp_ms{0};
        std::atomic<std::uint8_t> confirms{0};
    };

    std::unexpected<device_error> fail(errc code, const std::string& why) const {
        return std::unexpected(device_error{make_error_code(code), "rdp device '" + spec_ + "': " + why});
    }

    void run_sender() noexcept {
        set_current_thread_name("ae-io-rdp");
        std::vector<std::int16_t> pcm(std::size_t{block_frames_} * format_.channels);
        for (;;) {
            const int fds[] = {wake_.get()};
            rtp_net::wait_readable(fds, 1, hns{200'000});
            rtp_net::clear_eventfd(wake_.get());
            const bool stopping = stopping_.load(std::memory_order_acquire);
            while (reader_.available_frames() >= block_frames_) send_block(pcm);
            if (stopping) break;
        }
    }

    void send_block(std::vector<std::int16_t>& pcm) noexcept {
        const std::uint64_t first_frame = ring_read_;
        ring_read_ += block_frames_;
        const auto* frames = reinterpret_cast<const float*>(reader_.try_acquire(block_frames_));
        const std::size_t samples = std::size_t{block_frames_} * format_.channels;
        for (std::size_t i = 0; i < samples; ++i) {
            const float v = std::clamp(frames[i] * 32768.0f, -32768.0f, 32767.0f);
            pcm[i] = static_cast<std::int16_t>(std::lrint(v));
        }
        reader_.commit(block_frames_);
        const std::uint64_t outstanding = sequence_ - confirmed_sequence_.load(std::memory_order_relaxed);
        if (outstanding >= settings_.window_blocks || !session_->connected()) {
            dropped_.fetch_add(block_frames_, std::memory_order_relaxed); // the client is not taking them
            blocks_dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const hns now = monotonic_now();
        const auto timestamp_ms = static_cast<std::uint16_t>(now.count() / 10'000);
        bool sent = false;
        (void)session_->with_channels([&](rdp_channels& c) {
            sent_block& record = blocks_[c.next_block()];
            record.valid.store(false, std::memory_order_relaxed);
            record.sequence.store(sequence_, std::memory_order_relaxed);
            record.end_frame.store(sent_frames_.load(std::memory_order_relaxed) + block_frames_, std::memory_order_relaxed);
            record.send_time.store(now.count(), std::memory_order_relaxed);
            record.timestamp_ms.store(timestamp_ms, std::memory_order_relaxed);
            record.confirms.store(0, std::memory_order_relaxed);
            record.valid.store(true, std::memory_order_release);
            std::uint8_t block = 0;
            sent = c.send_block(pcm.data(), block_frames_, timestamp_ms, block);
            if (!sent) record.valid.store(false, std::memory_order_relaxed);
        });
        if (!sent) {
            dropped_.fetch_add(block_frames_, std::memory_order_relaxed);
            blocks_dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        ++sequence_;
        sequence_count_.store(sequence_, std::memory_order_relaxed);
        sent_frames_.fetch_add(block_frames_, std::memory_order_relaxed);
        note_hold(first_frame, now);
    }

    // How long the block's first frame waited in openae since the device loop handed it over:
    // the period that wrote it is the first whose end lies past it.
    void note_hold(std::uint64_t first_frame, hns sent) noexcept {
        std::uint64_t best_end = ~std::uint64_t{0};
        std::int64_t handed_at = 0;
        for (const handed_mark& mark : handed_) {
            const std::uint64_t end = mark.end_frame.load(std::memory_order_relaxed);
            if (end > first_frame && end < best_end) {
                best_end = end;
                handed_at = mark.time.load(std::memory_order_relaxed);
            }
        }
        if (handed_at == 0 || sent.count() < handed_at) return;
        const std::int64_t hold = sent.count() - handed_at;
        hold_sum_.fetch_add(static_cast<std::uint64_t>(hold), std::memory_order_relaxed);
        held_blocks_.fetch_add(1, std::memory_order_relaxed);
        if (hold > hold_max_.load(std::memory_order_relaxed)) hold_max_.store(hold, std::memory_order_relaxed);
    }

    std::shared_ptr<rdp_session> session_;
    rdp_speakers_settings settings_;
    std::uint32_t block_frames_;
    virtual_clock clock_;
    device_timing timing_{};
    frame_ring ring_;
    frame_ring_writer writer_;
    frame_ring_reader reader_;
    unique_fd wake_;
    std::thread sender_;
    // When the device loop handed frames over: the ring's write count after each period and the
    // period's time, the last 64 periods (the sender reads one at most a block old).
    struct handed_mark {
        // order: relaxed — a figure; a mark overwritten while read costs one sample of it.
        std::atomic<std::uint64_t> end_frame{0};
        std::atomic<std::int64_t> time{0};
    };
    std::array<handed_mark, 64> handed_{};
    std::uint64_t handed_periods_ = 0; // device thread's
    std::uint64_t ring_written_ = 0;   // device thread's: frames into the ring
    std::uint64_t ring_read_ = 0;      // the sender's: frames out of it
    std::array<sent_block, 256> blocks_{}; // by block number
    std::uint64_t sequence_ = 0;            // blocks sent (the sender's)
    bool twice_ = false;                    // rdpsnd thread's: the client confirms each block twice
    std::int64_t round_trip_hns_ = -1;      // rdpsnd thread's: smoothed from arrival confirms
    rdp_speakers_pace pace_;                // rdpsnd thread's: drift control
    std::int64_t applied_pace_ppb_ = 0;     // device thread's
    seqlock<played_mark> played_;
    // order: release/acquire — stop.
    std::atomic<bool> stopping_{false};
    // order: relaxed — counts and figures, each read on its own.
    std::atomic<std::uint64_t> sent_frames_{0};
    std::atomic<std::uint64_t> confirmed_sequence_{0}; // blocks up to this one were confirmed (or skipped)
    std::atomic<bool> unconfirmed_{false};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint16_t> client_delay_ms_{0};
    std::atomic<std::uint16_t> published_delay_ms_{0};
    std::atomic<std::uint64_t> latency_generation_{0};
    std::atomic<std::uint64_t> sequence_count_{0};
    std::atomic<std::uint64_t> blocks_dropped_{0};
    std::atomic<std::uint64_t> refused_blocks_{0};
    std::atomic<std::int64_t> round_trip_published_{0};
    std::atomic<std::uint64_t> hold_sum_{0}; // hns
    std::atomic<std::uint64_t> held_blocks_{0};
    std::atomic<std::int64_t> hold_max_{0};  // hns
    std::atomic<std::int64_t> pace_ppb_{0};  // the device clock's pace against nominal, from drift control
    std::atomic<std::int64_t> target_us_{0}; // the client queue's level drift control holds
};

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_rdp_device(device_spec spec, endpoint_direction direction) {
    const std::string text = spec.text();
    const auto refuse = [&](errc code, const std::string& why) {
        return std::unexpected(device_error{make_error_code(code), "rdp device '" + text + "': " + why});
    };
    auto session = find_rdp_session(spec.target());
    if (!session) return refuse(errc::device_unavailable, spec.target().empty() ? "no RDP client is connected" : "no RDP session " + spec.target());
    if (direction == endpoint_direction::capture) return make_rdp_microphone(text, std::move(session), spec);
    rdp_speakers_settings settings;
    const auto period = spec.take_number("period", 10, 1, 100);
    if (!period) return std::unexpected(period.error());
    const auto block = spec.take_number("block", 20, 5, 100);
    if (!block) return std::unexpected(block.error());
    const auto window = spec.take_count("window", 10, 2, 200);
    if (!window) return std::unexpected(window.error());
    const auto drift = spec.take_count("drift", 1, 0, 1);
    if (!drift) return std::unexpected(drift.error());
    if (auto done = spec.finish(); !done) return std::unexpected(done.error());
    settings.period_ms = *period;
    settings.block_ms = *block;
    settings.window_blocks = *window;
    settings.drift_control = *drift == 1;
    rdp_pcm_format format{};
    bool ready = false;
    (void)session->with_channels([&](rdp_channels& c) {
        ready = c.speakers_ready();
        format = c.speakers_format();
    });
    if (!ready) return refuse(errc::device_unavailable, "session " + session->id() + " has no speakers (yet)");
    return std::make_unique<rdp_speakers>(text, std::move(session), format, settings);
}

} // namespace ae::pipeline
