#include "plugin/channel_rpc.h"

#include "plugin/rpc_params.h"
#include "primitives/address.h"
#include "rpc/json_rpc_client.h"
#include "util/hex.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

namespace sidebolt {
namespace {
using json = nlohmann::json;

//! NodeError carries bitcoind's code for wallet refusals and sidebolt's own otherwise.
std::string ChannelTypeName(CommitmentFormat format)
{
    switch (format) {
    case CommitmentFormat::ANCHORS: return "anchors_zero_fee_htlc_tx+static_remotekey";
    case CommitmentFormat::STATIC_REMOTEKEY: return "static_remotekey";
    case CommitmentFormat::ANCHOR_OUTPUTS: return "anchor_outputs+static_remotekey";
    case CommitmentFormat::LEGACY: return "legacy";
    }
    return "unknown";
}

json DescribeOnchain(const OnchainSummary& o)
{
    json out{{"spend_txid", HashToHexRev(o.spend_txid)},
             {"spend_height", o.spend_height ? json(*o.spend_height) : json()},
             {"kind", o.kind.empty() ? json() : json(o.kind)}};
    json outputs = json::array();
    for (const auto& output : o.outputs) {
        json entry{{"duty", output.duty},
                   {"output", output.output_index},
                   {"amount_sat", output.amount.value()},
                   {"valid_from_height", output.valid_from_height ? json(*output.valid_from_height) : json()},
                   {"broadcast", output.broadcast}};
        if (output.txid) entry["txid"] = HashToHexRev(*output.txid);
        if (output.replaced > 0) entry["replaced"] = output.replaced;
        if (output.feerate_per_kw) entry["feerate_per_kw"] = *output.feerate_per_kw;
        entry["spent_by"] = output.spent_by ? json(HashToHexRev(*output.spent_by)) : json();
        entry["spent_height"] = output.spent_height ? json(*output.spent_height) : json();
        outputs.push_back(std::move(entry));
    }
    out["outputs"] = std::move(outputs);
    json second_stage = json::array();
    for (const auto& stage : o.second_stage) {
        json entry{{"txid", HashToHexRev(stage.txid)},
                   {"output", stage.output_index},
                   {"duty", stage.duty},
                   {"valid_from_height", stage.valid_from_height ? json(*stage.valid_from_height) : json()},
                   {"our_txid", stage.our_txid ? json(HashToHexRev(*stage.our_txid)) : json()},
                   {"spent_by", stage.spent_by ? json(HashToHexRev(*stage.spent_by)) : json()},
                   {"spent_height", stage.spent_height ? json(*stage.spent_height) : json()}};
        if (stage.replaced > 0) {
            entry["replaced"] = stage.replaced;
            entry["feerate_per_kw"] = *stage.feerate_per_kw;
        }
        second_stage.push_back(std::move(entry));
    }
    out["second_stage"] = std::move(second_stage);
    if (o.penalty_txid) {
        out["penalty_txid"] = HashToHexRev(*o.penalty_txid);
        out["penalty_broadcast"] = o.penalty_broadcast;
        if (o.penalty_replaced > 0) {
            out["penalty_replaced"] = o.penalty_replaced;
            out["penalty_feerate_per_kw"] = *o.penalty_feerate_per_kw;
        }
    }
    return out;
}

json DescribeClosed(const ClosedChannel& c)
{
    json out{{"channel_id", ToHex(c.channel_id)},
             {"peer_id", ToHex(c.peer.span())},
             {"opener", c.opener ? "local" : "remote"},
             {"capacity_sat", c.capacity.value()},
             {"funding_txid", HashToHexRev(c.funding_outpoint.txid)},
             {"funding_output", c.funding_outpoint.n},
             {"close_kind", c.close_kind},
             {"spend_txid", HashToHexRev(c.spend_txid)},
             {"spend_height", c.spend_height},
             {"resolved_height", c.resolved_height},
             {"archived_height", c.archived_height},
             {"returned_sat", c.returned ? json(c.returned->value()) : json()}};
    if (c.short_channel_id) out["short_channel_id"] = ShortChannelId::FromU64(*c.short_channel_id).ToString();
    json txids = json::array();
    for (const Hash256& txid : c.our_txids) txids.push_back(HashToHexRev(txid));
    out["our_txids"] = std::move(txids);
    return out;
}

json Describe(const ChannelSummary& c)
{
    json out{{"peer_id", ToHex(c.peer.span())},
             {"peer_connected", c.peer_connected},
             {"channel_id", ToHex(c.channel_id)},
             {"state", std::string(ChannelPhaseName(c.phase))},
             {"opener", c.opener ? "local" : "remote"}};
    if (c.short_channel_id) out["short_channel_id"] = c.short_channel_id->ToString();
    if (c.capacity.value() > 0) {
        out["channel_type"] = ChannelTypeName(c.format);
        out["capacity_sat"] = c.capacity.value();
        out["to_us_msat"] = c.local_balance.value();
        out["to_them_msat"] = c.remote_balance.value();
        // Each side's reserve is set by the other: ours is in the peer's limits.
        out["our_reserve_sat"] = c.remote_limits.channel_reserve.value();
        out["their_reserve_sat"] = c.local_limits.channel_reserve.value();
        out["our_htlc_minimum_msat"] = c.local_limits.htlc_minimum.value();
        out["their_htlc_minimum_msat"] = c.remote_limits.htlc_minimum.value();
        out["our_max_htlc_value_in_flight_msat"] = c.local_limits.max_htlc_value_in_flight.value();
        out["their_max_htlc_value_in_flight_msat"] = c.remote_limits.max_htlc_value_in_flight.value();
        out["our_max_accepted_htlcs"] = c.local_limits.max_accepted_htlcs;
        out["their_max_accepted_htlcs"] = c.remote_limits.max_accepted_htlcs;
        out["feerate_per_kw"] = c.feerate_per_kw;
        out["pending_htlcs"] = c.pending_htlcs;
        out["funding_txid"] = HashToHexRev(c.funding_outpoint.txid);
        out["funding_output"] = c.funding_outpoint.n;
        out["funding_confirmations"] = c.funding_confirmations;
        out["minimum_depth"] = c.minimum_depth;
    }
    if (c.closing_txid) out["closing_txid"] = HashToHexRev(*c.closing_txid);
    if (!c.failure.empty()) out["failure"] = c.failure;
    if (c.onchain) out["onchain"] = DescribeOnchain(*c.onchain);
    return out;
}

//! A channel id (64 hex) or a peer id (66 hex) with exactly one channel.
Hash256 ResolveChannel(ChannelManager& channels, const std::string& text)
{
    const Bytes bytes = ParseHex(text);
    if (bytes.size() == 32 && ToHex(bytes) == text) {
        Hash256 id{};
        std::copy(bytes.begin(), bytes.end(), id.begin());
        return id;
    }
    const PubKey peer = ParamPubKey(text, "id");
    const auto summaries = Translate([&] { return channels.ListChannels(); });
    if (std::none_of(summaries.begin(), summaries.end(), [&](const auto& c) { return c.peer == peer; })) {
        throw RpcException(kErrUnknownChannel, "no channel with peer " + text);
    }
    std::vector<Hash256> open;
    for (const auto& summary : summaries) {
        if (summary.peer == peer && (summary.phase == ChannelPhase::NORMAL || summary.phase == ChannelPhase::SHUTTING_DOWN ||
                                     summary.phase == ChannelPhase::AWAITING_LOCKIN)) {
            open.push_back(summary.channel_id);
        }
    }
    if (open.size() != 1) {
        throw RpcException(RPC_INVALID_PARAMETER, "peer has " + std::to_string(open.size()) + " open channels: name the channel_id");
    }
    return open.front();
}

json FundChannel(ChannelManager& channels, const json& params)
{
    FundChannelRequest request{ParamPubKey(ParamString(params, 0, "id"), "id")};
    const int64_t amount = ParamInt(params, 1, "amount_sat");
    if (amount <= 0) throw RpcException(RPC_INVALID_PARAMETER, "amount_sat must be positive");
    request.amount = Sat{static_cast<uint64_t>(amount)};
    if (const auto feerate = OptionalParamInt(params, 2, "feerate")) {
        if (*feerate < 253 || *feerate > 1'000'000) throw RpcException(RPC_INVALID_PARAMETER, "feerate must be 253 to 1000000 sat per 1000 weight");
        request.feerate_per_kw = static_cast<uint32_t>(*feerate);
    }
    if (const auto announce = OptionalParamInt(params, 3, "announce")) request.announce = *announce != 0;
    if (const auto push = OptionalParamInt(params, 4, "push_msat")) {
        if (*push < 0) throw RpcException(RPC_INVALID_PARAMETER, "push_msat must not be negative");
        request.push = Msat{static_cast<uint64_t>(*push)};
    }
    if (const auto minconf = OptionalParamInt(params, 5, "minconf")) {
        if (*minconf < 0 || *minconf > 9'999'999) throw RpcException(RPC_INVALID_PARAMETER, "minconf must be 0 to 9999999");
        request.minconf = static_cast<uint32_t>(*minconf);
    }
    return Translate([&] {
        const FundChannelResult result = channels.FundChannel(request);
        return json{{"channel_id", ToHex(result.channel_id)},
                    {"funding_txid", HashToHexRev(result.funding_txid)},
                    {"funding_output", result.funding_output}};
    });
}

json DescribeClose(const CloseResult& result, const char* type)
{
    return json{{"channel_id", ToHex(result.channel_id)},
                {"closing_txid", HashToHexRev(result.closing_tx.GetTxid())},
                {"tx", ToHex(SerializeTransaction(result.closing_tx))},
                {"type", type}};
}

//! The cooperative close, asked again while the peer is away, until `limit` has passed: nullopt
//! when it did not complete in time. Other refusals are thrown.
std::optional<CloseResult> CloseWithin(ChannelManager& channels, const Hash256& channel_id, const std::optional<Bytes>& destination,
                                       std::optional<uint32_t> feerate, std::chrono::milliseconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= std::chrono::milliseconds{0}) return std::nullopt;
        try {
            return channels.Close(channel_id, destination, feerate, left);
        } catch (const NodeError& e) {
            if (e.Code() == kErrTimeout) return std::nullopt;
            if (e.Code() != kErrPeerNotConnected) throw;
        }
        // The node reconnects to its peers by itself.
        std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds{1000}));
    }
}

json Close(ChannelManager& channels, Network network, const json& params)
{
    const Hash256 channel_id = ResolveChannel(channels, ParamString(params, 0, "id"));
    std::optional<Bytes> destination;
    if (params.size() > 1 && !params[1].is_null()) {
        destination = DecodeAddress(ParamString(params, 1, "destination"), network);
        if (!destination) throw RpcException(RPC_INVALID_PARAMETER, "destination is not an address of this network");
    }
    const auto unilateral_timeout = OptionalParamInt(params, 4, "unilateraltimeout");
    if (unilateral_timeout && (*unilateral_timeout < 1 || *unilateral_timeout > 86'400)) {
        throw RpcException(RPC_INVALID_PARAMETER, "unilateraltimeout must be 1 to 86400 seconds");
    }
    if (OptionalParamBool(params, 3, "unilateral").value_or(false)) {
        if (destination || OptionalParamInt(params, 2, "feerate") || unilateral_timeout) {
            throw RpcException(RPC_INVALID_PARAMETER,
                               "a unilateral close takes no destination, feerate or unilateraltimeout: our commitment is already signed");
        }
        return Translate([&] { return DescribeClose(channels.ForceClose(channel_id), "unilateral"); });
    }
    std::optional<uint32_t> feerate;
    if (const auto requested = OptionalParamInt(params, 2, "feerate")) {
        if (*requested < 253 || *requested > 1'000'000) throw RpcException(RPC_INVALID_PARAMETER, "feerate must be 253 to 1000000 sat per 1000 weight");
        feerate = static_cast<uint32_t>(*requested);
    }
    if (!unilateral_timeout) return Translate([&] { return DescribeClose(channels.Close(channel_id, destination, feerate), "mutual"); });
    return Translate([&] {
        if (auto mutual = CloseWithin(channels, channel_id, destination, feerate, std::chrono::seconds(*unilateral_timeout))) {
            return DescribeClose(*mutual, "mutual");
        }
        // The peer did not close in time: we fail the channel and publish our commitment.
        return DescribeClose(channels.ForceClose(channel_id), "unilateral");
    });
}

json DevCommitmentJson(const ChannelManager::DevCommitment& dev)
{
    json htlc_txs = json::array();
    for (const DevHtlcTx& htlc : dev.htlc_txs) {
        htlc_txs.push_back({{"kind", htlc.is_success ? "htlc_success" : "htlc_timeout"},
                            {"payment_hash", ToHex(htlc.payment_hash)},
                            {"cltv_expiry", htlc.cltv_expiry},
                            {"preimage_known", htlc.preimage_known},
                            {"txid", HashToHexRev(htlc.tx.GetTxid())},
                            {"tx", ToHex(SerializeTransaction(htlc.tx))}});
    }
    return json{{"txid", HashToHexRev(dev.commitment.GetTxid())},
                {"tx", ToHex(SerializeTransaction(dev.commitment))},
                {"htlc_txs", std::move(htlc_txs)}};
}

json ListFunds(ChannelManager& channels, rpc::BitcoindClient& bitcoind)
{
    json wallet;
    try {
        const auto balances = bitcoind.GetWalletBalances();
        wallet = {{"trusted_sat", balances.trusted.value()},
                  {"untrusted_pending_sat", balances.untrusted_pending.value()},
                  {"immature_sat", balances.immature.value()}};
    } catch (const rpc::RpcError& e) {
        wallet = {{"error", e.Message()}, {"code", e.Code()}};
    } catch (const std::exception& e) {
        wallet = {{"error", std::string("cannot reach bitcoind: ") + e.what()}, {"code", -1}};
    }
    json list = json::array();
    uint64_t total_msat = 0;
    for (const auto& c : channels.ListChannels()) {
        if (c.phase == ChannelPhase::CLOSED || c.capacity.value() == 0) continue;
        total_msat += c.local_balance.value();
        list.push_back({{"peer_id", ToHex(c.peer.span())},
                        {"channel_id", ToHex(c.channel_id)},
                        {"state", std::string(ChannelPhaseName(c.phase))},
                        {"capacity_sat", c.capacity.value()},
                        {"our_amount_msat", c.local_balance.value()}});
    }
    return {{"wallet", wallet}, {"channels", list}, {"channels_total_msat", total_msat}};
}

} // namespace

void RegisterChannelRpcs(RpcServer& server, ChannelManager& channels, rpc::BitcoindClient& bitcoind, Network network,
                         bool developer)
{
    server.Register({"fundchannel", {"id", "amount_sat", "[feerate]", "[announce]", "[push_msat]", "[minconf]"},
                     "Open a channel to a connected peer, funded from bitcoind's wallet (coins at least minconf "
                     "deep when given); feerate is the commitment's, in sat per 1000 weight. Returns once both "
                     "sides signed and the funding transaction is broadcast.",
                     [&channels](const json& params) { return FundChannel(channels, params); }});
    server.Register({"listchannels", {}, "Every channel: peer, state, type, capacity, balances, reserves, limits, funding.",
                     [&channels](const json&) {
                         json out = json::array();
                         for (const auto& c : channels.ListChannels()) out.push_back(Describe(c));
                         return json{{"channels", out}};
                     }});
    server.Register({"listclosedchannels", {}, "Channels whose close is irrevocable (the last spend it waited on 100 blocks "
                     "deep): how they closed, our transactions, and what came back to bitcoind's wallet.",
                     [&channels](const json&) {
                         json out = json::array();
                         for (const auto& c : channels.ListClosedChannels()) out.push_back(DescribeClosed(c));
                         return json{{"channels", out}};
                     }});
    server.Register({"close", {"id", "[destination]", "[feerate]", "[unilateral]", "[unilateraltimeout]"},
                     "Cooperatively close a channel (id: channel_id, or the peer's id when it has one channel); "
                     "pays to a new bitcoind wallet address unless a destination is given; feerate (sat per 1000 "
                     "weight) is the closing fee we aim for, the estimate otherwise. unilateral=true broadcasts "
                     "our commitment instead, without the peer; our outputs come back to the wallet once their "
                     "delays pass. unilateraltimeout (seconds) closes unilaterally when the cooperative close has "
                     "not completed by then (the peer away or not agreeing).",
                     [&channels, network](const json& params) { return Close(channels, network, params); }});
    if (developer) {
        server.Register({"dev-signlastcommitment", {"id"},
                         "Test only: our current commitment, signed and not broadcast, and its HTLC transactions "
                         "(htlc_txs; under anchors our signature is SIGHASH_SINGLE|ANYONECANPAY, so a fee input "
                         "and change may be added). After the next payment it is revoked: broadcasting it then "
                         "hands our balance to the peer as a penalty.",
                         [&channels](const json& params) {
                             const Hash256 channel_id = ResolveChannel(channels, ParamString(params, 0, "id"));
                             return Translate([&] { return DevCommitmentJson(channels.DevSignLastCommitment(channel_id)); });
                         }});
    }
    server.Register({"listfunds", {}, "bitcoind's wallet balance and our balance in each channel.",
                     [&channels, &bitcoind](const json&) { return ListFunds(channels, bitcoind); }});
}

} // namespace sidebolt
