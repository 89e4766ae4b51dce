#ifndef SIDEBOLT_CHANNEL_OPENING_H
#define SIDEBOLT_CHANNEL_OPENING_H

#include "channel/commitment.h"
#include "channel/setup.h"
#include "channel/signer.h"
#include "channel/state.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "primitives/tx.h"
#include "util/amount.h"
#include "wire/channel_messages.h"
#include "wire/expected.h"
#include "wire/features.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace sidebolt {

/*
 * BOLT 2 channel establishment v1 (open_channel, accept_channel, funding_created,
 * funding_signed, channel_ready), as pure functions from messages and our policy to messages,
 * refusals and finally a ChannelSetup. The node owns everything else: the funding transaction
 * (from bitcoind's wallet), timeouts, limits on pending opens per peer, persistence.
 *
 * Opener:  MakeOpenChannel -> HandleAcceptChannel -> (node builds the funding tx)
 *          -> MakeFundingCreated -> HandleFundingSigned -> OpenedChannel (node broadcasts).
 * Fundee:  HandleOpenChannel -> HandleFundingCreated -> OpenedChannel.
 * Both: MakeChannelState(opened) is the machine's first state; once the funding transaction
 * is deep enough, MakeChannelReady.
 */

//! The features of the connection that shape a channel, each negotiated per BOLT 1.
struct ChannelFeatures {
    bool channel_type{false};
    bool anchors{false};
    bool large_channel{false};
    bool upfront_shutdown_script{false};
    bool shutdown_anysegwit{false};

    static ChannelFeatures Negotiate(const FeatureBits& ours, const FeatureBits& theirs);
};

//! BOLT 2: "MUST set funding_satoshis to less than 2^24 satoshi" unless option_support_large_channel.
inline constexpr Sat kMaxFundingWithoutLargeChannel{(uint64_t{1} << 24) - 1};
//! BOLT 2: "max_accepted_htlcs is greater than 483" MUST fail.
inline constexpr uint16_t kMaxAcceptedHtlcsLimit = 483;
//! BOLT 2: "dust_limit_satoshis is smaller than 354 satoshis" MUST fail (BOLT 3 "Dust Limits").
inline constexpr Sat kMinDustLimit{354};

/**
 * Our settings for channels, named like the daemon's configuration keys. Values we send bind
 * the peer; the `peer_` limits say what we accept from the peer (BOLT 2's MAY/MUST-fail cases).
 */
struct OpenPolicy {
    //! min-channel-size: smaller channels are refused ("funding_satoshis is too small").
    Sat min_channel_size{20'000};
    //! Confirmations we ask for as fundee.
    uint32_t minimum_depth{3};
    //! max-minimum-depth: "if minimum_depth is unreasonably large: MAY fail the channel".
    uint32_t max_minimum_depth{144};
    //! to-self-delay: the CSV delay we impose on the peer's to_local output.
    uint16_t to_self_delay{144};
    //! max-to-self-delay: "to_self_delay is unreasonably large" MUST fail.
    uint16_t max_to_self_delay{2016};
    //! max-accepted-htlcs (never sent above 483).
    uint16_t max_accepted_htlcs{kMaxAcceptedHtlcsLimit};
    //! htlc-minimum-msat: the smallest HTLC we accept.
    Msat htlc_minimum{1};
    //! max-htlc-value-in-flight-msat, clamped to the channel capacity when sent.
    Msat max_htlc_value_in_flight{std::numeric_limits<uint64_t>::max()};
    //! The reserve we require of the peer, in millionths of the funding (1%, as BOLT 2 suggests);
    //! never below either side's dust limit.
    uint32_t channel_reserve_ppm{10'000};
    //! dust-limit-satoshis we send.
    Sat dust_limit{kMinDustLimit};
    //! max-dust-exposure: the node copies it into the machine's ChannelPolicy (same default).
    Msat max_dust_exposure{ChannelPolicy{}.max_dust_htlc_exposure};

    //! "it considers dust_limit_satoshis too large" (dust HTLCs become miner fees).
    Sat max_peer_dust_limit{1'000};
    //! "it considers channel_reserve_satoshis too large", in millionths of the funding.
    uint32_t max_peer_reserve_ppm{100'000};
    //! "it considers htlc_minimum_msat too large".
    Msat max_peer_htlc_minimum{1'000'000};
    //! "it considers max_htlc_value_in_flight_msat too small", in millionths of the capacity.
    uint32_t min_peer_max_htlc_in_flight_ppm{50'000};
    //! "it considers max_accepted_htlcs too small".
    uint16_t min_peer_max_accepted_htlcs{5};

    //! Feerate sanity ("too small for timely processing or unreasonably large"), relative to
    //! our estimate: at least min_feerate_per_kw always; without anchors (no CPFP of the
    //! commitment) at least feerate_min_percent of the estimate; at most
    //! feerate_max_multiple times the estimate.
    uint32_t min_feerate_per_kw{253};
    uint32_t feerate_min_percent{50};
    uint32_t feerate_max_multiple{10};
};

//! Every way an open can be refused; each maps to one BOLT 2 requirement.
enum class OpenRefusalReason : uint8_t {
    kUnknownChain,
    kFundingTooSmall,
    kFundingTooLarge,
    kPushTooLarge,
    kToSelfDelayTooLarge,
    kMaxAcceptedHtlcsTooLarge,
    kMaxAcceptedHtlcsTooSmall,
    kFeerateTooLow,
    kFeerateTooHigh,
    kDustLimitTooSmall,
    kDustLimitTooLarge,
    kDustLimitAboveReserve,
    kReserveBelowDustLimit,
    kReserveTooLarge,
    kHtlcMinimumTooLarge,
    kMaxHtlcInFlightTooSmall,
    kCannotPayFee,
    kNoOutputAboveReserve,
    kChannelTypeMissing,
    kChannelTypeUnsupported,
    kChannelTypeMismatch,
    kInvalidUpfrontShutdownScript,
    kTemporaryChannelIdMismatch,
    kMinimumDepthTooLarge,
    kChannelIdMismatch,
    kBadSignature,
};

//! A refusal: send `message` in an `error` for the (temporary) channel id and forget the open.
struct OpenRefusal {
    OpenRefusalReason reason;
    std::string message;
};

template <typename T>
using OpenResult = Expected<T, OpenRefusal>;

//! BOLT 2: "exclusive-OR of the funding_txid and the funding_output_index" (big-endian: the
//! index alters the last 2 bytes of the txid in its wire byte order).
Hash256 ComputeChannelId(const Hash256& funding_txid, uint16_t funding_output_index);

//! The format of a channel_type; nullopt for types we do not support (scid_alias, zeroconf).
std::optional<CommitmentFormat> FormatOfChannelType(const ChannelType& type);

//! What we ask for as opener, beyond the policy.
struct OpenRequest {
    Hash256 chain_hash{};
    //! Random, unique among our channels with this peer.
    Hash256 temporary_channel_id{};
    Sat funding{0};
    Msat push{0};
    uint32_t feerate_per_kw{0};
    bool announce{false};
    //! option_upfront_shutdown_script: where a mutual close must pay us.
    std::optional<Script> upfront_shutdown_script;
};

/**
 * open_channel, after checking our own request against the rules the peer will apply (so a
 * user asking for an impossible channel hears why before anything is sent). Prefers
 * option_anchors, else option_static_remotekey.
 */
OpenResult<OpenChannelMessage> MakeOpenChannel(const OpenRequest& request, const OpenPolicy& policy,
                                               const ChannelFeatures& features, const ChannelSigner& signer);

//! open_channel and accept_channel agreed: the setup lacks only the funding outpoint and channel_id.
struct PendingChannel {
    Hash256 temporary_channel_id{};
    ChannelSetup setup;
};

//! Opener: validates accept_channel against what we sent.
OpenResult<PendingChannel> HandleAcceptChannel(const OpenChannelMessage& sent, const AcceptChannelMessage& accept,
                                               const OpenPolicy& policy, const ChannelFeatures& features);

/**
 * Opener: once the node has built (not broadcast) the funding transaction paying
 * `pending.setup.params.funding_sat` to FundingScript at `funding_outpoint`, records the
 * outpoint and channel_id in `pending` and signs the peer's commitment 0. Throws
 * std::invalid_argument for an output index above 65535 (the node's bug: BOLT 2 carries u16).
 */
FundingCreatedMessage MakeFundingCreated(PendingChannel& pending, const OutPoint& funding_outpoint,
                                         const ChannelSigner& signer);

//! A channel whose commitment 0 both sides signed.
struct OpenedChannel {
    ChannelSetup setup;
    //! The peer's signature on our commitment 0: with ours, it makes that transaction broadcastable.
    EcdsaSignature remote_commitment_signature;
};

//! The machine's starting state (channel/state.h), with the peer's signature on our commitment 0.
ChannelState MakeChannelState(const OpenedChannel& opened);

//! Opener: verifies the peer's signature on our commitment 0. On success BOLT 2 says the node
//! "SHOULD broadcast the funding transaction" (and "MUST NOT" before).
OpenResult<OpenedChannel> HandleFundingSigned(const PendingChannel& pending, const FundingSignedMessage& message,
                                              const ChannelSigner& signer);

//! What the fundee needs beyond the policy.
struct FundeeContext {
    //! The chain we run on; open_channel for any other is refused.
    Hash256 chain_hash{};
    //! Our current commitment feerate estimate, for the feerate sanity bounds.
    uint32_t feerate_estimate_per_kw{0};
    std::optional<Script> upfront_shutdown_script;
};

struct AcceptedOpen {
    AcceptChannelMessage message;
    PendingChannel pending;
};

//! Fundee: checks every BOLT 2 requirement on a received open_channel, then answers it.
OpenResult<AcceptedOpen> HandleOpenChannel(const OpenChannelMessage& open, const OpenPolicy& policy,
                                           const ChannelFeatures& features, const FundeeContext& context,
                                           const ChannelSigner& signer);

struct FundingSignedReply {
    FundingSignedMessage message;
    OpenedChannel channel;
};

//! Fundee: verifies the opener's signature on our commitment 0 and signs theirs.
OpenResult<FundingSignedReply> HandleFundingCreated(const PendingChannel& pending, const FundingCreatedMessage& message,
                                                    const ChannelSigner& signer);

//! channel_ready: "MUST set second_per_commitment_point to the per-commitment point to be
//! used for commitment transaction #1".
ChannelReadyMessage MakeChannelReady(const Hash256& channel_id, const ChannelSigner& signer);

} // namespace sidebolt

#endif
