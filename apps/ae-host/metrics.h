// ae-host --metrics FILE.jsonl: a snapshot of every endpoint every interval, one JSON object a
// line — taken on the main thread through the control service (status, stats, list), never on an
// RT thread. `aectl plot` draws them.
#pragma once

#include <openae/control/server.h>

#include <cstdio>
#include <map>
#include <string>

namespace ae_host {

class metrics_writer {
public:
    // Opens (truncates) `path`; false when it cannot.
    bool open(const std::string& path);
    ~metrics_writer();
    // Writes one line per endpoint: t (seconds since start), endpoint, direction, device, state,
    // epoch, format, period_ms, latency_ms, buffer_frames, padding (the engine's last position
    // record's, or null), load_pct (its device loop's busy time per period since the last
    // snapshot, or null), stage, glitches (counts by kind, since creation).
    void sample(ae::control_service& service, double t);
    [[nodiscard]] bool is_open() const noexcept { return file_ != nullptr; }

private:
    std::FILE* file_ = nullptr;
    struct loop_sample {
        unsigned long long busy_ns = 0, steps = 0;
    };
    std::map<std::string, loop_sample> previous_; // by "direction device"
};

} // namespace ae_host
