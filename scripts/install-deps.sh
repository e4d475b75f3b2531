#!/usr/bin/env bash
# Installs the Debian packages openae needs that are missing (as root; apt-get update only when
# something is missing). `--test` adds what the full test suite needs (clang-19 and its
# sanitizers' symbolizer for the asan and clang builds, the peers' packages).
set -euo pipefail

packages=(g++ cmake ninja-build pkg-config
          libasio-dev libconcurrentqueue-dev libreaderwriterqueue-dev libspdlog-dev libfmt-dev doctest-dev
          nlohmann-json3-dev libcli11-dev libsndfile1-dev libsoxr-dev libspeexdsp-dev libopus-dev
          libasound2-dev libjack-jackd2-dev libbenchmark-dev libpipewire-0.3-dev libsrtp2-dev help2man
          freerdp2-dev libssl-dev)
if [[ "${1:-}" == "--test" ]]; then
    packages+=(clang-19 libclang-rt-19-dev lld-19 llvm-19 jackd2 libasound2-plugins sox libsox-fmt-base pipewire wireplumber dbus ffmpeg
               freerdp2-x11 xvfb pulseaudio pulseaudio-utils)
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
