#!/usr/bin/env bash
# The smallest stable period on JACK (issue 12): openae's JACK device (one client, its process
# callback running the device loop, an engine thread refilling a 2-period endpoint) against a plain
# JACK pass-through client (bench/jack_clients) at the same period, each for SECONDS, on one
# `jackd -R -d dummy` (SCHED_FIFO), with `stress-ng --cpu 2` loading both cores unless the 4th
# argument is `quiet`. jackd's log is read for its own xrun reports over each run.
#   bench/run_smallest_period.sh BUILD_DIR PERIOD SECONDS [stress|quiet]
set -euo pipefail
build=${1:?build dir}
period=${2:?period frames}
seconds=${3:?seconds}
load=${4:-stress}
export JACK_NO_START_SERVER=1
name="openae-period-$$"
log=/tmp/jackd-period.$$
jackd -R -P 80 -n "$name" -d dummy -r 48000 -p "$period" >"$log" 2>&1 &
jackd_pid=$!
trap 'kill $jackd_pid ${stress_pid:-} 2>/dev/null; rm -f "$log"' EXIT
jack_wait -w -s "$name" -t 5 >/dev/null
stress_pid=
if [ "$load" = stress ]; then
    # Without it the run is quiet and says nothing about load: refuse rather than mislead.
    command -v stress-ng >/dev/null || { echo "stress-ng is not installed (apt-get install stress-ng)" >&2; exit 1; }
    stress-ng --cpu 2 --timeout $((2 * seconds + 30))s >/dev/null 2>&1 &
    stress_pid=$!
fi
xruns() { grep -c -E "XRun|was not finished" "$log" || true; }
before=$(xruns)
echo "openae:    $("$build/bench/bench_device_period" "jack:openae?server=$name&connect=auto" "$seconds" 1) | jackd xrun lines $(( $(xruns) - before ))"
before=$(xruns)
echo "reference: $("$build/bench/jack_clients" "$name" 1 "$seconds") | jackd xrun lines $(( $(xruns) - before ))"
