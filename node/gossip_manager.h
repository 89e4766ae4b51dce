#ifndef SIDEBOLT_NODE_GOSSIP_MANAGER_H
#define SIDEBOLT_NODE_GOSSIP_MANAGER_H

#include "chain/follower.h"
#include "node/interfaces.h"
#include "pay/pathfind.h"
#include "pay/route.h"
#include "primitives/key.h"
#include "primitives/tx.h"
#include "store/env.h"
#include "util/amount.h"
#include "wire/features.h"
#include "wire/gossip_messages.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sidebolt {

struct GossipOptions {
    Hash256 chain_hash{};
    //! node_announcement: alias (at most 32 bytes), color and where we can be reached.
    std::string alias;
    ByteArray<3> color{};
    std::vector<NodeAddress> addresses;
    FeatureBits node_features;
    //! The terms our channel_updates announce (setchannelfee changes them).
    ForwardPolicy policy;
    //! BOLT 7 "staggered broadcast": gossip is queued and sent to peers at this interval
    //! ("SHOULD flush outgoing gossip messages once every 60 seconds").
    std::chrono::milliseconds flush_interval{std::chrono::seconds(60)};
    //! Our channel_updates are signed again before BOLT 7's two weeks make them stale.
    std::chrono::seconds refresh_interval{std::chrono::hours(24 * 13)};
    //! A channel whose newest update is older than this is forgotten (BOLT 7: two weeks).
    std::chrono::seconds stale_after{std::chrono::hours(24 * 14)};
    //! Unix seconds now; tests move it.
    std::function<uint32_t()> clock;
};

//! One node of the public graph, as listnodes shows it.
struct GraphNodeSummary {
    explicit GraphNodeSummary(PubKey id) : node_id(std::move(id)) {}
    PubKey node_id;
    std::optional<NodeAnnouncementMessage> announcement;
    size_t channels{0};
};

//! One direction of a public channel, as listgraphchannels shows it.
struct GraphChannelSummary {
    GraphChannelSummary(PubKey from, PubKey to) : source(std::move(from)), destination(std::move(to)) {}
    ShortChannelId short_channel_id;
    PubKey source;
    PubKey destination;
    Sat capacity{0};
    std::optional<ChannelUpdateMessage> update;
};

struct GossipStats {
    size_t channels{0};
    size_t nodes{0};
    //! Messages refused (bad signature, funding output not as announced...) since start.
    uint64_t rejected{0};
};

/**
 * BOLT 7 at a node: announces our public channels and our node, checks everything peers
 * announce (signatures through gossip/, the funding output through bitcoind), keeps the
 * validated graph in LMDB and in memory, relays it to peers and answers their queries, syncs
 * from peers with gossip queries, and finds routes over it. One thread owns the gossip state;
 * bitcoind lookups run on another; the routing graph is read under its own lock by payers.
 */
class GossipManager : public ChainListener
{
public:
    GossipManager(store::Env& env, PeerLink& peers, GossipChain& chain, PrivKey node_key, GossipOptions options);
    ~GossipManager() override;
    GossipManager(const GossipManager&) = delete;
    GossipManager& operator=(const GossipManager&) = delete;

    //! Loads the stored graph (verified when it was stored: not checked again) and starts.
    void Start();
    void Stop();

    // Peer events (any thread). `connection` is the peer layer's number for the connection.
    void OnPeerConnected(const PubKey& peer, const FeatureBits& features, uint64_t connection);
    void OnPeerDisconnected(const PubKey& peer);
    //! Whether the type is gossip this manager handles (announcement_signatures is not).
    bool OnPeerMessage(const PubKey& peer, uint16_t type, ByteSpan payload);

    //! A channel of ours both sides signed: announced with our channel_update and node_announcement.
    void AnnounceOurChannel(const ChannelAnnouncementMessage& announcement, Sat capacity);
    /**
     * A channel of ours not to be announced, in normal operation: our channel_update goes to the
     * peer alone (now, on each reconnection and when the policy changes) and the peer's, when it
     * sends one, says what it charges to reach us (ChannelPolicy, for invoices' route hints).
     */
    void OurPrivateChannel(const PubKey& peer, const ShortChannelId& scid, const OutPoint& funding, Sat capacity);
    //! setchannelfee: our channel_updates are signed again with the new terms.
    void SetPolicy(const ForwardPolicy& policy);

    // Queries (any thread; they wait for the gossip thread).
    std::vector<GraphNodeSummary> ListNodes(const std::optional<PubKey>& node_id);
    std::vector<GraphChannelSummary> ListChannels(const std::optional<ShortChannelId>& scid);
    GossipStats Stats();
    //! The channel_update we last signed for one of our announced channels, type-prefixed (BOLT 4
    //! failure messages carry it). Any thread, without waiting for the gossip thread.
    std::optional<Bytes> OurChannelUpdate(const ShortChannelId& scid);

    //! Pathfinding over the graph (the caller's thread, under the graph's lock).
    Expected<std::vector<PathEdge>, PathfindError> FindPath(const PathRequest& request);
    //! A channel_update a payment's failure carried (HtlcRouter's on_channel_update; any thread).
    void ApplyPaymentUpdate(const ChannelUpdateMessage& update, ByteSpan payload);
    //! What `from` charges over the channel, from its channel_update (any thread).
    std::optional<ForwardPolicy> ChannelPolicy(const ShortChannelId& scid, const PubKey& from);
    //! Multi-part routes over the graph, parts of at least min_part (same thread and lock).
    Expected<std::vector<RoutePart>, PathfindError> FindRoutes(const PathRequest& request, Msat min_part);
    /**
     * An attempt of one of our payments (HtlcRouter's on_attempt): every channel before
     * `failed_channel` carried its amount, that one did not. The scorer learns both, and later
     * routes weigh each channel's chance to carry theirs.
     */
    void RecordAttempt(const Route& route, std::optional<size_t> failed_channel);

    // ChainListener: funding outputs spent in a block close their channels.
    void OnBlockConnected(store::WriteTxn& txn, int height, const Hash256& hash, const Block& block) override;

private:
    class Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace sidebolt

#endif
