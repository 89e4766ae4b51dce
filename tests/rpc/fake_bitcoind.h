#ifndef SIDEBOLT_TESTS_RPC_FAKE_BITCOIND_H
#define SIDEBOLT_TESTS_RPC_FAKE_BITCOIND_H

// A scripted bitcoind for client tests: an HTTP server on 127.0.0.1 (any free port) that checks
// Basic auth like bitcoind (401, empty body) and hands each JSON-RPC request to a handler.

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sidebolt::test {

class FakeBitcoind
{
public:
    //! Gets the parsed request and the raw (still escaped) request target; fills the response (see Reply/ReplyError).
    using Handler = std::function<void(const nlohmann::json& request, const std::string& path, httplib::Response& res)>;

    FakeBitcoind(std::string user, std::string password, Handler handler)
        : m_handler{std::move(handler)}
    {
        SetCredentials(std::move(user), std::move(password));
        // Without it Nagle's algorithm and delayed ACKs add ~40 ms to every kept-alive call.
        m_server.set_tcp_nodelay(true);
        m_server.Post(".*", [this](const httplib::Request& req, httplib::Response& res) { Serve(req, res); });
        m_port = m_server.bind_to_any_port("127.0.0.1");
        if (m_port <= 0) throw std::runtime_error("fake bitcoind: bind failed");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
    }

    ~FakeBitcoind()
    {
        m_server.stop();
        m_thread.join();
    }

    FakeBitcoind(const FakeBitcoind&) = delete;
    FakeBitcoind& operator=(const FakeBitcoind&) = delete;

    uint16_t Port() const { return static_cast<uint16_t>(m_port); }

    //! Like restarting bitcoind with a new cookie.
    void SetCredentials(std::string user, std::string password)
    {
        std::lock_guard lock{m_mutex};
        m_expected_auth = httplib::make_basic_authentication_header(user, password).second;
    }

    int Calls() const { return m_calls; }
    int Unauthorized() const { return m_unauthorized; }
    std::vector<std::string> Targets() const
    {
        std::lock_guard lock{m_mutex};
        return m_paths;
    }

private:
    void Serve(const httplib::Request& req, httplib::Response& res)
    {
        {
            std::lock_guard lock{m_mutex};
            m_paths.push_back(req.target);
            if (req.get_header_value("Authorization") != m_expected_auth) {
                ++m_unauthorized;
                res.status = 401;
                return;
            }
        }
        ++m_calls;
        m_handler(nlohmann::json::parse(req.body), req.target, res);
    }

    Handler m_handler;
    httplib::Server m_server;
    int m_port{0};
    std::thread m_thread;

    mutable std::mutex m_mutex;
    std::string m_expected_auth;
    std::vector<std::string> m_paths;
    std::atomic<int> m_calls{0};
    std::atomic<int> m_unauthorized{0};
};

//! A JSON-RPC 1.0 success answer as bitcoind writes it.
inline void Reply(httplib::Response& res, const nlohmann::json& request, const nlohmann::json& result)
{
    res.status = 200;
    res.set_content(nlohmann::json{{"result", result}, {"error", nullptr}, {"id", request["id"]}}.dump(),
                    "application/json");
}

//! A JSON-RPC 1.0 error answer; bitcoind uses HTTP 500 (404 for an unknown method).
inline void ReplyError(httplib::Response& res, const nlohmann::json& request, int code, const std::string& message,
                       int http_status = 500)
{
    res.status = http_status;
    res.set_content(nlohmann::json{{"result", nullptr}, {"error", {{"code", code}, {"message", message}}},
                                   {"id", request["id"]}}
                        .dump(),
                    "application/json");
}

} // namespace sidebolt::test

#endif
