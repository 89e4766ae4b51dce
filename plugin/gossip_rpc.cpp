#include "plugin/gossip_rpc.h"

#include "node/payment_record.h"
#include "plugin/rpc_params.h"
#include "util/hex.h"

#include <cmath>
#include <cstdlib>

namespace sidebolt {
namespace {
using json = nlohmann::json;

json DescribeNode(const GraphNodeSummary& node)
{
    json out{{"nodeid", ToHex(node.node_id.span())}, {"channels", node.channels}};
    if (!node.announcement) return out;
    const NodeAnnouncementMessage& a = *node.announcement;
    out["alias"] = a.AliasString();
    out["color"] = ToHex(a.rgb_color);
    out["last_timestamp"] = a.timestamp;
    out["features"] = ToHex(a.features);
    json addresses = json::array();
    if (const auto parsed = a.ParseAddresses()) {
        for (const NodeAddress& address : *parsed) addresses.push_back(address.ToString());
    }
    out["addresses"] = addresses;
    return out;
}

json DescribeChannel(const GraphChannelSummary& channel)
{
    json out{{"short_channel_id", channel.short_channel_id.ToString()},
             {"source", ToHex(channel.source.span())},
             {"destination", ToHex(channel.destination.span())},
             {"amount_msat", static_cast<uint64_t>(channel.capacity.value()) * 1000}};
    if (!channel.update) {
        out["active"] = false;
        return out;
    }
    const ChannelUpdateMessage& u = *channel.update;
    out["active"] = !u.Disabled();
    out["last_update"] = u.timestamp;
    out["base_fee_millisatoshi"] = u.fee_base_msat;
    out["fee_per_millionth"] = u.fee_proportional_millionths;
    out["delay"] = u.cltv_expiry_delta;
    out["htlc_minimum_msat"] = u.htlc_minimum_msat.value();
    out["htlc_maximum_msat"] = u.htlc_maximum_msat.value();
    return out;
}

json ListNodes(GossipManager& gossip, const json& params)
{
    std::optional<PubKey> only;
    if (!params.empty() && !params[0].is_null()) only = ParamPubKey(ParamString(params, 0, "id"), "id");
    json nodes = json::array();
    for (const auto& node : Translate([&] { return gossip.ListNodes(only); })) nodes.push_back(DescribeNode(node));
    return json{{"nodes", nodes}};
}

json ListGraphChannels(GossipManager& gossip, const json& params)
{
    std::optional<ShortChannelId> only;
    if (!params.empty() && !params[0].is_null()) only = ParseShortChannelId(ParamString(params, 0, "short_channel_id"));
    json channels = json::array();
    for (const auto& channel : Translate([&] { return gossip.ListChannels(only); })) {
        channels.push_back(DescribeChannel(channel));
    }
    return json{{"channels", channels}};
}

json GetRoute(GossipManager& gossip, const PubKey& our_id, const std::function<uint32_t()>& height, const json& params)
{
    const PubKey destination = ParamPubKey(ParamString(params, 0, "id"), "id");
    const int64_t amount = ParamInt(params, 1, "amount_msat");
    if (amount <= 0) throw RpcException(RPC_INVALID_PARAMETER, "amount_msat must be positive");
    double max_fee_percent = 5.0;
    if (params.size() > 2 && !params[2].is_null()) {
        const std::string text = params[2].is_string() ? params[2].get<std::string>() : params[2].dump();
        char* end = nullptr;
        max_fee_percent = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !std::isfinite(max_fee_percent) || max_fee_percent < 0 || max_fee_percent > 100) {
            throw RpcException(RPC_INVALID_PARAMETER, "maxfeepercent must be a number from 0 to 100");
        }
    }
    const int64_t max_delay = OptionalParamInt(params, 3, "maxdelay").value_or(2016);
    if (max_delay < 1 || max_delay > 20'160) throw RpcException(RPC_INVALID_PARAMETER, "maxdelay must be 1 to 20160 blocks");
    PathRequest request{our_id, destination};
    request.amount = Msat{static_cast<uint64_t>(amount)};
    request.final_cltv_delta = kDefaultMinFinalCltvExpiryDelta;
    request.max_fee = MaxFeeFor(request.amount, max_fee_percent);
    request.max_cltv = static_cast<uint32_t>(max_delay);
    const auto path = gossip.FindPath(request);
    if (!path) throw RpcException(kErrNoRoute, "no route to " + ToHex(destination.span()) + " within the fee and delay limits");
    const uint32_t now = height();
    const auto route = BuildRoute(*path, request.amount, now + request.final_cltv_delta);
    if (!route) throw RpcException(kErrNoRoute, "the route found could not be built");
    json hops = json::array();
    for (const RouteHop& hop : route->hops) {
        hops.push_back({{"id", ToHex(hop.node_id.span())},
                        {"channel", hop.short_channel_id.ToString()},
                        {"amount_msat", hop.amount_msat.value()},
                        {"delay", hop.cltv_expiry - now}});
    }
    return json{{"route", hops}, {"fee_msat", route->fee_msat().value()}};
}

} // namespace

void RegisterGossipRpcs(RpcServer& server, GossipManager& gossip, const PubKey& our_id, std::function<uint32_t()> height)
{
    server.Register({"listnodes", {"[id]"}, "Nodes of the public graph, with their node_announcement when one came.",
                     [&gossip](const json& params) { return ListNodes(gossip, params); }});
    server.Register({"listgraphchannels", {"[short_channel_id]"},
                     "Public channels, one entry per direction, with the channel_update of that direction's source.",
                     [&gossip](const json& params) { return ListGraphChannels(gossip, params); }});
    server.Register({"getroute", {"id", "amount_msat", "[maxfeepercent]", "[maxdelay]"},
                     "The route pay would take to a node over the public graph: hops in sendpay's form (delay in "
                     "blocks from now), and the fee.",
                     [&gossip, our_id, height](const json& params) { return GetRoute(gossip, our_id, height, params); }});
}

} // namespace sidebolt
