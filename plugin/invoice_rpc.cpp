#include "plugin/invoice_rpc.h"

#include "node/interfaces.h"
#include "pay/invoice.h"
#include "plugin/rpc_params.h"
#include "util/hex.h"

#include <algorithm>
#include <limits>

namespace sidebolt {
namespace {
using json = nlohmann::json;

//! 21 million bitcoin: no invoice asks for more.
constexpr int64_t kMaxAmountMsat = 21'000'000LL * 100'000'000LL * 1000LL;
//! Longer waits are as good as forever, and their milliseconds still fit the clock.
constexpr int64_t kMaxTimeoutSeconds = 1'000'000'000'000LL;

std::optional<Msat> ParamAmount(const json& params)
{
    if (!params.empty() && params[0] == "any") return std::nullopt;
    const std::string message = "amount_msat must be a positive whole number of millisatoshis (at most 21 million "
                                "bitcoin) or \"any\"";
    int64_t value = 0;
    try {
        value = ParamInt(params, 0, "amount_msat");
    } catch (const RpcException& e) {
        if (e.code != RPC_INVALID_PARAMETER) throw; // missing: the server's own wording
        throw RpcException(RPC_INVALID_PARAMETER, message);
    }
    if (value <= 0 || value > kMaxAmountMsat) throw RpcException(RPC_INVALID_PARAMETER, message);
    return Msat{static_cast<uint64_t>(value)};
}

std::optional<Hash256> ParamPreimage(const json& params, size_t index)
{
    if (index >= params.size() || params[index].is_null()) return std::nullopt;
    const auto preimage = TryParseHexArray<32>(ParamString(params, index, "preimage"));
    if (!preimage) throw RpcException(RPC_INVALID_PARAMETER, "preimage must be 64 hex characters (32 bytes)");
    return preimage;
}

//! A non-negative integer parameter, clamped to `max`.
std::optional<uint64_t> ParamCount(const json& params, size_t index, const std::string& name, int64_t max)
{
    const auto value = OptionalParamInt(params, index, name);
    if (!value) return std::nullopt;
    if (*value < 0) throw RpcException(RPC_INVALID_PARAMETER, name + " must not be negative");
    return static_cast<uint64_t>(std::min(*value, max));
}

std::optional<std::chrono::milliseconds> ParamTimeout(const json& params, size_t index)
{
    const auto seconds = ParamCount(params, index, "timeout", kMaxTimeoutSeconds);
    if (!seconds) return std::nullopt;
    return std::chrono::seconds(*seconds);
}

json DescribeInvoice(const InvoiceRecord& record, uint64_t now)
{
    json out{{"label", record.label},
             {"bolt11", record.bolt11},
             {"payment_hash", ToHex(record.payment_hash)},
             {"status", std::string(InvoiceStatusName(record.Status(now)))},
             {"description", record.description},
             {"created_at", record.created_at},
             {"expires_at", record.expires_at}};
    if (record.amount_msat) out["amount_msat"] = record.amount_msat->value();
    if (record.paid) {
        // As Core Lightning: the preimage is the payer's proof of payment, shown once paid.
        out["pay_index"] = record.pay_index;
        out["amount_received_msat"] = record.received_msat.value();
        out["paid_at"] = record.paid_at;
        out["payment_preimage"] = ToHex(record.preimage);
    }
    return out;
}

json InvoiceCreated(const InvoiceRecord& record)
{
    return {{"payment_hash", ToHex(record.payment_hash)},
            {"payment_secret", ToHex(record.payment_secret)},
            {"bolt11", record.bolt11},
            {"created_at", record.created_at},
            {"expires_at", record.expires_at}};
}

json Create(InvoiceService& invoices, const json& params)
{
    const std::optional<Msat> amount = ParamAmount(params);
    std::string label = ParamString(params, 1, "label");
    std::string description = ParamString(params, 2, "description");
    const uint64_t expiry = ParamCount(params, 3, "expiry", std::numeric_limits<int64_t>::max()).value_or(kDefaultInvoiceExpiry);
    const std::optional<Hash256> preimage = ParamPreimage(params, 4);
    const uint64_t cltv = ParamCount(params, 5, "cltv", std::numeric_limits<uint32_t>::max()).value_or(kMinFinalCltvExpiryDelta);
    return Translate([&] {
        return InvoiceCreated(invoices.Create(amount, std::move(label), std::move(description), expiry, preimage,
                                              static_cast<uint32_t>(cltv)));
    });
}

//! The networks whose invoices use this currency, ours first when it is one of them.
std::optional<Network> CurrencyNetwork(std::string_view currency, Network ours)
{
    if (InvoiceCurrency(ours) == currency) return ours;
    for (const Network network : {Network::Mainnet, Network::Testnet, Network::Testnet4, Network::Signet, Network::Regtest}) {
        if (InvoiceCurrency(network) == currency) return network;
    }
    return std::nullopt;
}

std::string FallbackType(const FallbackAddress& fallback)
{
    if (fallback.version == kFallbackP2pkh) return "P2PKH";
    if (fallback.version == kFallbackP2sh) return "P2SH";
    if (fallback.version == 0 && fallback.program.size() == 20) return "P2WPKH";
    if (fallback.version == 0 && fallback.program.size() == 32) return "P2WSH";
    if (fallback.version == 1 && fallback.program.size() == 32) return "P2TR";
    return "witness_v" + std::to_string(fallback.version);
}

json DescribeFallback(const FallbackAddress& fallback, const std::optional<Network>& network)
{
    json out{{"type", FallbackType(fallback)}};
    if (const auto script = FallbackScriptPubKey(fallback)) out["hex"] = ToHex(*script);
    if (network) {
        if (const auto address = FallbackAddressString(fallback, *network)) out["addr"] = *address;
    }
    return out;
}

json DescribeRoute(const std::vector<RouteHintHop>& route)
{
    json hops = json::array();
    for (const RouteHintHop& hop : route) {
        hops.push_back({{"pubkey", ToHex(hop.node_id.span())},
                        {"short_channel_id", hop.short_channel_id.ToString()},
                        {"fee_base_msat", hop.fee_base_msat},
                        {"fee_proportional_millionths", hop.fee_proportional_millionths},
                        {"cltv_expiry_delta", hop.cltv_expiry_delta}});
    }
    return hops;
}

json DescribeDecoded(const DecodedInvoice& decoded, Network ours, uint64_t now)
{
    const Invoice& invoice = decoded.invoice;
    const std::optional<Network> network = CurrencyNetwork(invoice.hrp_currency, ours);
    json out{{"currency", invoice.hrp_currency},
             {"for_our_network", network == ours},
             {"created_at", invoice.timestamp},
             {"expiry", invoice.expiry},
             {"payee", ToHex(decoded.payee.span())},
             {"payment_hash", ToHex(invoice.payment_hash)},
             {"min_final_cltv_expiry", invoice.min_final_cltv_expiry_delta},
             {"features", ToHex(invoice.features)},
             {"valid", true},
             {"expired", InvoiceExpired(invoice, now)}};
    if (network) out["network"] = std::string(NetworkName(*network));
    if (invoice.amount_msat) out["amount_msat"] = invoice.amount_msat->value();
    if (invoice.payment_secret) out["payment_secret"] = ToHex(*invoice.payment_secret);
    if (invoice.description) out["description"] = *invoice.description;
    if (invoice.description_hash) out["description_hash"] = ToHex(*invoice.description_hash);
    if (invoice.metadata) out["payment_metadata"] = ToHex(*invoice.metadata);
    if (!invoice.fallbacks.empty()) {
        json fallbacks = json::array();
        for (const auto& fallback : invoice.fallbacks) fallbacks.push_back(DescribeFallback(fallback, network));
        out["fallbacks"] = fallbacks;
    }
    if (!invoice.route_hints.empty()) {
        json routes = json::array();
        for (const auto& route : invoice.route_hints) routes.push_back(DescribeRoute(route));
        out["routes"] = routes;
    }
    // Core Lightning shows the signature in DER; the recovery id is what selects the payee.
    if (const auto signature = EcdsaSignature::FromCompact(decoded.signature.compact)) out["signature"] = ToHex(signature->Der());
    out["recovery_id"] = decoded.signature.recovery_id;
    return out;
}

json Decode(const InvoiceService& invoices, const json& params)
{
    const auto decoded = DecodeInvoice(ParamString(params, 0, "bolt11"));
    if (!decoded) throw RpcException(RPC_INVALID_PARAMETER, "invalid bolt11 invoice: " + decoded.error().reason);
    return DescribeDecoded(*decoded, invoices.ChainNetwork(), invoices.Now());
}

json ListInvoices(const InvoiceService& invoices, const json& params)
{
    std::optional<std::string> label;
    if (!params.empty() && !params[0].is_null()) label = ParamString(params, 0, "label");
    const uint64_t now = invoices.Now();
    json list = json::array();
    for (const auto& record : invoices.List(label)) list.push_back(DescribeInvoice(record, now));
    return {{"invoices", list}};
}

json DelInvoice(InvoiceService& invoices, const json& params)
{
    const std::string label = ParamString(params, 0, "label");
    const auto status = ParseInvoiceStatus(ParamString(params, 1, "status"));
    if (!status) throw RpcException(RPC_INVALID_PARAMETER, "status must be paid, unpaid or expired");
    return Translate([&] { return DescribeInvoice(invoices.Delete(label, *status), invoices.Now()); });
}

} // namespace

void RegisterInvoiceRpcs(RpcServer& server, InvoiceService& invoices)
{
    server.Register({"invoice", {"amount_msat", "label", "description", "[expiry]", "[preimage]", "[cltv]"},
                     "Create a BOLT 11 invoice for amount_msat (or \"any\") under a unique label; expiry in seconds "
                     "(default one week), preimage 64 hex (default random), cltv the min_final_cltv_expiry (default 18).",
                     [&invoices](const json& params) { return Create(invoices, params); }});
    server.Register({"decode", {"bolt11"},
                     "Every field of a BOLT 11 invoice of any network, after checking its signature.",
                     [&invoices](const json& params) { return Decode(invoices, params); }});
    server.Register({"listinvoices", {"[label]"}, "Our invoices (or the one labelled label) with their status.",
                     [&invoices](const json& params) { return ListInvoices(invoices, params); }});
    server.Register({"waitinvoice", {"label"}, "Wait until the invoice is paid or expired; returns it.",
                     [&invoices](const json& params) {
                         const std::string label = ParamString(params, 0, "label");
                         return Translate([&] { return DescribeInvoice(invoices.WaitInvoice(label, kWaitForever), invoices.Now()); });
                     }});
    server.Register({"waitanyinvoice", {"[lastpay_index]", "[timeout]"},
                     "Wait for the next invoice paid after pay_index lastpay_index (default 0), at most timeout seconds.",
                     [&invoices](const json& params) {
                         const uint64_t last = ParamCount(params, 0, "lastpay_index", std::numeric_limits<int64_t>::max()).value_or(0);
                         const auto timeout = ParamTimeout(params, 1).value_or(kWaitForever);
                         return Translate([&] { return DescribeInvoice(invoices.WaitAnyInvoice(last, timeout), invoices.Now()); });
                     }});
    server.Register({"delinvoice", {"label", "status"},
                     "Delete the invoice labelled label if its status is status (paid, unpaid or expired); returns it.",
                     [&invoices](const json& params) { return DelInvoice(invoices, params); }});
}

} // namespace sidebolt
