#!/bin/sh
# A JACK server that can change its sample rate live, for openae's tests: jackdbus (JACK2's D-Bus
# server) with the dummy driver, run under dbus-run-session with HOME in the test's own directory
# (jackdbus keeps its settings in ~/.config/jack). Plain jackd cannot change its rate while it
# runs; jackdbus can ("switch master": the driver restarts with new settings, the clients stay
# and are told the new rate). Arguments: FIFO SERVER_NAME RATE PERIOD. Writes the session bus's
# address into the FIFO once the server runs; runs until killed (the test stops the server first).
set -u
ready_fifo=$1
name=$2
rate=$3
period=$4
J="dbus-send --session --print-reply --dest=org.jackaudio.service /org/jackaudio/Controller"
set_param() { $J org.jackaudio.Configure.SetParameterValue array:string:$1,$2 variant:$3 >/dev/null; }
trap 'exit 0' TERM INT
set_param engine driver string:dummy || exit 1
set_param engine name "string:$name" || exit 1
set_param engine realtime boolean:false || exit 1
set_param driver rate "uint32:$rate" || exit 1
set_param driver period "uint32:$period" || exit 1
$J org.jackaudio.JackControl.StartServer >/dev/null || exit 1
echo "$DBUS_SESSION_BUS_ADDRESS" >"$ready_fifo"
while :; do
    sleep 3600 &
    wait $!
done
