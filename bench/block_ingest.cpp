// Block ingest: parse a full synthetic block and compute every txid, as the chain follower does
// for each block bitcoind hands us.

#include "primitives/serialize.h"
#include "primitives/tx.h"
#include "util/bytes.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {
using namespace sidebolt;

//! Consensus limit the synthetic block fills up to (BIP141).
constexpr size_t MAX_BLOCK_WEIGHT = 4'000'000;

//! Deterministic filler so every run parses the same bytes.
class Lcg
{
public:
    uint32_t Next()
    {
        m_state = m_state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<uint32_t>(m_state >> 33);
    }
    Bytes NextBytes(size_t n)
    {
        Bytes out(n);
        for (auto& b : out) b = static_cast<uint8_t>(Next());
        return out;
    }

private:
    uint64_t m_state{0x5eed};
};

//! A mainnet-like mix: segwit spends (P2WPKH-sized witnesses) of 1-3 inputs to 1-4 outputs
//! paying P2WPKH or P2TR.
Transaction MakeTransaction(Lcg& rng)
{
    Transaction tx;
    const size_t inputs = 1 + rng.Next() % 3;
    const size_t outputs = 1 + rng.Next() % 4;
    for (size_t i = 0; i < inputs; ++i) {
        TxIn in;
        const Bytes txid = rng.NextBytes(32);
        std::copy(txid.begin(), txid.end(), in.prevout.txid.begin());
        in.prevout.n = rng.Next() % 8;
        in.sequence = SEQUENCE_FINAL - 2;
        in.witness = {rng.NextBytes(71 + rng.Next() % 2), rng.NextBytes(33)};
        tx.vin.push_back(std::move(in));
    }
    for (size_t o = 0; o < outputs; ++o) {
        TxOut out;
        out.value = 1000 + rng.Next();
        const bool taproot = rng.Next() % 2 == 0;
        out.script_pubkey = taproot ? Bytes{0x51, 0x20} : Bytes{0x00, 0x14};
        Append(out.script_pubkey, rng.NextBytes(taproot ? 32 : 20));
        tx.vout.push_back(std::move(out));
    }
    return tx;
}

struct SyntheticBlock {
    Bytes raw;
    size_t tx_count{0};
    size_t weight{0};
};

SyntheticBlock MakeBlock()
{
    Lcg rng;
    std::vector<Transaction> txs;
    // Header and a 3-byte transaction count are not witness data: 4 weight units per byte.
    size_t weight = 4 * (BlockHeader::SIZE + 3);
    while (true) {
        Transaction tx = MakeTransaction(rng);
        if (weight + tx.GetWeight() > MAX_BLOCK_WEIGHT) break;
        weight += tx.GetWeight();
        txs.push_back(std::move(tx));
    }
    std::vector<Hash256> txids;
    txids.reserve(txs.size());
    for (const auto& tx : txs) txids.push_back(tx.GetTxid());

    BlockHeader header;
    header.version = 0x20000000;
    header.merkle_root = ComputeMerkleRoot(txids);
    header.time = 1'700'000'000;
    header.bits = 0x17034219;
    ByteWriter out(MAX_BLOCK_WEIGHT / 2);
    out.Raw(header.Serialize()).CompactSize(txs.size());
    for (const auto& tx : txs) SerializeTransaction(out, tx);
    return {out.Release(), txs.size(), weight};
}

const SyntheticBlock& TheBlock()
{
    static const SyntheticBlock block = MakeBlock();
    return block;
}

void Report(benchmark::State& state, const SyntheticBlock& block)
{
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * block.raw.size()));
    state.counters["blocks/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["txs/s"] =
        benchmark::Counter(static_cast<double>(state.iterations() * block.tx_count), benchmark::Counter::kIsRate);
    state.counters["txs"] = static_cast<double>(block.tx_count);
    state.counters["weight"] = static_cast<double>(block.weight);
}

void BlockIngestParseAndTxids(benchmark::State& state)
{
    const SyntheticBlock& block = TheBlock();
    for (auto _ : state) {
        Block parsed = ParseBlock(block.raw);
        benchmark::DoNotOptimize(parsed.txids.data());
        benchmark::ClobberMemory();
    }
    Report(state, block);
}

void BlockIngestParseTxidsAndMerkle(benchmark::State& state)
{
    const SyntheticBlock& block = TheBlock();
    if (!CheckMerkleRoot(ParseBlock(block.raw))) {
        state.SkipWithError("synthetic block has a wrong merkle root");
        return;
    }
    for (auto _ : state) {
        const bool ok = CheckMerkleRoot(ParseBlock(block.raw));
        benchmark::DoNotOptimize(ok);
    }
    Report(state, block);
}
} // namespace

BENCHMARK(BlockIngestParseAndTxids)->Unit(benchmark::kMillisecond);
BENCHMARK(BlockIngestParseTxidsAndMerkle)->Unit(benchmark::kMillisecond);
