#include "rpc/bitcoind.h"

#include "primitives/address.h"
#include "primitives/script.h"
#include "util/hex.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

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

//! A non-negative BTC amount as a Sat.
Sat SatField(const json& object, std::string_view key, std::string_view method)
{
    const double btc = NumberField(object, key, method);
    if (!(btc >= 0)) Malformed(method, key);
    return Sat{static_cast<uint64_t>(BtcToSat(btc))};
}

//! Exact decimal text for bitcoind, which takes amounts as strings too: no binary rounding.
std::string FormatBtc(Sat amount)
{
    char text[32];
    std::snprintf(text, sizeof(text), "%llu.%08llu", static_cast<unsigned long long>(amount.value() / 100'000'000),
                  static_cast<unsigned long long>(amount.value() % 100'000'000));
    return text;
}

//! sat/kvB as the sat/vB decimal (three places) of the fee_rate option.
std::string FormatSatPerVb(uint64_t sat_per_kvb)
{
    char text[32];
    std::snprintf(text, sizeof(text), "%llu.%03llu", static_cast<unsigned long long>(sat_per_kvb / 1000),
                  static_cast<unsigned long long>(sat_per_kvb % 1000));
    return text;
}

//! The data of OP_RETURN <data> pushed the way Core's {"data": hex} output builds it, else nullopt.
std::optional<Bytes> NullData(ByteSpan script)
{
    if (script.empty() || script[0] != OP_RETURN) return std::nullopt;
    size_t pos = 1;
    ScriptOp op;
    if (!GetScriptOp(script, pos, op) || op.opcode > OP_PUSHDATA4 || pos != script.size()) return std::nullopt;
    Bytes expected{OP_RETURN};
    const size_t size = op.data.size();
    if (size < OP_PUSHDATA1) {
        expected.push_back(static_cast<uint8_t>(size));
    } else if (size <= 0xff) {
        expected.insert(expected.end(), {OP_PUSHDATA1, static_cast<uint8_t>(size)});
    } else {
        expected.insert(expected.end(),
                        {OP_PUSHDATA2, static_cast<uint8_t>(size & 0xff), static_cast<uint8_t>(size >> 8)});
    }
    Append(expected, op.data);
    if (!std::ranges::equal(expected, script)) return std::nullopt;
    return Bytes(op.data.begin(), op.data.end());
}

json OutputJson(const WalletOutput& output, Network network)
{
    if (const auto address = EncodeAddress(output.script_pubkey, network)) {
        return json{{*address, FormatBtc(output.amount)}};
    }
    if (const auto data = NullData(output.script_pubkey); data && output.amount == Sat{0}) {
        return json{{"data", ToHex(*data)}};
    }
    throw std::invalid_argument("wallet output script " + ToHex(output.script_pubkey) +
                                " has no address form and is not a zero-value OP_RETURN");
}

json OutPointJson(const OutPoint& outpoint)
{
    return json{{"txid", HashToHexRev(outpoint.txid)}, {"vout", outpoint.n}};
}

OutPoint ParseOutPoint(const json& object, std::string_view txid_key, std::string_view vout_key,
                       std::string_view method)
{
    const int64_t vout = IntField(object, vout_key, method);
    if (vout < 0 || vout > UINT32_MAX) Malformed(method, vout_key);
    return OutPoint{HashField(object, txid_key, method), static_cast<uint32_t>(vout)};
}

bool BoolField(const json& object, std::string_view key, std::string_view method)
{
    const json& value = Member(object, key, method);
    if (!value.is_boolean()) Malformed(method, key);
    return value.get<bool>();
}

} // namespace

void RequireSegwitInputs(const Transaction& tx)
{
    for (const TxIn& input : tx.vin) {
        if (input.witness.empty()) {
            throw WalletFundingError(WalletFundingError::Kind::NonSegwitInput,
                                     "wallet chose non-segwit input " + input.prevout.ToString() +
                                         ": its txid could be malleated; fund from segwit coins");
        }
    }
}

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

SendResult BitcoindClient::SubmitPackage(std::span<const Bytes> txs)
{
    constexpr std::string_view method{"submitpackage"};
    json hexes = json::array();
    for (const Bytes& tx : txs) hexes.push_back(ToHex(tx));
    json r;
    try {
        r = m_client.Call(method, json::array({hexes}));
    } catch (const RpcError& e) {
        return {SendResult::Status::Rejected, e.Code(), e.Message()};
    }
    if (!r.is_object()) Malformed(method, "object");
    const json& results = Member(r, "tx-results", method);
    if (!results.is_object()) Malformed(method, "tx-results");
    const bool all_in = results.size() == txs.size() &&
                        std::ranges::none_of(results.items(), [](const auto& item) { return item.value().contains("error"); });
    if (all_in) return {SendResult::Status::Accepted, 0, {}};
    // For the log: the package's verdict and each refusal.
    const auto msg = r.find("package_msg");
    std::string message = msg != r.end() && msg->is_string() ? msg->get<std::string>() : "";
    for (const auto& item : results.items()) {
        const auto error = item.value().find("error");
        if (error != item.value().end() && error->is_string()) message += "; " + error->get<std::string>();
    }
    return {SendResult::Status::Rejected, RPC_VERIFY_REJECTED, message};
}

std::optional<int64_t> BitcoindClient::MempoolMinFee()
{
    constexpr std::string_view method{"getmempoolinfo"};
    const json r = m_client.Call(method, json::array());
    if (!r.is_object()) Malformed(method, "object");
    std::optional<int64_t> floor;
    for (const char* field : {"mempoolminfee", "minrelaytxfee"}) {
        const auto it = r.find(field);
        if (it == r.end() || !it->is_number()) continue;
        floor = std::max(floor.value_or(0), BtcToSat(it->get<double>()));
    }
    return floor;
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

json BitcoindClient::WalletCall(std::string_view method, const json& params)
{
    return m_client.Call(method, params, m_wallet);
}

FundedPsbt BitcoindClient::CreateFundedPsbt(std::span<const WalletOutput> outputs, Network network,
                                            uint64_t feerate_sat_per_kvb, bool lock_unspents,
                                            std::optional<uint32_t> minconf)
{
    constexpr std::string_view method{"walletcreatefundedpsbt"};
    json outputs_json = json::array();
    for (const WalletOutput& output : outputs) outputs_json.push_back(OutputJson(output, network));
    json options{{"fee_rate", FormatSatPerVb(feerate_sat_per_kvb)}, {"lockUnspents", lock_unspents}};
    if (minconf) options["minconf"] = *minconf;
    const json r = WalletCall(method, json::array({json::array(), outputs_json, 0, options}));
    FundedPsbt funded;
    funded.psbt = StringField(r, "psbt", method);
    funded.fee = SatField(r, "fee", method);
    const int64_t change_pos = IntField(r, "changepos", method);
    if (change_pos < -1 || change_pos > static_cast<int64_t>(outputs.size())) Malformed(method, "changepos");
    if (change_pos >= 0) funded.change_pos = static_cast<uint32_t>(change_pos);
    return funded;
}

Transaction BitcoindClient::FundWithExternalInputs(const Transaction& tx,
                                                   std::span<const std::pair<OutPoint, uint32_t>> input_weights,
                                                   uint64_t feerate_sat_per_kvb, uint32_t change_position)
{
    constexpr std::string_view method{"fundrawtransaction"};
    json weights = json::array();
    for (const auto& [outpoint, weight] : input_weights) {
        json entry = OutPointJson(outpoint);
        entry["weight"] = weight;
        weights.push_back(std::move(entry));
    }
    const json options{{"add_inputs", true},
                       {"changePosition", change_position},
                       {"fee_rate", FormatSatPerVb(feerate_sat_per_kvb)},
                       {"input_weights", std::move(weights)},
                       {"lockUnspents", true}};
    const Bytes raw = SerializeTransaction(tx, TxWitness::EXCLUDE);
    const json r = WalletCall(method, json::array({ToHex(raw), options}));
    const auto funded = TryParseTransaction(HexResult(Member(r, "hex", method), method));
    if (!funded) Malformed(method, "hex transaction");
    return *funded;
}

Transaction BitcoindClient::FundOutputs(const Transaction& tx, uint64_t feerate_sat_per_kvb, uint32_t change_position)
{
    constexpr std::string_view method{"fundrawtransaction"};
    const json options{{"changePosition", change_position}, {"fee_rate", FormatSatPerVb(feerate_sat_per_kvb)}, {"lockUnspents", true}};
    // No inputs: the legacy serialization, and iswitness=false so that bitcoind does not read
    // the empty input count as a segwit marker.
    const json r = WalletCall(method, json::array({ToHex(SerializeTransaction(tx, TxWitness::EXCLUDE)), options, false}));
    const auto funded = TryParseTransaction(HexResult(Member(r, "hex", method), method));
    if (!funded) Malformed(method, "hex transaction");
    return *funded;
}

Transaction BitcoindClient::SignWalletInputs(const Transaction& tx, std::span<const std::pair<OutPoint, TxOut>> foreign_prevouts)
{
    constexpr std::string_view method{"signrawtransactionwithwallet"};
    json params = json::array({ToHex(SerializeTransaction(tx))});
    if (!foreign_prevouts.empty()) {
        json prevtxs = json::array();
        for (const auto& [outpoint, spent] : foreign_prevouts) {
            json entry = OutPointJson(outpoint);
            entry["scriptPubKey"] = ToHex(spent.script_pubkey);
            entry["amount"] = FormatBtc(Sat{static_cast<uint64_t>(spent.value)});
            prevtxs.push_back(std::move(entry));
        }
        params.push_back(std::move(prevtxs));
    }
    const json r = WalletCall(method, params);
    const auto signed_tx = TryParseTransaction(HexResult(Member(r, "hex", method), method));
    if (!signed_tx) Malformed(method, "hex transaction");
    return *signed_tx;
}

ProcessedPsbt BitcoindClient::ProcessPsbt(std::string_view psbt)
{
    constexpr std::string_view method{"walletprocesspsbt"};
    const json r = WalletCall(method, json::array({std::string{psbt}}));
    return {StringField(r, "psbt", method), BoolField(r, "complete", method)};
}

std::optional<Bytes> BitcoindClient::FinalizePsbt(std::string_view psbt)
{
    constexpr std::string_view method{"finalizepsbt"};
    const json r = m_client.Call(method, json::array({std::string{psbt}}));
    if (!BoolField(r, "complete", method)) return std::nullopt;
    return HexResult(Member(r, "hex", method), method);
}

std::vector<OutPoint> BitcoindClient::PsbtInputs(std::string_view psbt)
{
    constexpr std::string_view method{"decodepsbt"};
    const json r = m_client.Call(method, json::array({std::string{psbt}}));
    std::vector<OutPoint> outpoints;
    // Version 0 carries the unsigned transaction; version 2 lists each input's outpoint.
    if (const auto tx = r.find("tx"); tx != r.end()) {
        const json& vin = Member(*tx, "vin", method);
        if (!vin.is_array()) Malformed(method, "vin");
        for (const json& input : vin) outpoints.push_back(ParseOutPoint(input, "txid", "vout", method));
        return outpoints;
    }
    const json& inputs = Member(r, "inputs", method);
    if (!inputs.is_array()) Malformed(method, "inputs");
    for (const json& input : inputs) {
        outpoints.push_back(ParseOutPoint(input, "previous_txid", "previous_vout", method));
    }
    return outpoints;
}

void BitcoindClient::LockUnspent(bool unlock, std::span<const OutPoint> outpoints)
{
    json list = json::array();
    for (const OutPoint& outpoint : outpoints) list.push_back(OutPointJson(outpoint));
    const json r = WalletCall("lockunspent", json::array({unlock, list}));
    if (r != true) Malformed("lockunspent", "true");
}

std::vector<OutPoint> BitcoindClient::ListLockUnspent()
{
    constexpr std::string_view method{"listlockunspent"};
    const json r = WalletCall(method);
    if (!r.is_array()) Malformed(method, "result array");
    std::vector<OutPoint> outpoints;
    for (const json& item : r) outpoints.push_back(ParseOutPoint(item, "txid", "vout", method));
    return outpoints;
}

std::string BitcoindClient::GetNewAddress()
{
    const json r = WalletCall("getnewaddress");
    if (!r.is_string()) Malformed("getnewaddress", "address");
    return r.get<std::string>();
}

WalletBalances BitcoindClient::GetWalletBalances()
{
    constexpr std::string_view method{"getbalances"};
    const json r = WalletCall(method);
    const json& mine = Member(r, "mine", method);
    return {SatField(mine, "trusted", method), SatField(mine, "untrusted_pending", method),
            SatField(mine, "immature", method)};
}

WalletFundedTx BitcoindClient::FundFromWallet(std::span<const WalletOutput> outputs, Network network,
                                              uint64_t feerate_sat_per_kvb, std::optional<uint32_t> minconf)
{
    const FundedPsbt funded = CreateFundedPsbt(outputs, network, feerate_sat_per_kvb, /*lock_unspents=*/true, minconf);
    try {
        const ProcessedPsbt signed_psbt = ProcessPsbt(funded.psbt);
        std::optional<Bytes> raw;
        if (signed_psbt.complete) raw = FinalizePsbt(signed_psbt.psbt);
        if (!raw) {
            throw WalletFundingError(WalletFundingError::Kind::NotFullySigned,
                                     "the wallet could not sign every input of the funding transaction");
        }
        const auto tx = TryParseTransaction(*raw);
        if (!tx) Malformed("finalizepsbt", "transaction");
        RequireSegwitInputs(*tx);
        return {*tx, funded.fee, funded.change_pos};
    } catch (...) {
        // Best effort: the original error is what the user must see.
        try {
            LockUnspent(/*unlock=*/true, PsbtInputs(funded.psbt));
        } catch (const std::exception&) {
        }
        throw;
    }
}

} // namespace sidebolt::rpc
