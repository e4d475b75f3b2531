// The control service's request schema: field rules, typed request errors, and the parsers of
// the wire protocol's values (docs/API.md, "Wire protocol"). Internal.
#pragma once

#include <openae/rt/errc.h>
#include <openae/rt/types.h>

#include <nlohmann/json.hpp>

#include <expected>
#include <initializer_list>
#include <optional>
#include <string>
#include <system_error>

namespace ae::service_detail {

using nlohmann::json;


enum class json_type { string, integer, number, boolean, object };

struct field_rule {
    const char* name;
    json_type type;
    bool required = false;
};

struct request_error {
    std::string code;
    std::string message;
};

const char* type_name(json_type type);
bool has_type(const json& value, json_type type);
request_error bad(std::string message);
// Unknown fields, missing ones and wrong types, named.
std::optional<request_error> check_fields(const json& object, std::initializer_list<field_rule> rules, const char* where);
std::string code_name(std::error_code ec);
request_error from_code(std::error_code ec, std::string message = {});
std::optional<sample_type> parse_sample(const std::string& text);
// `format` fields over `base` (all optional); ranges checked.
std::expected<frame_format, request_error> parse_format(const json& j, frame_format base);
std::expected<hns, request_error> parse_period(const json& value);
std::optional<request_error> check_name(const std::string& name);
double ms_of(hns value);
json position_json(const position& p);

} // namespace ae::service_detail
