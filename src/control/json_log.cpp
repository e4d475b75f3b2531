#include "json_log.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace ae::control_detail {
namespace {

// The message is a JSON object already; the formatter puts ts and level in front of its fields.
class json_formatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        using namespace std::chrono;
        const auto since_epoch = msg.time.time_since_epoch();
        const auto seconds = duration_cast<std::chrono::seconds>(since_epoch);
        const auto micros = duration_cast<microseconds>(since_epoch - seconds).count();
        const std::time_t t = seconds.count();
        std::tm utc{};
        gmtime_r(&t, &utc);
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

} // namespace

std::shared_ptr<spdlog::logger> make_json_logger(const context_options& options) {
    spdlog::sink_ptr sink;
    if (options.log_file.empty()) {
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
        sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(options.log_file, options.log_file_max_bytes,
                                                                      options.log_file_count);
    }
    auto logger = std::make_shared<spdlog::logger>("openae", sink);
    logger->set_formatter(std::make_unique<json_formatter>());
    logger->set_level(spdlog::level::from_str(options.log_level));
    logger->flush_on(spdlog::level::info);
    return logger;
}

void log_json(spdlog::logger& logger, spdlog::level::level_enum level, const nlohmann::json& fields) {
    if (!logger.should_log(level)) return;
    logger.log(level, "{}", fields.dump());
}

} // namespace ae::control_detail
