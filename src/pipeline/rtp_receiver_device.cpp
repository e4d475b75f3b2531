// The receiving RTP device (capture): the network thread ("ae-io-rtp", not real-time) takes the
// datagrams into an rtp_receiver (jitter buffer, decoding, concealment, drift control), which
// fills a ring; the device thread, paced by the local virtual clock, reads a period from it.
// A period the ring cannot fill while a stream plays is an underrun: padded with silence and
// counted as dropped frames. Receiver reports go back to the sender's RTCP port (its RTP port + 1).
#include "rtp_device.h"
#include "rtp_srtp.h"

#include <openae/pipeline/rtp_receiver.h>
#include <openae/pipeline/virtual_clock.h>
#include <openae/rt/errc.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/frame_ring.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/thread_name.h>

#include <sys/eventfd.h>
#include <sys/socket.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

namespace ae::pipeline {
namespace {

constexpr std::size_t datagram_bytes = 2048; // more than any MTU: a larger datagram is cut (MSG_TRUNC) and refused

class rtp_receive_device final : public device, public rtp_stats_source {
public:
    rtp_receive_device(std::string spec, rtp_settings settings, std::uint32_t period_frames)
        : device(std::move(spec), endpoint_direction::capture,
                 frame_format{settings.stream.rate, settings.stream.channels, sample_type::f32}, period_frames, true),
          settings_(std::move(settings)),
          clock_({.rate = static_cast<double>(settings_.stream.rate), .period_frames = period_frames}) {
        std::random_device random;
        ssrc_ = random();
    }
    ~rtp_receive_device() override { stop(); }

    std::expected<void, device_error> start() override {
        wake_ = rtp_net::unique_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (wake_.get() < 0) return fail(errc::io_error, "cannot create an eventfd");
        const std::uint32_t latency_frames = ms_frames(settings_.latency_ms);
        auto ring = frame_ring::create(std::uint64_t{latency_frames} + format_.sample_rate, format_.bytes_per_frame());
        if (!ring) return fail(errc::io_error, "cannot create the ring: " + ring.error().message());
        ring_ = std::move(*ring);
        auto [writer, reader] = ring_.split();
        reader_ = std::move(reader);
        auto receiver = rtp_receiver::create({.codec = settings_.stream.codec, .rate = settings_.stream.rate,
                                              .channels = settings_.stream.channels,
                                              .payload_type = settings_.payload_type_given ? settings_.stream.payload_type : -1,
                                              .latency_frames = latency_frames, .reader_period_frames = period_frames_,
                                              .drift_control = settings_.drift_control},
                                             std::move(writer));
        if (!receiver) return std::unexpected(device_error{receiver.error().code, "rtp device '" + spec_ + "': " + receiver.error().message});
        receiver_.emplace(std::move(*receiver));
        if (!settings_.stream.crypto_suite.empty()) {
            auto inbound = srtp_session::create(settings_.stream.crypto_suite, settings_.stream.crypto_key, srtp_session::direction::inbound);
            auto outbound = srtp_session::create(settings_.stream.crypto_suite, settings_.stream.crypto_key, srtp_session::direction::outbound);
            if (!inbound || !outbound) return fail(errc::bad_argument, "cannot set up SRTP");
            srtp_in_.emplace(std::move(*inbound));
            srtp_out_.emplace(std::move(*outbound));
        }
        auto rtp = rtp_net::bind_udp(settings_.address, spec_);
        if (!rtp) return std::unexpected(rtp.error());
        auto rtcp = rtp_net::bind_udp(rtp_net::with_port(settings_.address, static_cast<std::uint16_t>(ntohs(settings_.address.sin_port) + 1)), spec_);
        if (!rtcp) return std::unexpected(rtcp.error());
        rtp_socket_ = std::move(*rtp);
        rtcp_socket_ = std::move(*rtcp);
        stopping_.store(false);
        clock_.start(monotonic_now());
        io_thread_ = std::thread([this] { run_io(); });
        return {};
    }

    void stop() noexcept override {
        if (!io_thread_.joinable()) return;
        stopping_.store(true, std::memory_order_release);
        signal_eventfd(wake_.get());
        io_thread_.join();
    }

    // The record's time_error carries the stream's interarrival jitter (RFC 3550): when a frame
    // left the far end is `time` - latency(), within that.
    device_status wait_period() noexcept override { // rt-safe: waits for the device only
        timing_ = clock_.wait_next();
        const std::uint32_t jitter = receiver_ ? receiver_->counters().jitter.load(std::memory_order_relaxed) : 0;
        timing_.time_error = hns{static_cast<std::int64_t>(jitter) * 10'000'000 / format_.sample_rate};
        return device_status::ok;
    }

    device_status record(std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        const std::uint64_t ready = reader_.available_frames();
        const auto got = static_cast<std::uint32_t>(ready < frames ? ready : frames);
        const std::size_t bytes_per_frame = format_.bytes_per_frame();
        if (got > 0) {
            std::memcpy(data, reader_.try_acquire(got), std::size_t{got} * bytes_per_frame);
            reader_.commit(got);
        }
        if (got < frames) {
            std::memset(data + std::size_t{got} * bytes_per_frame, 0, std::size_t{frames - got} * bytes_per_frame);
            // Silence before a stream starts (or after it ended) is not a glitch; a shortfall
            // while one plays is.
            if (playing_.load(std::memory_order_relaxed)) dropped_.fetch_add(frames - got, std::memory_order_relaxed);
        }
        last_record_frames_ = frames;
        return device_status::ok;
    }

    device_timing timing() const noexcept override { return timing_; } // rt-safe: wait-free
    // Underrun frames, the frames concealed in place of lost or late packets, and frames the ring
    // had no room for: each a frame the stream did not deliver, so each in a glitch record.
    std::uint64_t device_dropped_frames() const noexcept override {
        const std::uint64_t overflow = receiver_ ? receiver_->counters().overflow_frames.load(std::memory_order_relaxed) : 0;
        return dropped_.load(std::memory_order_relaxed) + concealed_.load(std::memory_order_relaxed) + overflow;
    }
    hns latency() const noexcept override { return hns{static_cast<std::int64_t>(settings_.latency_ms * 1e4)}; }

    rtp_stats stats() const noexcept override {
        rtp_stats s;
        s.rtcp_malformed = rtcp_malformed_.load(std::memory_order_relaxed);
        s.auth_failed = auth_failed_.load(std::memory_order_relaxed);
        s.underrun_frames = dropped_.load(std::memory_order_relaxed);
        if (!receiver_) return s;
        const auto& c = receiver_->counters();
        const auto load = [](const auto& counter) { return counter.load(std::memory_order_relaxed); };
        s.packets = load(c.packets);
        s.malformed = load(c.malformed) + oversized_.load(std::memory_order_relaxed);
        s.wrong_payload = load(c.wrong_payload);
        s.foreign_ssrc = load(c.foreign_ssrc);
        s.duplicates = load(c.duplicates);
        s.late = load(c.late);
        s.lost_packets = load(c.lost_packets);
        s.concealed_frames = load(c.concealed_frames);
        s.recovered_frames = load(c.recovered_frames);
        s.discontinuities = load(c.discontinuities);
        s.skipped_frames = load(c.skipped_frames);
        s.overflow_frames = load(c.overflow_frames);
        const double ms_per_frame = 1000.0 / format_.sample_rate;
        s.queue_ms = static_cast<double>(load(c.queue_frames)) * ms_per_frame;
        s.queue_target_ms = static_cast<double>(load(c.queue_target_frames)) * ms_per_frame;
        s.drift_ppm = static_cast<double>(load(c.drift_ppb)) / 1000.0;
        s.jitter_ms = static_cast<double>(load(c.jitter)) * ms_per_frame;
        return s;
    }

private:
    std::unexpected<device_error> fail(errc code, const std::string& why) const {
        return std::unexpected(device_error{make_error_code(code), "rtp device '" + spec_ + "': " + why});
    }
    [[nodiscard]] std::uint32_t ms_frames(double ms) const noexcept {
        return static_cast<std::uint32_t>(std::lround(ms * format_.sample_rate / 1000.0));
    }

    void run_io() noexcept {
        set_current_thread_name("ae-io-rtp");
        // Refused: it runs at normal priority, as the device thread then does too.
        if (helper_priority() > 0) (void)try_set_realtime_priority(helper_priority());
        const hns report_interval{static_cast<std::int64_t>(settings_.rtcp_interval_ms * 1e4)};
        hns next_report = monotonic_now() + report_interval;
        const hns idle_wait{200'000}; // 20 ms: nothing plays, only packets wake us
        while (!stopping_.load(std::memory_order_acquire)) {
            const int fds[] = {wake_.get(), rtp_socket_.get(), rtcp_socket_.get()};
            rtp_net::wait_readable(fds, 3, receiver_->playing() ? receiver_->service_interval() : idle_wait);
            // What the device thread played as silence for lack of frames is skipped when it comes.
            const std::uint64_t short_frames = dropped_.load(std::memory_order_relaxed);
            receiver_->reader_short(short_frames - short_seen_);
            short_seen_ = short_frames;
            take_datagrams();
            take_reports();
            receiver_->service(monotonic_now());
            playing_.store(receiver_->playing(), std::memory_order_relaxed);
            concealed_.store(receiver_->counters().concealed_frames.load(std::memory_order_relaxed), std::memory_order_relaxed);
            if (monotonic_now() >= next_report) {
                send_report();
                next_report = monotonic_now() + report_interval;
            }
        }
    }

    void take_datagrams() noexcept {
        std::byte datagram[datagram_bytes];
        // Bounded per wake-up, so a flood cannot starve the service of the ring.
        for (int i = 0; i < 256; ++i) {
            sockaddr_in from{};
            socklen_t from_size = sizeof from;
            const ssize_t got = ::recvfrom(rtp_socket_.get(), datagram, sizeof datagram, MSG_DONTWAIT | MSG_TRUNC,
                                           reinterpret_cast<sockaddr*>(&from), &from_size);
            if (got < 0) return;
            if (static_cast<std::size_t>(got) > sizeof datagram) {
                oversized_.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            std::size_t size = static_cast<std::size_t>(got);
            // Authenticated before anything reads it: a forged or corrupted packet is never decoded.
            if (srtp_in_ && !srtp_in_->unprotect_rtp(datagram, size)) {
                auth_failed_.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            // Serviced once the socket is drained (the caller): a packet still in the socket
            // is not missing, and servicing between datagrams concealed such packets after a
            // late wake-up.
            receiver_->receive(std::span<const std::byte>(datagram, size), monotonic_now());
            if (receiver_->source_ssrc() != 0) source_ = from;
        }
    }

    void take_reports() noexcept {
        std::byte datagram[datagram_bytes];
        for (int i = 0; i < 16; ++i) {
            const ssize_t got = ::recv(rtcp_socket_.get(), datagram, sizeof datagram, MSG_DONTWAIT | MSG_TRUNC);
            if (got < 0) return;
            std::size_t size = std::min<std::size_t>(static_cast<std::size_t>(got), sizeof datagram);
            if (srtp_in_ && static_cast<std::size_t>(got) <= sizeof datagram && !srtp_in_->unprotect_rtcp(datagram, size)) {
                auth_failed_.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            const auto summary = parse_rtcp(std::span<const std::byte>(datagram, size));
            if (!summary || static_cast<std::size_t>(got) > sizeof datagram) {
                rtcp_malformed_.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            receiver_->on_sender_report(*summary, monotonic_now());
        }
    }

    void send_report() noexcept {
        if (!source_ || receiver_->source_ssrc() == 0) return;
        std::byte report[256 + srtp_trailer_bytes + 4];
        std::size_t bytes = write_receiver_report(ssrc_, receiver_->report(monotonic_now()), "openae@localhost", std::span{report}.first(256));
        if (bytes > 0 && srtp_out_ && !srtp_out_->protect_rtcp(report, bytes, sizeof report)) bytes = 0;
        const sockaddr_in to = rtp_net::with_port(*source_, static_cast<std::uint16_t>(ntohs(source_->sin_port) + 1));
        if (bytes > 0) (void)::sendto(rtcp_socket_.get(), report, bytes, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }

    rtp_settings settings_;
    virtual_clock clock_;
    device_timing timing_{};
    frame_ring ring_;
    frame_ring_reader reader_;
    std::optional<rtp_receiver> receiver_; // network thread only (its counters: any thread)
    std::optional<sockaddr_in> source_;
    std::optional<srtp_session> srtp_in_;  // the sender's SRTP and SRTCP
    std::optional<srtp_session> srtp_out_; // our SRTCP receiver reports
    rtp_net::unique_fd wake_;
    rtp_net::unique_fd rtp_socket_;
    rtp_net::unique_fd rtcp_socket_;
    std::thread io_thread_;
    std::uint32_t ssrc_ = 0;
    std::uint64_t short_seen_ = 0; // dropped_ as the network thread last saw it (its own)
    // order: release/acquire — stop.
    std::atomic<bool> stopping_{false};
    // order: relaxed — a flag and counts, each read on its own.
    std::atomic<bool> playing_{false};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> oversized_{0};
    std::atomic<std::uint64_t> rtcp_malformed_{0};
    std::atomic<std::uint64_t> auth_failed_{0};
    std::atomic<std::uint64_t> concealed_{0}; // the receiver's concealed_frames, for the device thread
};

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_rtp_receiver(std::string spec, rtp_settings settings) {
    // The decoder is made here too, so a stream openae cannot decode is refused at once.
    auto decoder = rtp_decoder::create(settings.stream.codec, settings.stream.rate, settings.stream.channels);
    if (!decoder) return std::unexpected(device_error{decoder.error().code, "rtp device '" + spec + "': " + decoder.error().message});
    const auto period = static_cast<std::uint32_t>(std::max(1L, std::lround(settings.stream.rate * settings.period_ms / 1000.0)));
    return std::make_unique<rtp_receive_device>(std::move(spec), std::move(settings), period);
}

} // namespace ae::pipeline
