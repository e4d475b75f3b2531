#include "json_log.h"

#include <openae/pipeline/device_spec.h>

#include <spdlog/formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include <unistd.h>

namespace ae::control_detail {
namespace {

// A record's time broken down (UTC or local) and its microseconds.
struct broken_time {
    std::tm tm{};
    long long micros = 0;
};
broken_time broken_down(const spdlog::log_clock::time_point& time, bool utc) {
    using namespace std::chrono;
    const auto since_epoch = time.time_since_epoch();
    const auto seconds = duration_cast<std::chrono::seconds>(since_epoch);
    broken_time out;
    out.micros = duration_cast<microseconds>(since_epoch - seconds).count();
    const std::time_t t = seconds.count();
    if (utc) {
        gmtime_r(&t, &out.tm);
    } else {
        localtime_r(&t, &out.tm);
    }
    return out;
}

// The message is a JSON object already; the formatter puts ts and level in front of its fields.
class json_formatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const auto [utc, micros] = broken_down(msg.time, true);
        fmt::format_to(std::back_inserter(dest), R"({{"ts":"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z","level":"{}")",
                       utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, micros,
                       spdlog::level::to_string_view(msg.level));
        const std::string_view body(msg.payload.data(), msg.payload.size());
        if (body.size() > 2 && body.front() == '{') {
            dest.push_back(',');
            dest.append(body.data() + 1, body.data() + body.size()); // the object's fields and its '}'
        } else {
            dest.push_back('}');
        }
        dest.push_back('\n');
    }
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<json_formatter>(); }
};

// The record's fields as a readable line: the timestamp (local time) and level in front.
class text_formatter final : public spdlog::formatter {
public:
    explicit text_formatter(bool colour) : colour_(colour) {}
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const auto [local, micros] = broken_down(msg.time, false);
        fmt::format_to(std::back_inserter(dest), "{:02}:{:02}:{:02}.{:03} ", local.tm_hour, local.tm_min, local.tm_sec, micros / 1000);
        static constexpr const char* names[] = {"TRACE", "DEBUG", "INFO ", "WARN ", "ERROR", "CRIT ", "     "};
        static constexpr const char* colours[] = {"\033[2m", "\033[2m", "\033[32m", "\033[33m", "\033[31m", "\033[1;31m", ""};
        const auto level = static_cast<std::size_t>(msg.level);
        if (colour_) dest.append(std::string_view(colours[level]));
        dest.append(std::string_view(names[level]));
        if (colour_) dest.append(std::string_view("\033[0m"));
        dest.push_back(' ');
        const std::string_view body(msg.payload.data(), msg.payload.size());
        auto record = nlohmann::json::parse(body, nullptr, false);
        const std::string line = record.is_object() ? text_line(record, colour_) : std::string(body);
        dest.append(line.data(), line.data() + line.size());
        dest.push_back('\n');
    }
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<text_formatter>(colour_); }

private:
    bool colour_;
};

// A field's value as text: strings bare (quoted when they hold a space), a format object as
// "48000 Hz 2 ch f32", anything else compact JSON.
std::string value_text(const nlohmann::json& v) {
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        return s.find(' ') == std::string::npos && !s.empty() ? s : v.dump();
    }
    if (v.is_object() && v.contains("sample_rate") && v.contains("channels") && v.contains("sample")) {
        return fmt::format("{}Hz/{}ch/{}", v["sample_rate"].dump(), v["channels"].dump(), v["sample"].is_string() ? v["sample"].get<std::string>() : v["sample"].dump());
    }
    return v.dump();
}

} // namespace

std::string text_line(const nlohmann::json& record, bool colour) {
    std::string line;
    const std::string component = record.value("component", "");
    const std::string endpoint = record.value("endpoint", "");
    const std::string device = record.value("device", "");
    line += component.empty() ? "openae" : component;
    // Who: the endpoint, else the device the record is about.
    if (!endpoint.empty()) {
        line += " " + endpoint;
    } else if (!device.empty() && component == "device") {
        line += " " + device;
    }
    line += ": ";
    if (colour) line += "\033[1m";
    line += record.value("event", "");
    if (colour) line += "\033[0m";
    for (const auto& [key, value] : record.items()) {
        if (key == "component" || key == "event" || key == "endpoint" || key == "time_ns") continue;
        if (key == "device" && endpoint.empty() && component == "device") continue;
        line += " " + key + "=" + value_text(value);
    }
    return line;
}

std::shared_ptr<spdlog::logger> make_logger(const context_options& options) {
    spdlog::sink_ptr sink;
    if (options.log_file.empty()) {
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
        sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(options.log_file, options.log_file_max_bytes,
                                                                      options.log_file_count);
    }
    auto logger = std::make_shared<spdlog::logger>("openae", sink);
    const bool terminal = options.log_file.empty() && ::isatty(STDERR_FILENO) == 1;
    const bool text = options.log_format == log_format::text || (options.log_format == log_format::automatic && terminal);
    if (text) {
        logger->set_formatter(std::make_unique<text_formatter>(terminal)); // colours only where a terminal shows them
    } else {
        logger->set_formatter(std::make_unique<json_formatter>());
    }
    logger->set_level(spdlog::level::from_str(options.log_level));
    logger->flush_on(spdlog::level::info);
    return logger;
}

void log_json(spdlog::logger& logger, spdlog::level::level_enum level, const nlohmann::json& fields) {
    if (!logger.should_log(level)) return;
    // A device spec may carry a secret (an SRTP key): never into a log.
    bool secret = false;
    if (fields.is_object()) {
        for (const auto& [name, value] : fields.items()) {
            if (value.is_string()) {
                const auto& text = value.get_ref<const std::string&>();
                secret |= text.find("key=") != std::string::npos || text.find("password=") != std::string::npos;
            }
        }
    }
    if (!secret) {
        logger.log(level, "{}", fields.dump());
        return;
    }
    nlohmann::json redacted = fields;
    for (auto& [name, value] : redacted.items()) {
        if (value.is_string()) value = pipeline::redact_spec(value.get_ref<const std::string&>());
    }
    logger.log(level, "{}", redacted.dump());
}

} // namespace ae::control_detail
