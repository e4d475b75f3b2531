#!/usr/bin/env bash
# What openae adds to an ALSA PCM's latency, measured with a marker: jack_iodelay plays a tone on
# jack_delay:out and reads its phase back on jack_delay:in, printing the loop's latency in frames.
# The loop is closed through two ALSA PCMs of the `jack` plugin (libasound2-plugins) — a paced PCM
# on a machine without a sound card — first by alsaloop (alsa-utils: a plain ALSA client copying
# capture to playback, the reference), then by openae (bench/loop_engine: a capture endpoint on
# `alsa:aeloop_in`, an RT engine thread copying into a render endpoint on `alsa:aeloop_out`). Both
# asked for two periods: openae's endpoints with PERIOD-frame periods and two-period buffers (its ALSA
# PCMs the same), alsaloop with a two-period latency target (-t; it picks its own buffers).
#
#   bench/run_alsa_latency.sh BUILD_DIR [PERIOD] [SECONDS]
set -euo pipefail
build=${1:?build dir}
period=${2:-256}
seconds=${3:-20}
command -v alsaloop > /dev/null || { echo "alsaloop is missing: apt-get install alsa-utils" >&2; exit 1; }
export JACK_NO_START_SERVER=1
name="openae-alsa-lat-$$"
scratch=$(mktemp -d /tmp/openae-alsa-lat.XXXXXX)
jackd -n "$name" -d dummy -r 48000 -p "$period" -C 2 -P 2 > "$scratch/jackd.log" 2>&1 &
jackd_pid=$!
cleanup() {
    kill "$jackd_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
jack_wait -w -s "$name" -t 5 > /dev/null
# The jack PCM plugin has no server option: its clients find the server by name here.
export JACK_DEFAULT_SERVER="$name"
cat > "$scratch/asound.conf" << EOF
pcm.aeloop_in { type jack capture_ports { 0 jack_delay:out } }
pcm.aeloop_out { type jack playback_ports { 0 jack_delay:in } }
EOF
export ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$scratch/asound.conf"

. "$(dirname "$0")/iodelay_report.sh"

# alsaloop keeps its loop at this latency (two periods, rounded up: 10666 us at 256 frames
# leaves the jack plugin no period size it takes).
loop_us=$(((2 * period * 1000000 + 47999) / 48000))
# The reference: jack_iodelay -> aeloop_in -> alsaloop -> aeloop_out -> jack_iodelay.
jack_iodelay -s "$name" > "$scratch/reference.log" 2>&1 &
delay_pid=$!
wait_port jack_delay:out
timeout "$((seconds + 5))" alsaloop -C aeloop_in -P aeloop_out -f FLOAT_LE -c 1 -r 48000 -S 1 -t "$loop_us" \
    -s "$seconds" > "$scratch/alsaloop.log" 2>&1 || true
kill "$delay_pid" 2> /dev/null || true
wait "$delay_pid" 2> /dev/null || true

# openae: jack_iodelay -> alsa:aeloop_in -> loop_engine -> alsa:aeloop_out -> jack_iodelay.
jack_iodelay -s "$name" > "$scratch/openae.log" 2>&1 &
delay_pid=$!
wait_port jack_delay:out
period_ms=$(awk -v p="$period" 'BEGIN { printf "%.4f", p / 48 }')
"$build/bench/loop_engine" "alsa:aeloop_in?rate=48000&channels=1&sample=f32&period=$period_ms&periods=2" \
    "alsa:aeloop_out?rate=48000&channels=1&sample=f32&period=$period_ms&periods=2" "$seconds" "$period" 2 \
    > "$scratch/loop.log" 2>&1 || { cat "$scratch/loop.log" >&2; exit 1; }
kill "$delay_pid" 2> /dev/null || true
wait "$delay_pid" 2> /dev/null || true

echo "jackd -d dummy -r 48000 -p $period; the jack ALSA plugin's PCMs; jack_iodelay's loop, ${seconds} s each:"
report "through alsaloop" "$scratch/reference.log"
report "through an openae engine" "$scratch/openae.log"
grep "^loop" "$scratch/loop.log" || cat "$scratch/loop.log"
grep -iv "^$" "$scratch/alsaloop.log" | tail -3 || true
