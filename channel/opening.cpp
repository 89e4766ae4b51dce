#include "channel/opening.h"

#include "channel/close.h"
#include "channel/funding.h"
#include "channel/scripts.h"
#include "channel/state.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace sidebolt {
namespace {

constexpr uint16_t kMaxFundingOutputIndex = 0xFFFF;

OpenRefusal Refuse(OpenRefusalReason reason, std::string message) { return OpenRefusal{reason, std::move(message)}; }

//! amount * ppm / 1e6, split so that no real amount overflows (AmountError for absurd ones).
template <typename Amount>
Amount PartsPerMillion(Amount amount, uint32_t ppm)
{
    constexpr uint64_t kMillion = 1'000'000;
    const uint64_t whole = amount.value() / kMillion;
    const uint64_t rest = amount.value() % kMillion;
    return Amount{whole} * ppm + Amount{rest * ppm / kMillion};
}

//! The fields open_channel and accept_channel share, as one side announced them.
struct AnnouncedParams {
    Sat dust_limit;
    Msat max_htlc_value_in_flight;
    Sat channel_reserve;
    Msat htlc_minimum;
    uint16_t to_self_delay;
    uint16_t max_accepted_htlcs;
    std::optional<Bytes> upfront_shutdown_script;
};

AnnouncedParams Announced(const OpenChannelMessage& m)
{
    return {m.dust_limit_satoshis,
            m.max_htlc_value_in_flight_msat,
            m.channel_reserve_satoshis,
            m.htlc_minimum_msat,
            m.to_self_delay,
            m.max_accepted_htlcs,
            m.upfront_shutdown_script};
}
AnnouncedParams Announced(const AcceptChannelMessage& m)
{
    return {m.dust_limit_satoshis,
            m.max_htlc_value_in_flight_msat,
            m.channel_reserve_satoshis,
            m.htlc_minimum_msat,
            m.to_self_delay,
            m.max_accepted_htlcs,
            m.upfront_shutdown_script};
}

/**
 * The requirements open_channel and accept_channel share ("Other fields have the same
 * requirements as their counterparts in open_channel"), checked on the peer's values.
 */
std::optional<OpenRefusal> CheckPeerParams(const AnnouncedParams& peer, Sat funding, const OpenPolicy& policy,
                                           const ChannelFeatures& features)
{
    using R = OpenRefusalReason;
    if (peer.to_self_delay > policy.max_to_self_delay) {
        return Refuse(R::kToSelfDelayTooLarge, "to_self_delay " + std::to_string(peer.to_self_delay) +
                                                   " is above our maximum " + std::to_string(policy.max_to_self_delay));
    }
    if (peer.max_accepted_htlcs > kMaxAcceptedHtlcsLimit) {
        return Refuse(R::kMaxAcceptedHtlcsTooLarge,
                      "max_accepted_htlcs " + std::to_string(peer.max_accepted_htlcs) + " is greater than 483");
    }
    if (peer.max_accepted_htlcs < policy.min_peer_max_accepted_htlcs) {
        return Refuse(R::kMaxAcceptedHtlcsTooSmall, "max_accepted_htlcs " + std::to_string(peer.max_accepted_htlcs) +
                                                        " is below our minimum " +
                                                        std::to_string(policy.min_peer_max_accepted_htlcs));
    }
    if (peer.dust_limit < kMinDustLimit) {
        return Refuse(R::kDustLimitTooSmall, "dust_limit_satoshis " + peer.dust_limit.ToString() + " is below 354sat");
    }
    if (peer.dust_limit > policy.max_peer_dust_limit) {
        return Refuse(R::kDustLimitTooLarge, "dust_limit_satoshis " + peer.dust_limit.ToString() +
                                                 " is above our maximum " + policy.max_peer_dust_limit.ToString());
    }
    if (peer.dust_limit > peer.channel_reserve) {
        return Refuse(R::kDustLimitAboveReserve, "dust_limit_satoshis " + peer.dust_limit.ToString() +
                                                     " is greater than channel_reserve_satoshis " +
                                                     peer.channel_reserve.ToString());
    }
    if (peer.channel_reserve > PartsPerMillion(funding, policy.max_peer_reserve_ppm)) {
        return Refuse(R::kReserveTooLarge, "channel_reserve_satoshis " + peer.channel_reserve.ToString() +
                                               " is too large for a " + funding.ToString() + " channel");
    }
    if (peer.htlc_minimum > policy.max_peer_htlc_minimum) {
        return Refuse(R::kHtlcMinimumTooLarge, "htlc_minimum_msat " + peer.htlc_minimum.ToString() +
                                                   " is above our maximum " + policy.max_peer_htlc_minimum.ToString());
    }
    if (peer.max_htlc_value_in_flight < PartsPerMillion(ToMsat(funding), policy.min_peer_max_htlc_in_flight_ppm)) {
        return Refuse(R::kMaxHtlcInFlightTooSmall,
                      "max_htlc_value_in_flight_msat " + peer.max_htlc_value_in_flight.ToString() + " is too small");
    }
    // "if both nodes advertised the option_upfront_shutdown_script feature: MUST include either a
    // valid shutdown_scriptpubkey as required by shutdown scriptpubkey, or a zero-length
    // shutdown_scriptpubkey"; otherwise the script binds nothing and is ignored.
    if (features.upfront_shutdown_script && peer.upfront_shutdown_script && !peer.upfront_shutdown_script->empty() &&
        !IsValidShutdownScript(*peer.upfront_shutdown_script, features.shutdown_anysegwit)) {
        return Refuse(R::kInvalidUpfrontShutdownScript, "upfront shutdown_scriptpubkey is not a valid shutdown script");
    }
    return std::nullopt;
}

std::optional<OpenRefusal> CheckFundingAmount(Sat funding, Msat push, const OpenPolicy& policy,
                                              const ChannelFeatures& features)
{
    using R = OpenRefusalReason;
    if (funding < policy.min_channel_size) {
        return Refuse(R::kFundingTooSmall, "funding_satoshis " + funding.ToString() + " is below our minimum " +
                                               policy.min_channel_size.ToString());
    }
    // "funding_satoshis is greater than or equal to 2^24 and the receiver does not support
    // option_support_large_channel"; nothing real exceeds 21M BTC.
    const Sat max_funding = features.large_channel ? kMaxMoney : kMaxFundingWithoutLargeChannel;
    if (funding > max_funding) {
        return Refuse(R::kFundingTooLarge,
                      "funding_satoshis " + funding.ToString() + " is above " + max_funding.ToString());
    }
    if (push > ToMsat(funding)) {
        return Refuse(R::kPushTooLarge, "push_msat " + push.ToString() + " is greater than funding_satoshis * 1000");
    }
    return std::nullopt;
}

std::optional<OpenRefusal> CheckFeerate(uint32_t feerate, uint32_t estimate, CommitmentFormat format,
                                        const OpenPolicy& policy)
{
    using R = OpenRefusalReason;
    // Anchors let the commitment be fee-bumped by CPFP, so only the relay floor matters then.
    const uint64_t relative_floor = HasAnchors(format) ? 0 : uint64_t{estimate} * policy.feerate_min_percent / 100;
    const uint64_t floor = std::max<uint64_t>(policy.min_feerate_per_kw, relative_floor);
    const uint64_t ceiling = std::max<uint64_t>(floor, uint64_t{estimate} * policy.feerate_max_multiple);
    if (feerate < floor) {
        return Refuse(R::kFeerateTooLow,
                      "feerate_per_kw " + std::to_string(feerate) + " is below our minimum " + std::to_string(floor));
    }
    if (feerate > ceiling) {
        return Refuse(R::kFeerateTooHigh,
                      "feerate_per_kw " + std::to_string(feerate) + " is above our maximum " + std::to_string(ceiling));
    }
    return std::nullopt;
}

/**
 * "the funder's amount for the initial commitment transaction is not sufficient for full fee
 * payment" and "both to_local and to_remote amounts for the initial commitment transaction
 * are less than or equal to channel_reserve_satoshis".
 */
std::optional<OpenRefusal> CheckInitialBalances(Sat funding, Msat push, uint32_t feerate, CommitmentFormat format,
                                                Sat opener_reserve, Sat fundee_reserve)
{
    using R = OpenRefusalReason;
    const Sat anchors = HasAnchors(format) ? ANCHOR_OUTPUT_SAT * 2 : Sat{0};
    const Sat fee = CommitmentFee(format, feerate, 0) + anchors;
    const auto opener_msat = Msat::CheckedSub(ToMsat(funding), push);
    const auto after_fee = opener_msat ? Msat::CheckedSub(*opener_msat, ToMsat(fee)) : std::nullopt;
    if (!after_fee) {
        return Refuse(R::kCannotPayFee, "the opener's " + (opener_msat ? opener_msat->ToString() : "balance") +
                                            " cannot pay the commitment fee " + fee.ToString());
    }
    if (ToSatFloor(*after_fee) <= opener_reserve && ToSatFloor(push) <= fundee_reserve) {
        return Refuse(R::kNoOutputAboveReserve, "neither side's initial balance is above its channel reserve");
    }
    return std::nullopt;
}

//! BOLT 2 "Defined Channel Types": the type to send as opener; anchors when the peer offers them.
ChannelType PreferredChannelType(const ChannelFeatures& features) { return ChannelType{.anchors = features.anchors}; }

//! Without channel_type: "if option_anchors was negotiated: ... option_anchors and
//! option_static_remotekey ... otherwise: option_static_remotekey".
CommitmentFormat DefaultFormat(const ChannelFeatures& features)
{
    return features.anchors ? CommitmentFormat::ANCHORS : CommitmentFormat::STATIC_REMOTEKEY;
}

//! The format an open_channel asks for (fundee side), or why we refuse it.
OpenResult<CommitmentFormat> NegotiateFormat(const OpenChannelMessage& open, const ChannelFeatures& features)
{
    using R = OpenRefusalReason;
    if (!open.channel_type) {
        // "option_channel_type was negotiated but the message doesn't include a channel_type": MAY fail.
        if (features.channel_type) return Refuse(R::kChannelTypeMissing, "open_channel has no channel_type");
        return DefaultFormat(features);
    }
    const auto type = ChannelType::FromFeatureBits(*open.channel_type);
    const auto format = type ? FormatOfChannelType(*type) : std::nullopt;
    if (!format) {
        return Refuse(R::kChannelTypeUnsupported,
                      "channel_type " + DescribeFeatures(*open.channel_type) + " is not one we support");
    }
    return *format;
}

std::optional<Script> NonEmptyScript(const std::optional<Bytes>& script)
{
    if (!script || script->empty()) return std::nullopt;
    return Script{*script};
}

Sat OurReserve(Sat funding, const OpenPolicy& policy, Sat peer_dust_limit)
{
    // "MUST set channel_reserve_satoshis greater than or equal to dust_limit_satoshis" (ours and,
    // for accept_channel, "from the open_channel message").
    return std::max({PartsPerMillion(funding, policy.channel_reserve_ppm), policy.dust_limit, peer_dust_limit});
}

Msat OurMaxInFlight(Sat funding, const OpenPolicy& policy)
{
    return std::min(policy.max_htlc_value_in_flight, ToMsat(funding));
}

uint16_t OurMaxAcceptedHtlcs(const OpenPolicy& policy)
{
    return std::min(policy.max_accepted_htlcs, kMaxAcceptedHtlcsLimit);
}

Basepoints BasepointsOf(const OpenChannelMessage& m)
{
    return {m.revocation_basepoint, m.payment_basepoint, m.delayed_payment_basepoint, m.htlc_basepoint};
}
Basepoints BasepointsOf(const AcceptChannelMessage& m)
{
    return {m.revocation_basepoint, m.payment_basepoint, m.delayed_payment_basepoint, m.htlc_basepoint};
}

HtlcLimits LimitsOf(const AnnouncedParams& p)
{
    return {p.max_htlc_value_in_flight, p.channel_reserve, p.htlc_minimum, p.max_accepted_htlcs};
}

//! The setup both sides agree on once open_channel and accept_channel are known.
ChannelSetup MakeSetup(const OpenChannelMessage& open, const AcceptChannelMessage& accept, CommitmentFormat format,
                       Side opener_side, const ChannelFeatures& features)
{
    const bool local_opens = opener_side == Side::LOCAL;
    // Shutdown must match the peer's upfront script only "if both nodes advertised the
    // option_upfront_shutdown_script feature"; ours binds us whenever we sent one.
    const std::optional<Bytes> remote_upfront =
        local_opens ? accept.upfront_shutdown_script : open.upfront_shutdown_script;
    const AnnouncedParams opener = Announced(open);
    const AnnouncedParams fundee = Announced(accept);
    const PartyParams opener_party{open.funding_pubkey, BasepointsOf(open), open.dust_limit_satoshis,
                                   open.to_self_delay};
    const PartyParams fundee_party{accept.funding_pubkey, BasepointsOf(accept), accept.dust_limit_satoshis,
                                   accept.to_self_delay};
    const Msat opener_balance = ToMsat(open.funding_satoshis) - open.push_msat;
    return ChannelSetup{
        .channel_id = {},
        .params = ChannelParams{.format = format,
                                .funding_outpoint = {},
                                .funding_sat = open.funding_satoshis,
                                .local = local_opens ? opener_party : fundee_party,
                                .remote = local_opens ? fundee_party : opener_party,
                                .opener = local_opens ? Side::LOCAL : Side::REMOTE},
        .local_limits = LimitsOf(local_opens ? opener : fundee),
        .remote_limits = LimitsOf(local_opens ? fundee : opener),
        .initial_local_balance = local_opens ? opener_balance : open.push_msat,
        .initial_remote_balance = local_opens ? open.push_msat : opener_balance,
        .initial_feerate_per_kw = open.feerate_per_kw,
        .remote_first_per_commitment_point =
            local_opens ? accept.first_per_commitment_point : open.first_per_commitment_point,
        .local_upfront_shutdown_script =
            NonEmptyScript(local_opens ? open.upfront_shutdown_script : accept.upfront_shutdown_script),
        .remote_upfront_shutdown_script =
            features.upfront_shutdown_script ? NonEmptyScript(remote_upfront) : std::nullopt,
        .minimum_depth = accept.minimum_depth,
        .announce = (open.channel_flags & OpenChannelMessage::kAnnounceChannelFlag) != 0,
    };
}

void SetFundingOutpoint(ChannelSetup& setup, const OutPoint& outpoint)
{
    setup.params.funding_outpoint = outpoint;
    setup.channel_id = ComputeChannelId(outpoint.txid, static_cast<uint16_t>(outpoint.n));
}

//! Commitment 0 is built by the state machine's own code, so both always agree on it.
EcdsaSignature SignRemoteCommitmentZero(const ChannelSetup& setup, const ChannelSigner& signer)
{
    return SignRemoteCommitment(MakeInitialChannelState(setup), signer);
}

//! BOLT 2: "if signature is incorrect OR non-compliant with LOW-S-standard rule": libsecp256k1's
//! verification rejects high-S signatures, so one check covers both.
bool VerifyLocalCommitmentZero(const ChannelSetup& setup, const ChannelSigner& signer, const EcdsaSignature& signature)
{
    return VerifyLocalCommitmentSig(MakeInitialChannelState(setup), signer, signature);
}

OpenRefusal BadSignature(std::string_view message_name)
{
    return Refuse(OpenRefusalReason::kBadSignature,
                  std::string(message_name) + " signature does not verify on our commitment transaction 0");
}

} // namespace

ChannelFeatures ChannelFeatures::Negotiate(const FeatureBits& ours, const FeatureBits& theirs)
{
    return ChannelFeatures{
        .channel_type = IsNegotiated(ours, theirs, Feature::kChannelType),
        .anchors = IsNegotiated(ours, theirs, Feature::kAnchors),
        .large_channel = IsNegotiated(ours, theirs, Feature::kSupportLargeChannel),
        .upfront_shutdown_script = IsNegotiated(ours, theirs, Feature::kUpfrontShutdownScript),
        .shutdown_anysegwit = IsNegotiated(ours, theirs, Feature::kShutdownAnySegwit),
    };
}

Hash256 ComputeChannelId(const Hash256& funding_txid, uint16_t funding_output_index)
{
    Hash256 id = funding_txid;
    id[30] ^= static_cast<uint8_t>(funding_output_index >> 8);
    id[31] ^= static_cast<uint8_t>(funding_output_index & 0xFF);
    return id;
}

std::optional<CommitmentFormat> FormatOfChannelType(const ChannelType& type)
{
    // We have no aliases to give out and never trust an unconfirmed funding transaction.
    if (type.scid_alias || type.zeroconf) return std::nullopt;
    return type.anchors ? CommitmentFormat::ANCHORS : CommitmentFormat::STATIC_REMOTEKEY;
}

ChannelState MakeChannelState(const OpenedChannel& opened)
{
    ChannelState state = MakeInitialChannelState(opened.setup);
    state.local_commitment_signature = opened.remote_commitment_signature;
    return state;
}

OpenResult<OpenChannelMessage> MakeOpenChannel(const OpenRequest& request, const OpenPolicy& policy,
                                               const ChannelFeatures& features, const ChannelSigner& signer)
{
    if (auto refusal = CheckFundingAmount(request.funding, request.push, policy, features)) return *refusal;
    if (request.feerate_per_kw < policy.min_feerate_per_kw) {
        return Refuse(OpenRefusalReason::kFeerateTooLow,
                      "feerate_per_kw " + std::to_string(request.feerate_per_kw) + " is below the relay floor");
    }
    const Sat reserve = OurReserve(request.funding, policy, Sat{0});
    const std::optional<ChannelType> type =
        features.channel_type ? std::optional{PreferredChannelType(features)} : std::nullopt;
    const CommitmentFormat format = type ? *FormatOfChannelType(*type) : DefaultFormat(features);
    // The fundee's reserve is not known yet: ours stands in for it, so that a channel whose only
    // output would be below any sensible reserve is refused here rather than by the peer.
    if (auto refusal =
            CheckInitialBalances(request.funding, request.push, request.feerate_per_kw, format, reserve, reserve)) {
        return *refusal;
    }
    if (request.upfront_shutdown_script &&
        !IsValidShutdownScript(request.upfront_shutdown_script->span(), features.shutdown_anysegwit)) {
        return Refuse(OpenRefusalReason::kInvalidUpfrontShutdownScript, "our upfront shutdown script is not valid");
    }
    const Basepoints basepoints = signer.GetBasepoints();
    return OpenChannelMessage{
        .chain_hash = request.chain_hash,
        .temporary_channel_id = request.temporary_channel_id,
        .funding_satoshis = request.funding,
        .push_msat = request.push,
        .dust_limit_satoshis = policy.dust_limit,
        .max_htlc_value_in_flight_msat = OurMaxInFlight(request.funding, policy),
        .channel_reserve_satoshis = reserve,
        .htlc_minimum_msat = policy.htlc_minimum,
        .feerate_per_kw = request.feerate_per_kw,
        .to_self_delay = policy.to_self_delay,
        .max_accepted_htlcs = OurMaxAcceptedHtlcs(policy),
        .funding_pubkey = signer.FundingPubKey(),
        .revocation_basepoint = basepoints.revocation,
        .payment_basepoint = basepoints.payment,
        .delayed_payment_basepoint = basepoints.delayed_payment,
        .htlc_basepoint = basepoints.htlc,
        .first_per_commitment_point = signer.PerCommitmentPoint(0),
        .channel_flags = request.announce ? OpenChannelMessage::kAnnounceChannelFlag : uint8_t{0},
        // "if it includes open_channel_tlvs: MUST include upfront_shutdown_script" (empty: none).
        .upfront_shutdown_script = request.upfront_shutdown_script ? request.upfront_shutdown_script->Data() : Bytes{},
        .channel_type = type ? std::optional{type->ToFeatureBits()} : std::nullopt,
        .extension = {},
    };
}

OpenResult<PendingChannel> HandleAcceptChannel(const OpenChannelMessage& sent, const AcceptChannelMessage& accept,
                                               const OpenPolicy& policy, const ChannelFeatures& features)
{
    using R = OpenRefusalReason;
    if (accept.temporary_channel_id != sent.temporary_channel_id) {
        return Refuse(R::kTemporaryChannelIdMismatch, "accept_channel is for another temporary_channel_id");
    }
    // "if channel_type is set, and channel_type was set in open_channel, and they are not equal
    // types: MUST fail"; a type we did not propose is no better.
    if (accept.channel_type && accept.channel_type != sent.channel_type) {
        return Refuse(R::kChannelTypeMismatch, "accept_channel's channel_type differs from the one we sent");
    }
    if (!accept.channel_type && sent.channel_type) {
        return Refuse(R::kChannelTypeMissing, "accept_channel has no channel_type");
    }
    if (accept.minimum_depth > policy.max_minimum_depth) {
        return Refuse(R::kMinimumDepthTooLarge, "minimum_depth " + std::to_string(accept.minimum_depth) +
                                                    " is above our maximum " +
                                                    std::to_string(policy.max_minimum_depth));
    }
    // "if channel_reserve_satoshis is less than dust_limit_satoshis within the open_channel
    // message" and "if channel_reserve_satoshis from the open_channel message is less than
    // dust_limit_satoshis": MUST fail.
    if (accept.channel_reserve_satoshis < sent.dust_limit_satoshis ||
        sent.channel_reserve_satoshis < accept.dust_limit_satoshis) {
        return Refuse(R::kReserveBelowDustLimit, "a channel reserve is below the other side's dust limit");
    }
    if (auto refusal = CheckPeerParams(Announced(accept), sent.funding_satoshis, policy, features)) return *refusal;
    const auto type = sent.channel_type ? ChannelType::FromFeatureBits(*sent.channel_type) : std::nullopt;
    const CommitmentFormat format = type ? *FormatOfChannelType(*type) : DefaultFormat(features);
    if (auto refusal = CheckInitialBalances(sent.funding_satoshis, sent.push_msat, sent.feerate_per_kw, format,
                                            accept.channel_reserve_satoshis, sent.channel_reserve_satoshis)) {
        return *refusal;
    }
    return PendingChannel{sent.temporary_channel_id, MakeSetup(sent, accept, format, Side::LOCAL, features)};
}

FundingCreatedMessage MakeFundingCreated(PendingChannel& pending, const OutPoint& funding_outpoint,
                                         const ChannelSigner& signer)
{
    if (funding_outpoint.n > kMaxFundingOutputIndex) {
        throw std::invalid_argument("funding output index above 65535 cannot be announced");
    }
    SetFundingOutpoint(pending.setup, funding_outpoint);
    return FundingCreatedMessage{
        .temporary_channel_id = pending.temporary_channel_id,
        .funding_txid = funding_outpoint.txid,
        .funding_output_index = static_cast<uint16_t>(funding_outpoint.n),
        .signature = SignRemoteCommitmentZero(pending.setup, signer),
        .extension = {},
    };
}

OpenResult<OpenedChannel> HandleFundingSigned(const PendingChannel& pending, const FundingSignedMessage& message,
                                              const ChannelSigner& signer)
{
    if (message.channel_id != pending.setup.channel_id) {
        return Refuse(OpenRefusalReason::kChannelIdMismatch, "funding_signed is for another channel_id");
    }
    if (!VerifyLocalCommitmentZero(pending.setup, signer, message.signature)) return BadSignature("funding_signed");
    return OpenedChannel{pending.setup, message.signature};
}

OpenResult<AcceptedOpen> HandleOpenChannel(const OpenChannelMessage& open, const OpenPolicy& policy,
                                           const ChannelFeatures& features, const FundeeContext& context,
                                           const ChannelSigner& signer)
{
    using R = OpenRefusalReason;
    // "the chain_hash value is set to a hash of a chain that is unknown to the receiver".
    if (open.chain_hash != context.chain_hash) return Refuse(R::kUnknownChain, "open_channel is for another chain");
    if (auto refusal = CheckFundingAmount(open.funding_satoshis, open.push_msat, policy, features)) return *refusal;
    const auto format = NegotiateFormat(open, features);
    if (!format) return format.error();
    if (auto refusal = CheckFeerate(open.feerate_per_kw, context.feerate_estimate_per_kw, *format, policy)) {
        return *refusal;
    }
    if (auto refusal = CheckPeerParams(Announced(open), open.funding_satoshis, policy, features)) return *refusal;
    // Our accept_channel "MUST set dust_limit_satoshis less than or equal to
    // channel_reserve_satoshis from the open_channel message".
    if (policy.dust_limit > open.channel_reserve_satoshis) {
        return Refuse(R::kReserveBelowDustLimit, "channel_reserve_satoshis " +
                                                     open.channel_reserve_satoshis.ToString() +
                                                     " is below our dust limit " + policy.dust_limit.ToString());
    }
    const Sat reserve = OurReserve(open.funding_satoshis, policy, open.dust_limit_satoshis);
    if (auto refusal = CheckInitialBalances(open.funding_satoshis, open.push_msat, open.feerate_per_kw, *format,
                                            reserve, open.channel_reserve_satoshis)) {
        return *refusal;
    }
    if (context.upfront_shutdown_script &&
        !IsValidShutdownScript(context.upfront_shutdown_script->span(), features.shutdown_anysegwit)) {
        return Refuse(R::kInvalidUpfrontShutdownScript, "our upfront shutdown script is not valid");
    }
    const Basepoints basepoints = signer.GetBasepoints();
    AcceptChannelMessage accept{
        .temporary_channel_id = open.temporary_channel_id,
        .dust_limit_satoshis = policy.dust_limit,
        .max_htlc_value_in_flight_msat = OurMaxInFlight(open.funding_satoshis, policy),
        .channel_reserve_satoshis = reserve,
        .htlc_minimum_msat = policy.htlc_minimum,
        .minimum_depth = policy.minimum_depth,
        .to_self_delay = policy.to_self_delay,
        .max_accepted_htlcs = OurMaxAcceptedHtlcs(policy),
        .funding_pubkey = signer.FundingPubKey(),
        .revocation_basepoint = basepoints.revocation,
        .payment_basepoint = basepoints.payment,
        .delayed_payment_basepoint = basepoints.delayed_payment,
        .htlc_basepoint = basepoints.htlc,
        .first_per_commitment_point = signer.PerCommitmentPoint(0),
        .upfront_shutdown_script = context.upfront_shutdown_script ? context.upfront_shutdown_script->Data() : Bytes{},
        // "if option_channel_type was negotiated: MUST set channel_type to the channel_type from open_channel".
        .channel_type = open.channel_type,
        .extension = {},
    };
    PendingChannel pending{open.temporary_channel_id, MakeSetup(open, accept, *format, Side::REMOTE, features)};
    return AcceptedOpen{std::move(accept), std::move(pending)};
}

OpenResult<FundingSignedReply> HandleFundingCreated(const PendingChannel& pending, const FundingCreatedMessage& message,
                                                    const ChannelSigner& signer)
{
    if (message.temporary_channel_id != pending.temporary_channel_id) {
        return Refuse(OpenRefusalReason::kTemporaryChannelIdMismatch,
                      "funding_created is for another temporary_channel_id");
    }
    ChannelSetup setup = pending.setup;
    SetFundingOutpoint(setup, OutPoint{message.funding_txid, message.funding_output_index});
    if (!VerifyLocalCommitmentZero(setup, signer, message.signature)) return BadSignature("funding_created");
    FundingSignedMessage reply{
        .channel_id = setup.channel_id,
        .signature = SignRemoteCommitmentZero(setup, signer),
        .extension = {},
    };
    return FundingSignedReply{std::move(reply), OpenedChannel{std::move(setup), message.signature}};
}

ChannelReadyMessage MakeChannelReady(const Hash256& channel_id, const ChannelSigner& signer)
{
    return ChannelReadyMessage{
        .channel_id = channel_id,
        .second_per_commitment_point = signer.PerCommitmentPoint(1),
        .short_channel_id_alias = std::nullopt,
        .extension = {},
    };
}

} // namespace sidebolt
