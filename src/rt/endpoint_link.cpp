#include <openae/rt/endpoint_link.h>
#include <openae/rt/errc.h>

namespace ae {

std::expected<std::unique_ptr<ring_segment>, std::error_code>
ring_segment::create(const frame_format& format, std::uint32_t frames_per_packet, std::uint64_t buffer_frames,
                     std::uint32_t epoch) {
    if (!is_valid(format)) return std::unexpected(make_error_code(errc::unsupported_format));
    if (frames_per_packet == 0 || buffer_frames < frames_per_packet) {
        return std::unexpected(make_error_code(errc::bad_argument));
    }
    auto ring = frame_ring::create(buffer_frames, format.bytes_per_frame());
    if (!ring) return std::unexpected(ring.error());
    auto segment = std::make_unique<ring_segment>();
    auto [writer, reader] = ring->split();
    segment->ring = std::move(*ring);
    segment->writer = std::move(writer);
    segment->reader = std::move(reader);
    segment->format = format;
    segment->frames_per_packet = frames_per_packet;
    segment->epoch = epoch;
    segment->scratch = std::make_unique<std::byte[]>(std::size_t{frames_per_packet} * format.bytes_per_frame());
    return segment;
}

} // namespace ae
