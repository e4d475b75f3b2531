#!/usr/bin/env bash
# openae's PipeWire device at a small quantum (issue 12): the tests' PipeWire peer (pipewire, a null
# sink, wireplumber: tests/data/pipewire/peer.sh) in a private runtime directory, the graph's
# quantum forced to PERIOD (clock.force-quantum), openae rendering into the null sink for SECONDS
# with `stress-ng --cpu 2` loading both cores unless the 4th argument is `quiet`, then a plain
# PipeWire playback stream (bench/pw_client.cpp) the same way: the reference.
#   bench/run_pipewire_period.sh BUILD_DIR PERIOD SECONDS [stress|quiet]
set -euo pipefail
build=${1:?build dir}
period=${2:?quantum frames}
seconds=${3:?seconds}
load=${4:-stress}
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/openae-pw-bench-XXXXXX)
chmod 700 "$dir"
mkfifo "$dir/ready"
export XDG_RUNTIME_DIR="$dir" PIPEWIRE_RUNTIME_DIR="$dir"
setsid dbus-run-session -- sh "$here/tests/data/pipewire/peer.sh" "$dir/ready" >"$dir/peer.log" 2>&1 &
peer_pid=$!
stress_pid=
trap 'kill -- -$peer_pid ${stress_pid:-} 2>/dev/null; rm -rf "$dir"' EXIT
read -r -t 20 _ <"$dir/ready"
pw-metadata -n settings 0 clock.force-quantum "$period" >/dev/null
if [ "$load" = stress ]; then
    # Without it the run is quiet and says nothing about load: refuse rather than mislead.
    command -v stress-ng >/dev/null || { echo "stress-ng is not installed (apt-get install stress-ng)" >&2; exit 1; }
    stress-ng --cpu 2 --timeout $((2 * seconds + 30))s >/dev/null 2>&1 &
    stress_pid=$!
fi
echo "openae: $("$build/bench/bench_device_period" "pipewire:openae_test_sink?latency=$period/48000" "$seconds" 1)"
echo "reference: $("$build/bench/pw_client" openae_test_sink "$period" "$seconds")"
