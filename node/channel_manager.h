#ifndef SIDEBOLT_NODE_CHANNEL_MANAGER_H
#define SIDEBOLT_NODE_CHANNEL_MANAGER_H

#include "chain/follower.h"
#include "chain/watches.h"
#include "channel/close.h"
#include "channel/commitment_broadcast.h"
#include "channel/opening.h"
#include "channel/signer.h"
#include "node/channel_record.h"
#include "node/closed_channel.h"
#include "node/htlc_router.h"
#include "node/interfaces.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "store/env.h"
#include "util/amount.h"
#include "util/parallel.h"
#include "util/secure.h"
#include "wire/features.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <span>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace sidebolt {

struct ChannelManagerOptions {
    Hash256 chain_hash{};
    FeatureBits our_features = OurInitFeatures();
    OpenPolicy policy;
    //! max-pending-opens per peer (opens not yet locked in), both directions.
    size_t max_pending_opens_per_peer{4};
    //! BOLT 2: the fundee "SHOULD forget the channel if it does not see the correct funding
    //! transaction after a timeout of 2016 blocks".
    uint32_t fundee_forget_blocks{2016};
    //! How long an RPC waits for the peer's answers (open and close) before it gives up waiting;
    //! the channel itself goes on.
    std::chrono::milliseconds rpc_timeout{std::chrono::seconds(60)};
    //! Reconnection backoff to channel peers: doubles from min to max.
    std::chrono::milliseconds reconnect_min{std::chrono::seconds(1)};
    std::chrono::milliseconds reconnect_max{std::chrono::seconds(60)};
    //! Called on the worker after each batch's messages were handed to the peer layer, with
    //! their BOLT types (tests use it to crash right after a given message).
    std::function<void(std::span<const uint16_t> types)> after_send;
    //! Flow control: once this many of a peer's messages wait for the worker, its connection
    //! stops being read (PeerLink::PauseReading) until the worker has taken them down to
    //! resume_queued_peer_messages. Nothing is dropped and the connection stays up; a flood
    //! waits in the peer's socket, not in our memory. A few more messages may arrive after
    //! the pause (those the peer layer had read already).
    size_t max_queued_peer_messages{256};
    size_t resume_queued_peer_messages{64};
    //! Threads that help the worker sign and check a commitment's HTLC signatures: with many
    //! HTLCs in flight those dominate each commitment round. 0 keeps it all on the worker.
    size_t signature_helpers{std::max(1U, std::thread::hardware_concurrency()) - 1};
    //! Wake the worker once per read of a peer's socket (OnPeerReadDelivered) rather than per
    //! message: a revoke_and_ack and the commitment_signed behind it then share one batch and
    //! one write. Only for a peer layer that reports its reads.
    bool wake_per_read{false};
    /**
     * How long a commitment_signed that only settles our HTLCs waits to be answered with our next
     * HTLC, and how long our commitment_signed for fulfills alone waits for the peer's (one
     * commitment round then takes the settlement of a payment and the offer of the next). 20 ms:
     * with 5, a payment delayed by a store checkpoint let the wait run out, and the settlement
     * took a round (two more commits) of its own in the middle of the next payment.
     */
    std::chrono::milliseconds settle_wait{20};
    /**
     * BOLT 7 announcement of channels opened with `announce`: our node_id and a signer with our
     * node key (the key stays with the caller). Without them no announcement_signatures leave.
     */
    std::optional<PubKey> node_id;
    std::function<EcdsaSignature(const Hash256&)> node_sign;
    //! Called on the worker, after the commit, with a channel_announcement both sides signed
    //! (at start for every such channel still open, then as each completes) and its capacity.
    std::function<void(const ChannelAnnouncementMessage&, Sat capacity)> on_channel_announced;
    //! A channel not to be announced is in normal operation (again, after each reconnection):
    //! the gossip manager gives the peer our channel_update directly.
    std::function<void(const PubKey& peer, const ShortChannelId&, const OutPoint& funding, Sat capacity)> on_private_channel;
    //! Called as each input reaches the manager and as its messages leave: an answer is
    //! likely soon (the daemon keeps its CPUs awake for it, IdlePoller::Touch).
    std::function<void()> on_activity;
    //! Runs work on an idle-priority thread (IdlePoller::Post): work done ahead of need (the
    //! next commitments' keys), and help with a received commitment's signature checks. False,
    //! or unset: the worker does it itself.
    IdleRunner run_when_idle;
};

struct FundChannelRequest {
    explicit FundChannelRequest(PubKey peer_id) : peer(std::move(peer_id)) {}

    PubKey peer;
    Sat amount{0};
    Msat push{0};
    //! Commitment feerate; nullopt takes the estimate.
    std::optional<uint32_t> feerate_per_kw;
    bool announce{false};
    //! Spend only wallet coins with at least this many confirmations (bitcoind's default otherwise).
    std::optional<uint32_t> minconf;
};

struct FundChannelResult {
    Hash256 channel_id{};
    Hash256 funding_txid{};
    uint32_t funding_output{0};
};

struct CloseResult {
    Hash256 channel_id{};
    Transaction closing_tx;
};

//! A channel's funding spend and what the node does about each output (BOLT 5).
struct OnchainSummary {
    Hash256 spend_txid{};
    std::optional<uint32_t> spend_height;
    //! SpendKindName; empty until the wallet gave an address to sweep to (nothing is resolved before).
    std::string kind;
    struct Output {
        std::string duty;
        uint32_t output_index{0};
        Sat amount;
        //! The first block that may include our spend of it; unknown while a CSV waits for the
        //! funding spend to confirm.
        std::optional<uint32_t> valid_from_height;
        //! Our spend of it, once it can be built (a preimage may be missing).
        std::optional<Hash256> txid;
        bool broadcast{false};
        //! Versions of it replaced by txid at higher feerates, and txid's feerate when bumped.
        size_t replaced{0};
        std::optional<uint32_t> feerate_per_kw;
        //! The transaction seen spending the output (ours or the peer's), and where it confirmed.
        std::optional<Hash256> spent_by;
        std::optional<uint32_t> spent_height;
    };
    std::vector<Output> outputs;
    //! Output 0 of a second-stage HTLC transaction still to resolve: ours, swept after our
    //! delay, or the cheater's, penalized before its CSV lets the cheater take it.
    struct SecondStage {
        Hash256 txid{};
        //! The output of the funding spend it spent, and what resolving it is.
        uint32_t output_index{0};
        std::string duty;
        //! Our sweep: the first block that may include it. The cheater's: the first block that may
        //! include the cheater's own sweep, our penalty's deadline being the block before.
        std::optional<uint32_t> valid_from_height;
        //! Our newest transaction spending it, the versions it replaced and its feerate when bumped.
        std::optional<Hash256> our_txid;
        size_t replaced{0};
        std::optional<uint32_t> feerate_per_kw;
        std::optional<Hash256> spent_by;
        std::optional<uint32_t> spent_height;
    };
    std::vector<SecondStage> second_stage;
    std::optional<Hash256> penalty_txid;
    bool penalty_broadcast{false};
    size_t penalty_replaced{0};
    std::optional<uint32_t> penalty_feerate_per_kw;
};

//! One channel as listchannels shows it.
struct ChannelSummary {
    explicit ChannelSummary(PubKey peer_id) : peer(std::move(peer_id)) {}

    PubKey peer;
    bool peer_connected{false};
    Hash256 channel_id{};
    std::optional<ShortChannelId> short_channel_id;
    ChannelPhase phase{ChannelPhase::AWAITING_LOCKIN};
    bool opener{false};
    CommitmentFormat format{CommitmentFormat::ANCHORS};
    Sat capacity{0};
    Msat local_balance{0};
    Msat remote_balance{0};
    HtlcLimits local_limits;
    HtlcLimits remote_limits;
    uint32_t feerate_per_kw{0};
    size_t pending_htlcs{0};
    OutPoint funding_outpoint;
    uint32_t funding_confirmations{0};
    uint32_t minimum_depth{0};
    std::optional<Hash256> closing_txid;
    std::string failure;
    std::optional<OnchainSummary> onchain;
};

/**
 * The one owner of all channel state. Peer messages, RPC commands and chain events become
 * inputs to one worker thread, which steps the pure channel logic, writes every changed channel
 * in one LMDB transaction per batch of inputs (one fsync for many channels) and only after that
 * commit sends the messages that depend on it: persist before send. The chain listener side
 * runs on the follower's thread and only records what it saw, in the follower's transaction,
 * in an inbox the worker drains, so no block's effect on a channel is lost to a crash.
 */
class ChannelManager : public ChainListener, public WatchListener
{
public:
    using SecretForIndex = std::function<Secret<32>(uint64_t channel_index)>;

    ChannelManager(store::Env& env, PeerLink& peers, ChannelWallet& wallet, ChannelChain& chain,
                   SecretForIndex channel_secret, ChannelManagerOptions options);
    ~ChannelManager() override;
    ChannelManager(const ChannelManager&) = delete;
    ChannelManager& operator=(const ChannelManager&) = delete;

    //! Loads the channels and starts the worker. Register as a chain listener before the
    //! chain service starts, with the follower's current tip height.
    void Start(uint32_t tip_height);
    void Stop();

    // Peer events (any thread; usually the peer event loop's). OnPeerMessage returns whether
    // the type is a channel message (BOLT 1: the caller closes the connection on an unknown
    // even type). `connection` is the peer layer's number for the connection (PeerLink::Send).
    void OnPeerConnected(const PubKey& peer, const FeatureBits& features, uint64_t connection);
    void OnPeerDisconnected(const PubKey& peer);
    bool OnPeerMessage(const PubKey& peer, uint16_t type, ByteSpan payload);
    //! The messages of one read from the peer have all been passed to OnPeerMessage.
    void OnPeerReadDelivered(const PubKey& peer);
    //! An `error` (fails the named channel, or all with the peer) or a `warning` (logged).
    void OnPeerNotice(const PubKey& peer, const Hash256& channel_id, bool is_error, const std::string& text);
    //! Where a peer can be reached, for reconnection (remembered in the store).
    void RememberPeerAddress(const PubKey& peer, const std::string& host, uint16_t port);

    // RPC commands (any thread; they block until the answer, at most options.rpc_timeout).
    // Throw NodeError.
    FundChannelResult FundChannel(const FundChannelRequest& request);
    //! `feerate_per_kw`: the closing fee we aim for (the estimate otherwise); the negotiation
    //! with the peer still settles inside both fee ranges. Waits at most `timeout` (the RPC
    //! timeout by default) for the closing transaction (kErrTimeout: it may still complete).
    CloseResult Close(const Hash256& channel_id, std::optional<Bytes> destination,
                      std::optional<uint32_t> feerate_per_kw = std::nullopt,
                      std::optional<std::chrono::milliseconds> timeout = std::nullopt);
    /**
     * Fails the channel and broadcasts our latest commitment (BOLT 5 unilateral close); on-chain
     * resolution then sweeps our outputs back to bitcoind's wallet as they become spendable.
     * Returns the commitment once it is stored for rebroadcast.
     */
    CloseResult ForceClose(const Hash256& channel_id);
    /**
     * Test only: our current commitment, signed, without broadcasting it, and its HTLC
     * transactions (DevSignedLocalHtlcTxs). Once the channel moves on it is a revoked commitment,
     * which tests publish to play the cheater.
     */
    struct DevCommitment {
        Transaction commitment;
        std::vector<DevHtlcTx> htlc_txs;
    };
    DevCommitment DevSignLastCommitment(const Hash256& channel_id);
    std::vector<ChannelSummary> ListChannels();
    //! Channels whose close became irrevocable (their last spend 100 blocks deep), oldest first
    //! by channel id; they are no longer in ListChannels.
    std::vector<ClosedChannel> ListClosedChannels();

    // Payments (BOLT 4): the router decides, the manager carries it out on the channels.
    //! Before Start: incoming HTLCs are peeled, paid or forwarded, and Pay works.
    void SetRouter(HtlcRouter& router);
    //! Sends a payment and waits (at most `timeout`) for its outcome: complete or failed.
    PaymentRecord Pay(PayRequest request, std::chrono::milliseconds timeout);
    std::vector<PaymentRecord> ListPayments();
    //! sendpay: starts the payment (over request.fixed_route) and returns its pending record
    //! once the first HTLC is committed to our store.
    PaymentRecord StartPayment(PayRequest request);
    //! waitsendpay: the payment's record once it is complete or failed (at most `timeout`).
    PaymentRecord WaitPayment(const Hash256& payment_hash, std::chrono::milliseconds timeout);
    //! Our forwarding policy (setchannelfee); returns the policy now in force.
    ForwardPolicy SetForwardPolicy(const ForwardPolicy& policy);
    /**
     * Route hints for our invoices: one per usable channel, from its peer to us. Until gossip
     * (BOLT 7) tells us the peer's own channel_update, each carries `assumed`, the policy sidebolt
     * nodes have by default.
     */
    std::vector<std::vector<HintHop>> RouteHints(const ForwardPolicy& assumed);

    // ChainListener (the follower's thread, inside its write transaction).
    void OnBlockConnected(store::WriteTxn& txn, int height, const Hash256& hash, const Block& block) override;
    void OnBlockDisconnected(store::WriteTxn& txn, int height, const Hash256& hash) override;
    void OnBlockAborted() override;
    //! After the follower committed: wakes the worker to act on the blocks at once.
    void OnTipChanged(const BlockRef& tip) override;
    //! WatchListener for the funding outputs (ChannelChain::WatchSpends): spends in the mempool.
    void OnWatchEvent(store::WriteTxn& txn, const WatchEvent& event) override;
    //! The tag prefix of those watches, to register this listener with.
    static std::string WatchTagPrefix();

private:
    class Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace sidebolt

#endif
