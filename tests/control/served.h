// A context, an engine and a control server on a fresh socket, the RT harness armed on the engine
// thread and on every device thread: the rig of the socket tests.
#pragma once

#include <openae/control/server.h>

#include "test_engine.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ae::test {

inline std::string temp_dir() {
    char path[] = "/tmp/openae-server-test-XXXXXX";
    REQUIRE(::mkdtemp(path) != nullptr);
    return path;
}

// A context, an engine and a server on a fresh socket, RT harness armed on every RT thread.
struct served {
    explicit served(ae::server_options server_options = {}, ae::hns open_timeout = ae::hns{5'000'000},
                    std::function<void(const char*)> helper_started = {})
        : dir(temp_dir()) {
        ae::context_options options;
        options.helper_started = std::move(helper_started);
        options.log_file = dir + "/log.jsonl";
        options.device_hooks = ae::test::armed_hooks(device_guard);
        options.open_timeout = open_timeout;
        ctx = std::make_unique<ae::context>(options);
        ae::engine_options engine_options;
        engine_options.hooks = ae::test::armed_hooks(engine_guard);
        auto made = ae::engine::create(engine_options);
        REQUIRE(made);
        eng = std::move(*made);
        service = std::make_unique<ae::control_service>(*ctx, *eng);
        server_options.path = dir + "/sock/control.sock";
        auto s = ae::control_server::create(*service, server_options);
        REQUIRE(s);
        server = std::move(*s);
    }
    ~served() {
        server.reset();
        service.reset();
        ctx.reset(); // its device threads signal the engine's eventfd: gone before the engine closes it
        eng.reset();
        std::filesystem::remove_all(dir);
    }
    [[nodiscard]] std::string path() const { return server->path(); }
    [[nodiscard]] std::vector<nlohmann::json> log_lines() const {
        std::vector<nlohmann::json> out;
        std::ifstream in(dir + "/log.jsonl");
        for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line, nullptr, false));
        return out;
    }
    void check_rt_clean() const {
        CHECK(engine_guard.violations() == 0);
        CHECK(device_guard.violations() == 0);
    }

    std::string dir;
    ae::test::rt_guard engine_guard;
    ae::test::rt_guard device_guard;
    std::unique_ptr<ae::context> ctx;
    std::unique_ptr<ae::engine> eng;
    std::unique_ptr<ae::control_service> service;
    std::unique_ptr<ae::control_server> server;
};

} // namespace ae::test
