// The test runners' main: doctest's, plus three rules — the default device is null, a run whose
// filters match no test case fails (ctest runs each case by name; a name ctest mangled, a ';'
// splits it, must not pass by running nothing), and a passing run removes its scratch directories.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "support/scratch.h"

#include <cstdio>
#include <cstdlib>

namespace {
bool none_matched = false;

struct none_matched_listener final : doctest::IReporter {
    explicit none_matched_listener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats& stats) override { none_matched = stats.numTestCasesPassingFilters == 0; }
    void test_case_start(const doctest::TestCaseData&) override {}
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};
} // namespace

DOCTEST_REGISTER_LISTENER("none_matched", 1, none_matched_listener);

int main(int argc, char** argv) {
    // Tests run on the null device wherever they run (a developer's PipeWire is not theirs to
    // play into): `auto` honours this; the tests of `auto` itself unset it.
    ::setenv("OPENAE_DEFAULT_DEVICE", "null", 1);
    doctest::Context context(argc, argv);
    const int result = context.run();
    if (context.shouldExit()) return result; // --help, --list-*: nothing was meant to run
    if (none_matched) {
        std::fprintf(stderr, "no test case matched the filters: nothing ran\n");
        return 1;
    }
    if (result == 0) ae::test::remove_scratch_dirs();
    return result;
}
