// One endpoint the engine drives, and what its passes publish (internal; src/engine).
#pragma once

#include <openae/engine/engine.h>
#include <openae/rt/seqlock.h>

#include <algorithm>

namespace ae {

inline constexpr std::uint32_t chunk_frames = 1024; // scratch size per slot, in frames of up to max_channels
inline constexpr std::uint32_t scratch_channels = max_channels;

// What the engine thread publishes per slot, read by the control side.
struct pass_record {
    position last_position{};
    std::uint64_t frames = 0;
    std::uint64_t passes = 0;
    std::uint64_t errors = 0;
    std::uint64_t padding_min = 0;
    std::uint64_t padding_max = 0;
    std::uint64_t padding_sum = 0;
    std::uint64_t have_position = 0;
};

struct engine::slot {
    std::string name;
    std::string text; // the source or sink as given
    std::shared_ptr<const void> owner; // keeps the RT view alive while the engine may touch it
    render_endpoint_rt* render_rt = nullptr;
    capture_endpoint_rt* capture_rt = nullptr;
    engine_source source;
    std::unique_ptr<pipeline::device> sink; // wav sinks: a wav device used as a writer
    std::uint32_t sink_channels = 0;
    bool retired = false; // removed, and the engine thread has retired it (control side)
    std::vector<float> scratch = std::vector<float>(std::size_t{chunk_frames} * scratch_channels);
    std::vector<float> sink_scratch = std::vector<float>(std::size_t{chunk_frames} * scratch_channels);
    pass_record record;        // engine thread's working copy
    seqlock<pass_record> published;

    void note_pass(std::uint64_t padding) noexcept { // rt-safe: wait-free
        record.padding_min = record.passes == 0 ? padding : std::min(record.padding_min, padding);
        record.padding_max = std::max(record.padding_max, padding);
        record.padding_sum += padding;
        ++record.passes;
    }
};

namespace engine_detail {
// One render pass: top the endpoint's buffer up (passes.cpp). rt-safe: bounded
void render_pass(engine::slot& s) noexcept;
// One capture pass: drain what the endpoint holds into the sink (passes.cpp). rt-safe: bounded
void capture_pass(engine::slot& s) noexcept;
} // namespace engine_detail

} // namespace ae
