#include "metrics.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace ae_host {

using nlohmann::json;

bool metrics_writer::open(const std::string& path) {
    file_ = std::fopen(path.c_str(), "w");
    return file_ != nullptr;
}

metrics_writer::~metrics_writer() {
    if (file_) std::fclose(file_);
}

void metrics_writer::sample(ae::control_service& service, double t) {
    if (!file_) return;
    const json status = json::parse(service.request(R"({"op":"status"})"));
    const json list = json::parse(service.request(R"({"op":"list"})"));
    std::map<std::string, json> load_of;
    for (const auto& d : list["devices"]) {
        const std::string loop = d.value("direction", std::string{}) + " " + d.value("device", std::string{});
        const loop_sample now{d.value("busy_ns", 0ull), d.value("busy_steps", 0ull)};
        const loop_sample before = previous_[loop];
        previous_[loop] = now;
        const double rate = d["format"].value("sample_rate", 0.0);
        const double period_ns = rate > 0 ? d.value("period_frames", 0.0) / rate * 1e9 : 0;
        const double steps = static_cast<double>(now.steps - std::min(now.steps, before.steps));
        load_of[loop] = steps > 0 && period_ns > 0
                            ? json(100.0 * static_cast<double>(now.busy_ns - std::min(now.busy_ns, before.busy_ns)) / (steps * period_ns))
                            : json(nullptr);
    }
    for (const auto& e : status["endpoints"]) {
        const std::string loop = e.value("direction", std::string{}) + " " + e.value("device", std::string{});
        const json line = {{"t", t},
                           {"endpoint", e["endpoint"]},
                           {"direction", e["direction"]},
                           {"device", e["device"]},
                           {"state", e["state"]},
                           {"epoch", e["epoch"]},
                           {"format", e["format"]},
                           {"period_ms", e["period_ms"]},
                           {"latency_ms", e["latency_ms"]},
                           {"buffer_frames", e["buffer_frames"]},
                           {"padding", e["position"].is_object() ? e["position"]["padding_frames"] : json(nullptr)},
                           {"load_pct", load_of.count(loop) ? load_of[loop] : json(nullptr)},
                           {"stage", e["route"]["stage"]},
                           {"glitches", e["glitches"]}};
        std::fprintf(file_, "%s\n", line.dump().c_str());
    }
    std::fflush(file_);
}

} // namespace ae_host
