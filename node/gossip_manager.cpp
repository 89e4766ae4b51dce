#include "node/gossip_manager.h"

#include "channel/scripts.h"
#include "gossip/network_view.h"
#include "gossip/rate_limit.h"
#include "gossip/signatures.h"
#include "pay/graph.h"
#include "pay/scorer.h"
#include "primitives/script.h"
#include "util/hex.h"
#include "util/logging.h"
#include "util/sync.h"
#include "wire/message.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <set>
#include <thread>

namespace sidebolt {
namespace {

auto Logger() { return Log("gossip"); }
std::string Short(const PubKey& id) { return ToHex(id.span()).substr(0, 16); }

//! The limits against a peer's gossip (BOLT 7 leaves them to the node): messages per second on
//! average with a burst, and how many invalid ones end our interest in its gossip.
constexpr double kPeerBurst = 20'000;
constexpr double kPeerPerSecond = 2'000;
//! Per channel direction: channel_updates beyond a few a minute are spam (flapping, or worse).
constexpr double kUpdateBurst = 10;
constexpr double kUpdatePerSecond = 1.0 / 60;
constexpr size_t kMaxInvalidPerPeer = 10;
//! query_short_channel_ids asks for at most this many ids at once (8 bytes each, under 65535).
constexpr size_t kIdsPerQuery = 4000;
//! How often the gossip thread wakes for its timers (flush, refresh, prune, store).
constexpr std::chrono::milliseconds kTick{100};
constexpr std::chrono::seconds kPersistInterval{1};
//! A channel_announcement whose funding output bitcoind could not be asked about is asked again.
constexpr uint32_t kLookupRetrySeconds = 10;
//! Our gossip_timestamp_filter reaches this far back: peers hold gossip back up to a minute.
constexpr uint32_t kFilterMargin = 600;
//! Bounds NoteHeldOrigin's map: as many as NetworkViewLimits' default held updates and nodes.
constexpr size_t kMaxHeldOrigins = 5000;
//! Updates for unknown channels kept for a private channel being registered (NoteUnknownUpdate).
constexpr size_t kMaxUnknownUpdates = 64;
//! Announcements waiting for their funding lookup, at most.
constexpr size_t kMaxPendingLookups = 2000;

Bytes WithType(GossipMessageType type, const auto& message)
{
    Bytes out;
    WireWriter(out).WriteU16(static_cast<uint16_t>(type));
    message.EncodePayload(out);
    return out;
}

//! The stored form of a channel: its funding outpoint's txid, capacity, announcement and the two
//! updates (each u32-length-prefixed, empty when absent).
Bytes EncodeStoredChannel(const Hash256& funding_txid, Sat capacity, ByteSpan announcement,
                          const std::array<Bytes, 2>& updates)
{
    Bytes out;
    WireWriter w(out);
    w.WriteBytes(funding_txid);
    w.WriteU64(capacity.value());
    for (const ByteSpan part : {announcement, ByteSpan(updates[0]), ByteSpan(updates[1])}) {
        w.WriteU32(static_cast<uint32_t>(part.size()));
        w.WriteBytes(part);
    }
    return out;
}

struct StoredChannel {
    Hash256 funding_txid{};
    Sat capacity{0};
    Bytes announcement;
    std::array<Bytes, 2> updates;
};

std::optional<StoredChannel> DecodeStoredChannel(ByteSpan bytes)
{
    WireReader r(bytes);
    StoredChannel stored;
    stored.funding_txid = r.ReadArray<32>();
    stored.capacity = Sat{r.ReadU64()};
    for (Bytes* part : {&stored.announcement, &stored.updates[0], &stored.updates[1]}) {
        const ByteSpan span = r.ReadBytes(r.ReadU32());
        part->assign(span.begin(), span.end());
    }
    r.ExpectEnd();
    if (!r.Ok()) return std::nullopt;
    return stored;
}

//! The signature slot of a message about to be signed (SignChannelUpdate, SignNodeAnnouncement).
EcdsaSignature Unsigned() { return *EcdsaSignature::FromCompact(ByteArray<64>{}); }

Bytes ScidKey(const ShortChannelId& scid)
{
    Bytes key;
    WireWriter(key).WriteU64(scid.ToU64());
    return key;
}

struct PendingAnnouncement {
    ChannelAnnouncementMessage message;
    Bytes payload;
    std::optional<PubKey> origin;
};
struct RetryItem {
    uint32_t due{0};
    PendingAnnouncement pending;
};
struct PeerState {
    //! The peer layer's number for the connection: what we send goes on this one only.
    uint64_t connection{0};
    //! The peer's gossip_timestamp_filter: first_timestamp and timestamp_range.
    std::optional<std::pair<uint32_t, uint32_t>> filter;
    size_t invalid{0};
    bool ignored{false};
    //! Syncing from this peer: ids its replies named that we lack, asked for in chunks.
    std::deque<WantedChannel> wanted;
    bool range_done{false};
    bool ids_query_outstanding{false};
};
struct OwnChannel {
    OwnChannel(PubKey peer_id, uint8_t our_direction, Sat channel_capacity)
        : peer(std::move(peer_id)), direction(our_direction), capacity(channel_capacity)
    {
    }
    PubKey peer;
    uint8_t direction{0};
    Sat capacity{0};
    uint32_t last_timestamp{0};
    uint32_t signed_at{0};
    Bytes update;
    //! Not announced: our update goes to the peer alone, and the peer's comes to us alone.
    bool is_private{false};
    uint32_t peer_timestamp{0};
};
struct UnknownUpdate {
    PubKey origin;
    ChannelUpdateMessage message;
    Bytes payload;
};
//! The peer's side of a private channel of ours, from the channel_update it sent us directly.
struct PrivatePolicy {
    PubKey peer;
    ForwardPolicy policy;
};
struct RelayItem {
    Bytes message;
    uint32_t timestamp{0};
    std::optional<PubKey> origin;
    //! Generated by us (our channels, our node): sent to every peer, filter or not.
    bool ours{false};
};

} // namespace

class GossipManager::Impl
{
public:
    Impl(store::Env& env, PeerLink& peers, GossipChain& chain, PrivKey node_key, GossipOptions options)
        : m_env(env), m_peers(peers), m_chain(chain), m_node_key(std::move(node_key)), m_node_id(m_node_key.GetPubKey()),
          m_options(std::move(options)), m_channels_db(env.OpenDb("gossip_channels")), m_nodes_db(env.OpenDb("gossip_nodes")),
          m_view(m_options.chain_hash)
    {
        if (!m_options.clock) {
            m_options.clock = [] {
                return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                 std::chrono::system_clock::now().time_since_epoch())
                                                 .count());
            };
        }
    }

    void Start()
    {
        Load();
        m_thread = std::thread([this] { Run(); });
        m_lookup_thread = std::thread([this] { RunLookups(); });
    }

    void Stop()
    {
        {
            const MutexLock lock(m_mutex);
            m_stopping = true;
        }
        m_cv.notify_all();
        m_lookup_cv.notify_all();
        if (m_thread.joinable()) m_thread.join();
        if (m_lookup_thread.joinable()) m_lookup_thread.join();
    }

    //! Runs job on the gossip thread.
    void Post(std::function<void()> job) EXCLUDES(m_mutex)
    {
        {
            const MutexLock lock(m_mutex);
            if (m_stopping) return;
            m_jobs.push_back(std::move(job));
        }
        m_cv.notify_one();
    }

    //! Runs fn on the gossip thread and waits for its result.
    template <typename Fn>
    auto Ask(Fn fn) -> decltype(fn())
    {
        auto promise = std::make_shared<std::promise<decltype(fn())>>();
        auto future = promise->get_future();
        Post([promise, fn = std::move(fn)]() mutable {
            try {
                promise->set_value(fn());
            } catch (...) {
                promise->set_exception(std::current_exception());
            }
        });
        if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
            throw NodeError(kErrTimeout, "the gossip thread did not answer in time");
        }
        return future.get();
    }

    // ---- Gossip thread ----------------------------------------------------------------------

    void OnConnected(const PubKey& peer, const FeatureBits& features, uint64_t connection)
    {
        // BOLT 9 lists gossip_queries as ASSUMED: every peer speaks the queries, whatever its bits.
        (void)features;
        PeerState fresh;
        fresh.connection = connection;
        m_peer_state[peer] = std::move(fresh);
        const uint32_t now = Now();
        // BOLT 7: with gossip_queries nothing is relayed to us before we ask; ask every peer for
        // what is new (allowing for gossip it holds back to stagger), and one peer, once after
        // each start, for the channels we lack or hold older updates of.
        SendTo(peer, WithType(GossipMessageType::kGossipTimestampFilter,
                              GossipTimestampFilterMessage{m_options.chain_hash, now - kFilterMargin, UINT32_MAX, {}}));
        if (!m_synced && !m_syncing_with) {
            m_syncing_with = peer;
            SendTo(peer, WithType(GossipMessageType::kQueryChannelRange,
                                  QueryChannelRangeMessage{m_options.chain_hash, 0, UINT32_MAX,
                                                           QueryChannelRangeMessage::kWantTimestamps, {}}));
        }
        // Our own channel with this peer is enabled again.
        for (auto& [scid, own] : m_own) {
            if (own.peer == peer) SignOurUpdate(scid, own);
        }
    }

    void OnDisconnected(const PubKey& peer)
    {
        m_peer_state.erase(peer);
        if (m_syncing_with == peer) m_syncing_with.reset();
        // A private channel's update would reach nobody: the peer is its only reader.
        for (auto& [scid, own] : m_own) {
            if (own.peer == peer && !own.is_private) SignOurUpdate(scid, own);
        }
    }

    void OnMessage(const PubKey& peer, uint16_t type, const Bytes& payload)
    {
        // A message posted before its peer's disconnection, handled after it: nobody to answer.
        const auto known = m_peer_state.find(peer);
        if (known == m_peer_state.end()) return;
        PeerState& state = known->second;
        if (state.ignored) return;
        if (!m_peer_budget.Take(peer, Now())) {
            ++m_dropped;
            return;
        }
        auto decoded = DecodeGossipMessage(type, payload);
        if (!decoded) return Misbehaved(peer, "malformed gossip message: " + std::string(ToString(decoded.error())));
        std::visit(
            [&](const auto& m) {
                using M = std::decay_t<decltype(m)>;
                if constexpr (std::is_same_v<M, ChannelAnnouncementMessage>) {
                    OnChannelAnnouncement(peer, m, payload);
                } else if constexpr (std::is_same_v<M, ChannelUpdateMessage>) {
                    OnChannelUpdate(peer, m, payload);
                } else if constexpr (std::is_same_v<M, NodeAnnouncementMessage>) {
                    OnNodeAnnouncement(peer, m, payload);
                } else if constexpr (std::is_same_v<M, GossipTimestampFilterMessage>) {
                    OnTimestampFilter(peer, m);
                } else if constexpr (std::is_same_v<M, QueryChannelRangeMessage>) {
                    OnQueryChannelRange(peer, m);
                } else if constexpr (std::is_same_v<M, ReplyChannelRangeMessage>) {
                    OnReplyChannelRange(peer, m);
                } else if constexpr (std::is_same_v<M, QueryShortChannelIdsMessage>) {
                    OnQueryShortChannelIds(peer, m);
                } else if constexpr (std::is_same_v<M, ReplyShortChannelIdsEndMessage>) {
                    OnReplyShortChannelIdsEnd(peer);
                }
            },
            *decoded);
    }

    void OnChannelAnnouncement(const std::optional<PubKey>& origin, const ChannelAnnouncementMessage& message,
                               const Bytes& payload)
    {
        const GossipResult check = m_view.CheckChannelAnnouncement(message, payload);
        if (check.outcome == GossipOutcome::kRejected && origin) Misbehaved(*origin, "channel_announcement refused: " + check.reason);
        if (check.outcome != GossipOutcome::kAccepted) return;
        const uint64_t key = message.short_channel_id.ToU64();
        if (m_lookups_pending.contains(key)) return;
        // Well-signed announcements of channels that do not exist cost a bitcoind lookup each:
        // beyond this many waiting, more are dropped (honest peers send them again when asked).
        if (m_lookups_pending.size() >= kMaxPendingLookups) {
            ++m_dropped;
            return;
        }
        m_lookups_pending.emplace(key, PendingAnnouncement{message, payload, origin});
        QueueLookup(message.short_channel_id);
    }

    //! The funding output of a pending announcement, as bitcoind knows it (gossip thread).
    void OnLookedUp(const ShortChannelId& scid, const FundingLookup& lookup)
    {
        const auto it = m_lookups_pending.find(scid.ToU64());
        if (it == m_lookups_pending.end()) return;
        PendingAnnouncement pending = std::move(it->second);
        m_lookups_pending.erase(it);
        using Status = FundingLookup::Status;
        if (lookup.status == Status::UNAVAILABLE) {
            m_retry_lookups.push_back({Now() + kLookupRetrySeconds, std::move(pending)});
            return;
        }
        // BOLT 7: "if the short_channel_id's output does NOT correspond to a P2WSH (using
        // bitcoin_key_1 and bitcoin_key_2, as specified in BOLT #3) OR the output is spent:
        // MUST ignore the message."
        const Script expected = P2wshScript(FundingScript(pending.message.bitcoin_key_1, pending.message.bitcoin_key_2));
        if (lookup.status != Status::FOUND || !std::ranges::equal(lookup.output.script_pubkey, expected.span())) {
            ++m_rejected;
            Logger()->debug("channel_announcement {} ignored: funding output {}", pending.message.short_channel_id.ToString(),
                            lookup.status == Status::FOUND ? "is not the announced 2-of-2" : "not found or spent");
            return;
        }
        const Sat capacity{static_cast<uint64_t>(std::max<int64_t>(0, lookup.output.value))};
        AddChannel(pending.message, pending.payload, capacity, lookup.outpoint, pending.origin);
    }

    void AddChannel(const ChannelAnnouncementMessage& message, ByteSpan payload, Sat capacity, const OutPoint& funding,
                    const std::optional<PubKey>& origin)
    {
        const ShortChannelId scid = message.short_channel_id;
        std::vector<Bytes> replayed = m_view.AddChannel(message, payload, capacity, Now());
        m_funding[funding] = scid;
        m_funding_of[scid.ToU64()] = funding;
        {
            const MutexLock lock(m_graph_mutex);
            m_graph.AddChannel(scid, message.node_id_1, message.node_id_2, capacity);
        }
        SyncGraph(scid);
        m_dirty_channels.insert(scid.ToU64());
        const bool ours = message.node_id_1 == m_node_id || message.node_id_2 == m_node_id;
        Relay(WithType(GossipMessageType::kChannelAnnouncement, message), Now(), origin, ours);
        // Updates (and node announcements) that waited for the channel: relayed after it.
        for (Bytes& bytes : replayed) {
            auto held = m_held_origins.extract(bytes);
            Relay(std::move(bytes), Now(), held ? std::optional<PubKey>(held.mapped()) : std::nullopt, ours);
        }
        for (const PubKey& node : {message.node_id_1, message.node_id_2}) m_dirty_nodes.insert(node);
        // Our own node_announcement needs a public channel first.
        if (ours && !m_loading) SignNodeAnnouncementIfChanged();
    }

    void OnChannelUpdate(const std::optional<PubKey>& origin, const ChannelUpdateMessage& message, const Bytes& payload)
    {
        if (origin && TakePrivateUpdate(*origin, message, payload)) return;
        if (origin && !m_view.Channel(message.short_channel_id)) NoteUnknownUpdate(*origin, message, payload);
        const uint64_t direction_key = message.short_channel_id.ToU64() << 1 | static_cast<uint64_t>(message.Direction());
        GossipCheck check = GossipCheck::kVerify;
        if (origin) {
            // Only what the channel's node really signed spends its direction's budget: forgeries
            // (anyone can send them, from ever new identities) would otherwise starve the real ones.
            if (const ChannelEntry* channel = m_view.Channel(message.short_channel_id)) {
                const auto& half = channel->halves[static_cast<size_t>(message.Direction())];
                // Many peers relay the same update: a copy of ours costs no verification.
                if (half && std::ranges::equal(half->Payload(), payload)) return;
                if (!VerifyChannelUpdate(message, payload, channel->NodeId(message.Direction()))) {
                    return Misbehaved(*origin, "channel_update refused: bad signature of node_id_" +
                                                   std::to_string(message.Direction() + 1));
                }
                check = GossipCheck::kTrusted;
            }
            if (!m_update_budget.Take(direction_key, Now())) return;
        }
        const GossipResult result = m_view.ApplyChannelUpdate(message, payload, Now(), check);
        Logger()->debug("channel_update {} direction {} from {}: {} {}", message.short_channel_id.ToString(), message.Direction(),
                        origin ? Short(*origin) : "us", ToString(result.outcome), result.reason);
        if (result.outcome == GossipOutcome::kRejected && origin) Misbehaved(*origin, "channel_update refused: " + result.reason);
        if (result.outcome == GossipOutcome::kPending && origin) NoteHeldOrigin(GossipMessageType::kChannelUpdate, payload, *origin);
        if (result.outcome != GossipOutcome::kAccepted) return;
        SyncGraph(message.short_channel_id);
        m_dirty_channels.insert(message.short_channel_id.ToU64());
        const ChannelEntry* channel = m_view.Channel(message.short_channel_id);
        const bool ours = channel && channel->NodeId(message.Direction()) == m_node_id;
        Relay(WithType(GossipMessageType::kChannelUpdate, message), message.timestamp, origin, ours);
    }

    /**
     * The peer's channel_update for a private channel of ours (BOLT 7: "MAY create a channel_update
     * to communicate the channel parameters to the channel peer, even though the channel has not
     * yet been announced"): kept for our invoices' route hints, never relayed. False when the
     * update is not about such a channel.
     */
    bool TakePrivateUpdate(const PubKey& origin, const ChannelUpdateMessage& message, ByteSpan payload)
    {
        const auto own = m_own.find(message.short_channel_id.ToU64());
        if (own == m_own.end() || !own->second.is_private || own->second.peer != origin) return false;
        if (message.chain_hash != m_options.chain_hash) return true;
        if (message.Direction() == own->second.direction) {
            Misbehaved(origin, "channel_update for our own side of a private channel");
        } else if (!VerifyChannelUpdate(message, payload, origin)) {
            Misbehaved(origin, "channel_update of a private channel refused: bad signature");
        } else if (message.timestamp > own->second.peer_timestamp) {
            own->second.peer_timestamp = message.timestamp;
            const MutexLock lock(m_graph_mutex);
            m_private_policies.insert_or_assign(message.short_channel_id.ToU64(), PrivatePolicy{origin, PolicyOf(message)});
        }
        return true;
    }

    /**
     * A peer's update for a channel we do not know may be its side of a private channel we are
     * about to be told of: its channel_ready and its channel_update arrive together, and the
     * channel manager's word reaches this thread after them. The last few are kept to look at then.
     */
    void NoteUnknownUpdate(const PubKey& origin, const ChannelUpdateMessage& message, const Bytes& payload)
    {
        if (m_unknown_updates.size() == kMaxUnknownUpdates) m_unknown_updates.pop_front();
        m_unknown_updates.push_back({origin, message, payload});
    }

    //! The routing graph takes a channel's policies from the view.
    void SyncGraph(const ShortChannelId& scid)
    {
        const ChannelEntry* channel = m_view.Channel(scid);
        if (!channel) return;
        const MutexLock lock(m_graph_mutex);
        for (uint8_t direction = 0; direction < 2; ++direction) {
            const auto& half = channel->halves[direction];
            if (half) m_graph.SetPolicy(scid, direction, PolicyOf(half->update), half->update.Disabled());
        }
    }

    void OnNodeAnnouncement(const std::optional<PubKey>& origin, const NodeAnnouncementMessage& message, const Bytes& payload)
    {
        const GossipResult result = m_view.ApplyNodeAnnouncement(message, payload);
        if (result.outcome == GossipOutcome::kRejected && origin) {
            Misbehaved(*origin, "node_announcement refused: " + result.reason);
        } else if (result.outcome == GossipOutcome::kPending && origin) {
            NoteHeldOrigin(GossipMessageType::kNodeAnnouncement, payload, *origin);
        } else if (result.outcome == GossipOutcome::kAccepted) {
            m_dirty_nodes.insert(message.node_id);
            Relay(WithType(GossipMessageType::kNodeAnnouncement, message), message.timestamp, origin,
                  message.node_id == m_node_id);
        }
    }

    void OnTimestampFilter(const PubKey& peer, const GossipTimestampFilterMessage& message)
    {
        if (message.chain_hash != m_options.chain_hash) return;
        PeerState& state = m_peer_state[peer];
        state.filter = {message.first_timestamp, message.timestamp_range};
        Logger()->debug("peer {} asks for gossip from {} for {} s", Short(peer), message.first_timestamp, message.timestamp_range);
        // BOLT 7: "SHOULD send all gossip messages whose timestamp is greater or equal to
        // first_timestamp, and less than first_timestamp plus timestamp_range".
        for (auto& message_bytes : m_view.MessagesSince(message.first_timestamp, message.timestamp_range)) {
            SendTo(peer, std::move(message_bytes));
        }
    }

    void OnQueryChannelRange(const PubKey& peer, const QueryChannelRangeMessage& message)
    {
        if (message.chain_hash != m_options.chain_hash) return;
        for (const auto& reply : m_view.ChannelsInRange(message.first_blocknum, message.number_of_blocks, message.query_option)) {
            SendTo(peer, WithType(GossipMessageType::kReplyChannelRange, reply));
        }
    }

    void OnReplyChannelRange(const PubKey& peer, const ReplyChannelRangeMessage& message)
    {
        if (m_syncing_with != peer) return;
        PeerState& state = m_peer_state[peer];
        for (const auto& wanted : m_view.WantedFromReply(message, Now())) state.wanted.push_back(wanted);
        if (message.sync_complete) {
            state.range_done = true;
            QueryNextIds(peer, state);
        }
    }

    void QueryNextIds(const PubKey& peer, PeerState& state)
    {
        // BOLT 7: "MUST NOT send query_short_channel_ids if it has sent a previous
        // query_short_channel_ids to this peer and not received reply_short_channel_ids_end".
        if (state.ids_query_outstanding) return;
        if (state.wanted.empty()) {
            if (state.range_done && m_syncing_with == peer) {
                m_synced = true;
                m_syncing_with.reset();
                Logger()->info("graph synced from peer {}: {} channels, {} nodes", Short(peer), m_view.ChannelCount(),
                               m_view.NodeCount());
            }
            return;
        }
        QueryShortChannelIdsMessage query{m_options.chain_hash, {}, std::vector<uint64_t>{}, {}};
        while (!state.wanted.empty() && query.short_channel_ids.size() < kIdsPerQuery) {
            query.short_channel_ids.push_back(state.wanted.front().short_channel_id);
            query.query_flags->push_back(state.wanted.front().query_flags);
            state.wanted.pop_front();
        }
        state.ids_query_outstanding = true;
        SendTo(peer, WithType(GossipMessageType::kQueryShortChannelIds, query));
    }

    void OnQueryShortChannelIds(const PubKey& peer, const QueryShortChannelIdsMessage& message)
    {
        if (message.chain_hash != m_options.chain_hash) return;
        for (auto& bytes : m_view.MessagesForQuery(message)) SendTo(peer, std::move(bytes));
        SendTo(peer, WithType(GossipMessageType::kReplyShortChannelIdsEnd,
                              ReplyShortChannelIdsEndMessage{m_options.chain_hash, 1, {}}));
    }

    void OnReplyShortChannelIdsEnd(const PubKey& peer)
    {
        PeerState& state = m_peer_state[peer];
        state.ids_query_outstanding = false;
        QueryNextIds(peer, state);
    }

    //! BOLT 7 on invalid gossip: "SHOULD send a warning", and ignore the message. A peer that
    //! keeps sending it is no longer listened to on this connection.
    void Misbehaved(const PubKey& peer, const std::string& why)
    {
        ++m_rejected;
        PeerState& state = m_peer_state[peer];
        Logger()->info("peer {}: {}", Short(peer), why);
        WarningMessage warning;
        warning.data.assign(why.begin(), why.end());
        SendTo(peer, EncodeMessage(warning));
        if (++state.invalid >= kMaxInvalidPerPeer && !state.ignored) {
            state.ignored = true;
            Logger()->warn("peer {} sent {} invalid gossip messages: ignoring its gossip until it reconnects", Short(peer),
                           state.invalid);
        }
    }

    // ---- Our own gossip ---------------------------------------------------------------------

    void OnOurChannel(const ChannelAnnouncementMessage& announcement, Sat capacity)
    {
        const ShortChannelId scid = announcement.short_channel_id;
        const bool first = announcement.node_id_1 == m_node_id;
        OwnChannel& own = m_own.try_emplace(scid.ToU64(), first ? announcement.node_id_2 : announcement.node_id_1,
                                            first ? 0 : 1, capacity)
                              .first->second;
        Bytes payload;
        announcement.EncodePayload(payload);
        if (!m_view.Channel(scid)) OnChannelAnnouncement(std::nullopt, announcement, payload);
        SignOurUpdate(scid.ToU64(), own);
    }

    void OnOurPrivateChannel(const PubKey& peer, const ShortChannelId& scid, const OutPoint& funding, Sat capacity)
    {
        if (m_view.Channel(scid)) return;
        const uint8_t direction = m_node_id < peer ? 0 : 1;
        OwnChannel& own = m_own.try_emplace(scid.ToU64(), peer, direction, capacity).first->second;
        own.is_private = true;
        // Forgotten, with the peer's policy, once its funding output is spent.
        m_funding[funding] = scid;
        m_funding_of[scid.ToU64()] = funding;
        SignOurUpdate(scid.ToU64(), own);
        for (const auto& unknown : m_unknown_updates) {
            if (unknown.message.short_channel_id == scid) TakePrivateUpdate(unknown.origin, unknown.message, unknown.payload);
        }
    }

    //! BOLT 7: our channel_update, disabled while the peer is away ("SHOULD set the disable bit
    //! ... when the peer is not connected"), its timestamp above any we sent for the channel.
    void SignOurUpdate(uint64_t key, OwnChannel& own)
    {
        const ShortChannelId scid = ShortChannelId::FromU64(key);
        const bool connected = m_peer_state.contains(own.peer);
        ChannelUpdateMessage update{
            .signature = Unsigned(),
            .chain_hash = m_options.chain_hash,
            .short_channel_id = scid,
            .timestamp = std::max(Now(), own.last_timestamp + 1),
            .message_flags = ChannelUpdateMessage::kMustBeOneFlag,
            .channel_flags = static_cast<uint8_t>(own.direction | (connected ? 0 : ChannelUpdateMessage::kDisableFlag)),
            .cltv_expiry_delta = m_options.policy.cltv_expiry_delta,
            .htlc_minimum_msat = m_options.policy.htlc_minimum_msat,
            .fee_base_msat = static_cast<uint32_t>(m_options.policy.fee_base_msat.value()),
            .fee_proportional_millionths = m_options.policy.fee_proportional_millionths,
            // "MUST set htlc_maximum_msat to less than or equal to the channel capacity".
            .htlc_maximum_msat = std::min(m_options.policy.htlc_maximum_msat, ToMsat(own.capacity)),
            .trailing = {},
        };
        update = SignChannelUpdate(std::move(update), m_node_key);
        own.last_timestamp = update.timestamp;
        own.signed_at = Now();
        Bytes payload;
        update.EncodePayload(payload);
        own.update = WithType(GossipMessageType::kChannelUpdate, update);
        // A payer told to use the channel (a hint) learns our terms from failures too.
        NoteOurUpdate(key, own.update);
        if (own.is_private) {
            if (connected) SendTo(own.peer, own.update);
            return;
        }
        OnChannelUpdate(std::nullopt, update, payload);
        // The peer hears of our update at once, even before it is public (BOLT 7 lets a node
        // send a channel_update to its channel peer directly).
        if (connected) SendTo(own.peer, own.update);
    }

    void SignNodeAnnouncementIfChanged()
    {
        NodeAnnouncementMessage announcement{
            .signature = Unsigned(),
            .features = m_options.node_features.ToWire(),
            .timestamp = std::max(Now(), m_node_timestamp + 1),
            .node_id = m_node_id,
            .rgb_color = m_options.color,
            .alias = {},
            .addresses = NodeAnnouncementMessage::EncodeAddresses(m_options.addresses),
            .trailing = {},
        };
        std::copy_n(m_options.alias.begin(), std::min<size_t>(m_options.alias.size(), 32), announcement.alias.begin());
        if (const NodeEntry* known = m_view.Node(m_node_id); known && known->announcement) {
            const NodeAnnouncementMessage& old = known->announcement->announcement;
            if (old.features == announcement.features && old.rgb_color == announcement.rgb_color &&
                old.alias == announcement.alias && old.addresses == announcement.addresses) {
                return;
            }
        }
        announcement = SignNodeAnnouncement(std::move(announcement), m_node_key);
        m_node_timestamp = announcement.timestamp;
        Bytes payload;
        announcement.EncodePayload(payload);
        OnNodeAnnouncement(std::nullopt, announcement, payload);
    }

    // ---- Relay and timers -------------------------------------------------------------------

    void Relay(Bytes message, uint32_t timestamp, const std::optional<PubKey>& origin, bool ours)
    {
        m_relay.push_back(RelayItem{std::move(message), timestamp, origin, ours});
    }

    //! BOLT 7: a peer gets what its gossip_timestamp_filter asks for, nothing before it sent one
    //! ("MUST NOT relay any gossip messages it did not generate itself, unless explicitly
    //! requested"); what we generated ourselves (about our channels and our node) goes to all.
    void Flush()
    {
        for (const auto& item : m_relay) {
            for (const auto& [peer, state] : m_peer_state) {
                if (origin_is(item, peer)) continue;
                if (!item.ours) {
                    if (!state.filter) continue;
                    const uint64_t end = uint64_t{state.filter->first} + state.filter->second;
                    if (item.timestamp < state.filter->first || item.timestamp >= end) continue;
                }
                SendTo(peer, item.message);
            }
        }
        m_relay.clear();
    }

    static bool origin_is(const auto& item, const PubKey& peer) { return item.origin && *item.origin == peer; }

    void Tick()
    {
        const auto now_steady = std::chrono::steady_clock::now();
        const uint32_t now = Now();
        if (now_steady >= m_next_flush) {
            Flush();
            m_next_flush = now_steady + m_options.flush_interval;
        }
        for (auto& [key, own] : m_own) {
            if (now >= own.signed_at + static_cast<uint32_t>(m_options.refresh_interval.count())) SignOurUpdate(key, own);
        }
        RetryLookups(now);
        if (now >= m_next_prune) {
            for (const auto& scid : m_view.PruneStale(now)) ForgetChannel(scid);
            m_update_budget.Prune(now);
            m_peer_budget.Prune(now);
            m_next_prune = now + 3600;
        }
        // One commit (one fsync) a second at most, however fast gossip arrives.
        if (now_steady >= m_next_persist) {
            Persist();
            m_next_persist = now_steady + kPersistInterval;
        }
    }

    void RetryLookups(uint32_t now)
    {
        std::erase_if(m_retry_lookups, [&](RetryItem& item) {
            if (item.due > now) return false;
            const uint64_t key = item.pending.message.short_channel_id.ToU64();
            if (!m_lookups_pending.contains(key)) {
                m_lookups_pending.emplace(key, std::move(item.pending));
                QueueLookup(ShortChannelId::FromU64(key));
            }
            return true;
        });
    }

    //! Who sent gossip the view holds until its channel is looked up: the relay skips that peer.
    void NoteHeldOrigin(GossipMessageType type, ByteSpan payload, const PubKey& origin)
    {
        // The view drops held gossip past its limits without telling: forget everything past ours.
        if (m_held_origins.size() >= kMaxHeldOrigins) m_held_origins.clear();
        Bytes message;
        WireWriter(message).WriteU16(static_cast<uint16_t>(type));
        message.insert(message.end(), payload.begin(), payload.end());
        m_held_origins.try_emplace(std::move(message), origin);
    }

    void ForgetChannel(const ShortChannelId& scid)
    {
        // Its nodes may be left without a channel: the view forgets them, the store must too.
        if (const ChannelEntry* channel = m_view.Channel(scid)) {
            m_dirty_nodes.insert(channel->announcement.node_id_1);
            m_dirty_nodes.insert(channel->announcement.node_id_2);
        }
        m_view.RemoveChannel(scid);
        {
            const MutexLock lock(m_graph_mutex);
            m_graph.RemoveChannel(scid);
        }
        if (const auto it = m_funding_of.find(scid.ToU64()); it != m_funding_of.end()) {
            m_funding.erase(it->second);
            m_funding_of.erase(it);
        }
        m_own.erase(scid.ToU64());
        {
            const MutexLock lock(m_graph_mutex);
            m_private_policies.erase(scid.ToU64());
        }
        NoteOurUpdate(scid.ToU64(), std::nullopt);
        m_dirty_channels.insert(scid.ToU64());
    }

    void OnSpends(const std::vector<OutPoint>& spent)
    {
        for (const auto& outpoint : spent) {
            const auto it = m_funding.find(outpoint);
            if (it == m_funding.end()) continue;
            const ShortChannelId scid = it->second; // ForgetChannel erases the entry
            Logger()->info("channel {} closed on chain: forgotten", scid.ToString());
            ForgetChannel(scid);
        }
    }

    // ---- Store ------------------------------------------------------------------------------

    void Persist()
    {
        if (m_dirty_channels.empty() && m_dirty_nodes.empty()) return;
        m_env.Write([&](store::WriteTxn& txn) {
            for (const uint64_t key : m_dirty_channels) {
                const ShortChannelId scid = ShortChannelId::FromU64(key);
                const ChannelEntry* channel = m_view.Channel(scid);
                const auto funding = m_funding_of.find(key);
                if (!channel || funding == m_funding_of.end()) {
                    txn.Delete(m_channels_db, ScidKey(scid));
                    continue;
                }
                std::array<Bytes, 2> updates;
                for (size_t direction = 0; direction < 2; ++direction) {
                    const auto& half = channel->halves[direction];
                    if (half) updates[direction].assign(half->Payload().begin(), half->Payload().end());
                }
                txn.Put(m_channels_db, ScidKey(scid),
                        EncodeStoredChannel(funding->second.txid, channel->capacity, channel->Payload(), updates));
            }
            for (const PubKey& id : m_dirty_nodes) {
                const NodeEntry* node = m_view.Node(id);
                if (node && node->announcement) {
                    txn.Put(m_nodes_db, id.span(), node->announcement->Payload());
                } else {
                    txn.Delete(m_nodes_db, id.span());
                }
            }
        });
        m_dirty_channels.clear();
        m_dirty_nodes.clear();
    }

    void Load()
    {
        store::ReadTxn txn(m_env);
        size_t corrupt = 0;
        txn.ForEachPrefix(m_channels_db, {}, [&](ByteSpan key, ByteSpan value) {
            if (!LoadChannel(key, value)) ++corrupt;
            return true;
        });
        txn.ForEachPrefix(m_nodes_db, {}, [&](ByteSpan, ByteSpan value) {
            const Bytes payload(value.begin(), value.end());
            auto node = NodeAnnouncementMessage::DecodePayload(payload);
            if (!node) {
                ++corrupt;
                return true;
            }
            m_view.ApplyNodeAnnouncement(*node, payload, GossipCheck::kTrusted);
            if (node->node_id == m_node_id) m_node_timestamp = node->timestamp;
            return true;
        });
        m_loading = false;
        // Our alias, color or addresses may have changed since the last run.
        if (!m_own.empty()) SignNodeAnnouncementIfChanged();
        m_relay.clear();
        m_dirty_channels.clear();
        m_dirty_nodes.clear();
        if (corrupt) Logger()->warn("{} stored gossip entries could not be read back; peers will send them again", corrupt);
        Logger()->info("graph loaded: {} channels, {} nodes", m_view.ChannelCount(), m_view.NodeCount());
    }

    //! A stored channel: verified when it was stored, so its funding is not looked up again.
    bool LoadChannel(ByteSpan key, ByteSpan value)
    {
        const auto stored = DecodeStoredChannel(value);
        if (!stored || key.size() != 8) return false;
        const auto announcement = ChannelAnnouncementMessage::DecodePayload(stored->announcement);
        if (!announcement) return false;
        const OutPoint funding{stored->funding_txid, announcement->short_channel_id.output_index};
        AddChannel(*announcement, stored->announcement, stored->capacity, funding, std::nullopt);
        for (const Bytes& payload : stored->updates) {
            if (payload.empty()) continue;
            const auto update = ChannelUpdateMessage::DecodePayload(payload);
            if (!update) return false;
            // Checked when it was stored: not verified again.
            if (update->short_channel_id != announcement->short_channel_id ||
                m_view.ApplyChannelUpdate(*update, payload, Now(), GossipCheck::kTrusted).outcome != GossipOutcome::kAccepted) {
                continue;
            }
            SyncGraph(update->short_channel_id);
            NoteOwnTimestamp(*update);
        }
        return true;
    }

    void NoteOwnTimestamp(const ChannelUpdateMessage& update)
    {
        const auto* channel = m_view.Channel(update.short_channel_id);
        if (!channel) return;
        const PubKey& signer = update.Direction() == 0 ? channel->announcement.node_id_1 : channel->announcement.node_id_2;
        if (signer != m_node_id) return;
        const uint8_t direction = static_cast<uint8_t>(update.Direction());
        OwnChannel& own = m_own.try_emplace(update.short_channel_id.ToU64(), channel->NodeId(1 - direction), direction,
                                            channel->capacity)
                              .first->second;
        own.last_timestamp = update.timestamp;
        own.signed_at = update.timestamp;
        own.update = WithType(GossipMessageType::kChannelUpdate, update);
        NoteOurUpdate(update.short_channel_id.ToU64(), own.update);
    }

    // ---- Queries ----------------------------------------------------------------------------

    void OnPolicy(const ForwardPolicy& policy)
    {
        m_options.policy = policy;
        for (auto& [key, own] : m_own) SignOurUpdate(key, own);
    }

    std::vector<GraphNodeSummary> SummarizeNodes(const std::optional<PubKey>& only) const
    {
        std::vector<GraphNodeSummary> out;
        for (const auto& [id, node] : m_view.Nodes()) {
            if (only && id != *only) continue;
            GraphNodeSummary summary{id};
            if (node.announcement) summary.announcement = node.announcement->announcement;
            summary.channels = node.channels.size();
            out.push_back(std::move(summary));
        }
        return out;
    }

    std::vector<GraphChannelSummary> SummarizeChannels(const std::optional<ShortChannelId>& only) const
    {
        std::vector<GraphChannelSummary> out;
        for (const auto& [scid, channel] : m_view.Channels()) {
            if (only && scid != *only) continue;
            for (int direction = 0; direction < 2; ++direction) {
                GraphChannelSummary summary{channel.NodeId(direction), channel.NodeId(1 - direction)};
                summary.short_channel_id = scid;
                summary.capacity = channel.capacity;
                if (channel.halves[direction]) summary.update = channel.halves[direction]->update;
                out.push_back(std::move(summary));
            }
        }
        return out;
    }

    GossipStats Stats() const { return GossipStats{m_view.ChannelCount(), m_view.NodeCount(), m_rejected}; }

    std::optional<Bytes> OurUpdate(const ShortChannelId& scid) EXCLUDES(m_our_updates_mutex)
    {
        const MutexLock lock(m_our_updates_mutex);
        const auto it = m_our_updates.find(scid.ToU64());
        if (it == m_our_updates.end()) return std::nullopt;
        return it->second;
    }

    void NoteOurUpdate(uint64_t key, const std::optional<Bytes>& update) EXCLUDES(m_our_updates_mutex)
    {
        const MutexLock lock(m_our_updates_mutex);
        if (update) {
            m_our_updates[key] = *update;
        } else {
            m_our_updates.erase(key);
        }
    }

    void RecordAttempt(const Route& route, std::optional<size_t> failed_channel) EXCLUDES(m_graph_mutex)
    {
        const MutexLock lock(m_graph_mutex);
        const uint32_t now = Now();
        for (size_t i = 0; i < route.hops.size(); ++i) {
            if (failed_channel && i > *failed_channel) break;
            // The direction bit: 0 when the channel's lesser node (node_id_1) forwards.
            const PubKey& from = i == 0 ? m_node_id : route.hops[i - 1].node_id;
            const ChannelDirection direction = from < route.hops[i].node_id ? 0 : 1;
            if (failed_channel && i == *failed_channel) {
                m_scorer.RecordFailure(route.hops[i].short_channel_id, direction, route.hops[i].amount_msat, now);
            } else {
                m_scorer.RecordSuccess(route.hops[i].short_channel_id, direction, route.hops[i].amount_msat, now);
            }
        }
    }

    Expected<std::vector<PathEdge>, PathfindError> FindPath(const PathRequest& request) EXCLUDES(m_graph_mutex)
    {
        const MutexLock lock(m_graph_mutex);
        return sidebolt::FindPath(m_graph, request, &m_scorer, Now());
    }

    //! A payment's failure brought the update: the graph takes it at once, for the payment's
    //! retry; the view then keeps it (and relays it) if it is the newest, else restores the graph.
    void ApplyPaymentUpdate(const ChannelUpdateMessage& update, ByteSpan payload) EXCLUDES(m_graph_mutex)
    {
        {
            const MutexLock lock(m_graph_mutex);
            const RoutingGraph::Channel* channel = m_graph.FindChannel(update.short_channel_id);
            if (channel == nullptr) return;
            const auto direction = static_cast<ChannelDirection>(update.Direction());
            const auto& signer = m_graph.NodeKey(channel->nodes[direction]);
            if (!signer || !VerifyChannelUpdate(update, payload, *signer)) return;
            m_graph.SetPolicy(update.short_channel_id, direction, PolicyOf(update), update.Disabled());
        }
        Post([this, update, payload = Bytes(payload.begin(), payload.end())] {
            OnChannelUpdate(std::nullopt, update, payload);
            SyncGraph(update.short_channel_id);
        });
    }

    std::optional<ForwardPolicy> ChannelPolicy(const ShortChannelId& scid, const PubKey& from) EXCLUDES(m_graph_mutex)
    {
        const MutexLock lock(m_graph_mutex);
        if (auto announced = m_graph.PolicyFrom(scid, from)) return announced;
        const auto known = m_private_policies.find(scid.ToU64());
        if (known == m_private_policies.end() || known->second.peer != from) return std::nullopt;
        return known->second.policy;
    }

    Expected<std::vector<RoutePart>, PathfindError> FindRoutes(const PathRequest& request, Msat min_part) EXCLUDES(m_graph_mutex)
    {
        const MutexLock lock(m_graph_mutex);
        return sidebolt::FindRoutes(m_graph, request, &m_scorer, Now(), min_part);
    }

    // ---- Threads ----------------------------------------------------------------------------

    void Run() EXCLUDES(m_mutex)
    {
        for (;;) {
            std::deque<std::function<void()>> jobs;
            {
                UniqueLock lock(m_mutex);
                lock.WaitFor(m_cv, kTick, [&]() REQUIRES(m_mutex) { return m_stopping || !m_jobs.empty(); });
                if (m_stopping) break;
                jobs.swap(m_jobs);
            }
            for (auto& job : jobs) {
                try {
                    job();
                } catch (const std::exception& e) {
                    Logger()->error("gossip: {}", e.what());
                }
            }
            try {
                Tick();
            } catch (const std::exception& e) {
                Logger()->error("gossip: {}", e.what());
            }
        }
        Persist();
    }

    void QueueLookup(const ShortChannelId& scid) EXCLUDES(m_mutex)
    {
        {
            const MutexLock lock(m_mutex);
            m_lookups.push_back(scid);
        }
        m_lookup_cv.notify_one();
    }

    void RunLookups() EXCLUDES(m_mutex)
    {
        for (;;) {
            ShortChannelId scid;
            {
                UniqueLock lock(m_mutex);
                lock.Wait(m_lookup_cv, [&]() REQUIRES(m_mutex) { return m_stopping || !m_lookups.empty(); });
                if (m_stopping) return;
                scid = m_lookups.front();
                m_lookups.pop_front();
            }
            const FundingLookup lookup = m_chain.LookupFunding(scid.block_height, scid.tx_index, scid.output_index);
            Post([this, scid, lookup] { OnLookedUp(scid, lookup); });
        }
    }

    uint32_t Now() const { return m_options.clock(); }

    //! To the peer's connection we last heard of: a query or filter meant for one that ended is
    //! not repeated on the next, which gets its own.
    void SendTo(const PubKey& peer, Bytes message)
    {
        const auto it = m_peer_state.find(peer);
        if (it != m_peer_state.end()) m_peers.Send(peer, it->second.connection, std::move(message));
    }

    static Msat ToMsat(Sat sat) { return Msat{static_cast<uint64_t>(sat.value()) * 1000}; }

    store::Env& m_env;
    PeerLink& m_peers;
    GossipChain& m_chain;
    const PrivKey m_node_key;
    const PubKey m_node_id;
    GossipOptions m_options;
    store::Db m_channels_db;
    store::Db m_nodes_db;

    // Gossip thread only.
    NetworkView m_view;
    std::map<PubKey, PeerState> m_peer_state;
    std::map<uint64_t, PendingAnnouncement> m_lookups_pending;
    std::vector<RetryItem> m_retry_lookups;
    std::map<uint64_t, OwnChannel> m_own;
    std::map<uint64_t, OutPoint> m_funding_of;
    std::vector<RelayItem> m_relay;
    std::set<uint64_t> m_dirty_channels;
    std::set<PubKey> m_dirty_nodes;
    KeyedTokenBuckets<PubKey> m_peer_budget{kPeerBurst, kPeerPerSecond};
    KeyedTokenBuckets<uint64_t> m_update_budget{kUpdateBurst, kUpdatePerSecond};
    std::optional<PubKey> m_syncing_with;
    bool m_synced{false};
    //! While the store is read back: nothing is signed or relayed.
    bool m_loading{true};
    //! Held channel_updates and node_announcements (u16 type then payload) by the peer that sent them.
    std::map<Bytes, PubKey> m_held_origins;
    //! Peers' latest updates for channels not (yet) known: see NoteUnknownUpdate.
    std::deque<UnknownUpdate> m_unknown_updates;
    uint32_t m_node_timestamp{0};
    uint32_t m_next_prune{0};
    std::chrono::steady_clock::time_point m_next_flush{};
    std::chrono::steady_clock::time_point m_next_persist{};
    uint64_t m_rejected{0};
    uint64_t m_dropped{0};

    //! Funding outpoints of the known channels, to see them spent in blocks.
    std::map<OutPoint, ShortChannelId> m_funding;

    //! Our latest channel_updates, read by the channel worker when it fails a forward.
    Mutex m_our_updates_mutex;
    std::map<uint64_t, Bytes> m_our_updates GUARDED_BY(m_our_updates_mutex);

    //! What payers search, from their own threads.
    Mutex m_graph_mutex;
    RoutingGraph m_graph GUARDED_BY(m_graph_mutex);
    PaymentScorer m_scorer GUARDED_BY(m_graph_mutex);
    std::map<uint64_t, PrivatePolicy> m_private_policies GUARDED_BY(m_graph_mutex);

    Mutex m_mutex;
    std::condition_variable m_cv;
    std::condition_variable m_lookup_cv;
    std::deque<std::function<void()>> m_jobs GUARDED_BY(m_mutex);
    std::deque<ShortChannelId> m_lookups GUARDED_BY(m_mutex);
    bool m_stopping GUARDED_BY(m_mutex){false};
    std::thread m_thread;
    std::thread m_lookup_thread;
};

GossipManager::GossipManager(store::Env& env, PeerLink& peers, GossipChain& chain, PrivKey node_key, GossipOptions options)
    : m_impl(std::make_unique<Impl>(env, peers, chain, std::move(node_key), std::move(options)))
{
}

GossipManager::~GossipManager() { Stop(); }

void GossipManager::Start() { m_impl->Start(); }
void GossipManager::Stop() { m_impl->Stop(); }

void GossipManager::OnPeerConnected(const PubKey& peer, const FeatureBits& features, uint64_t connection)
{
    m_impl->Post([this, peer, features, connection] { m_impl->OnConnected(peer, features, connection); });
}

void GossipManager::OnPeerDisconnected(const PubKey& peer)
{
    m_impl->Post([this, peer] { m_impl->OnDisconnected(peer); });
}

bool GossipManager::OnPeerMessage(const PubKey& peer, uint16_t type, ByteSpan payload)
{
    if (!IsGossipMessageKnown(type) || type == static_cast<uint16_t>(GossipMessageType::kAnnouncementSignatures)) return false;
    m_impl->Post([this, peer, type, bytes = Bytes(payload.begin(), payload.end())] { m_impl->OnMessage(peer, type, bytes); });
    return true;
}

void GossipManager::AnnounceOurChannel(const ChannelAnnouncementMessage& announcement, Sat capacity)
{
    m_impl->Post([this, announcement, capacity] { m_impl->OnOurChannel(announcement, capacity); });
}

void GossipManager::OurPrivateChannel(const PubKey& peer, const ShortChannelId& scid, const OutPoint& funding, Sat capacity)
{
    m_impl->Post([this, peer, scid, funding, capacity] { m_impl->OnOurPrivateChannel(peer, scid, funding, capacity); });
}

void GossipManager::SetPolicy(const ForwardPolicy& policy)
{
    m_impl->Post([this, policy] { m_impl->OnPolicy(policy); });
}

std::vector<GraphNodeSummary> GossipManager::ListNodes(const std::optional<PubKey>& node_id)
{
    return m_impl->Ask([this, node_id] { return m_impl->SummarizeNodes(node_id); });
}

std::vector<GraphChannelSummary> GossipManager::ListChannels(const std::optional<ShortChannelId>& scid)
{
    return m_impl->Ask([this, scid] { return m_impl->SummarizeChannels(scid); });
}

GossipStats GossipManager::Stats()
{
    return m_impl->Ask([this] { return m_impl->Stats(); });
}

std::optional<Bytes> GossipManager::OurChannelUpdate(const ShortChannelId& scid) { return m_impl->OurUpdate(scid); }

Expected<std::vector<PathEdge>, PathfindError> GossipManager::FindPath(const PathRequest& request)
{
    return m_impl->FindPath(request);
}

void GossipManager::ApplyPaymentUpdate(const ChannelUpdateMessage& update, ByteSpan payload)
{
    m_impl->ApplyPaymentUpdate(update, payload);
}

std::optional<ForwardPolicy> GossipManager::ChannelPolicy(const ShortChannelId& scid, const PubKey& from)
{
    return m_impl->ChannelPolicy(scid, from);
}

Expected<std::vector<RoutePart>, PathfindError> GossipManager::FindRoutes(const PathRequest& request, Msat min_part)
{
    return m_impl->FindRoutes(request, min_part);
}

void GossipManager::RecordAttempt(const Route& route, std::optional<size_t> failed_channel)
{
    m_impl->RecordAttempt(route, failed_channel);
}

void GossipManager::OnBlockConnected(store::WriteTxn&, int, const Hash256&, const Block& block)
{
    std::vector<OutPoint> spent;
    for (const Transaction& tx : block.txs) {
        for (const TxIn& input : tx.vin) spent.push_back(input.prevout);
    }
    m_impl->Post([this, spent = std::move(spent)] { m_impl->OnSpends(spent); });
}

} // namespace sidebolt
