#!/bin/sh
# A PipeWire peer of openae's tests, run under dbus-run-session with a private XDG_RUNTIME_DIR:
# pipewire, a null sink `openae_test_sink` (48 kHz stereo, paced by the graph's driver) and
# wireplumber to link streams. Writes "ready" into the FIFO $1 once the sink exists; runs until
# killed, and takes its children with it.
set -u
ready_fifo=$1
export XDG_STATE_HOME="$XDG_RUNTIME_DIR/state" XDG_CONFIG_HOME="$XDG_RUNTIME_DIR/config" HOME="$XDG_RUNTIME_DIR"
pipewire &
pw=$!
wp=""
trap 'kill $pw $wp 2>/dev/null; wait' EXIT
trap 'exit 0' TERM INT
# pipewire answers once its socket is up: asked again for at most 10 s.
tries=0
until pw-cli info 0 >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -ge 200 ] && exit 1
    sleep 0.05
done
pw-cli create-node adapter '{ factory.name=support.null-audio-sink node.name=openae_test_sink media.class=Audio/Sink object.linger=true audio.rate=48000 audio.channels=2 audio.position=[FL FR] }' >/dev/null || exit 1
wireplumber &
wp=$!
echo ready >"$ready_fifo"
wait
