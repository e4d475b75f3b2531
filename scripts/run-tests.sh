#!/usr/bin/env bash
# Builds and runs the whole test suite in three configurations: dev (g++ 12, -Werror), asan
# (clang-19 with ASan+UBSan, -Werror, and the fuzzer) and tsan (g++ 12). Prints each ctest summary,
# then one total line. OPENAE_PRESETS="dev tsan" narrows the run (the `clang` preset, clang-19
# unsanitized, is one more).
set -uo pipefail
cd "$(dirname "$0")/.."

presets=${OPENAE_PRESETS:-"dev asan tsan"}
jobs=$(nproc)
total_passed=0
total_failed=0
for preset in $presets; do
    echo "=== $preset: configure and build"
    # One job more than cores: a link or a header-bound compile leaves a core idle otherwise.
    if ! cmake --preset "$preset" >"build-$preset.log" 2>&1 || ! cmake --build --preset "$preset" -j "$((jobs + 1))" >>"build-$preset.log" 2>&1; then
        tail -n 40 "build-$preset.log"
        echo "=== $preset: BUILD FAILED"
        total_failed=$((total_failed + 1))
        continue
    fi
    echo "=== $preset: test"
    ctest --preset "$preset" -j "$jobs" 2>&1 | tee "ctest-$preset.log" | grep -E "tests passed|tests failed|Failed|\*\*\*|Not Run|Timeout" || true
    summary=$(grep -E "^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+" "ctest-$preset.log" | tail -n 1)
    if [[ -z "$summary" ]]; then
        echo "=== $preset: ctest printed no summary"
        total_failed=$((total_failed + 1))
        continue
    fi
    failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$summary")
    if [[ $failed -gt 0 ]]; then
        # Which case failed and on what check, so a CI log that keeps only this much still says why.
        echo "--- $preset: what the failing tests said"
        grep -E "^[^ ].*(ERROR|FATAL ERROR): |^  values: |^TEST CASE: |^  logged: |WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error: |^SUMMARY: " "ctest-$preset.log" | head -n 60 || true
    fi
    count=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$summary")
    total_passed=$((total_passed + count - failed))
    total_failed=$((total_failed + failed))
done
rm -f build-*.log
echo
echo "all configurations ($presets):"
echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
