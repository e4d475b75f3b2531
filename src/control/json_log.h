// openae control — structured logs: spdlog with a JSON-lines formatter.
//
// Every line is one JSON object: {"ts":"2026-11-27T07:40:01.123456Z","level":"info",
// "component":...,"endpoint":...,"epoch":...,"event":...,<fields>}. Written only from the
// control thread (and never from an RT thread: nothing in ae_rt or the device threads links it).
#pragma once

#include <openae/control/config.h>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace ae::control_detail {

// A logger writing JSON lines to stderr (`file` empty) or to a rotating file.
[[nodiscard]] std::shared_ptr<spdlog::logger> make_json_logger(const context_options& options);

// Logs `fields` (an object; should hold "component" and "event") at `level`.
void log_json(spdlog::logger& logger, spdlog::level::level_enum level, const nlohmann::json& fields);

} // namespace ae::control_detail
