#ifndef SIDEBOLT_RPC_JSON_RPC_CLIENT_H
#define SIDEBOLT_RPC_JSON_RPC_CLIENT_H

// JSON-RPC 1.0 client for bitcoind over HTTP (libcurl). Thread-safe: any number of threads
// may Call() at once; at most max_concurrent requests are in flight, over kept-alive
// connections from a small pool.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

namespace sidebolt::rpc {

//! bitcoind RPC error codes we key on (src/rpc/protocol.h); never key on message text.
enum RpcErrorCode : int {
    RPC_MISC_ERROR = -1,             //!< also "block not available" (pruned)
    RPC_INVALID_ADDRESS_OR_KEY = -5, //!< also "block/transaction not found"
    RPC_INVALID_PARAMETER = -8,      //!< also "block height out of range"
    RPC_DESERIALIZATION_ERROR = -22,
    RPC_VERIFY_ERROR = -25,          //!< missing or spent inputs
    RPC_VERIFY_REJECTED = -26,       //!< mempool policy or consensus rejection
    RPC_VERIFY_ALREADY_IN_CHAIN = -27,
    RPC_IN_WARMUP = -28,
    RPC_METHOD_NOT_FOUND = -32601,   //!< a node without the call (the stand-in has no submitpackage)
};

//! The node answered with a JSON-RPC error (bitcoind's code and message).
class RpcError : public std::runtime_error
{
public:
    RpcError(int code, std::string message);
    int Code() const { return m_code; }
    const std::string& Message() const { return m_message; }

private:
    int m_code;
    std::string m_message;
};

enum class TransportErrorKind {
    ConnectFailed,    //!< refused, reset, or closed before answering: the node is down or restarting
    Timeout,          //!< no complete answer within the call timeout
    HttpStatus,       //!< an HTTP error status without a JSON-RPC body (e.g. 503 work queue full)
    AuthFailed,       //!< 401 with the current credentials
    CookieUnreadable, //!< the cookie file is missing or malformed (the node may not be running)
    BadResponse,      //!< an answer that is not valid JSON-RPC
    Interrupted,      //!< JsonRpcClient::Interrupt() was called
};

std::string_view ToString(TransportErrorKind kind);

//! The call did not get an RPC answer: lets callers tell "node down" from "RPC said no".
class RpcTransportError : public std::runtime_error
{
public:
    RpcTransportError(TransportErrorKind kind, const std::string& detail, long http_status = 0);
    TransportErrorKind Kind() const { return m_kind; }
    //! The HTTP status when one was received, else 0.
    long HttpStatus() const { return m_http_status; }

private:
    TransportErrorKind m_kind;
    long m_http_status;
};

//! bitcoind's .cookie file ("__cookie__:<password>"), re-read when the node answers 401
//! because bitcoind writes a new cookie at every start.
struct CookieAuth {
    std::filesystem::path path;
};

//! rpcuser/rpcpassword (or rpcauth). The password is wiped on destruction and never logged.
struct PasswordAuth {
    std::string user;
    std::string password;
    ~PasswordAuth();
};

using RpcAuth = std::variant<CookieAuth, PasswordAuth>;

struct JsonRpcConfig {
    std::string host{"127.0.0.1"};
    uint16_t port{0};
    RpcAuth auth;
    //! Whole request, per attempt.
    std::chrono::milliseconds call_timeout{std::chrono::seconds{60}};
    std::chrono::milliseconds connect_timeout{std::chrono::seconds{5}};
    //! bitcoind serves -rpcthreads requests at once and queues -rpcworkqueue more; stay below.
    size_t max_concurrent{4};
    //! Transient failures (connection refused/reset, HTTP 503, RPC -28 warming up) are retried
    //! with exponential backoff until this much time has passed since the call started.
    std::chrono::milliseconds retry_budget{std::chrono::seconds{30}};
    std::chrono::milliseconds initial_backoff{std::chrono::milliseconds{100}};
    std::chrono::milliseconds max_backoff{std::chrono::seconds{2}};
};

class JsonRpcClient
{
public:
    explicit JsonRpcClient(JsonRpcConfig config);
    ~JsonRpcClient();
    JsonRpcClient(const JsonRpcClient&) = delete;
    JsonRpcClient& operator=(const JsonRpcClient&) = delete;

    //! Calls method with positional params (a JSON array) and returns the "result" member.
    //! With a wallet name the request goes to /wallet/<name>. Throws RpcError for an RPC
    //! error answer, RpcTransportError when no answer could be obtained.
    nlohmann::json Call(std::string_view method, const nlohmann::json& params = nlohmann::json::array(),
                        const std::optional<std::string>& wallet = std::nullopt);

    //! Makes in-flight and future calls fail fast with TransportErrorKind::Interrupted
    //! (for shutdown); no retry waits after this.
    void Interrupt();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace sidebolt::rpc

#endif
