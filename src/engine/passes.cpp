// The engine's passes: what one wake-up does to each endpoint, through its RT view only.
#include "slot.h"

#include <openae/pipeline/convert.h>

namespace ae::engine_detail {

void render_pass(engine::slot& s) noexcept { // rt-safe: bounded
    render_endpoint_rt& rt = *s.render_rt;
    position pos;
    const std::uint64_t padding = rt.current_padding(&pos);
    s.note_pass(padding);
    if (pos.flags != position_flags::invalid) {
        s.record.last_position = pos;
        s.record.have_position = 1;
    }
    std::uint64_t free = rt.buffer_frames() > padding ? rt.buffer_frames() - padding : 0;
    // Bounded: the buffer holds buffer / packet packets at most.
    while (free > 0) {
        const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(rt.frames_per_packet(), free));
        if (frames == 0) break;
        auto span = rt.output_data_pointer(frames);
        if (!span) {
            if (span.error() != errc::not_running) ++s.record.errors;
            break;
        }
        // The format of this pass: the endpoint applies a reconfiguration only between passes.
        const frame_format format = rt.format();
        if (s.source.what == engine_source::kind::silence) {
            rt.release_output_data_pointer({*span, frames, buffer_flags::silent});
        } else {
            const std::uint32_t channels = std::min<std::uint32_t>(format.channels, scratch_channels);
            const std::size_t frame_bytes = format.bytes_per_frame();
            for (std::uint32_t done = 0; done < frames;) {
                const std::uint32_t n = std::min(chunk_frames, frames - done);
                std::byte* into = *span + std::size_t{done} * frame_bytes;
                if (format.sample == sample_type::f32 && channels == format.channels) {
                    s.source.fill(reinterpret_cast<float*>(into), n, channels, format.sample_rate); // straight into the ring
                } else {
                    s.source.fill(s.scratch.data(), n, channels, format.sample_rate);
                    (void)pipeline::convert_samples(reinterpret_cast<const std::byte*>(s.scratch.data()), sample_type::f32, into,
                                              format.sample, std::size_t{n} * channels);
                }
                done += n;
            }
            rt.release_output_data_pointer({*span, frames, buffer_flags::valid});
        }
        s.record.frames += frames;
        free -= frames;
    }
    rt.processing_complete();
}

void capture_pass(engine::slot& s) noexcept { // rt-safe: bounded
    capture_endpoint_rt& rt = *s.capture_rt;
    position pos;
    s.note_pass(rt.current_padding(&pos));
    if (pos.flags != position_flags::invalid) {
        s.record.last_position = pos;
        s.record.have_position = 1;
    }
    for (int packets = 0; packets < 64; ++packets) { // bounded
        const std::uint64_t ready = rt.current_padding();
        if (ready == 0) break;
        connection_property p{nullptr, static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, rt.frames_per_packet())),
                              buffer_flags::invalid};
        if (const errc got = rt.input_data_pointer(p); got != errc{}) {
            if (got != errc::not_running) ++s.record.errors;
            break;
        }
        if (s.sink) {
            const frame_format format = rt.format();
            const std::uint32_t channels = std::min<std::uint32_t>(format.channels, scratch_channels);
            const std::size_t frame_bytes = format.bytes_per_frame();
            for (std::uint32_t done = 0; done < p.valid_frames;) {
                const std::uint32_t n = std::min(chunk_frames, p.valid_frames - done);
                (void)pipeline::convert_samples(p.buffer + std::size_t{done} * frame_bytes, format.sample,
                                          reinterpret_cast<std::byte*>(s.scratch.data()), sample_type::f32,
                                          std::size_t{n} * channels);
                // The file keeps the channel count it was opened with.
                const float* out = s.scratch.data();
                if (channels != s.sink_channels) {
                    for (std::uint32_t i = 0; i < n; ++i) {
                        for (std::uint32_t c = 0; c < s.sink_channels; ++c) {
                            s.sink_scratch[std::size_t{i} * s.sink_channels + c] =
                                c < channels ? s.scratch[std::size_t{i} * channels + c] : 0.0f;
                        }
                    }
                    out = s.sink_scratch.data();
                }
                (void)s.sink->play(reinterpret_cast<const std::byte*>(out), n);
                done += n;
            }
        }
        rt.release_input_data_pointer(p.valid_frames, p.buffer);
        s.record.frames += p.valid_frames;
    }
    rt.processing_complete();
}

} // namespace ae::engine_detail
