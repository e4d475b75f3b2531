// Opening a wav file for reading (internal; wav_device.cpp, wav_file.cpp): the one place that
// decides what openae reads and how a refusal is worded.
#pragma once

#include <openae/pipeline/device_error.h>

#include <sndfile.h>

#include <expected>
#include <string>

namespace ae::pipeline {

struct opened_wav {
    SNDFILE* file = nullptr; // the caller closes it (sf_close)
    SF_INFO info{};
};

// An error's message is the reason only ("cannot read: ...", "unsupported layout: ..."): the caller names the file.
[[nodiscard]] std::expected<opened_wav, device_error> open_wav_for_reading(const std::string& path);

} // namespace ae::pipeline
