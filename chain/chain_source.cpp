#include "chain/chain_source.h"

#include <utility>

namespace sidebolt {

namespace {

//! Core answers getblock for a pruned block with RPC_MISC_ERROR "Block not available".
constexpr int RPC_MISC_ERROR = -1;

//! Runs one RPC, turning "the node cannot answer now" into ChainSourceUnavailable.
template <typename Fn>
auto Ask(Fn&& fn)
{
    try {
        return fn();
    } catch (const rpc::RpcTransportError& e) {
        throw ChainSourceUnavailable(e.what());
    } catch (const rpc::RpcError& e) {
        if (e.Code() == rpc::RPC_IN_WARMUP) throw ChainSourceUnavailable(e.what());
        throw;
    }
}

} // namespace

Hash256 BitcoindChainSource::BestBlockHash()
{
    return Ask([&] { return m_client.GetBestBlockHash(); });
}

std::optional<ChainHeader> BitcoindChainSource::HeaderByHash(const Hash256& hash)
{
    const auto header = Ask([&] { return m_client.GetBlockHeader(hash); });
    if (!header) return std::nullopt;
    return ChainHeader{static_cast<int>(header->height), header->hash, header->prev_hash.value_or(Hash256{})};
}

std::optional<Hash256> BitcoindChainSource::BlockHashAtHeight(int height)
{
    return Ask([&] { return m_client.GetBlockHash(height); });
}

std::optional<Bytes> BitcoindChainSource::RawBlock(const Hash256& hash)
{
    return Ask([&]() -> std::optional<Bytes> {
        try {
            return m_client.GetBlockRaw(hash);
        } catch (const rpc::RpcError& e) {
            // Unknown (-5), or pruned away (-1 "Block not available").
            if (e.Code() == rpc::RPC_INVALID_ADDRESS_OR_KEY || e.Code() == RPC_MISC_ERROR) return std::nullopt;
            throw;
        }
    });
}

std::vector<Hash256> BitcoindChainSource::MempoolTxids()
{
    return Ask([&] { return m_client.GetRawMempool(); });
}

std::optional<Bytes> BitcoindChainSource::RawTransaction(const Hash256& txid)
{
    return Ask([&] { return m_client.GetRawTransaction(txid); });
}

bool BitcoindChainSource::IsUnspent(const OutPoint& outpoint, bool include_mempool)
{
    return Ask([&] { return m_client.GetTxOut(outpoint.txid, outpoint.n, include_mempool).has_value(); });
}

SendResult BitcoindChainSource::SendRawTransaction(ByteSpan raw_tx)
{
    SendResult result = Ask([&] { return m_client.SendRawTransaction(raw_tx); });
    if (result.code == rpc::RPC_IN_WARMUP) throw ChainSourceUnavailable(result.message);
    return result;
}

std::optional<int64_t> BitcoindChainSource::EstimateSmartFee(int conf_target)
{
    return Ask([&] { return m_client.EstimateSmartFee(conf_target); });
}

SendResult BitcoindChainSource::SubmitPackage(std::span<const Bytes> raw_txs)
{
    SendResult result = Ask([&] { return m_client.SubmitPackage(raw_txs); });
    if (result.code == rpc::RPC_IN_WARMUP) throw ChainSourceUnavailable(result.message);
    return result;
}

std::optional<int64_t> BitcoindChainSource::MempoolMinFee()
{
    return Ask([&] { return m_client.MempoolMinFee(); });
}

} // namespace sidebolt
