#include "primitives/tx.h"

#include "util/hex.h"

#include <algorithm>

namespace sidebolt {
namespace {
// Smallest wire sizes, used to bound counts before reserving: an input is outpoint (36),
// empty script (1) and sequence (4); an output is value (8) and empty script (1); the
// smallest transaction is version, two zero counts and locktime.
constexpr size_t MIN_TXIN_BYTES = 41;
constexpr size_t MIN_TXOUT_BYTES = 9;
constexpr size_t MIN_TX_BYTES = 10;

//! Where a parsed transaction's txid-relevant bytes lie in the input.
struct TxLayout {
    size_t start{0};
    //! [body_begin, body_end) holds the inputs and outputs, without the segwit marker/flag.
    size_t body_begin{0};
    size_t body_end{0};
    size_t locktime_pos{0};
};

Bytes ToBytes(ByteSpan s) { return Bytes(s.begin(), s.end()); }

void ReadInputs(ByteReader& in, std::vector<TxIn>& vin)
{
    const size_t count = in.Count(MIN_TXIN_BYTES);
    vin.resize(count);
    for (TxIn& txin : vin) {
        txin.prevout.txid = in.Array<32>();
        txin.prevout.n = in.U32();
        txin.script_sig = ToBytes(in.VarBytes());
        txin.sequence = in.U32();
    }
}

void ReadOutputs(ByteReader& in, std::vector<TxOut>& vout)
{
    const size_t count = in.Count(MIN_TXOUT_BYTES);
    vout.resize(count);
    for (TxOut& txout : vout) {
        txout.value = in.I64();
        txout.script_pubkey = ToBytes(in.VarBytes());
    }
}

void ReadWitness(ByteReader& in, std::vector<Bytes>& stack)
{
    const size_t count = in.Count(1);
    stack.resize(count);
    for (Bytes& item : stack) item = ToBytes(in.VarBytes());
}

// Mirrors Core's UnserializeTransaction: an empty input vector followed by a non-zero byte is
// the BIP144 marker/flag.
Transaction ReadTransactionWithLayout(ByteReader& in, TxLayout& layout)
{
    Transaction tx;
    layout.start = in.Pos();
    tx.version = in.U32();
    layout.body_begin = in.Pos();
    ReadInputs(in, tx.vin);
    uint8_t flags = 0;
    if (tx.vin.empty()) {
        flags = in.U8();
        if (flags != 0) {
            layout.body_begin = in.Pos();
            ReadInputs(in, tx.vin);
            ReadOutputs(in, tx.vout);
        }
    } else {
        ReadOutputs(in, tx.vout);
    }
    layout.body_end = in.Pos();
    if (flags & 1) {
        flags ^= 1;
        for (TxIn& txin : tx.vin) ReadWitness(in, txin.witness);
        // BIP144: the flag "MUST be" omitted when there is no witness; Core rejects it too.
        if (!tx.HasWitness()) throw DeserializeError("superfluous witness record");
    }
    if (flags != 0) throw DeserializeError("unknown transaction optional data");
    layout.locktime_pos = in.Pos();
    tx.locktime = in.U32();
    return tx;
}

size_t NonWitnessSize(const Transaction& tx)
{
    size_t size = 4 + CompactSizeLen(tx.vin.size()) + CompactSizeLen(tx.vout.size()) + 4;
    for (const TxIn& txin : tx.vin) {
        size += 36 + CompactSizeLen(txin.script_sig.size()) + txin.script_sig.size() + 4;
    }
    for (const TxOut& txout : tx.vout) {
        size += 8 + CompactSizeLen(txout.script_pubkey.size()) + txout.script_pubkey.size();
    }
    return size;
}

size_t WitnessSize(const Transaction& tx)
{
    if (!tx.HasWitness()) return 0;
    size_t size = 2; // marker and flag
    for (const TxIn& txin : tx.vin) {
        size += CompactSizeLen(txin.witness.size());
        for (const Bytes& item : txin.witness) size += CompactSizeLen(item.size()) + item.size();
    }
    return size;
}

//! Completes a double SHA256 whose first pass has been fed into the (reused) hasher.
Hash256 FinishSha256d(Sha256Writer& hasher)
{
    const Hash256 first = hasher.Finalize();
    return hasher.Write(first).Finalize();
}
} // namespace

std::string HashToHexRev(const Hash256& hash)
{
    Hash256 reversed = hash;
    std::reverse(reversed.begin(), reversed.end());
    return ToHex(reversed);
}

std::optional<Hash256> HashFromHexRev(std::string_view hex)
{
    auto hash = TryParseHexArray<32>(hex);
    if (hash) std::reverse(hash->begin(), hash->end());
    return hash;
}

std::string OutPoint::ToString() const { return HashToHexRev(txid) + ":" + std::to_string(n); }

bool Transaction::HasWitness() const
{
    return std::any_of(vin.begin(), vin.end(), [](const TxIn& txin) { return !txin.witness.empty(); });
}

Hash256 Transaction::GetTxid() const { return Sha256d(SerializeTransaction(*this, TxWitness::EXCLUDE)); }

Hash256 Transaction::GetWtxid() const { return Sha256d(SerializeTransaction(*this, TxWitness::INCLUDE)); }

size_t Transaction::GetWeight() const { return 4 * NonWitnessSize(*this) + WitnessSize(*this); }

size_t Transaction::GetVsize() const { return (GetWeight() + 3) / 4; }

void SerializeTransaction(ByteWriter& out, const Transaction& tx, TxWitness witness)
{
    const bool with_witness = witness == TxWitness::INCLUDE && tx.HasWitness();
    out.U32(tx.version);
    if (with_witness) out.U8(0x00).U8(0x01);
    out.CompactSize(tx.vin.size());
    for (const TxIn& txin : tx.vin) {
        out.Raw(txin.prevout.txid).U32(txin.prevout.n).VarBytes(txin.script_sig).U32(txin.sequence);
    }
    out.CompactSize(tx.vout.size());
    for (const TxOut& txout : tx.vout) out.I64(txout.value).VarBytes(txout.script_pubkey);
    if (with_witness) {
        for (const TxIn& txin : tx.vin) {
            out.CompactSize(txin.witness.size());
            for (const Bytes& item : txin.witness) out.VarBytes(item);
        }
    }
    out.U32(tx.locktime);
}

Bytes SerializeTransaction(const Transaction& tx, TxWitness witness)
{
    ByteWriter out(NonWitnessSize(tx) + (witness == TxWitness::INCLUDE ? WitnessSize(tx) : 0));
    SerializeTransaction(out, tx, witness);
    return out.Release();
}

Transaction ReadTransaction(ByteReader& in)
{
    TxLayout layout;
    return ReadTransactionWithLayout(in, layout);
}

Transaction ParseTransaction(ByteSpan raw)
{
    ByteReader in(raw);
    Transaction tx = ReadTransaction(in);
    in.ExpectEnd();
    return tx;
}

std::optional<Transaction> TryParseTransaction(ByteSpan raw)
{
    try {
        return ParseTransaction(raw);
    } catch (const DeserializeError&) {
        return std::nullopt;
    }
}

Hash256 BlockHeader::GetHash() const { return Sha256d(Serialize()); }

ByteArray<BlockHeader::SIZE> BlockHeader::Serialize() const
{
    ByteWriter out(SIZE);
    out.U32(version).Raw(prev_block).Raw(merkle_root).U32(time).U32(bits).U32(nonce);
    ByteArray<SIZE> bytes;
    std::copy(out.Data().begin(), out.Data().end(), bytes.begin());
    return bytes;
}

BlockHeader BlockHeader::Parse(ByteReader& in)
{
    BlockHeader header;
    header.version = in.U32();
    header.prev_block = in.Array<32>();
    header.merkle_root = in.Array<32>();
    header.time = in.U32();
    header.bits = in.U32();
    header.nonce = in.U32();
    return header;
}

Block ParseBlock(ByteSpan raw)
{
    ByteReader in(raw);
    Block block;
    block.header = BlockHeader::Parse(in);
    const size_t count = in.Count(MIN_TX_BYTES);
    block.txs.reserve(count);
    block.txids.reserve(count);
    // The txid covers the non-witness parts, which lie in the input as at most three ranges:
    // hashing them in place avoids re-serializing every transaction.
    Sha256Writer hasher;
    for (size_t i = 0; i < count; ++i) {
        TxLayout layout;
        block.txs.push_back(ReadTransactionWithLayout(in, layout));
        hasher.Write(raw.subspan(layout.start, 4));
        hasher.Write(raw.subspan(layout.body_begin, layout.body_end - layout.body_begin));
        hasher.Write(raw.subspan(layout.locktime_pos, 4));
        block.txids.push_back(FinishSha256d(hasher));
    }
    in.ExpectEnd();
    return block;
}

Hash256 ComputeMerkleRoot(std::vector<Hash256> leaves, bool* mutated)
{
    bool mutation = false;
    Sha256Writer hasher;
    ByteArray<64> pair;
    while (leaves.size() > 1) {
        for (size_t pos = 0; pos + 1 < leaves.size(); pos += 2) {
            if (leaves[pos] == leaves[pos + 1]) mutation = true;
        }
        if (leaves.size() & 1) leaves.push_back(leaves.back());
        for (size_t pos = 0; pos < leaves.size() / 2; ++pos) {
            std::copy(leaves[2 * pos].begin(), leaves[2 * pos].end(), pair.begin());
            std::copy(leaves[2 * pos + 1].begin(), leaves[2 * pos + 1].end(), pair.begin() + 32);
            leaves[pos] = FinishSha256d(hasher.Write(pair));
        }
        leaves.resize(leaves.size() / 2);
    }
    if (mutated) *mutated = mutation;
    return leaves.empty() ? Hash256{} : leaves.front();
}

bool CheckMerkleRoot(const Block& block)
{
    bool mutated = false;
    const Hash256 root = ComputeMerkleRoot(block.txids, &mutated);
    return !mutated && root == block.header.merkle_root;
}

} // namespace sidebolt
