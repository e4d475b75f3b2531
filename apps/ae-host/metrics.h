// ae-host --metrics FILE.jsonl: the service's `metrics` snapshot of every endpoint, every interval,
// one JSON object a line with its time — taken on the main thread, never on an RT thread.
// `aectl plot` draws them.
#pragma once

#include <openae/control/server.h>

#include <cstdio>
#include <string>

namespace ae_host {

class metrics_writer {
public:
    // Opens (truncates) `path`; false when it cannot.
    bool open(const std::string& path);
    ~metrics_writer();
    // Writes one line per endpoint: `t` (seconds since start), then the `metrics` op's fields
    // (docs/API.md): endpoint, direction, device, state, epoch, format, period_ms, latency_ms,
    // buffer_frames, padding, load_pct (since the previous snapshot), stage, glitches.
    void sample(ae::control_service& service, double t);
    [[nodiscard]] bool is_open() const noexcept { return file_ != nullptr; }

private:
    std::FILE* file_ = nullptr;
};

} // namespace ae_host
