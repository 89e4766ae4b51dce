#ifndef SIDEBOLT_NODE_ADAPTERS_H
#define SIDEBOLT_NODE_ADAPTERS_H

#include "chain/chain_service.h"
#include "net/peer_manager.h"
#include "node/interfaces.h"
#include "primitives/network.h"
#include "rpc/bitcoind.h"

namespace sidebolt {

//! The channel manager's peers: sideboltd's PeerManager.
class PeerManagerLink : public PeerLink
{
public:
    explicit PeerManagerLink(PeerManager& peers) : m_peers(peers) {}
    void Send(const PubKey& peer, uint64_t connection, Bytes message) override;
    void SendAll(const PubKey& peer, uint64_t connection, std::vector<Bytes> messages) override;
    void Disconnect(const PubKey& peer, std::optional<uint64_t> connection) override;
    void Connect(const PubKey& peer, const std::string& host, uint16_t port) override;
    void PauseReading(const PubKey& peer) override;
    void ResumeReading(const PubKey& peer) override;

private:
    PeerManager& m_peers;
};

//! Funding and payouts from bitcoind's wallet (-bitcoin.wallet picks it).
class BitcoindWallet : public ChannelWallet
{
public:
    BitcoindWallet(rpc::BitcoindClient& bitcoind, Network network) : m_bitcoind(bitcoind), m_network(network) {}
    WalletFunding Fund(const Script& script_pubkey, Sat amount, uint32_t feerate_per_kw,
                       std::optional<uint32_t> minconf) override;
    void Unlock(std::span<const OutPoint> outpoints) override;
    Bytes NewPayoutScript() override;
    Transaction AddFeeInputs(const Transaction& tx, uint32_t input0_weight, uint32_t feerate_per_kw) override;
    Transaction FundChild(const Transaction& tx, uint32_t input0_weight, const TxOut& spent, uint32_t feerate_per_kw,
                          Sat extra_fee) override;

private:
    rpc::BitcoindClient& m_bitcoind;
    const Network m_network;
};

//! Broadcasts through the chain service's broadcaster; feerates from its estimator.
class ChainServiceLink : public ChannelChain
{
public:
    explicit ChainServiceLink(ChainService& chain) : m_chain(chain) {}
    void Broadcast(store::WriteTxn& txn, const Transaction& tx, const std::string& label) override;
    void SendQueued() override;
    void CancelBroadcast(const Hash256& txid) override;
    std::optional<uint32_t> NodeHeight() override;
    uint32_t CommitmentFeerate() override;
    uint32_t ClosingFeerate() override;
    uint32_t MempoolFloorFeerate() override;
    void WatchSpends(const OutPoint& outpoint, const std::string& tag) override;
    void WatchSpends(store::WriteTxn& txn, const OutPoint& outpoint, const std::string& tag) override;
    void UnwatchSpends(const OutPoint& outpoint, const std::string& tag) override;

private:
    ChainService& m_chain;
    //! Persisted by the channel manager's last write, to send once it committed (its worker only).
    std::vector<Hash256> m_persisted;
};

//! Funding outputs of announced channels, read from bitcoind's blocks (the last block kept).
class ChainSourceGossipChain : public GossipChain
{
public:
    explicit ChainSourceGossipChain(ChainSource& source) : m_source(source) {}
    FundingLookup LookupFunding(uint32_t block_height, uint32_t tx_index, uint32_t output_index) override;

private:
    ChainSource& m_source;
    //! Channels are announced in bursts from the same blocks (a sync walks heights in order).
    std::optional<std::pair<Hash256, Block>> m_last_block;
};

} // namespace sidebolt

#endif
