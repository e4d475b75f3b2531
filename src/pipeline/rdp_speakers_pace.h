// Drift control of an RDP client's speakers (rdp_speakers.cpp), on FreeRDP's rdpsnd thread: the
// client's queue — a block's wait from its send until its end is heard, from the Wave Confirms —
// held on the level it settled at by openae's pace (the device clock against nominal). A client
// whose clock is slower than ours lets the queue grow, a faster one drains it; the pace follows
// the client's clock instead. A client that refuses blocks sent faster than its own clock allows
// (FreeRDP's) limits the pace.
#pragma once

#include "queue_level_control.h"

#include <openae/rt/types.h>

#include <algorithm>
#include <optional>

namespace ae::pipeline {

class rdp_speakers_pace {
public:
    static constexpr double max_pace_ppm = 1000;

    explicit rdp_speakers_pace(double rate) noexcept : rate_(rate), level_(rate, max_pace_ppm) {}

    // A played confirm at `now`: false while the client's player still fills its buffer (2 s
    // from the first one), when its queue is not yet a level to hold.
    [[nodiscard]] bool warm(hns now) noexcept { // rt-safe: wait-free
        if (warm_up_from_ == hns{0}) warm_up_from_ = now;
        return now - warm_up_from_ >= hns{static_cast<std::int64_t>(warm_up_s * 1e7)};
    }

    // The client's queue was `heard_after_ms` at `now`: the pace to set (ppm; + sends faster),
    // once the level is known.
    [[nodiscard]] std::optional<double> played(double heard_after_ms, hns now) noexcept { // rt-safe: bounded
        if (!started_) {
            level_.restart(now);
            started_ = true;
            last_ = now;
        }
        ceiling_ppm_ = std::min(max_pace_ppm, ceiling_ppm_ + ceiling_relax_ppm_per_s * static_cast<double>((now - last_).count()) * 1e-7);
        last_ = now;
        level_.limit_from_below(-ceiling_ppm_);
        // A queue above its level: the client plays slower than openae sends — send slower.
        const auto correction = level_.sample(heard_after_ms * rate_ / 1000.0, now, true);
        if (settled_frames_ == 0 && level_.target_known()) settled_frames_ = level_.target();
        if (!correction) return std::nullopt;
        pace_ppm_ = -*correction;
        return pace_ppm_;
    }

    // The client refused a block of `block_frames` sent at the pace last set: it takes no more than its
    // own clock allows (or its count ran ahead after a late burst). Its queue lost the block for
    // good — a faster pace to refill it only costs more refused blocks, and if its device runs
    // faster than its count the queue shrinks whatever openae sends — so the level held comes down
    // by the block (to half the settled one at most), and the pace stays below the refused one,
    // coming back up slowly.
    void refused(double block_frames) noexcept { // rt-safe: wait-free
        ceiling_ppm_ = std::max(-max_pace_ppm, std::min(ceiling_ppm_, pace_ppm_ - ceiling_step_ppm));
        if (level_.target_known() && level_.target() - block_frames >= 0.5 * settled_frames_) level_.lost(block_frames);
    }

    // The level held (ms; 0 until known).
    [[nodiscard]] double target_ms() const noexcept { return level_.target_known() ? level_.target() * 1000.0 / rate_ : 0.0; }

private:
    static constexpr double warm_up_s = 2;
    static constexpr double ceiling_step_ppm = 50;
    static constexpr double ceiling_relax_ppm_per_s = 2;

    double rate_;
    queue_level_control level_;
    hns warm_up_from_{0};
    bool started_ = false;
    hns last_{0};
    double ceiling_ppm_ = max_pace_ppm;
    double settled_frames_ = 0; // the level the queue first settled at
    double pace_ppm_ = 0;       // the pace last set
};

} // namespace ae::pipeline
