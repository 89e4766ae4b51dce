#ifndef SIDEBOLT_PAY_ROUTE_H
#define SIDEBOLT_PAY_ROUTE_H

#include "primitives/key.h"
#include "util/amount.h"
#include "wire/expected.h"
#include "wire/wire.h"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <vector>

namespace sidebolt {

//! BOLT 2: "MUST set cltv_expiry less than 500000000" (larger values would be timestamps).
inline constexpr uint32_t kMaxCltvExpiry = 500'000'000 - 1;

//! The forwarding terms a node announces for one direction of a channel (BOLT 7 channel_update).
struct ForwardPolicy {
    Msat fee_base_msat{1000};
    uint32_t fee_proportional_millionths{1};
    //! BOLT 2 "cltv_expiry_delta Selection": 3R+2G+2S, "at least 34 is reasonable".
    uint16_t cltv_expiry_delta{34};
    Msat htlc_minimum_msat{1};
    Msat htlc_maximum_msat{std::numeric_limits<uint64_t>::max()};
};

/**
 * BOLT 7 "HTLC Fees": fee_base_msat + ( amount_to_forward * fee_proportional_millionths / 1000000 ),
 * the division rounding down. Exact for every input; nullopt when the fee does not fit in 64 bits.
 */
std::optional<Msat> CheckedForwardingFee(const ForwardPolicy& policy, Msat amount_to_forward);
//! As CheckedForwardingFee, throwing AmountError on overflow.
Msat ForwardingFee(const ForwardPolicy& policy, Msat amount_to_forward);

/**
 * One channel of a payment path: node_id is the node at the far end of short_channel_id, policy
 * the channel_update of the node that forwards INTO this channel (the near end). For path[0],
 * our own channel, the fee and cltv_expiry_delta are ignored (we pay no fee to ourselves); its
 * htlc_minimum/maximum are still checked, so fill them with the peer's limits or keep the defaults.
 */
struct PathEdge {
    PubKey node_id;
    ShortChannelId short_channel_id;
    ForwardPolicy policy;
};

//! The HTLC offered over one channel of a route: to node_id over short_channel_id.
struct RouteHop {
    PubKey node_id;
    ShortChannelId short_channel_id;
    Msat amount_msat;
    uint32_t cltv_expiry;
};

//! What one hop's onion payload must say (BOLT 4 "payload format"); short_channel_id is empty
//! for the final node ("MUST NOT include short_channel_id").
struct HopOnionValues {
    Msat amt_to_forward;
    uint32_t outgoing_cltv_value;
    std::optional<ShortChannelId> short_channel_id;
};

//! A route from us to a payee. hops is never empty for a route made by BuildRoute; the
//! accessors throw std::out_of_range on an empty one.
struct Route {
    std::vector<RouteHop> hops;

    //! What we send over our own channel: the payee's amount plus every fee.
    Msat total_amount_msat() const;
    //! What the payee receives.
    Msat final_amount_msat() const;
    Msat fee_msat() const;
    //! The cltv_expiry of the HTLC we offer.
    uint32_t first_cltv() const;
    //! The payload values for hops[i].node_id: forward what hops[i + 1] carries, or for the
    //! final node its own amount and cltv ("Payload for the Last Node").
    HopOnionValues OnionValues(size_t i) const;
};

enum class RouteError {
    EMPTY_PATH,
    ZERO_AMOUNT,        //!< BOLT 2: "MUST offer amount_msat greater than 0".
    AMOUNT_OVERFLOW,    //!< An amount plus its fee does not fit in 64 bits.
    CLTV_OUT_OF_RANGE,  //!< A cltv_expiry would reach 500000000 or overflow.
    BELOW_HTLC_MINIMUM, //!< BOLT 2: "MUST NOT offer amount_msat below the receiving node's htlc_minimum_msat".
    ABOVE_HTLC_MAXIMUM, //!< Above the channel_update's htlc_maximum_msat.
};

struct RouteFailure {
    RouteError error;
    //! The path index whose HTLC failed (0 for EMPTY_PATH).
    size_t hop_index{0};
};

/**
 * The amounts and CLTVs along path, computed backwards from the payee (BOLT 7 "Routing
 * Example"): the HTLC over path[i] carries the amount over path[i + 1] plus the fee of
 * path[i + 1].policy, and a cltv_expiry larger by its cltv_expiry_delta. final_cltv_expiry is
 * current height + min_final_cltv_expiry_delta (+ any shadow offset the caller chose).
 */
Expected<Route, RouteFailure> BuildRoute(std::span<const PathEdge> path, Msat final_amount, uint32_t final_cltv_expiry);

/**
 * One hop of a BOLT 11 route hint ('r' field): the channel short_channel_id from node_id to the
 * next hint hop (or to the payee), with node_id's forwarding terms for it.
 */
struct HintHop {
    PubKey node_id;
    ShortChannelId short_channel_id;
    Msat fee_base_msat;
    uint32_t fee_proportional_millionths{0};
    uint16_t cltv_expiry_delta{0};

    //! The fees and CLTV delta of `policy` in place of the hint's (what node_id announced).
    void TakeTerms(const ForwardPolicy& policy)
    {
        fee_base_msat = policy.fee_base_msat;
        fee_proportional_millionths = policy.fee_proportional_millionths;
        cltv_expiry_delta = policy.cltv_expiry_delta;
    }
};

//! One of our channels, as a first hop. limits carries the peer's htlc_minimum_msat (fees ignored).
struct LocalChannel {
    PubKey peer_id;
    ShortChannelId short_channel_id;
    Msat spendable_msat;
    ForwardPolicy limits;
};

//! our_channel (to hint[0].node_id, or to payee for an empty hint) then the hint's channels.
//! A hint hop's terms ARE the policy of the channel leaving its node_id, so they become the
//! policy of the edge that ends at the next hint node (or the payee).
std::vector<PathEdge> PathThroughHint(const LocalChannel& our_channel, std::span<const HintHop> hint, const PubKey& payee);

/**
 * Candidate paths to payee: first every channel whose peer is the payee, then for each hint
 * every channel whose peer is the hint's first node. Channels with nothing spendable are skipped.
 */
std::vector<std::vector<PathEdge>> CandidatePaths(std::span<const LocalChannel> channels, const PubKey& payee,
                                                  std::span<const std::vector<HintHop>> hints);

/**
 * Multi-part split: amounts per candidate (same order as spendable, zero for unused ones). Uses
 * the fewest candidates, the most spendable first, and fills them largest first; no part is below
 * min_part (a total below min_part goes as one part). nullopt when total is zero or no split
 * exists: the candidates cannot carry total, or too many minimum parts would be needed.
 */
std::optional<std::vector<Msat>> SplitAcross(std::span<const Msat> spendable, Msat total, Msat min_part);

//! amount * max_fee_percent / 100, rounded down, the percentage taken to 1/10000 of a percent
//! (millionths). A negative or non-finite percentage allows no fee.
Msat MaxFeeFor(Msat amount, double max_fee_percent);
//! maxfeepercent: the route's fee is at most max_fee_percent of amount.
bool WithinFeeBudget(const Route& route, Msat amount, double max_fee_percent);
bool WithinFeeBudget(const Route& route, Msat max_fee);
//! maxdelay: our HTLC's cltv_expiry is at most max_delay blocks above current_height.
bool WithinDelay(const Route& route, uint32_t current_height, uint32_t max_delay);

} // namespace sidebolt

#endif
