#include "host.h"

#include <sndfile.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numbers>

namespace ae_host {
namespace {

constexpr std::uint32_t buffer_periods = 4; // endpoint buffer = 4 engine packets
constexpr int engine_wait_ms = 100;

std::pair<std::string, std::string> split_last_at(const std::string& text) {
    const auto at = text.rfind('@');
    if (at == std::string::npos) return {text, ""};
    return {text.substr(0, at), text.substr(at + 1)};
}

std::uint32_t frames_for(double ms, std::uint32_t rate) {
    return static_cast<std::uint32_t>(std::max(1L, std::lround(rate * ms / 1000.0)));
}

// Fills `frames` f32 frames of `channels` from `src`. rt-safe
void fill(source& src, float* out, std::uint32_t frames, std::uint32_t channels, std::uint32_t rate) noexcept {
    switch (src.what) {
    case source::kind::tone: {
        const double step = 2 * std::numbers::pi * src.tone_hz / rate;
        for (std::uint32_t i = 0; i < frames; ++i) {
            const auto value = static_cast<float>(0.25 * std::sin(src.phase));
            for (std::uint32_t c = 0; c < channels; ++c) out[std::size_t{i} * channels + c] = value;
            src.phase += step;
            if (src.phase >= 2 * std::numbers::pi) src.phase -= 2 * std::numbers::pi;
        }
        break;
    }
    case source::kind::silence: std::fill_n(out, std::size_t{frames} * channels, 0.0f); break;
    case source::kind::wav: {
        const std::size_t total = src.samples.size() / src.channels;
        for (std::uint32_t i = 0; i < frames; ++i) {
            for (std::uint32_t c = 0; c < channels; ++c) {
                out[std::size_t{i} * channels + c] =
                    src.next_frame < total && c < src.channels ? src.samples[src.next_frame * src.channels + c] : 0.0f;
            }
            if (src.next_frame < total) ++src.next_frame;
        }
        break;
    }
    }
}

} // namespace

std::expected<source, std::string> make_source(const std::string& text) {
    source src;
    if (text == "silence") {
        src.what = source::kind::silence;
        return src;
    }
    if (text.rfind("tone:", 0) == 0 || text == "tone") {
        src.what = source::kind::tone;
        if (text.size() > 5) {
            const std::string number = text.substr(5);
            const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), src.tone_hz);
            if (ec != std::errc{} || end != number.data() + number.size() || !(src.tone_hz > 0) || src.tone_hz > 100'000)
                return std::unexpected("source '" + text + "': the tone needs a frequency in Hz (tone:440)");
        }
        return src;
    }
    if (text.rfind("wav:", 0) == 0) {
        const std::string path = text.substr(4);
        SF_INFO info{};
        SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
        if (!file) return std::unexpected("source 'wav:" + path + "': " + sf_strerror(nullptr));
        if (info.channels < 1 || info.channels > 8 || info.samplerate < 1000 || info.samplerate > 768000) {
            sf_close(file);
            return std::unexpected("source 'wav:" + path + "': unsupported layout (1-8 channels, 1-768 kHz)");
        }
        src.what = source::kind::wav;
        src.channels = static_cast<std::uint32_t>(info.channels);
        src.tone_hz = info.samplerate; // the file's rate (the endpoint runs at it)
        src.samples.resize(static_cast<std::size_t>(info.frames) * src.channels);
        const sf_count_t got = sf_readf_float(file, src.samples.data(), info.frames);
        sf_close(file);
        src.samples.resize(static_cast<std::size_t>(std::max<sf_count_t>(got, 0)) * src.channels);
        return src;
    }
    return std::unexpected("source '" + text + "': unknown (tone:HZ, wav:PATH, silence)");
}

host::host() : wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

host::~host() {
    stop();
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::expected<device_slot*, std::string> host::device_for(const std::string& spec, ae::pipeline::device_direction direction) {
    for (auto& slot : devices_) {
        if (slot->spec == spec && slot->direction == direction) return slot.get();
    }
    auto dev = ae::pipeline::make_device(spec, direction);
    if (!dev) return std::unexpected(dev.error().message);
    ae::pipeline::device_thread_options options;
    if (!(*dev)->realtime()) {
        if (direction == ae::pipeline::device_direction::render && seconds <= 0) {
            return std::unexpected("device '" + spec + "' is offline (realtime=0): give --seconds N to say how much to render");
        }
        if (seconds > 0) options.stop_after_frames = static_cast<std::uint64_t>(std::llround(seconds * (*dev)->format().sample_rate));
    }
    auto thread = ae::pipeline::device_thread::create(std::move(*dev), options);
    if (!thread) return std::unexpected(thread.error().message);
    devices_.push_back(std::make_unique<device_slot>(device_slot{spec, direction, std::move(*thread)}));
    return devices_.back().get();
}

std::expected<void, std::string> host::add_render(const std::string& text, double period_ms) {
    auto [source_text, device_text] = split_last_at(text);
    if (device_text.empty()) device_text = "null";
    auto src = make_source(source_text);
    if (!src) return std::unexpected(src.error());
    auto device = device_for(device_text, ae::pipeline::device_direction::render);
    if (!device) return std::unexpected(device.error());
    auto slot = std::make_unique<render_slot>();
    slot->name = "render" + std::to_string(renders_.size() + 1);
    slot->device = device_text;
    const ae::frame_format format = src->what == source::kind::wav
                                        ? ae::frame_format{static_cast<std::uint32_t>(src->tone_hz),
                                                           static_cast<std::uint16_t>(src->channels), ae::sample_type::f32}
                                        : ae::frame_format{48000, 2, ae::sample_type::f32};
    slot->src = std::move(*src);
    slot->core = std::make_unique<ae::render_endpoint_core>(next_id_++);
    const std::uint32_t packet = frames_for(period_ms, format.sample_rate);
    if (auto ec = slot->core->set_buffer(format, packet, std::uint64_t{packet} * buffer_periods))
        return std::unexpected(slot->name + ": " + ec.message());
    if (auto ec = slot->core->set_event_handle(wake_fd_)) return std::unexpected(slot->name + ": " + ec.message());
    if (auto attached = (*device)->thread->attach(*slot->core); !attached) return std::unexpected(attached.error().message);
    renders_.push_back(std::move(slot));
    render_glitches_.emplace_back();
    render_glitch_frames_.emplace_back();
    return {};
}

std::expected<void, std::string> host::add_capture(const std::string& text, double period_ms) {
    auto [device_text, sink_text] = split_last_at(text);
    if (sink_text.empty()) sink_text = "null";
    if (device_text.empty()) device_text = "null";
    auto device = device_for(device_text, ae::pipeline::device_direction::capture);
    if (!device) return std::unexpected(device.error());
    const ae::frame_format device_format = (*device)->thread->dev().format();
    const ae::frame_format format{device_format.sample_rate, device_format.channels, ae::sample_type::f32};
    auto slot = std::make_unique<capture_slot>();
    slot->name = "capture" + std::to_string(captures_.size() + 1);
    slot->device = device_text;
    slot->sink_text = sink_text;
    if (sink_text.rfind("wav:", 0) == 0) {
        // The wav device, used as a writer: its ring and I/O thread keep file I/O off the engine.
        const std::string spec = sink_text + (sink_text.find('?') == std::string::npos ? "?" : "&") +
                                 "rate=" + std::to_string(format.sample_rate) + "&channels=" + std::to_string(format.channels) +
                                 "&sample=f32";
        auto sink = ae::pipeline::make_device(spec, ae::pipeline::device_direction::render);
        if (!sink) return std::unexpected(sink.error().message);
        slot->sink = std::move(*sink);
    } else if (sink_text != "null") {
        return std::unexpected("sink '" + sink_text + "': unknown (wav:PATH, null)");
    }
    slot->core = std::make_unique<ae::capture_endpoint_core>(next_id_++);
    const std::uint32_t packet = frames_for(period_ms, format.sample_rate);
    if (auto ec = slot->core->set_buffer(format, packet, std::uint64_t{packet} * buffer_periods * 2))
        return std::unexpected(slot->name + ": " + ec.message());
    if (auto ec = slot->core->set_event_handle(wake_fd_)) return std::unexpected(slot->name + ": " + ec.message());
    if (auto attached = (*device)->thread->attach(*slot->core); !attached) return std::unexpected(attached.error().message);
    captures_.push_back(std::move(slot));
    capture_glitches_.emplace_back();
    capture_glitch_frames_.emplace_back();
    return {};
}

std::expected<void, std::string> host::start() {
    if (wake_fd_ < 0) return std::unexpected("cannot create an eventfd");
    for (auto& slot : captures_) {
        if (slot->sink) {
            if (auto ok = slot->sink->start(); !ok) return std::unexpected(ok.error().message);
        }
        (void)slot->core->start();
    }
    for (auto& slot : renders_) (void)slot->core->start();
    engine_ = std::thread([this] { run_engine(); });
    for (auto& slot : devices_) {
        if (auto ok = slot->thread->start(); !ok) return std::unexpected(ok.error().message);
    }
    started_ = true;
    return {};
}

void host::stop() {
    if (!started_) return;
    started_ = false;
    for (auto& slot : devices_) slot->thread->stop();
    stop_.store(true, std::memory_order_release);
    if (engine_.joinable()) engine_.join();
    for (auto& slot : captures_) {
        if (slot->sink) slot->sink->stop();
    }
    poll();
}

void host::run_engine() noexcept {
    ae::set_current_thread_name("ae-rt-engine");
    (void)ae::try_set_realtime_priority(60);
    while (!stop_.load(std::memory_order_acquire)) {
        for (auto& slot : renders_) {
            ae::render_endpoint_rt& rt = slot->core->rt();
            const std::uint64_t padding = rt.current_padding();
            slot->stats.note_padding(padding);
            std::uint64_t free = rt.buffer_frames() - padding;
            // Bounded: buffer / packet packets at most.
            while (free > 0) {
                const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(rt.frames_per_packet(), free));
                auto span = rt.output_data_pointer(frames);
                if (!span) {
                    ++slot->stats.errors;
                    break;
                }
                const ae::frame_format format = rt.format();
                if (slot->src.what == source::kind::silence) {
                    rt.release_output_data_pointer({*span, frames, ae::buffer_flags::silent});
                } else {
                    fill(slot->src, reinterpret_cast<float*>(*span), frames, format.channels, format.sample_rate);
                    rt.release_output_data_pointer({*span, frames, ae::buffer_flags::valid});
                }
                slot->stats.frames += frames;
                free -= frames;
            }
            rt.processing_complete();
        }
        for (auto& slot : captures_) {
            ae::capture_endpoint_rt& rt = slot->core->rt();
            slot->stats.note_padding(rt.current_padding());
            for (int packets = 0; packets < 64; ++packets) {
                const std::uint64_t ready = rt.current_padding();
                if (ready == 0) break;
                ae::connection_property p{nullptr,
                                          static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, rt.frames_per_packet())),
                                          ae::buffer_flags::invalid};
                if (rt.input_data_pointer(p) != ae::errc{}) {
                    ++slot->stats.errors;
                    break;
                }
                if (slot->sink) (void)slot->sink->play(p.buffer, p.valid_frames);
                rt.release_input_data_pointer(p.valid_frames, p.buffer);
                slot->stats.frames += p.valid_frames;
            }
            rt.processing_complete();
        }
        // The engine's one wait point: the next device period.
        pollfd p{wake_fd_, POLLIN, 0};
        if (::poll(&p, 1, engine_wait_ms) > 0) {
            std::uint64_t count = 0;
            [[maybe_unused]] const auto got = ::read(wake_fd_, &count, sizeof count);
        }
    }
}

void host::poll() {
    for (std::size_t i = 0; i < renders_.size(); ++i) {
        renders_[i]->core->drain_glitches([&](const ae::glitch_record& r) {
            ++render_glitches_[i][static_cast<int>(r.kind)];
            render_glitch_frames_[i][static_cast<int>(r.kind)] += r.frames;
        });
        renders_[i]->core->collect_retired();
    }
    for (std::size_t i = 0; i < captures_.size(); ++i) {
        captures_[i]->core->drain_glitches([&](const ae::glitch_record& r) {
            ++capture_glitches_[i][static_cast<int>(r.kind)];
            capture_glitch_frames_[i][static_cast<int>(r.kind)] += r.frames;
        });
        captures_[i]->core->collect_retired();
    }
    for (auto& slot : devices_) {
        ae::pipeline::device_event event;
        while (slot->thread->try_pop_event(event)) {
            switch (event.kind) {
            case ae::pipeline::device_event_kind::realtime_refused:
                std::fprintf(stderr, "ae-host: warning: the device thread of '%s' runs without SCHED_FIFO (refused by the system)\n",
                             slot->spec.c_str());
                break;
            case ae::pipeline::device_event_kind::lost:
                std::fprintf(stderr, "ae-host: device '%s' lost at frame %llu; its endpoints continue on a virtual clock\n",
                             slot->spec.c_str(), static_cast<unsigned long long>(event.device_position));
                break;
            case ae::pipeline::device_event_kind::format_changed:
                std::fprintf(stderr, "ae-host: device '%s' changed format to %u Hz, %u channels\n", slot->spec.c_str(),
                             event.format.sample_rate, event.format.channels);
                break;
            case ae::pipeline::device_event_kind::device_dropped:
                std::fprintf(stderr, "ae-host: device '%s' dropped %llu frames (its I/O fell behind)\n", slot->spec.c_str(),
                             static_cast<unsigned long long>(event.frames));
                break;
            default: break;
            }
        }
    }
}

bool host::all_finished() const {
    return std::all_of(devices_.begin(), devices_.end(), [](const auto& slot) { return slot->thread->finished(); });
}

bool host::any_realtime() const {
    return std::any_of(devices_.begin(), devices_.end(), [](const auto& slot) { return slot->thread->dev().realtime(); });
}

std::uint64_t host::engine_errors() const {
    std::uint64_t errors = 0;
    for (const auto& slot : renders_) errors += slot->stats.errors;
    for (const auto& slot : captures_) errors += slot->stats.errors;
    return errors;
}

void host::print_progress(double elapsed_seconds) const {
    for (const auto& slot : renders_) {
        ae::clock_snapshot snapshot;
        if (!slot->core->link().clock.try_read(snapshot)) continue;
        std::printf("  t=%6.2f s  %s  device_position=%9llu  rate=%.3f Hz%s\n", elapsed_seconds, slot->name.c_str(),
                    static_cast<unsigned long long>(snapshot.device_position), snapshot.frames_per_second,
                    snapshot.uncertain ? " (settling)" : "");
    }
    std::fflush(stdout);
}

namespace {
void print_endpoint(const char* verb, const std::string& name, const std::string& route, const engine_stats& stats,
                    const ae::endpoint_core& core, const std::array<std::uint64_t, ae::glitch_kind_count + 1>& glitches,
                    const std::array<std::uint64_t, ae::glitch_kind_count + 1>& glitch_frames) {
    ae::clock_snapshot snapshot;
    const bool have_clock = const_cast<ae::endpoint_core&>(core).link().clock.try_read(snapshot);
    std::printf("  %s (%s)\n", name.c_str(), route.c_str());
    std::printf("    frames %s: %llu in %llu passes (%llu errors)\n", verb, static_cast<unsigned long long>(stats.frames),
                static_cast<unsigned long long>(stats.passes), static_cast<unsigned long long>(stats.errors));
    if (have_clock) {
        std::printf("    measured rate:  %.3f Hz at device position %llu\n", snapshot.frames_per_second,
                    static_cast<unsigned long long>(snapshot.device_position));
    } else {
        std::printf("    measured rate:  (no device period yet)\n");
    }
    std::printf("    padding frames: min %llu  avg %.1f  max %llu\n",
                static_cast<unsigned long long>(stats.passes ? stats.padding_min : 0),
                stats.passes ? static_cast<double>(stats.padding_sum) / static_cast<double>(stats.passes) : 0.0,
                static_cast<unsigned long long>(stats.padding_max));
    std::printf("    glitches:");
    for (int kind = 1; kind <= ae::glitch_kind_count; ++kind) {
        std::printf(" %s=%llu", ae::to_string(static_cast<ae::glitch_kind>(kind)), static_cast<unsigned long long>(glitches[kind]));
        if (glitch_frames[kind] != 0) std::printf(" (%llu frames)", static_cast<unsigned long long>(glitch_frames[kind]));
    }
    std::printf("\n");
}
} // namespace

void host::print_summary() const {
    std::printf("ae-host: summary\n");
    for (std::size_t i = 0; i < renders_.size(); ++i) {
        const auto& slot = *renders_[i];
        print_endpoint("rendered", slot.name, "source@" + slot.device, slot.stats, *slot.core, render_glitches_[i],
                       render_glitch_frames_[i]);
    }
    for (std::size_t i = 0; i < captures_.size(); ++i) {
        const auto& slot = *captures_[i];
        print_endpoint("captured", slot.name, slot.device + "@" + slot.sink_text, slot.stats, *slot.core, capture_glitches_[i],
                       capture_glitch_frames_[i]);
    }
    for (const auto& slot : devices_) {
        const auto levels = slot->thread->levels();
        std::printf("  device %s: %llu frames in %llu periods%s, peak %.3f\n", slot->spec.c_str(),
                    static_cast<unsigned long long>(slot->thread->frames_processed()),
                    static_cast<unsigned long long>(slot->thread->periods()), slot->thread->lost() ? " (lost)" : "",
                    levels.windows ? static_cast<double>(*std::max_element(levels.peak.begin(), levels.peak.begin() + std::max(1u, levels.channels))) : 0.0);
    }
}

} // namespace ae_host
