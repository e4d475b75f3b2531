#!/usr/bin/env bash
# What openae adds to a PipeWire graph's latency, measured with a marker: jack_iodelay under pw-jack
# (pipewire-jack) plays a tone on jack_delay:out and reads its phase back on jack_delay:in. In the
# tests' PipeWire peer (tests/data/pipewire/peer.sh) with the quantum forced to PERIOD, the loop runs
# jack_delay:out → the null sink openae_test_sink → (from its monitor) a pass-through → a second null
# sink loop_sink → (its monitor) → jack_delay:in. The pass-through is first pw-loopback (a plain
# PipeWire client: its capture stream feeding its playback stream, the reference), then openae
# (bench/loop_engine: a capture endpoint on `pipewire:openae_test_sink`, an RT engine thread
# copying into a render endpoint on `pipewire:loop_sink`, periods of PERIOD, buffers of two).
#
#   bench/run_pipewire_latency.sh BUILD_DIR [PERIOD] [SECONDS]
set -euo pipefail
build=${1:?build dir}
period=${2:-256}
seconds=${3:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v pw-jack > /dev/null || { echo "pw-jack is missing: apt-get install pipewire-jack" >&2; exit 1; }
dir=$(mktemp -d /tmp/openae-pw-lat-XXXXXX)
chmod 700 "$dir"
mkfifo "$dir/ready"
export XDG_RUNTIME_DIR="$dir" PIPEWIRE_RUNTIME_DIR="$dir"
setsid dbus-run-session -- sh "$here/tests/data/pipewire/peer.sh" "$dir/ready" > "$dir/peer.log" 2>&1 &
peer_pid=$!
delay_pid=
# (set -e holds inside the trap too: every step may fail without cutting the rest short.)
cleanup() {
    [ -z "${delay_pid:-}" ] || kill "$delay_pid" 2> /dev/null || true
    kill -- "-$peer_pid" 2> /dev/null || true
    wait 2> /dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
read -r -t 20 _ < "$dir/ready"
pw-metadata -n settings 0 clock.force-quantum "$period" > /dev/null
pw-cli create-node adapter '{ factory.name=support.null-audio-sink node.name=loop_sink media.class=Audio/Sink object.linger=true
    audio.rate=48000 audio.channels=1 audio.position=[MONO] }' > /dev/null

. "$here/bench/iodelay_report.sh" # report()

wait_pw_port() { # DIRECTION(-o|-i) PORT: bounded, 5 s
    for _ in $(seq 50); do
        pw-link "$1" 2> /dev/null | grep -qx "$2" && return 0
        sleep 0.1
    done
    echo "no port $2" >&2
    return 1
}
# jack_iodelay's loop, open at both ends of the two sinks; its readings (carriage returns made
# newlines) into LOG once it is stopped.
start_marker() { # LOG
    pw-jack stdbuf -oL jack_iodelay > "$1.raw" 2>&1 &
    delay_pid=$!
    wait_pw_port -o jack_delay:out
    pw-link jack_delay:out openae_test_sink:playback_FL
    pw-link loop_sink:monitor_MONO jack_delay:in
}
stop_marker() { # LOG
    kill "$delay_pid" 2> /dev/null || true
    wait "$delay_pid" 2> /dev/null || true
    delay_pid=
    tr '\r' '\n' < "$1.raw" | tr -d '\000' > "$1"
}
# The reference: pw-loopback, mono, from the sink's monitor into loop_sink.
start_marker "$dir/reference.log"
timeout "$seconds" pw-loopback -m '[ MONO ]' -c 1 -C openae_test_sink -P loop_sink > "$dir/loopback.log" 2>&1 || true
stop_marker "$dir/reference.log"

# openae: the same through a capture endpoint, an engine thread and a render endpoint.
start_marker "$dir/openae.log"
"$build/bench/loop_engine" "pipewire:openae_test_sink?latency=$period/48000" "pipewire:loop_sink?latency=$period/48000" \
    "$seconds" "$period" 2 > "$dir/loop.log" 2>&1 || { cat "$dir/loop.log" >&2; exit 1; }
stop_marker "$dir/openae.log"

echo "PipeWire, quantum $period at 48 kHz; jack_iodelay's loop through two null sinks, ${seconds} s each:"
report "through pw-loopback" "$dir/reference.log"
report "through an openae engine" "$dir/openae.log"
grep "^loop" "$dir/loop.log" || cat "$dir/loop.log"
