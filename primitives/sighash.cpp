#include "primitives/sighash.h"

#include "primitives/serialize.h"

#include <stdexcept>

namespace sidebolt {
namespace {
uint8_t BaseType(uint8_t sighash_type) { return sighash_type & 0x1f; }

Hash256 HashOutput(const TxOut& txout)
{
    ByteWriter out(8 + 9 + txout.script_pubkey.size());
    out.I64(txout.value).VarBytes(txout.script_pubkey);
    return Sha256d(out.Data());
}
} // namespace

bool IsDefinedSigHashType(uint8_t sighash_type)
{
    const uint8_t base = sighash_type & ~SIGHASH_ANYONECANPAY;
    return base >= SIGHASH_ALL && base <= SIGHASH_SINGLE;
}

SigHashCache::SigHashCache(const Transaction& tx) : SigHashCache(tx, SIGHASH_ALL) {}

SigHashCache::SigHashCache(const Transaction& tx, uint8_t sighash_type) : hash_prevouts{}, hash_sequence{}, hash_outputs{}
{
    // The same conditions as SignatureHashV0's use of each part.
    const bool anyone_can_pay = sighash_type & SIGHASH_ANYONECANPAY;
    const uint8_t base = BaseType(sighash_type);
    const bool single_or_none = base == SIGHASH_SINGLE || base == SIGHASH_NONE;
    if (!anyone_can_pay) {
        ByteWriter prevouts(36 * tx.vin.size());
        for (const TxIn& txin : tx.vin) prevouts.Raw(txin.prevout.txid).U32(txin.prevout.n);
        hash_prevouts = Sha256d(prevouts.Data());
    }
    if (!anyone_can_pay && !single_or_none) {
        ByteWriter sequences(4 * tx.vin.size());
        for (const TxIn& txin : tx.vin) sequences.U32(txin.sequence);
        hash_sequence = Sha256d(sequences.Data());
    }
    if (!single_or_none) {
        ByteWriter outputs;
        for (const TxOut& txout : tx.vout) outputs.I64(txout.value).VarBytes(txout.script_pubkey);
        hash_outputs = Sha256d(outputs.Data());
    }
}

Hash256 SignatureHashV0(const Transaction& tx, size_t input_index, ByteSpan script_code, int64_t amount,
                        uint8_t sighash_type, const SigHashCache& cache)
{
    if (input_index >= tx.vin.size()) throw std::out_of_range("sighash input index out of range");
    const bool anyone_can_pay = sighash_type & SIGHASH_ANYONECANPAY;
    const uint8_t base = BaseType(sighash_type);
    const bool single_or_none = base == SIGHASH_SINGLE || base == SIGHASH_NONE;

    // BIP143: each commitment is zero when the type excludes it; SINGLE without a matching
    // output commits to zero rather than Core's legacy "one" bug.
    Hash256 hash_outputs{};
    if (!single_or_none) {
        hash_outputs = cache.hash_outputs;
    } else if (base == SIGHASH_SINGLE && input_index < tx.vout.size()) {
        hash_outputs = HashOutput(tx.vout[input_index]);
    }
    const TxIn& txin = tx.vin[input_index];
    ByteWriter preimage(4 + 32 + 32 + 36 + 9 + script_code.size() + 8 + 4 + 32 + 4 + 4);
    preimage.U32(tx.version)
        .Raw(anyone_can_pay ? Hash256{} : cache.hash_prevouts)
        .Raw(anyone_can_pay || single_or_none ? Hash256{} : cache.hash_sequence)
        .Raw(txin.prevout.txid)
        .U32(txin.prevout.n)
        .VarBytes(script_code)
        .I64(amount)
        .U32(txin.sequence)
        .Raw(hash_outputs)
        .U32(tx.locktime)
        .U32(sighash_type);
    return Sha256d(preimage.Data());
}

Hash256 SignatureHashV0(const Transaction& tx, size_t input_index, ByteSpan script_code, int64_t amount,
                        uint8_t sighash_type)
{
    return SignatureHashV0(tx, input_index, script_code, amount, sighash_type, SigHashCache(tx, sighash_type));
}

Script P2wpkhScriptCode(const Hash160& key_hash) { return P2pkhScript(key_hash); }

Bytes SignInputV0(const PrivKey& key, const Transaction& tx, size_t input_index, ByteSpan script_code,
                  int64_t amount, uint8_t sighash_type, const SigHashCache& cache)
{
    const Hash256 sighash = SignatureHashV0(tx, input_index, script_code, amount, sighash_type, cache);
    Bytes sig = key.Sign(sighash).Der();
    sig.push_back(sighash_type);
    return sig;
}

} // namespace sidebolt
