// ae-host's configuration (host_config.h).
#include "host_config.h"

#include <fstream>

namespace ae_host {

using nlohmann::json;

std::pair<std::string, std::string> split_last_at(const std::string& text) {
    const auto at = text.rfind('@');
    if (at == std::string::npos) return {text, ""};
    return {text.substr(0, at), text.substr(at + 1)};
}

std::expected<host_config, std::string> read_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::unexpected("config " + path + ": cannot open it");
    json doc = json::parse(in, nullptr, false);
    if (doc.is_discarded()) return std::unexpected("config " + path + ": not valid JSON");
    if (!doc.is_object()) return std::unexpected("config " + path + ": the top level must be an object");
    host_config config;
    for (const auto& [key, value] : doc.items()) {
        if (key == "default_device" || key == "log_level" || key == "socket") {
            if (!value.is_string()) return std::unexpected("config " + path + ": '" + key + "' must be a string");
            if (key == "default_device") config.default_device = value.get<std::string>();
            if (key == "log_level") config.log_level = value.get<std::string>();
            if (key == "socket") config.socket = value.get<std::string>();
        } else if (key == "endpoints" || key == "bridges") {
            if (!value.is_array()) return std::unexpected("config " + path + ": '" + key + "' must be an array");
            for (const auto& e : value) {
                if (!e.is_object()) return std::unexpected("config " + path + ": each of '" + key + "' must be an object");
                (key == "endpoints" ? config.endpoints : config.bridges).push_back(e);
            }
        } else {
            return std::unexpected("config " + path + ": unknown key '" + key + "'");
        }
    }
    return config;
}

json bridge_request(const std::string& text, std::size_t index) {
    std::string name = "bridge" + std::to_string(index + 1);
    std::string devices = text;
    // NAME= only when what precedes the first '=' is a plain name ("null?period=5@..." is a spec).
    if (const auto eq = text.find('='); eq != std::string::npos && eq > 0 &&
        text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == eq) {
        name = text.substr(0, eq);
        devices = text.substr(eq + 1);
    }
    auto [from, to] = split_last_at(devices);
    json request{{"bridge", name}};
    if (!from.empty()) request["from"] = from;
    if (!to.empty()) request["to"] = to;
    return request;
}

} // namespace ae_host
