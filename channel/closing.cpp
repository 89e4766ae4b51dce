#include "channel/closing.h"

#include "primitives/script.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace sidebolt {
namespace {
constexpr uint32_t SIMPLE_CLOSE_SEQUENCE = 0xfffffffd;

Transaction ClosingSkeleton(const OutPoint& funding_outpoint, uint32_t sequence, uint32_t locktime)
{
    Transaction tx;
    tx.version = 2;
    tx.locktime = locktime;
    tx.vin.push_back(TxIn{.prevout = funding_outpoint, .script_sig = {}, .sequence = sequence, .witness = {}});
    return tx;
}

void SortOutputs(Transaction& tx)
{
    std::sort(tx.vout.begin(), tx.vout.end(), [](const TxOut& a, const TxOut& b) {
        if (a.value != b.value) return a.value < b.value;
        return a.script_pubkey < b.script_pubkey;
    });
}

Sat AfterFee(Sat amount, Sat fee_sat)
{
    const std::optional<Sat> rest = Sat::CheckedSub(amount, fee_sat);
    if (!rest) throw std::invalid_argument("closing fee exceeds the payer's balance");
    return *rest;
}
} // namespace

bool IsOpReturnScript(ByteSpan script)
{
    // BOLT 2 shutdown: OP_RETURN followed by a single push of 6..75 bytes, or OP_PUSHDATA1 76..80.
    if (script.size() < 2 || script[0] != OP_RETURN) return false;
    if (script[1] >= 6 && script[1] <= 75) return script.size() == 2u + script[1];
    return script[1] == OP_PUSHDATA1 && script.size() >= 3 && script[2] >= 76 && script[2] <= 80 &&
           script.size() == 3u + script[2];
}

Transaction BuildLegacyClosingTx(const OutPoint& funding_outpoint, const ClosingParty& local, const ClosingParty& remote,
                                 bool local_is_opener, Sat fee_sat, Sat dust_limit_sat, bool omit_local_output)
{
    Transaction tx = ClosingSkeleton(funding_outpoint, SEQUENCE_FINAL, 0);
    Sat local_sat = ToSatFloor(local.balance_msat);
    Sat remote_sat = ToSatFloor(remote.balance_msat);
    // "MUST subtract the fee given by fee_satoshis from the output to the funder".
    Sat& opener = local_is_opener ? local_sat : remote_sat;
    opener = AfterFee(opener, fee_sat);
    // "MUST remove any output below its own dust_limit_satoshis. MAY eliminate its own output."
    if (!omit_local_output && local_sat >= dust_limit_sat) tx.vout.push_back(TxOut{ToTxValue(local_sat), local.script_pubkey});
    if (remote_sat >= dust_limit_sat) tx.vout.push_back(TxOut{ToTxValue(remote_sat), remote.script_pubkey});
    SortOutputs(tx);
    return tx;
}

Transaction BuildSimpleClosingTx(const OutPoint& funding_outpoint, const ClosingParty& closer, const ClosingParty& closee,
                                 Sat fee_sat, uint32_t locktime, SimpleCloseVariant variant)
{
    Transaction tx = ClosingSkeleton(funding_outpoint, SIMPLE_CLOSE_SEQUENCE, locktime);
    if (variant != SimpleCloseVariant::CLOSEE_OUTPUT_ONLY) {
        // An OP_RETURN closer output carries zero: "all funds go to fees".
        const Sat amount = IsOpReturnScript(closer.script_pubkey) ? Sat{} : AfterFee(ToSatFloor(closer.balance_msat), fee_sat);
        tx.vout.push_back(TxOut{ToTxValue(amount), closer.script_pubkey});
    }
    if (variant != SimpleCloseVariant::CLOSER_OUTPUT_ONLY) {
        tx.vout.push_back(TxOut{ToTxValue(ToSatFloor(closee.balance_msat)), closee.script_pubkey});
    }
    SortOutputs(tx);
    return tx;
}

} // namespace sidebolt
