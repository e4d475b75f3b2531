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

endpoint_link::endpoint_link(std::uint32_t endpoint_id, std::size_t queue_capacity)
    : id(endpoint_id), rt_glitches_(queue_capacity), device_glitches_(queue_capacity), reconfigures_(queue_capacity),
      handoffs_(queue_capacity), rt_retired_(queue_capacity), device_retired_(queue_capacity) {
    auto [rt_reporter, rt_collector] = rt_glitches_.split();
    auto [device_reporter, device_collector] = device_glitches_.split();
    auto [reconfigure_out, reconfigure_in] = reconfigures_.split();
    auto [handoff_out, handoff_in] = handoffs_.split();
    auto [rt_retire, rt_collect] = rt_retired_.split();
    auto [device_retire, device_collect] = device_retired_.split();
    rt_side_ = {std::move(rt_reporter), std::move(rt_retire)};
    device_side_ = {std::move(device_reporter), std::move(device_retire)};
    writer_ = {std::move(reconfigure_in), std::move(handoff_out)};
    reader_ = {std::move(handoff_in)};
    control_ = {std::move(reconfigure_out), std::move(rt_collect), std::move(device_collect), std::move(rt_collector),
                std::move(device_collector)};
}

} // namespace ae
