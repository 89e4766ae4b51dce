#include "plugin/pay_rpc.h"

#include "node/interfaces.h"
#include "pay/invoice.h"
#include "plugin/rpc_params.h"
#include "primitives/hash.h"
#include "util/hex.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

namespace sidebolt {
namespace {
using json = nlohmann::json;

uint64_t NowSeconds()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

//! The optional limits pay and keysend share: [maxfeepercent] [retry_for] [maxdelay] from `first`.
void ReadLimits(const json& params, size_t first, PayRequest& request, uint64_t& retry_for)
{
    if (params.size() > first && !params[first].is_null()) {
        const std::string text = params[first].is_string() ? params[first].get<std::string>() : params[first].dump();
        char* end = nullptr;
        const double percent = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !std::isfinite(percent) || percent < 0 || percent > 100) {
            throw RpcException(RPC_INVALID_PARAMETER, "maxfeepercent must be a number from 0 to 100");
        }
        request.max_fee_percent = percent;
    }
    if (const auto retry = OptionalParamInt(params, first + 1, "retry_for")) {
        if (*retry < 1 || *retry > 3600) throw RpcException(RPC_INVALID_PARAMETER, "retry_for must be 1 to 3600 seconds");
        retry_for = static_cast<uint64_t>(*retry);
    }
    if (const auto delay = OptionalParamInt(params, first + 2, "maxdelay")) {
        if (*delay < 1 || *delay > 20'160) throw RpcException(RPC_INVALID_PARAMETER, "maxdelay must be 1 to 20160 blocks");
        request.max_delay = static_cast<uint32_t>(*delay);
    }
    request.retry_deadline = NowSeconds() + retry_for;
}

json DescribePayment(const PaymentRecord& record)
{
    json parts = json::array();
    for (const auto& part : record.parts) {
        parts.push_back({{"part_id", part.part_id},
                         {"status", std::string(PaymentStatusName(part.status))},
                         {"amount_msat", part.amount_msat.value()},
                         {"amount_sent_msat", part.amount_sent_msat.value()},
                         {"channel_id", ToHex(part.channel_id)},
                         {"route", part.route}});
    }
    json out{{"payment_hash", ToHex(record.payment_hash)},
             {"destination", ToHex(record.destination)},
             {"status", std::string(PaymentStatusName(record.status))},
             {"amount_msat", record.amount_msat.value()},
             {"created_at", record.created_at},
             {"attempts", record.attempts},
             {"parts", parts}};
    if (record.status == PaymentStatus::COMPLETE) {
        const Msat sent = record.AmountSentSettled();
        out["amount_sent_msat"] = sent.value();
        out["fee_msat"] = sent > record.amount_msat ? (sent - record.amount_msat).value() : 0;
        out["completed_at"] = record.completed_at;
    }
    if (record.preimage) out["payment_preimage"] = ToHex(*record.preimage);
    if (!record.bolt11.empty()) out["bolt11"] = record.bolt11;
    if (!record.failure.empty()) out["failure"] = record.failure;
    if (record.failure_code) out["failure_code"] = *record.failure_code;
    if (record.erring_index) out["erring_index"] = *record.erring_index;
    return out;
}

json RunPayment(ChannelManager& channels, PayRequest request, uint64_t retry_for)
{
    const PaymentRecord record = Translate([&] { return channels.Pay(std::move(request), std::chrono::seconds(retry_for + 60)); });
    if (record.status != PaymentStatus::COMPLETE) {
        throw RpcException(kErrPaymentFailed, "payment failed after " + std::to_string(record.attempts) +
                                                  " attempt(s): " + record.failure);
    }
    return DescribePayment(record);
}

std::vector<std::vector<HintHop>> Hints(const Invoice& invoice)
{
    std::vector<std::vector<HintHop>> hints;
    for (const auto& path : invoice.route_hints) {
        std::vector<HintHop> hops;
        for (const auto& hop : path) {
            hops.push_back(HintHop{hop.node_id, hop.short_channel_id, Msat{hop.fee_base_msat},
                                   hop.fee_proportional_millionths, hop.cltv_expiry_delta});
        }
        hints.push_back(std::move(hops));
    }
    return hints;
}

json Pay(ChannelManager& channels, Network network, const json& params)
{
    const std::string text = ParamString(params, 0, "bolt11");
    const auto decoded = DecodeInvoice(text);
    if (!decoded) throw RpcException(RPC_INVALID_PARAMETER, "invalid bolt11 invoice: " + decoded.error().reason);
    const Invoice& invoice = decoded->invoice;
    if (invoice.hrp_currency != InvoiceCurrency(network)) {
        throw RpcException(RPC_INVALID_PARAMETER, "the invoice is for network '" + invoice.hrp_currency + "', not ours");
    }
    if (InvoiceExpired(invoice, NowSeconds())) throw RpcException(RPC_INVALID_PARAMETER, "the invoice has expired");
    PayRequest request(decoded->payee);
    const auto amount = OptionalParamInt(params, 1, "amount_msat");
    if (invoice.amount_msat && amount) {
        throw RpcException(RPC_INVALID_PARAMETER, "the invoice names its amount: amount_msat must not be given");
    }
    if (!invoice.amount_msat && !amount) throw RpcException(RPC_INVALID_PARAMETER, "the invoice has no amount: give amount_msat");
    if (amount && *amount <= 0) throw RpcException(RPC_INVALID_PARAMETER, "amount_msat must be positive");
    request.amount_msat = invoice.amount_msat ? *invoice.amount_msat : Msat{static_cast<uint64_t>(*amount)};
    request.payment_hash = invoice.payment_hash;
    request.payment_secret = invoice.payment_secret;
    request.payment_metadata = invoice.metadata;
    request.min_final_cltv_expiry_delta = invoice.min_final_cltv_expiry_delta;
    request.route_hints = Hints(invoice);
    request.bolt11 = text;
    uint64_t retry_for = 60;
    ReadLimits(params, 2, request, retry_for);
    return RunPayment(channels, std::move(request), retry_for);
}

json Keysend(ChannelManager& channels, const json& params)
{
    PayRequest request(ParamPubKey(ParamString(params, 0, "id"), "id"));
    const int64_t amount = ParamInt(params, 1, "amount_msat");
    if (amount <= 0) throw RpcException(RPC_INVALID_PARAMETER, "amount_msat must be positive");
    request.amount_msat = Msat{static_cast<uint64_t>(amount)};
    const PrivKey random = PrivKey::Generate();
    Hash256 preimage{};
    std::copy(random.span().begin(), random.span().end(), preimage.begin());
    request.keysend_preimage = preimage;
    request.payment_hash = Sha256(preimage);
    uint64_t retry_for = 60;
    ReadLimits(params, 2, request, retry_for);
    return RunPayment(channels, std::move(request), retry_for);
}

json ListPays(ChannelManager& channels, const json& params, bool by_part)
{
    // A payment hash is shown and given in its natural byte order (not reversed like a txid).
    std::optional<Hash256> only;
    if (params.size() > 0 && !params[0].is_null()) only = ParamHex32(params, 0, "payment_hash");
    json out = json::array();
    for (const auto& record : channels.ListPayments()) {
        if (only && record.payment_hash != *only) continue;
        if (!by_part) {
            out.push_back(DescribePayment(record));
            continue;
        }
        for (const auto& part : record.parts) {
            json entry{{"payment_hash", ToHex(record.payment_hash)},
                       {"part_id", part.part_id},
                       {"status", std::string(PaymentStatusName(part.status))},
                       {"amount_msat", part.amount_msat.value()},
                       {"amount_sent_msat", part.amount_sent_msat.value()},
                       {"destination", ToHex(record.destination)},
                       {"route", part.route}};
            if (part.status == PaymentStatus::COMPLETE && record.preimage) entry["payment_preimage"] = ToHex(*record.preimage);
            out.push_back(entry);
        }
    }
    return by_part ? json{{"payments", out}} : json{{"pays", out}};
}

//! sendpay's route as Core Lightning writes it: [{id, channel, amount_msat, delay}], where delay
//! is the HTLC's cltv_expiry as blocks after the current height.
Route ParseRoute(const json& route, uint32_t height)
{
    if (!route.is_array() || route.empty() || route.size() > 27) {
        throw RpcException(RPC_INVALID_PARAMETER, "route must be an array of 1 to 27 hops");
    }
    Route out;
    for (const json& hop : route) {
        if (!hop.is_object() || !hop.contains("id") || !hop.contains("channel") || !hop.contains("amount_msat") ||
            !hop.contains("delay")) {
            throw RpcException(RPC_INVALID_PARAMETER, "each hop needs id, channel, amount_msat and delay");
        }
        const json values = json::array({hop["amount_msat"], hop["delay"]});
        const int64_t amount = ParamInt(values, 0, "amount_msat");
        const int64_t delay = ParamInt(values, 1, "delay");
        if (amount <= 0 || delay < 0 || delay > 20'160) throw RpcException(RPC_INVALID_PARAMETER, "bad amount_msat or delay in the route");
        out.hops.push_back(RouteHop{ParamPubKey(hop["id"].get<std::string>(), "id"),
                                    ParseShortChannelId(hop["channel"].get<std::string>()),
                                    Msat{static_cast<uint64_t>(amount)}, height + static_cast<uint32_t>(delay)});
    }
    return out;
}

json SendPay(ChannelManager& channels, const std::function<uint32_t()>& height, const json& params)
{
    const json route_json = params.size() > 0 && params[0].is_string() ? json::parse(params[0].get<std::string>(), nullptr, false)
                                                                       : (params.size() > 0 ? params[0] : json());
    Route route = ParseRoute(route_json, height());
    PayRequest request(route.hops.back().node_id);
    request.payment_hash = ParamHex32(params, 1, "payment_hash");
    if (params.size() > 2 && !params[2].is_null()) request.payment_secret = ParamHex32(params, 2, "payment_secret");
    request.amount_msat = route.hops.back().amount_msat;
    request.fixed_route = std::move(route);
    request.retry_deadline = NowSeconds();
    return DescribePayment(Translate([&] { return channels.StartPayment(std::move(request)); }));
}

json WaitSendPay(ChannelManager& channels, const json& params)
{
    const Hash256 payment_hash = ParamHex32(params, 0, "payment_hash");
    const int64_t timeout = OptionalParamInt(params, 1, "timeout").value_or(60);
    if (timeout < 1 || timeout > 3600) throw RpcException(RPC_INVALID_PARAMETER, "timeout must be 1 to 3600 seconds");
    const PaymentRecord record = Translate([&] { return channels.WaitPayment(payment_hash, std::chrono::seconds(timeout)); });
    if (record.status == PaymentStatus::FAILED) throw RpcException(kErrPaymentFailed, "payment failed: " + record.failure);
    return DescribePayment(record);
}

json SetChannelFee(ChannelManager& channels, const std::function<void(const ForwardPolicy&)>& policy_changed,
                   const json& params)
{
    ForwardPolicy policy;
    const int64_t base = ParamInt(params, 0, "feebase_msat");
    const int64_t ppm = ParamInt(params, 1, "feeppm");
    if (base < 0 || base > 4'294'967'295) throw RpcException(RPC_INVALID_PARAMETER, "feebase_msat must be 0 to 4294967295");
    if (ppm < 0 || ppm > 1'000'000) throw RpcException(RPC_INVALID_PARAMETER, "feeppm must be 0 to 1000000");
    policy.fee_base_msat = Msat{static_cast<uint64_t>(base)};
    policy.fee_proportional_millionths = static_cast<uint32_t>(ppm);
    if (const auto delta = OptionalParamInt(params, 2, "cltvdelta")) {
        if (*delta < 18 || *delta > 2016) throw RpcException(RPC_INVALID_PARAMETER, "cltvdelta must be 18 to 2016");
        policy.cltv_expiry_delta = static_cast<uint16_t>(*delta);
    }
    const ForwardPolicy now = Translate([&] { return channels.SetForwardPolicy(policy); });
    if (policy_changed) policy_changed(now);
    return {{"feebase_msat", now.fee_base_msat.value()},
            {"feeppm", now.fee_proportional_millionths},
            {"cltvdelta", now.cltv_expiry_delta}};
}

} // namespace

void RegisterPayRpcs(RpcServer& server, ChannelManager& channels, Network network, std::function<uint32_t()> height,
                     std::function<void(const ForwardPolicy&)> policy_changed)
{
    server.Register({"sendpay", {"route", "payment_hash", "[payment_secret]"},
                     "Send one HTLC over exactly this route ([{id, channel, amount_msat, delay}], delay in blocks "
                     "from now); returns the pending payment at once: waitsendpay for its outcome.",
                     [&channels, height](const json& params) { return SendPay(channels, height, params); }});
    server.Register({"waitsendpay", {"payment_hash", "[timeout]"},
                     "Wait (default 60 s) for a payment's outcome: the complete payment, or an error naming the failure.",
                     [&channels](const json& params) { return WaitSendPay(channels, params); }});
    server.Register({"pay", {"bolt11", "[amount_msat]", "[maxfeepercent]", "[retry_for]", "[maxdelay]"},
                     "Pay a BOLT 11 invoice over our channels and its route hints, splitting and retrying as needed; "
                     "returns the preimage, amounts, fee and parts, or the failing hop and code.",
                     [&channels, network](const json& params) { return Pay(channels, network, params); }});
    server.Register({"keysend", {"id", "amount_msat", "[maxfeepercent]", "[retry_for]", "[maxdelay]"},
                     "Pay a node without an invoice: the preimage travels in the onion (TLV 5482373484).",
                     [&channels](const json& params) { return Keysend(channels, params); }});
    server.Register({"listpays", {"[payment_hash]"}, "Our payments: pending, complete or failed, with their parts.",
                     [&channels](const json& params) { return ListPays(channels, params, false); }});
    server.Register({"listsendpays", {"[payment_hash]"}, "Every HTLC our payments sent (one per part and attempt).",
                     [&channels](const json& params) { return ListPays(channels, params, true); }});
    server.Register({"setchannelfee", {"feebase_msat", "feeppm", "[cltvdelta]"},
                     "Our forwarding policy for every channel: base fee, proportional fee and CLTV delta.",
                     [&channels, policy_changed](const json& params) { return SetChannelFee(channels, policy_changed, params); }});
}

} // namespace sidebolt
