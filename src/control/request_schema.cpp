#include "request_schema.h"

#include <algorithm>
#include <cmath>
#include <string_view>

namespace ae::service_detail {

const char* type_name(json_type type) {
    switch (type) {
    case json_type::string: return "a string";
    case json_type::integer: return "an integer";
    case json_type::number: return "a number";
    case json_type::boolean: return "a boolean";
    case json_type::object: return "an object";
    }
    return "?";
}

bool has_type(const json& value, json_type type) {
    switch (type) {
    case json_type::string: return value.is_string();
    case json_type::integer: return value.is_number_integer();
    case json_type::number: return value.is_number();
    case json_type::boolean: return value.is_boolean();
    case json_type::object: return value.is_object();
    }
    return false;
}

request_error bad(std::string message) { return {"bad_request", std::move(message)}; }

std::optional<request_error> check_fields(const json& object, std::initializer_list<field_rule> rules, const char* where) {
    for (const auto& [key, value] : object.items()) {
        if (std::string_view(where) == "request" && (key == "id" || key == "op")) continue;
        const auto rule = std::find_if(rules.begin(), rules.end(), [&](const field_rule& r) { return key == r.name; });
        if (rule == rules.end()) return bad("unknown field '" + key + "' in " + where);
        if (!has_type(value, rule->type)) return bad("field '" + key + "' must be " + type_name(rule->type));
    }
    for (const auto& rule : rules) {
        if (rule.required && !object.contains(rule.name)) return bad(std::string("missing field '") + rule.name + "' in " + where);
    }
    return std::nullopt;
}

std::string code_name(std::error_code ec) {
    if (ec.category() == error_category()) return to_string(static_cast<errc>(ec.value()));
    return "io_error";
}

request_error from_code(std::error_code ec, std::string message) {
    return {code_name(ec), message.empty() ? ec.message() : std::move(message)};
}

std::optional<sample_type> parse_sample(const std::string& text) {
    if (text == "s16") return sample_type::s16;
    if (text == "s24") return sample_type::s24;
    if (text == "s32") return sample_type::s32;
    if (text == "f32") return sample_type::f32;
    return std::nullopt;
}

std::expected<frame_format, request_error> parse_format(const json& j, frame_format base) {
    if (auto e = check_fields(j, {{"sample_rate", json_type::integer}, {"channels", json_type::integer}, {"sample", json_type::string}},
                              "format"))
        return std::unexpected(*e);
    if (j.contains("sample_rate")) {
        const auto rate = j["sample_rate"].get<std::int64_t>();
        if (rate < min_sample_rate || rate > max_sample_rate)
            return std::unexpected(bad("field 'sample_rate' must be within 1000..768000"));
        base.sample_rate = static_cast<std::uint32_t>(rate);
    }
    if (j.contains("channels")) {
        const auto channels = j["channels"].get<std::int64_t>();
        if (channels < 1 || channels > max_channels) {
            return std::unexpected(bad("field 'channels' must be within 1.." + std::to_string(max_channels)));
        }
        base.channels = static_cast<std::uint16_t>(channels);
    }
    if (j.contains("sample")) {
        auto sample = parse_sample(j["sample"].get<std::string>());
        if (!sample) return std::unexpected(bad("field 'sample' must be one of s16, s24, s32, f32"));
        base.sample = *sample;
    }
    return base;
}

std::expected<hns, request_error> parse_period(const json& value) {
    const double ms = value.get<double>();
    if (!(ms >= 0.5 && ms <= 1000)) return std::unexpected(bad("field 'period_ms' must be within 0.5..1000"));
    return hns{static_cast<std::int64_t>(std::llround(ms * 1e4))};
}

std::optional<request_error> check_name(const std::string& name) {
    if (name.empty() || name.size() > 128) return bad("field 'endpoint' must be 1..128 characters");
    for (const char c : name) {
        if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) return bad("field 'endpoint' must not hold spaces or control characters");
    }
    return std::nullopt;
}

double ms_of(hns value) { return static_cast<double>(value.count()) / 1e4; }

json position_json(const position& p) {
    json flags = json::array();
    const auto bits = static_cast<std::uint32_t>(p.flags);
    if (bits & static_cast<std::uint32_t>(position_flags::discontinuous)) flags.push_back("discontinuous");
    if (bits & static_cast<std::uint32_t>(position_flags::continuous)) flags.push_back("continuous");
    if (bits & static_cast<std::uint32_t>(position_flags::time_error)) flags.push_back("time_error");
    return {{"device_position", p.device_position}, {"stream_position", p.stream_position}, {"padding_frames", p.padding_frames},
            {"time_ns", p.time.count() * 100},       {"frames_per_second", p.frames_per_second}, {"flags", flags},
            {"epoch", p.epoch},                      {"time_error_ns", p.time_error.count() * 100}};
}

} // namespace ae::service_detail
