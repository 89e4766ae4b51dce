#include "rpc/server.h"

#include "util/logging.h"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>
#include <memory>
#include <sstream>
#include <sys/socket.h>

namespace sidebolt {
namespace {
//! Requests served on one kept-alive connection before it is closed.
constexpr size_t kKeepAliveMaxRequests = 100000;
using json = nlohmann::json;

json ErrorResponse(int code, const std::string& message, const json& id)
{
    return {{"result", nullptr}, {"error", {{"code", code}, {"message", message}}}, {"id", id}};
}

std::optional<std::string> DecodeBase64(const std::string& in)
{
    if (in.empty() || in.size() % 4 != 0) return std::nullopt;
    std::string out(in.size() / 4 * 3, '\0');
    const int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                    reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    if (len < 0) return std::nullopt;
    // EVP_DecodeBlock counts padding as output bytes; strip them.
    size_t padding = 0;
    if (in.ends_with("==")) padding = 2;
    else if (in.ends_with("=")) padding = 1;
    out.resize(static_cast<size_t>(len) - padding);
    return out;
}

bool IsOptional(const std::string& param) { return param.starts_with('[') && param.ends_with(']'); }

//! The name a parameter is passed by: "[len]" is "len".
std::string NameOf(const std::string& param) { return IsOptional(param) ? param.substr(1, param.size() - 2) : param; }

//! httplib's default also sets SO_REUSEPORT, with which a second daemon could bind the same port
//! and take half the connections. SO_REUSEADDR alone only lets a restart reuse the port while
//! old connections linger in TIME_WAIT.
void SetListenSocketOptions(socket_t sock)
{
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

int HttpStatusFor(const json& response)
{
    if (response["error"].is_null()) return 200;
    return response["error"]["code"] == RPC_METHOD_NOT_FOUND ? 404 : 500;
}
} // namespace

RpcServer::RpcServer(std::string credentials) : m_credentials(std::move(credentials)) {}

RpcServer::~RpcServer() { Stop(); }

void RpcServer::Register(RpcMethod method)
{
    const auto first_optional = std::find_if(method.params.begin(), method.params.end(), IsOptional);
    if (std::any_of(first_optional, method.params.end(), [](const std::string& p) { return !IsOptional(p); })) {
        throw std::logic_error("RPC " + method.name + ": a required parameter follows an optional one");
    }
    const std::string name = method.name;
    m_methods.emplace(name, std::move(method));
}

json RpcServer::Call(const std::string& name, const json& params) const
{
    const auto it = m_methods.find(name);
    if (it == m_methods.end()) throw RpcException(RPC_METHOD_NOT_FOUND, "Method not found: " + name);
    const RpcMethod& method = it->second;
    json positional = json::array();
    if (params.is_object()) {
        std::vector<std::string> names;
        std::transform(method.params.begin(), method.params.end(), std::back_inserter(names), NameOf);
        for (const auto& [key, value] : params.items()) {
            if (std::find(names.begin(), names.end(), key) == names.end()) {
                throw RpcException(RPC_INVALID_PARAMETER, "Unknown named parameter " + key);
            }
        }
        // Named parameters fill their positions; trailing unnamed ones are left off.
        size_t last = 0;
        for (size_t i = 0; i < names.size(); ++i) {
            if (params.contains(names[i])) last = i + 1;
        }
        for (size_t i = 0; i < last; ++i) {
            positional.push_back(params.value(names[i], json(nullptr)));
        }
    } else if (params.is_array()) {
        positional = params;
    } else if (!params.is_null()) {
        throw RpcException(RPC_INVALID_REQUEST, "params must be an array or an object");
    }
    if (positional.size() > method.params.size()) {
        throw RpcException(RPC_INVALID_PARAMS, name + " takes at most " + std::to_string(method.params.size()) +
                                                   " parameters\n" + method.help);
    }
    return method.handler(positional);
}

json RpcServer::Dispatch(const json& request) const
{
    const json id = request.is_object() ? request.value("id", json(nullptr)) : json(nullptr);
    if (!request.is_object() || !request.contains("method") || !request["method"].is_string()) {
        return ErrorResponse(RPC_INVALID_REQUEST, "request must be an object with a string 'method'", id);
    }
    try {
        json result = Call(request["method"].get<std::string>(), request.value("params", json(nullptr)));
        return {{"result", std::move(result)}, {"error", nullptr}, {"id", id}};
    } catch (const RpcException& e) {
        return ErrorResponse(e.code, e.what(), id);
    } catch (const json::exception& e) {
        return ErrorResponse(RPC_INVALID_PARAMETER, std::string("invalid parameter: ") + e.what(), id);
    } catch (const std::exception& e) {
        return ErrorResponse(RPC_MISC_ERROR, e.what(), id);
    }
}

std::string RpcServer::HelpText() const
{
    std::ostringstream out;
    for (const auto& [name, method] : m_methods) {
        out << name;
        for (const auto& p : method.params) out << " " << p;
        out << "\n    " << method.help << "\n";
    }
    return out.str();
}

bool RpcServer::Authorized(const std::string& header) const
{
    if (!header.starts_with("Basic ")) return false;
    const auto decoded = DecodeBase64(header.substr(6));
    return decoded && decoded->size() == m_credentials.size() &&
           CRYPTO_memcmp(decoded->data(), m_credentials.data(), m_credentials.size()) == 0;
}

int RpcServer::Start(const std::string& host, int port, size_t threads)
{
    m_http = std::make_unique<httplib::Server>();
    auto listen_socket = std::make_shared<socket_t>(INVALID_SOCKET);
    m_http->set_socket_options([listen_socket](socket_t sock) {
        SetListenSocketOptions(sock);
        *listen_socket = sock;
    });
    // httplib writes a response's headers and body separately: with Nagle's algorithm the body
    // waits for the client's delayed ACK, 40 ms on Linux, on every call.
    m_http->set_tcp_nodelay(true);
    // httplib closes a kept-alive connection after 5 requests by default: every fifth call would
    // pay for a new connection (and a new task for the pool). Clients such as a payment loop
    // keep one connection for thousands of calls.
    m_http->set_keep_alive_max_count(kKeepAliveMaxRequests);
    // httplib owns the queue it is handed (its API takes a raw pointer).
    m_http->new_task_queue = [threads] { return new httplib::ThreadPool(std::max<size_t>(threads, 1)); };
    m_http->Post("/", [this](const httplib::Request& req, httplib::Response& res) {
        if (!Authorized(req.get_header_value("Authorization"))) {
            Log("rpc")->warn("rejected RPC request with bad credentials from {}", req.remote_addr);
            res.status = 401;
            res.set_header("WWW-Authenticate", "Basic realm=\"sideboltd\"");
            return;
        }
        json response;
        try {
            response = Dispatch(json::parse(req.body));
        } catch (const json::parse_error& e) {
            response = ErrorResponse(RPC_PARSE_ERROR, std::string("parse error: ") + e.what(), nullptr);
        }
        res.status = HttpStatusFor(response);
        res.set_content(response.dump() + "\n", "application/json");
    });
    // httplib reports failure without a reason; bind()'s errno is what is left of it.
    errno = 0;
    const int bound = port == 0 ? m_http->bind_to_any_port(host) : (m_http->bind_to_port(host, port) ? port : -1);
    const int bind_errno = errno;
    if (bound < 0) {
        std::string message = "Unable to bind RPC server to " + host + ":" + std::to_string(port);
        if (bind_errno == EADDRINUSE) {
            message += ": address in use. Is sideboltd already running?";
        } else if (bind_errno != 0) {
            message += std::string(": ") + std::strerror(bind_errno);
        }
        throw std::runtime_error(message);
    }
    // httplib listens with a backlog of 5. A burst of clients (a hundred `pay` calls at once)
    // overflows it: their connections wait out retransmissions, and one whose request comes
    // after httplib's 5 s wait for it is closed unanswered. Listening again widens the queue.
    if (*listen_socket != INVALID_SOCKET && ::listen(*listen_socket, SOMAXCONN) != 0) {
        Log("rpc")->warn("RPC listen queue left at httplib's 5: {}", std::strerror(errno));
    }
    auto listening_ended = std::make_shared<std::atomic<bool>>(false);
    m_thread = std::thread([this, listening_ended] {
        m_http->listen_after_bind();
        *listening_ended = true;
    });
    // httplib's stop() does nothing until the listening thread has marked the server running:
    // a Stop() right after Start() would otherwise wait forever for that thread.
    while (!m_http->is_running() && !*listening_ended) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return bound;
}

void RpcServer::Stop()
{
    if (m_http) m_http->stop();
    if (m_thread.joinable()) m_thread.join();
}

} // namespace sidebolt
