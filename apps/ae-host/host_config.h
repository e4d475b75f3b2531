// ae-host's configuration: the config file, and the command line's bridges, as the requests the
// control service takes.
#pragma once

#include <nlohmann/json.hpp>

#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ae_host {

// "SOURCE@DEVICE" → {SOURCE, DEVICE}, at the last '@' ({text, ""} without one).
[[nodiscard]] std::pair<std::string, std::string> split_last_at(const std::string& text);

struct host_config {
    std::string default_device = "auto";
    std::string log_level = "info";
    std::optional<std::string> socket;
    std::vector<nlohmann::json> endpoints; // create requests (without "op")
    std::vector<nlohmann::json> bridges;   // bridge requests (without "op")
};

// The config file: {"default_device": SPEC, "log_level": LEVEL, "socket": PATH|"none",
// "endpoints": [{create fields}, ...], "bridges": [{bridge fields}, ...]}. Unknown keys are errors.
[[nodiscard]] std::expected<host_config, std::string> read_config(const std::string& path);

// `--bridge [NAME=]FROM@TO` as a bridge request (NAME: bridgeN, N = `index` + 1).
[[nodiscard]] nlohmann::json bridge_request(const std::string& text, std::size_t index);

} // namespace ae_host
