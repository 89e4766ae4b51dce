#ifndef SIDEBOLT_PAY_FORWARD_H
#define SIDEBOLT_PAY_FORWARD_H

#include "pay/failure_codes.h"
#include "pay/route.h"
#include "util/amount.h"

#include <cstdint>
#include <optional>

namespace sidebolt {

//! The update_add_htlc we received.
struct IncomingHtlc {
    Msat amount_msat;
    uint32_t cltv_expiry{0};
};

//! What the onion payload asks us to offer over the next channel.
struct ForwardRequest {
    Msat amt_to_forward;
    uint32_t outgoing_cltv_value{0};
};

//! The caller's view of the channel named by the payload's short_channel_id (or, with
//! non-strict forwarding, of the channel it chose to the same peer).
struct OutgoingChannelView {
    bool exists{false};
    //! Peer connected and channel in normal operation.
    bool usable{false};
    //! Our channel_update for it.
    ForwardPolicy policy;
    //! What we can offer now: balance above reserve and fees, HTLC slots and in-flight limits
    //! already accounted for (zero when no slot is left).
    Msat spendable_msat;
};

//! Our local bounds on expiries, the parts of the checks the BOLTs leave to the node.
struct ForwardLimits {
    //! expiry_too_soon below this many blocks between now and outgoing_cltv_value: an outgoing
    //! HTLC closer to its expiry could force us on-chain before the next hop can act. Our own
    //! safety comes from cltv_expiry_delta (the incoming HTLC's margin); this only refuses the
    //! hopeless. 6, not BOLT 2's S=12: Core Lightning's regtest invoices ask for 10 blocks at
    //! the final hop and its payers add no slack, so 12 would refuse every such payment.
    uint32_t min_outgoing_expiry_blocks{6};
    //! BOLT 4 "max_htlc_cltv Selection": "defined as 2016 blocks". expiry_too_far above this many
    //! blocks between now and the incoming cltv_expiry.
    uint32_t max_htlc_cltv{2016};
};

//! Why we refuse to forward, with the data fields the failure message carries.
struct ForwardFailure {
    FailureCode code;
    //! amount_below_minimum: the outgoing amount; fee_insufficient: the incoming amount.
    std::optional<Msat> htlc_msat;
    //! incorrect_cltv_expiry: the outgoing HTLC's cltv_expiry (BOLT 4 "report the cltv_expiry of the outgoing HTLC").
    std::optional<uint32_t> cltv_expiry;

    //! BOLT 4: "the channel_update field is mandatory in messages whose failure_code includes the UPDATE flag".
    bool needs_channel_update() const { return HasFlag(static_cast<uint16_t>(code), failure_flag::UPDATE); }
    //! channel_disabled also carries u16 disabled_flags, "currently always two zero bytes".
    bool needs_disabled_flags() const { return code == FailureCode::CHANNEL_DISABLED; }
};

/**
 * Should we forward this HTLC? Pure: the caller gathers the state. Checks run in the order of
 * BOLT 4's forwarding-node list ("SHOULD select the first error it encounters from the list
 * above"), except that a missing channel comes first since nothing else can be judged without it:
 *   unknown_next_peer          no such outgoing channel
 *   temporary_channel_failure  amt_to_forward above htlc_maximum_msat or what the channel can send
 *   amount_below_minimum       amt_to_forward below htlc_minimum_msat (or zero, BOLT 2)
 *   fee_insufficient           incoming amount_msat - fee < amt_to_forward (fee per BOLT 7)
 *   incorrect_cltv_expiry      cltv_expiry - cltv_expiry_delta < outgoing_cltv_value
 *   expiry_too_soon            outgoing_cltv_value < current_height + min_outgoing_expiry_blocks
 *   expiry_too_far             cltv_expiry > current_height + max_htlc_cltv
 *   channel_disabled           the channel is not usable (peer gone or not in normal operation)
 */
std::optional<ForwardFailure> CheckForward(const IncomingHtlc& incoming, const ForwardRequest& request,
                                           const OutgoingChannelView& channel, uint32_t current_height,
                                           const ForwardLimits& limits = {});

} // namespace sidebolt

#endif
