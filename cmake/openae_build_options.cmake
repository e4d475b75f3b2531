# Warnings and sanitizers, carried by one INTERFACE target that every openae target links
# privately (no global CMAKE_CXX_FLAGS).
add_library(openae_build_options INTERFACE)
target_compile_features(openae_build_options INTERFACE cxx_std_23)
target_compile_options(openae_build_options INTERFACE -Wall -Wextra -Wpedantic -Wno-gnu-zero-variadic-macro-arguments)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(openae_build_options INTERFACE -Wno-pedantic)
endif()
if(OPENAE_WERROR)
    target_compile_options(openae_build_options INTERFACE -Werror)
endif()
if(OPENAE_SANITIZE)
    string(REPLACE ";" "," _sanitizers "${OPENAE_SANITIZE}")
    target_compile_options(openae_build_options INTERFACE -fsanitize=${_sanitizers} -fno-omit-frame-pointer
                           -fno-sanitize-recover=all)
    target_link_options(openae_build_options INTERFACE -fsanitize=${_sanitizers})
    target_compile_definitions(openae_build_options INTERFACE OPENAE_SANITIZED=1)
    if("thread" IN_LIST OPENAE_SANITIZE)
        target_compile_definitions(openae_build_options INTERFACE OPENAE_TSAN=1)
    endif()
endif()

# Under a sanitizer, compiles `target` at -O0: the programs' setup code and the control tests'
# bodies (CLI11, JSON, doctest) take twice as long to compile at -O1 for nothing they measure; the
# libraries they link (the code under test) stay at -O1. Keeps CI within its time budget.
function(openae_sanitized_at_O0 target)
    if(OPENAE_SANITIZE)
        target_compile_options(${target} PRIVATE -O0)
    endif()
endfunction()
