#!/usr/bin/env bash
# N streams into one JACK graph at 128-frame periods, two ways, each on a fresh `jackd -d dummy`:
# N plain JACK clients (bench/jack_clients: N stereo pass-through clients), and openae's way — one
# JACK client (openae's jack device) mixing N endpoints that ae-host's engine fills with a tone.
# For each: jackd's CPU and the other process's CPU over the measured window (from /proc), and
# jackd's xrun lines (its log's `XRun` and `was not finished`).
#
#   [SETTLE=S] bench/run_jack_endpoints.sh BUILD_DIR [SECONDS] [N...]
set -euo pipefail
build=${1:?build dir}
seconds=${2:-10}
shift 2 || true
counts=("$@")
((${#counts[@]})) || counts=(1 8 32 64)
ticks=$(getconf CLK_TCK)
settle=${SETTLE:-2} # seconds each side runs before the measured window
export JACK_NO_START_SERVER=1
scratch=$(mktemp -d /tmp/openae-jack-endpoints.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# PID of the process to measure, jackd's PID, LABEL, N: settles (SETTLE, 2 s), then measures `seconds`.
measure() {
    local pid=$1 jackd_pid=$2 label=$3 n=$4 j0 p0 j1 p1 xruns
    sleep "$settle"
    j0=$(cpu_ticks "$jackd_pid"); p0=$(cpu_ticks "$pid")
    local lines0; lines0=$(grep -c -E "XRun|was not finished" "$scratch/jackd.log" || true)
    sleep "$seconds"
    j1=$(cpu_ticks "$jackd_pid"); p1=$(cpu_ticks "$pid")
    xruns=$(( $(grep -c -E "XRun|was not finished" "$scratch/jackd.log" || true) - lines0 ))
    awk -v l="$label" -v n="$n" -v j="$((j1 - j0))" -v p="$((p1 - p0))" -v t="$ticks" -v s="$seconds" -v x="$xruns" \
        'BEGIN { printf "%-22s N=%-4d jackd %5.1f %%  client side %5.1f %%  together %5.1f %%  jackd xrun lines %d\n", l, n, 100 * j / t / s, 100 * p / t / s, 100 * (j + p) / t / s, x }'
}

for n in "${counts[@]}"; do
    for way in plain openae; do
        name="openae-endpoints-$$-$n-$way"
        jackd -n "$name" -d dummy -r 48000 -p 128 -C 2 -P 2 > "$scratch/jackd.log" 2>&1 &
        jackd_pid=$!
        jack_wait -w -s "$name" -t 5 > /dev/null
        if [[ $way == plain ]]; then
            "$build/bench/jack_clients" "$name" "$n" "$((seconds + settle + 2))" > "$scratch/clients.log" 2>&1 &
            pid=$!
            measure "$pid" "$jackd_pid" "plain JACK clients" "$n"
        else
            args=()
            for ((i = 0; i < n; ++i)); do args+=(--render "tone:440@jack?server=$name&connect=auto"); done
            "$build/apps/ae-host/ae-host" --socket none --log-level warn --seconds "$((seconds + settle + 2))" "${args[@]}" > "$scratch/ae-host.log" 2>&1 &
            pid=$!
            measure "$pid" "$jackd_pid" "openae endpoints" "$n"
        fi
        wait "$pid" 2> /dev/null || true
        kill "$jackd_pid" 2> /dev/null || true
        wait "$jackd_pid" 2> /dev/null || true
    done
done
