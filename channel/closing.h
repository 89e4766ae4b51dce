#ifndef SIDEBOLT_CHANNEL_CLOSING_H
#define SIDEBOLT_CHANNEL_CLOSING_H

#include "primitives/tx.h"
#include "util/amount.h"
#include "util/bytes.h"

#include <cstdint>

namespace sidebolt {

//! One side's final balance and shutdown scriptpubkey. A balance above kMaxMoney makes the
//! builders below throw AmountError.
struct ClosingParty {
    Msat balance_msat;
    Bytes script_pubkey;
};

/**
 * Legacy closing transaction (closing_signed, BOLT 3 "Legacy Closing Transaction"): version 2,
 * locktime 0, sequence 0xFFFFFFFF; `fee_sat` comes out of the opener's output; every output below
 * the signer's `dust_limit_sat` is removed, and the signer may drop its own output (the other
 * variant each node may sign). Outputs in BIP69 order. Throws std::invalid_argument when the fee
 * exceeds the opener's balance.
 */
Transaction BuildLegacyClosingTx(const OutPoint& funding_outpoint, const ClosingParty& local, const ClosingParty& remote,
                                 bool local_is_opener, Sat fee_sat, Sat dust_limit_sat,
                                 bool omit_local_output = false);

//! Which outputs an option_simple_close closing transaction carries (its closing_tlvs field).
enum class SimpleCloseVariant : uint8_t { CLOSER_OUTPUT_ONLY, CLOSEE_OUTPUT_ONLY, CLOSER_AND_CLOSEE_OUTPUTS };

/**
 * Closing transaction of option_simple_close (closing_complete/closing_sig): the closer pays
 * `fee_sat` from its own output, whose amount is zero when its script is OP_RETURN; locktime as
 * sent in closing_complete; sequence 0xFFFFFFFD so the closer can replace it. Outputs in BIP69
 * order. Throws std::invalid_argument when the fee exceeds the closer's balance.
 */
Transaction BuildSimpleClosingTx(const OutPoint& funding_outpoint, const ClosingParty& closer, const ClosingParty& closee,
                                 Sat fee_sat, uint32_t locktime, SimpleCloseVariant variant);

//! True for a script the simple close protocol accepts as an OP_RETURN closer output.
bool IsOpReturnScript(ByteSpan script_pubkey);

} // namespace sidebolt

#endif
