#include "pay/forward.h"

namespace sidebolt {

namespace {

bool FeeSufficient(const IncomingHtlc& incoming, const ForwardRequest& request, const ForwardPolicy& policy)
{
    // incoming - fee >= amt_to_forward, rearranged so nothing goes below zero; an overflowing
    // requirement is one no real HTLC can meet.
    const auto fee = CheckedForwardingFee(policy, request.amt_to_forward);
    const auto required = fee ? Msat::CheckedAdd(request.amt_to_forward, *fee) : std::nullopt;
    return required && incoming.amount_msat >= *required;
}

} // namespace

std::optional<ForwardFailure> CheckForward(const IncomingHtlc& incoming, const ForwardRequest& request,
                                           const OutgoingChannelView& channel, uint32_t current_height,
                                           const ForwardLimits& limits)
{
    if (!channel.exists) return ForwardFailure{FailureCode::UNKNOWN_NEXT_PEER, {}, {}};
    const ForwardPolicy& policy = channel.policy;
    if (request.amt_to_forward > policy.htlc_maximum_msat || request.amt_to_forward > channel.spendable_msat) {
        return ForwardFailure{FailureCode::TEMPORARY_CHANNEL_FAILURE, {}, {}};
    }
    // BOLT 2: "MUST offer amount_msat greater than 0", whatever our advertised minimum.
    if (request.amt_to_forward < policy.htlc_minimum_msat || request.amt_to_forward == Msat{0}) {
        return ForwardFailure{FailureCode::AMOUNT_BELOW_MINIMUM, request.amt_to_forward, {}};
    }
    if (!FeeSufficient(incoming, request, policy)) {
        return ForwardFailure{FailureCode::FEE_INSUFFICIENT, incoming.amount_msat, {}};
    }
    if (uint64_t{incoming.cltv_expiry} < uint64_t{request.outgoing_cltv_value} + policy.cltv_expiry_delta) {
        return ForwardFailure{FailureCode::INCORRECT_CLTV_EXPIRY, {}, request.outgoing_cltv_value};
    }
    if (uint64_t{request.outgoing_cltv_value} < uint64_t{current_height} + limits.min_outgoing_expiry_blocks) {
        return ForwardFailure{FailureCode::EXPIRY_TOO_SOON, {}, {}};
    }
    if (uint64_t{incoming.cltv_expiry} > uint64_t{current_height} + limits.max_htlc_cltv) {
        return ForwardFailure{FailureCode::EXPIRY_TOO_FAR, {}, {}};
    }
    if (!channel.usable) return ForwardFailure{FailureCode::CHANNEL_DISABLED, {}, {}};
    return std::nullopt;
}

} // namespace sidebolt
