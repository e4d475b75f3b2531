// openae — rtp_receiver: what a receiving RTP device does between the network and its ring.
//
// Packets go into a jitter buffer (slots by sequence number: reordering is free, duplicates and
// late packets are counted and dropped). Frames leave it in order, decoded, through a
// variable-ratio resampler, into the ring the device thread reads. The ring's fill is the queue:
// - when the first packet of a stream comes, the ring is primed with silence to `latency_frames`,
//   so every packet has that long to arrive (less the reader's period and a 2 ms margin);
// - a missing packet is waited for until the ring runs down to the reader's period + 2 ms, then
//   it is concealed (Opus: FEC from the next packet, else PLC; L16: silence) and counted;
// - drift control: the queue (ring + resampler), averaged, is held on the level it settled at in
//   its first second by a PI loop steering the resampler's ratio (±1000 ppm at most, slewed by
//   soxr: no step in pitch). A sender whose clock runs fast or slow no longer grows or drains it.
// - a packet that comes just after its frames were concealed while the queue is short (under
//   the target and four packets) grows the queue by a packet's silence (and up to the target),
//   counted as concealed, and drift control's target with it: a path with more jitter than the
//   latency allowed costs a few gaps while the queue adapts, not a gap per packet; once no packet
//   came late for 5 s the target comes back down at 0.5 ms/s to where it settled (drift control
//   drains the queue inaudibly), and the wait doubles each time packets come late again after it;
// - a reader that found the ring short while a stream played (this thread ran late) has played
//   silence for frames still to come: as many frames are skipped when they come, so the gap is
//   one glitch, not latency the queue carries from then on (`reader_short`);
// - an SSRC change (after the old source fell silent), a sequence jump of more than the slots, or
//   a timestamp jump of more than a second is a discontinuity: the buffer starts afresh.
// Driven by one thread (the device's network thread, or a test's simulated clock): `receive` for
// each datagram, `service` when the ring may need frames. Nothing here blocks.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_error.h>
#include <openae/pipeline/rtp_packet.h>
#include <openae/pipeline/sdp.h>
#include <openae/rt/frame_ring.h>
#include <openae/rt/types.h>

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>

namespace ae::pipeline {

struct rtp_receiver_options {
    rtp_codec codec = rtp_codec::l16;
    std::uint32_t rate = 48000;
    std::uint16_t channels = 2;
    int payload_type = -1;                 // -1: the first packet's dynamic type (96..127) or 10/11
    std::uint32_t latency_frames = 960;    // the queue's target
    std::uint32_t reader_period_frames = 240;
    bool drift_control = true;
};

// What the receiver has seen; written by the receiver's thread, read from any thread.
struct rtp_receiver_counters {
    // order: relaxed — each a count or figure of its own, read on its own; nothing is published with them.
    std::atomic<std::uint64_t> packets{0};        // accepted into the jitter buffer
    std::atomic<std::uint64_t> malformed{0};      // not RTP (parse_rtp's errors) or not a payload of the codec
    std::atomic<std::uint64_t> wrong_payload{0};  // another payload type
    std::atomic<std::uint64_t> foreign_ssrc{0};   // another source while the stream's own is alive
    std::atomic<std::uint64_t> duplicates{0};
    std::atomic<std::uint64_t> late{0};           // came after their frames were concealed
    std::atomic<std::uint64_t> lost_packets{0};   // never came in time (counted once a later packet shows the stream went on)
    std::atomic<std::uint64_t> concealed_frames{0}; // frames played in place of lost packets (PLC, FEC or silence);
                                                    // with nothing after them yet, counted once a later packet comes
    std::atomic<std::uint64_t> recovered_frames{0}; // of those, rebuilt by Opus FEC
    std::atomic<std::uint64_t> discontinuities{0};  // fresh starts after the first (a new source, a jump, a stream resuming after it ended)
    std::atomic<std::uint64_t> refills{0};          // the queue grew after a late packet (its silence is in concealed_frames)
    std::atomic<std::uint64_t> overflow_frames{0};  // dropped: the ring had no room
    std::atomic<std::uint64_t> skipped_frames{0};   // not queued: the reader had played silence in their place
    std::atomic<std::int64_t> drift_ppb{0};         // the resampler's correction now (parts per billion)
    std::atomic<std::int64_t> queue_frames{0};      // the averaged queue (ring + resampler)
    std::atomic<std::int64_t> queue_target_frames{0}; // where drift control holds it (0 until set)
    std::atomic<std::uint32_t> jitter{0};           // RFC 3550 interarrival jitter, timestamp units
};

class rtp_receiver {
public:
    // `ring`: the writing end of the ring the device thread reads.
    [[nodiscard]] static std::expected<rtp_receiver, device_error> create(const rtp_receiver_options& options,
                                                                          frame_ring_writer ring);
    rtp_receiver(rtp_receiver&&) noexcept;
    rtp_receiver& operator=(rtp_receiver&&) noexcept;
    ~rtp_receiver();

    // One datagram that came at `now` (any clock, the same for every call).
    void receive(std::span<const std::byte> datagram, hns now) noexcept;
    // Emits what is due into the ring, conceals what is overdue; call at least every
    // `service_interval()` while playing, and after each receive.
    void service(hns now) noexcept;
    [[nodiscard]] hns service_interval() const noexcept;
    // The reader found the ring `frames` short while playing (and played silence): the next
    // `frames` frames are skipped, up to a second's worth.
    void reader_short(std::uint64_t frames) noexcept;
    // A stream is playing (started, not ended): a reader that finds the ring short is underrunning.
    [[nodiscard]] bool playing() const noexcept;
    [[nodiscard]] const rtp_receiver_counters& counters() const noexcept;
    // The report block for the source (RFC 3550 6.4.1), at `now`; nullopt-like `ssrc == 0` when
    // nothing was received yet. `sender_report` feeds LSR/DLSR: call `on_sender_report` for each SR.
    [[nodiscard]] rtcp_report_block report(hns now) noexcept;
    void on_sender_report(const rtcp_summary& report, hns now) noexcept;
    [[nodiscard]] std::uint32_t source_ssrc() const noexcept;

private:
    struct state;
    explicit rtp_receiver(std::unique_ptr<state> s) noexcept;
    std::unique_ptr<state> state_;
};

} // namespace ae::pipeline

#pragma GCC visibility pop
