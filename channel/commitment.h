#ifndef SIDEBOLT_CHANNEL_COMMITMENT_H
#define SIDEBOLT_CHANNEL_COMMITMENT_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "primitives/tx.h"
#include "channel/keys.h"
#include "util/amount.h"

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace sidebolt {

//! A spec whose commitment transaction cannot be valid: balances and HTLCs adding up to more than
//! the funding amount, more value out than the funding output holds (the opener cannot pay for
//! the anchors), more HTLCs than BOLT 2 allows, or no output at all. BOLT 2's balance, fee and
//! reserve rules keep a channel from ever reaching such a state.
class CommitmentError : public std::invalid_argument
{
public:
    using std::invalid_argument::invalid_argument;
};

//! The commitment transaction formats of BOLT 3.
enum class CommitmentFormat : uint8_t {
    //! remotepubkey rotates per commitment; to_remote is P2WPKH.
    LEGACY,
    //! option_static_remotekey: remotepubkey is the peer's payment_basepoint.
    STATIC_REMOTEKEY,
    //! option_anchor_outputs (superseded): anchors, but HTLC transactions still pay fees.
    ANCHOR_OUTPUTS,
    //! option_anchors (zero-fee HTLC transactions): the default for new channels.
    ANCHORS,
};

constexpr bool HasAnchors(CommitmentFormat format)
{
    return format == CommitmentFormat::ANCHOR_OUTPUTS || format == CommitmentFormat::ANCHORS;
}
constexpr bool HasStaticRemoteKey(CommitmentFormat format) { return format != CommitmentFormat::LEGACY; }
constexpr bool HasZeroFeeHtlcTx(CommitmentFormat format) { return format == CommitmentFormat::ANCHORS; }

//! BOLT 2: each side's max_accepted_htlcs "MUST be less than or equal to 483", so a commitment
//! carries at most twice that. The bound also keeps every fee far below the int64_t range.
inline constexpr size_t MAX_COMMITMENT_HTLCS = 2 * 483;

//! Direction of an HTLC as seen by the holder of the commitment transaction.
enum class HtlcDirection : uint8_t { OFFERED, RECEIVED };

struct Htlc {
    HtlcDirection direction{HtlcDirection::OFFERED};
    Msat amount_msat;
    Hash256 payment_hash{};
    uint32_t cltv_expiry{0};

    bool operator==(const Htlc&) const = default;
};

/**
 * Everything that determines one commitment transaction, from the point of view of its holder
 * (the side that can broadcast it; BOLT 3's "local"). Amounts are the balances before the fee
 * and anchors are taken from the opener, with in-flight HTLCs already excluded.
 */
struct CommitmentSpec {
    CommitmentFormat format{CommitmentFormat::ANCHORS};
    OutPoint funding_outpoint;
    Sat funding_sat;
    PubKey holder_funding_pubkey;
    PubKey counterparty_funding_pubkey;
    Basepoints holder;
    Basepoints counterparty;
    bool holder_is_opener{false};
    //! CSV delay on the holder's to_local and second-stage outputs (set by the counterparty).
    uint16_t to_self_delay{0};
    //! The holder's dust_limit_satoshis.
    Sat dust_limit_sat;
    uint32_t feerate_per_kw{0};
    uint64_t commitment_number{0};
    //! The holder's per_commitment_point for this commitment number.
    PubKey per_commitment_point;
    //! to_local + to_remote + every HTLC amount is at most the funding amount (BOLT 2 keeps it equal).
    Msat to_local_msat;
    Msat to_remote_msat;
    std::vector<Htlc> htlcs;
};

//! The keys appearing in one commitment transaction's scripts (BOLT 3 "Key Derivation").
struct CommitmentKeys {
    PubKey revocation;
    PubKey local_delayed;
    //! nullopt only when derived with HtlcKeys::IF_UNTRIMMED for a commitment without HTLC
    //! outputs: no script of it (nor any HTLC transaction) uses them.
    std::optional<PubKey> local_htlc;
    std::optional<PubKey> remote_htlc;
    //! remotepubkey, which receives to_remote.
    PubKey remote_payment;
    PubKey local_funding;
    PubKey remote_funding;

    bool operator==(const CommitmentKeys&) const = default;
};

//! Whether DeriveCommitmentKeys derives the two htlc keys always or only when an HTLC of the
//! spec is untrimmed (each is an EC multiplication, wasted on a commitment without HTLC outputs).
enum class HtlcKeys : uint8_t { ALWAYS, IF_UNTRIMMED };

//! Derives every key of the commitment from the basepoints and the per_commitment_point.
CommitmentKeys DeriveCommitmentKeys(const CommitmentSpec& spec, HtlcKeys htlc_keys = HtlcKeys::ALWAYS);
//! The same with the revocationpubkey already derived (by a party knowing one of its secrets).
CommitmentKeys DeriveCommitmentKeys(const CommitmentSpec& spec, HtlcKeys htlc_keys, const PubKey& revocation);

//! Fee of the holder's HTLC-timeout/HTLC-success transactions (zero with zero-fee HTLC txs).
Sat HtlcTimeoutFee(CommitmentFormat format, uint32_t feerate_per_kw);
Sat HtlcSuccessFee(CommitmentFormat format, uint32_t feerate_per_kw);
//! BOLT 3 "Trimmed Outputs": the HTLC amount minus its second-stage fee is below the dust limit
//! (an amount below the fee is trimmed; any dust limit, however large, compares without wrapping).
bool IsTrimmed(const Htlc& htlc, CommitmentFormat format, uint32_t feerate_per_kw, Sat dust_limit_sat);
//! Base commitment fee for the given number of untrimmed HTLCs (AmountError past 2^64 sat).
Sat CommitmentFee(CommitmentFormat format, uint32_t feerate_per_kw, size_t untrimmed_htlcs);
//! Whether the commitment of `spec` has an HTLC output (an HTLC that IsTrimmed keeps).
bool HasUntrimmedHtlc(const CommitmentSpec& spec);
//! Lower 48 bits of SHA256(opener payment_basepoint || acceptor payment_basepoint).
uint64_t CommitmentNumberObscurer(const PubKey& opener_payment_basepoint, const PubKey& acceptor_payment_basepoint);
//! The obscured commitment number a commitment's locktime (upper 8 bits 0x20) and input sequence
//! (upper 8 bits 0x80) carry, 24 bits each; nullopt when either marker is missing.
std::optional<uint64_t> ObscuredCommitmentNumber(uint32_t locktime, uint32_t sequence);

enum class CommitmentOutputKind : uint8_t { TO_LOCAL, TO_REMOTE, LOCAL_ANCHOR, REMOTE_ANCHOR, OFFERED_HTLC, RECEIVED_HTLC };

//! What one output of a commitment transaction is.
struct CommitmentOutput {
    CommitmentOutputKind kind{CommitmentOutputKind::TO_LOCAL};
    //! Index into CommitmentSpec::htlcs for HTLC outputs.
    std::optional<size_t> htlc_index;
    //! The P2WSH witness script; empty for a P2WPKH to_remote.
    Script witness_script;
};

struct CommitmentTx {
    //! Unsigned: the funding input's witness is empty.
    Transaction tx;
    //! outputs[i] describes tx.vout[i].
    std::vector<CommitmentOutput> outputs;
    Script funding_script;
    //! The base fee of BOLT 3's formula (before trimmed amounts and rounding add to it).
    Sat base_fee_sat;
    /**
     * The opener's balance minus the base fee and both anchors, before flooring at zero: the one
     * signed amount, as it may be negative. Negative means the opener cannot pay: BOLT 2 forbids
     * such states, BOLT 3 floors the output at zero.
     */
    int64_t opener_balance_after_fee_sat{0};
    //! Indices into CommitmentSpec::htlcs of the trimmed HTLCs.
    std::vector<size_t> trimmed_htlcs;

    //! Output index of the given HTLC, nullopt when it was trimmed.
    std::optional<size_t> OutputOfHtlc(size_t htlc_index) const;
};

/**
 * Builds the unsigned commitment transaction (BOLT 3 "Commitment Transaction Construction"),
 * outputs in BIP69 order with the cltv_expiry tie-break. The keys variant lets callers supply
 * keys that were derived (or given, as in the test vectors) elsewhere. Throws CommitmentError
 * for a spec that cannot give a valid transaction, including a funding amount above kMaxMoney
 * and balances plus HTLCs exceeding the funding amount (checked in msat, before trimming).
 */
CommitmentTx BuildCommitmentTx(const CommitmentSpec& spec, const CommitmentKeys& keys);
CommitmentTx BuildCommitmentTx(const CommitmentSpec& spec);

enum class Side : uint8_t { LOCAL, REMOTE };
constexpr Side Other(Side side) { return side == Side::LOCAL ? Side::REMOTE : Side::LOCAL; }

//! One party's channel parameters from open_channel/accept_channel.
struct PartyParams {
    PubKey funding_pubkey;
    Basepoints basepoints;
    Sat dust_limit_sat;
    //! The delay this party imposes on the *other* party's to_local output.
    uint16_t to_self_delay{0};
};

//! Both parties' parameters as known by the local node.
struct ChannelParams {
    CommitmentFormat format{CommitmentFormat::ANCHORS};
    OutPoint funding_outpoint;
    Sat funding_sat;
    PartyParams local;
    PartyParams remote;
    Side opener{Side::LOCAL};
};

/**
 * The spec of `holder`'s commitment from the local node's state: balances and HTLC directions
 * are given from the local point of view and mirrored when the holder is the remote side.
 */
CommitmentSpec MakeCommitmentSpec(const ChannelParams& params, Side holder, uint64_t commitment_number,
                                  const PubKey& holder_per_commitment_point, uint32_t feerate_per_kw,
                                  Msat local_msat, Msat remote_msat, std::span<const Htlc> local_htlcs);

} // namespace sidebolt

#endif
