#include "fake_chain.h"

#include "primitives/serialize.h"

#include <stdlib.h>

#include <algorithm>

namespace sidebolt::test {

namespace {

std::atomic<uint32_t> g_tx_counter{0};

Transaction Coinbase(int height, uint32_t unique)
{
    Transaction tx;
    TxIn in;
    in.prevout = OutPoint{Hash256{}, 0xffffffff};
    ByteWriter script;
    script.U32(static_cast<uint32_t>(height)).U32(unique);
    in.script_sig = script.Release();
    tx.vin.push_back(in);
    tx.vout.push_back(TxOut{50'0000'0000, Bytes{0x51}});
    return tx;
}

} // namespace

Transaction MakeTx(const std::vector<OutPoint>& inputs, size_t outputs)
{
    Transaction tx;
    for (const OutPoint& prevout : inputs) tx.vin.push_back(TxIn{prevout, {}, SEQUENCE_FINAL, {}});
    if (inputs.empty()) {
        // Unique txid without inputs: a made-up prevout.
        OutPoint fake;
        fake.txid[0] = 0xfe;
        fake.n = ++g_tx_counter;
        tx.vin.push_back(TxIn{fake, {}, SEQUENCE_FINAL, {}});
    }
    for (size_t i = 0; i < outputs; ++i) {
        tx.vout.push_back(TxOut{1000 + static_cast<int64_t>(++g_tx_counter), Bytes{0x51}});
    }
    return tx;
}

FakeChain::FakeChain() { MineLocked({}); }

Hash256 FakeChain::MineLocked(const std::vector<Transaction>& mempool_txs)
{
    const int height = static_cast<int>(m_active.size());
    std::vector<Transaction> txs{Coinbase(height, ++m_block_counter)};
    txs.insert(txs.end(), mempool_txs.begin(), mempool_txs.end());
    Block block;
    block.header.version = 0x20000000;
    block.header.prev_block = m_active.empty() ? Hash256{} : m_active.back();
    block.header.time = 1'700'000'000 + m_block_counter;
    block.header.bits = 0x207fffff;
    std::vector<Hash256> txids;
    for (const Transaction& tx : txs) txids.push_back(tx.GetTxid());
    block.header.merkle_root = ComputeMerkleRoot(txids);
    ByteWriter raw;
    raw.Raw(block.header.Serialize());
    raw.CompactSize(txs.size());
    for (const Transaction& tx : txs) SerializeTransaction(raw, tx);
    const Hash256 hash = block.header.GetHash();
    for (const Hash256& txid : txids) m_mempool.erase(txid);
    m_blocks[hash] = StoredBlock{height, block.header.prev_block, raw.Release(), std::move(txs)};
    m_active.push_back(hash);
    return hash;
}

Hash256 FakeChain::Mine(const std::vector<Transaction>& txs, bool take_mempool)
{
    const std::lock_guard lock{m_mutex};
    std::vector<Transaction> all;
    if (take_mempool) {
        for (const auto& [txid, tx] : m_mempool) all.push_back(tx);
    }
    for (const Transaction& tx : txs) {
        if (std::find(all.begin(), all.end(), tx) == all.end()) all.push_back(tx);
    }
    return MineLocked(all);
}

void FakeChain::MineEmpty(int count)
{
    for (int i = 0; i < count; ++i) Mine({}, false);
}

void FakeChain::Disconnect(int depth, bool drop_txs)
{
    const std::lock_guard lock{m_mutex};
    for (int i = 0; i < depth; ++i) {
        const StoredBlock& block = m_blocks.at(m_active.back());
        if (!drop_txs) {
            for (size_t t = 1; t < block.txs.size(); ++t) m_mempool[block.txs[t].GetTxid()] = block.txs[t];
        }
        m_active.pop_back();
    }
}

void FakeChain::AddToMempool(const Transaction& tx)
{
    const std::lock_guard lock{m_mutex};
    m_mempool[tx.GetTxid()] = tx;
}

void FakeChain::RemoveFromMempool(const Hash256& txid)
{
    const std::lock_guard lock{m_mutex};
    m_mempool.erase(txid);
}

bool FakeChain::InMempool(const Hash256& txid) const
{
    const std::lock_guard lock{m_mutex};
    return m_mempool.contains(txid);
}

int FakeChain::Height() const
{
    const std::lock_guard lock{m_mutex};
    return static_cast<int>(m_active.size()) - 1;
}

Hash256 FakeChain::HashAt(int height) const
{
    const std::lock_guard lock{m_mutex};
    return m_active.at(static_cast<size_t>(height));
}

std::vector<Hash256> FakeChain::Sent() const
{
    const std::lock_guard lock{m_mutex};
    return m_sent;
}

void FakeChain::SetSendResult(const Hash256& txid, SendResult result)
{
    const std::lock_guard lock{m_mutex};
    m_send_results[txid] = std::move(result);
}

void FakeChain::SetFeeEstimate(std::optional<int64_t> sat_per_kvb)
{
    const std::lock_guard lock{m_mutex};
    m_fee_estimate = sat_per_kvb;
}

void FakeChain::CheckUp() const
{
    if (m_down) throw ChainSourceUnavailable("fake node is down");
}

bool FakeChain::InChainLocked(const Hash256& txid) const
{
    for (const Hash256& hash : m_active) {
        for (const Transaction& tx : m_blocks.at(hash).txs) {
            if (tx.GetTxid() == txid) return true;
        }
    }
    return false;
}

Hash256 FakeChain::BestBlockHash()
{
    CheckUp();
    return Tip();
}

std::optional<ChainHeader> FakeChain::HeaderByHash(const Hash256& hash)
{
    CheckUp();
    const std::lock_guard lock{m_mutex};
    const auto it = m_blocks.find(hash);
    if (it == m_blocks.end()) return std::nullopt;
    return ChainHeader{it->second.height, hash, it->second.prev};
}

std::optional<Hash256> FakeChain::BlockHashAtHeight(int height)
{
    CheckUp();
    const std::lock_guard lock{m_mutex};
    if (height < 0 || static_cast<size_t>(height) >= m_active.size()) return std::nullopt;
    return m_active[static_cast<size_t>(height)];
}

std::optional<Bytes> FakeChain::RawBlock(const Hash256& hash)
{
    CheckUp();
    const std::lock_guard lock{m_mutex};
    const auto it = m_blocks.find(hash);
    if (it == m_blocks.end()) return std::nullopt;
    return it->second.raw;
}

std::vector<Hash256> FakeChain::MempoolTxids()
{
    CheckUp();
    const std::lock_guard lock{m_mutex};
    std::vector<Hash256> txids;
    for (const auto& [txid, tx] : m_mempool) txids.push_back(txid);
    return txids;
}

std::optional<Bytes> FakeChain::RawTransaction(const Hash256& txid)
{
    CheckUp();
    ++m_raw_tx_calls;
    const std::lock_guard lock{m_mutex};
    const auto it = m_mempool.find(txid);
    if (it == m_mempool.end()) return std::nullopt;
    return SerializeTransaction(it->second);
}

bool FakeChain::IsUnspent(const OutPoint& outpoint, bool include_mempool)
{
    CheckUp();
    const std::lock_guard lock{m_mutex};
    bool exists = false;
    const auto spends = [&](const Transaction& tx) {
        return std::any_of(tx.vin.begin(), tx.vin.end(), [&](const TxIn& in) { return in.prevout == outpoint; });
    };
    for (const Hash256& hash : m_active) {
        for (const Transaction& tx : m_blocks.at(hash).txs) {
            if (tx.GetTxid() == outpoint.txid && outpoint.n < tx.vout.size()) exists = true;
            if (spends(tx)) return false;
        }
    }
    if (!include_mempool) return exists;
    for (const auto& [txid, tx] : m_mempool) {
        if (txid == outpoint.txid && outpoint.n < tx.vout.size()) exists = true;
        if (spends(tx)) return false;
    }
    return exists;
}

SendResult FakeChain::SendRawTransaction(ByteSpan raw_tx)
{
    CheckUp();
    const Transaction tx = ParseTransaction(raw_tx);
    const Hash256 txid = tx.GetTxid();
    const std::lock_guard lock{m_mutex};
    m_sent.push_back(txid);
    if (const auto it = m_send_results.find(txid); it != m_send_results.end()) return it->second;
    if (InChainLocked(txid)) return {SendResult::Status::AlreadyInChain, -27, "Transaction already in block chain"};
    m_mempool[txid] = tx;
    return {SendResult::Status::Accepted, 0, {}};
}

SendResult FakeChain::SubmitPackage(std::span<const Bytes> raw_txs)
{
    CheckUp();
    const std::lock_guard lock{m_mutex};
    std::vector<Hash256> txids;
    for (const Bytes& raw : raw_txs) {
        const Transaction tx = ParseTransaction(raw);
        txids.push_back(tx.GetTxid());
        m_mempool[tx.GetTxid()] = tx;
    }
    m_packages.push_back(std::move(txids));
    return {SendResult::Status::Accepted, 0, {}};
}

std::optional<int64_t> FakeChain::MempoolMinFee()
{
    CheckUp();
    const std::lock_guard lock{m_mutex};
    return m_mempool_min_fee;
}

void FakeChain::SetMempoolMinFee(std::optional<int64_t> sat_per_kvb)
{
    const std::lock_guard lock{m_mutex};
    m_mempool_min_fee = sat_per_kvb;
}

std::vector<std::vector<Hash256>> FakeChain::Packages() const
{
    const std::lock_guard lock{m_mutex};
    return m_packages;
}

std::optional<int64_t> FakeChain::EstimateSmartFee(int)
{
    CheckUp();
    const std::lock_guard lock{m_mutex};
    return m_fee_estimate;
}

store::EnvOptions TestEnvOptions()
{
    store::EnvOptions options;
    options.durable = false;
    options.initial_map_size = size_t{1} << 20;
    return options;
}

} // namespace sidebolt::test
