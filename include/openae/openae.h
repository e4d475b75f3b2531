/* openae — the C API. Value types and error codes of the endpoint contract (shared/API.md) with
 * the same layout as their C++ counterparts in <openae/openae.hpp>, for hosts in any language.
 * The endpoint functions arrive with the control plane; a C file can already include this. */
#ifndef OPENAE_OPENAE_H
#define OPENAE_OPENAE_H

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

#ifdef __cplusplus
}
#endif

#endif /* OPENAE_OPENAE_H */
