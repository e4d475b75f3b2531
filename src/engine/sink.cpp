// Sinks: a capture endpoint's frames into nothing, or into a wav file through a wav device used as
// a writer (its ring and I/O thread keep file I/O off the engine).
#include <openae/engine/sink.h>

#include <openae/pipeline/device_spec.h>
#include <openae/pipeline/devices.h>
#include <openae/rt/errc.h>

#include <unistd.h>

namespace ae {

std::expected<engine_sink, engine_error> engine_sink::open(const std::string& text, const frame_format& format) {
    engine_sink sink;
    sink.text = text;
    sink.format = format;
    if (text.rfind("wav:", 0) == 0) {
        const std::string spec = text + (text.find('?') == std::string::npos ? "?" : "&") + "rate=" +
                                 std::to_string(format.sample_rate) + "&channels=" + std::to_string(format.channels) +
                                 "&sample=f32";
        auto writer = pipeline::make_device(spec, endpoint_direction::render);
        if (!writer) return std::unexpected(writer.error());
        if (auto started = (*writer)->start(); !started) return std::unexpected(started.error());
        sink.channels = (*writer)->format().channels;
        sink.writer = std::move(*writer);
    } else if (text != "null") {
        return std::unexpected(engine_error{make_error_code(errc::bad_argument), "sink '" + text + "': unknown (wav:PATH, null)"});
    }
    return sink;
}

void engine_sink::discard() noexcept {
    if (!writer) return;
    writer->stop();
    writer.reset();
    if (auto spec = pipeline::device_spec::parse(text)) (void)::unlink(spec->target().c_str());
}

} // namespace ae
