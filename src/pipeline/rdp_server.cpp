// The standalone RDP server (rdp.h): a FreeRDP 2 listener on our own socket, each client on a
// thread of its own running FreeRDP's peer loop; once a client's connection is up its session is
// attached (rdp_attach_session) and its audio channels become devices. TLS with the given
// certificate, or a self-signed one made at first start; no desktop to speak of (black).
#include "rdp_session.h"

#include <openae/rt/errc.h>
#include <openae/rt/thread_name.h>

#include <freerdp/channels/channels.h>
#include <freerdp/channels/wtsvc.h>
#include <freerdp/freerdp.h>
#include <freerdp/listener.h>
#include <winpr/ssl.h>
#include <winpr/synch.h>
#include <winpr/wtsapi.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <list>
#include <mutex>
#include <thread>

namespace ae::pipeline {
namespace {

std::unexpected<device_error> server_error(errc code, const std::string& why) {
    return std::unexpected(device_error{make_error_code(code), "rdp server: " + why});
}

std::string state_directory(const rdp_server_options& options) {
    if (!options.state_dir.empty()) return options.state_dir;
    if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) return std::string(state) + "/openae";
    if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/openae";
    return "/tmp/openae";
}

// A self-signed RSA 2048 certificate for CN=openae, valid ten years, written as PEM.
std::expected<void, device_error> make_certificate(const std::string& certificate_path, const std::string& key_path) {
    EVP_PKEY* key = EVP_RSA_gen(2048);
    X509* certificate = X509_new();
    const auto cleanup = [&] {
        X509_free(certificate);
        EVP_PKEY_free(key);
    };
    if (!key || !certificate) {
        cleanup();
        return server_error(errc::io_error, "cannot make a key");
    }
    X509_set_version(certificate, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), static_cast<long>(::time(nullptr)));
    X509_gmtime_adj(X509_getm_notBefore(certificate), 0);
    X509_gmtime_adj(X509_getm_notAfter(certificate), 10L * 365 * 24 * 3600);
    X509_set_pubkey(certificate, key);
    X509_NAME* name = X509_get_subject_name(certificate);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("openae"), -1, -1, 0);
    X509_set_issuer_name(certificate, name);
    bool ok = X509_sign(certificate, key, EVP_sha256()) > 0;
    const mode_t old_mask = ::umask(077); // the key is the server's secret
    if (std::FILE* f = ok ? std::fopen(key_path.c_str(), "w") : nullptr) {
        ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
        ok = std::fclose(f) == 0 && ok;
    } else {
        ok = false;
    }
    ::umask(old_mask);
    if (std::FILE* f = ok ? std::fopen(certificate_path.c_str(), "w") : nullptr) {
        ok = PEM_write_X509(f, certificate) == 1;
        ok = std::fclose(f) == 0 && ok;
    } else {
        ok = false;
    }
    cleanup();
    if (!ok) return server_error(errc::io_error, "cannot write the certificate or key in " + std::filesystem::path(key_path).parent_path().string());
    return {};
}

// FreeRDP's per-client context, with ours at its end.
struct peer_context {
    rdpContext base; // first: FreeRDP allocates ContextSize and treats it as an rdpContext
    HANDLE vcm = nullptr;
    class server* owner = nullptr;
    std::string session; // once attached
};

class server final : public rdp_server {
public:
    explicit server(rdp_server_options options) : options_(std::move(options)) {}

    ~server() override {
        stopping_.store(true, std::memory_order_release);
        if (listener_thread_.joinable()) listener_thread_.join();
        std::list<std::thread> peers;
        {
            const std::lock_guard lock(mutex_);
            peers.swap(peers_);
        }
        for (auto& t : peers) t.join();
        if (listener_) {
            listener_->Close(listener_);
            freerdp_listener_free(listener_);
        }
    }

    std::expected<void, device_error> open() {
        const bool loopback = options_.address == "127.0.0.1" || options_.address == "::1" || options_.address == "localhost";
        if (!loopback && (options_.user.empty() || options_.password.empty()))
            return server_error(errc::bad_argument, "listening on " + options_.address + " needs a user and a password");
        if (options_.certificate.empty() != options_.key.empty()) return server_error(errc::bad_argument, "give both a certificate and a key, or neither");
        certificate_ = options_.certificate;
        key_ = options_.key;
        if (certificate_.empty()) {
            const std::string dir = state_directory(options_);
            std::error_code ec;
            std::filesystem::create_directories(dir, ec);
            certificate_ = dir + "/rdp-certificate.pem";
            key_ = dir + "/rdp-key.pem";
            if (!std::filesystem::exists(certificate_) || !std::filesystem::exists(key_)) {
                if (auto made = make_certificate(certificate_, key_); !made) return made;
            }
        }
        static std::once_flag once;
        std::call_once(once, [] {
            WTSRegisterWtsApiFunctionTable(FreeRDP_InitWtsApi());
            winpr_InitializeSSL(WINPR_SSL_INIT_DEFAULT);
        });
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(options_.port);
        const std::string host = options_.address == "localhost" ? "127.0.0.1" : options_.address;
        const int yes = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        if (fd < 0 || ::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1 ||
            ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 8) != 0) {
            if (fd >= 0) ::close(fd);
            return server_error(errc::device_unavailable, "cannot listen on " + options_.address + ":" + std::to_string(options_.port));
        }
        socklen_t size = sizeof address;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
        port_ = ntohs(address.sin_port);
        listener_ = freerdp_listener_new();
        if (!listener_) {
            ::close(fd);
            return server_error(errc::io_error, "cannot make a FreeRDP listener");
        }
        listener_->info = this;
        listener_->PeerAccepted = [](freerdp_listener* l, freerdp_peer* client) -> BOOL {
            return static_cast<server*>(l->info)->accept(client) ? TRUE : FALSE;
        };
        if (!listener_->OpenFromSocket(listener_, fd)) {
            ::close(fd);
            return server_error(errc::device_unavailable, "FreeRDP does not take the listening socket");
        }
        listener_thread_ = std::thread([this] { run_listener(); });
        return {};
    }

    std::uint16_t port() const noexcept override { return port_; }
    std::size_t clients() const noexcept override { return clients_.load(std::memory_order_relaxed); }

private:
    void run_listener() {
        set_current_thread_name("ae-io-rdp");
        while (!stopping_.load(std::memory_order_acquire)) {
            HANDLE handles[32];
            const DWORD count = listener_->GetEventHandles(listener_, handles, 32);
            if (count == 0) break;
            const DWORD status = WaitForMultipleObjects(count, handles, FALSE, 100);
            if (status == WAIT_FAILED) break;
            if (!listener_->CheckFileDescriptor(listener_)) break;
        }
    }

    bool accept(freerdp_peer* client) {
        const std::lock_guard lock(mutex_);
        if (stopping_.load(std::memory_order_acquire)) return false;
        peers_.emplace_back([this, client] { run_peer(client); });
        return true;
    }

    bool check_logon(freerdp_peer* client) const {
        if (options_.user.empty()) return true;
        const char* user = freerdp_settings_get_string(client->settings, FreeRDP_Username);
        const char* password = freerdp_settings_get_string(client->settings, FreeRDP_Password);
        return user && password && options_.user == user && options_.password == password;
    }

    void run_peer(freerdp_peer* client) {
        set_current_thread_name("ae-io-rdp");
        client->ContextSize = sizeof(peer_context);
        client->ContextNew = [](freerdp_peer* peer, rdpContext* context) -> BOOL {
            auto* c = reinterpret_cast<peer_context*>(context);
            new (&c->session) std::string();
            c->vcm = WTSOpenServerA(reinterpret_cast<LPSTR>(peer->context));
            return c->vcm && c->vcm != INVALID_HANDLE_VALUE;
        };
        client->ContextFree = [](freerdp_peer*, rdpContext* context) {
            auto* c = reinterpret_cast<peer_context*>(context);
            if (!c) return;
            if (c->vcm) WTSCloseServer(c->vcm);
            c->session.~basic_string();
        };
        if (!freerdp_peer_context_new(client)) {
            freerdp_peer_free(client);
            return;
        }
        auto* context = reinterpret_cast<peer_context*>(client->context);
        context->owner = this;
        rdpSettings* settings = client->settings;
        freerdp_settings_set_string(settings, FreeRDP_CertificateFile, certificate_.c_str());
        freerdp_settings_set_string(settings, FreeRDP_PrivateKeyFile, key_.c_str());
        freerdp_settings_set_string(settings, FreeRDP_RdpKeyFile, key_.c_str());
        freerdp_settings_set_bool(settings, FreeRDP_RdpSecurity, FALSE);
        freerdp_settings_set_bool(settings, FreeRDP_TlsSecurity, TRUE);
        freerdp_settings_set_bool(settings, FreeRDP_NlaSecurity, FALSE);
        client->PostConnect = [](freerdp_peer* peer) -> BOOL {
            auto* c = reinterpret_cast<peer_context*>(peer->context);
            // With TLS the credentials come in the client's info PDU, just before this.
            if (!c->owner->check_logon(peer)) return FALSE;
            auto attached = rdp_attach_session(c->vcm, peer->context, peer->hostname);
            if (!attached) return FALSE;
            c->session = *attached;
            return TRUE;
        };
        client->Activate = [](freerdp_peer*) -> BOOL { return TRUE; };
        client->Initialize(client);
        clients_.fetch_add(1, std::memory_order_relaxed);
        while (!stopping_.load(std::memory_order_acquire)) {
            HANDLE handles[32];
            DWORD count = client->GetEventHandles(client, handles, 31);
            if (count == 0) break;
            handles[count++] = WTSVirtualChannelManagerGetEventHandle(context->vcm);
            if (WaitForMultipleObjects(count, handles, FALSE, 100) == WAIT_FAILED) break;
            if (!client->CheckFileDescriptor(client)) break;
            if (!WTSVirtualChannelManagerCheckFileDescriptor(context->vcm)) break;
            if (!context->session.empty()) {
                if (auto session = find_rdp_session(context->session)) session->poll();
            }
        }
        if (!context->session.empty()) rdp_detach_session(context->session);
        clients_.fetch_sub(1, std::memory_order_relaxed);
        client->Disconnect(client);
        freerdp_peer_context_free(client);
        freerdp_peer_free(client);
    }

    rdp_server_options options_;
    std::string certificate_, key_;
    std::uint16_t port_ = 0;
    freerdp_listener* listener_ = nullptr;
    std::thread listener_thread_;
    std::mutex mutex_; // peers_
    std::list<std::thread> peers_;
    // order: release/acquire — threads stop on it.
    std::atomic<bool> stopping_{false};
    // order: relaxed — a count, read on its own.
    std::atomic<std::size_t> clients_{0};
};

} // namespace

std::expected<std::unique_ptr<rdp_server>, device_error> rdp_server::start(const rdp_server_options& options) {
    auto s = std::make_unique<server>(options);
    if (auto opened = s->open(); !opened) return std::unexpected(opened.error());
    return s;
}

} // namespace ae::pipeline
