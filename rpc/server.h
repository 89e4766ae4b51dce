#ifndef SIDEBOLT_RPC_SERVER_H
#define SIDEBOLT_RPC_SERVER_H

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace sidebolt {

//! JSON-RPC error codes, the same numbers bitcoind uses where the meaning is the same.
enum RpcErrorCode : int {
    RPC_MISC_ERROR = -1,
    RPC_INVALID_PARAMETER = -8,
    RPC_IN_WARMUP = -28,
    RPC_INVALID_REQUEST = -32600,
    RPC_METHOD_NOT_FOUND = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_PARSE_ERROR = -32700,
};

//! Thrown by a method handler to answer with a specific code and message.
struct RpcException : std::runtime_error {
    RpcException(int code_in, const std::string& message) : std::runtime_error(message), code(code_in) {}
    int code;
};

struct RpcMethod {
    std::string name;
    //! Parameter names in positional order; object ("named") params are mapped through them.
    //! Optional ones are written "[name]" (help shows them so) and come after the required ones.
    std::vector<std::string> params;
    std::string help;
    std::function<nlohmann::json(const nlohmann::json& positional_params)> handler;
};

//! The daemon's own JSON-RPC server: HTTP POST on a loopback address, HTTP Basic auth with the
//! datadir cookie. Dispatch() is transport-free so it can be tested and fuzzed directly.
constexpr size_t DEFAULT_RPC_THREADS = 16;

class RpcServer
{
public:
    explicit RpcServer(std::string credentials);
    ~RpcServer();
    RpcServer(const RpcServer&) = delete;
    RpcServer& operator=(const RpcServer&) = delete;

    //! Throws std::logic_error for a required parameter after an optional one.
    void Register(RpcMethod method);
    //! Handles one parsed request object and returns the response object (never throws).
    nlohmann::json Dispatch(const nlohmann::json& request) const;
    std::string HelpText() const;

    //! Binds and serves on a background thread; returns the bound port (port 0 = ephemeral).
    //! Throws std::runtime_error when the address cannot be bound, e.g. a port in use: the
    //! socket does not set SO_REUSEPORT, so a second daemon cannot share the port.
    //! `threads` calls run at once: `pay` and the `wait*` calls hold one until they end, so a few
    //! spare keep `stop` and `getinfo` answering.
    int Start(const std::string& host, int port, size_t threads = DEFAULT_RPC_THREADS);
    void Stop();

private:
    nlohmann::json Call(const std::string& method, const nlohmann::json& params) const;
    bool Authorized(const std::string& authorization_header) const;

    std::string m_credentials;
    std::map<std::string, RpcMethod> m_methods;
    std::unique_ptr<httplib::Server> m_http;
    std::thread m_thread;
};

} // namespace sidebolt

#endif
