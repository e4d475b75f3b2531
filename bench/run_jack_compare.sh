#!/usr/bin/env bash
# Runs bench/jack_clients against `jackd -d dummy -p 128` for a sweep of client counts, reading
# jackd's own CPU from /proc around each run and its xrun reasons from its log. Usage: bench/run_jack_compare.sh BUILD_DIR [SECONDS] [N...]
set -euo pipefail
build=${1:?build dir}
seconds=${2:-5}
shift 2 || true
counts=("$@")
((${#counts[@]})) || counts=(8 16 32 64 96 128 192)
ticks=$(getconf CLK_TCK)
export JACK_NO_START_SERVER=1
for n in "${counts[@]}"; do
    name="openae-bench-$$-$n"
    jackd -n "$name" -d dummy -r 48000 -p 128 -C 2 -P 2 >/tmp/jackd.$$ 2>&1 &
    jackd_pid=$!
    jack_wait -w -s "$name" -t 5 >/dev/null
    # jackd's CPU over the measured window: sample /proc before and after (the client process
    # settles for 1 s first; read after that).
    "$build/bench/jack_clients" "$name" "$n" "$seconds" > /tmp/jack_clients.$$ &
    client_pid=$!
    sleep 1.5
    before=$(awk '{print $14 + $15}' /proc/$jackd_pid/stat)
    sleep "$seconds"
    after=$(awk '{print $14 + $15}' /proc/$jackd_pid/stat)
    wait $client_pid || true
    kill $jackd_pid; wait $jackd_pid 2>/dev/null || true
    jackd_cpu=$(awk -v a="$after" -v b="$before" -v t="$ticks" -v s="$seconds" 'BEGIN { printf "%.1f", 100 * (a - b) / t / s }')
    # jackd's log tells the two kinds of xrun apart: a client that had not finished its cycle
    # (the graph overran the period: overload) and a driver wake-up a few µs late (the timed
    # dummy driver calls any lateness an xrun: scheduler jitter, present with one client).
    unfinished=$(grep -c "was not finished" /tmp/jackd.$$ || true)
    late=$(grep -c "JackTimedDriver::Process XRun" /tmp/jackd.$$ || true)
    echo "$(cat /tmp/jack_clients.$$) jackd_cpu ${jackd_cpu}% unfinished_clients ${unfinished} late_driver_wakeups ${late} (whole run)"
done
rm -f /tmp/jack_clients.$$ /tmp/jackd.$$
