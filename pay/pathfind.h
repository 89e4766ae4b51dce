#ifndef SIDEBOLT_PAY_PATHFIND_H
#define SIDEBOLT_PAY_PATHFIND_H

#include "pay/graph.h"
#include "pay/route.h"
#include "pay/scorer.h"
#include "primitives/key.h"
#include "util/amount.h"
#include "wire/expected.h"
#include "wire/wire.h"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace sidebolt {

//! BOLT 4 sizes the 1300-byte onion for 20 hops of the original 65-byte payload: longer routes
//! may not fit, so the search never returns more than 20 channels.
inline constexpr size_t kMaxPathHops = 20;

struct ExcludedChannel {
    ShortChannelId short_channel_id;
    ChannelDirection direction{0};
    auto operator<=>(const ExcludedChannel&) const = default;
};

/**
 * What the search minimises, in msat: for every forwarding hop its fee plus a CLTV risk term,
 * and with a scorer, for every channel a penalty for the chance that it cannot carry the amount.
 */
struct CostWeights {
    //! Risk of funds locked for cltv_expiry_delta blocks: carried * delta * ppb / 1e9, rounded
    //! down. 1900 is about 10% a year at 144 blocks a day.
    uint32_t cltv_risk_ppb{1'900};
    //! Penalty: -ln(P(success)) * (penalty_base_msat + carried * penalty_ppm / 1e6).
    uint64_t penalty_base_msat{10'000};
    uint32_t penalty_ppm{100};
};

struct PathRequest {
    PubKey source;
    PubKey target;
    //! Delivered to the target.
    Msat amount{};
    //! The payee's min_final_cltv_expiry_delta; reported back in FoundPath::total_cltv_delta.
    uint32_t final_cltv_delta{18};
    //! Largest total fee (what BuildRoute's Route::fee_msat() would say).
    Msat max_fee{std::numeric_limits<uint64_t>::max()};
    //! Largest sum of the forwarding nodes' cltv_expiry_delta: the delay added over final_cltv_delta.
    uint32_t max_cltv{2016};
    std::vector<ExcludedChannel> excluded_channels{};
    std::vector<PubKey> excluded_nodes{};
    //! Our own channels with what we can spend; when not empty they replace the graph's edges out of source.
    std::vector<LocalChannel> first_hops{};
    //! BOLT 11 'r' fields: each a chain of channels ending at the target, added to the graph.
    std::vector<std::vector<HintHop>> route_hints{};
    CostWeights weights{};
    //! At most kMaxPathHops.
    size_t max_hops{kMaxPathHops};
};

enum class PathfindError {
    ZERO_AMOUNT,
    SOURCE_IS_TARGET,
    NO_PATH,        //!< Nothing reaches the target within the fee, CLTV, hop and liquidity limits.
    TOO_MANY_PARTS, //!< FindRoutes: the amount needs more than max_parts parts.
};

struct FoundPath {
    //! BuildRoute(path, amount, final_cltv_expiry) gives the route.
    std::vector<PathEdge> path;
    //! The route's total fee.
    Msat fee;
    //! final_cltv_delta plus every forwarding node's cltv_expiry_delta.
    uint32_t total_cltv_delta{0};
    //! The cost the search minimised (CostWeights).
    uint64_t cost{0};
};

struct RoutePart {
    std::vector<PathEdge> path;
    //! Delivered to the target by this part.
    Msat amount;
    Msat fee;
};

//! carried * cltv_expiry_delta * weights.cltv_risk_ppb / 1e9 rounded down, saturating.
uint64_t CltvRisk(const CostWeights& weights, Msat carried, uint16_t cltv_expiry_delta);
//! -ln(probability) * (penalty_base_msat + carried * penalty_ppm / 1e6), rounded; 0 for a
//! probability of 1 or more and the maximum for 0 or less.
uint64_t ProbabilityPenalty(const CostWeights& weights, Msat carried, double probability);

/**
 * The cheapest path from request.source to request.target carrying request.amount, searched
 * backwards from the target (BOLT 7 "Routing Example") so each fee is computed on the amount it
 * is really charged on, and guided toward the source by lower bounds from a short forward pass
 * (A*). Exact: every label that may still lead to a cheaper or a feasible path is kept per node
 * (Pareto over cost, amount, delay and hops; up to 32 per node, more than any real graph needs),
 * so the route returned is the cheapest within max_fee, max_cltv and max_hops, and NO_PATH means
 * none exists. scorer may be null (no probability penalty).
 */
Expected<FoundPath, PathfindError> FindCheapestPath(const RoutingGraph& graph, const PathRequest& request,
                                                    const PaymentScorer* scorer, uint64_t now);
//! FindCheapestPath's path alone.
Expected<std::vector<PathEdge>, PathfindError> FindPath(const RoutingGraph& graph, const PathRequest& request,
                                                        const PaymentScorer* scorer, uint64_t now);

/**
 * Multi-part: one path when one can carry everything, else parts of at least min_part, each over
 * the cheapest path for what is left (tried for all of it, then halves). Each part takes the
 * largest amount its path's liquidity (spendable on first hops, capacity or the scorer's learned
 * upper bound elsewhere, minus what earlier parts already put there) and htlc_maximum_msat allow,
 * so the next part takes another path, unless only htlc_maximum_msat held it back. The total fee
 * stays within request.max_fee.
 */
Expected<std::vector<RoutePart>, PathfindError> FindRoutes(const RoutingGraph& graph, const PathRequest& request,
                                                           const PaymentScorer* scorer, uint64_t now, Msat min_part,
                                                           size_t max_parts = 16);

} // namespace sidebolt

#endif
