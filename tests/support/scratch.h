// Scratch directories a test leaves for a human to read when it fails: removed at the end of a run
// in which every test passed (tests/main.cpp calls remove_scratch_dirs()), kept otherwise.
#pragma once

#include <filesystem>
#include <mutex>
#include <set>

namespace ae::test {

struct scratch_registry {
    std::mutex mutex;
    std::set<std::filesystem::path> dirs;
};
inline scratch_registry& scratch() {
    static scratch_registry registry;
    return registry;
}

inline void remove_on_success(const std::filesystem::path& dir) {
    const std::lock_guard lock(scratch().mutex);
    scratch().dirs.insert(dir);
}

inline void remove_scratch_dirs() {
    const std::lock_guard lock(scratch().mutex);
    for (const auto& dir : scratch().dirs) {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
}

} // namespace ae::test
