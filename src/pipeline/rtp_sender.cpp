// The sending RTP device (render): the device thread copies each period into a ring; the network
// thread ("ae-io-rtp", not real-time) cuts it into packets of ptime, encodes and sends them as
// soon as they are whole, sends RTCP sender reports and reads the receiver's reports.
//
// Pacing is the device's virtual clock (drift_ppm simulates a sender whose clock is off), so a
// packet leaves within a period of its frames being played; the position record says when.
#include "rtp_device.h"
#include "rtp_srtp.h"

#include <openae/pipeline/virtual_clock.h>
#include <openae/pipeline/rtp_packet.h>
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
#include <fstream>
#include <optional>
#include <random>
#include <thread>
#include <vector>

namespace ae::pipeline {
namespace {

constexpr std::size_t max_datagram = 1500 + srtp_trailer_bytes;

class rtp_sender final : public device, public rtp_stats_source {
public:
    rtp_sender(std::string spec, rtp_settings settings, rtp_encoder encoder, std::uint32_t period_frames)
        : device(std::move(spec), endpoint_direction::render,
                 frame_format{settings.stream.rate, settings.stream.channels, sample_type::f32}, period_frames, true),
          settings_(std::move(settings)), encoder_(std::move(encoder)),
          ptime_frames_(static_cast<std::uint32_t>(std::lround(settings_.stream.ptime_ms * settings_.stream.rate / 1000.0))),
          clock_({.rate = static_cast<double>(settings_.stream.rate), .period_frames = period_frames, .drift_ppm = settings_.drift_ppm}) {
        std::random_device random;
        ssrc_ = random();
        sequence_ = static_cast<std::uint16_t>(random());
        timestamp_ = random();
    }
    ~rtp_sender() override { stop(); }

    std::expected<void, device_error> start() override {
        wake_ = rtp_net::unique_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (wake_.get() < 0) return fail(errc::io_error, "cannot create an eventfd");
        auto ring = frame_ring::create(std::max<std::uint64_t>(format_.sample_rate, 4ull * period_frames_), format_.bytes_per_frame());
        if (!ring) return fail(errc::io_error, "cannot create the ring: " + ring.error().message());
        ring_ = std::move(*ring);
        auto [writer, reader] = ring_.split();
        writer_ = std::move(writer);
        reader_ = std::move(reader);
        sockaddr_in any{};
        any.sin_family = AF_INET;
        auto sockets = rtp_net::bind_udp_pair(any, spec_);
        if (!sockets) return std::unexpected(sockets.error());
        rtp_socket_ = std::move(sockets->first);
        rtcp_socket_ = std::move(sockets->second);
        if (!settings_.stream.crypto_suite.empty()) {
            auto session = srtp_session::create(settings_.stream.crypto_suite, settings_.stream.crypto_key, srtp_session::direction::outbound);
            if (!session) return std::unexpected(device_error{session.error().code, "rtp device '" + spec_ + "': " + session.error().message});
            srtp_.emplace(std::move(*session));
            auto incoming = srtp_session::create(settings_.stream.crypto_suite, settings_.stream.crypto_key, srtp_session::direction::inbound);
            if (!incoming) return std::unexpected(device_error{incoming.error().code, "rtp device '" + spec_ + "': " + incoming.error().message});
            incoming_srtp_.emplace(std::move(*incoming));
        }
        if (!settings_.sdp_path.empty()) {
            sdp_stream described = settings_.stream;
            described.address = rtp_net::to_string(settings_.address);
            described.address = described.address.substr(0, described.address.rfind(':'));
            described.port = ntohs(settings_.address.sin_port);
            std::ofstream file(settings_.sdp_path, std::ios::trunc);
            file << write_sdp(described);
            if (!file) return fail(errc::io_error, "cannot write the SDP '" + settings_.sdp_path + "'");
        }
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

    // The position record counts the frames that have left in packets (those still waiting for a
    // whole packet have not), at the period's start; its time_error carries the jitter the far
    // end reports (RTCP): when a frame is heard is `time` + latency(), within that.
    device_status wait_period() noexcept override { // rt-safe: waits for the device only
        timing_ = clock_.wait_next();
        timing_.position = written_ - writer_.padding_frames();
        timing_.time_error = hns{static_cast<std::int64_t>(remote_jitter_.load(std::memory_order_relaxed)) * 10'000'000 / format_.sample_rate};
        return device_status::ok;
    }

    device_status play(const std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        const std::uint64_t room = writer_.free_frames();
        const auto fitting = static_cast<std::uint32_t>(room < frames ? room : frames);
        if (fitting > 0) {
            std::memcpy(writer_.try_acquire(fitting), data, std::size_t{fitting} * format_.bytes_per_frame());
            writer_.commit(fitting);
            written_ += fitting;
            signal_eventfd(wake_.get());
        }
        if (fitting < frames) dropped_.fetch_add(frames - fitting, std::memory_order_relaxed);
        return device_status::ok;
    }

    device_timing timing() const noexcept override { return timing_; } // rt-safe: wait-free
    std::uint64_t device_dropped_frames() const noexcept override { return dropped_.load(std::memory_order_relaxed); }
    std::uint64_t latency_generation() const noexcept override { return latency_generation_.load(std::memory_order_relaxed); } // rt-safe: wait-free
    hns latency() const noexcept override {
        // Frames wait in the ring for a whole packet, then travel: half the round trip when known.
        const double rtt_ms = static_cast<double>(latency_round_trip_us_.load(std::memory_order_relaxed)) / 1000.0;
        return hns{static_cast<std::int64_t>((settings_.stream.ptime_ms + (rtt_ms > 0 ? rtt_ms / 2 : 0)) * 1e4)};
    }

    rtp_stats stats() const noexcept override {
        rtp_stats s;
        s.packets_sent = packets_sent_.load(std::memory_order_relaxed);
        s.octets_sent = octets_sent_.load(std::memory_order_relaxed);
        s.send_failures = send_failures_.load(std::memory_order_relaxed);
        s.receiver_reports = reports_.load(std::memory_order_relaxed);
        s.rtcp_malformed = rtcp_malformed_.load(std::memory_order_relaxed);
        s.auth_failed = auth_failed_.load(std::memory_order_relaxed);
        const std::int64_t rtt = round_trip_us_.load(std::memory_order_relaxed);
        s.round_trip_ms = rtt < 0 ? -1.0 : static_cast<double>(rtt) / 1000.0;
        s.remote_jitter_ms = static_cast<double>(remote_jitter_.load(std::memory_order_relaxed)) * 1000.0 / format_.sample_rate;
        s.remote_fraction_lost = remote_fraction_lost_.load(std::memory_order_relaxed) / 256.0;
        s.remote_cumulative_lost = remote_lost_.load(std::memory_order_relaxed);
        return s;
    }

private:
    std::unexpected<device_error> fail(errc code, const std::string& why) const {
        return std::unexpected(device_error{make_error_code(code), "rtp device '" + spec_ + "': " + why});
    }

    void run_io() noexcept {
        set_current_thread_name("ae-io-rtp");
        // Refused: it runs at normal priority, as the device thread then does too.
        if (helper_priority() > 0) (void)try_set_realtime_priority(helper_priority());
        std::vector<std::byte> packet(max_datagram);
        hns next_report = monotonic_now();
        const hns report_interval{static_cast<std::int64_t>(settings_.rtcp_interval_ms * 1e4)};
        for (;;) {
            const int fds[] = {wake_.get(), rtcp_socket_.get()};
            rtp_net::wait_readable(fds, 2, std::max(hns{0}, next_report - monotonic_now()));
            rtp_net::clear_eventfd(wake_.get());
            const bool stopping = stopping_.load(std::memory_order_acquire);
            while (reader_.available_frames() >= ptime_frames_) send_packet(packet);
            read_reports();
            if (monotonic_now() >= next_report) {
                send_report();
                next_report = monotonic_now() + report_interval;
            }
            if (stopping) break;
        }
    }

    void send_packet(std::vector<std::byte>& packet) noexcept {
        const auto* frames = reinterpret_cast<const float*>(reader_.try_acquire(ptime_frames_));
        const rtp_header header{.payload_type = settings_.stream.payload_type, .marker = packets_sent_.load(std::memory_order_relaxed) == 0,
                                .sequence = sequence_, .timestamp = timestamp_, .ssrc = ssrc_};
        const std::size_t head = write_rtp_header(header, packet);
        const std::size_t payload = encoder_.encode(frames, ptime_frames_, std::span{packet}.first(packet.size() - srtp_trailer_bytes).subspan(head));
        reader_.commit(ptime_frames_);
        ++sequence_;
        timestamp_ += ptime_frames_;
        std::size_t size = head + payload;
        const bool protected_ok = payload > 0 && (!srtp_ || srtp_->protect_rtp(packet.data(), size, packet.size()));
        if (!protected_ok || ::sendto(rtp_socket_.get(), packet.data(), size, MSG_DONTWAIT,
                                     reinterpret_cast<const sockaddr*>(&settings_.address), sizeof settings_.address) < 0) {
            // Refused (nobody listening yet gives ECONNREFUSED on loopback): the frames are lost.
            send_failures_.fetch_add(1, std::memory_order_relaxed);
            dropped_.fetch_add(ptime_frames_, std::memory_order_relaxed);
            return;
        }
        packets_sent_.fetch_add(1, std::memory_order_relaxed);
        octets_sent_.fetch_add(payload, std::memory_order_relaxed);
    }

    // The latency published follows the round trip in steps of 1 ms (each a latency_changed).
    void record_round_trip(std::int64_t us) noexcept {
        round_trip_us_.store(us, std::memory_order_relaxed);
        if (published_round_trip_us_ < 0 || std::abs(us - published_round_trip_us_) >= 1000) {
            published_round_trip_us_ = us;
            latency_round_trip_us_.store(us, std::memory_order_relaxed);
            latency_generation_.fetch_add(1, std::memory_order_relaxed);
        }
    }

    void send_report() noexcept {
        std::byte report[256 + srtp_trailer_bytes + 4];
        const rtcp_sender_info info{.ntp_time = rtp_net::ntp_now(), .rtp_timestamp = timestamp_,
                                    .packet_count = static_cast<std::uint32_t>(packets_sent_.load(std::memory_order_relaxed)),
                                    .octet_count = static_cast<std::uint32_t>(octets_sent_.load(std::memory_order_relaxed))};
        std::size_t bytes = write_sender_report(ssrc_, info, "openae@localhost", std::span{report}.first(256));
        const sockaddr_in to = rtp_net::with_port(settings_.address, static_cast<std::uint16_t>(ntohs(settings_.address.sin_port) + 1));
        if (bytes > 0 && srtp_ && !srtp_->protect_rtcp(report, bytes, sizeof report)) bytes = 0;
        if (bytes > 0) (void)::sendto(rtcp_socket_.get(), report, bytes, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }

    void read_reports() noexcept {
        std::byte datagram[max_datagram];
        for (int i = 0; i < 16; ++i) {
            const ssize_t got = ::recv(rtcp_socket_.get(), datagram, sizeof datagram, MSG_DONTWAIT);
            if (got <= 0) return;
            std::size_t size = static_cast<std::size_t>(got);
            if (srtp_ && !incoming_srtp_->unprotect_rtcp(datagram, size)) {
                auth_failed_.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            const auto summary = parse_rtcp(std::span<const std::byte>(datagram, size));
            if (!summary) {
                rtcp_malformed_.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            for (std::uint8_t b = 0; b < summary->report_count; ++b) {
                const rtcp_report_block& block = summary->reports[b];
                if (block.ssrc != ssrc_) continue;
                reports_.fetch_add(1, std::memory_order_relaxed);
                remote_jitter_.store(block.jitter, std::memory_order_relaxed);
                remote_fraction_lost_.store(block.fraction_lost, std::memory_order_relaxed);
                remote_lost_.store(block.cumulative_lost, std::memory_order_relaxed);
                if (block.last_sender_report != 0) {
                    // RFC 3550 6.4.1: now − LSR − DLSR, in 1/65536 s.
                    const std::uint32_t rtt = ntp_middle(rtp_net::ntp_now()) - block.last_sender_report - block.delay_since_last_sender_report;
                    if (rtt < 65536u * 10) record_round_trip(static_cast<std::int64_t>(rtt * 1e6 / 65536.0));
                }
            }
        }
    }

    rtp_settings settings_;
    rtp_encoder encoder_;
    std::optional<srtp_session> srtp_;          // outbound: our SRTP and SRTCP
    std::optional<srtp_session> incoming_srtp_; // inbound: the receiver's SRTCP reports (same key, RFC 4568 SDES both ways)
    std::uint32_t ptime_frames_;
    virtual_clock clock_;
    device_timing timing_{};
    std::uint64_t written_ = 0; // frames the device thread put in the ring (its own)
    frame_ring ring_;
    frame_ring_writer writer_;
    frame_ring_reader reader_;
    rtp_net::unique_fd wake_;
    rtp_net::unique_fd rtp_socket_;
    rtp_net::unique_fd rtcp_socket_;
    std::thread io_thread_;
    std::uint32_t ssrc_ = 0;
    std::uint16_t sequence_ = 0;
    std::uint32_t timestamp_ = 0;
    // order: release/acquire — the device thread's last frames are in the ring before stopping_.
    std::atomic<bool> stopping_{false};
    // order: relaxed — counts and figures, each read on its own.
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> packets_sent_{0};
    std::atomic<std::uint64_t> octets_sent_{0};
    std::atomic<std::uint64_t> send_failures_{0};
    std::atomic<std::uint64_t> reports_{0};
    std::atomic<std::uint64_t> rtcp_malformed_{0};
    std::atomic<std::uint64_t> auth_failed_{0};
    std::atomic<std::int64_t> round_trip_us_{-1};
    std::atomic<std::int64_t> latency_round_trip_us_{-1}; // the round trip latency() uses
    std::atomic<std::uint64_t> latency_generation_{0};
    std::atomic<std::uint32_t> remote_jitter_{0};
    std::atomic<std::uint32_t> remote_fraction_lost_{0};
    std::atomic<std::int64_t> remote_lost_{0};
    std::int64_t published_round_trip_us_ = -1; // network thread only
};

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_rtp_sender(std::string spec, rtp_settings settings) {
    auto encoder = rtp_encoder::create(settings.stream.codec, settings.stream.rate, settings.stream.channels, settings.opus);
    if (!encoder) return std::unexpected(device_error{encoder.error().code, "rtp device '" + spec + "': " + encoder.error().message});
    const auto period = static_cast<std::uint32_t>(std::max(1L, std::lround(settings.stream.rate * settings.period_ms / 1000.0)));
    return std::make_unique<rtp_sender>(std::move(spec), std::move(settings), std::move(*encoder), period);
}

} // namespace ae::pipeline
