#include <openae/pipeline/device_spec.h>

#include <openae/rt/errc.h>

#include <charconv>
#include <cmath>

namespace ae::pipeline {

std::expected<sample_type, std::error_code> parse_sample_type(std::string_view text) noexcept {
    if (text == "s16") return sample_type::s16;
    if (text == "s24") return sample_type::s24;
    if (text == "s32") return sample_type::s32;
    if (text == "f32") return sample_type::f32;
    return std::unexpected(make_error_code(errc::unsupported_format));
}

std::string redact_spec(std::string_view text) {
    const auto question = text.find('?');
    if (question == std::string_view::npos) return std::string(text);
    std::string out(text.substr(0, question + 1));
    std::string_view query = text.substr(question + 1);
    bool first = true;
    while (!query.empty() || first) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (!first) out += '&';
        first = false;
        const auto eq = item.find('=');
        const std::string_view key = item.substr(0, eq);
        if (eq != std::string_view::npos && (key == "key" || key == "password")) {
            out += std::string(key) + "=<redacted>";
        } else {
            out += std::string(item);
        }
        if (amp == std::string_view::npos) break;
    }
    return out;
}

std::expected<device_spec, device_error> device_spec::parse(std::string_view text) {
    device_spec spec;
    spec.text_ = redact_spec(text);
    const auto question = text.find('?');
    const std::string_view head = text.substr(0, question);
    const auto colon = head.find(':');
    spec.kind_ = std::string(head.substr(0, colon));
    if (colon != std::string_view::npos) spec.target_ = std::string(head.substr(colon + 1));
    if (spec.kind_.empty()) {
        return std::unexpected(device_error{make_error_code(errc::bad_argument),
                                            "device spec '" + spec.text_ + "': no device kind"});
    }
    if (question == std::string_view::npos) return spec;
    std::string_view query = text.substr(question + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (item.empty()) continue;
        const auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            return std::unexpected(device_error{make_error_code(errc::bad_argument),
                                                "device spec '" + spec.text_ + "': option '" + std::string(item) +
                                                    "' is not key=value"});
        }
        std::string key(item.substr(0, eq));
        for (const auto& [existing, value] : spec.options_) {
            if (existing == key) {
                return std::unexpected(device_error{make_error_code(errc::bad_argument),
                                                    "device spec '" + spec.text_ + "': option '" + key + "' given twice"});
            }
        }
        spec.options_.emplace_back(std::move(key), std::string(item.substr(eq + 1)));
    }
    return spec;
}

device_error device_spec::bad_value(std::string_view key, std::string_view why) const {
    return {make_error_code(errc::bad_argument),
            "device spec '" + text_ + "': option '" + std::string(key) + "' " + std::string(why)};
}

std::string device_spec::take_text(std::string_view key) {
    for (auto it = options_.begin(); it != options_.end(); ++it) {
        if (it->first == key) {
            std::string value = std::move(it->second);
            options_.erase(it);
            return value;
        }
    }
    return {};
}

std::expected<double, device_error> device_spec::take_number(std::string_view key, double fallback, double min,
                                                             double max) {
    const std::string text = take_text(key);
    if (text.empty()) return fallback;
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value))
        return std::unexpected(bad_value(key, "is not a number: '" + text + "'"));
    if (value < min || value > max) {
        return std::unexpected(bad_value(key, "is out of range [" + std::to_string(min) + ", " + std::to_string(max) +
                                                  "]: " + text));
    }
    return value;
}

std::expected<std::uint32_t, device_error> device_spec::take_count(std::string_view key, std::uint32_t fallback,
                                                                   std::uint32_t min, std::uint32_t max) {
    const std::string text = take_text(key);
    if (text.empty()) return fallback;
    std::uint32_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size())
        return std::unexpected(bad_value(key, "is not a whole number: '" + text + "'"));
    if (value < min || value > max) {
        return std::unexpected(bad_value(key, "is out of range [" + std::to_string(min) + ", " + std::to_string(max) +
                                                  "]: " + text));
    }
    return value;
}

std::expected<bool, device_error> device_spec::take_flag(std::string_view key, bool fallback) {
    const std::string text = take_text(key);
    if (text.empty()) return fallback;
    if (text == "1" || text == "true" || text == "yes") return true;
    if (text == "0" || text == "false" || text == "no") return false;
    return std::unexpected(bad_value(key, "is not 0 or 1: '" + text + "'"));
}

std::expected<sample_type, device_error> device_spec::take_sample_type(std::string_view key, sample_type fallback) {
    const std::string text = take_text(key);
    if (text.empty()) return fallback;
    if (auto type = parse_sample_type(text)) return *type;
    return std::unexpected(device_error{make_error_code(errc::unsupported_format),
                                        "device spec '" + text_ + "': option '" + std::string(key) +
                                            "': unknown sample type '" + text + "' (s16, s24, s32, f32)"});
}

std::string device_spec::remaining_query() const {
    std::string query;
    for (const auto& [key, value] : options_) {
        if (!query.empty()) query += '&';
        query += key + '=' + value;
    }
    return query;
}

std::expected<void, device_error> device_spec::finish() const {
    if (options_.empty()) return {};
    return std::unexpected(device_error{make_error_code(errc::bad_argument),
                                        "device spec '" + text_ + "': unknown option '" + options_.front().first +
                                            "' for " + kind_});
}

} // namespace ae::pipeline
