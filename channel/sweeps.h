#ifndef SIDEBOLT_CHANNEL_SWEEPS_H
#define SIDEBOLT_CHANNEL_SWEEPS_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "primitives/tx.h"
#include "channel/commitment.h"
#include "util/amount.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <span>

namespace sidebolt {

/**
 * Where a sweep pays and at which feerate: the fee is feerate_per_kw times the expected
 * weight (73-byte signatures), so it never falls short of the rate once signed.
 */
struct SweepTarget {
    Bytes script_pubkey;
    uint32_t feerate_per_kw{0};
};

//! Bitcoin Core's dust threshold for an output script at its default 3 sat/vB dust relay fee;
//! zero for OP_RETURN outputs, which are unspendable.
Sat DustThreshold(ByteSpan script_pubkey);

//! Every sweep returns nullopt when the swept amount minus the fee would be dust, and throws
//! AmountError when its inputs add up to more than kMaxMoney (no real outputs do).

/**
 * Spends a to_local-shaped output of the holder's own transactions after the CSV delay: the
 * to_local output of its commitment or the output of its HTLC-timeout/HTLC-success transaction.
 * Input sequence `to_self_delay`, witness `<local_delayedsig> <> <script>`.
 */
std::optional<Transaction> BuildDelayedSweep(const OutPoint& outpoint, Sat amount_sat, const Script& witness_script,
                                             uint16_t to_self_delay, const PrivKey& delayed_key, const SweepTarget& target);

/**
 * Claims our to_remote output on the counterparty's commitment: P2WPKH, or with anchors the
 * CSV-1 P2WSH `<remotepubkey> OP_CHECKSIGVERIFY 1 OP_CSV` (input sequence 1).
 */
std::optional<Transaction> BuildToRemoteSweep(const OutPoint& outpoint, Sat amount_sat, CommitmentFormat format,
                                              const PrivKey& payment_key, const SweepTarget& target);

enum class RevokedOutputKind : uint8_t {
    //! to_local of a revoked commitment: witness `<revocation_sig> 1 <script>`.
    TO_LOCAL,
    //! Output of a revoked commitment's HTLC-timeout/HTLC-success tx: same shape as TO_LOCAL.
    SECOND_STAGE,
    //! HTLC outputs of a revoked commitment: witness `<revocation_sig> <revocationpubkey> <script>`.
    OFFERED_HTLC,
    RECEIVED_HTLC,
};

struct RevokedOutput {
    OutPoint outpoint;
    Sat amount_sat;
    RevokedOutputKind kind{RevokedOutputKind::TO_LOCAL};
    Script witness_script;
};

//! Penalty transaction claiming one or many revoked outputs with the revocation private key.
std::optional<Transaction> BuildPenaltyTx(std::span<const RevokedOutput> outputs, const PrivKey& revocation_key,
                                          const SweepTarget& target);

//! An HTLC output of the counterparty's commitment transaction.
struct RemoteHtlcOutput {
    OutPoint outpoint;
    Sat amount_sat;
    Script witness_script;
    uint32_t cltv_expiry{0};
};

/**
 * Claims an HTLC the counterparty offered us on its commitment (an offered-HTLC output there)
 * with the payment preimage: witness `<remotehtlcsig> <payment_preimage> <script>`, sequence 1
 * under anchors.
 */
std::optional<Transaction> BuildHtlcPreimageClaim(const RemoteHtlcOutput& htlc, CommitmentFormat format,
                                                  const PrivKey& htlc_key, const Hash256& payment_preimage,
                                                  const SweepTarget& target);

/**
 * Reclaims an HTLC we offered, from the counterparty's commitment (a received-HTLC output there)
 * once it expired: locktime cltv_expiry, witness `<remotehtlcsig> <> <script>`.
 */
std::optional<Transaction> BuildHtlcTimeoutClaim(const RemoteHtlcOutput& htlc, CommitmentFormat format,
                                                 const PrivKey& htlc_key, const SweepTarget& target);

//! A P2WPKH wallet output adding fee to a CPFP spend.
struct WalletInput {
    OutPoint outpoint;
    Sat amount_sat;
    PrivKey key;
};

//! Spends our anchor with the funding key (witness `<sig> <script>`) plus wallet inputs, for CPFP.
std::optional<Transaction> BuildAnchorSpend(const OutPoint& anchor, const PrivKey& funding_key,
                                            std::span<const WalletInput> fee_inputs, const SweepTarget& target);

/**
 * CPFP through bitcoind's wallet: the child spending our anchor, unsigned, its output 0 paying
 * the anchor's 330 sat to `script_pubkey`; the wallet adds inputs and change after them.
 */
Transaction UnfundedAnchorSpend(const OutPoint& anchor, ByteSpan script_pubkey);

//! The weight of the anchor input of UnfundedAnchorSpend once signed.
uint32_t AnchorInputWeight(const PubKey& funding_pubkey);

//! The least weight bitcoind's wallet adds to pay a transaction's fee: one taproot input (the
//! smallest, so the fee is never short) and a taproot change output.
inline constexpr uint32_t kWalletFeeWeight = 4 * 41 + 66 + 4 * 43;

//! The weight of a CPFP child spending our anchor to `sweep_script_size` bytes of script, with
//! the segwit marker and the wallet's fee input and change.
uint32_t AnchorChildWeight(const PubKey& funding_pubkey, size_t sweep_script_size);

//! `funded` (UnfundedAnchorSpend with the wallet's inputs and change, signed by the wallet)
//! with the anchor input signed SIGHASH_ALL; nullopt when input 0 is not the anchor.
std::optional<Transaction> SignAnchorInput(Transaction funded, const OutPoint& anchor, const PrivKey& funding_key);

//! Sweeps any anchor 16 blocks after its commitment confirmed: witness `<> <script>`, sequence 16.
std::optional<Transaction> BuildAnchorSweepByAnyone(const OutPoint& anchor, const PubKey& funding_pubkey,
                                                    std::span<const WalletInput> fee_inputs, const SweepTarget& target);

} // namespace sidebolt

#endif
