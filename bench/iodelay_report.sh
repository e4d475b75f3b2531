# Shared by the latency scripts (sourced): waiting for a JACK port, and jack_iodelay's readings.
# Needs $name (the JACK server) and $period (frames).

wait_port() { # PORT: bounded, 5 s
    for _ in $(seq 50); do
        jack_lsp -s "$name" 2>/dev/null | grep -qx "$1" && return 0
        sleep 0.1
    done
    echo "no port $1" >&2
    return 1
}

# The loop's latency as jack_iodelay printed it (frames) over the run's second half (a bridge's
# drift control has settled by then): median, lowest, highest.
report() { # LABEL LOG
    local total
    { grep -o '^ *[0-9.]* frames' "$2" || true; } | awk '{print $1}' > "$2.frames"
    total=$(wc -l < "$2.frames")
    tail -n "$((total / 2))" "$2.frames" | sort -n | awk -v l="$1" -v p="$period" '{ w[NR] = $1 } END {
        if (NR == 0) { printf "%-26s no reading\n", l; exit }
        m = w[int((NR + 1) / 2)]
        printf "%-26s median %7.1f frames %7.3f ms (%.2f periods), lowest %.1f, highest %.1f; %d readings\n", l, m, m / 48, m / p, w[1], w[NR], NR
    }'
}
