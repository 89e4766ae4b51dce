#ifndef SIDEBOLT_CHANNEL_WEIGHTS_H
#define SIDEBOLT_CHANNEL_WEIGHTS_H

#include "util/amount.h"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

namespace sidebolt {

// BOLT 3 Appendix A: expected weights used for fees (not always the exact signed weight).
inline constexpr uint64_t COMMITMENT_BASE_WEIGHT = 724;
inline constexpr uint64_t COMMITMENT_BASE_WEIGHT_ANCHORS = 1124;
inline constexpr uint64_t COMMITMENT_WEIGHT_PER_HTLC = 172;
inline constexpr uint64_t HTLC_TIMEOUT_WEIGHT = 663;
inline constexpr uint64_t HTLC_TIMEOUT_WEIGHT_ANCHORS = 666;
inline constexpr uint64_t HTLC_SUCCESS_WEIGHT = 703;
inline constexpr uint64_t HTLC_SUCCESS_WEIGHT_ANCHORS = 706;

// BOLT 5 Appendix A: penalty witness sizes for the non-anchor scripts.
inline constexpr size_t TO_LOCAL_PENALTY_WITNESS = 160;
inline constexpr size_t OFFERED_HTLC_PENALTY_WITNESS = 243;
inline constexpr size_t ACCEPTED_HTLC_PENALTY_WITNESS = 249;
//! A segwit input without scriptSig: outpoint, empty script length, sequence (41 bytes * 4).
inline constexpr uint64_t INPUT_WEIGHT = 164;

//! Largest DER signature plus its sighash byte, as the expected weights assume.
inline constexpr size_t MAX_SIGNATURE_SIZE = 73;
inline constexpr size_t PUBKEY_SIZE = 33;
inline constexpr size_t PREIMAGE_SIZE = 32;

//! fee = feerate_per_kw * weight / 1000, rounded down (BOLT 3 "Fee Calculation"). The product is
//! checked: AmountError past 2^64 instead of a wrapped, tiny fee.
constexpr Sat FeeForWeight(uint32_t feerate_per_kw, uint64_t weight)
{
    return Sat{(Sat{feerate_per_kw} * weight).value() / 1000};
}

//! Serialized size of one input's witness whose stack items have the given sizes.
size_t WitnessSize(std::initializer_list<size_t> item_sizes);

// Expected witness sizes, each an upper bound (73-byte signatures), per spend path.
//! `<sig> <> <script>`: to_local or second-stage output after the CSV delay.
size_t DelayedSweepWitnessSize(size_t witness_script_size);
//! `<revocation_sig> 1 <script>`: revoked to_local or second-stage output.
size_t RevokedDelayedWitnessSize(size_t witness_script_size);
//! `<revocation_sig> <revocationpubkey> <script>`: revoked HTLC output.
size_t RevokedHtlcWitnessSize(size_t witness_script_size);
//! `<sig> <preimage> <script>`: remote commitment's offered HTLC claimed with the preimage.
size_t HtlcPreimageClaimWitnessSize(size_t witness_script_size);
//! `<sig> <> <script>`: remote commitment's received HTLC claimed after its CLTV.
size_t HtlcTimeoutClaimWitnessSize(size_t witness_script_size);
//! `<sig> <pubkey>`: P2WPKH.
size_t P2wpkhWitnessSize();
//! `<sig> <script>`: anchors' to_remote, or an anchor spent with the funding key.
size_t SingleSigWitnessSize(size_t witness_script_size);
//! `<> <script>`: an anchor swept by anyone after 16 blocks.
size_t AnchorAnyoneWitnessSize(size_t witness_script_size);

/**
 * Expected weight of a version-2 transaction spending segwit inputs with the given witness
 * sizes into outputs with the given scriptPubKey sizes.
 */
uint64_t TransactionWeight(std::span<const size_t> input_witness_sizes, std::span<const size_t> output_script_sizes);

} // namespace sidebolt

#endif
