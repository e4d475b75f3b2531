#!/usr/bin/env bash
# aectl as a subprocess against a live ae-host: every command, its output and its exit code.
#   aectl_check.sh AE_HOST AECTL
# Endpoints buffer 10 periods: the stats checked below must not depend on how promptly a loaded
# machine schedules the engine thread.
# Synchronisation is explicit: ae-host's ready line and aectl watch's lines are read from fifos
# (read -t bounds every wait); nothing sleeps to wait for state.
set -u
HOST=$1
CTL=$2
DIR=$(mktemp -d /tmp/openae-aectl-XXXXXX)
SOCK=$DIR/sock/control.sock
failures=0
host_pid=
cleanup() {
    [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect EXIT_CODE REGEX -- aectl args...: runs aectl, checks its exit code and output.
expect() {
    local want=$1 regex=$2
    shift 3
    local out rc
    out=$("$CTL" --socket "$SOCK" "$@" 2>&1)
    rc=$?
    echo "\$ aectl $* -> $rc"
    echo "$out" | sed 's/^/    /'
    [ "$rc" = "$want" ] || fail "aectl $*: exit $rc, expected $want"
    [[ "$out" =~ $regex ]] || fail "aectl $*: output does not match '$regex'"
}

mkfifo "$DIR/host.out" "$DIR/watch.out"
"$HOST" --socket "$SOCK" --log "$DIR/log.jsonl" --metrics "$DIR/metrics.jsonl" --metrics-ms 20 --seconds 60 --buffer-periods 10 --render tone:440@null >"$DIR/host.out" 2>"$DIR/host.err" &
host_pid=$!
exec 3<"$DIR/host.out"
ready=
while read -r -t 20 line <&3; do
    echo "ae-host: $line"
    if [[ "$line" == *"control socket: $SOCK"* ]]; then ready=1; break; fi
done
[ -n "$ready" ] || { fail "ae-host did not report its socket"; cat "$DIR/host.err"; exit 1; }

mode=$(stat -c %a "$SOCK")
[ "$mode" = 600 ] || fail "socket mode $mode, expected 600"

expect 0 'render1 +render +running +null' -- list
expect 0 '\* null +null +both +48000 Hz/2 ch +a virtual clock' -- devices
expect 0 '"default_device":"null".*"ok":true' -- --json devices
expect 0 '"state":"running".*"ok":true' -- --json status render1
expect 0 'mic: capture, running on faulty:null' -- create mic --direction capture --device faulty:null --sink "wav:$DIR/mic.wav" --buffer-periods 10 --start
expect 0 'render1: render, running on null, 48000/1/s16, period 10.00 ms, epoch 2' -- set-format render1 48000 1 s16
expect 0 'period 5.00 ms, epoch 3' -- set-period render1 5
expect 0 'running on null\?period=5' -- move render1 'null?period=5'

# watch, then unplug the microphone's device: device_lost and rerouted arrive on the stream.
"$CTL" --socket "$SOCK" watch mic --count 50 >"$DIR/watch.out" &
watch_pid=$!
exec 4<"$DIR/watch.out"
read -r -t 10 line <&4
[[ "$line" == "watching mic" ]] || fail "watch said '$line'"
expect 0 "injected 'unplug' into faulty:null" -- inject mic unplug
seen_lost= ; seen_rerouted=
while read -r -t 10 line <&4; do
    echo "watch: $line"
    [[ "$line" == device_lost* ]] && seen_lost=1
    [[ "$line" == rerouted* ]] && { seen_rerouted=1; break; }
done
[ -n "$seen_lost" ] || fail "watch did not show device_lost"
[ -n "$seen_rerouted" ] || fail "watch did not show rerouted"
kill "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null

expect 0 'mic +capture +running +rerouted +null ' -- status
expect 0 'ENDPOINT +underrun +overrun.*mic +0 +0 +[0-9]+ +[0-9]+ +[0-9]+' -- stats
# top: one frame — a row per endpoint with its route, format, period, padding, its device loop's
# load (a percentage: the loop has run periods), epoch, latency, stage and glitch counts.
# (The mic's and render1's devices were opened by the reroute and the move moments ago: a load is
# '-' until that loop has run a period, the padding now '-' until the engine's next position.)
expect 0 'ENDPOINT +DIR +STATE +DEVICE.*LOAD.*GLITCHES u/o/l/d/x/p.*mic +in +running +null +48000Hz/2ch/[a-z0-9]+ +[0-9.]+ms +([0-9]+|-)/[0-9]+/[0-9]+ +([0-9]+\.[0-9]%|-).*rerouted.*render1 +out +running +null\?period=5 +48000Hz/1ch/s16 +5\.00ms +([0-9]+|-)/[0-9]+/[0-9]+ +([0-9]+\.[0-9]%|-) +3 +' -- top --once
expect 0 '"buffer_frames":3840,.*"state":"stopped"' -- --json create deep --buffer-periods 8
expect 2 '' -- create deep2 --buffer-periods 65
expect 0 'deep: destroy' -- destroy deep
expect 1 'unknown_endpoint: no endpoint .nobody.' -- status nobody
expect 1 'already_running' -- start render1
expect 0 'render1: render, running on null\?period=5, 44100/2/f32' -- set-format render1 44100 2 f32
expect 1 'bad_request: field .channels. must be within 1..8' -- set-format render1 44100 9 f32
expect 1 'bad_request: field .period_ms. must be within' -- set-period render1 0
expect 1 'bad_argument' -- inject render1 unplug
expect 2 '' -- set-format render1
expect 2 '' -- frobnicate
expect 0 'mic: destroy' -- destroy mic
expect 0 'room: bridged' -- bridge room 'null?period=5' null --period-ms 5 --margin-ms 20
expect 0 'BRIDGE +FROM +TO +QUEUE_MS +HOLDS_MS +DRIFT_PPM +LATENCY_MS +IN +OUT +GLITCHES.*room +null\?period=5 +null +[0-9.]+ +[0-9.]+ +-?[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+ +0' -- bridges
expect 1 'already_initialized: bridge .room.: a bridge or endpoint has that name' -- bridge room null null
expect 1 'busy: destroy .room.capture.: it belongs to a bridge' -- destroy room.capture
expect 0 'room: destroyed' -- unbridge room
expect 1 'unknown_endpoint: no bridge .room.' -- unbridge room
out=$("$CTL" --socket "$DIR/nobody.sock" list 2>&1); rc=$?
[ "$rc" = 3 ] || fail "no server: exit $rc, expected 3 ($out)"

kill -INT "$host_pid"
wait "$host_pid"
rc=$?
host_pid=
[ "$rc" = 0 ] || fail "ae-host exited $rc after SIGINT"
summary=$(cat <&3)
echo "$summary"
[[ "$summary" =~ render1\ \(tone:440@null\?period=5\) ]] || fail "summary does not show the moved route"
[ -e "$SOCK" ] && fail "socket file left behind"
[ -s "$DIR/mic.wav" ] || fail "mic.wav missing or empty"
grep -q '"event":"client_dropped"' "$DIR/log.jsonl" && fail "a client was dropped"

# The run's timeline. Snapshots every 20 ms can fall anywhere between aectl's commands, so only
# what must show is checked: the first snapshot is taken before ae-host says it is ready (epoch 1
# on null) and the last as it stops (epoch 4, 44100 Hz, on null?period=5), so the move and the
# change into epoch 4 are between two of them, whatever the machine's speed. (How many endpoints
# it saw depends on where the snapshots fell: `deep` may live between two.)
expect 0 'timeline.svg: [0-9]+ endpoint\(s\), [0-9.]+ s, [0-9]+ events' -- plot "$DIR/metrics.jsonl" -o "$DIR/timeline.svg"
for event in 'render1: epoch 4, 44100Hz/2ch/f32, period 5.00 ms' 'render1: on null?period=5' '>padding (frames queued)<' \
             '>device loop load (% of each period)<' '>latency (ms)<' '>time (s)<' 'stroke-dasharray'; do
    grep -qF "$event" "$DIR/timeline.svg" || fail "timeline.svg does not name '$event'"
done
# The same run from its JSON log: the events alone, on the log's own time.
expect 0 'log.svg: 0 endpoint\(s\), [0-9.]+ s, [0-9]+ events' -- plot "$DIR/log.jsonl" -o "$DIR/log.svg"
for event in 'render1: format 48000Hz/1ch/s16' 'mic: rerouted to null' 'events from a log'; do
    grep -qF "$event" "$DIR/log.svg" || fail "log.svg does not name '$event'"
done
expect 2 'holds no metrics and no log' -- plot "$DIR/mic.wav" -o "$DIR/none.svg"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    echo "--- ae-host stderr"; cat "$DIR/host.err"
    exit 1
fi
echo "aectl against ae-host: all checks passed"
