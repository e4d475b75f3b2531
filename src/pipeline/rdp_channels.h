// The audio channels of one RDP session — rdpsnd (MS-RDPEA, the client's speakers) and audin
// (MS-RDPEAI, its microphone) — behind an interface of our own, so that nothing outside
// rdp_freerdp.cpp sees FreeRDP's types: a FreeRDP 3 build (whose audin server API changed) needs
// a second implementation of this file only.
//
// Threads: FreeRDP runs each channel on a thread of its own; `rdp_channel_events` is called from
// them and must return quickly. `send_block` may be called from one thread (the speakers device's
// sender), never from an ae-rt thread: FreeRDP locks and allocates.
#pragma once

#include <openae/pipeline/device_error.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>

namespace ae::pipeline {

// 16-bit little-endian PCM, interleaved — the one encoding openae sends and takes.
struct rdp_pcm_format {
    std::uint32_t rate = 0;
    std::uint16_t channels = 0;
    friend bool operator==(const rdp_pcm_format&, const rdp_pcm_format&) = default;
};

// What a session's channels report. Each callback runs on a FreeRDP thread.
class rdp_channel_events {
public:
    virtual ~rdp_channel_events() = default;
    // The client's speakers are ready (formats exchanged, a PCM format chosen), or went away.
    virtual void speakers_changed(bool ready) noexcept = 0;
    // A Wave Confirm: the client confirms block `block` with `timestamp_ms` (the block's own
    // timestamp plus the client's delay, modulo 2^16).
    virtual void confirmed(std::uint8_t block, std::uint16_t timestamp_ms) noexcept = 0;
    // The microphone is open (its format chosen) or closed.
    virtual void microphone_changed(bool open) noexcept = 0;
    // Microphone frames (16-bit PCM in the microphone's format), sign already right.
    virtual void recorded(const std::int16_t* frames, std::size_t count) noexcept = 0;
};

class rdp_channels {
public:
    // Opens rdpsnd (and audin, once the dynamic channel is ready: poll()) on a connected session:
    // `vcm` is the session's virtual channel manager (WTSOpenServerA), `rdp_context` its
    // rdpContext*. `events` must outlive the channels.
    [[nodiscard]] static std::expected<std::unique_ptr<rdp_channels>, device_error> open(void* vcm, void* rdp_context,
                                                                                         rdp_channel_events& events);
    virtual ~rdp_channels() = default;

    // The PCM format the speakers play (valid once speakers_changed(true)).
    [[nodiscard]] virtual rdp_pcm_format speakers_format() const = 0;
    [[nodiscard]] virtual bool speakers_ready() const = 0;
    // The block number the next send_block() will carry (the sender's thread: nobody else sends).
    [[nodiscard]] virtual std::uint8_t next_block() const = 0;
    // Sends `frames` frames as one Wave (or Wave2, version 8 clients) PDU stamped `timestamp_ms`;
    // `block` is the block number it carries. False if the channel refused it.
    [[nodiscard]] virtual bool send_block(const std::int16_t* frames, std::uint32_t count, std::uint16_t timestamp_ms,
                                          std::uint8_t& block) = 0;

    [[nodiscard]] virtual rdp_pcm_format microphone_format() const = 0;
    [[nodiscard]] virtual bool microphone_open() const = 0;
    // Opens the microphone if the dynamic channel is ready and it is not open yet; call from the
    // session's loop now and then.
    virtual void poll() = 0;
};

// Debian's libfreerdp-server2 2.11.7 converts PCM through FFmpeg and flips the sign bit of
// 16-bit samples on the way, both ways: measured once (per direction) on the running library.
// True when samples FreeRDP's DSP encodes (Wave PDUs) or decodes (audin) come out flipped.
[[nodiscard]] bool rdp_dsp_flips_sign(bool encoder);

} // namespace ae::pipeline
