#include "plugin/peer_rpc.h"

#include "plugin/rpc_params.h"
#include "util/hex.h"

#include <charconv>
#include <chrono>
#include <future>
#include <memory>

namespace sidebolt {
namespace {
using json = nlohmann::json;

//! How long an RPC waits for the network. A connect is a TCP connect, a handshake and init, each
//! with its own timeout in the peer manager (30 s); waiting longer lets those report the reason.
constexpr std::chrono::seconds NETWORK_RPC_TIMEOUT{75};

struct ConnectTarget {
    PubKey node_id;
    std::string host;
    uint16_t port;
};

uint16_t CheckPort(int64_t port)
{
    if (port < 1 || port > 65535) throw RpcException(RPC_INVALID_PARAMETER, "invalid port " + std::to_string(port));
    return static_cast<uint16_t>(port);
}

uint16_t ParsePort(const std::string& text)
{
    int64_t port = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc{} || end != text.data() + text.size()) throw RpcException(RPC_INVALID_PARAMETER, "invalid port '" + text + "'");
    return CheckPort(port);
}

//! Accepts "id@host:port", "id@host" (default port), or id, host, port as three parameters.
ConnectTarget ParseConnectTarget(const json& params)
{
    const std::string first = ParamString(params, 0, "id");
    const auto at = first.find('@');
    ConnectTarget target{ParamPubKey(first.substr(0, at), "id"), "", 9735};
    std::string address = at == std::string::npos ? "" : first.substr(at + 1);
    if (address.empty()) {
        if (params.size() < 2) throw RpcException(RPC_INVALID_PARAMS, "give id@host:port, or id host [port]");
        target.host = ParamString(params, 1, "host");
        if (const auto port = OptionalParamInt(params, 2, "port")) target.port = CheckPort(*port);
        return target;
    }
    // An IPv6 literal is written [addr]:port.
    const auto close = address.rfind(']');
    const auto colon = address.rfind(':');
    if (colon != std::string::npos && (close == std::string::npos || colon > close)) {
        target.port = ParsePort(address.substr(colon + 1));
        address.resize(colon);
    }
    if (address.size() >= 2 && address.front() == '[' && address.back() == ']') address = address.substr(1, address.size() - 2);
    target.host = address;
    return target;
}

template <typename T>
T AwaitNetwork(std::future<T>& result, const std::string& what)
{
    if (result.wait_for(NETWORK_RPC_TIMEOUT) != std::future_status::ready) {
        throw RpcException(RPC_MISC_ERROR, what + " timed out");
    }
    return result.get();
}

json DescribePeer(const PeerInfo& peer)
{
    json out{{"id", ToHex(peer.node_id.span())},
             {"address", peer.address},
             {"direction", peer.direction == PeerDirection::kInbound ? "inbound" : "outbound"},
             {"features", ToHex(peer.features.ToWire())},
             {"features_names", DescribeFeatures(peer.features)},
             {"connected_since", std::chrono::duration_cast<std::chrono::seconds>(peer.connected_since.time_since_epoch()).count()},
             {"bytes_in", peer.bytes_in},
             {"bytes_out", peer.bytes_out}};
    if (peer.last_ping_rtt) out["last_ping_rtt_ms"] = static_cast<double>(peer.last_ping_rtt->count()) / 1000.0;
    return out;
}

bool IsConnected(const PeerManager& peers, const PubKey& id)
{
    for (const auto& p : peers.ListPeers()) {
        if (p.node_id == id) return true;
    }
    return false;
}
} // namespace

void RegisterPeerRpcs(RpcServer& server, PeerManager& peers, ConnectedOutHook on_connected_out)
{
    server.Register({"connect", {"id", "[host]", "[port]"},
                     "Connect to a Lightning node: id@host:port, or id host [port]; returns once init is exchanged.",
                     [&peers, on_connected_out](const json& params) -> json {
                         const ConnectTarget target = ParseConnectTarget(params);
                         auto done = std::make_shared<std::promise<std::optional<std::string>>>();
                         auto result = done->get_future();
                         peers.Connect(target.node_id, target.host, target.port,
                                       [done](const std::optional<std::string>& error) { done->set_value(error); });
                         if (const auto error = AwaitNetwork(result, "connect")) {
                             throw RpcException(RPC_PEER_CONNECT_FAILED, "connection to " + target.host + ":" +
                                                                             std::to_string(target.port) + " failed: " + *error);
                         }
                         if (on_connected_out) on_connected_out(target.node_id, target.host, target.port);
                         return {{"id", ToHex(target.node_id.span())}};
                     }});
    server.Register({"disconnect", {"id"}, "Close the connection to a peer.", [&peers](const json& params) -> json {
                         const PubKey id = ParamPubKey(ParamString(params, 0, "id"), "id");
                         if (!IsConnected(peers, id)) throw RpcException(RPC_PEER_NOT_CONNECTED, "peer is not connected");
                         peers.Disconnect(id);
                         return nullptr;
                     }});
    server.Register({"listpeers", {}, "Connected peers: id, address, direction, features, traffic, ping time.",
                     [&peers](const json&) -> json {
                         json out = json::array();
                         for (const auto& peer : peers.ListPeers()) out.push_back(DescribePeer(peer));
                         return out;
                     }});
    server.Register({"ping", {"id", "[len]"}, "Send a BOLT 1 ping asking for len bytes back (default 128); returns the round trip.",
                     [&peers](const json& params) -> json {
                         const PubKey id = ParamPubKey(ParamString(params, 0, "id"), "id");
                         const int64_t len = OptionalParamInt(params, 1, "len").value_or(128);
                         // BOLT 1: a num_pong_bytes of 65532 or more asks for no pong at all.
                         if (len < 0 || len >= 65532) throw RpcException(RPC_INVALID_PARAMETER, "len must be 0..65531");
                         if (!IsConnected(peers, id)) throw RpcException(RPC_PEER_NOT_CONNECTED, "peer is not connected");
                         using Rtt = Expected<std::chrono::microseconds, std::string>;
                         auto done = std::make_shared<std::promise<Rtt>>();
                         auto result = done->get_future();
                         peers.Ping(id, static_cast<uint16_t>(len), [done](const Rtt& rtt) { done->set_value(rtt); });
                         const Rtt rtt = AwaitNetwork(result, "ping");
                         if (!rtt) throw RpcException(RPC_PEER_NOT_CONNECTED, "ping failed: " + rtt.error());
                         return {{"rtt_ms", static_cast<double>(rtt->count()) / 1000.0}, {"len", len}};
                     }});
}

} // namespace sidebolt
