// The ALSA device: `alsa:PCM?period=MS&periods=N&rate=HZ&channels=N&sample=TYPE&paced=0|1&mmap=0|1`.
//
// One snd_pcm opened non-blocking, hw params negotiated near what the spec asks (the format the
// PCM takes is the device's: the pipeline converts and resamples to it). The device thread's one
// wait point is poll() on the PCM's descriptors; play/record never wait (writei/readi on a
// non-blocking PCM). An xrun is recovered at once (snd_pcm_recover) and its frames counted as
// dropped; -ENODEV, -EBADFD and a suspend that cannot be resumed are a lost device.
//
// `paced=0` says the PCM is not paced by a clock (ALSA's `null` and `file` plugins never block):
// the device is then offline — it waits for its endpoints instead of playing silence ahead of them.
#include <openae/pipeline/devices.h>

#include <openae/rt/errc.h>
#include <openae/rt/monotonic_clock.h>

#include <alsa/asoundlib.h>

#include <poll.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

namespace ae::pipeline {
namespace {

constexpr int max_descriptors = 8;

snd_pcm_format_t alsa_format(sample_type sample) noexcept {
    switch (sample) {
    case sample_type::s16: return SND_PCM_FORMAT_S16_LE;
    case sample_type::s24: return SND_PCM_FORMAT_S24_3LE;
    case sample_type::s32: return SND_PCM_FORMAT_S32_LE;
    case sample_type::f32: return SND_PCM_FORMAT_FLOAT_LE;
    }
    return SND_PCM_FORMAT_UNKNOWN;
}

struct pcm_closer {
    void operator()(snd_pcm_t* pcm) const noexcept { snd_pcm_close(pcm); }
};
using pcm_handle = std::unique_ptr<snd_pcm_t, pcm_closer>;
struct status_deleter {
    void operator()(snd_pcm_status_t* status) const noexcept { snd_pcm_status_free(status); }
};

struct negotiated {
    pcm_handle pcm;
    frame_format format{};
    std::uint32_t period_frames = 0;
    std::uint32_t buffer_frames = 0;
    bool mmap = false;
};

device_error alsa_error(const std::string& spec, const char* what, int err) {
    const auto code = err == -ENOENT || err == -ENODEV || err == -EBUSY ? errc::device_unavailable : errc::io_error;
    return device_error{make_error_code(code), "alsa device '" + spec + "': " + what + ": " + snd_strerror(err)};
}

// Opens `name` and sets hw/sw params near what was asked.
std::expected<negotiated, device_error> open_pcm(const std::string& spec, const std::string& name, endpoint_direction direction,
                                                 const frame_format& wanted, std::uint32_t period_frames, std::uint32_t periods,
                                                 bool mmap) {
    snd_pcm_t* raw = nullptr;
    const auto stream = direction == endpoint_direction::render ? SND_PCM_STREAM_PLAYBACK : SND_PCM_STREAM_CAPTURE;
    if (int err = snd_pcm_open(&raw, name.c_str(), stream, SND_PCM_NONBLOCK); err < 0) return std::unexpected(alsa_error(spec, "open", err));
    negotiated out;
    out.pcm.reset(raw);
    snd_pcm_t* pcm = raw;
    snd_pcm_hw_params_t* hw = nullptr;
    snd_pcm_hw_params_alloca(&hw);
    if (int err = snd_pcm_hw_params_any(pcm, hw); err < 0) return std::unexpected(alsa_error(spec, "hw params", err));
    // mmap: the frames go straight into the PCM's ring (snd_pcm_mmap_writei/readi), no copy in
    // the kernel's read/write path; the same never-waiting calls otherwise.
    out.mmap = mmap;
    if (int err = snd_pcm_hw_params_set_access(pcm, hw, mmap ? SND_PCM_ACCESS_MMAP_INTERLEAVED : SND_PCM_ACCESS_RW_INTERLEAVED); err < 0)
        return std::unexpected(alsa_error(spec, mmap ? "mmap interleaved access" : "interleaved access", err));
    // The sample type asked for, else the first the PCM takes.
    sample_type sample = wanted.sample;
    bool have_sample = snd_pcm_hw_params_set_format(pcm, hw, alsa_format(sample)) == 0;
    for (const sample_type other : {sample_type::s16, sample_type::s32, sample_type::f32, sample_type::s24}) {
        if (have_sample) break;
        if (snd_pcm_hw_params_set_format(pcm, hw, alsa_format(other)) == 0) {
            sample = other;
            have_sample = true;
        }
    }
    if (!have_sample)
        return std::unexpected(device_error{make_error_code(errc::unsupported_format),
                                            "alsa device '" + spec + "': takes none of s16, s24, s32, f32"});
    unsigned channels = wanted.channels;
    if (int err = snd_pcm_hw_params_set_channels_near(pcm, hw, &channels); err < 0) return std::unexpected(alsa_error(spec, "channels", err));
    unsigned rate = wanted.sample_rate;
    if (int err = snd_pcm_hw_params_set_rate_near(pcm, hw, &rate, nullptr); err < 0) return std::unexpected(alsa_error(spec, "rate", err));
    snd_pcm_uframes_t period = period_frames;
    if (int err = snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, nullptr); err < 0)
        return std::unexpected(alsa_error(spec, "period size", err));
    snd_pcm_uframes_t buffer = period * periods;
    if (int err = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer); err < 0) return std::unexpected(alsa_error(spec, "buffer size", err));
    if (int err = snd_pcm_hw_params(pcm, hw); err < 0) return std::unexpected(alsa_error(spec, "hw params", err));
    out.format = {rate, static_cast<std::uint16_t>(channels), sample};
    if (!is_valid(out.format) || period == 0)
        return std::unexpected(device_error{make_error_code(errc::unsupported_format),
                                            "alsa device '" + spec + "': negotiated " + std::to_string(rate) + " Hz, " +
                                                std::to_string(channels) + " channels, which openae does not carry"});
    out.period_frames = static_cast<std::uint32_t>(period);
    out.buffer_frames = static_cast<std::uint32_t>(buffer);

    snd_pcm_sw_params_t* sw = nullptr;
    snd_pcm_sw_params_alloca(&sw);
    snd_pcm_sw_params_current(pcm, sw);
    snd_pcm_sw_params_set_avail_min(pcm, sw, period);
    // Render starts when the buffer is full (the silence written at start plus the first period).
    snd_pcm_sw_params_set_start_threshold(pcm, sw, direction == endpoint_direction::render ? buffer : 1);
    snd_pcm_sw_params_set_tstamp_mode(pcm, sw, SND_PCM_TSTAMP_ENABLE);
    snd_pcm_sw_params_set_tstamp_type(pcm, sw, SND_PCM_TSTAMP_TYPE_MONOTONIC);
    if (int err = snd_pcm_sw_params(pcm, sw); err < 0) return std::unexpected(alsa_error(spec, "sw params", err));
    return out;
}

class alsa_device final : public device {
public:
    alsa_device(std::string spec, endpoint_direction direction, negotiated pcm, bool paced)
        : device(std::move(spec), direction, pcm.format, pcm.period_frames, paced), pcm_(std::move(pcm.pcm)),
          buffer_frames_(pcm.buffer_frames), write_frames_(pcm.mmap ? snd_pcm_mmap_writei : snd_pcm_writei),
          read_frames_(pcm.mmap ? snd_pcm_mmap_readi : snd_pcm_readi) {}

    std::expected<void, device_error> start() override {
        snd_pcm_status_t* status = nullptr;
        if (int err = snd_pcm_status_malloc(&status); err < 0) return std::unexpected(alsa_error(spec_, "status", err));
        status_.reset(status);
        const int count = snd_pcm_poll_descriptors_count(pcm_.get());
        if (count <= 0 || count > max_descriptors)
            return std::unexpected(device_error{make_error_code(errc::io_error), "alsa device '" + spec_ + "': " +
                                                                                     std::to_string(count) + " poll descriptors"});
        descriptor_count_ = static_cast<unsigned>(snd_pcm_poll_descriptors(pcm_.get(), descriptors_.data(), static_cast<unsigned>(count)));
        if (int err = snd_pcm_prepare(pcm_.get()); err < 0) return std::unexpected(alsa_error(spec_, "prepare", err));
        if (direction_ == endpoint_direction::render) {
            // All but one period of silence ahead: the first play() fills the buffer and starts it.
            std::vector<std::byte> silence(std::size_t{period_frames_} * format_.bytes_per_frame());
            for (std::uint32_t queued = 0; queued + period_frames_ < buffer_frames_; queued += period_frames_) {
                if (write_frames_(pcm_.get(), silence.data(), period_frames_) < 0) break;
                written_ += period_frames_;
            }
            silence_frames_ = written_;
        } else if (int err = snd_pcm_start(pcm_.get()); err < 0) {
            return std::unexpected(alsa_error(spec_, "start", err));
        }
        return {};
    }
    // Render plays out what it queued (at most the buffer), on the control side; capture drops what
    // it has not read. The drain is waited for a bounded time: a blocking snd_pcm_drain on a PCM
    // whose server died waits forever (the jack plugin's does).
    void stop() noexcept override {
        if (!pcm_) return;
        // A lost PCM is dropped, never drained: the jack plugin's drain polls without a timeout,
        // in non-blocking mode too, and a dead server never answers.
        if (direction_ == endpoint_direction::render && !lost_ && snd_pcm_drain(pcm_.get()) == -EAGAIN) {
            const hns give_up = monotonic_now() + latency() + hns{2'000'000};
            while (snd_pcm_state(pcm_.get()) == SND_PCM_STATE_DRAINING && monotonic_now() < give_up) {
                (void)::poll(descriptors_.data(), descriptor_count_, 5);
                if (snd_pcm_avail_update(pcm_.get()) < 0) break;
            }
        }
        (void)snd_pcm_drop(pcm_.get());
    }

    device_status wait_period() noexcept override { // rt-safe: waits for the device only
        // Bounded: a PCM that neither becomes ready nor fails within a second is gone.
        for (int turns = 0; turns < 1000; ++turns) {
            const snd_pcm_sframes_t avail = snd_pcm_avail_update(pcm_.get());
            if (avail < 0) {
                if (const device_status s = recover(static_cast<int>(avail)); s != device_status::ok) return s;
                continue;
            }
            // Render before the PCM has started: the first period goes into the buffer now.
            if (static_cast<std::uint64_t>(avail) >= period_frames_ || snd_pcm_state(pcm_.get()) == SND_PCM_STATE_PREPARED) {
                sample_timing();
                return device_status::ok;
            }
            const int ready = ::poll(descriptors_.data(), descriptor_count_, 1);
            if (ready < 0 && errno != EINTR) return lose();
            if (ready > 0) {
                unsigned short revents = 0;
                snd_pcm_poll_descriptors_revents(pcm_.get(), descriptors_.data(), descriptor_count_, &revents);
                if ((revents & (POLLERR | POLLNVAL)) != 0 && snd_pcm_state(pcm_.get()) == SND_PCM_STATE_DISCONNECTED)
                    return lose();
            }
        }
        return lose();
    }

    device_status play(const std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        std::uint32_t done = 0;
        for (int tries = 0; tries < 4 && done < frames; ++tries) {
            const snd_pcm_sframes_t n = write_frames_(pcm_.get(), data + std::size_t{done} * format_.bytes_per_frame(), frames - done);
            if (n == -EAGAIN) continue;
            if (n < 0) {
                if (const device_status s = recover(static_cast<int>(n)); s != device_status::ok) return s;
                continue;
            }
            done += static_cast<std::uint32_t>(n);
        }
        written_ += done;
        dropped_ += frames - done;
        return device_status::ok;
    }

    device_status record(std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        std::uint32_t done = 0;
        for (int tries = 0; tries < 4 && done < frames; ++tries) {
            const snd_pcm_sframes_t n = read_frames_(pcm_.get(), data + std::size_t{done} * format_.bytes_per_frame(), frames - done);
            if (n == -EAGAIN) continue;
            if (n < 0) {
                if (const device_status s = recover(static_cast<int>(n)); s != device_status::ok) return s;
                continue;
            }
            done += static_cast<std::uint32_t>(n);
        }
        if (done < frames) {
            std::memset(data + std::size_t{done} * format_.bytes_per_frame(), 0, std::size_t{frames - done} * format_.bytes_per_frame());
            dropped_ += frames - done;
        }
        read_ += done;
        last_record_frames_ = frames;
        return device_status::ok;
    }

    device_timing timing() const noexcept override { return timing_; } // rt-safe: wait-free
    hns latency() const noexcept override {
        return hns{static_cast<std::int64_t>(std::llround(1e7 * buffer_frames_ / format_.sample_rate))};
    }
    std::uint64_t device_dropped_frames() const noexcept override { return dropped_; }

private:
    device_status lose() noexcept { // rt-safe: wait-free
        lost_ = true;
        return device_status::lost;
    }
    // An xrun is recovered (its frames lost: counted as at least one period); a suspend is
    // resumed or re-prepared; anything else — the PCM unplugged, its server gone — is a loss.
    device_status recover(int err) noexcept { // rt-safe: bounded
        if (err == -ENODEV || err == -EBADFD || err == -ENOTTY) return lose();
        if (err == -EPIPE) dropped_ += period_frames_;
        if (snd_pcm_recover(pcm_.get(), err, 1) < 0) return lose();
        if (direction_ == endpoint_direction::capture) (void)snd_pcm_start(pcm_.get());
        timing_.discontinuity = true;
        return device_status::ok;
    }
    // Where the stream is: frames handed to the PCM minus its delay (render), or taken plus the
    // delay (capture), at the PCM's timestamp (the monotonic clock; now when the PCM has none).
    void sample_timing() noexcept { // rt-safe: bounded
        const bool discontinuity = timing_.discontinuity;
        snd_pcm_sframes_t delay = 0;
        hns at = monotonic_now();
        if (status_ && snd_pcm_status(pcm_.get(), status_.get()) == 0) {
            delay = snd_pcm_status_get_delay(status_.get());
            snd_htimestamp_t stamp{};
            snd_pcm_status_get_htstamp(status_.get(), &stamp);
            if (stamp.tv_sec != 0 || stamp.tv_nsec != 0) at = hns{static_cast<std::int64_t>(stamp.tv_sec) * 10'000'000 + stamp.tv_nsec / 100};
        }
        const std::int64_t d = delay > 0 ? delay : 0;
        std::uint64_t position = 0;
        if (direction_ == endpoint_direction::render) {
            const std::uint64_t played = written_ > static_cast<std::uint64_t>(d) ? written_ - static_cast<std::uint64_t>(d) : 0;
            position = played > silence_frames_ ? played - silence_frames_ : 0;
        } else {
            position = read_ + static_cast<std::uint64_t>(d);
        }
        timing_ = {position, at, discontinuity};
    }

    pcm_handle pcm_;
    std::unique_ptr<snd_pcm_status_t, status_deleter> status_;
    std::array<pollfd, max_descriptors> descriptors_{};
    unsigned descriptor_count_ = 0;
    std::uint32_t buffer_frames_;
    // snd_pcm_writei/readi, or their mmap forms (mmap=1): the same contract, never waiting here.
    snd_pcm_sframes_t (*write_frames_)(snd_pcm_t*, const void*, snd_pcm_uframes_t);
    snd_pcm_sframes_t (*read_frames_)(snd_pcm_t*, void*, snd_pcm_uframes_t);
    std::uint64_t written_ = 0;        // render: frames handed to the PCM, the start's silence included
    std::uint64_t silence_frames_ = 0; // render: that silence
    std::uint64_t read_ = 0;           // capture: frames taken from the PCM
    std::uint64_t dropped_ = 0;
    bool lost_ = false;
    device_timing timing_{};
};

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_alsa_device(device_spec spec, endpoint_direction direction) {
    const std::string name = spec.target().empty() ? "default" : spec.target();
    const auto rate = spec.take_count("rate", 48000, min_sample_rate, max_sample_rate);
    if (!rate) return std::unexpected(rate.error());
    const auto channels = spec.take_count("channels", 2, 1, max_channels);
    if (!channels) return std::unexpected(channels.error());
    const auto sample = spec.take_sample_type("sample", sample_type::s16);
    if (!sample) return std::unexpected(sample.error());
    const auto period_ms = spec.take_number("period", 10, 0.5, 1000);
    if (!period_ms) return std::unexpected(period_ms.error());
    const auto periods = spec.take_count("periods", 2, 2, 64);
    if (!periods) return std::unexpected(periods.error());
    const auto paced = spec.take_flag("paced", true);
    if (!paced) return std::unexpected(paced.error());
    const auto mmap = spec.take_flag("mmap", false);
    if (!mmap) return std::unexpected(mmap.error());
    if (auto done = spec.finish(); !done) return std::unexpected(done.error());
    const frame_format wanted{*rate, static_cast<std::uint16_t>(*channels), *sample};
    const auto period_frames = static_cast<std::uint32_t>(std::max(1L, std::lround(*rate * *period_ms / 1000.0)));
    auto pcm = open_pcm(spec.text(), name, direction, wanted, period_frames, *periods, *mmap);
    if (!pcm) return std::unexpected(pcm.error());
    return std::make_unique<alsa_device>(spec.text(), direction, std::move(*pcm), *paced);
}

} // namespace ae::pipeline
