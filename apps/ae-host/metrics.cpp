#include "metrics.h"

#include <nlohmann/json.hpp>

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
    const json answer = json::parse(service.request(R"({"op":"metrics"})"));
    for (const auto& e : answer["endpoints"]) {
        json line = {{"t", t}};
        line.update(e);
        std::fprintf(file_, "%s\n", line.dump().c_str());
    }
    std::fflush(file_);
}

} // namespace ae_host
