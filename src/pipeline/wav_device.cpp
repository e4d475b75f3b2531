// The wav device: libsndfile behind a ring, so file I/O never runs on the device thread.
//
// An I/O thread ("ae-io-wav", not real-time) moves frames between the ring and the file; the
// device thread only copies into or out of the ring. Offline (realtime=0) the device thread's
// wait point waits for the I/O thread (room to write, frames to read); realtime=1 paces with a
// virtual clock and counts what the I/O thread could not keep up with as dropped frames.
#include <openae/pipeline/devices.h>
#include <openae/pipeline/virtual_clock.h>

#include "unique_fd.h"
#include "wav_open.h"

#include <openae/rt/errc.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/frame_ring.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/thread_name.h>

#include <sndfile.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <optional>
#include <thread>

namespace ae::pipeline {
namespace {

constexpr int io_poll_ms = 20;
constexpr std::uint32_t ring_periods = 64; // the I/O thread's slack, in device periods
// The I/O thread moves frames in pieces of a quarter of the ring (16 periods): one write or read
// call, and one wake-up, per 16 periods rather than per period (an offline render of 300 s made
// 23,000 small writes).
constexpr std::uint32_t io_chunk_periods = ring_periods / 4;

int subtype_of(sample_type type) noexcept {
    switch (type) {
    case sample_type::s16: return SF_FORMAT_PCM_16;
    case sample_type::s24: return SF_FORMAT_PCM_24;
    case sample_type::s32: return SF_FORMAT_PCM_32;
    case sample_type::f32: return SF_FORMAT_FLOAT;
    }
    return 0;
}

// The sample type whose bytes are exactly a little-endian WAV's samples of `format`, if any.
std::optional<sample_type> raw_type_of(int format) noexcept {
    const int container = format & SF_FORMAT_TYPEMASK;
    const bool little_endian_wav =
        (container == SF_FORMAT_WAV || container == SF_FORMAT_WAVEX || container == SF_FORMAT_RF64) &&
        (format & SF_FORMAT_ENDMASK) != SF_ENDIAN_BIG;
    if (!little_endian_wav) {
        return std::nullopt;
    }
    switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_16: return sample_type::s16;
    case SF_FORMAT_PCM_24: return sample_type::s24;
    case SF_FORMAT_PCM_32: return sample_type::s32;
    case SF_FORMAT_FLOAT: return sample_type::f32;
    default: return std::nullopt;
    }
}

// Waits up to `timeout_ms` for `fd` to be signalled and clears it.
void wait_signal(int fd, int timeout_ms) noexcept {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) > 0) {
        std::uint64_t count = 0;
        [[maybe_unused]] const auto got = ::read(fd, &count, sizeof count);
    }
}

class wav_device final : public device {
public:
    wav_device(std::string spec, endpoint_direction direction, const frame_format& format, std::uint32_t period_frames,
               bool realtime, std::string path, SNDFILE* file, bool raw)
        : device(std::move(spec), direction, format, period_frames, realtime), path_(std::move(path)), file_(file),
          raw_(raw), data_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), space_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
          clock_({.rate = static_cast<double>(format.sample_rate), .period_frames = period_frames}) {}

    ~wav_device() override {
        stop();
        if (file_) sf_close(file_);
    }

    std::expected<void, device_error> start() override {
        if (data_fd_.get() < 0 || space_fd_.get() < 0) return fail(errc::io_error, "cannot create eventfds");
        auto ring = frame_ring::create(std::uint64_t{period_frames_} * ring_periods, format_.bytes_per_frame());
        if (!ring) return fail(errc::io_error, "cannot create the I/O ring: " + ring.error().message());
        ring_ = std::move(*ring);
        auto [writer, reader] = ring_.split();
        writer_ = std::move(writer);
        reader_ = std::move(reader);
        stopping_.store(false);
        clock_.start(monotonic_now());
        io_thread_ = std::thread([this] { run_io(); });
        return {};
    }

    void stop() noexcept override {
        if (!io_thread_.joinable()) return;
        stopping_.store(true, std::memory_order_release);
        signal_eventfd(data_fd_.get());
        io_thread_.join();
        if (file_ && direction_ == endpoint_direction::render) {
            // The file is complete when stop() returns: its header's sizes written now, not when
            // the device is destroyed (sf_close) — a destroy is answered once stop() is done, and
            // the client may read the file before the device object goes.
            sf_command(file_, SFC_UPDATE_HEADER_NOW, nullptr, 0);
            sf_write_sync(file_);
        }
    }

    device_status wait_period() noexcept override { // rt-safe: bounded
        if (io_failed_.load(std::memory_order_acquire)) return device_status::lost;
        if (realtime_) {
            const device_timing at = clock_.wait_next();
            timing_ = {position_, at.time, false};
            return device_status::ok;
        }
        // Offline: wait until the I/O thread has made room (render) or read ahead (capture).
        while (!stopping_.load(std::memory_order_acquire) && !io_failed_.load(std::memory_order_acquire)) {
            if (direction_ == endpoint_direction::render ? writer_.free_frames() >= period_frames_
                                                       : reader_.available_frames() >= period_frames_ ||
                                                             eof_.load(std::memory_order_acquire)) {
                break;
            }
            wait_signal(space_fd_.get(), io_poll_ms);
        }
        // Offline devices have no wall clock: they publish stream time.
        timing_ = {position_, hns{static_cast<std::int64_t>(std::llround(1e7 * static_cast<double>(position_) / format_.sample_rate))},
                   false};
        return io_failed_.load(std::memory_order_acquire) ? device_status::lost : device_status::ok;
    }

    device_status play(const std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        const std::uint64_t room = writer_.free_frames();
        const std::uint64_t queued_before = writer_.capacity_frames() - room;
        const auto fitting = static_cast<std::uint32_t>(room < frames ? room : frames);
        if (fitting > 0) {
            std::memcpy(writer_.try_acquire(fitting), data, std::size_t{fitting} * format_.bytes_per_frame());
            writer_.commit(fitting);
        }
        if (fitting < frames) dropped_.fetch_add(frames - fitting, std::memory_order_relaxed);
        position_ += frames;
        // The I/O thread writes whole chunks: woken when one is there (once, as the queue grows
        // past a chunk; it writes all there is when it wakes).
        if (queued_before < io_chunk_frames() && queued_before + fitting >= io_chunk_frames()) signal_eventfd(data_fd_.get());
        return device_status::ok;
    }

    device_status record(std::byte* data, std::uint32_t frames) noexcept override { // rt-safe: bounded
        const std::uint64_t ready = reader_.available_frames();
        const auto got = static_cast<std::uint32_t>(ready < frames ? ready : frames);
        const std::size_t bytes_per_frame = format_.bytes_per_frame();
        if (got > 0) {
            std::memcpy(data, reader_.try_acquire(got), std::size_t{got} * bytes_per_frame);
            reader_.commit(got);
            // The I/O thread reads whole chunks: woken when there is room for one.
            if (reader_.capacity_frames() - reader_.available_frames() >= io_chunk_frames()) signal_eventfd(data_fd_.get());
        }
        position_ += frames;
        last_record_frames_ = frames;
        if (got < frames) {
            std::memset(data + std::size_t{got} * bytes_per_frame, 0, std::size_t{frames - got} * bytes_per_frame);
            last_record_frames_ = got;
            // acquire: eof is set after the last frames were committed.
            if (eof_.load(std::memory_order_acquire) && reader_.available_frames() == 0) return device_status::end_of_stream;
            dropped_.fetch_add(frames - got, std::memory_order_relaxed);
        }
        return device_status::ok;
    }

    device_timing timing() const noexcept override { return timing_; } // rt-safe: wait-free
    std::uint64_t device_dropped_frames() const noexcept override { return dropped_.load(std::memory_order_relaxed); }

private:
    std::unexpected<device_error> fail(errc code, const std::string& why) const {
        return std::unexpected(device_error{make_error_code(code), "wav '" + path_ + "': " + why});
    }

    // The I/O thread: moves frames between the ring and the file until stopped.
    void run_io() noexcept {
        set_current_thread_name("ae-io-wav");
        // It feeds or drains a device thread that will not wait for it (paced; offline devices
        // get no helper priority): a step below that thread's priority where allowed.
        if (helper_priority() > 0) (void)try_set_realtime_priority(helper_priority());
        const bool render = direction_ == endpoint_direction::render;
        for (;;) {
            const bool stopping = stopping_.load(std::memory_order_acquire);
            const bool progressed = render ? drain_to_file(stopping) : fill_from_file();
            if (progressed) signal_eventfd(space_fd_.get());
            if (stopping && (!render || reader_.available_frames() == 0)) break;
            if (!render && eof_.load(std::memory_order_relaxed)) {
                if (stopping) break;
                wait_signal(data_fd_.get(), io_poll_ms);
                continue;
            }
            if (!progressed) wait_signal(data_fd_.get(), io_poll_ms);
        }
    }

    [[nodiscard]] std::uint64_t io_chunk_frames() const noexcept { return std::uint64_t{period_frames_} * io_chunk_periods; }

    // Writes what the ring holds, once it holds a chunk (everything when stopping).
    bool drain_to_file(bool stopping) noexcept {
        const std::uint64_t ready = reader_.available_frames();
        if (ready == 0 || (ready < io_chunk_frames() && !stopping)) return false;
        const auto frames = static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, reader_.capacity_frames()));
        const std::byte* data = reader_.try_acquire(frames);
        const auto bytes = static_cast<sf_count_t>(std::size_t{frames} * format_.bytes_per_frame());
        if (sf_write_raw(file_, data, bytes) != bytes) io_failed_.store(true, std::memory_order_release);
        reader_.commit(frames);
        return true;
    }

    bool fill_from_file() noexcept {
        const std::uint64_t room = writer_.free_frames();
        if (room < io_chunk_frames() || eof_.load(std::memory_order_relaxed)) return false;
        const auto frames = static_cast<std::uint32_t>(room);
        std::byte* span = writer_.try_acquire(frames);
        sf_count_t got = 0;
        if (raw_) {
            const sf_count_t bytes = sf_read_raw(file_, span, static_cast<sf_count_t>(std::size_t{frames} * format_.bytes_per_frame()));
            got = bytes < 0 ? 0 : bytes / format_.bytes_per_frame();
        } else {
            got = sf_readf_float(file_, reinterpret_cast<float*>(span), frames);
            if (got < 0) got = 0;
        }
        if (got > 0) writer_.commit(static_cast<std::uint32_t>(got));
        // release: the last frames are visible before the device sees eof.
        if (got < frames) eof_.store(true, std::memory_order_release);
        return got > 0 || eof_.load(std::memory_order_relaxed);
    }

    std::string path_;
    SNDFILE* file_;
    bool raw_;
    unique_fd data_fd_;  // device → I/O thread: frames written (render) or room made (capture)
    unique_fd space_fd_; // I/O thread → device: room made (render) or frames read (capture)
    frame_ring ring_;
    frame_ring_writer writer_;
    frame_ring_reader reader_;
    std::thread io_thread_;
    // order: release/acquire — the I/O thread's last writes to the ring are seen with eof_ and
    // io_failed_; stopping_ is seen after the device thread's last frames.
    std::atomic<bool> stopping_{false};
    std::atomic<bool> eof_{false};
    std::atomic<bool> io_failed_{false};
    // order: relaxed — a count.
    std::atomic<std::uint64_t> dropped_{0};
    virtual_clock clock_;
    std::uint64_t position_ = 0;
    device_timing timing_{};
};

} // namespace

std::expected<std::unique_ptr<device>, device_error> make_wav_device(device_spec spec, endpoint_direction direction) {
    const std::string path = spec.target();
    auto fail = [&](errc code, const std::string& why) {
        return std::unexpected(device_error{make_error_code(code), "wav '" + path + "': " + why});
    };
    if (path.empty()) return fail(errc::bad_argument, "no file name (wav:PATH)");
    const auto realtime = spec.take_flag("realtime", false);
    if (!realtime) return std::unexpected(realtime.error());
    // Offline, a period is only the block the device thread works in: 40 ms blocks cost a
    // quarter of the per-period work of 10 ms ones (300 s rendered: 0.42 s wall against 0.50).
    const auto period_ms = spec.take_number("period", *realtime ? 10 : 40, 0.5, 1000);
    if (!period_ms) return std::unexpected(period_ms.error());

    frame_format format;
    SNDFILE* file = nullptr;
    bool raw = true;
    if (direction == endpoint_direction::render) {
        const auto rate = spec.take_count("rate", 48000, 8000, 384000);
        if (!rate) return std::unexpected(rate.error());
        const auto channels = spec.take_count("channels", 2, 1, max_channels);
        if (!channels) return std::unexpected(channels.error());
        const auto sample = spec.take_sample_type("sample", sample_type::s16);
        if (!sample) return std::unexpected(sample.error());
        if (auto done = spec.finish(); !done) return std::unexpected(done.error());
        format = {*rate, static_cast<std::uint16_t>(*channels), *sample};
        SF_INFO info{};
        info.samplerate = static_cast<int>(*rate);
        info.channels = static_cast<int>(*channels);
        info.format = SF_FORMAT_WAV | subtype_of(*sample);
        file = sf_open(path.c_str(), SFM_WRITE, &info);
        if (!file) return fail(errc::device_unavailable, std::string("cannot create: ") + sf_strerror(nullptr));
    } else {
        if (auto done = spec.finish(); !done) return std::unexpected(done.error());
        auto opened = open_wav_for_reading(path);
        if (!opened) return std::unexpected(device_error{opened.error().code, "wav '" + path + "': " + opened.error().message});
        file = opened->file;
        const SF_INFO& info = opened->info;
        const auto raw_type = raw_type_of(info.format);
        raw = raw_type.has_value();
        // Encodings openae does not carry (ulaw, ADPCM, 8-bit...) are decoded by libsndfile to f32.
        format = {static_cast<std::uint32_t>(info.samplerate), static_cast<std::uint16_t>(info.channels),
                  raw_type.value_or(sample_type::f32)};
    }
    const auto period_frames = static_cast<std::uint32_t>(std::max(1L, std::lround(format.sample_rate * *period_ms / 1000.0)));
    return std::make_unique<wav_device>(spec.text(), direction, format, period_frames, *realtime, path, file, raw);
}

} // namespace ae::pipeline
