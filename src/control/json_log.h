// openae control — structured logs: spdlog with a JSON-lines or a readable formatter.
//
// A record is a JSON object of fields. As JSON, every line is one object:
// {"ts":"2026-11-27T07:40:01.123456Z","level":"info","component":...,"endpoint":...,"epoch":...,
// "event":...,<fields>}. As text (context_options::log_format), one line a person reads:
// `07:40:01.123 INFO  endpoint music: glitch kind=underrun frames=480 epoch=1`, the level coloured
// on a terminal. Written only from the control thread (and never from an RT thread: nothing in
// ae_rt or the device threads links it).
#pragma once

#include <openae/control/config.h>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace ae::control_detail {

// A logger writing to stderr (`log_file` empty) or to a rotating file, JSON lines or text as
// options.log_format says (automatic: text on a terminal, JSON otherwise).
[[nodiscard]] std::shared_ptr<spdlog::logger> make_logger(const context_options& options);
// One record as its readable line (no newline): what the text format writes.
[[nodiscard]] std::string text_line(const nlohmann::json& record, bool colour);

// Logs `fields` (an object; should hold "component" and "event") at `level`.
void log_json(spdlog::logger& logger, spdlog::level::level_enum level, const nlohmann::json& fields);

} // namespace ae::control_detail
