#ifndef SIDEBOLT_CHANNEL_FUNDING_H
#define SIDEBOLT_CHANNEL_FUNDING_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "primitives/sighash.h"
#include "primitives/tx.h"
#include "util/amount.h"

#include <cstdint>

namespace sidebolt {

//! DER encoding followed by the sighash type byte, as signatures appear in witnesses.
Bytes WitnessSignature(const EcdsaSignature& signature, uint8_t sighash_type = SIGHASH_ALL);

//! BIP143 SIGHASH_ALL digest of input 0 of a commitment or closing tx spending the funding output.
//! Throws AmountError for a funding amount above kMaxMoney.
Hash256 FundingSigHash(const Transaction& tx, const Script& funding_script, Sat funding_sat);
EcdsaSignature SignFundingInput(const Transaction& tx, const Script& funding_script, Sat funding_sat,
                                const PrivKey& funding_key);
bool VerifyFundingSignature(const Transaction& tx, const Script& funding_script, Sat funding_sat,
                            const PubKey& funding_pubkey, const EcdsaSignature& signature);

/**
 * Sets input 0's witness to `0 <signature_for_pubkey1> <signature_for_pubkey2> <script>`, the
 * signatures ordered like the keys in the funding script.
 */
void SetFundingWitness(Transaction& tx, const Script& funding_script, const PubKey& key_a,
                       const EcdsaSignature& signature_a, const PubKey& key_b, const EcdsaSignature& signature_b);

} // namespace sidebolt

#endif
