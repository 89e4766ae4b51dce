#include "rpc/server.h"

#include <doctest/doctest.h>

#include <httplib.h>

using namespace sidebolt;
using json = nlohmann::json;

namespace {
void RegisterTestMethods(RpcServer& server)
{
    server.Register({"echo", {"first", "second"}, "echo params", [](const json& params) { return params; }});
    server.Register({"fail", {}, "always fails", [](const json&) -> json { throw RpcException(RPC_INVALID_PARAMETER, "nope"); }});
    server.Register({"crash", {}, "throws", [](const json&) -> json { throw std::runtime_error("boom"); }});
}
} // namespace

TEST_CASE("dispatch: positional and named params, errors carry codes")
{
    RpcServer server("__cookie__:secret");
    RegisterTestMethods(server);
    CHECK(server.Dispatch({{"method", "echo"}, {"params", {1, "a"}}, {"id", 7}})["result"] == json{1, "a"});
    CHECK(server.Dispatch({{"method", "echo"}, {"params", {{"second", 2}}}})["result"] == json{nullptr, 2});
    CHECK(server.Dispatch({{"method", "echo"}, {"params", {{"third", 2}}}})["error"]["code"] == RPC_INVALID_PARAMETER);
    CHECK(server.Dispatch({{"method", "echo"}, {"params", {1, 2, 3}}})["error"]["code"] == RPC_INVALID_PARAMS);
    CHECK(server.Dispatch({{"method", "nosuch"}})["error"]["code"] == RPC_METHOD_NOT_FOUND);
    CHECK(server.Dispatch({{"method", "fail"}})["error"]["message"] == "nope");
    CHECK(server.Dispatch({{"method", "crash"}})["error"]["code"] == RPC_MISC_ERROR);
    CHECK(server.Dispatch(json::array())["error"]["code"] == RPC_INVALID_REQUEST);
    CHECK(server.Dispatch({{"method", 5}})["error"]["code"] == RPC_INVALID_REQUEST);
    CHECK(server.Dispatch({{"method", "echo"}, {"params", "x"}})["error"]["code"] == RPC_INVALID_REQUEST);
}

TEST_CASE("HTTP: cookie auth enforced, parse errors answered, 404 for unknown methods")
{
    RpcServer server("__cookie__:secret");
    RegisterTestMethods(server);
    const int port = server.Start("127.0.0.1", 0);
    REQUIRE(port > 0);
    httplib::Client client("127.0.0.1", port);
    client.set_basic_auth("__cookie__", "secret");
    auto ok = client.Post("/", R"({"method":"echo","params":[1],"id":1})", "application/json");
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(json::parse(ok->body)["result"] == json{1});
    auto garbage = client.Post("/", "{not json", "application/json");
    REQUIRE(garbage);
    CHECK(json::parse(garbage->body)["error"]["code"] == RPC_PARSE_ERROR);
    auto unknown = client.Post("/", R"({"method":"nosuch"})", "application/json");
    REQUIRE(unknown);
    CHECK(unknown->status == 404);

    httplib::Client wrong("127.0.0.1", port);
    wrong.set_basic_auth("__cookie__", "guess");
    auto denied = wrong.Post("/", R"({"method":"echo"})", "application/json");
    REQUIRE(denied);
    CHECK(denied->status == 401);
    httplib::Client anonymous("127.0.0.1", port);
    auto none = anonymous.Post("/", R"({"method":"echo"})", "application/json");
    REQUIRE(none);
    CHECK(none->status == 401);
    server.Stop();
}

TEST_CASE("help marks optional parameters, which are still passed by name")
{
    RpcServer server("__cookie__:secret");
    server.Register({"ping", {"id", "[len]"}, "ping a peer", [](const json& params) { return params; }});
    server.Register({"getinfo", {}, "info", [](const json&) { return json(); }});
    CHECK(server.HelpText() == "getinfo\n    info\nping id [len]\n    ping a peer\n");
    CHECK(server.Dispatch({{"method", "ping"}, {"params", {{"len", 5}}}})["result"] == json{nullptr, 5});
    CHECK(server.Dispatch({{"method", "ping"}, {"params", {{"[len]", 5}}}})["error"]["code"] == RPC_INVALID_PARAMETER);
    CHECK_THROWS_AS(server.Register({"bad", {"[first]", "second"}, "", [](const json&) { return json(); }}), std::logic_error);
}

TEST_CASE("a second server cannot bind a port in use")
{
    RpcServer first("__cookie__:secret");
    RegisterTestMethods(first);
    const int port = first.Start("127.0.0.1", 0);
    REQUIRE(port > 0);
    RpcServer second("__cookie__:other");
    RegisterTestMethods(second);
    const std::string expected = "Unable to bind RPC server to 127.0.0.1:" + std::to_string(port) +
                                 ": address in use. Is sideboltd already running?";
    CHECK_THROWS_WITH_AS(second.Start("127.0.0.1", port), expected.c_str(), std::runtime_error);
    // The first keeps answering every request: none went to a second listener.
    httplib::Client client("127.0.0.1", port);
    client.set_basic_auth("__cookie__", "secret");
    for (int i = 0; i < 4; ++i) {
        const auto ok = client.Post("/", R"({"method":"echo","params":[1]})", "application/json");
        REQUIRE(ok);
        CHECK(ok->status == 200);
    }
    first.Stop();
    // Once the port is free again (connections in TIME_WAIT do not hold it), it can be bound.
    RpcServer third("__cookie__:secret");
    CHECK(third.Start("127.0.0.1", port) == port);
    third.Stop();
}
