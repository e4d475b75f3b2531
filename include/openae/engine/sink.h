// openae — where ae::engine puts a capture endpoint's frames: `null`, or `wav:PATH` — an f32 file
// at the endpoint's rate and channels, written by a wav device's I/O thread behind a ring, so the
// engine never does file I/O.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device.h>
#include <openae/rt/types.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <string>

namespace ae {

using engine_error = pipeline::device_error;

struct engine_sink {
    std::string text;                         // as given
    frame_format format{};                    // what it was opened for
    std::unique_ptr<pipeline::device> writer; // wav: the file's writer; null: none
    std::uint32_t channels = 0;               // wav: the file's

    // Opening creates the file and starts the writer's thread: do it off the control thread.
    [[nodiscard]] static std::expected<engine_sink, engine_error> open(const std::string& text, const frame_format& format);
    // Never used (the endpoint could not be made): stops the writer and removes the file it
    // created, so a failed create leaves nothing behind.
    void discard() noexcept;
};

} // namespace ae

#pragma GCC visibility pop
