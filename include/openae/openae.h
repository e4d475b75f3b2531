/* openae — the C API, for hosts in any language. Value types and error codes of the endpoint
 * contract (docs/contract.md) with the same layout as their C++ counterparts in <openae/openae.hpp>;
 * opaque handles onto an ae::context (the control thread "ae-ctl", devices, logs) and its endpoints.
 *
 * Functions named ae_rt_* are the engine's real-time calls: no allocation, lock, blocking syscall or
 * log — call them from the engine's RT thread. Every other function is a control call: it may
 * block (a round trip through "ae-ctl") and must not be called from an RT thread.
 * Functions returning int return 0 (AE_OK) or an ae_error. */
#ifndef OPENAE_OPENAE_H
#define OPENAE_OPENAE_H
#pragma GCC visibility push(default) /* libopenae exports what its public headers declare */

/* The ae_rt_* calls never throw: noexcept for C++ callers (and for openae's own definitions). */
#ifdef __cplusplus
#define AE_RT_NOEXCEPT noexcept
#else
#define AE_RT_NOEXCEPT
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t ae_hns; /* 100 ns units (HNSTIME) */

typedef enum ae_sample_type { AE_SAMPLE_S16 = 1, AE_SAMPLE_S24 = 2, AE_SAMPLE_S32 = 3, AE_SAMPLE_F32 = 4 } ae_sample_type;

typedef struct ae_frame_format {
    uint32_t sample_rate;
    uint16_t channels;
    uint8_t sample; /* ae_sample_type */
} ae_frame_format;

enum {
    AE_POSITION_INVALID = 0,
    AE_POSITION_DISCONTINUOUS = 1,
    AE_POSITION_CONTINUOUS = 2,
    AE_POSITION_TIME_ERROR = 4
};

typedef struct ae_position {
    uint64_t device_position;
    uint64_t stream_position;
    uint64_t padding_frames;
    ae_hns time;
    float frames_per_second;
    uint32_t flags; /* AE_POSITION_* */
    uint32_t epoch;
    ae_hns time_error;
} ae_position;

enum { AE_BUFFER_INVALID = 0, AE_BUFFER_VALID = 1, AE_BUFFER_SILENT = 2 };

typedef struct ae_connection_property {
    void* buffer;
    uint32_t valid_frames;
    uint32_t flags; /* AE_BUFFER_* */
} ae_connection_property;

enum { AE_STREAM_FLAGS_NONE = 0, AE_STREAM_FLAGS_EVENT_CALLBACK = 0x00040000 };

/* Error codes: 0 is success; the others match ae::errc. */
typedef enum ae_error {
    AE_OK = 0,
    AE_ERR_NOT_INITIALIZED = 1,
    AE_ERR_ALREADY_INITIALIZED,
    AE_ERR_NOT_RUNNING,
    AE_ERR_ALREADY_RUNNING,
    AE_ERR_BAD_ARGUMENT,
    AE_ERR_TOO_MANY_FRAMES,
    AE_ERR_UNSUPPORTED_FORMAT,
    AE_ERR_DEVICE_UNAVAILABLE,
    AE_ERR_DEVICE_LOST,
    AE_ERR_TIMEOUT,
    AE_ERR_BUSY,
    AE_ERR_UNKNOWN_ENDPOINT,
    AE_ERR_BAD_REQUEST,
    AE_ERR_IO_ERROR,
    AE_ERR_WRONG_THREAD
} ae_error;

/* A short stable name for `error` ("busy", "not_running", ...). */
const char* ae_error_name(int error);

/* openae's version, "MAJOR.MINOR.PATCH" (the library's, not the headers'). */
const char* ae_version(void);

/* ---- control side ---------------------------------------------------------------------- */

typedef struct ae_context ae_context;
typedef struct ae_endpoint ae_endpoint;

typedef enum ae_direction { AE_DIRECTION_RENDER = 0, AE_DIRECTION_CAPTURE = 1 } ae_direction;
typedef enum ae_routing_policy { AE_ROUTING_FOLLOW_DEFAULT = 0, AE_ROUTING_PINNED = 1, AE_ROUTING_FAIL = 2 } ae_routing_policy;
typedef enum ae_endpoint_state {
    AE_STATE_CREATED = 0,
    AE_STATE_STOPPED = 1,
    AE_STATE_RUNNING = 2,
    AE_STATE_ERROR = 3
} ae_endpoint_state;
/* Where an endpoint's route is after a device loss (docs/DESIGN.md, "Device loss"). */
typedef enum ae_route_stage {
    AE_ROUTE_ROUTED = 0,
    AE_ROUTE_LOST = 1,
    AE_ROUTE_HELD_DOWN = 2,
    AE_ROUTE_REOPENING = 3,
    AE_ROUTE_SWITCHING = 4,
    AE_ROUTE_REROUTED = 5,
    AE_ROUTE_FAILED = 6
} ae_route_stage;

typedef struct ae_context_options {
    const char* log_level;      /* NULL: "info" */
    const char* log_file;       /* NULL or "": stderr */
    const char* default_device; /* NULL: "auto" (PipeWire, else JACK, else ALSA default, else null) */
    const char* log_format;     /* NULL or "auto": readable lines on a terminal, JSON lines otherwise; "text"; "json" */
    int watch_devices;          /* non-zero: AE_EVENT_DEVICE_ADDED / _REMOVED as devices come and go (PipeWire) */
} ae_context_options;

typedef struct ae_endpoint_config {
    const char* name;           /* unique within the context */
    const char* device;         /* a device spec; NULL or "": the default device */
    ae_frame_format format;
    ae_hns period;              /* non-zero: set_buffer(period, latency_coefficient) at creation */
    int routing;                /* ae_routing_policy */
    uint32_t latency_coefficient; /* the buffer in periods, 1..64; 0: 2 */
} ae_endpoint_config;

/* `options` may be NULL. */
int ae_context_create(const ae_context_options* options, ae_context** out);
/* Stops every endpoint and device, then the control thread. Endpoint handles must be freed first. */
void ae_context_destroy(ae_context* context);

int ae_endpoint_create(ae_context* context, int direction, const ae_endpoint_config* config, ae_endpoint** out);
/* Stops and removes the endpoint and frees the handle. */
int ae_endpoint_destroy(ae_endpoint* endpoint);

int ae_endpoint_set_buffer(ae_endpoint* endpoint, ae_hns max_period, uint32_t latency_coefficient);
int ae_endpoint_set_stream_flags(ae_endpoint* endpoint, uint32_t flags);
int ae_endpoint_set_event_handle(ae_endpoint* endpoint, int eventfd);
int ae_endpoint_start(ae_endpoint* endpoint);
int ae_endpoint_stop(ae_endpoint* endpoint);
/* Discards what is queued: when it returns AE_OK the RT side's padding is 0 (render: the device
 * thread has dropped the queue; capture: the engine's next call drops it). Only while stopped
 * (AE_ERR_ALREADY_RUNNING otherwise). Not a glitch: see ae_endpoint_discarded. A stopped render
 * endpoint keeps its queue and takes new frames (pre-fill): they play from the first period after
 * ae_endpoint_start. */
int ae_endpoint_reset(ae_endpoint* endpoint);
int ae_endpoint_set_format(ae_endpoint* endpoint, const ae_frame_format* format);
int ae_endpoint_set_period(ae_endpoint* endpoint, ae_hns period);
/* Completes when the endpoint plays on `device`. */
int ae_endpoint_move_to(ae_endpoint* endpoint, const char* device);
/* Asynchronous forms of the calls that can take milliseconds (a chain built, a device opened):
 * AE_OK means queued, and `done(user_data, result)` is then called exactly once with what the
 * blocking form would have returned; any other return value means not queued (no call). `done`
 * runs on the control thread (ae-ctl): it must return quickly and must not call a blocking
 * ae_endpoint_* or ae_context_* function (those are refused there with AE_ERR_WRONG_THREAD). */
typedef void (*ae_completion)(void* user_data, int result);
int ae_endpoint_set_buffer_async(ae_endpoint* endpoint, ae_hns max_period, uint32_t latency_coefficient, ae_completion done,
                                 void* user_data);
int ae_endpoint_set_format_async(ae_endpoint* endpoint, const ae_frame_format* format, ae_completion done, void* user_data);
int ae_endpoint_move_to_async(ae_endpoint* endpoint, const char* device, ae_completion done, void* user_data);
/* A fault for a faulty device ("unplug", "stall:MS", ...). */
int ae_endpoint_inject(ae_endpoint* endpoint, const char* fault);

void ae_endpoint_frame_format(const ae_endpoint* endpoint, ae_frame_format* out);
uint32_t ae_endpoint_frames_per_packet(const ae_endpoint* endpoint);
ae_hns ae_endpoint_latency(const ae_endpoint* endpoint);
int ae_endpoint_state_of(const ae_endpoint* endpoint); /* ae_endpoint_state */
uint32_t ae_endpoint_epoch(const ae_endpoint* endpoint);
int ae_endpoint_route_stage(const ae_endpoint* endpoint); /* ae_route_stage */
/* The device it actually plays on, as a spec; returns the length (copies at most size - 1 bytes). */
size_t ae_endpoint_device(const ae_endpoint* endpoint, char* buffer, size_t size);
/* Frames reset discarded so far (asked for by the host: not counted as glitches). */
int ae_endpoint_discarded(const ae_endpoint* endpoint, uint64_t* frames);
/* Glitches of one kind (1 underrun .. 6 dropped) counted so far, and their frames. */
int ae_endpoint_glitches(const ae_endpoint* endpoint, int kind, uint64_t* count, uint64_t* frames);
/* The engine's padding as the control thread sampled it (at every drain of the RT queues):
 * AE_PADDING_BUCKETS counts — bucket 0 counts 0 frames, bucket i (1..15) [2^(i-1), 2^i) frames,
 * the last everything above — and the samples taken, the least and the most seen. Any pointer may
 * be NULL. */
enum { AE_PADDING_BUCKETS = 17 };
int ae_endpoint_padding(const ae_endpoint* endpoint, uint64_t histogram[AE_PADDING_BUCKETS], uint64_t* samples, uint64_t* min_frames,
                        uint64_t* max_frames);

/* Events queued for polling: at most 4096 are held; `missed` counts the
 * ones that did not fit. */
typedef enum ae_event_kind {
    AE_EVENT_GLITCH = 0,
    AE_EVENT_STATE_CHANGED,
    AE_EVENT_FORMAT_CHANGED,
    AE_EVENT_LATENCY_CHANGED,
    AE_EVENT_DEVICE_LOST,
    AE_EVENT_REROUTED,
    AE_EVENT_DEVICE_UNRESPONSIVE,
    AE_EVENT_ROUTE_STAGE,
    AE_EVENT_DEVICE_ADDED,  /* watch_devices: a device appeared (`device`) */
    AE_EVENT_DEVICE_REMOVED /* watch_devices: a device went away (`device`) */
} ae_event_kind;

typedef struct ae_event {
    int kind;                 /* ae_event_kind */
    char endpoint[128];
    uint32_t epoch;
    ae_hns time;
    int glitch;               /* glitch kind: 1 underrun, 2 overrun, 3 late_pass, 4 discontinuity, 5 device_lost, 6 dropped */
    uint64_t stream_position;
    uint64_t frames;
    int state;                /* ae_endpoint_state */
    ae_frame_format format;
    ae_hns latency;
    char device[256];         /* device_lost, device_unresponsive, device_added, device_removed; rerouted: from */
    char to[256];             /* rerouted */
    int stage;                /* route_stage: ae_route_stage */
    uint32_t attempt;         /* route_stage: reopening's attempt (1, 2, ...), else 0 */
} ae_event;

/* 1 and fills `*out` when an event is queued, 0 otherwise; waits up to timeout_ms (0: no wait). */
int ae_context_poll_event(ae_context* context, ae_event* out, int timeout_ms, uint64_t* missed);

/* ---- RT side (the engine's thread) ----------------------------------------------------- */

uint64_t ae_rt_current_padding(ae_endpoint* endpoint, ae_position* position) AE_RT_NOEXCEPT;
void ae_rt_processing_complete(ae_endpoint* endpoint) AE_RT_NOEXCEPT;
void ae_rt_pulse(ae_endpoint* endpoint) AE_RT_NOEXCEPT;
int ae_rt_set_pin_inactive(ae_endpoint* endpoint) AE_RT_NOEXCEPT;
int ae_rt_set_pin_active(ae_endpoint* endpoint) AE_RT_NOEXCEPT;
void ae_rt_format(ae_endpoint* endpoint, ae_frame_format* out) AE_RT_NOEXCEPT;
uint32_t ae_rt_frames_per_packet(ae_endpoint* endpoint) AE_RT_NOEXCEPT;
uint64_t ae_rt_buffer_frames(ae_endpoint* endpoint) AE_RT_NOEXCEPT;
/* Render endpoints. */
int ae_rt_output_data_pointer(ae_endpoint* endpoint, uint32_t frames, void** out) AE_RT_NOEXCEPT;
int ae_rt_release_output_data_pointer(ae_endpoint* endpoint, const ae_connection_property* property) AE_RT_NOEXCEPT;
/* Capture endpoints. */
int ae_rt_input_data_pointer(ae_endpoint* endpoint, ae_connection_property* property, ae_position* timestamp) AE_RT_NOEXCEPT;
int ae_rt_release_input_data_pointer(ae_endpoint* endpoint, uint32_t frames_consumed, const void* buffer) AE_RT_NOEXCEPT;

/* Remote Desktop sessions (FreeRDP 2 server; docs/API.md, "RDP sessions"). A host running its own
 * FreeRDP server attaches each connected session: `vcm` is the session's virtual channel manager
 * (WTSOpenServerA), `rdp_context` its rdpContext*, both valid until ae_rdp_detach_session().
 * Writes the session's id ("1", "2", ...) into `id` (`id_size` bytes with the NUL): its devices
 * are "rdp:ID". AE_ERR_BAD_ARGUMENT for a null handle or no room for the id. */
int ae_rdp_attach_session(void* vcm, void* rdp_context, const char* client, char* id, size_t id_size);
/* The client left: the session's devices are lost, its channels closed. */
void ae_rdp_detach_session(const char* id);

/* ---- Bridges (docs/API.md, "Bridges") ----
 * A capture device feeding a render device on another clock: endpoints NAME.capture and
 * NAME.render, joined on the capture device's thread, drift-controlled. Zero fields take the
 * defaults. Destroy with ae_bridge_destroy (not ae_endpoint_destroy). */
typedef struct ae_bridge_config {
    const char* name;
    const char* from;          /* the capture device's spec; NULL or "": the default device */
    const char* to;            /* the render device's spec; NULL or "": the default device */
    uint32_t sample_rate;      /* the queue's; 0: 48000 */
    uint16_t channels;         /* 0: 2 */
    ae_hns period;             /* the endpoints'; 0: 10 ms */
    int no_drift_control;      /* non-zero: the ratio stays 1 and the queue drifts with the clocks */
    int routing;               /* ae_routing_policy, both endpoints' */
} ae_bridge_config;

typedef struct ae_bridge_status {
    double queue_ms;     /* at the last capture period */
    double average_ms;   /* over ~2 s */
    double target_ms;    /* the level held; 0 until settled */
    double drift_ppm;    /* +: the capture clock runs fast */
    ae_hns latency;      /* capture device + queue + render device */
    uint64_t frames_in, frames_out, dropped_frames, raises;
} ae_bridge_status;

/* Both endpoints made, joined and started when it returns. */
int ae_bridge_create(ae_context* context, const ae_bridge_config* config);
/* AE_ERR_UNKNOWN_ENDPOINT when there is no bridge of that name. */
int ae_bridge_status_of(ae_context* context, const char* name, ae_bridge_status* out);
int ae_bridge_destroy(ae_context* context, const char* name);

/* RDP sessions' desktop audio from now on: each session that connects gets a PipeWire sink
 * `openae-rdp-ID` bridged to its speakers and a source `openae-rdp-ID-mic` from its microphone,
 * made the server's defaults when `make_default` is non-zero; removed with the session. */
int ae_rdp_desktop_audio(ae_context* context, int make_default);

#ifdef __cplusplus
}
#endif

#pragma GCC visibility pop
#endif /* OPENAE_OPENAE_H */
