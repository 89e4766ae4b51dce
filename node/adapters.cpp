#include "node/adapters.h"

#include "primitives/address.h"
#include "rpc/json_rpc_client.h"
#include "util/hex.h"
#include "util/logging.h"
#include "wire/message.h"

#include <optional>
#include <vector>

namespace sidebolt {
namespace {

//! bitcoind's refusals keep their code; a bitcoind we cannot reach is a misc error (-1).
template <typename Fn>
auto WithWalletErrors(const char* what, Fn&& fn)
{
    try {
        return fn();
    } catch (const rpc::RpcError& e) {
        throw NodeError(e.Code(), std::string(what) + ": bitcoind refused: " + e.Message());
    } catch (const rpc::WalletFundingError& e) {
        throw NodeError(-4, std::string(what) + ": " + e.what());
    } catch (const rpc::RpcTransportError& e) {
        throw NodeError(-1, std::string(what) + ": cannot reach bitcoind: " + e.what());
    }
}

//! What output 0 of a funded child carries at least while input 0 is out: above any dust limit
//! of a standard script (330 sat for a taproot or P2WSH output).
constexpr int64_t kMinChildOutput = 330;

} // namespace

namespace {
//! Channel messages travel as OtherMessage: the peer layer frames type and payload as given.
std::optional<Message> Framed(const Bytes& message)
{
    if (message.size() < 2) return std::nullopt;
    const uint16_t type = static_cast<uint16_t>(message[0] << 8 | message[1]);
    return OtherMessage{type, Bytes(message.begin() + 2, message.end())};
}
} // namespace

void PeerManagerLink::Send(const PubKey& peer, uint64_t connection, Bytes message)
{
    std::vector<Bytes> one;
    one.push_back(std::move(message));
    SendAll(peer, connection, std::move(one));
}

void PeerManagerLink::SendAll(const PubKey& peer, uint64_t connection, std::vector<Bytes> messages)
{
    std::vector<Message> framed;
    framed.reserve(messages.size());
    for (const Bytes& message : messages) {
        if (auto one = Framed(message)) framed.push_back(std::move(*one));
    }
    m_peers.Send(peer, connection, std::move(framed));
}

void PeerManagerLink::Disconnect(const PubKey& peer, std::optional<uint64_t> connection)
{
    if (connection) return m_peers.Disconnect(peer, *connection);
    m_peers.Disconnect(peer);
}

void PeerManagerLink::PauseReading(const PubKey& peer) { m_peers.PauseReading(peer); }

void PeerManagerLink::ResumeReading(const PubKey& peer) { m_peers.ResumeReading(peer); }

void PeerManagerLink::Connect(const PubKey& peer, const std::string& host, uint16_t port)
{
    m_peers.Connect(peer, host, port, [peer](const std::optional<std::string>& error) {
        if (error) Log("channel")->debug("reconnect to {} failed: {}", ToHex(peer.span()), *error);
    });
}

WalletFunding BitcoindWallet::Fund(const Script& script_pubkey, Sat amount, uint32_t feerate_per_kw,
                                   std::optional<uint32_t> minconf)
{
    return WithWalletErrors("funding the channel", [&] {
        const rpc::WalletOutput output{script_pubkey.Data(), amount};
        // sat per 1000 weight units to sat per 1000 virtual bytes.
        const uint64_t feerate_sat_per_kvb = uint64_t{feerate_per_kw} * 4;
        rpc::WalletFundedTx funded = m_bitcoind.FundFromWallet(std::span(&output, 1), m_network, feerate_sat_per_kvb, minconf);
        WalletFunding funding;
        funding.tx = std::move(funded.tx);
        for (const TxIn& in : funding.tx.vin) funding.locked_inputs.push_back(in.prevout);
        bool found = false;
        for (size_t i = 0; i < funding.tx.vout.size(); ++i) {
            if (funding.tx.vout[i].script_pubkey == script_pubkey.Data() &&
                funding.tx.vout[i].value == static_cast<int64_t>(amount.value())) {
                funding.output_index = static_cast<uint32_t>(i);
                found = true;
            }
        }
        if (!found) {
            Unlock(funding.locked_inputs);
            throw NodeError(-1, "bitcoind's funding transaction lacks the channel output");
        }
        return funding;
    });
}

Transaction BitcoindWallet::AddFeeInputs(const Transaction& tx, uint32_t input0_weight, uint32_t feerate_per_kw)
{
    return WithWalletErrors("paying an HTLC transaction's fee", [&] {
        const std::pair<OutPoint, uint32_t> weight{tx.vin.at(0).prevout, input0_weight};
        // Change right after output 0: the peer's SIGHASH_SINGLE signature pairs input 0 with output 0.
        const Transaction funded = m_bitcoind.FundWithExternalInputs(tx, std::span(&weight, 1), uint64_t{feerate_per_kw} * 4,
                                                                     static_cast<uint32_t>(tx.vout.size()));
        return m_bitcoind.SignWalletInputs(funded);
    });
}

Transaction BitcoindWallet::FundChild(const Transaction& tx, uint32_t input0_weight, const TxOut& spent, uint32_t feerate_per_kw,
                                      Sat extra_fee)
{
    return WithWalletErrors("paying a CPFP child's fee", [&] {
        // fundrawtransaction cannot spend an output it does not find: it funds the outputs with
        // output 0 raised by input 0's fee (and the extra) and lowered by its value, and input 0
        // joins after; the wallet pays the feerate over the rest.
        const auto input_fee = static_cast<int64_t>((uint64_t{feerate_per_kw} * input0_weight + 999) / 1000 + extra_fee.value());
        Transaction outputs_only = tx;
        outputs_only.vin.clear();
        outputs_only.vout.at(0).value = std::max(tx.vout[0].value - spent.value + input_fee, kMinChildOutput);
        Transaction funded = m_bitcoind.FundOutputs(outputs_only, uint64_t{feerate_per_kw} * 4, static_cast<uint32_t>(tx.vout.size()));
        funded.vout.at(0).value += spent.value - input_fee;
        funded.vin.insert(funded.vin.begin(), tx.vin.at(0));
        const std::pair<OutPoint, TxOut> foreign{tx.vin[0].prevout, spent};
        return m_bitcoind.SignWalletInputs(funded, std::span(&foreign, 1));
    });
}

void BitcoindWallet::Unlock(std::span<const OutPoint> outpoints)
{
    if (outpoints.empty()) return;
    WithWalletErrors("unlocking funding inputs", [&] {
        m_bitcoind.LockUnspent(true, outpoints);
        return 0;
    });
}

Bytes BitcoindWallet::NewPayoutScript()
{
    return WithWalletErrors("getting a payout address", [&] {
        const std::string address = m_bitcoind.GetNewAddress();
        auto script = DecodeAddress(address, m_network);
        if (!script) throw NodeError(-1, "bitcoind gave an address for another network: " + address);
        return *script;
    });
}

void ChainServiceLink::Broadcast(store::WriteTxn& txn, const Transaction& tx, const std::string& label)
{
    m_persisted.push_back(m_chain.GetBroadcaster().Persist(txn, tx, label));
}

void ChainServiceLink::SendQueued()
{
    // Not the broadcaster's own queue: the chain thread empties that after its rounds and
    // would find these not yet committed.
    m_chain.GetBroadcaster().SendPersisted(m_persisted);
    m_persisted.clear();
}

std::optional<uint32_t> ChainServiceLink::NodeHeight()
{
    // Asked, not the follower's last answer: blocks mined a moment ago, before a transaction
    // handed out now existed, must not count as blocks it missed.
    try {
        ChainSource& source = m_chain.Source();
        if (const auto header = source.HeaderByHash(source.BestBlockHash()); header && header->height >= 0) {
            return static_cast<uint32_t>(header->height);
        }
    } catch (const std::exception& e) {
        Log("channel")->debug("bitcoind's height unknown ({}): using the follower's last view", e.what());
    }
    const std::optional<int> height = m_chain.Status().chain.source_height;
    if (!height || *height < 0) return std::nullopt;
    return static_cast<uint32_t>(*height);
}

void ChainServiceLink::CancelBroadcast(const Hash256& txid) { m_chain.GetBroadcaster().Cancel(txid); }

uint32_t ChainServiceLink::CommitmentFeerate() { return m_chain.Fees().Estimate(6).per_kw; }

uint32_t ChainServiceLink::ClosingFeerate() { return m_chain.Fees().Estimate(12).per_kw; }

uint32_t ChainServiceLink::MempoolFloorFeerate() { return m_chain.Fees().MempoolFloor(); }

void ChainServiceLink::WatchSpends(const OutPoint& outpoint, const std::string& tag) { m_chain.Watches().WatchOutpoint(outpoint, tag); }

void ChainServiceLink::WatchSpends(store::WriteTxn& txn, const OutPoint& outpoint, const std::string& tag)
{
    m_chain.Watches().WatchOutpoint(txn, outpoint, tag);
}

void ChainServiceLink::UnwatchSpends(const OutPoint& outpoint, const std::string& tag)
{
    m_chain.Watches().UnwatchOutpoint(outpoint, tag);
}

FundingLookup ChainSourceGossipChain::LookupFunding(uint32_t block_height, uint32_t tx_index, uint32_t output_index)
{
    using Status = FundingLookup::Status;
    FundingLookup result;
    try {
        const auto hash = m_source.BlockHashAtHeight(static_cast<int>(block_height));
        if (!hash) return FundingLookup{Status::NOT_FOUND, {}, {}};
        if (!m_last_block || m_last_block->first != *hash) {
            const auto raw = m_source.RawBlock(*hash);
            if (!raw) return FundingLookup{Status::UNAVAILABLE, {}, {}};
            m_last_block.emplace(*hash, ParseBlock(*raw));
        }
        const Block& block = m_last_block->second;
        if (tx_index >= block.txs.size() || output_index >= block.txs[tx_index].vout.size()) {
            return FundingLookup{Status::NOT_FOUND, {}, {}};
        }
        result.outpoint = OutPoint{block.txids[tx_index], output_index};
        result.output = block.txs[tx_index].vout[output_index];
        // Spent in a block, not merely in the mempool: a close is not final before it confirms.
        result.status = m_source.IsUnspent(result.outpoint, false) ? Status::FOUND : Status::SPENT;
    } catch (const ChainSourceUnavailable&) {
        return FundingLookup{Status::UNAVAILABLE, {}, {}};
    } catch (const DeserializeError&) {
        m_last_block.reset();
        return FundingLookup{Status::UNAVAILABLE, {}, {}};
    }
    return result;
}

} // namespace sidebolt
