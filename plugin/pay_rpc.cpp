#include "plugin/pay_rpc.h"

#include "node/interfaces.h"
#include "pay/invoice.h"
#include "plugin/rpc_params.h"
#include "primitives/hash.h"
#include "util/hex.h"

#include <chrono>
#include <cmath>

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
    PaymentRecord record = [&] {
        try {
            return channels.Pay(std::move(request), std::chrono::seconds(retry_for + 60));
        } catch (const NodeError& e) {
            throw RpcException(e.Code(), e.what());
        }
    }();
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
    std::optional<std::string> only;
    if (params.size() > 0 && !params[0].is_null()) {
        only = ParamString(params, 0, "payment_hash");
        if (only->size() != 64 || ToHex(ParseHex(*only)) != *only) {
            throw RpcException(RPC_INVALID_PARAMETER, "payment_hash must be 64 lowercase hex characters");
        }
    }
    json out = json::array();
    for (const auto& record : channels.ListPayments()) {
        if (only && ToHex(record.payment_hash) != *only) continue;
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

json SetChannelFee(ChannelManager& channels, const json& params)
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
    const ForwardPolicy now = [&] {
        try {
            return channels.SetForwardPolicy(policy);
        } catch (const NodeError& e) {
            throw RpcException(e.Code(), e.what());
        }
    }();
    return {{"feebase_msat", now.fee_base_msat.value()},
            {"feeppm", now.fee_proportional_millionths},
            {"cltvdelta", now.cltv_expiry_delta}};
}

} // namespace

void RegisterPayRpcs(RpcServer& server, ChannelManager& channels, Network network)
{
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
                     [&channels](const json& params) { return SetChannelFee(channels, params); }});
}

} // namespace sidebolt
