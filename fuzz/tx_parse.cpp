// Parses arbitrary bytes as a transaction and as a block. Accepted transactions must
// re-serialize to exactly the input (the encoding is canonical) and parse back equal; parsed
// blocks' in-place txids must match re-serialized ones. Witness data of a parsed transaction
// is also run through the script interpreter as a P2WSH spend, which must never crash.
#include "tests/support/interpreter.h"
#include "primitives/script.h"
#include "primitives/sighash.h"
#include "primitives/tx.h"

#include <cstdint>
#include <cstdlib>

using namespace sidebolt;

namespace {
void Require(bool condition)
{
    if (!condition) std::abort();
}

void CheckTransaction(ByteSpan input, const Transaction& tx)
{
    const Bytes again = SerializeTransaction(tx);
    Require(again == Bytes(input.begin(), input.end()));
    Require(TryParseTransaction(again) == tx);

    const Bytes stripped = SerializeTransaction(tx, TxWitness::EXCLUDE);
    Transaction without_witness = tx;
    for (TxIn& in : without_witness.vin) in.witness.clear();
    Require(TryParseTransaction(stripped) == without_witness);
    Require(tx.GetTxid() == Sha256d(stripped));
    Require(tx.GetWeight() == 3 * stripped.size() + again.size());

    if (tx.vin.empty()) return;
    const SigHashCache cache(tx);
    for (const uint8_t type : {SIGHASH_ALL, SIGHASH_NONE, SIGHASH_SINGLE, uint8_t(SIGHASH_SINGLE | SIGHASH_ANYONECANPAY)}) {
        SignatureHashV0(tx, 0, tx.vin[0].script_sig, 1, type, cache);
    }
    const auto& witness = tx.vin[0].witness;
    if (!witness.empty()) {
        const TxOut spent{1000, P2wshScript(Script(witness.back())).Data()};
        VerifyWitnessInput(tx, 0, spent, cache);
        VerifyWitnessInput(tx, 0, spent, cache, VERIFY_NONE);
    }
}

void CheckBlock(ByteSpan input)
{
    try {
        const Block block = ParseBlock(input);
        Require(block.txids.size() == block.txs.size());
        for (size_t i = 0; i < block.txs.size(); ++i) Require(block.txids[i] == block.txs[i].GetTxid());
        CheckMerkleRoot(block);
    } catch (const DeserializeError&) {
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const ByteSpan input(data, size);
    if (const auto tx = TryParseTransaction(input)) CheckTransaction(input, *tx);
    CheckBlock(input);
    return 0;
}
