// openae — device spec strings: `kind[:target][?key=value&...]`, parsed strictly.
//
// Every option a device reads is taken out of the spec as it is read; `finish()` then refuses
// whatever is left, naming the key — a typo in a spec is an error, never silently ignored.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device_error.h>
#include <openae/rt/types.h>

#include <cstdint>
#include <expected>
#include <string>
#include <utility>
#include <vector>

namespace ae::pipeline {

class device_spec {
public:
    // Splits `text`; `bad_argument` for an empty kind, an option without '=' or a repeated key.
    [[nodiscard]] static std::expected<device_spec, device_error> parse(std::string_view text);

    // The spec as given, secrets redacted (redact_spec): safe to put in a message.
    [[nodiscard]] const std::string& text() const noexcept { return text_; }
    [[nodiscard]] const std::string& kind() const noexcept { return kind_; }
    [[nodiscard]] const std::string& target() const noexcept { return target_; }

    // Each getter takes the option out (so finish() can refuse unknown ones) and returns
    // `fallback` when it is absent; a malformed or out-of-range value is an error naming the key.
    [[nodiscard]] std::expected<double, device_error> take_number(std::string_view key, double fallback, double min,
                                                                  double max);
    [[nodiscard]] std::expected<std::uint32_t, device_error> take_count(std::string_view key, std::uint32_t fallback,
                                                                        std::uint32_t min, std::uint32_t max);
    [[nodiscard]] std::expected<bool, device_error> take_flag(std::string_view key, bool fallback);
    [[nodiscard]] std::expected<sample_type, device_error> take_sample_type(std::string_view key, sample_type fallback);
    // Removes an option and returns its raw text ("" when absent).
    [[nodiscard]] std::string take_text(std::string_view key);

    // The options not taken yet, as `key=value&...` (to hand to an inner device).
    [[nodiscard]] std::string remaining_query() const;
    // `bad_argument` naming the first option nobody took.
    [[nodiscard]] std::expected<void, device_error> finish() const;

private:
    [[nodiscard]] device_error bad_value(std::string_view key, std::string_view why) const;

    std::string text_;
    std::string kind_;
    std::string target_;
    std::vector<std::pair<std::string, std::string>> options_;
};

// `text` with the values of secret options (`key`, `password`) replaced by `<redacted>`: what
// messages, logs and device_spec::text() show of a spec.
[[nodiscard]] std::string redact_spec(std::string_view text);

// Parses "s16", "s24", "s32", "f32".
[[nodiscard]] std::expected<sample_type, std::error_code> parse_sample_type(std::string_view text) noexcept;

} // namespace ae::pipeline

#pragma GCC visibility pop
