// Benches that reuse the tests' rigs: their REQUIREs run outside a test case. Include first in
// the bench's one translation unit; call report_failed_asserts() at the start of main.
#pragma once

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

namespace ae::bench {

// A failed REQUIRE ends the bench with its place and expression.
inline void report_failed_asserts(doctest::Context& context) {
    context.setAsDefaultForAssertsOutOfTestCases();
    context.setAssertHandler([](const doctest::AssertData& data) {
        std::fprintf(stderr, "%s:%d: %s failed\n", data.m_file, data.m_line, data.m_expr);
        std::exit(2);
    });
}

} // namespace ae::bench
