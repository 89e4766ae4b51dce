#ifndef SIDEBOLT_CHANNEL_HTLC_TX_H
#define SIDEBOLT_CHANNEL_HTLC_TX_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "primitives/sighash.h"
#include "primitives/tx.h"
#include "channel/commitment.h"
#include "util/amount.h"

#include <cstdint>
#include <vector>

namespace sidebolt {

//! A second-stage HTLC-timeout or HTLC-success transaction of the holder's commitment.
struct HtlcTx {
    Transaction tx;
    //! HTLC-success (the holder received the HTLC) or HTLC-timeout (the holder offered it).
    bool is_success{false};
    size_t htlc_index{0};
    size_t commitment_output{0};
    //! Amount of the spent commitment output.
    Sat input_sat;
    //! Witness script of the spent commitment output.
    Script witness_script;
};

/**
 * BOLT 3 "HTLC-Timeout and HTLC-Success Transactions": version 2, locktime cltv_expiry (timeout)
 * or 0 (success), sequence 0 (1 with anchors), one output paying the HTLC amount minus the
 * second-stage fee to the to_local-shaped script. Throws AmountError if the output cannot pay
 * that fee (never for an untrimmed HTLC of a commitment built from the same spec).
 */
HtlcTx BuildHtlcTx(const CommitmentTx& commitment, const Hash256& commitment_txid, size_t output_index,
                   const CommitmentSpec& spec, const CommitmentKeys& keys);
//! Every HTLC transaction of the commitment, in commitment output order (the order in which
//! commitment_signed carries htlc_signatures).
std::vector<HtlcTx> BuildHtlcTxs(const CommitmentTx& commitment, const CommitmentSpec& spec, const CommitmentKeys& keys);

/**
 * Sighash type of the counterparty's signature on an HTLC transaction: BOLT 5 "if option_anchors
 * applies ... SIGHASH_SINGLE|SIGHASH_ANYONECANPAY MUST be used on the HTLC signatures received
 * from the peer"; the holder's own signature always uses SIGHASH_ALL.
 */
constexpr uint8_t CounterpartyHtlcSigHashType(CommitmentFormat format)
{
    return HasAnchors(format) ? SIGHASH_SINGLE | SIGHASH_ANYONECANPAY : SIGHASH_ALL;
}

Hash256 HtlcSigHash(const HtlcTx& htlc_tx, uint8_t sighash_type);
EcdsaSignature SignHtlcTx(const HtlcTx& htlc_tx, const PrivKey& htlc_key, uint8_t sighash_type);
bool VerifyHtlcSignature(const HtlcTx& htlc_tx, const PubKey& htlc_pubkey, const EcdsaSignature& signature,
                         uint8_t sighash_type);

//! Witness `0 <remotehtlcsig> <localhtlcsig> <> <script>`.
void SetHtlcTimeoutWitness(HtlcTx& htlc_tx, const EcdsaSignature& remote_signature, uint8_t remote_sighash_type,
                           const EcdsaSignature& local_signature);
//! Witness `0 <remotehtlcsig> <localhtlcsig> <payment_preimage> <script>`.
void SetHtlcSuccessWitness(HtlcTx& htlc_tx, const EcdsaSignature& remote_signature, uint8_t remote_sighash_type,
                           const EcdsaSignature& local_signature, const Hash256& payment_preimage);

} // namespace sidebolt

#endif
