// openae control — events and formats as JSON (nlohmann), shared by logs and the wire protocol.
#pragma once

#include <openae/control/event.h>

#include <nlohmann/json.hpp>

namespace ae::control_detail {

[[nodiscard]] nlohmann::json format_json(const frame_format& format);
// The event's fields, with "event": its kind.
[[nodiscard]] nlohmann::json event_json(const event& e);

} // namespace ae::control_detail
