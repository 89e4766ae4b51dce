#include "rpc/json_rpc_client.h"

#include "tests/rpc/fake_bitcoind.h"
#include "tests/support/scratch_dir.h"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

using namespace sidebolt::rpc;
using sidebolt::test::FakeBitcoind;
using sidebolt::test::Reply;
using sidebolt::test::ReplyError;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* USER = "alice";
constexpr const char* PASSWORD = "correct horse";

JsonRpcConfig Config(uint16_t port, RpcAuth auth = PasswordAuth{USER, PASSWORD})
{
    JsonRpcConfig config;
    config.port = port;
    config.auth = std::move(auth);
    config.call_timeout = 5s;
    config.connect_timeout = 1s;
    config.retry_budget = 3s;
    config.initial_backoff = 10ms;
    config.max_backoff = 50ms;
    return config;
}

//! Answers "echo" with its params and "fail" with the error code given as its first param.
void EchoOrFail(const json& request, const std::string&, httplib::Response& res)
{
    if (request["method"] == "fail") {
        ReplyError(res, request, request["params"][0].get<int>(), "failed as asked");
    } else {
        Reply(res, request, request["params"]);
    }
}

//! A port on 127.0.0.1 that nothing listens on (bound, then closed).
uint16_t ClosedPort()
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    close(fd);
    return ntohs(addr.sin_port);
}

class TempCookie
{
public:
    std::filesystem::path Path() const { return m_dir.Path() / ".cookie"; }
    //! bitcoind writes "__cookie__:<hex>" without a trailing newline.
    void Write(const std::string& password) const { std::ofstream{Path()} << "__cookie__:" << password; }

private:
    sidebolt::test::ScratchDir m_dir{"sidebolt-cookie"};
};

} // namespace

TEST_CASE("rpc client: result and RPC error codes carried through")
{
    FakeBitcoind node{USER, PASSWORD, EchoOrFail};
    JsonRpcClient client{Config(node.Port())};

    const json params = json::array({1, "two", json{{"three", 3}}});
    CHECK(client.Call("echo", params) == params);
    CHECK(client.Call("echo") == json::array());

    try {
        client.Call("fail", json::array({-26}));
        FAIL("expected RpcError");
    } catch (const RpcError& e) {
        CHECK(e.Code() == -26);
        CHECK(e.Message() == "failed as asked");
    }
    CHECK(node.Calls() == 3); // RPC errors other than -28 are never retried

    CHECK_THROWS_AS(client.Call("echo", json{{"not", "an array"}}), std::invalid_argument);
}

TEST_CASE("rpc client: unknown method answered with HTTP 404 and a JSON body is an RpcError")
{
    FakeBitcoind node{USER, PASSWORD, [](const json& request, const std::string&, httplib::Response& res) {
                          ReplyError(res, request, -32601, "Method not found", 404);
                      }};
    JsonRpcClient client{Config(node.Port())};
    try {
        client.Call("nosuchmethod");
        FAIL("expected RpcError");
    } catch (const RpcError& e) {
        CHECK(e.Code() == -32601);
    }
}

TEST_CASE("rpc client: -28 warming up is retried until the node is ready")
{
    std::atomic<int> attempts{0};
    FakeBitcoind node{USER, PASSWORD, [&](const json& request, const std::string&, httplib::Response& res) {
                          if (++attempts <= 3) return ReplyError(res, request, -28, "Loading block index...");
                          Reply(res, request, 42);
                      }};
    JsonRpcClient client{Config(node.Port())};
    CHECK(client.Call("getblockcount") == 42);
    CHECK(attempts == 4);
}

TEST_CASE("rpc client: -28 past the retry budget surfaces as RpcError -28")
{
    FakeBitcoind node{USER, PASSWORD, [](const json& request, const std::string&, httplib::Response& res) {
                          ReplyError(res, request, -28, "Verifying blocks...");
                      }};
    JsonRpcConfig config = Config(node.Port());
    config.retry_budget = 200ms;
    JsonRpcClient client{config};
    try {
        client.Call("getblockcount");
        FAIL("expected RpcError");
    } catch (const RpcError& e) {
        CHECK(e.Code() == -28);
    }
    CHECK(node.Calls() > 1);
}

TEST_CASE("rpc client: HTTP 503 (work queue full) is retried")
{
    std::atomic<int> attempts{0};
    FakeBitcoind node{USER, PASSWORD, [&](const json& request, const std::string&, httplib::Response& res) {
                          if (++attempts <= 2) {
                              res.status = 503;
                              res.set_content("Work queue depth exceeded", "text/plain");
                              return;
                          }
                          Reply(res, request, "ok");
                      }};
    JsonRpcClient client{Config(node.Port())};
    CHECK(client.Call("getbestblockhash") == "ok");
    CHECK(attempts == 3);
}

TEST_CASE("rpc client: other HTTP errors without a JSON body are transport errors, not retried")
{
    FakeBitcoind node{USER, PASSWORD, [](const json&, const std::string&, httplib::Response& res) {
                          res.status = 403;
                          res.set_content("Forbidden", "text/plain");
                      }};
    JsonRpcClient client{Config(node.Port())};
    try {
        client.Call("stop");
        FAIL("expected RpcTransportError");
    } catch (const RpcTransportError& e) {
        CHECK(e.Kind() == TransportErrorKind::HttpStatus);
        CHECK(e.HttpStatus() == 403);
    }
    CHECK(node.Calls() == 1);
}

TEST_CASE("rpc client: cookie is re-read after 401 (bitcoind restarted)")
{
    TempCookie cookie;
    cookie.Write("aaaa");
    FakeBitcoind node{"__cookie__", "aaaa", EchoOrFail};
    JsonRpcClient client{Config(node.Port(), CookieAuth{cookie.Path()})};
    CHECK(client.Call("echo", json::array({1})) == json::array({1}));

    // Restart: new cookie on disk and in the node.
    cookie.Write("bbbb");
    node.SetCredentials("__cookie__", "bbbb");
    CHECK(client.Call("echo", json::array({2})) == json::array({2}));
    CHECK(node.Unauthorized() == 1);

    // A stale cookie that bitcoind does not accept is an auth error naming the file.
    node.SetCredentials("__cookie__", "cccc");
    try {
        client.Call("echo");
        FAIL("expected RpcTransportError");
    } catch (const RpcTransportError& e) {
        CHECK(e.Kind() == TransportErrorKind::AuthFailed);
        CHECK(std::string{e.what()}.find(cookie.Path().string()) != std::string::npos);
        CHECK(std::string{e.what()}.find("bbbb") == std::string::npos);
    }
}

TEST_CASE("rpc client: missing cookie file is a CookieUnreadable error after the retry budget")
{
    TempCookie cookie; // never written
    FakeBitcoind node{USER, PASSWORD, EchoOrFail};
    JsonRpcConfig config = Config(node.Port(), CookieAuth{cookie.Path()});
    config.retry_budget = 100ms;
    JsonRpcClient client{config};
    try {
        client.Call("echo");
        FAIL("expected RpcTransportError");
    } catch (const RpcTransportError& e) {
        CHECK(e.Kind() == TransportErrorKind::CookieUnreadable);
    }
    CHECK(node.Calls() == 0);

    // Once bitcoind has written it, calls work.
    cookie.Write("dddd");
    node.SetCredentials("__cookie__", "dddd");
    CHECK(client.Call("echo", json::array({3})) == json::array({3}));
}

TEST_CASE("rpc client: wrong password is a clear auth error that does not echo the password")
{
    FakeBitcoind node{USER, PASSWORD, EchoOrFail};
    JsonRpcClient client{Config(node.Port(), PasswordAuth{USER, "wrong-secret"})};
    try {
        client.Call("echo");
        FAIL("expected RpcTransportError");
    } catch (const RpcTransportError& e) {
        CHECK(e.Kind() == TransportErrorKind::AuthFailed);
        CHECK(e.HttpStatus() == 401);
        const std::string what = e.what();
        CHECK(what.find("authentication") != std::string::npos);
        CHECK(what.find("wrong-secret") == std::string::npos);
    }
    CHECK(node.Unauthorized() == 1); // not retried
}

TEST_CASE("rpc client: a slow node times out")
{
    FakeBitcoind node{USER, PASSWORD, [](const json& request, const std::string&, httplib::Response& res) {
                          std::this_thread::sleep_for(600ms);
                          Reply(res, request, 1);
                      }};
    JsonRpcConfig config = Config(node.Port());
    config.call_timeout = 150ms;
    JsonRpcClient client{config};
    const auto start = std::chrono::steady_clock::now();
    try {
        client.Call("getblock");
        FAIL("expected RpcTransportError");
    } catch (const RpcTransportError& e) {
        CHECK(e.Kind() == TransportErrorKind::Timeout);
    }
    CHECK(std::chrono::steady_clock::now() - start < 500ms);
    CHECK(node.Calls() == 1); // timeouts are not retried
}

TEST_CASE("rpc client: connection refused is a transport error after bounded retries")
{
    JsonRpcConfig config = Config(ClosedPort());
    config.retry_budget = 300ms;
    JsonRpcClient client{config};
    const auto start = std::chrono::steady_clock::now();
    try {
        client.Call("getblockcount");
        FAIL("expected RpcTransportError");
    } catch (const RpcTransportError& e) {
        CHECK(e.Kind() == TransportErrorKind::ConnectFailed);
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed >= 200ms); // it did retry
    CHECK(elapsed < 2s);     // and stopped at the budget
}

TEST_CASE("rpc client: Interrupt stops retries at once")
{
    JsonRpcConfig config = Config(ClosedPort());
    config.retry_budget = 30s;
    config.initial_backoff = 1s;
    config.max_backoff = 1s;
    JsonRpcClient client{config};
    std::thread interrupter([&] {
        std::this_thread::sleep_for(100ms);
        client.Interrupt();
    });
    const auto start = std::chrono::steady_clock::now();
    try {
        client.Call("getblockcount");
        FAIL("expected RpcTransportError");
    } catch (const RpcTransportError& e) {
        CHECK(e.Kind() == TransportErrorKind::Interrupted);
    }
    interrupter.join();
    CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("rpc client: concurrency bound is respected")
{
    std::atomic<int> in_flight{0};
    std::atomic<int> max_in_flight{0};
    FakeBitcoind node{USER, PASSWORD, [&](const json& request, const std::string&, httplib::Response& res) {
                          const int now = ++in_flight;
                          int seen = max_in_flight;
                          while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {}
                          std::this_thread::sleep_for(50ms);
                          --in_flight;
                          Reply(res, request, request["params"]);
                      }};
    JsonRpcConfig config = Config(node.Port());
    config.max_concurrent = 2;
    JsonRpcClient client{config};

    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 3; ++i) {
                if (client.Call("echo", json::array({t, i})) == json::array({t, i})) ++ok;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(ok == 18);
    CHECK(max_in_flight == 2);
}

TEST_CASE("rpc client: wallet calls go to /wallet/<urlencoded name>")
{
    FakeBitcoind node{USER, PASSWORD, [](const json& request, const std::string& path, httplib::Response& res) {
                          Reply(res, request, path);
                      }};
    JsonRpcClient client{Config(node.Port())};
    CHECK(client.Call("getbalance") == "/");
    CHECK(client.Call("getbalance", json::array(), "sidebolt") == "/wallet/sidebolt");
    CHECK(client.Call("getbalance", json::array(), "my wallet/1") == "/wallet/my%20wallet%2F1");
    CHECK(node.Targets().size() == 3);
}

TEST_CASE("rpc client: non JSON-RPC answers are BadResponse")
{
    FakeBitcoind node{USER, PASSWORD, [](const json&, const std::string&, httplib::Response& res) {
                          res.status = 200;
                          res.set_content("<html>hello</html>", "text/html");
                      }};
    JsonRpcClient client{Config(node.Port())};
    try {
        client.Call("getblockcount");
        FAIL("expected RpcTransportError");
    } catch (const RpcTransportError& e) {
        CHECK(e.Kind() == TransportErrorKind::BadResponse);
    }
}
