/* The C API from C: a context, a render and a capture endpoint driven through the ae_rt_* calls by
 * this thread as an event-driven engine, a format change at the barrier, events, errors. */
#define _GNU_SOURCE
#include <openae/openae.h>

#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                    \
        }                                                                  \
    } while (0)

static void wait_period(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
        uint64_t n;
        if (read(fd, &n, sizeof n) < 0) return;
    }
}

/* An asynchronous call's completion: its result, the thread it ran on, then a wake-up. */
typedef struct completion {
    int fd;
    int result;
    char thread[16];
} completion;

static void on_done(void* user_data, int result) {
    completion* c = (completion*)user_data;
    c->result = result;
    pthread_getname_np(pthread_self(), c->thread, sizeof c->thread);
    const uint64_t one = 1;
    if (write(c->fd, &one, sizeof one) < 0) c->result = -1;
}

/* Waits (bounded) for the completion; returns its result, or -2 when none came. */
static int wait_done(completion* c) {
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return -2;
    uint64_t n;
    if (read(c->fd, &n, sizeof n) < 0) return -2;
    return c->result;
}

/* Tops the render endpoint up with a sine in the pass's format; returns the RT errors. */
static int render_pass(ae_endpoint* ep, double* phase, uint32_t* epoch_seen) {
    int errors = 0;
    ae_position pos;
    const uint64_t padding = ae_rt_current_padding(ep, &pos);
    if (pos.flags != AE_POSITION_INVALID) *epoch_seen = pos.epoch;
    uint64_t space = ae_rt_buffer_frames(ep) - padding;
    ae_frame_format f;
    ae_rt_format(ep, &f);
    while (space > 0) {
        uint32_t frames = ae_rt_frames_per_packet(ep);
        if (frames > space) frames = (uint32_t)space;
        void* data = NULL;
        if (ae_rt_output_data_pointer(ep, frames, &data) != AE_OK) {
            ++errors;
            break;
        }
        for (uint32_t i = 0; i < frames; ++i) {
            const double v = 0.25 * sin(*phase);
            *phase += 2 * 3.141592653589793 * 440.0 / f.sample_rate;
            for (uint32_t c = 0; c < f.channels; ++c) {
                if (f.sample == AE_SAMPLE_F32) ((float*)data)[i * f.channels + c] = (float)v;
                if (f.sample == AE_SAMPLE_S16) ((int16_t*)data)[i * f.channels + c] = (int16_t)(v * 32767);
            }
        }
        ae_connection_property p = {data, frames, AE_BUFFER_VALID};
        if (ae_rt_release_output_data_pointer(ep, &p) != AE_OK) ++errors;
        space -= frames;
    }
    ae_rt_processing_complete(ep);
    return errors;
}

int main(void) {
    /* A log format it does not know: refused, no context. */
    ae_context_options unknown_format = {"off", NULL, "null", "yaml", 0};
    ae_context* refused = NULL;
    CHECK(ae_context_create(&unknown_format, &refused) == AE_ERR_BAD_ARGUMENT);
    CHECK(refused == NULL);
    CHECK(strcmp(ae_version(), "0.1.0") == 0);

    ae_context_options options = {"off", NULL, "null?period=5", "json", 0};
    ae_context* ctx = NULL;
    CHECK(ae_context_create(&options, &ctx) == AE_OK);
    if (!ctx) return 1;

    ae_endpoint_config bad = {NULL, NULL, {48000, 2, AE_SAMPLE_F32}, 50000, AE_ROUTING_FOLLOW_DEFAULT, 0};
    ae_endpoint* none = NULL;
    CHECK(ae_endpoint_create(ctx, AE_DIRECTION_RENDER, &bad, &none) == AE_ERR_BAD_ARGUMENT);
    bad.name = "bad";
    bad.device = "theremin";
    CHECK(ae_endpoint_create(ctx, AE_DIRECTION_RENDER, &bad, &none) == AE_ERR_DEVICE_UNAVAILABLE);
    bad.device = NULL;
    bad.format.sample = 9;
    CHECK(ae_endpoint_create(ctx, AE_DIRECTION_RENDER, &bad, &none) == AE_ERR_UNSUPPORTED_FORMAT);
    CHECK(strcmp(ae_error_name(AE_ERR_UNSUPPORTED_FORMAT), "unsupported_format") == 0);
    bad.format.sample = AE_SAMPLE_F32;
    bad.latency_coefficient = 65; /* the buffer is 1..64 periods */
    CHECK(ae_endpoint_create(ctx, AE_DIRECTION_RENDER, &bad, &none) == AE_ERR_BAD_ARGUMENT);

    ae_endpoint_config rc = {"c_render", "null?period=5", {48000, 2, AE_SAMPLE_F32}, 50000, AE_ROUTING_FOLLOW_DEFAULT, 6};
    ae_endpoint* render = NULL;
    CHECK(ae_endpoint_create(ctx, AE_DIRECTION_RENDER, &rc, &render) == AE_OK);
    ae_endpoint_config cc = {"c_capture", NULL, {48000, 1, AE_SAMPLE_S16}, 50000, AE_ROUTING_PINNED, 0};
    ae_endpoint* capture = NULL;
    CHECK(ae_endpoint_create(ctx, AE_DIRECTION_CAPTURE, &cc, &capture) == AE_OK);
    if (!render || !capture) return 1;

    const int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK(ae_endpoint_set_event_handle(render, efd) == AE_OK);
    CHECK(ae_endpoint_set_event_handle(capture, efd) == AE_OK);
    CHECK(ae_endpoint_set_buffer(render, 50000, 2) == AE_ERR_ALREADY_INITIALIZED);
    CHECK(ae_endpoint_start(render) == AE_OK);
    CHECK(ae_endpoint_start(render) == AE_ERR_ALREADY_RUNNING);
    CHECK(ae_endpoint_start(capture) == AE_OK);
    CHECK(ae_endpoint_state_of(render) == AE_STATE_RUNNING);
    CHECK(ae_endpoint_frames_per_packet(render) == 240);
    char device[64];
    CHECK(ae_endpoint_device(capture, device, sizeof device) == strlen("null?period=5"));
    CHECK(strcmp(device, "null?period=5") == 0);

    /* Direction mismatches are errors, never crashes. */
    void* data = NULL;
    CHECK(ae_rt_output_data_pointer(capture, 10, &data) == AE_ERR_BAD_ARGUMENT);
    ae_connection_property wrong = {NULL, 10, AE_BUFFER_INVALID};
    CHECK(ae_rt_input_data_pointer(render, &wrong, NULL) == AE_ERR_BAD_ARGUMENT);

    double phase = 0;
    uint32_t epoch_seen = 0;
    int rt_errors = 0;
    uint64_t captured = 0;
    int format_changed_at = -1;
    for (int pass = 0; pass < 200; ++pass) {
        rt_errors += render_pass(render, &phase, &epoch_seen);
        /* Capture: take what is there, packet by packet (bounded). */
        for (int packets = 0; packets < 16; ++packets) {
            const uint64_t ready = ae_rt_current_padding(capture, NULL);
            if (ready == 0) break;
            uint32_t n = ae_rt_frames_per_packet(capture);
            if (n > ready) n = (uint32_t)ready;
            ae_connection_property p = {NULL, n, AE_BUFFER_INVALID};
            if (ae_rt_input_data_pointer(capture, &p, NULL) != AE_OK) {
                ++rt_errors;
                break;
            }
            CHECK(p.buffer != NULL && p.valid_frames == n);
            if (ae_rt_release_input_data_pointer(capture, n, p.buffer) != AE_OK) ++rt_errors;
            captured += n;
        }
        ae_rt_processing_complete(capture);
        if (pass == 100) {
            const ae_frame_format s16 = {48000, 2, AE_SAMPLE_S16};
            CHECK(ae_endpoint_set_format(render, &s16) == AE_OK);
            format_changed_at = pass;
        }
        wait_period(efd);
    }
    CHECK(rt_errors == 0);
    CHECK(format_changed_at == 100);
    CHECK(epoch_seen == 2); /* the engine's passes ran in the new epoch */
    CHECK(ae_endpoint_epoch(render) == 2);
    CHECK(ae_endpoint_route_stage(render) == AE_ROUTE_ROUTED);
    ae_frame_format f;
    ae_endpoint_frame_format(render, &f);
    CHECK(f.sample == AE_SAMPLE_S16 && f.sample_rate == 48000 && f.channels == 2);
    /* Both device threads signal the one eventfd: 200 passes are about half a second. */
    CHECK(captured > 48000 / 4);
    uint64_t count = 99, frames = 99;
    CHECK(ae_endpoint_glitches(render, 6, &count, &frames) == AE_OK); /* dropped */
    CHECK(count == 0 && frames == 0);
    CHECK(ae_endpoint_glitches(render, 7, &count, &frames) == AE_ERR_BAD_ARGUMENT);
    /* The padding the control thread sampled over ~0.5 s of passes (a drain every 20 ms): the
     * histogram's counts add up to the samples, within the least and the most seen. */
    uint64_t histogram[AE_PADDING_BUCKETS] = {0};
    uint64_t samples = 0, least = 0, most = 0, in_buckets = 0;
    CHECK(ae_endpoint_padding(render, histogram, &samples, &least, &most) == AE_OK);
    for (int b = 0; b < AE_PADDING_BUCKETS; ++b) in_buckets += histogram[b];
    CHECK(samples > 5);
    CHECK(in_buckets == samples);
    CHECK(least <= most);
    CHECK(ae_rt_buffer_frames(render) == 6 * 240); /* latency_coefficient 6 (known once the RT view has run) */
    CHECK(most > 0 && most <= 6 * 240); /* at most the endpoint's buffer (6 x 5 ms at 48 kHz) */
    CHECK(ae_endpoint_padding(NULL, histogram, NULL, NULL, NULL) == AE_ERR_BAD_ARGUMENT);

    /* Events: state changes and the format change. Stopped first: a running endpoint nobody
     * renders for would go on reporting underruns. */
    CHECK(ae_endpoint_stop(render) == AE_OK);
    /* Stopped: a pre-fill is taken and kept (the device plays nothing of a stopped endpoint),
     * and reset discards it — the padding is 0 when it returns, the frames counted apart. */
    (void)ae_rt_current_padding(render, NULL);
    const uint64_t queued_before = ae_rt_current_padding(render, NULL);
    uint64_t discarded_before = 0;
    CHECK(ae_endpoint_discarded(render, &discarded_before) == AE_OK);
    const uint64_t room = ae_rt_buffer_frames(render) - queued_before;
    void* prefill = NULL;
    if (room > 0) {
        const uint32_t n = room < ae_rt_frames_per_packet(render) ? (uint32_t)room : ae_rt_frames_per_packet(render);
        CHECK(ae_rt_output_data_pointer(render, n, &prefill) == AE_OK);
        ae_connection_property silent = {prefill, n, AE_BUFFER_SILENT};
        CHECK(ae_rt_release_output_data_pointer(render, &silent) == AE_OK);
        CHECK(ae_rt_current_padding(render, NULL) == queued_before + n);
    }
    const uint64_t queued = ae_rt_current_padding(render, NULL);
    CHECK(ae_endpoint_reset(render) == AE_OK);
    CHECK(ae_rt_current_padding(render, NULL) == 0);
    uint64_t discarded = 0;
    CHECK(ae_endpoint_discarded(render, &discarded) == AE_OK);
    CHECK(discarded - discarded_before <= queued);
    CHECK(discarded - discarded_before + 240 >= queued); /* a period in progress at stop may have taken some */
    CHECK(ae_endpoint_discarded(NULL, &discarded) == AE_ERR_BAD_ARGUMENT);
    int states = 0, formats = 0;
    ae_event e;
    uint64_t missed = 0;
    while (ae_context_poll_event(ctx, &e, 0, &missed)) {
        if (e.kind == AE_EVENT_STATE_CHANGED) ++states;
        if (e.kind == AE_EVENT_FORMAT_CHANGED) {
            ++formats;
            CHECK(strcmp(e.endpoint, "c_render") == 0);
            CHECK(e.format.sample == AE_SAMPLE_S16);
            CHECK(e.epoch == 2);
        }
    }
    CHECK(states >= 5); /* stopped and running for each endpoint, and the render one stopped */
    CHECK(formats == 1);
    CHECK(missed == 0);

    CHECK(ae_endpoint_move_to(capture, "null?period=10") == AE_OK);
    CHECK(ae_endpoint_device(capture, device, sizeof device) == strlen("null?period=10"));
    /* The asynchronous forms: queued at once, completed on ae-ctl with the blocking form's result. */
    completion done = {eventfd(0, EFD_CLOEXEC), 99, ""};
    CHECK(ae_endpoint_move_to_async(capture, "null?period=5", on_done, &done) == AE_OK);
    CHECK(wait_done(&done) == AE_OK);
    CHECK(strcmp(done.thread, "ae-ctl") == 0);
    CHECK(ae_endpoint_device(capture, device, sizeof device) == strlen("null?period=5"));
    CHECK(ae_endpoint_move_to_async(capture, "theremin", on_done, &done) == AE_OK);
    CHECK(wait_done(&done) == AE_ERR_DEVICE_UNAVAILABLE);
    const ae_frame_format cd = {44100, 2, AE_SAMPLE_F32};
    CHECK(ae_endpoint_set_format_async(render, &cd, on_done, &done) == AE_OK); /* a resampler built off ae-ctl */
    CHECK(wait_done(&done) == AE_OK);
    ae_endpoint_frame_format(render, &f);
    CHECK(f.sample_rate == 44100 && f.sample == AE_SAMPLE_F32);
    CHECK(ae_endpoint_epoch(render) == 3);
    CHECK(ae_endpoint_set_buffer_async(render, 50000, 2, on_done, &done) == AE_OK);
    CHECK(wait_done(&done) == AE_ERR_ALREADY_INITIALIZED);
    CHECK(ae_endpoint_set_format_async(render, NULL, on_done, &done) == AE_ERR_BAD_ARGUMENT);
    CHECK(ae_endpoint_move_to_async(capture, "null", NULL, &done) == AE_ERR_BAD_ARGUMENT);
    close(done.fd);

    CHECK(ae_endpoint_stop(capture) == AE_OK);
    CHECK(ae_endpoint_stop(capture) == AE_ERR_NOT_RUNNING);
    CHECK(ae_endpoint_inject(render, "unplug") == AE_ERR_BAD_ARGUMENT); /* not a faulty device */
    CHECK(ae_endpoint_destroy(capture) == AE_OK);
    CHECK(ae_endpoint_destroy(render) == AE_OK);

    /* A bridge: a capture device feeding a render device, its figures, then gone. */
    ae_bridge_config bc;
    memset(&bc, 0, sizeof bc);
    bc.name = "b";
    bc.from = "null?period=5";
    bc.to = "null";
    CHECK(ae_bridge_create(ctx, &bc) == AE_OK);
    CHECK(ae_bridge_create(ctx, &bc) == AE_ERR_ALREADY_INITIALIZED);
    ae_bridge_status bs;
    CHECK(ae_bridge_status_of(ctx, "b", &bs) == AE_OK);
    CHECK(bs.latency >= 0 && bs.dropped_frames == 0);
    CHECK(ae_bridge_status_of(ctx, "nobody", &bs) == AE_ERR_UNKNOWN_ENDPOINT);
    bc.name = "c";
    bc.to = "theremin";
    CHECK(ae_bridge_create(ctx, &bc) == AE_ERR_DEVICE_UNAVAILABLE);
    CHECK(ae_bridge_destroy(ctx, "b") == AE_OK);
    CHECK(ae_bridge_destroy(ctx, "b") == AE_ERR_UNKNOWN_ENDPOINT);
    CHECK(ae_rdp_desktop_audio(ctx, 0) == AE_OK);
    CHECK(ae_rdp_desktop_audio(ctx, 0) == AE_ERR_BAD_ARGUMENT); /* already on */
    ae_context_destroy(ctx);
    close(efd);

    /* RDP: a session is attached by a host with its FreeRDP handles; none here. */
    char session[16];
    CHECK(ae_rdp_attach_session(NULL, NULL, "client", session, sizeof session) == AE_ERR_BAD_ARGUMENT);
    ae_rdp_detach_session("no such session");
    ae_rdp_detach_session(NULL);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C API: all checks passed\n");
    return 0;
}
