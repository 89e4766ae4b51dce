#ifndef SIDEBOLT_NODE_HTLC_ROUTER_H
#define SIDEBOLT_NODE_HTLC_ROUTER_H

#include "channel/machine.h"
#include "node/invoice_store.h"
#include "node/payment_record.h"
#include "pay/hop_payload.h"
#include "pay/onion_failure.h"
#include "pay/receive.h"
#include "pay/pathfind.h"
#include "pay/route.h"
#include "pay/sphinx.h"
#include "primitives/key.h"
#include "store/env.h"
#include "util/amount.h"
#include "util/secure.h"
#include "wire/gossip_messages.h"
#include "wire/wire.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace sidebolt {

//! One of our channels as the router sees it (channel worker thread, during a batch).
struct RouterChannel {
    explicit RouterChannel(PubKey peer_id) : peer(std::move(peer_id)) {}

    PubKey peer;
    Hash256 channel_id{};
    ShortChannelId short_channel_id;
    //! Connected and in normal operation: it can take a new HTLC now.
    bool usable{false};
    //! What we can still offer (balance less reserve, fees and HTLCs in flight), an estimate:
    //! the state machine has the last word when the HTLC is offered.
    Msat spendable_msat{0};
    //! The peer's htlc_minimum_msat: the smallest HTLC it accepts from us.
    Msat htlc_minimum_msat{0};
};

/**
 * Where the preimage of a fulfill comes from. One already in the store (an invoice's, or the
 * keysend record of an onion kept with its HTLC) survives a crash, so the update may leave before
 * the batch is written; one learned in this batch (from downstream) must be written first.
 */
enum class PreimageKnown { BEFORE_BATCH, IN_BATCH };

/**
 * What the router asks of the channel manager. Called on the worker thread while a batch is
 * being built: the channel steps happen at once, writes join the batch's transaction, and
 * nothing leaves the process before it commits.
 */
class RouterChannels
{
public:
    virtual ~RouterChannels() = default;
    virtual std::vector<RouterChannel> Channels() = 0;
    //! Offers an HTLC; the id the channel assigned, or nullopt when the channel refused it.
    virtual std::optional<uint64_t> Offer(const Hash256& channel_id, const AddHtlcCommand& command) = 0;
    //! `known` says whether the preimage may be revealed before the batch is written.
    virtual void Fulfill(const Hash256& channel_id, uint64_t htlc_id, const Hash256& preimage, PreimageKnown known) = 0;
    virtual void Fail(const Hash256& channel_id, uint64_t htlc_id, Bytes reason) = 0;
    virtual void FailMalformed(const Hash256& channel_id, uint64_t htlc_id, const Hash256& sha256_of_onion,
                               uint16_t failure_code) = 0;
    virtual void Write(std::function<void(store::WriteTxn&)> write) = 0;
    virtual void AfterCommit(std::function<void()> callback) = 0;
    //! Runs before the batch is written: for an answer that depends on nothing the batch writes.
    virtual void BeforeCommit(std::function<void()> callback) = 0;
};

//! Our forwarding policy (settings `-feebase`, `-feeppm`, `-cltvdelta`, `-htlcminimummsat`).
struct RouterOptions {
    ForwardPolicy policy;
    //! Retry budget of one payment: attempts (routes tried) at most.
    size_t max_attempts{10};
    //! Pathfinding over the public graph (gossip, BOLT 7), from any thread; without it routes
    //! go over our channels and the invoice's hints only.
    std::function<Expected<std::vector<PathEdge>, PathfindError>(const PathRequest&)> find_path;
    //! Multi-part over the graph: parts of at least min_part whose paths together carry the
    //! amount (FindRoutes); without it a payment splits across our own channels only.
    std::function<Expected<std::vector<RoutePart>, PathfindError>(const PathRequest&, Msat min_part)> find_routes;
    /**
     * What each attempt of our payments taught: the route, and the index of the channel the
     * failing node could not use (nullopt: every channel carried it, the payment went through).
     * The graph's scorer learns channel liquidity from it.
     */
    std::function<void(const Route& route, std::optional<size_t> failed_channel)> on_attempt;
    /**
     * The policy `from` announced for its side of a channel, when known: a route hint says what
     * the payee believed, the node's own channel_update what it charges.
     */
    std::function<std::optional<ForwardPolicy>(const ShortChannelId&, const PubKey& from)> channel_policy;
    /**
     * A channel_update a failing node sent back with its failure, its signature checked: the
     * graph takes it (when it knows the channel) before the payment retries.
     */
    std::function<void(const ChannelUpdateMessage& update, ByteSpan payload)> on_channel_update;
    //! Our channel_update of an announced channel (type-prefixed), for BOLT 4 failures that carry one.
    std::function<std::optional<Bytes>(const ShortChannelId&)> our_channel_update;
};

//! pay / keysend / sendpay: what to pay, to whom, and the limits.
struct PayRequest : PaymentTerms {
    explicit PayRequest(PubKey payee_id) : payee(std::move(payee_id)) {}

    PubKey payee;
    Hash256 payment_hash{};
    Msat amount_msat{0};
    std::string bolt11;
    std::string label;
};

//! Called once with the final record of a payment (complete or failed).
using PayCallback = std::function<void(const PaymentRecord&)>;

/**
 * BOLT 4 at a node: peels the onion of every incoming HTLC once it is locked in, then pays one
 * of our invoices, or forwards it over the channel its payload names, checking our policy; it
 * settles forwarded HTLCs upstream as soon as downstream settles, and sends our own payments,
 * retrying over other routes until they succeed, fail for good, or run out of time. Every
 * link between an outgoing HTLC and where it came from is written with the batch that offers it.
 */
class HtlcRouter
{
public:
    HtlcRouter(store::Env& env, InvoiceStore& invoices, PrivKey node_key, RouterOptions options);

    //! Loads the HTLC links and pending payments (before the channel manager's first input).
    void Load();

    // Channel events (worker thread, in a batch).
    void OnIncomingLockedIn(RouterChannels& channels, const Hash256& channel_id, const HtlcLockedIn& htlc,
                            uint32_t height, uint64_t now);
    void OnOutgoingFulfilled(RouterChannels& channels, const Hash256& channel_id, const HtlcFulfilled& htlc, uint64_t now);
    void OnOutgoingFailed(RouterChannels& channels, const Hash256& channel_id, const HtlcFailed& htlc,
                          uint32_t height, uint64_t now);
    /**
     * An HTLC we offered was timed out on chain and our spend is deep enough. BOLT 5: "MUST fail
     * the corresponding incoming HTLC": a forwarded one with permanent_channel_failure from us, a
     * part of our own payment as failed (the payment may retry elsewhere).
     */
    void OnOutgoingTimedOutOnChain(RouterChannels& channels, const Hash256& channel_id, uint64_t htlc_id, uint32_t height,
                                   uint64_t now);
    /**
     * Our claim of an HTLC offered to us, with the preimage of one of our invoices
     * (PreimageToClaim), is deep on chain: the invoice is paid, as if the HTLC had been fulfilled
     * off chain. Nothing for a forwarded HTLC or an invoice paid already.
     */
    void OnIncomingClaimedOnChain(RouterChannels& channels, const Hash256& payment_hash, Msat amount_msat, uint64_t now);
    //! Times out held multi-part sets.
    void OnTimer(RouterChannels& channels, uint64_t now);
    /**
     * Peels an incoming HTLC's onion ahead of its lock-in, for OnIncomingLockedIn to find (worker
     * thread, while it waits). The peer's update_add_htlc comes before the commitment_signed
     * that covers it, and the lock-in a round trip later: the shared secret (an EC
     * multiplication) and the decryption are then no longer in the payment's path. Nothing is
     * decided here: the HTLC may never be committed.
     */
    void PeelAhead(const Hash256& channel_id, uint64_t htlc_id, const Hash256& payment_hash,
                   const ByteArray<kOnionPacketSize>& onion_routing_packet);

    /**
     * Makes one onion start (sphinx.h StartOnion) for a first hop our payments used lately and
     * that has none ready; false when every such hop has one. For the worker while it waits
     * with a payment of ours in flight: the next payment then finds its first hop's EC work
     * done (all of it over one channel).
     */
    bool PrepareOnionStart();
    //! Whether a payment of ours is in flight.
    bool Paying() const { return !m_active.empty(); }
    //! Onion starts made ahead and not used yet.
    size_t OnionStartsReady() const { return m_onion_starts.size(); }
    static constexpr size_t MAX_ONION_STARTS = 4;

    //! Starts a payment and returns its pending record; `done` is called after the commit that
    //! records its outcome. Throws NodeError when it cannot start (already paid or pending, no
    //! route, no channel).
    PaymentRecord Pay(RouterChannels& channels, PayRequest request, uint32_t height, uint64_t now, PayCallback done);
    //! Every payment we made or are making, newest last.
    std::vector<PaymentRecord> ListPayments() const;
    /**
     * waitsendpay: `done` gets the payment's record once it is complete or failed (at once, after
     * this batch commits, if it already is). False for a payment hash we never paid.
     */
    bool WaitForPayment(RouterChannels& channels, const Hash256& payment_hash, PayCallback done);
    //! Invoices paid in this batch: the service wakes their waiters after the commit.
    std::function<void(const Hash256&)> on_invoice_paid;

    ForwardPolicy& Policy() { return m_options.policy; }
    /**
     * BOLT 5 on chain: the preimage with which we may claim an HTLC offered to us, for one of our
     * invoices that the HTLC pays in full (an HTLC that reached the chain before it was decided
     * never went through Receive). nullopt for anything else, forwarded HTLCs included: those
     * are claimable only once downstream gave the preimage.
     */
    std::optional<Hash256> PreimageToClaim(const Hash256& payment_hash, Msat amount_msat) const;
    //! Whether an incoming HTLC already has a decision in flight (forwarded, or held).
    bool HandledIncoming(const Hash256& channel_id, uint64_t htlc_id) const;

private:
    struct HeldSet {
        PartialPayment parts;
        std::map<IncomingHtlcKey, Secret<32>> secrets;
    };
    struct ActivePayment {
        explicit ActivePayment(PayRequest req) : request(std::move(req)) {}
        PayRequest request;
        std::set<ShortChannelId> excluded;
        /**
         * Channels whose node could not send an amount over them (temporary_channel_failure: the
         * balance fell short), with the smallest such amount: a split payment still uses them
         * below it.
         */
        std::map<ShortChannelId, Msat> too_large;
        //! Channels whose node's new terms (from a failure's channel_update) this payment took.
        std::set<ShortChannelId> updated;
        //! The parts in flight: what attributes a failure to a hop (written with the record).
        std::map<uint64_t, Route> part_routes;
        std::map<uint64_t, std::vector<Secret<32>>> part_secrets;
        //! The payee refused the payment itself: no retry.
        bool refused{false};
        std::vector<PayCallback> callbacks;
    };

    void Forward(RouterChannels& channels, const Hash256& channel_id, const HtlcLockedIn& htlc, const PeeledOnion& peeled,
                 const HopPayload& payload, uint32_t height);
    void Receive(RouterChannels& channels, const Hash256& channel_id, const HtlcLockedIn& htlc, const PeeledOnion& peeled,
                 const HopPayload& payload, uint32_t height, uint64_t now);
    //! False (and the HTLC failed) when this onion's shared secret came before in another HTLC.
    bool FirstSeen(RouterChannels& channels, const Hash256& channel_id, const HtlcLockedIn& htlc, const Secret<32>& secret,
                   uint32_t height);
    void FailIncoming(RouterChannels& channels, const Hash256& channel_id, uint64_t htlc_id, const Secret<32>& secret,
                      const FailureMessage& message);
    //! The payment's retry state as written with its record, and the payment resumed from it.
    static PaymentRetryState RetryStateOf(const ActivePayment& payment);
    static std::optional<ActivePayment> Resume(const PaymentRecord& record);
    void SendParts(RouterChannels& channels, ActivePayment& payment, PaymentRecord& record, Msat amount, uint32_t height);
    //! Fails a pending payment whose parts in flight or settled fall short of its amount.
    static void FailIfShort(PaymentRecord& record, uint64_t now);
    bool SendPart(RouterChannels& channels, ActivePayment& payment, PaymentRecord& record, const Route& route);
    //! The start made ahead for this first hop (used up), or one made now; notes the hop as recent.
    OnionStart TakeOnionStart(const PubKey& first_hop);
    /**
     * A policy failure (fee, CLTV delta, minimum) whose channel_update, signed by the failing node
     * for its side of `route`'s channel after it, states new terms: the payment takes them, once
     * per channel. Whether it did (then the channel is not excluded).
     */
    bool TakeFailureUpdate(ActivePayment& payment, const Route& route, size_t index, const FailureMessage& message);
    //! Records why a part failed and excludes the channel at fault; whether to retry.
    bool NoteFailure(ActivePayment& payment, PaymentRecord& record, uint64_t part_id, const HtlcFailed& htlc);
    void FinishPayment(RouterChannels& channels, PaymentRecord& record);
    void SaveLink(RouterChannels& channels, const Hash256& channel_id, uint64_t htlc_id, const HtlcLink& link);
    void SavePayment(RouterChannels& channels, const PaymentRecord& record);
    //! Splits across our own channels, one part per first channel, when the graph cannot.
    void SplitAcrossOurChannels(RouterChannels& channels, ActivePayment& payment, PaymentRecord& record,
                                const std::vector<Route>& whole, std::map<ShortChannelId, Msat>& spendable, Msat amount,
                                uint32_t height);
    //! Splits over the graph's routes (find_routes); whether every part left.
    bool SplitOverGraph(RouterChannels& channels, ActivePayment& payment, PaymentRecord& record, Msat amount, uint32_t height);
    //! Our usable channels the payment has not excluded, as first hops.
    static std::vector<LocalChannel> FirstHops(RouterChannels& channels, const ActivePayment& payment);
    //! The hints' fees and CLTV deltas replaced by what their nodes announced (channel_policy).
    void RefreshHints(std::vector<std::vector<HintHop>>& hints) const;
    //! Whether the route sends a channel at least what it refused for this payment.
    static bool CarriesTooMuch(const ActivePayment& payment, const Route& route);
    PathRequest GraphRequest(const std::vector<LocalChannel>& locals, const ActivePayment& pay, Msat amount, Msat max_fee) const;
    //! The cheapest path over the public graph (when the router has one), first hops from locals.
    std::optional<std::vector<PathEdge>> GraphPath(const std::vector<LocalChannel>& locals, const ActivePayment& pay, Msat amount,
                                                   Msat max_fee) const;
    std::vector<Route> CandidateRoutes(RouterChannels& channels, const ActivePayment& payment, Msat amount, uint32_t height) const;

    store::Env& m_env;
    InvoiceStore& m_invoices;
    const PrivKey m_node_key;
    //! Derived once: a payment's path search starts from it (an EC multiplication each time).
    const PubKey m_node_id;
    RouterOptions m_options;
    store::Db m_links_db;
    store::Db m_payments_db;
    store::Db m_replay_db;
    //! Replay protection: SHA256 of each onion shared secret seen, with the HTLC that carried
    //! it, kept until that HTLC's cltv_expiry passes (a replay after that cannot be claimed).
    struct SeenOnion {
        Hash256 channel_id{};
        uint64_t htlc_id{0};
        uint32_t cltv_expiry{0};
    };
    std::map<Hash256, SeenOnion> m_seen_onions;
    //! Onions peeled ahead (PeelAhead), by incoming HTLC; used once, at its lock-in.
    struct PeeledAhead {
        Hash256 payment_hash{};
        ByteArray<kOnionPacketSize> packet{};
        PeeledOnion peeled;
    };
    std::map<std::pair<Hash256, uint64_t>, PeeledAhead> m_peeled_ahead;
    std::multimap<uint32_t, Hash256> m_seen_by_expiry;
    //! Outgoing HTLC (channel, id) -> where it came from.
    std::map<std::pair<Hash256, uint64_t>, HtlcLink> m_links;
    //! Incoming HTLCs forwarded downstream: (channel, id).
    std::set<std::pair<Hash256, uint64_t>> m_forwarded_incoming;
    std::map<Hash256, PaymentRecord> m_payments;
    std::map<Hash256, ActivePayment> m_active;
    std::map<Hash256, HeldSet> m_held;
    //! First hops of our latest payments, newest last, and a start made for each (used once).
    std::vector<PubKey> m_recent_first_hops;
    std::map<PubKey, OnionStart> m_onion_starts;
    //! Hashes paid since start whose invoice record may not be committed yet.
    std::set<Hash256> m_paid_this_run;
};

} // namespace sidebolt

#endif
