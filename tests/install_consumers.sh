#!/usr/bin/env bash
# A consumer's view of an installed openae: `cmake --install` into a temporary prefix, the tree
# moved elsewhere (the package and openae.pc must be relocatable), then examples/ built against it
# each with find_package(openae) and with pkg-config, and run.
#   install_consumers.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source=$2
work=$(mktemp -d /tmp/openae-consumer.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/first" > "$work/install.log"
mv "$work/first" "$work/prefix" # relocated: nothing may still point at first/
prefix=$work/prefix
libdir=$(dirname "$(find "$prefix" -name 'libopenae.so' | head -1)")
echo "installed: $(cd "$prefix" && find . -name 'libopenae.so*' -o -name openae.pc -o -name openaeConfig.cmake | sort | tr '\n' ' ')"
export OPENAE_DEFAULT_DEVICE=null

# The shared library: a SONAME, and only openae's API exported (no Asio, spdlog or std instantiations).
soname=$(objdump -p "$libdir/libopenae.so" | awk '/SONAME/ {print $2}')
echo "SONAME: $soname"
[[ $soname == libopenae.so.0 ]]
foreign=$(nm -DC --defined-only "$libdir/libopenae.so" | awk '{ $1 = ""; $2 = ""; print }' | grep -vE '^ *(ae_|ae::|typeinfo( name)? for ae::|vtable for ae::|VTT for ae::|(non-)?virtual thunk to ae::|guard variable for ae::)' || true)
if [[ -n $foreign ]]; then
    echo "exported beyond the API:"; echo "$foreign" | head -20; exit 1
fi
echo "exports: $(nm -D --defined-only "$libdir/libopenae.so" | wc -l) symbols, all ae_* or ae::"

# CMake: the examples as a project of their own.
cmake -S "$source/examples" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release > "$work/cmake.log"
cmake --build "$work/cmake-build" > "$work/cmake-build.log"
echo "cmake, C:   $("$work/cmake-build/minimal_render")"
echo "cmake, C++: $("$work/cmake-build/engine_loop" | tail -1)"
echo "cmake, C++: $("$work/cmake-build/capture_to_wav" '' 0.2 "$work/capture.wav")"

# pkg-config: Cflags a C compiler takes, Libs that link.
export PKG_CONFIG_PATH=$libdir/pkgconfig
echo "pkg-config --cflags --libs openae: $(pkg-config --cflags --libs openae)"
cc -std=c11 -Wall -Werror "$source/examples/minimal_render.c" -o "$work/c_pc" $(pkg-config --cflags --libs openae) -lm -Wl,-rpath,"$libdir"
c++ -std=c++23 -Wall -Werror "$source/examples/engine_loop.cpp" -o "$work/cxx_pc" $(pkg-config --cflags --libs openae) -Wl,-rpath,"$libdir"
echo "pkg-config, C:   $("$work/c_pc")"
c++ -std=c++23 -Wall -Werror "$source/examples/capture_to_wav.cpp" -o "$work/capture_pc" $(pkg-config --cflags --libs openae) -Wl,-rpath,"$libdir"
echo "pkg-config, C++: $("$work/cxx_pc" | tail -1)"
echo "pkg-config, C++: $("$work/capture_pc" '' 0.2 "$work/capture.wav")"
echo "every consumer built and ran"
