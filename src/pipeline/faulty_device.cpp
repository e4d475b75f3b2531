// The faulty device: wraps any device and makes it misbehave, on a script or on command.
#include <openae/pipeline/devices.h>

#include <openae/rt/errc.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/spsc_queue.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>

namespace ae::pipeline {
namespace {

enum class fault_kind : std::uint8_t { unplug, replug, stall, jump, late, format };

struct fault {
    fault_kind kind = fault_kind::unplug;
    std::uint32_t count = 0;     // late: wake-ups
    hns duration{0};             // stall, jump, late: per wake-up
    frame_format format{};       // format
};

// One scripted fault: fires when the device's stream reaches `at_frames`.
struct scripted_fault {
    std::uint64_t at_frames = 0;
    fault what;
    bool fired = false;
};

void sleep_for(hns duration) noexcept { // rt-safe: waits for the clock only (inside the device's wait point)
    const timespec at = to_timespec(monotonic_now() + duration);
    for (int i = 0; i < 8 && ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR; ++i) {}
}

class faulty_device final : public device {
public:
    faulty_device(std::string spec, std::unique_ptr<device> inner, std::vector<scripted_fault> script, hns open_delay)
        : device(std::move(spec), inner->direction(), inner->format(), inner->period_frames(), inner->realtime()),
          inner_(std::move(inner)), script_(std::move(script)), open_delay_(open_delay), commands_(16) {}

    hns latency() const noexcept override { return inner_->latency(); }

    std::expected<void, device_error> start() override {
        // A device whose open hangs (the control plane must not freeze on it).
        if (open_delay_ > hns{0}) std::this_thread::sleep_for(std::chrono::microseconds(open_delay_.count() / 10));
        return inner_->start();
    }
    void stop() noexcept override { inner_->stop(); }

    device_status wait_period() noexcept override { // rt-safe: bounded
        fault injected;
        for (int i = 0; i < 16 && commands_.try_pop(injected); ++i) apply(injected);
        for (auto& step : script_) {
            if (!step.fired && frames_ >= step.at_frames) {
                step.fired = true;
                apply(step.what);
            }
        }
        if (late_left_ > 0) {
            --late_left_;
            sleep_for(late_by_);
        }
        if (unplugged_) {
            // A lost device still has to pace its thread: the device thread stands in with its
            // own clock; here we only say so.
            return device_status::lost;
        }
        const device_status status = inner_->wait_period();
        frames_ += period_frames_;
        if (format_pending_) {
            format_pending_ = false;
            format_ = new_format_;
            return device_status::format_changed;
        }
        return status;
    }

    device_status play(const std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        if (unplugged_) return device_status::lost;
        if (format_ != inner_->format()) return device_status::ok; // the "new format" goes nowhere
        return inner_->play(data, frames);
    }
    device_status record(std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        if (unplugged_) return device_status::lost;
        if (format_ != inner_->format()) {
            std::memset(data, 0, std::size_t{frames} * format_.bytes_per_frame());
            return device_status::ok;
        }
        return inner_->record(data, frames);
    }
    device_timing timing() const noexcept override { // rt-safe: wait-free
        device_timing at = inner_->timing();
        at.time += time_offset_;
        at.discontinuity = at.discontinuity || jumped_;
        jumped_ = false;
        return at;
    }
    std::uint64_t device_dropped_frames() const noexcept override { return inner_->device_dropped_frames(); }
    std::uint64_t latency_generation() const noexcept override { return inner_->latency_generation(); } // rt-safe: wait-free
    std::uint32_t recorded_frames() const noexcept override { return inner_->recorded_frames(); }

    std::expected<void, device_error> inject(std::string_view text) override {
        auto parsed = parse_fault(text);
        if (!parsed) return std::unexpected(parsed.error());
        // One control thread at a time feeds the queue (it is single-producer).
        const std::lock_guard lock(inject_mutex_);
        if (!commands_.try_push(*parsed)) {
            return std::unexpected(device_error{make_error_code(errc::busy), "device '" + spec_ + "': too many faults queued"});
        }
        return {};
    }

    static std::expected<fault, device_error> parse_fault(std::string_view text);

private:
    void apply(const fault& f) noexcept { // rt-safe: bounded
        switch (f.kind) {
        case fault_kind::unplug: unplugged_ = true; break;
        case fault_kind::replug: unplugged_ = false; break;
        case fault_kind::stall: sleep_for(f.duration); break;
        case fault_kind::jump:
            time_offset_ += f.duration;
            jumped_ = true;
            break;
        case fault_kind::late:
            late_left_ = f.count;
            late_by_ = f.duration;
            break;
        case fault_kind::format:
            new_format_ = f.format;
            format_pending_ = true;
            break;
        }
    }

    std::unique_ptr<device> inner_;
    std::vector<scripted_fault> script_;
    hns open_delay_;
    spsc_queue<fault> commands_;
    std::mutex inject_mutex_; // control side only
    std::uint64_t frames_ = 0;
    bool unplugged_ = false;
    hns time_offset_{0};
    mutable bool jumped_ = false;
    std::uint32_t late_left_ = 0;
    hns late_by_{0};
    bool format_pending_ = false;
    frame_format new_format_{};
};

std::expected<fault, device_error> faulty_device::parse_fault(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return std::unexpected(device_error{make_error_code(errc::bad_argument), "fault '" + std::string(text) + "': " + why});
    };
    std::vector<std::string_view> parts;
    for (std::string_view rest = text;;) {
        const auto colon = rest.find(':');
        parts.push_back(rest.substr(0, colon));
        if (colon == std::string_view::npos) break;
        rest = rest.substr(colon + 1);
    }
    auto number = [](std::string_view s, double& out) {
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc{} && end == s.data() + s.size() && std::isfinite(out) && out >= 0;
    };
    auto ms = [](double value) { return hns{static_cast<std::int64_t>(value * 10'000)}; };
    fault f;
    const std::string_view name = parts[0];
    double a = 0, b = 0;
    if (name == "unplug" && parts.size() == 1) f.kind = fault_kind::unplug;
    else if (name == "replug" && parts.size() == 1) f.kind = fault_kind::replug;
    else if ((name == "stall" || name == "jump") && parts.size() == 2) {
        if (!number(parts[1], a) || a > 60'000) return bad("expected " + std::string(name) + ":MS (0-60000)");
        f.kind = name == "stall" ? fault_kind::stall : fault_kind::jump;
        f.duration = ms(a);
    } else if (name == "late" && parts.size() == 3) {
        if (!number(parts[1], a) || !number(parts[2], b) || a > 100'000 || b > 10'000)
            return bad("expected late:COUNT:MS");
        f.kind = fault_kind::late;
        f.count = static_cast<std::uint32_t>(a);
        f.duration = ms(b);
    } else if (name == "format" && parts.size() >= 2 && parts.size() <= 4) {
        if (!number(parts[1], a) || a < min_sample_rate || a > max_sample_rate) return bad("expected format:RATE[:CHANNELS[:SAMPLE]]");
        f.kind = fault_kind::format;
        f.format = {static_cast<std::uint32_t>(a), 2, sample_type::f32};
        if (parts.size() >= 3) {
            if (!number(parts[2], b) || b < 1 || b > max_channels)
                return bad("channels must be 1-" + std::to_string(max_channels));
            f.format.channels = static_cast<std::uint16_t>(b);
        }
        if (parts.size() == 4) {
            auto type = parse_sample_type(parts[3]);
            if (!type) return bad("unknown sample type");
            f.format.sample = *type;
        }
    } else {
        return bad("unknown fault (unplug, replug, stall:MS, jump:MS, late:COUNT:MS, format:RATE[:CHANNELS[:SAMPLE]])");
    }
    return f;
}

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_faulty_device(device_spec spec, endpoint_direction direction) {
    if (spec.target().empty()) {
        return std::unexpected(device_error{make_error_code(errc::bad_argument),
                                            "device spec '" + spec.text() + "': faulty needs an inner device (faulty:INNER)"});
    }
    std::vector<scripted_fault> script;
    // Script times are in ms of device stream time; -1 = never.
    auto at = [&](std::string_view key) -> std::expected<double, device_error> { return spec.take_number(key, -1, -1, 1e9); };
    auto ms = [](double value) { return hns{static_cast<std::int64_t>(value * 10'000)}; };
    struct timed { std::string_view key; fault what; };
    const auto unplug_at = at("unplug_at_ms");
    const auto replug_at = at("replug_at_ms");
    const auto stall_at = at("stall_at_ms");
    const auto stall_ms = spec.take_number("stall_ms", 100, 0, 60'000);
    const auto jump_at = at("jump_at_ms");
    const auto jump_ms = spec.take_number("jump_ms", 1000, 0, 1e7);
    const auto late_at = at("late_at_ms");
    const auto late_count = spec.take_count("late_count", 10, 0, 100'000);
    const auto late_ms = spec.take_number("late_ms", 5, 0, 10'000);
    const auto format_at = at("format_at_ms");
    const auto format_rate = spec.take_count("format_rate", 44100, min_sample_rate, max_sample_rate);
    const auto format_channels = spec.take_count("format_channels", 2, 1, max_channels);
    const auto format_sample = spec.take_sample_type("format_sample", sample_type::f32);
    const auto open_delay = spec.take_number("open_delay_ms", 0, 0, 600'000);
    for (const auto* r : {&unplug_at, &replug_at, &stall_at, &stall_ms, &jump_at, &jump_ms, &late_at, &late_ms, &format_at, &open_delay}) {
        if (!*r) return std::unexpected(r->error());
    }
    if (!late_count) return std::unexpected(late_count.error());
    if (!format_rate) return std::unexpected(format_rate.error());
    if (!format_channels) return std::unexpected(format_channels.error());
    if (!format_sample) return std::unexpected(format_sample.error());

    // The rest of the query belongs to the inner device.
    std::string inner_text = spec.target();
    if (const std::string rest = spec.remaining_query(); !rest.empty()) inner_text += (inner_text.find('?') == std::string::npos ? "?" : "&") + rest;
    auto inner = make_device(inner_text, direction);
    if (!inner) return std::unexpected(inner.error());
    const double rate = (*inner)->format().sample_rate;
    auto frames_at = [&](double at_ms) { return static_cast<std::uint64_t>(at_ms * rate / 1000.0); };
    auto add = [&](double at_ms, fault what) {
        if (at_ms >= 0) script.push_back({frames_at(at_ms), what, false});
    };
    add(*unplug_at, {fault_kind::unplug, 0, hns{0}, {}});
    add(*replug_at, {fault_kind::replug, 0, hns{0}, {}});
    add(*stall_at, {fault_kind::stall, 0, ms(*stall_ms), {}});
    add(*jump_at, {fault_kind::jump, 0, ms(*jump_ms), {}});
    add(*late_at, {fault_kind::late, *late_count, ms(*late_ms), {}});
    add(*format_at, {fault_kind::format, 0, hns{0}, {*format_rate, static_cast<std::uint16_t>(*format_channels), *format_sample}});
    return std::make_unique<faulty_device>(spec.text(), std::move(*inner), std::move(script), ms(*open_delay));
}

} // namespace ae::pipeline
