// The PipeWire side of the small-quantum comparison (issue 12): one plain playback stream, what
// pw-play would be without a file — `PW_STREAM_FLAG_RT_PROCESS`, silence written in `process` on
// PipeWire's data thread (SCHED_FIFO through client-rt.conf, as openae's), connected to TARGET at LATENCY frames. Counts the graph's cycles that
// ran without it the way openae's PipeWire device does (the graph's ticks moving past the stream,
// from `pw_stream_get_time_n`), so the two figures compare. A second line gives how long its
// process callbacks took (bench/callback_timer.h).
//
//   pw_client TARGET PERIOD SECONDS
#include "callback_timer.h"

#include <pipewire/pipewire.h>
#include <spa/param/audio/format-utils.h>

#include <sys/mman.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct client {
    ae::bench::callback_timer callback_time;
    pw_stream* stream = nullptr;
    std::uint64_t next_ticks = 0;
    bool have_ticks = false;
    std::atomic<std::uint64_t> cycles{0};
    std::atomic<std::uint64_t> missed_frames{0}; // the graph's frames that went by without a cycle of ours
    std::atomic<std::uint64_t> missed_runs{0};   // how many times that happened
    std::atomic<std::uint64_t> no_buffer{0};
};

void on_process(void* data) {
    auto* c = static_cast<client*>(data);
    c->callback_time.begin();
    pw_buffer* buffer = pw_stream_dequeue_buffer(c->stream);
    std::uint32_t frames = 0;
    if (buffer == nullptr || buffer->buffer->datas[0].data == nullptr) {
        c->no_buffer.fetch_add(1, std::memory_order_relaxed);
    } else {
        spa_data& d = buffer->buffer->datas[0];
        const std::uint32_t stride = 2 * sizeof(float);
        frames = std::min<std::uint32_t>(d.maxsize / stride, buffer->requested != 0 ? static_cast<std::uint32_t>(buffer->requested) : d.maxsize / stride);
        std::memset(d.data, 0, std::size_t{frames} * stride);
        d.chunk->offset = 0;
        d.chunk->stride = static_cast<std::int32_t>(stride);
        d.chunk->size = frames * stride;
    }
    pw_time time{};
    if (frames != 0 && pw_stream_get_time_n(c->stream, &time, sizeof time) == 0 && time.rate.denom != 0 && time.now != 0) {
        if (c->have_ticks && time.ticks > c->next_ticks) {
            c->missed_frames.fetch_add(time.ticks - c->next_ticks, std::memory_order_relaxed);
            c->missed_runs.fetch_add(1, std::memory_order_relaxed);
        }
        c->have_ticks = true;
        // Graph ticks at 48 kHz, the stream's own rate here: a cycle of `frames` moves them as much.
        c->next_ticks = time.ticks + frames;
    }
    c->cycles.fetch_add(1, std::memory_order_relaxed);
    if (buffer != nullptr) pw_stream_queue_buffer(c->stream, buffer);
    c->callback_time.end();
}

const pw_stream_events stream_events = [] {
    pw_stream_events e{};
    e.version = PW_VERSION_STREAM_EVENTS;
    e.process = on_process;
    return e;
}();

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: pw_client TARGET PERIOD SECONDS\n");
        return 2;
    }
    const std::string target = argv[1];
    const std::string latency = std::string(argv[2]) + "/48000";
    const double seconds = std::atof(argv[3]);
    const bool locked = ::mlockall(MCL_CURRENT | MCL_FUTURE) == 0;
    // PipeWire's client-rt.conf, as openae's device loads it (pipewire_init.h): its module-rt gives
    // the data thread SCHED_FIFO. Without it (client.conf) the reference ran at normal priority.
    ::setenv("PIPEWIRE_CONFIG_NAME", "client-rt.conf", 0);
    pw_init(&argc, &argv);
    pw_thread_loop* loop = pw_thread_loop_new("pw-client", nullptr);
    client c;
    pw_properties* props = pw_properties_new(PW_KEY_MEDIA_TYPE, "Audio", PW_KEY_MEDIA_CATEGORY, "Playback", PW_KEY_MEDIA_ROLE,
                                             "Music", PW_KEY_NODE_LATENCY, latency.c_str(), PW_KEY_TARGET_OBJECT, target.c_str(),
                                             PW_KEY_NODE_NAME, "pw_client_reference", nullptr);
    pw_thread_loop_lock(loop);
    c.stream = pw_stream_new_simple(pw_thread_loop_get_loop(loop), "pw_client_reference", props, &stream_events, &c);
    std::uint8_t pod_buffer[1024];
    spa_pod_builder builder = SPA_POD_BUILDER_INIT(pod_buffer, sizeof pod_buffer);
    spa_audio_info_raw info{};
    info.format = SPA_AUDIO_FORMAT_F32;
    info.rate = 48000;
    info.channels = 2;
    info.position[0] = SPA_AUDIO_CHANNEL_FL;
    info.position[1] = SPA_AUDIO_CHANNEL_FR;
    const spa_pod* params[1] = {spa_format_audio_raw_build(&builder, SPA_PARAM_EnumFormat, &info)};
    const int connected = pw_stream_connect(c.stream, PW_DIRECTION_OUTPUT, PW_ID_ANY,
                                            static_cast<pw_stream_flags>(PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS |
                                                                         PW_STREAM_FLAG_RT_PROCESS),
                                            params, 1);
    pw_thread_loop_unlock(loop);
    if (connected < 0 || pw_thread_loop_start(loop) < 0) {
        std::fprintf(stderr, "pw_client: cannot connect a stream to %s\n", target.c_str());
        return 1;
    }
    timespec pause{static_cast<time_t>(seconds), static_cast<long>((seconds - static_cast<double>(static_cast<time_t>(seconds))) * 1e9)};
    while (nanosleep(&pause, &pause) != 0) {
    }
    pw_thread_loop_lock(loop);
    pw_stream_disconnect(c.stream);
    pw_thread_loop_unlock(loop);
    pw_thread_loop_stop(loop);
    pw_stream_destroy(c.stream);
    pw_thread_loop_destroy(loop);
    std::printf("target %s latency %s seconds %.0f mlock %s | cycles %llu missed_frames %llu missed_runs %llu no_buffer %llu\n",
                target.c_str(), latency.c_str(), seconds, locked ? "yes" : "no", static_cast<unsigned long long>(c.cycles.load()),
                static_cast<unsigned long long>(c.missed_frames.load()), static_cast<unsigned long long>(c.missed_runs.load()),
                static_cast<unsigned long long>(c.no_buffer.load()));
    c.callback_time.print("reference");
    pw_deinit();
    return 0;
}
