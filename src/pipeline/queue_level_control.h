// Drift control of a queue between two clocks: the queue's level, averaged by time, held on the
// level it settled at by a PI loop whose correction (ppm) steers one clock against the other — an
// RTP receiver's drift resampler (rtp_receiver.cpp), an RDP client's pacing (rdp_speakers.cpp).
// The set point rises when late packets grow the queue, and comes back down once they stop.
#pragma once

#include <openae/rt/types.h>

#include <algorithm>
#include <optional>

namespace ae::pipeline {

class queue_level_control {
public:
    // `max_correction_ppm`: the correction's range (what the steered clock or resampler can do).
    explicit queue_level_control(double rate, double max_correction_ppm = 1000) noexcept : rate_(rate), max_correction_ppm_(max_correction_ppm) {}

    // A fresh stream at `now`: the level settles again.
    void restart(hns now) noexcept; // rt-safe: bounded
    // Late packets made the receiver add `frames` to the queue at `now`: the set point follows.
    void grew(double frames, hns now) noexcept; // rt-safe: bounded
    // The level to hold moves by `frames` (a bridge that learned its devices need more, or less,
    // than what the queue settled at); the average does not, so drift control moves the queue
    // there. Only once the set point is known.
    void shift_target(double frames) noexcept; // rt-safe: wait-free
    // The queue lost `frames` for good at its far end (an RDP client dropped a block): the level
    // held and the average come down by them together, so drift control neither chases the loss
    // nor swings. Only once the set point is known.
    void lost(double frames) noexcept; // rt-safe: wait-free
    // The queue came near empty at `now`: the level to hold rises by `frames` for a while, and
    // comes back down as a grown one does (0.5 ms a second, after a wait that doubles when it
    // has to rise again). The average does not move: drift control fills the queue up to it.
    void raise_target(double frames, hns now) noexcept; // rt-safe: wait-free
    // The correction is kept within [lowest_ppm, its range's top] from now on (and so is the
    // loop's integral: nothing winds up beyond it) — what the steered side will take, when it
    // says so (an RDP client that drops blocks sent faster than its own clock).
    void limit_from_below(double lowest_ppm) noexcept { lowest_ppm_ = std::max(lowest_ppm, -max_correction_ppm_); } // rt-safe: wait-free
    // The correction last returned (ppm).
    [[nodiscard]] double correction() const noexcept { return correction_; }
    // The queue needs `frames` less than it settled at: the set point comes down to it at the
    // pace a grown queue relaxes (0.5 ms a second, from 5 s after the start), which the drift
    // resampler follows inaudibly. Only once the set point is known.
    void lower_floor(double frames) noexcept; // rt-safe: wait-free
    // The queue holds `queued` frames at `now`. With `steer`, the correction for the drift
    // resampler (ppm), once the set point is known.
    [[nodiscard]] std::optional<double> sample(double queued, hns now, bool steer) noexcept; // rt-safe: bounded

    [[nodiscard]] double average() const noexcept { return average_; }
    [[nodiscard]] bool target_known() const noexcept { return setpoint_known_; }
    [[nodiscard]] double target() const noexcept { return setpoint_; }

private:
    double rate_;
    double max_correction_ppm_;
    double lowest_ppm_ = -max_correction_ppm_;
    bool setpoint_known_ = false;
    double setpoint_ = 0;
    double settled_setpoint_ = 0; // the level the queue settled at: where relaxing stops
    double average_ = 0;
    bool average_known_ = false;
    double settle_sum_ = 0;
    double settle_seconds_ = 0;
    double previous_queued_ = 0;
    hns settle_from_{0};
    hns last_sample_{0};
    double integral_ = 0;
    hns last_refill_{0};
    double relax_wait_s_ = 0;
    bool relaxed_since_refill_ = false;
    double correction_ = 0;
};

} // namespace ae::pipeline
