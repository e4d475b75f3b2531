// rdp_channels with FreeRDP 2's server channels (libfreerdp-server2): rdpsnd and audin.
//
// The server offers 16-bit PCM only, at the rates and channel counts a device is likely to run
// (48 and 44.1 kHz, stereo and mono): the client answers with those it plays, and the speakers
// take the first of ours it has (48 kHz stereo first). Blocks are sent already encoded (Wave2 to
// version 8 clients) so FreeRDP's DSP never touches them; older clients get Wave PDUs through the
// DSP, pre-flipped if it flips (rdp_dsp_flips_sign).
#include "rdp_channels.h"

#include <openae/rt/errc.h>

#include <freerdp/codec/dsp.h>
#include <freerdp/server/audin.h>
#include <freerdp/server/rdpsnd.h>
#include <winpr/stream.h>
#include <winpr/wtsapi.h>

#include <array>
#include <atomic>
#include <mutex>
#include <vector>

namespace ae::pipeline {
namespace {

constexpr UINT16 wave2_version = 8; // MS-RDPEA: clients of version 8 and later take Wave2 PDUs
constexpr std::array<rdp_pcm_format, 4> offered{{{48000, 2}, {44100, 2}, {48000, 1}, {44100, 1}}};

AUDIO_FORMAT pcm(const rdp_pcm_format& f) {
    AUDIO_FORMAT a{};
    a.wFormatTag = WAVE_FORMAT_PCM;
    a.nChannels = f.channels;
    a.nSamplesPerSec = f.rate;
    a.wBitsPerSample = 16;
    a.nBlockAlign = static_cast<UINT16>(2 * f.channels);
    a.nAvgBytesPerSec = f.rate * a.nBlockAlign;
    return a;
}

bool is_pcm16(const AUDIO_FORMAT& a) { return a.wFormatTag == WAVE_FORMAT_PCM && a.wBitsPerSample == 16 && a.nChannels > 0 && a.nSamplesPerSec > 0; }

// The client format to use: the first of ours (in our order) that the client lists.
int choose(const AUDIO_FORMAT* client, std::size_t count) {
    for (const auto& want : offered) {
        for (std::size_t i = 0; i < count; ++i) {
            if (is_pcm16(client[i]) && client[i].nSamplesPerSec == want.rate && client[i].nChannels == want.channels) return static_cast<int>(i);
        }
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (is_pcm16(client[i])) return static_cast<int>(i);
    }
    return -1;
}

class freerdp_channels final : public rdp_channels {
public:
    freerdp_channels(HANDLE vcm, rdpContext* context, rdp_channel_events& events) : vcm_(vcm), context_(context), events_(events) {}

    // Each context frees its server formats (rdpsnd with free(), audin with audio_formats_free()):
    // each gets an array of its own from audio_formats_new().
    static AUDIO_FORMAT* new_server_formats() {
        AUDIO_FORMAT* formats = audio_formats_new(offered.size());
        if (formats) {
            for (std::size_t i = 0; i < offered.size(); ++i) formats[i] = pcm(offered[i]);
        }
        return formats;
    }

    ~freerdp_channels() override {
        if (audin_) {
            if (audin_->IsOpen(audin_)) audin_->Close(audin_);
            audin_server_context_free(audin_);
        }
        if (rdpsnd_) {
            rdpsnd_->Stop(rdpsnd_);
            rdpsnd_server_context_free(rdpsnd_);
        }
    }

    std::expected<void, device_error> start() {
        if (WTSVirtualChannelManagerIsChannelJoined(vcm_, "rdpsnd")) {
            rdpsnd_ = rdpsnd_server_context_new(vcm_);
            if (!rdpsnd_) return fail("cannot make the rdpsnd channel");
            rdpsnd_->rdpcontext = context_;
            rdpsnd_->data = this;
            rdpsnd_->server_formats = new_server_formats();
            if (!rdpsnd_->server_formats) return fail("no memory for the formats");
            rdpsnd_->num_server_formats = offered.size();
            rdpsnd_->src_format = &rdpsnd_->server_formats[0];
            rdpsnd_->latency = 20;
            rdpsnd_->Activated = [](RdpsndServerContext* c) { static_cast<freerdp_channels*>(c->data)->speakers_activated(); };
            rdpsnd_->ConfirmBlock = [](RdpsndServerContext* c, BYTE block, UINT16 timestamp) -> UINT {
                static_cast<freerdp_channels*>(c->data)->events_.confirmed(block, timestamp);
                return CHANNEL_RC_OK;
            };
            if (rdpsnd_->Initialize(rdpsnd_, TRUE) != CHANNEL_RC_OK) return fail("the rdpsnd channel did not start");
        }
        audin_ = audin_server_context_new(vcm_);
        if (!audin_) return fail("cannot make the audin channel");
        audin_->rdpcontext = context_;
        audin_->data = this;
        audin_->server_formats = new_server_formats();
        if (!audin_->server_formats) return fail("no memory for the formats");
        audin_->num_server_formats = offered.size();
        audin_->dst_format = &audin_->server_formats[0];
        audin_->frames_per_packet = 480; // 10 ms at 48 kHz: the client sends in small pieces
        audin_->Opening = [](audin_server_context* c) -> UINT { return static_cast<freerdp_channels*>(c->data)->microphone_opening(); };
        audin_->OpenResult = [](audin_server_context* c, UINT32 result) -> UINT {
            static_cast<freerdp_channels*>(c->data)->microphone_opened(result);
            return CHANNEL_RC_OK;
        };
        audin_->ReceiveSamples = [](audin_server_context* c, const AUDIO_FORMAT*, wStream* s, size_t frames) -> UINT {
            static_cast<freerdp_channels*>(c->data)->microphone_samples(s, frames);
            return CHANNEL_RC_OK;
        };
        return {};
    }

    rdp_pcm_format speakers_format() const override {
        const std::lock_guard lock(mutex_);
        return speakers_format_;
    }
    bool speakers_ready() const override { return speakers_ready_.load(std::memory_order_acquire); }
    std::uint8_t next_block() const override { return rdpsnd_ ? rdpsnd_->block_no : 0; }

    bool send_block(const std::int16_t* frames, std::uint32_t count, std::uint16_t timestamp_ms, std::uint8_t& block) override {
        if (!rdpsnd_ || !speakers_ready()) return false;
        block = rdpsnd_->block_no;
        const std::size_t bytes = std::size_t{count} * speakers_format_.channels * 2;
        if (rdpsnd_->clientVersion >= wave2_version)
            return rdpsnd_->SendSamples2(rdpsnd_, static_cast<UINT16>(speakers_index_), frames, bytes, timestamp_ms, timestamp_ms) == CHANNEL_RC_OK;
        // Wave PDUs go through FreeRDP's DSP (PCM to PCM), which may flip the sign bit: flipped
        // here first, it comes out right.
        const std::int16_t* send = frames;
        if (dsp_flips_) {
            flipped_.assign(frames, frames + bytes / 2);
            for (auto& s : flipped_) s = static_cast<std::int16_t>(static_cast<std::uint16_t>(s) ^ 0x8000u);
            send = flipped_.data();
        }
        return rdpsnd_->SendSamples(rdpsnd_, send, static_cast<int>(count), timestamp_ms) == CHANNEL_RC_OK;
    }

    rdp_pcm_format microphone_format() const override {
        const std::lock_guard lock(mutex_);
        return microphone_format_;
    }
    bool microphone_open() const override { return microphone_open_.load(std::memory_order_acquire); }

    void poll() override {
        if (!audin_ || audin_->IsOpen(audin_)) return;
        if (!WTSVirtualChannelManagerIsChannelJoined(vcm_, "drdynvc")) return;
        if (WTSVirtualChannelManagerGetDrdynvcState(vcm_) != DRDYNVC_STATE_READY) return;
        if (audin_tried_) return; // once: a client without a microphone refuses it
        audin_tried_ = true;
        (void)audin_->Open(audin_);
    }

private:
    std::unexpected<device_error> fail(const char* why) const {
        return std::unexpected(device_error{make_error_code(errc::device_unavailable), std::string("rdp session: ") + why});
    }

    void speakers_activated() {
        const int index = choose(rdpsnd_->client_formats, rdpsnd_->num_client_formats);
        if (index < 0) {
            events_.speakers_changed(false); // the client plays no 16-bit PCM
            return;
        }
        const AUDIO_FORMAT& chosen = rdpsnd_->client_formats[index];
        // The DSP converts from src_format (used for Wave PDUs only): the same PCM as the client's.
        for (std::size_t i = 0; i < rdpsnd_->num_server_formats; ++i) {
            AUDIO_FORMAT& f = rdpsnd_->server_formats[i];
            if (f.nSamplesPerSec == chosen.nSamplesPerSec && f.nChannels == chosen.nChannels) rdpsnd_->src_format = &f;
        }
        if (rdpsnd_->SelectFormat(rdpsnd_, static_cast<UINT16>(index)) != CHANNEL_RC_OK) {
            events_.speakers_changed(false);
            return;
        }
        {
            const std::lock_guard lock(mutex_);
            speakers_format_ = {chosen.nSamplesPerSec, chosen.nChannels};
            speakers_index_ = index;
        }
        dsp_flips_ = rdp_dsp_flips_sign(true);
        speakers_ready_.store(true, std::memory_order_release);
        events_.speakers_changed(true);
    }

    UINT microphone_opening() {
        const int index = choose(audin_->client_formats, audin_->num_client_formats);
        if (index < 0) return ERROR_INVALID_DATA;
        {
            const std::lock_guard lock(mutex_);
            microphone_format_ = {audin_->client_formats[index].nSamplesPerSec, audin_->client_formats[index].nChannels};
        }
        flip_microphone_ = rdp_dsp_flips_sign(false);
        return audin_->SelectFormat(audin_, static_cast<size_t>(index));
    }

    void microphone_opened(UINT32 result) {
        const bool open = result == 0;
        microphone_open_.store(open, std::memory_order_release);
        events_.microphone_changed(open);
    }

    void microphone_samples(wStream* s, std::size_t frames) {
        const std::size_t samples = frames * microphone_format_.channels;
        if (Stream_Length(s) < samples * 2) return;
        const auto* data = reinterpret_cast<const std::int16_t*>(Stream_Buffer(s));
        if (!flip_microphone_) {
            events_.recorded(data, frames);
            return;
        }
        recorded_.assign(data, data + samples);
        for (auto& v : recorded_) v = static_cast<std::int16_t>(static_cast<std::uint16_t>(v) ^ 0x8000u);
        events_.recorded(recorded_.data(), frames);
    }

    HANDLE vcm_;
    rdpContext* context_;
    rdp_channel_events& events_;
    RdpsndServerContext* rdpsnd_ = nullptr;
    audin_server_context* audin_ = nullptr;
    mutable std::mutex mutex_; // the formats, written on FreeRDP's threads
    rdp_pcm_format speakers_format_{};
    int speakers_index_ = -1;
    rdp_pcm_format microphone_format_{};
    // order: release/acquire — the format is written before the flag says it is there.
    std::atomic<bool> speakers_ready_{false};
    std::atomic<bool> microphone_open_{false};
    bool dsp_flips_ = false;       // the sender thread's, set before speakers_ready_
    bool flip_microphone_ = false; // audin's thread's
    bool audin_tried_ = false;     // the session loop's
    std::vector<std::int16_t> flipped_;  // the sender thread's
    std::vector<std::int16_t> recorded_; // audin's thread's
};

} // namespace

std::expected<std::unique_ptr<rdp_channels>, device_error> rdp_channels::open(void* vcm, void* rdp_context, rdp_channel_events& events) {
    if (!vcm || !rdp_context) return std::unexpected(device_error{make_error_code(errc::bad_argument), "rdp session: no virtual channel manager or context"});
    auto channels = std::make_unique<freerdp_channels>(static_cast<HANDLE>(vcm), static_cast<rdpContext*>(rdp_context), events);
    if (auto started = channels->start(); !started) return std::unexpected(started.error());
    return channels;
}

namespace {
bool dsp_flips(bool encoder) {
    AUDIO_FORMAT format = pcm({44100, 1});
    FREERDP_DSP_CONTEXT* dsp = freerdp_dsp_context_new(encoder ? TRUE : FALSE);
    if (!dsp) return false;
    bool result = false;
    wStream* out = Stream_New(nullptr, 64);
    const std::int16_t in[2] = {1000, -1000};
    const auto* bytes = reinterpret_cast<const BYTE*>(in);
    if (out && freerdp_dsp_context_reset(dsp, &format) &&
        (encoder ? freerdp_dsp_encode(dsp, &format, bytes, sizeof in, out) : freerdp_dsp_decode(dsp, &format, bytes, sizeof in, out)) &&
        Stream_GetPosition(out) >= 2) {
        const auto first = *reinterpret_cast<const std::int16_t*>(Stream_Buffer(out));
        result = first == static_cast<std::int16_t>(static_cast<std::uint16_t>(1000) ^ 0x8000u);
    }
    if (out) Stream_Free(out, TRUE);
    freerdp_dsp_context_free(dsp);
    return result;
}
} // namespace

bool rdp_dsp_flips_sign(bool encoder) {
    static const bool encoder_flips = dsp_flips(true);
    static const bool decoder_flips = dsp_flips(false);
    return encoder ? encoder_flips : decoder_flips;
}

} // namespace ae::pipeline
