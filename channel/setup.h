#ifndef SIDEBOLT_CHANNEL_SETUP_H
#define SIDEBOLT_CHANNEL_SETUP_H

#include "channel/commitment.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"
#include "util/amount.h"

#include <cstdint>
#include <optional>

namespace sidebolt {

/**
 * The HTLC limits one side announces in open_channel/accept_channel. BOLT 2 makes each of them
 * bind the *other* side: they limit the HTLCs offered *to* the announcing side, and the reserve
 * is what the other side must keep.
 */
struct HtlcLimits {
    //! "a cap on total value of outstanding HTLCs offered by the remote node".
    Msat max_htlc_value_in_flight{0};
    //! "the minimum amount that the other node is to keep as a direct payment".
    Sat channel_reserve{0};
    //! "the minimum value HTLC this node will accept".
    Msat htlc_minimum{0};
    //! "limits the number of outstanding HTLCs the other node can offer".
    uint16_t max_accepted_htlcs{0};

    bool operator==(const HtlcLimits&) const = default;
};

/**
 * Everything fixed when a channel is opened (the result of open_channel, accept_channel,
 * funding_created and funding_signed): the input from which the BOLT 2 state machine starts.
 * Our own secrets are not here: the ChannelSigner derives them again from the node seed.
 */
struct ChannelSetup {
    Hash256 channel_id{};
    //! Format, funding outpoint and amount, both sides' keys, dust limits and delays, opener.
    ChannelParams params;
    //! Announced by us: bind the HTLCs the peer offers us.
    HtlcLimits local_limits;
    //! Announced by the peer: bind the HTLCs we offer.
    HtlcLimits remote_limits;
    //! Balances of commitment number 0 (funding minus push for the opener, the push for the other).
    Msat initial_local_balance{0};
    Msat initial_remote_balance{0};
    uint32_t initial_feerate_per_kw{0};
    //! The peer's first_per_commitment_point (commitment number 0).
    PubKey remote_first_per_commitment_point;
    //! option_upfront_shutdown_script: a close must pay to these when set.
    std::optional<Script> local_upfront_shutdown_script;
    std::optional<Script> remote_upfront_shutdown_script;
    //! Confirmations of the funding transaction before channel_ready.
    uint32_t minimum_depth{3};
    //! Announce the channel (channel_flags bit 0).
    bool announce{false};
};

} // namespace sidebolt

#endif
