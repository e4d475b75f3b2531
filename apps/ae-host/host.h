// ae-host — the host's engine: endpoints with their sources and sinks, one engine thread.
//
// Render endpoints play a source (`tone:HZ`, `wav:PATH`, `silence`); capture endpoints record
// into a sink (`wav:PATH`, `null`). One engine thread ("ae-rt-engine") serves them all through
// the RT contract, woken by the device threads' period events: it tops each render endpoint up
// and drains each capture endpoint. It never blocks but on that event, never allocates, never
// does file I/O: a wav source is read into memory before the start, a wav sink is written by its
// own I/O thread behind a ring (openae's wav device, used as a writer).
#pragma once

#include <openae/openae.hpp>
#include <openae/pipeline/devices.h>
#include <openae/pipeline/device_thread.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ae_host {

struct engine_stats {
    std::uint64_t frames = 0;
    std::uint64_t passes = 0;
    std::uint64_t errors = 0;
    std::uint64_t padding_min = ~std::uint64_t{0};
    std::uint64_t padding_max = 0;
    std::uint64_t padding_sum = 0;
    void note_padding(std::uint64_t padding) noexcept {
        padding_min = padding < padding_min ? padding : padding_min;
        padding_max = padding > padding_max ? padding : padding_max;
        padding_sum += padding;
        ++passes;
    }
};

// What a render endpoint plays.
struct source {
    enum class kind { tone, silence, wav } what = kind::tone;
    double tone_hz = 440;
    double phase = 0;            // radians; advanced per frame at the current rate: continuous in time
    std::vector<float> samples;  // wav: the whole file, interleaved f32
    std::uint32_t channels = 2;
    std::size_t next_frame = 0;
};

struct render_slot {
    std::string name;
    std::string device;
    std::unique_ptr<ae::render_endpoint_core> core;
    source src;
    engine_stats stats;
};

struct capture_slot {
    std::string name;
    std::string device;
    std::string sink_text;
    std::unique_ptr<ae::capture_endpoint_core> core;
    std::unique_ptr<ae::pipeline::device> sink; // null for the `null` sink
    engine_stats stats;
};

// One device thread and the specs it was made from.
struct device_slot {
    std::string spec;
    ae::pipeline::device_direction direction;
    std::unique_ptr<ae::pipeline::device_thread> thread;
};

// Parses `tone:HZ`, `silence`, `wav:PATH` (reading the file). Errors are one line.
[[nodiscard]] std::expected<source, std::string> make_source(const std::string& text);

class host {
public:
    host();
    ~host();

    // Adds `SOURCE@DEVICE` / `DEVICE@SINK` (split at the last '@'). Errors are one line.
    [[nodiscard]] std::expected<void, std::string> add_render(const std::string& text, double period_ms);
    [[nodiscard]] std::expected<void, std::string> add_capture(const std::string& text, double period_ms);
    // Starts devices, endpoints and the engine thread.
    [[nodiscard]] std::expected<void, std::string> start();
    // Stops the engine, the devices and the sinks (files closed). Idempotent.
    void stop();

    // Control-thread work: drains glitch records and device events (printing warnings).
    void poll();
    // True when every device has finished (offline runs ended, sources ran out).
    [[nodiscard]] bool all_finished() const;
    [[nodiscard]] bool any_realtime() const;
    [[nodiscard]] bool engine_failed() const { return engine_errors() != 0; }
    [[nodiscard]] std::uint64_t engine_errors() const;
    void print_progress(double elapsed_seconds) const;
    void print_summary() const;

    double seconds = 0; // --seconds: offline devices stop after exactly this much audio

private:
    [[nodiscard]] std::expected<device_slot*, std::string> device_for(const std::string& spec,
                                                                      ae::pipeline::device_direction direction);
    void run_engine() noexcept;

    std::vector<std::unique_ptr<render_slot>> renders_;
    std::vector<std::unique_ptr<capture_slot>> captures_;
    std::vector<std::unique_ptr<device_slot>> devices_;
    std::vector<std::array<std::uint64_t, ae::glitch_kind_count + 1>> render_glitches_;
    std::vector<std::array<std::uint64_t, ae::glitch_kind_count + 1>> capture_glitches_;
    std::vector<std::array<std::uint64_t, ae::glitch_kind_count + 1>> render_glitch_frames_;
    std::vector<std::array<std::uint64_t, ae::glitch_kind_count + 1>> capture_glitch_frames_;
    int wake_fd_ = -1;
    std::thread engine_;
    std::atomic<bool> stop_{false};
    bool started_ = false;
    std::uint32_t next_id_ = 1;
};

} // namespace ae_host
