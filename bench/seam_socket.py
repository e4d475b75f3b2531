#!/usr/bin/env python3
"""Rate seams through ae-host's socket, as a host drives them (issue 17 item 4's measurement).

Starts ae-host, creates a render endpoint playing a steady tone into a paced 48 kHz f32 WAV device,
changes its format 20 times (44.1, 96, 48 and 32 kHz in turn) and its period between 10 and 5 ms
between the changes, then fits the written file's sine in 2 ms blocks: each block's phase against
the first steady block's (a step is a shift in time), its amplitude, and its residual against the
one reference sine (block SNR). A benchmark, run by hand: it waits on the wall clock between changes.

    python3 bench/seam_socket.py [--host build/release/apps/ae-host/ae-host] [--tone 1000] [--runs 1]
"""
import argparse, json, math, os, socket, struct, subprocess, sys, tempfile, time


def request(conn, reader, message):
    conn.sendall((json.dumps(message) + "\n").encode())
    answer = json.loads(reader.readline())
    if not answer.get("ok"):
        raise RuntimeError(f"{message['op']}: {answer}")
    return answer


def read_wav_f32(path):
    data = open(path, "rb").read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    at, channels, rate, samples = 12, 0, 0, None
    while at + 8 <= len(data):
        chunk, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        body = data[at + 8:at + 8 + size]
        if chunk == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            assert bits == 32 and fmt in (3, 0xFFFE), "expects f32"
        elif chunk == b"data":
            samples = struct.unpack(f"<{len(body) // 4}f", body)
        at += 8 + size + (size & 1)
    return rate, channels, [samples[i] for i in range(0, len(samples), channels)]


def fit(x, begin, end, omega):
    ss = sc = cc = xs = xc = 0.0
    for n in range(begin, end):
        s, c = math.sin(omega * n), math.cos(omega * n)
        ss += s * s; sc += s * c; cc += c * c; xs += x[n] * s; xc += x[n] * c
    det = ss * cc - sc * sc
    a, b = (xs * cc - xc * sc) / det, (xc * ss - xs * sc) / det
    return math.hypot(a, b), math.atan2(b, a)


def one_run(host, tone, seconds_between):
    work = tempfile.mkdtemp(prefix="ae-seams-")
    sock_path, wav = os.path.join(work, "control.sock"), os.path.join(work, "seams.wav")
    proc = subprocess.Popen([host, "--socket", sock_path, "--log-level", "off", "--default-device", "null"])
    try:
        for _ in range(500):
            if os.path.exists(sock_path):
                break
            time.sleep(0.01)
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(sock_path)
        reader = conn.makefile("r")
        request(conn, reader, {"id": 1, "op": "create", "endpoint": "tone", "direction": "render",
                               "device": f"wav:{wav}?realtime=1&rate=48000&sample=f32",
                               "format": {"sample_rate": 48000, "channels": 2, "sample": "f32"},
                               "period_ms": 10, "buffer_periods": 4, "source": f"tone:{tone}", "start": True})
        rates = [44100, 96000, 48000, 32000]
        for i in range(20):
            time.sleep(seconds_between)
            request(conn, reader, {"id": 2 + 2 * i, "op": "set_format", "endpoint": "tone",
                                   "format": {"sample_rate": rates[i % 4], "channels": 2, "sample": "f32"}})
            time.sleep(seconds_between / 2)
            request(conn, reader, {"id": 3 + 2 * i, "op": "set_period", "endpoint": "tone", "period_ms": 5 if i % 2 == 0 else 10})
        time.sleep(seconds_between)
        stats = request(conn, reader, {"id": 100, "op": "stats", "endpoint": "tone"})
        request(conn, reader, {"id": 101, "op": "destroy", "endpoint": "tone"})
        conn.close()
    finally:
        proc.terminate()
        proc.wait()
    rate, channels, x = read_wav_f32(wav)
    os.remove(wav)
    omega = 2 * math.pi * tone / rate
    first = next(i for i, v in enumerate(x) if v != 0.0)
    block = rate // 500
    begin = first + 4800  # 100 ms in: past the stream's start
    end = len(x) - 4800   # before the stream's end
    ref_amplitude, ref_phase = fit(x, begin, begin + 20 * block, omega)
    worst_step = worst_amplitude = 0.0
    worst_snr = 1e9
    for at in range(begin, end - block, block):
        amplitude, phase = fit(x, at, at + block, omega)
        step = abs(phase - ref_phase)
        step = min(step, 2 * math.pi - step)
        worst_step = max(worst_step, step)
        worst_amplitude = max(worst_amplitude, abs(amplitude / ref_amplitude - 1))
        residual = sum((x[n] - ref_amplitude * math.sin(omega * n + ref_phase)) ** 2 for n in range(at, at + block))
        rms = math.sqrt(residual / block)
        worst_snr = min(worst_snr, 20 * math.log10(ref_amplitude / math.sqrt(2) / max(rms, 1e-12)))
    return {"frames": len(x), "blocks": (end - block - begin) // block, "worst_phase_step_rad": worst_step,
            "worst_amplitude_error": worst_amplitude, "worst_block_snr_db": worst_snr, "glitches": stats.get("stats", stats)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="build/release/apps/ae-host/ae-host")
    parser.add_argument("--tone", type=float, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--between", type=float, default=0.2, help="seconds between changes")
    args = parser.parse_args()
    for run in range(args.runs):
        r = one_run(args.host, args.tone, args.between)
        print(f"run {run + 1}: {r['frames']} frames, {r['blocks']} blocks of 2 ms at {args.tone:.0f} Hz: worst phase step "
              f"{r['worst_phase_step_rad']:.2e} rad, worst amplitude error {r['worst_amplitude_error']:.2e}, "
              f"worst block SNR {r['worst_block_snr_db']:.1f} dB")
        print("  stats:", json.dumps(r["glitches"]))


if __name__ == "__main__":
    sys.exit(main())
