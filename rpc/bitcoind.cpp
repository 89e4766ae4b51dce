#include "rpc/bitcoind.h"

#include "primitives/tx.h"
#include "util/hex.h"

#include <cmath>

namespace sidebolt::rpc {

namespace {

using nlohmann::json;

[[noreturn]] void Malformed(std::string_view method, std::string_view what)
{
    throw RpcTransportError(TransportErrorKind::BadResponse,
                            std::string{method} + " answer: " + std::string{what} + " missing or malformed");
}

const json& Member(const json& object, std::string_view key, std::string_view method)
{
    if (!object.is_object()) Malformed(method, "object");
    const auto it = object.find(key);
    if (it == object.end()) Malformed(method, key);
    return *it;
}

std::string StringField(const json& object, std::string_view key, std::string_view method)
{
    const json& value = Member(object, key, method);
    if (!value.is_string()) Malformed(method, key);
    return value.get<std::string>();
}

int64_t IntField(const json& object, std::string_view key, std::string_view method)
{
    const json& value = Member(object, key, method);
    if (!value.is_number_integer()) Malformed(method, key);
    return value.get<int64_t>();
}

double NumberField(const json& object, std::string_view key, std::string_view method)
{
    const json& value = Member(object, key, method);
    if (!value.is_number()) Malformed(method, key);
    return value.get<double>();
}

Hash256 ParseHash(const json& value, std::string_view what, std::string_view method)
{
    if (!value.is_string()) Malformed(method, what);
    const auto hash = HashFromHexRev(value.get<std::string>());
    if (!hash) Malformed(method, what);
    return *hash;
}

Hash256 HashField(const json& object, std::string_view key, std::string_view method)
{
    return ParseHash(Member(object, key, method), key, method);
}

Bytes HexResult(const json& value, std::string_view method)
{
    if (!value.is_string()) Malformed(method, "hex result");
    auto bytes = TryParseHex(value.get<std::string>());
    if (!bytes) Malformed(method, "hex result");
    return std::move(*bytes);
}

} // namespace

int64_t BtcToSat(double btc) { return std::llround(btc * 1e8); }

std::optional<std::string> CheckNodeVersion(const NetworkInfo& info)
{
    if (info.subversion.find(STANDIN_SUBVERSION_TAG) != std::string::npos) return std::nullopt;
    if (info.version >= MIN_BITCOIND_VERSION) return std::nullopt;
    return "bitcoind " + info.subversion + " (version " + std::to_string(info.version) +
           ") is too old: sidebolt needs Bitcoin Core 0.21 or newer";
}

BlockchainInfo BitcoindClient::GetBlockchainInfo()
{
    constexpr std::string_view method{"getblockchaininfo"};
    const json r = m_client.Call(method);
    BlockchainInfo info;
    info.chain = StringField(r, "chain", method);
    info.blocks = IntField(r, "blocks", method);
    info.headers = IntField(r, "headers", method);
    info.best_block_hash = HashField(r, "bestblockhash", method);
    if (const auto it = r.find("initialblockdownload"); it != r.end()) {
        if (!it->is_boolean()) Malformed(method, "initialblockdownload");
        info.initial_block_download = it->get<bool>();
    }
    info.verification_progress = NumberField(r, "verificationprogress", method);
    return info;
}

NetworkInfo BitcoindClient::GetNetworkInfo()
{
    constexpr std::string_view method{"getnetworkinfo"};
    const json r = m_client.Call(method);
    NetworkInfo info;
    // The stand-in reports bcoin's version as a string such as "1.0.2".
    if (const json& version = Member(r, "version", method); version.is_number_integer()) {
        info.version = version.get<int64_t>();
    }
    info.subversion = StringField(r, "subversion", method);
    return info;
}

NetworkInfo BitcoindClient::RequireSupportedNode()
{
    NetworkInfo info = GetNetworkInfo();
    if (const auto problem = CheckNodeVersion(info)) throw std::runtime_error(*problem);
    return info;
}

int64_t BitcoindClient::GetBlockCount()
{
    const json r = m_client.Call("getblockcount");
    if (!r.is_number_integer()) Malformed("getblockcount", "count");
    return r.get<int64_t>();
}

Hash256 BitcoindClient::GetBestBlockHash()
{
    return ParseHash(m_client.Call("getbestblockhash"), "hash", "getbestblockhash");
}

std::optional<Hash256> BitcoindClient::GetBlockHash(int64_t height)
{
    try {
        return ParseHash(m_client.Call("getblockhash", json::array({height})), "hash", "getblockhash");
    } catch (const RpcError& e) {
        if (e.Code() == RPC_INVALID_PARAMETER) return std::nullopt;
        throw;
    }
}

std::optional<BlockHeaderInfo> BitcoindClient::GetBlockHeader(const Hash256& hash)
{
    constexpr std::string_view method{"getblockheader"};
    json r;
    try {
        r = m_client.Call(method, json::array({HashToHexRev(hash)}));
    } catch (const RpcError& e) {
        if (e.Code() == RPC_INVALID_ADDRESS_OR_KEY) return std::nullopt;
        throw;
    }
    BlockHeaderInfo header;
    header.hash = HashField(r, "hash", method);
    header.height = IntField(r, "height", method);
    header.confirmations = IntField(r, "confirmations", method);
    // Core omits previousblockhash for the genesis block; bcoin sends null.
    if (const auto it = r.find("previousblockhash"); it != r.end() && !it->is_null()) {
        header.prev_hash = ParseHash(*it, "previousblockhash", method);
    }
    return header;
}

Bytes BitcoindClient::GetBlockRaw(const Hash256& hash)
{
    // `false` rather than verbosity 0: both Core and bcoin accept a boolean there.
    return HexResult(m_client.Call("getblock", json::array({HashToHexRev(hash), false})), "getblock");
}

std::optional<Bytes> BitcoindClient::GetRawTransaction(const Hash256& txid)
{
    try {
        const json r = m_client.Call("getrawtransaction", json::array({HashToHexRev(txid)}));
        return HexResult(r, "getrawtransaction");
    } catch (const RpcError& e) {
        if (e.Code() == RPC_INVALID_ADDRESS_OR_KEY) return std::nullopt;
        throw;
    }
}

SendResult BitcoindClient::SendRawTransaction(ByteSpan tx)
{
    try {
        m_client.Call("sendrawtransaction", json::array({ToHex(tx)}));
        return {SendResult::Status::Accepted, 0, {}};
    } catch (const RpcError& e) {
        const auto status =
            e.Code() == RPC_VERIFY_ALREADY_IN_CHAIN ? SendResult::Status::AlreadyInChain : SendResult::Status::Rejected;
        return {status, e.Code(), e.Message()};
    }
}

std::vector<MempoolAcceptResult> BitcoindClient::TestMempoolAccept(std::span<const Bytes> txs)
{
    constexpr std::string_view method{"testmempoolaccept"};
    json hexes = json::array();
    for (const Bytes& tx : txs) hexes.push_back(ToHex(tx));
    const json r = m_client.Call(method, json::array({hexes}));
    if (!r.is_array()) Malformed(method, "result array");
    std::vector<MempoolAcceptResult> results;
    for (const json& item : r) {
        MempoolAcceptResult result;
        result.txid = HashField(item, "txid", method);
        const json& allowed = Member(item, "allowed", method);
        if (!allowed.is_boolean()) Malformed(method, "allowed");
        result.allowed = allowed.get<bool>();
        if (!result.allowed) result.reject_reason = StringField(item, "reject-reason", method);
        results.push_back(std::move(result));
    }
    return results;
}

std::optional<int64_t> BitcoindClient::EstimateSmartFee(int conf_target)
{
    // Only the target: the stand-in takes no estimate_mode argument.
    const json r = m_client.Call("estimatesmartfee", json::array({conf_target}));
    if (!r.is_object()) Malformed("estimatesmartfee", "object");
    // Core leaves feerate out (and fills "errors") without enough data; bcoin sends -1.
    const auto it = r.find("feerate");
    if (it == r.end() || !it->is_number() || it->get<double>() <= 0) return std::nullopt;
    return BtcToSat(it->get<double>()); // BTC/kvB -> sat/kvB
}

std::vector<ZmqNotification> BitcoindClient::GetZmqNotifications()
{
    constexpr std::string_view method{"getzmqnotifications"};
    const json r = m_client.Call(method);
    if (!r.is_array()) Malformed(method, "result array");
    std::vector<ZmqNotification> notifications;
    for (const json& item : r) {
        notifications.push_back({StringField(item, "type", method), StringField(item, "address", method)});
    }
    return notifications;
}

std::optional<TxOutInfo> BitcoindClient::GetTxOut(const Hash256& txid, uint32_t n, bool include_mempool)
{
    constexpr std::string_view method{"gettxout"};
    const json r = m_client.Call(method, json::array({HashToHexRev(txid), n, include_mempool}));
    if (r.is_null()) return std::nullopt;
    TxOutInfo out;
    out.best_block = HashField(r, "bestblock", method);
    out.confirmations = IntField(r, "confirmations", method);
    out.value_sat = BtcToSat(NumberField(r, "value", method));
    out.script_pubkey = HexResult(Member(Member(r, "scriptPubKey", method), "hex", method), method);
    if (const auto it = r.find("coinbase"); it != r.end() && it->is_boolean()) out.coinbase = it->get<bool>();
    return out;
}

std::vector<Hash256> BitcoindClient::GetRawMempool()
{
    constexpr std::string_view method{"getrawmempool"};
    const json r = m_client.Call(method);
    if (!r.is_array()) Malformed(method, "result array");
    std::vector<Hash256> txids;
    txids.reserve(r.size());
    for (const json& txid : r) txids.push_back(ParseHash(txid, "txid", method));
    return txids;
}

} // namespace sidebolt::rpc
