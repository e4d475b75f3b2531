// openae — reading a whole wav file into memory (libsndfile), with the same checks and errors as
// the wav device's capture side: what openae carries (1-8 channels, 1-768 kHz), typed errors
// whose message is the reason (the caller names the file). For what a host plays from memory
// (ae::engine's `wav:` sources).
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_error.h>
#include <openae/rt/types.h>

#include <expected>
#include <string>
#include <vector>

namespace ae::pipeline {

struct wav_samples {
    frame_format format{};      // the file's rate and channels; sample is f32
    std::vector<float> samples; // interleaved
};

// `unsupported_format` for what libsndfile cannot decode or openae cannot carry,
// `device_unavailable` for a file that cannot be opened; the message is the reason only. Not for an
// RT thread (file I/O).
[[nodiscard]] std::expected<wav_samples, device_error> read_wav_file(const std::string& path);

} // namespace ae::pipeline

#pragma GCC visibility pop
