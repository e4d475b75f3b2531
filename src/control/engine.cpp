#include <openae/control/engine.h>

#include <openae/pipeline/convert.h>
#include <openae/pipeline/device_spec.h>
#include <openae/pipeline/devices.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/thread_name.h>

#include <sndfile.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

namespace ae {
namespace {

constexpr int engine_wait_ms = 100;          // a bound, not a pace: device periods wake the engine
constexpr std::uint32_t chunk_frames = 1024; // scratch size per slot, in frames of up to 8 channels
constexpr std::uint32_t scratch_channels = 8;

engine_error error(errc code, std::string message) { return {make_error_code(code), std::move(message)}; }

} // namespace

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
    std::optional<render_endpoint> render;
    std::optional<capture_endpoint> capture;
    render_endpoint_rt* render_rt = nullptr;
    capture_endpoint_rt* capture_rt = nullptr;
    engine_source source;
    std::unique_ptr<pipeline::device> sink; // wav sinks: a wav device used as a writer
    std::uint32_t sink_channels = 0;
    bool let_go = false; // removed, and the engine thread has let go of it (control side)
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

// ---------------------------------------------------------------------------------------------
// sources

std::expected<engine_source, engine_error> engine_source::parse(const std::string& text) {
    engine_source src;
    src.text = text;
    if (text == "silence") {
        src.what = kind::silence;
        return src;
    }
    if (text.rfind("tone:", 0) == 0 || text == "tone") {
        src.what = kind::tone;
        if (text.size() > 5) {
            const std::string number = text.substr(5);
            const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), src.tone_hz);
            if (ec != std::errc{} || end != number.data() + number.size() || !(src.tone_hz > 0) || src.tone_hz > 100'000)
                return std::unexpected(error(errc::bad_argument, "source '" + text + "': the tone needs a frequency in Hz (tone:440)"));
        }
        return src;
    }
    if (text.rfind("wav:", 0) == 0) {
        const std::string path = text.substr(4);
        SF_INFO info{};
        SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
        if (!file) return std::unexpected(error(errc::device_unavailable, "source 'wav:" + path + "': " + sf_strerror(nullptr)));
        if (info.channels < 1 || info.channels > max_channels || info.samplerate < static_cast<int>(min_sample_rate) ||
            info.samplerate > static_cast<int>(max_sample_rate)) {
            sf_close(file);
            return std::unexpected(error(errc::unsupported_format, "source 'wav:" + path + "': unsupported layout (1-8 channels, 1-768 kHz)"));
        }
        src.what = kind::wav;
        src.channels = static_cast<std::uint32_t>(info.channels);
        src.sample_rate = static_cast<std::uint32_t>(info.samplerate);
        src.samples.resize(static_cast<std::size_t>(info.frames) * src.channels);
        const sf_count_t got = sf_readf_float(file, src.samples.data(), info.frames);
        sf_close(file);
        src.samples.resize(static_cast<std::size_t>(std::max<sf_count_t>(got, 0)) * src.channels);
        return src;
    }
    return std::unexpected(error(errc::bad_argument, "source '" + text + "': unknown (tone:HZ, wav:PATH, silence)"));
}

namespace {

// Fills `frames` f32 frames of `channels` from `src`. rt-safe: bounded
void fill(engine_source& src, float* out, std::uint32_t frames, std::uint32_t channels, std::uint32_t rate) noexcept {
    switch (src.what) {
    case engine_source::kind::tone: {
        // A rotating phasor, seeded exactly at each call (its rounding error stays below 1e-12
        // over a call's frames): a multiply-add per frame instead of a sin().
        const double step = 2 * std::numbers::pi * src.tone_hz / rate;
        const double cos_step = std::cos(step), sin_step = std::sin(step);
        double re = std::cos(src.phase), im = std::sin(src.phase);
        for (std::uint32_t i = 0; i < frames; ++i) {
            const auto value = static_cast<float>(0.25 * im);
            for (std::uint32_t c = 0; c < channels; ++c) out[std::size_t{i} * channels + c] = value;
            const double next_re = re * cos_step - im * sin_step;
            im = im * cos_step + re * sin_step;
            re = next_re;
        }
        src.phase = std::fmod(src.phase + step * frames, 2 * std::numbers::pi);
        break;
    }
    case engine_source::kind::silence: std::fill_n(out, std::size_t{frames} * channels, 0.0f); break;
    case engine_source::kind::wav: {
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

// One render pass: top the endpoint's buffer up. rt-safe: bounded
void render_pass(engine::slot& s) noexcept;
// One capture pass: drain what the endpoint holds into the sink. rt-safe: bounded
void capture_pass(engine::slot& s) noexcept;

} // namespace

// ---------------------------------------------------------------------------------------------

std::expected<std::unique_ptr<engine>, engine_error> engine::create(engine_options options) {
    std::unique_ptr<engine> e(new engine(std::move(options)));
    if (e->wake_fd_ < 0 || e->release_fd_ < 0) return std::unexpected(error(errc::io_error, "engine: cannot create an eventfd"));
    e->thread_ = std::thread([raw = e.get()] { raw->run(); });
    return e;
}

engine::engine(engine_options options)
    : options_(options),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), release_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      commands_(std::make_unique<spsc_queue<command>>(options.max_endpoints * 2 + 16)),
      retired_(std::make_unique<spsc_queue<slot*>>(options.max_endpoints + 16)) {
    active_.reserve(options.max_endpoints);
}

engine::~engine() {
    stop_.store(true, std::memory_order_release);
    signal_eventfd(wake_fd_);
    if (thread_.joinable()) thread_.join();
    for (auto& [name, s] : slots_) {
        if (s->sink) s->sink->stop();
    }
    for (auto& s : leaving_) {
        if (s->sink) s->sink->stop();
    }
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (release_fd_ >= 0) ::close(release_fd_);
}

std::expected<void, engine_error> engine::add(std::unique_ptr<slot> s) {
    collect();
    if (slots_.contains(s->name)) return std::unexpected(error(errc::already_initialized, "engine: '" + s->name + "' is driven already"));
    if (slots_.size() + leaving_.size() >= options_.max_endpoints)
        return std::unexpected(error(errc::busy, "engine: at most " + std::to_string(options_.max_endpoints) + " endpoints"));
    // A render endpoint is pre-filled here, before the engine thread sees it: when the host starts
    // it, the first device period plays the source, however late the engine thread's next pass
    // (a stopped endpoint accepts data; the queue below hands the slot over with release/acquire).
    if (s->render_rt) {
        render_pass(*s);
        s->published.publish(s->record);
    }
    if (!commands_->try_push(command{s.get(), nullptr})) return std::unexpected(error(errc::busy, "engine: command queue full"));
    signal_eventfd(wake_fd_);
    slots_.emplace(s->name, std::move(s));
    return {};
}

std::expected<void, engine_error> engine::add_render(render_endpoint endpoint, engine_source source) {
    auto s = std::make_unique<slot>();
    s->name = endpoint.name();
    s->text = source.text;
    s->render_rt = &endpoint.rt();
    s->render.emplace(std::move(endpoint));
    s->source = std::move(source);
    return add(std::move(s));
}

std::expected<engine_sink, engine_error> engine_sink::open(const std::string& text, const frame_format& format) {
    engine_sink sink;
    sink.text = text;
    sink.format = format;
    if (text.rfind("wav:", 0) == 0) {
        // The wav device, used as a writer: its ring and I/O thread keep file I/O off the engine.
        const std::string spec = text + (text.find('?') == std::string::npos ? "?" : "&") + "rate=" +
                                 std::to_string(format.sample_rate) + "&channels=" + std::to_string(format.channels) +
                                 "&sample=f32";
        auto writer = pipeline::make_device(spec, pipeline::device_direction::render);
        if (!writer) return std::unexpected(writer.error());
        if (auto started = (*writer)->start(); !started) return std::unexpected(started.error());
        sink.channels = (*writer)->format().channels;
        sink.writer = std::move(*writer);
    } else if (text != "null") {
        return std::unexpected(error(errc::bad_argument, "sink '" + text + "': unknown (wav:PATH, null)"));
    }
    return sink;
}

void engine_sink::discard() noexcept {
    if (!writer) return;
    writer->stop();
    writer.reset();
    if (auto spec = pipeline::device_spec::parse(text)) (void)::unlink(spec->target().c_str());
}

std::expected<void, engine_error> engine::add_capture(capture_endpoint endpoint, engine_sink sink) {
    const frame_format format = endpoint.frame_format();
    if (sink.writer && (sink.format.sample_rate != format.sample_rate || sink.format.channels != format.channels))
        return std::unexpected(error(errc::unsupported_format, "sink '" + sink.text + "' was opened for another format"));
    auto s = std::make_unique<slot>();
    s->name = endpoint.name();
    s->text = sink.text;
    s->sink_channels = sink.channels;
    s->sink = std::move(sink.writer);
    s->capture_rt = &endpoint.rt();
    s->capture.emplace(std::move(endpoint));
    return add(std::move(s));
}

bool engine::remove(const std::string& name) {
    collect();
    auto it = slots_.find(name);
    if (it == slots_.end()) return false;
    // The queue holds twice the slots: a remove always fits.
    if (!commands_->try_push(command{nullptr, it->second.get()})) return false;
    signal_eventfd(wake_fd_);
    leaving_.push_back(std::move(it->second));
    slots_.erase(it);
    return true;
}

void engine::take_retired() {
    slot* gone = nullptr;
    while (retired_->try_pop(gone)) {
        auto it = std::find_if(leaving_.begin(), leaving_.end(), [gone](const auto& s) { return s.get() == gone; });
        if (it != leaving_.end()) (*it)->let_go = true;
    }
}

void engine::collect() {
    take_retired();
    for (auto it = leaving_.begin(); it != leaving_.end();) {
        if (!(*it)->let_go) {
            ++it;
            continue;
        }
        if ((*it)->sink && sink_closer_) {
            sink_closer_(std::move((*it)->sink));
        } else if ((*it)->sink) {
            (*it)->sink->stop(); // flushes and closes the file
        }
        it = leaving_.erase(it);
    }
}

std::optional<std::unique_ptr<pipeline::device>> engine::take_released(const std::string& name) {
    take_retired();
    auto it = std::find_if(leaving_.begin(), leaving_.end(), [&](const auto& s) { return s->name == name; });
    if (it == leaving_.end()) return std::unique_ptr<pipeline::device>{}; // never driven, or collected already
    if (!(*it)->let_go) return std::nullopt;
    auto sink = std::move((*it)->sink);
    leaving_.erase(it);
    return sink;
}

bool engine::drives(const std::string& name) const { return slots_.contains(name); }

std::string engine::source_or_sink(const std::string& name) const {
    auto it = slots_.find(name);
    return it == slots_.end() ? std::string{} : it->second->text;
}

std::expected<engine_slot_stats, std::error_code> engine::stats(const std::string& name) const {
    auto it = slots_.find(name);
    if (it == slots_.end()) return std::unexpected(make_error_code(errc::unknown_endpoint));
    pass_record r;
    if (!it->second->published.try_read(r)) return std::unexpected(make_error_code(errc::busy));
    engine_slot_stats out;
    out.frames = r.frames;
    out.passes = r.passes;
    out.errors = r.errors;
    out.padding_min = r.padding_min;
    out.padding_max = r.padding_max;
    out.padding_avg = r.passes ? static_cast<double>(r.padding_sum) / static_cast<double>(r.passes) : 0.0;
    out.have_position = r.have_position != 0;
    out.last_position = r.last_position;
    return out;
}

void engine::apply_commands() noexcept { // rt-safe: bounded by the queue's capacity
    command c;
    bool released = false;
    while (commands_->try_pop(c)) {
        if (c.add && active_.size() < active_.capacity()) active_.push_back(c.add);
        if (c.remove) {
            auto it = std::find(active_.begin(), active_.end(), c.remove);
            if (it != active_.end()) {
                *it = active_.back();
                active_.pop_back();
            }
            // Holds max_endpoints + 16 and only removed slots travel: it cannot be full.
            [[maybe_unused]] const bool pushed = retired_->try_push(std::move(c.remove));
            released = true;
        }
    }
    if (released) signal_eventfd(release_fd_);
}

void engine::run() noexcept {
    set_current_thread_name("ae-rt-engine");
    if (options_.realtime_priority > 0) (void)try_set_realtime_priority(options_.realtime_priority);
    if (options_.hooks.started) options_.hooks.started(options_.hooks.context);
    while (!stop_.load(std::memory_order_acquire)) {
        apply_commands();
        for (slot* s : active_) {
            if (s->render_rt) {
                render_pass(*s);
            } else {
                capture_pass(*s);
            }
            s->published.publish(s->record);
        }
        passes_.fetch_add(1, std::memory_order_relaxed);
        // The engine's one wait point: the next device period (or a command).
        if (options_.hooks.wait_begin) options_.hooks.wait_begin(options_.hooks.context);
        pollfd p{wake_fd_, POLLIN, 0};
        if (::poll(&p, 1, engine_wait_ms) > 0) {
            std::uint64_t count = 0;
            [[maybe_unused]] const auto got = ::read(wake_fd_, &count, sizeof count);
        }
        if (options_.hooks.wait_end) options_.hooks.wait_end(options_.hooks.context);
    }
    if (options_.hooks.stopping) options_.hooks.stopping(options_.hooks.context);
}

namespace {

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
                    fill(s.source, reinterpret_cast<float*>(into), n, channels, format.sample_rate); // straight into the ring
                } else {
                    fill(s.source, s.scratch.data(), n, channels, format.sample_rate);
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

} // namespace

} // namespace ae
