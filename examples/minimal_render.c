/* minimal_render.c — a context, a render endpoint on the default device, a 440 Hz sine for 2 s from
 * an event-driven engine loop, the position at the end. Build: cc minimal_render.c $(pkg-config
 * --cflags --libs openae) -lm. The loop below is the engine's real-time part: only ae_rt_* calls. */
#include <openae/openae.h>

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

int main(void) {
    ae_context* context = NULL;
    ae_endpoint* endpoint = NULL;
    const ae_context_options options = {"warn", NULL, NULL, NULL, 0}; /* warnings and errors only, to stderr; the default device */
    if (ae_context_create(&options, &context) != AE_OK) return 1;
    const ae_endpoint_config config = {"sine", NULL, {48000, 2, AE_SAMPLE_F32}, 100000 /* 10 ms */, AE_ROUTING_FOLLOW_DEFAULT, 2};
    int error = ae_endpoint_create(context, AE_DIRECTION_RENDER, &config, &endpoint);
    const int wake = eventfd(0, EFD_CLOEXEC);
    if (error == AE_OK) error = ae_endpoint_set_event_handle(endpoint, wake); /* signalled every period */
    if (error == AE_OK) error = ae_endpoint_start(endpoint);
    double phase = 0;
    uint64_t written = 0;
    ae_position position = {0};
    while (error == AE_OK && written < 2 * 48000) {
        struct pollfd p = {wake, POLLIN, 0};
        uint64_t ticks;
        if (poll(&p, 1, 1000) <= 0 || read(wake, &ticks, sizeof ticks) < 0) break; /* no period for 1 s */
        uint64_t room = ae_rt_buffer_frames(endpoint) - ae_rt_current_padding(endpoint, &position);
        while (error == AE_OK && room > 0) { /* in packets: a span holds at most frames_per_packet */
            const uint32_t frames = room < ae_rt_frames_per_packet(endpoint) ? (uint32_t)room : ae_rt_frames_per_packet(endpoint);
            float* out = NULL;
            error = ae_rt_output_data_pointer(endpoint, frames, (void**)&out);
            if (error != AE_OK) break;
            for (uint32_t i = 0; i < frames; ++i, phase += 2 * 3.14159265358979 * 440 / 48000) out[2 * i] = out[2 * i + 1] = (float)(0.2 * sin(phase));
            const ae_connection_property done = {out, frames, AE_BUFFER_VALID};
            error = ae_rt_release_output_data_pointer(endpoint, &done);
            room -= frames;
            written += frames;
        }
        ae_rt_processing_complete(endpoint);
    }
    char device[256] = "";
    if (endpoint) ae_endpoint_device(endpoint, device, sizeof device);
    printf("openae %s: %llu frames written to '%s'; position: %llu frames played, %llu queued, %.1f frames/s measured: %s\n",
           ae_version(), (unsigned long long)written, device, (unsigned long long)position.device_position,
           (unsigned long long)position.padding_frames, position.frames_per_second, error == AE_OK ? "ok" : ae_error_name(error));
    if (endpoint) ae_endpoint_destroy(endpoint);
    ae_context_destroy(context);
    close(wake);
    return error == AE_OK && written >= 2 * 48000 ? 0 : 1;
}
