// The C API's bridges and RDP desktop audio (openae.h): thin wrappers over ae::context.
#include "c_api_handles.h"

#include <algorithm>
#include <string>

extern "C" {

int ae_bridge_create(ae_context* context, const ae_bridge_config* config) {
    if (!context || !config || !config->name) return AE_ERR_BAD_ARGUMENT;
    try {
        ae::bridge_config c;
        c.name = config->name;
        c.from = config->from ? config->from : "";
        c.to = config->to ? config->to : "";
        if (config->sample_rate != 0) c.sample_rate = config->sample_rate;
        if (config->channels != 0) c.channels = config->channels;
        if (config->period != 0) c.period = ae::hns{config->period};
        c.drift_control = config->no_drift_control == 0;
        if (config->routing < 0 || config->routing > static_cast<int>(ae::routing_policy::fail)) return AE_ERR_BAD_ARGUMENT;
        c.routing = static_cast<ae::routing_policy>(config->routing);
        auto made = context->ctx->create_bridge(c);
        return made ? AE_OK : c_api_code(made.error());
    } catch (...) {
        return AE_ERR_IO_ERROR;
    }
}

int ae_bridge_status_of(ae_context* context, const char* name, ae_bridge_status* out) {
    if (!context || !name || !out) return AE_ERR_BAD_ARGUMENT;
    try {
        const auto list = context->ctx->bridges();
        const auto found = std::ranges::find_if(list, [&](const ae::bridge_status& b) { return b.name == name; });
        if (found == list.end()) return AE_ERR_UNKNOWN_ENDPOINT;
        *out = ae_bridge_status{found->queue_ms,  found->average_ms, found->target_ms,      found->drift_ppm, found->latency.count(),
                                found->frames_in, found->frames_out, found->dropped_frames, found->raises};
        return AE_OK;
    } catch (...) {
        return AE_ERR_IO_ERROR;
    }
}

int ae_bridge_destroy(ae_context* context, const char* name) {
    if (!context || !name) return AE_ERR_BAD_ARGUMENT;
    try {
        const auto list = context->ctx->bridges();
        if (std::ranges::none_of(list, [&](const ae::bridge_status& b) { return b.name == name; })) return AE_ERR_UNKNOWN_ENDPOINT;
        return c_api_code(context->ctx->destroy(name));
    } catch (...) {
        return AE_ERR_IO_ERROR;
    }
}

int ae_rdp_desktop_audio(ae_context* context, int make_default) {
    if (!context) return AE_ERR_BAD_ARGUMENT;
    try {
        ae::rdp_desktop_audio_options options;
        options.enabled = true;
        options.make_default = make_default != 0;
        return c_api_code(context->ctx->enable_rdp_desktop_audio(options));
    } catch (...) {
        return AE_ERR_IO_ERROR;
    }
}

} // extern "C"
