// The control service: JSON-lines requests answered on ae-ctl (docs/API.md, "Wire protocol"); its public face.
#include "service_impl.h"

namespace ae {

control_service::control_service(context& ctx, engine& eng) : ctx_(ctx), impl_(std::make_shared<impl>(ctx, eng)) {
    // Sinks the engine lets go of outside a destroy (a failed create's) close on a helper too.
    std::weak_ptr<detail::control_actor> actor = detail::context_access::actor(ctx);
    eng.set_sink_closer([actor](std::unique_ptr<pipeline::device> sink) {
        std::shared_ptr<pipeline::device> closing = std::move(sink);
        if (auto c = actor.lock()) {
            c->off_thread("ae-close", [closing]() -> std::function<void()> {
                closing->stop();
                return [] {};
            });
        } else {
            closing->stop();
        }
    });
    impl_->add_watch = [this](const std::string& endpoint, std::function<void(const std::string&)> sink, const void* owner) {
        return watch(endpoint, std::move(sink), owner);
    };
}

control_service::~control_service() {
    impl_->eng.set_sink_closer({});
    // The release watch and the pending destroys belong to ae-ctl (Asio objects, and state its
    // handlers touch): they are closed there, and the service waits for it — after this no
    // handler of the service reaches the engine, which may go next.
    auto teardown = [impl = impl_] {
        impl->release_watch.reset();
        for (auto& d : impl->destroys) d.deadline->cancel();
        impl->destroys.clear();
    };
    if (ctx_.on_control_thread()) {
        teardown();
    } else {
        auto done = std::make_shared<std::promise<void>>();
        auto finished = done->get_future();
        asio::post(ctx_.executor(), [teardown, done] {
            teardown();
            done->set_value();
        });
        // Bounded: a control thread that no longer runs handlers cannot be waited for.
        (void)finished.wait_for(std::chrono::seconds(2));
    }
    if (impl_->subscription != 0) ctx_.unsubscribe(impl_->subscription);
}

void control_service::handle(const std::string& line, std::function<void(std::string)> reply,
                             std::function<void(const std::string&)> events, const void* owner) {
    impl_->handle(line, reply, events, owner, impl_);
}

std::string control_service::request(const std::string& line) {
    if (ctx_.on_control_thread()) {
        return json{{"id", nullptr}, {"ok", false}, {"error", {{"code", "wrong_thread"}, {"message", "request() on the control thread"}}}}
            .dump();
    }
    auto done = std::make_shared<std::promise<std::string>>();
    auto answer = done->get_future();
    asio::post(ctx_.executor(), [this, line, done] {
        auto once = std::make_shared<bool>(false);
        handle(line, [done, once](std::string response) {
            if (*once) return;
            *once = true;
            done->set_value(std::move(response));
        });
    });
    return answer.get();
}

std::uint64_t control_service::watch(const std::string& endpoint, std::function<void(const std::string&)> sink,
                                     const void* owner) {
    if (impl_->subscription == 0) {
        std::weak_ptr<impl> weak = impl_;
        impl_->subscription = impl_->actor.subscribe([weak](const event& e) {
            if (auto me = weak.lock()) me->on_event(e);
        });
    }
    const std::uint64_t id = impl_->next_watch++;
    impl_->watchers.emplace(id, impl::watcher{endpoint, std::move(sink), owner});
    return id;
}

void control_service::unwatch(std::uint64_t id) { impl_->watchers.erase(id); }

void control_service::unwatch_owner(const void* owner) {
    std::erase_if(impl_->watchers, [owner](const auto& w) { return w.second.owner == owner; });
}

std::string default_socket_path() {
    if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime) return std::string(runtime) + "/openae/control.sock";
    return "/tmp/openae-" + std::to_string(::getuid()) + "/control.sock";
}

} // namespace ae
