#!/usr/bin/env bash
# What openae adds to a JACK graph's latency, measured with jack_iodelay (it plays a tone on
# jack_delay:out and reads its phase back on jack_delay:in, printing the loop's latency in
# frames): the loop closed through one plain pass-through client (bench/jack_clients, the
# reference), through an openae bridge (ae-host --bridge: a capture endpoint on jack_delay:out
# feeding a render endpoint on jack_delay:in), and through an engine of the host's own
# (bench/loop_engine: the same two endpoints, copied by an event-driven RT thread, buffers of two
# periods), one after the other on one `jackd -d dummy`.
#
#   bench/run_jack_latency.sh BUILD_DIR [PERIOD] [SECONDS] [MARGIN_MS]
set -euo pipefail
build=${1:?build dir}
period=${2:-128}
seconds=${3:-20}
margin=${4:-4}
export JACK_NO_START_SERVER=1
name="openae-lat-$$"
scratch=$(mktemp -d /tmp/openae-jack-lat.XXXXXX)
jackd -n "$name" -d dummy -r 48000 -p "$period" -C 2 -P 2 > "$scratch/jackd.log" 2>&1 &
jackd_pid=$!
cleanup() {
    kill "$jackd_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
jack_wait -w -s "$name" -t 5 > /dev/null
export JACK_DEFAULT_SERVER="$name"

. "$(dirname "$0")/iodelay_report.sh"

# The reference: jack_iodelay -> pass0 -> jack_iodelay.
jack_iodelay -s "$name" > "$scratch/reference.log" 2>&1 &
delay_pid=$!
wait_port jack_delay:out
"$build/bench/jack_clients" "$name" 1 "$((seconds + 2))" > /dev/null &
client_pid=$!
wait_port pass0:out1
sleep 1.2 # jack_clients connects itself to the system ports after activating: rewire after it
for ch in 1 2; do
    jack_disconnect -s "$name" "system:capture_$ch" "pass0:in$ch" 2> /dev/null || true
    jack_disconnect -s "$name" "pass0:out$ch" "system:playback_$ch" 2> /dev/null || true
done
jack_connect -s "$name" jack_delay:out pass0:in1
jack_connect -s "$name" pass0:out1 jack_delay:in
sleep "$seconds"
kill "$delay_pid" 2> /dev/null || true
wait "$client_pid" 2> /dev/null || true
wait "$delay_pid" 2> /dev/null || true

# openae: jack_iodelay -> a bridge (capture endpoint -> render endpoint) -> jack_iodelay.
jack_iodelay -s "$name" > "$scratch/openae.log" 2>&1 &
delay_pid=$!
wait_port jack_delay:out
cat > "$scratch/host.json" << EOF
{"bridges": [{"bridge": "lat", "margin_ms": $margin,
              "from": "jack:openae-in?server=$name&ports=jack_delay:out&channels=1",
              "to": "jack:openae-out?server=$name&ports=jack_delay:in&channels=1"}]}
EOF
"$build/apps/ae-host/ae-host" --config "$scratch/host.json" --socket none --log-level warn --seconds "$seconds" \
    > "$scratch/ae-host.log" 2>&1 || { cat "$scratch/ae-host.log" >&2; exit 1; }
kill "$delay_pid" 2> /dev/null || true
wait "$delay_pid" 2> /dev/null || true

# openae with the host's engine: jack_iodelay -> capture endpoint -> loop_engine -> render endpoint.
jack_iodelay -s "$name" > "$scratch/engine.log" 2>&1 &
delay_pid=$!
wait_port jack_delay:out
"$build/bench/loop_engine" "jack:openae-in?server=$name&ports=jack_delay:out&channels=1" \
    "jack:openae-out?server=$name&ports=jack_delay:in&channels=1" "$seconds" "$period" 2 > "$scratch/loop.log" 2>&1 ||
    { cat "$scratch/loop.log" >&2; exit 1; }
kill "$delay_pid" 2> /dev/null || true
wait "$delay_pid" 2> /dev/null || true

echo "jackd -d dummy -r 48000 -p $period; jack_iodelay's loop, ${seconds} s each; the bridge's margin ${margin} ms:"
report "through a plain client" "$scratch/reference.log"
report "through an openae bridge" "$scratch/openae.log"
report "through an openae engine" "$scratch/engine.log"
grep "^loop" "$scratch/loop.log" || cat "$scratch/loop.log"
grep -i "bridge" "$scratch/ae-host.log" | tail -3
