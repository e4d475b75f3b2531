// libFuzzer target for everything the RTP devices read from the network or a file: the RTP and
// RTCP parsers, the SDP reader, the L16 and Opus depacketizers, and the receiver's jitter buffer
// (fed datagrams in any order, serviced, its ring drained). The first byte picks the target.
// Built with clang only (the clang and fuzz presets); CI runs it for a bounded time on the seed
// corpus (fuzz/corpus/rtp); a crash it finds becomes a test in tests/pipeline/test_rtp.cpp.
#include <openae/pipeline/rtp_codec.h>
#include <openae/pipeline/rtp_packet.h>
#include <openae/pipeline/rtp_receiver.h>
#include <openae/pipeline/sdp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

using namespace ae;
using namespace ae::pipeline;

namespace {

struct receiver_rig {
    frame_ring ring;
    frame_ring_reader reader;
    std::optional<rtp_receiver> receiver;
    std::int64_t now = 0;

    explicit receiver_rig(rtp_codec codec) {
        ring = std::move(*frame_ring::create(48000, 2 * sizeof(float)));
        auto [writer, r] = ring.split();
        reader = std::move(r);
        receiver.emplace(std::move(*rtp_receiver::create({.codec = codec, .rate = 48000, .channels = 2, .payload_type = -1,
                                                          .latency_frames = 960, .reader_period_frames = 240, .drift_control = true},
                                                         std::move(writer))));
    }
    // The datagrams of one input: [length byte][bytes]..., each a millisecond after the last.
    void feed(std::span<const std::byte> input) {
        while (!input.empty()) {
            const std::size_t length = std::min<std::size_t>(static_cast<std::size_t>(input[0]) * 8, input.size() - 1);
            receiver->receive(input.subspan(1, length), hns{now});
            now += 10'000;
            receiver->service(hns{now});
            const std::uint64_t ready = reader.available_frames();
            if (ready > 0) {
                (void)reader.try_acquire(static_cast<std::uint32_t>(ready));
                reader.commit(static_cast<std::uint32_t>(ready));
            }
            input = input.subspan(1 + length);
        }
        (void)receiver->report(hns{now});
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
    switch (data[0] % 6) {
    case 0: {
        const auto packet = parse_rtp(input);
        if (packet) {
            // The payload is inside the input.
            if (!packet->payload.empty() && (packet->payload.data() < input.data() || packet->payload.data() + packet->payload.size() > input.data() + input.size()))
                __builtin_trap();
        }
        break;
    }
    case 1: {
        const auto report = parse_rtcp(input);
        if (report && report->report_count > report->reports.size()) __builtin_trap();
        break;
    }
    case 2: (void)read_sdp(std::string_view(reinterpret_cast<const char*>(input.data()), input.size())); break;
    case 3: {
        static auto l16 = rtp_decoder::create(rtp_codec::l16, 48000, 2);
        static auto opus = rtp_decoder::create(rtp_codec::opus, 48000, 2);
        static std::vector<float> out(2 * 5760);
        (void)l16->decode(input, out.data(), 5760);
        (void)opus->decode(input, out.data(), 5760);
        (void)opus->recover(input, out.data(), 480);
        break;
    }
    case 4: {
        static receiver_rig rig(rtp_codec::l16);
        rig.feed(input);
        break;
    }
    case 5: {
        static receiver_rig rig(rtp_codec::opus);
        rig.feed(input);
        break;
    }
    }
    return 0;
}
