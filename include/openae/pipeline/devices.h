// openae — making devices from spec strings (README.md, "ae-host"), and the devices openae ships:
//
//   null[?rate=48000&channels=2&sample=f32&period=10&drift_ppm=0&jitter_us=0&seed=1]
//       the virtual-clock device, the embedded default: plays into nothing / records silence,
//       paced by virtual_clock (period in ms; drift and jitter to test rate estimation).
//   wav:PATH[?realtime=0|1&rate=48000&channels=2&sample=s16&period=10]
//       libsndfile. Render: writes PATH (format from the options). Capture: reads PATH (format
//       from the file; rate/channels/sample options are refused). realtime=0 (the default) runs
//       as fast as the endpoints allow — offline render and capture; realtime=1 paces like null.
//   rtp:HOST:PORT[?codec=l16|opus&ptime=10&sdp=PATH&...]   (rtp_device.h, docs/API.md)
//       render: an RTP sender; capture (rtp:BIND_ADDR:PORT, or sdp=PATH alone): a receiver with a
//       jitter buffer (latency=20 ms) and drift control.
//   faulty:INNER[?FAULT OPTIONS&INNER OPTIONS]
//       wraps INNER and injects faults on a script (times in ms of device stream time) or on
//       command (device::inject): unplug_at_ms, replug_at_ms, stall_at_ms + stall_ms, jump_at_ms +
//       jump_ms, late_at_ms + late_count + late_ms, format_at_ms + format_rate /
//       format_channels / format_sample, open_delay_ms (start() hangs that long). Commands:
//       "unplug", "replug", "stall:MS", "jump:MS", "late:COUNT:MS", "format:RATE[:CHANNELS[:SAMPLE]]".
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/device.h>
#include <openae/pipeline/device_spec.h>

#include <expected>
#include <memory>
#include <string_view>

namespace ae::pipeline {

// Makes the device `spec` names, for `direction`. Nothing is opened until start() — but an ALSA
// PCM, opened here: the format it negotiates is the device's.
// Errors name the spec and the reason: `bad_argument` (syntax, unknown option, bad value),
// `unsupported_format`, `device_unavailable` (unknown kind).
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_device(std::string_view spec,
                                                                               endpoint_direction direction);
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_null_device(device_spec spec,
                                                                                    endpoint_direction direction);
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_wav_device(device_spec spec,
                                                                                   endpoint_direction direction);
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_alsa_device(device_spec spec,
                                                                                    endpoint_direction direction);
// A JACK client of a running server (never started by openae); opened here: the server's rate
// and buffer size are the device's.
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_jack_device(device_spec spec,
                                                                                    endpoint_direction direction);
// A stream of a running PipeWire server; opened here: linked by the session manager and run
// once, so the graph's quantum is the device's period.
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_pipewire_device(device_spec spec,
                                                                                        endpoint_direction direction);
// RTP over UDP (rtp_device.h): render sends to HOST:PORT, capture receives on BIND_ADDR:PORT.
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_rtp_device(device_spec spec,
                                                                                   endpoint_direction direction);
// An RDP session's speakers (render) or microphone (capture), rdp.h.
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_rdp_device(device_spec spec,
                                                                                   endpoint_direction direction);
[[nodiscard]] std::expected<std::unique_ptr<device>, device_error> make_faulty_device(device_spec spec,
                                                                                      endpoint_direction direction);

} // namespace ae::pipeline

#pragma GCC visibility pop
