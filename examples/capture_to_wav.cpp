// capture_to_wav.cpp — a capture endpoint into a WAV file, its discontinuities reported. The RT
// thread drains the endpoint each period into a preallocated buffer (no allocation, lock or I/O
// there) and notes where the stream was discontinuous; the main thread writes the file at the end.
//   capture_to_wav [DEVICE [SECONDS [OUT.wav]]]   (DEVICE: a device spec; "" is the default device)
// Build: c++ -std=c++23 capture_to_wav.cpp $(pkg-config --cflags --libs openae)
#include <openae/openae.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace {

struct recording {
    std::vector<float> samples;               // allocated before the RT thread starts
    std::atomic<std::uint64_t> frames{0};     // written by the RT thread
    std::array<std::uint64_t, 16> discontinuities{}; // stream frames where the capture jumped
    std::atomic<std::uint32_t> discontinuity_count{0};
};

void capture(ae::capture_endpoint_rt& rt, int wake, const std::atomic<bool>& running, recording& out) {
    ae::set_current_thread_name("ae-rt-capture");
    const std::uint32_t channels = rt.format().channels;
    const std::uint64_t capacity = out.samples.size() / channels;
    while (running.load(std::memory_order_relaxed)) {
        pollfd p{wake, POLLIN, 0};
        std::uint64_t ticks = 0;
        if (poll(&p, 1, 100) <= 0 || read(wake, &ticks, sizeof ticks) < 0) continue;
        for (int packets = 0; packets < 64; ++packets) {
            const std::uint64_t ready = rt.current_padding();
            if (ready == 0) break;
            // In: how many frames to take (a packet at most); out: the frames, their count, flags.
            ae::connection_property packet{nullptr, static_cast<std::uint32_t>(std::min<std::uint64_t>(ready, rt.frames_per_packet())),
                                           ae::buffer_flags::invalid};
            ae::position stamp;
            if (rt.input_data_pointer(packet, &stamp) != ae::errc{}) break;
            const std::uint64_t at = out.frames.load(std::memory_order_relaxed);
            if ((stamp.flags & ae::position_flags::discontinuous) != ae::position_flags::invalid && at > 0) {
                const std::uint32_t n = out.discontinuity_count.load(std::memory_order_relaxed);
                if (n < out.discontinuities.size()) out.discontinuities[n] = at;
                out.discontinuity_count.store(n + 1, std::memory_order_relaxed);
            }
            const std::uint64_t take = std::min<std::uint64_t>(packet.valid_frames, capacity - at);
            if (packet.flags == ae::buffer_flags::silent) {
                std::memset(&out.samples[at * channels], 0, sizeof(float) * take * channels);
            } else {
                std::memcpy(&out.samples[at * channels], packet.buffer, sizeof(float) * take * channels);
            }
            rt.release_input_data_pointer(packet.valid_frames, packet.buffer);
            out.frames.store(at + take, std::memory_order_release);
        }
        rt.processing_complete();
    }
}

// A 32-bit float WAV (WAVE_FORMAT_IEEE_FLOAT), written in one go.
bool write_wav(const std::string& path, const float* samples, std::uint64_t frames, std::uint32_t rate, std::uint16_t channels) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const auto data_bytes = static_cast<std::uint32_t>(frames * channels * 4);
    auto u32 = [f](std::uint32_t v) { std::fwrite(&v, 4, 1, f); };
    auto u16 = [f](std::uint16_t v) { std::fwrite(&v, 2, 1, f); };
    std::fwrite("RIFF", 1, 4, f), u32(36 + data_bytes), std::fwrite("WAVEfmt ", 1, 8, f), u32(16);
    u16(3), u16(channels), u32(rate), u32(rate * channels * 4), u16(static_cast<std::uint16_t>(channels * 4)), u16(32);
    std::fwrite("data", 1, 4, f), u32(data_bytes);
    const bool ok = std::fwrite(samples, 4, frames * channels, f) == frames * channels;
    return std::fclose(f) == 0 && ok;
}

} // namespace

int main(int argc, char** argv) {
    const std::string device = argc > 1 ? argv[1] : "";
    const double seconds = argc > 2 ? std::stod(argv[2]) : 2.0;
    const std::string path = argc > 3 ? argv[3] : "capture.wav";
    ae::context_options options;
    options.log_level = "warn";
    ae::context context(options);
    ae::endpoint_config config;
    config.name = "mic";
    config.device = device;
    config.format = {48'000, 2, ae::sample_type::f32};
    config.period = std::chrono::milliseconds(10);
    // A file has no use for low latency: 10 periods (100 ms) ride out an RT thread held up by a
    // busy machine, where 2 would overrun (a discontinuity in the file).
    config.latency_coefficient = 10;
    auto endpoint = context.create_capture_endpoint(config);
    if (!endpoint) return std::fprintf(stderr, "create: %s\n", endpoint.error().message().c_str()), 1;
    recording rec;
    rec.samples.resize(static_cast<std::size_t>(seconds * 48'000) * 2);
    const int wake = eventfd(0, EFD_CLOEXEC);
    if (auto ec = endpoint->set_event_handle(wake); ec) return std::fprintf(stderr, "set_event_handle: %s\n", ec.message().c_str()), 1;
    if (auto ec = endpoint->start(); ec) return std::fprintf(stderr, "start: %s\n", ec.message().c_str()), 1;
    std::atomic<bool> running{true};
    std::thread rt_thread(capture, std::ref(endpoint->rt()), wake, std::cref(running), std::ref(rec));
    const std::uint64_t wanted = rec.samples.size() / 2;
    // The main thread only waits (bounded: twice the duration); a host would do its own work here.
    for (int i = 0; i < static_cast<int>(seconds * 200) && rec.frames.load(std::memory_order_acquire) < wanted; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    running = false;
    rt_thread.join();
    (void)endpoint->stop();
    const std::uint64_t frames = rec.frames.load();
    const bool written = write_wav(path, rec.samples.data(), frames, 48'000, 2);
    std::printf("captured %llu frames from '%s' into %s%s; %u discontinuities", static_cast<unsigned long long>(frames),
                endpoint->device().c_str(), path.c_str(), written ? "" : " (NOT WRITTEN)", rec.discontinuity_count.load());
    for (std::uint32_t i = 0; i < std::min<std::uint32_t>(rec.discontinuity_count.load(), 16); ++i)
        std::printf("%s%llu", i == 0 ? " at frames " : ", ", static_cast<unsigned long long>(rec.discontinuities[i]));
    std::printf("\n");
    (void)context.destroy("mic");
    close(wake);
    return written && frames == wanted ? 0 : 1;
}
