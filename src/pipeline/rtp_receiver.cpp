// The jitter buffer, concealment and drift control of an RTP receiver (see rtp_receiver.h).
#include <openae/pipeline/rtp_receiver.h>

#include "queue_level_control.h"
#include "rtp_reception.h"

#include <openae/pipeline/resampler.h>
#include <openae/pipeline/rtp_codec.h>
#include <openae/rt/errc.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

namespace ae::pipeline {
namespace {

constexpr std::size_t slot_count = 512;        // packets the jitter buffer holds (seconds at any ptime)
constexpr std::size_t max_payload_bytes = 1500; // an Ethernet MTU: larger datagrams are malformed here
constexpr std::uint32_t max_packet_frames = 5760; // Opus's longest packet (120 ms at 48 kHz)
constexpr double margin_ms = 2;                 // a missing packet is concealed this long before the reader needs it
constexpr double max_gap_s = 1;                 // a timestamp step beyond this is a discontinuity
constexpr double source_silence_ms = 200;       // a new SSRC takes over after the old one was silent this long
constexpr double max_conceal_ms = 200;          // then a stream without packets has ended
struct slot {
    std::array<std::byte, max_payload_bytes> bytes{};
    std::uint16_t size = 0;
    std::uint16_t sequence = 0;
    std::uint32_t timestamp = 0;
    bool used = false;
};

double seconds(hns t) noexcept { return static_cast<double>(t.count()) * 1e-7; }

} // namespace

struct rtp_receiver::state {
    state(const rtp_receiver_options& o, frame_ring_writer r, rtp_decoder d) noexcept
        : options(o), ring(std::move(r)), decoder(std::move(d)), level(o.rate) {
        concealed_sequence_of.fill(-1);
    }

    rtp_receiver_options options;
    frame_ring_writer ring;
    rtp_decoder decoder;
    std::optional<resampler> drift;
    std::vector<slot> slots = std::vector<slot>(slot_count);
    std::vector<float> decoded = std::vector<float>(std::size_t{max_packet_frames} * 8);
    std::vector<float> resampled;
    rtp_receiver_counters counters;

    bool have_source = false;
    bool playing = false;
    std::uint32_t ssrc = 0;
    int payload_type = -1;
    hns last_arrival{0};
    std::uint16_t next_sequence = 0;
    std::uint32_t next_timestamp = 0;
    std::uint32_t last_packet_frames = 0;
    std::uint64_t concealed_run = 0;
    std::uint64_t unconfirmed_lost = 0;      // concealed with nothing after them yet: lost, or past the stream's end
    std::uint64_t unconfirmed_concealed = 0; // their frames
    // Which recent sequence numbers were concealed (not played): a packet coming after its turn is
    // late if so, a duplicate if not.
    std::array<std::int32_t, slot_count> concealed_sequence_of{}; // -1: none there (from the constructor on)
    [[nodiscard]] bool was_concealed(std::uint16_t sequence) const noexcept { return concealed_sequence_of[sequence % slot_count] == sequence; }

    // A later packet showed the stream went on: what was concealed blind was a glitch.
    void confirm_blind_concealment() noexcept {
        counters.lost_packets.fetch_add(unconfirmed_lost, std::memory_order_relaxed);
        counters.concealed_frames.fetch_add(unconfirmed_concealed, std::memory_order_relaxed);
        unconfirmed_lost = unconfirmed_concealed = 0;
    }
    std::size_t buffered = 0;
    std::uint64_t pending_skip = 0; // frames the reader already played silence for

    queue_level_control level;          // drift control
    std::uint16_t refilled_until = 0; // late packets before this were covered by a refill

    rtp_reception reception; // what RTCP reports of the source

    [[nodiscard]] std::uint32_t ms_frames(double ms) const noexcept {
        return static_cast<std::uint32_t>(std::lround(ms * options.rate / 1000.0));
    }
    [[nodiscard]] std::uint64_t ring_fill() noexcept { return ring.padding_frames(); }
    [[nodiscard]] double queue_frames() noexcept {
        return static_cast<double>(ring_fill()) + (drift ? drift->delay_frames() : 0.0);
    }

    void push_ring(const float* frames, std::size_t count) noexcept {
        const std::uint64_t room = ring.free_frames();
        const auto fitting = static_cast<std::uint32_t>(std::min<std::uint64_t>(room, count));
        if (fitting > 0) {
            std::memcpy(ring.try_acquire(fitting), frames, std::size_t{fitting} * ring.bytes_per_frame());
            ring.commit(fitting);
        }
        if (fitting < count) counters.overflow_frames.fetch_add(count - fitting, std::memory_order_relaxed);
    }
    void emit(const float* frames, std::uint32_t count) noexcept {
        if (pending_skip > 0) {
            const auto skip = static_cast<std::uint32_t>(std::min<std::uint64_t>(pending_skip, count));
            frames += std::size_t{skip} * options.channels;
            count -= skip;
            pending_skip -= skip;
            counters.skipped_frames.fetch_add(skip, std::memory_order_relaxed);
        }
        if (!drift) {
            push_ring(frames, count);
            return;
        }
        std::size_t done = 0;
        while (done < count) {
            const std::size_t capacity = resampled.size() / options.channels;
            const auto r = drift->process(frames + done * options.channels, count - done, resampled.data(), capacity);
            push_ring(resampled.data(), r.produced);
            done += r.consumed;
            if (r.consumed == 0 && r.produced == 0) break;
        }
    }
    void emit_silence(std::uint32_t count) noexcept {
        std::fill_n(decoded.begin(), std::size_t{std::min(count, max_packet_frames)} * options.channels, 0.0f);
        while (count > 0) {
            const std::uint32_t piece = std::min(count, max_packet_frames);
            emit(decoded.data(), piece);
            count -= piece;
        }
    }

    slot& slot_of(std::uint16_t sequence) noexcept { return slots[sequence % slot_count]; }
    void clear_slots() noexcept {
        for (auto& s : slots) s.used = false;
        buffered = 0;
    }

    // A fresh start at `first`: the ring is topped up with silence to the latency target.
    void start_stream(const rtp_packet& first, hns now) noexcept {
        if (have_source) counters.discontinuities.fetch_add(1, std::memory_order_relaxed);
        if (playing) confirm_blind_concealment(); // the old stream went on into the new one
        clear_slots();
        next_sequence = first.header.sequence;
        next_timestamp = first.header.timestamp;
        concealed_run = 0;
        unconfirmed_lost = unconfirmed_concealed = 0;
        concealed_sequence_of.fill(-1);
        pending_skip = 0; // the fresh queue is primed to the target anyway
        playing = true;
        const double queued = queue_frames();
        if (queued < options.latency_frames) emit_silence(static_cast<std::uint32_t>(options.latency_frames - queued));
        level.restart(now);
        refilled_until = first.header.sequence;
        if (drift) (void)drift->set_ratio_adjust(0);
        counters.queue_target_frames.store(0, std::memory_order_relaxed);
    }

    void take(const rtp_packet& packet, hns now) noexcept {
        const auto& h = packet.header;
        if (payload_type < 0) {
            const bool usable = (h.payload_type >= 96 && h.payload_type <= 127) ||
                                (options.codec == rtp_codec::l16 && (h.payload_type == 10 || h.payload_type == 11));
            if (!usable) {
                counters.wrong_payload.fetch_add(1, std::memory_order_relaxed);
                return;
            }
            payload_type = h.payload_type;
        } else if (h.payload_type != payload_type) {
            counters.wrong_payload.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const std::uint32_t frames = decoder.frames_in(packet.payload);
        if (frames == 0 || frames > max_packet_frames || packet.payload.size() > max_payload_bytes) {
            counters.malformed.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        bool fresh = !have_source || !playing;
        if (have_source && h.ssrc != ssrc) {
            if (playing && seconds(now - last_arrival) * 1000 < source_silence_ms) {
                counters.foreign_ssrc.fetch_add(1, std::memory_order_relaxed);
                return;
            }
            fresh = true;
        }
        if (!fresh) {
            const auto ahead = static_cast<std::int16_t>(static_cast<std::uint16_t>(h.sequence - next_sequence));
            if (ahead < 0) {
                // Already played (a duplicate) or concealed (late).
                if (!was_concealed(h.sequence)) {
                    counters.duplicates.fetch_add(1, std::memory_order_relaxed);
                    return;
                }
                counters.late.fetch_add(1, std::memory_order_relaxed);
                concealed_sequence_of[h.sequence % slot_count] = -1; // a second copy is a duplicate
                if (unconfirmed_lost > 0) --unconfirmed_lost; // it came: late, not lost
                confirm_blind_concealment();                   // but its frames were concealed
                // A packet concealed for coming late while the queue is this short says the queue
                // is too short for the path (a slow sender clock without drift control, a jump in
                // delay, more jitter than the latency allows): the queue grows by as many packets
                // as the concealment ran ahead of it (and to the target if it is below), and drift
                // control's target with it — else every following packet would come late too.
                // Once per run of concealment: the later packets of the same run are covered.
                const double queued = queue_frames();
                const auto behind = static_cast<std::uint32_t>(-ahead);
                const std::uint32_t packet_frames = std::max(last_packet_frames, 1u);
                if (static_cast<std::int16_t>(static_cast<std::uint16_t>(h.sequence - refilled_until)) >= 0 &&
                    behind * packet_frames <= ms_frames(max_conceal_ms) &&
                    queued < options.latency_frames + (4.0 + behind) * packet_frames) {
                    refilled_until = next_sequence;
                    const auto refill = static_cast<std::uint32_t>(std::max(0.0, options.latency_frames - queued)) + behind * packet_frames;
                    emit_silence(refill);
                    counters.concealed_frames.fetch_add(refill, std::memory_order_relaxed);
                    counters.refills.fetch_add(1, std::memory_order_relaxed);
                    level.grew(refill, now);
                    if (level.target_known()) counters.queue_target_frames.store(std::llround(level.target()), std::memory_order_relaxed);
                }
                return;
            }
            const auto ts_ahead = static_cast<std::int32_t>(h.timestamp - next_timestamp);
            if (static_cast<std::size_t>(ahead) >= slot_count || ts_ahead < 0 || ts_ahead > max_gap_s * options.rate) fresh = true;
        }
        if (fresh) {
            reception.on_packet(h.sequence, h.timestamp, now, options.rate, true);
            start_stream(packet, now);
        } else {
            reception.on_packet(h.sequence, h.timestamp, now, options.rate, false);
        }
        counters.jitter.store(static_cast<std::uint32_t>(reception.jitter()), std::memory_order_relaxed);
        have_source = true;
        ssrc = h.ssrc;
        last_arrival = now;
        slot& s = slot_of(h.sequence);
        if (s.used && s.sequence == h.sequence) {
            counters.duplicates.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (!s.used) ++buffered;
        s.used = true;
        s.sequence = h.sequence;
        s.timestamp = h.timestamp;
        s.size = static_cast<std::uint16_t>(packet.payload.size());
        std::memcpy(s.bytes.data(), packet.payload.data(), packet.payload.size());
        counters.packets.fetch_add(1, std::memory_order_relaxed);
    }

    // The next buffered packet after next_sequence, within the slots.
    slot* next_buffered() noexcept {
        if (buffered == 0) return nullptr;
        for (std::size_t i = 1; i < slot_count; ++i) {
            slot& s = slot_of(static_cast<std::uint16_t>(next_sequence + i));
            if (s.used && s.sequence == static_cast<std::uint16_t>(next_sequence + i)) return &s;
        }
        return nullptr;
    }

    void play_slot(slot& s) noexcept {
        const std::span<const std::byte> payload{s.bytes.data(), s.size};
        const auto gap = static_cast<std::int32_t>(s.timestamp - next_timestamp);
        if (gap > 0) emit_silence(static_cast<std::uint32_t>(gap)); // the sender skipped (DTX)
        const std::uint32_t frames = decoder.decode(payload, decoded.data(), max_packet_frames);
        if (frames > 0) {
            emit(decoded.data(), frames);
            last_packet_frames = frames;
        } else {
            counters.malformed.fetch_add(1, std::memory_order_relaxed);
        }
        s.used = false;
        --buffered;
        concealed_sequence_of[s.sequence % slot_count] = -1;
        confirm_blind_concealment();
        next_timestamp = s.timestamp + std::max(frames, decoder.frames_in(payload));
        ++next_sequence;
        concealed_run = 0;
    }

    // The packet at next_sequence is overdue: stand in for it, one packet at a time. Its length
    // is the time up to the next buffered packet shared among the missing ones (or the last
    // packet's length when nothing is buffered after it).
    void conceal_one() noexcept {
        slot* next = next_buffered();
        std::uint32_t frames = last_packet_frames == 0 ? ms_frames(20) : last_packet_frames;
        std::uint16_t missing = 0;
        if (next) {
            missing = static_cast<std::uint16_t>(next->sequence - next_sequence);
            const auto gap = static_cast<std::int32_t>(next->timestamp - next_timestamp);
            if (gap <= 0) {
                // Their time is already covered (by concealment that overran them): given up.
                counters.lost_packets.fetch_add(missing, std::memory_order_relaxed);
                for (std::uint16_t k = next_sequence; k != next->sequence; ++k) {
                    concealed_sequence_of[k % slot_count] = k;
                }
                next_sequence = next->sequence;
                return;
            }
            frames = static_cast<std::uint32_t>(gap) / missing;
            if (missing == 1 || frames == 0) frames = static_cast<std::uint32_t>(gap);
        }
        frames = std::min(frames, max_packet_frames);
        // Opus: the packet just before a buffered one is rebuilt from that one's FEC data.
        const bool recovered = next && missing == 1 && decoder.recover({next->bytes.data(), next->size}, decoded.data(), frames);
        if (!recovered) decoder.conceal(decoded.data(), frames);
        emit(decoded.data(), frames);
        next_timestamp += frames;
        concealed_run += frames;
        concealed_sequence_of[next_sequence % slot_count] = next_sequence;
        ++next_sequence;
        if (next) {
            counters.concealed_frames.fetch_add(frames, std::memory_order_relaxed);
            counters.lost_packets.fetch_add(1, std::memory_order_relaxed);
            if (recovered) counters.recovered_frames.fetch_add(frames, std::memory_order_relaxed);
        } else {
            // Nothing after it yet: lost, or the stream ended. Counted once a later packet comes.
            unconfirmed_concealed += frames;
            ++unconfirmed_lost;
        }
    }

    void control_drift(hns now) noexcept {
        const auto ppm = level.sample(queue_frames(), now, drift.has_value());
        counters.queue_frames.store(std::llround(level.average()), std::memory_order_relaxed);
        if (level.target_known()) counters.queue_target_frames.store(std::llround(level.target()), std::memory_order_relaxed);
        if (!ppm) return;
        (void)drift->set_ratio_adjust(*ppm);
        counters.drift_ppb.store(std::llround(*ppm * 1000), std::memory_order_relaxed);
    }

    void service(hns now) noexcept {
        if (!playing) return;
        const std::uint64_t low_water = options.reader_period_frames + ms_frames(margin_ms);
        // Bounded: every pass plays or conceals at least one packet, and stops once the ring
        // is above low water with nothing in order to play.
        for (std::size_t pass = 0; pass < 2 * slot_count; ++pass) {
            slot& s = slot_of(next_sequence);
            if (s.used && s.sequence == next_sequence) {
                play_slot(s);
                continue;
            }
            if (ring_fill() > low_water) break;
            if (buffered == 0 && concealed_run >= ms_frames(max_conceal_ms)) {
                playing = false; // the stream ended (or its source went away): stop standing in
                unconfirmed_lost = unconfirmed_concealed = 0; // silence past its end, not a glitch
                break;
            }
            conceal_one();
        }
        control_drift(now);
    }
};

rtp_receiver::rtp_receiver(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
rtp_receiver::rtp_receiver(rtp_receiver&&) noexcept = default;
rtp_receiver& rtp_receiver::operator=(rtp_receiver&&) noexcept = default;
rtp_receiver::~rtp_receiver() = default;

std::expected<rtp_receiver, device_error> rtp_receiver::create(const rtp_receiver_options& options, frame_ring_writer ring) {
    auto decoder = rtp_decoder::create(options.codec, options.rate, options.channels);
    if (!decoder) return std::unexpected(decoder.error());
    if (ring.bytes_per_frame() != sizeof(float) * options.channels)
        return std::unexpected(device_error{make_error_code(errc::bad_argument), "rtp receiver: the ring must hold f32 frames of the stream"});
    auto s = std::make_unique<state>(options, std::move(ring), std::move(*decoder));
    if (options.drift_control) {
        auto r = resampler::create(options.rate, options.rate, options.channels, resampler::mode::variable, 240);
        if (!r) return std::unexpected(device_error{r.error(), "rtp receiver: cannot create the drift resampler"});
        s->drift.emplace(std::move(*r));
        s->resampled.resize(s->drift->max_output_for(max_packet_frames) * options.channels);
    }
    return rtp_receiver(std::move(s));
}

void rtp_receiver::receive(std::span<const std::byte> datagram, hns now) noexcept {
    const auto packet = parse_rtp(datagram);
    if (!packet) {
        state_->counters.malformed.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    state_->take(*packet, now);
}

void rtp_receiver::service(hns now) noexcept { state_->service(now); }
void rtp_receiver::reader_short(std::uint64_t frames) noexcept {
    if (!state_->playing) return;
    state_->pending_skip = std::min<std::uint64_t>(state_->pending_skip + frames, state_->options.rate);
}
hns rtp_receiver::service_interval() const noexcept { return hns{static_cast<std::int64_t>(margin_ms * 1e4 / 2)}; }
bool rtp_receiver::playing() const noexcept { return state_->playing; }
const rtp_receiver_counters& rtp_receiver::counters() const noexcept { return state_->counters; }
std::uint32_t rtp_receiver::source_ssrc() const noexcept { return state_->have_source ? state_->ssrc : 0; }

void rtp_receiver::on_sender_report(const rtcp_summary& report, hns now) noexcept {
    if (!report.has_sender_info || !state_->have_source || report.sender_ssrc != state_->ssrc) return;
    state_->reception.on_sender_report(report, now);
}

rtcp_report_block rtp_receiver::report(hns now) noexcept {
    if (!state_->have_source) return {};
    return state_->reception.report(state_->ssrc, now);
}

} // namespace ae::pipeline
