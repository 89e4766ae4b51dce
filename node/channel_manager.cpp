#include "node/channel_manager.h"

#include "channel/commitment.h"
#include "channel/funding.h"
#include "channel/machine.h"
#include "channel/scripts.h"
#include "channel/commitment_broadcast.h"
#include "channel/resolver.h"
#include "gossip/signatures.h"
#include "node/closed_channel.h"
#include "node/htlc_router.h"
#include "node/onchain.h"
#include "node/remote_htlc_log.h"
#include "node/worker_queue.h"
#include "util/hex.h"
#include "util/logging.h"
#include "util/parallel.h"
#include "util/sync.h"
#include "wire/message.h"
#include "wire/wire.h"

#include <openssl/rand.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

namespace sidebolt {
namespace {

using Clock = std::chrono::steady_clock;

auto Logger() { return Log("channel"); }

std::string Short(const Hash256& id) { return ToHex(id).substr(0, 16); }
std::string Short(const PubKey& id) { return ToHex(id.span()).substr(0, 16); }

constexpr const char* kChannelsDb = "channels";
constexpr const char* kInboxDb = "channels.inbox";
constexpr const char* kMetaDb = "channels.meta";
constexpr const char* kPeersDb = "channels.peers";
constexpr const char* kOnchainDb = "channels.onchain";
//! Channels whose close is irrevocable: ClosedChannel by channel id.
constexpr const char* kClosedDb = "channels.closed";
//! Tag prefixes of the chain service's watches (they see the mempool too): on funding outputs,
//! and on the outputs of the transaction that spent one.
constexpr std::string_view kWatchTagPrefix = "channel/";
constexpr std::string_view kFundingWatchTag = "channel/funding/";
constexpr std::string_view kOutputWatchTag = "channel/output/";
constexpr std::string_view kNextIndexKey = "next_channel_index";
//! A connection that lasted this long was healthy: reconnection after it starts fast again.
constexpr std::chrono::seconds kStableConnection{30};

ByteSpan KeyOf(std::string_view key) { return {reinterpret_cast<const uint8_t*>(key.data()), key.size()}; }

Bytes U64Key(uint64_t value)
{
    Bytes out;
    WireWriter(out).WriteU64(value);
    return out;
}

Hash256 RandomId()
{
    Hash256 id{};
    if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    return id;
}

// ---- Chain events recorded by the listener (the inbox) ---------------------------------------

enum class InboxKind : uint8_t {
    //! Written by earlier versions: funding spends without the spending transaction.
    BLOCK_CONNECTED_TXIDS = 1,
    BLOCK_DISCONNECTED = 2,
    BLOCK_CONNECTED = 3,
    //! A funding spend that entered bitcoind's mempool (the chain service's outpoint watch).
    MEMPOOL_SPEND = 4,
    //! A spend of an output of a funding spend: seen, confirmed or unconfirmed.
    OUTPUT_SPEND = 5,
};

struct FundingSeen {
    Hash256 channel_id{};
    uint32_t tx_index{0};
};
struct SpendSeen {
    Hash256 channel_id{};
    Hash256 spending_txid{};
    //! Of the spending transaction: they tell a commitment from a mutual close (BOLT 3).
    uint32_t locktime{0};
    uint32_t sequence{0};
    //! The spending transaction; absent only in events of earlier versions.
    std::optional<Transaction> tx;
};

SpendSeen SpendOf(const Hash256& channel_id, const Transaction& tx, const Hash256& txid, uint32_t sequence)
{
    return {channel_id, txid, tx.locktime, sequence, tx};
}

//! The fee of a transaction spending only the funding output; zero for invalid output values.
Sat FeeOf(const Transaction& spend, Sat funding)
{
    Sat outputs;
    for (const TxOut& out : spend.vout) {
        if (out.value < 0 || static_cast<uint64_t>(out.value) > kMaxMoney.value()) return Sat{};
        outputs += Sat{static_cast<uint64_t>(out.value)};
    }
    return Sat::CheckedSub(funding, outputs).value_or(Sat{});
}

//! Its feerate in sat/kw, rounded down.
uint32_t FeerateOf(const Transaction& spend, Sat funding)
{
    return static_cast<uint32_t>(FeeOf(spend, funding).value() * 1000 / std::max<uint64_t>(spend.GetWeight(), 1));
}

//! BOLT 3: a commitment transaction's locktime has 0x20 in its upper byte and its input's
//! sequence 0x80; a closing transaction has locktime 0 and a final sequence. A mutual close
//! we never stored (the peer broadcast it after we crashed mid-negotiation) is still one.
bool IsMutualCloseShape(const SpendSeen& spend) { return spend.locktime >> 24 != 0x20 && spend.sequence >> 24 != 0x80; }
struct OutputSpendSeen {
    Hash256 channel_id{};
    OutPoint outpoint;
    Hash256 spending_txid{};
    //! The spender, when it was seen (or replaced): in the mempool or in a block.
    std::optional<Transaction> tx;
    //! The spender confirmed at this height.
    std::optional<uint32_t> height;
    //! The block confirming the spender was disconnected.
    bool unconfirmed{false};
};

//! An output's recorded spender (a serialized transaction) and where it confirmed.
struct RecordedSpend {
    Bytes tx;
    std::optional<uint32_t> height;
};

/**
 * What a watch event makes of an output's recorded spender (`recorded`: none yet when null): a
 * new spender replaces it, with its height when seen in a block; the same one confirms or
 * unconfirms. nullopt when the event changes nothing.
 */
std::optional<RecordedSpend> NextSpend(const OutputSpendSeen& seen, const RecordedSpend* recorded)
{
    const bool same = recorded && ParseTransaction(recorded->tx).GetTxid() == seen.spending_txid;
    if (seen.tx && !same) return RecordedSpend{SerializeTransaction(*seen.tx), seen.height};
    if (same && seen.height) return RecordedSpend{recorded->tx, seen.height};
    if (same && seen.unconfirmed) return RecordedSpend{recorded->tx, std::nullopt};
    return std::nullopt;
}
struct InboxEvent {
    InboxKind kind{InboxKind::BLOCK_CONNECTED};
    uint32_t height{0};
    std::vector<FundingSeen> fundings;
    std::vector<SpendSeen> spends;
    //! OUTPUT_SPEND only.
    std::vector<OutputSpendSeen> output_spends;
};

void WriteRawTx(WireWriter& w, const Transaction& tx)
{
    const Bytes raw = SerializeTransaction(tx);
    w.WriteU32(static_cast<uint32_t>(raw.size()));
    w.WriteBytes(raw);
}

Bytes EncodeInboxEvent(const InboxEvent& event)
{
    Bytes out;
    WireWriter w(out);
    w.WriteU8(static_cast<uint8_t>(event.kind));
    w.WriteU32(event.height);
    w.WriteU32(static_cast<uint32_t>(event.fundings.size()));
    for (const auto& f : event.fundings) {
        w.WriteBytes(f.channel_id);
        w.WriteU32(f.tx_index);
    }
    w.WriteU32(static_cast<uint32_t>(event.spends.size()));
    for (const auto& s : event.spends) {
        w.WriteBytes(s.channel_id);
        w.WriteBytes(s.spending_txid);
        w.WriteU32(s.locktime);
        w.WriteU32(s.sequence);
        WriteRawTx(w, s.tx.value());
    }
    if (event.kind != InboxKind::OUTPUT_SPEND) return out;
    w.WriteU32(static_cast<uint32_t>(event.output_spends.size()));
    for (const auto& o : event.output_spends) {
        w.WriteBytes(o.channel_id);
        w.WriteBytes(o.outpoint.txid);
        w.WriteU32(o.outpoint.n);
        w.WriteBytes(o.spending_txid);
        w.WriteU8(o.tx ? 1 : 0);
        if (o.tx) WriteRawTx(w, *o.tx);
        w.WriteU8(o.height ? 1 : 0);
        if (o.height) w.WriteU32(*o.height);
        w.WriteU8(o.unconfirmed ? 1 : 0);
    }
    return out;
}

std::optional<InboxEvent> DecodeInboxEvent(ByteSpan bytes)
{
    WireReader r(bytes);
    InboxEvent event;
    const uint8_t kind = r.ReadU8();
    if (kind < 1 || kind > 5) return std::nullopt;
    event.kind = static_cast<InboxKind>(kind);
    const bool with_txs = event.kind == InboxKind::BLOCK_CONNECTED || event.kind == InboxKind::MEMPOOL_SPEND;
    event.height = r.ReadU32();
    const uint32_t fundings = r.ReadU32();
    for (uint32_t i = 0; i < fundings && r.Ok(); ++i) event.fundings.push_back({r.ReadArray<32>(), r.ReadU32()});
    const uint32_t spends = r.ReadU32();
    for (uint32_t i = 0; i < spends && r.Ok(); ++i) {
        SpendSeen spend;
        spend.channel_id = r.ReadArray<32>();
        spend.spending_txid = r.ReadArray<32>();
        spend.locktime = r.ReadU32();
        spend.sequence = r.ReadU32();
        if (with_txs) {
            spend.tx = TryParseTransaction(r.ReadBytes(r.ReadU32()));
            if (!spend.tx) return std::nullopt;
        }
        event.spends.push_back(std::move(spend));
    }
    const uint32_t output_spends = event.kind == InboxKind::OUTPUT_SPEND ? r.ReadU32() : 0;
    for (uint32_t i = 0; i < output_spends && r.Ok(); ++i) {
        OutputSpendSeen seen;
        seen.channel_id = r.ReadArray<32>();
        seen.outpoint.txid = r.ReadArray<32>();
        seen.outpoint.n = r.ReadU32();
        seen.spending_txid = r.ReadArray<32>();
        if (r.ReadU8() != 0) {
            seen.tx = TryParseTransaction(r.ReadBytes(r.ReadU32()));
            if (!seen.tx) return std::nullopt;
        }
        if (r.ReadU8() != 0) seen.height = r.ReadU32();
        seen.unconfirmed = r.ReadU8() != 0;
        event.output_spends.push_back(std::move(seen));
    }
    r.ExpectEnd();
    if (!r.Ok()) return std::nullopt;
    return event;
}

// ---- Worker inputs -----------------------------------------------------------------------

template <typename T>
using Reply = std::shared_ptr<std::promise<T>>;

struct PeerConnectedIn {
    PubKey peer;
    FeatureBits features;
    uint64_t connection;
};
struct PeerDisconnectedIn {
    PubKey peer;
};
struct PeerMessageIn {
    PubKey peer;
    ChannelMessage message;
};
//! BOLT 7 announcement_signatures (a gossip type, but about one of our channels).
struct AnnouncementSigsIn {
    PubKey peer;
    AnnouncementSignaturesMessage message;
};
struct PeerNoticeIn {
    PubKey peer;
    Hash256 channel_id{};
    bool is_error{false};
    std::string text;
};
struct PeerAddressIn {
    PubKey peer;
    std::string address;
};
struct FundCmd {
    FundChannelRequest request;
    Reply<FundChannelResult> reply;
};
struct CloseCmd {
    Hash256 channel_id{};
    std::optional<Bytes> destination;
    std::optional<uint32_t> feerate_per_kw;
    Reply<CloseResult> reply;
};
struct ListCmd {
    Reply<std::vector<ChannelSummary>> reply;
};
//! The wallet thread built (or failed to build) an opener's funding transaction.
struct FundingBuiltIn {
    PubKey peer;
    Hash256 temporary_channel_id{};
    std::optional<WalletFunding> funding;
    std::optional<NodeError> error;
};
//! The wallet thread has a payout script for a close the peer started.
struct PayoutScriptIn {
    Hash256 channel_id{};
    std::optional<Bytes> script;
    std::string error;
};
struct ChainWakeIn {};
//! A funding spend just seen in the mempool, handed over at once; its inbox entry follows.
struct MempoolSpendIn {
    SpendSeen spend;
};
//! An output spend seen by a watch, handed over at once like MempoolSpendIn.
struct OutputSpendIn {
    OutputSpendSeen seen;
};
//! The wallet thread has an address for a channel's sweeps.
struct SweepScriptIn {
    Hash256 channel_id{};
    std::optional<Bytes> script;
    std::string error;
};
//! The wallet thread paid (or failed to pay) the fee of one of our zero-fee HTLC transactions.
struct HtlcFeeIn {
    Hash256 channel_id{};
    uint32_t output_index{0};
    uint32_t feerate_per_kw{0};
    std::optional<Transaction> funded;
    std::string error;
};
//! bitcoind's wallet funded (or could not fund) a CPFP child of the commitment `spend_txid`.
struct AnchorFeeIn {
    Hash256 channel_id{};
    Hash256 spend_txid{};
    uint32_t anchor_output{0};
    uint32_t package_feerate{0};
    std::optional<Transaction> funded;
    std::string error;
};
struct DevCommitmentCmd {
    Hash256 channel_id{};
    Reply<ChannelManager::DevCommitment> reply;
};
struct ForceCloseCmd {
    Hash256 channel_id{};
    Reply<CloseResult> reply;
};
struct PayCmd {
    PayRequest request;
    Reply<PaymentRecord> reply;
    //! sendpay: answer with the pending record at once instead of the outcome.
    bool answer_pending{false};
};
struct WaitPayCmd {
    Hash256 payment_hash{};
    Reply<PaymentRecord> reply;
};
struct ListPaysCmd {
    Reply<std::vector<PaymentRecord>> reply;
};
struct SetPolicyCmd {
    ForwardPolicy policy;
    Reply<ForwardPolicy> reply;
};
struct HintsCmd {
    ForwardPolicy assumed;
    Reply<std::vector<std::vector<HintHop>>> reply;
};

using Input = std::variant<PeerConnectedIn, PeerDisconnectedIn, PeerMessageIn, PeerNoticeIn, PeerAddressIn, FundCmd,
                           CloseCmd, ListCmd, FundingBuiltIn, PayoutScriptIn, ChainWakeIn, PayCmd, ListPaysCmd, SetPolicyCmd,
                           HintsCmd, WaitPayCmd, MempoolSpendIn, OutputSpendIn, SweepScriptIn, HtlcFeeIn, AnchorFeeIn, DevCommitmentCmd,
                           ForceCloseCmd, AnnouncementSigsIn>;

//! An HTLC event a channel step reported, handed to the router once the step is done.
struct HtlcEvent {
    Hash256 channel_id{};
    std::variant<HtlcLockedIn, HtlcFulfilled, HtlcFailed> event;
};

template <typename... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};
template <typename... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

template <typename T>
T Await(const Reply<T>& reply, std::chrono::milliseconds timeout, const char* what)
{
    auto future = reply->get_future();
    if (future.wait_for(timeout) != std::future_status::ready) {
        throw NodeError(kErrTimeout, std::string("timed out waiting for ") + what + " (it may still complete)");
    }
    return future.get();
}

template <typename T>
void Fail(const Reply<T>& reply, int code, const std::string& message)
{
    if (!reply) return;
    try {
        reply->set_exception(std::make_exception_ptr(NodeError(code, message)));
    } catch (const std::future_error&) {
        // Answered already (e.g. by a timeout path): nothing left to tell.
    }
}

template <typename T>
void Succeed(const Reply<T>& reply, T value)
{
    if (!reply) return;
    try {
        reply->set_value(std::move(value));
    } catch (const std::future_error&) {
    }
}

//! An open not yet stored: it exists only while the connection lasts.
struct PendingOpen {
    enum class Stage { AWAIT_ACCEPT, AWAIT_FUNDING_TX, AWAIT_FUNDING_SIGNED, AWAIT_FUNDING_CREATED };
    explicit PendingOpen(PubKey peer_id) : peer(std::move(peer_id)) {}

    PubKey peer;
    bool opener{false};
    uint64_t channel_index{0};
    Stage stage{Stage::AWAIT_ACCEPT};
    std::optional<uint32_t> minconf;
    std::optional<OpenChannelMessage> sent_open;
    std::optional<PendingChannel> pending;
    Reply<FundChannelResult> reply;
};

/**
 * Whether a message may leave before the batch that made it is written. BOLT 2: on reconnection
 * a node "MUST reverse any uncommitted updates sent by the other side", so an update lost with us
 * in a crash binds nobody until a commitment_signed covers it, and that one waits for the write.
 * A fulfill is the exception: a revealed preimage stays revealed, so it must be stored already,
 * and so must the revoke_and_ack that locked its HTLC in (SendBeforeWrite).
 */
bool MayLeaveBeforeWrite(const ChannelMessage& message, PreimageKnown known)
{
    return std::visit(Overloaded{[](const UpdateAddHtlcMessage&) { return true; },
                                 [](const UpdateFailHtlcMessage&) { return true; },
                                 [](const UpdateFailMalformedHtlcMessage&) { return true; },
                                 [&](const UpdateFulfillHtlcMessage&) { return known == PreimageKnown::BEFORE_BATCH; },
                                 [](const auto&) { return false; }},
                      message);
}

//! BOLT 5 "reasonable depth": confirmations of our timeout spend before the incoming HTLC is failed.
constexpr uint32_t kHtlcResolvedDepth = 3;
//! Confirmations of one version of a fee-bumped transaction before the others stop being resent
//! (the broadcaster's own forget depth: a deeper reorg is not expected).
constexpr uint32_t kReplacedRetireDepth = 6;
constexpr auto kSweepScriptRetry = std::chrono::seconds(1);

//! Onions of added HTLCs waiting to be peeled ahead of their lock-in (PeelIdleOnions): as
//! many as two full channels can have in flight.
constexpr size_t kMaxOnionsToPeel = 2 * 483;

//! How long a batch that MayWait waits for more inputs before it is written anyway.
constexpr std::chrono::milliseconds kHeldBatchWait{10};

//! An update_* message received from the peer.
bool IsPeerUpdate(const ChannelInput& input)
{
    const auto* received = std::get_if<MessageReceived>(&input);
    return received && std::visit(Overloaded{[](const UpdateAddHtlcMessage&) { return true; },
                                             [](const UpdateFulfillHtlcMessage&) { return true; },
                                             [](const UpdateFailHtlcMessage&) { return true; },
                                             [](const UpdateFailMalformedHtlcMessage&) { return true; },
                                             [](const UpdateFeeMessage&) { return true; },
                                             [](const auto&) { return false; }},
                                  received->message);
}

//! A message the batch sends, in order per peer.
struct Outgoing {
    PubKey peer;
    //! The connection it was made for: never sent on a later one (PeerLink::Send).
    uint64_t connection{0};
    Bytes message;
    //! False for one that may leave before the batch is written (MayLeaveBeforeWrite).
    bool after_write{true};
    //! One that leaves only once the batch's broadcasts are handed to bitcoind (FailChannel).
    bool after_broadcast{false};
    bool sent{false};

    uint16_t Type() const { return message.size() >= 2 ? static_cast<uint16_t>(message[0] << 8 | message[1]) : 0; }
};

//! Work done by one batch of inputs, applied in one store transaction and only then sent (but
//! for what may leave before the write).
struct Batch {
    std::set<Hash256> dirty;
    std::set<Hash256> erased;
    //! Channels whose on-chain resolution record changed.
    std::set<Hash256> onchain_dirty;
    //! Whatever has been sent is dropped from here.
    std::vector<Outgoing> outgoing;
    std::vector<std::pair<Transaction, std::string>> broadcasts;
    //! Our transactions that can no longer confirm: no more rebroadcasts, once the batch is written.
    std::vector<Hash256> cancel_broadcasts;
    std::vector<std::function<void()>> after_commit;
    //! Answers that depend on nothing the batch writes.
    std::vector<std::function<void()>> before_commit;
    std::vector<Bytes> inbox_done;
    //! Peers and the connections to close.
    std::vector<std::pair<PubKey, uint64_t>> disconnect;
    std::vector<std::pair<PubKey, std::string>> addresses;
    //! Payment-layer records (HTLC links, payments, invoices) written in the same transaction.
    std::vector<std::function<void(store::WriteTxn&)>> writes;
    //! Channels with updates of ours to sign: one commitment_signed each at the end of the batch.
    std::set<Hash256> to_sign;
    bool index_dirty{false};
    //! A revoke_and_ack was taken in: its secret is what lets us punish the revoked state, so
    //! it is written at once, not held (a peer that learns at reestablishment that we lost it
    //! could broadcast that state).
    bool revocation_received{false};

    /**
     * Whether the write may wait for the next inputs, to share their commit: nothing waits on
     * it. What it holds is channel state and payment records whose loss in a crash the peer
     * repairs (BOLT 2's reestablishment retransmits what we had not written), and every
     * message it made may leave before the write (MayLeaveBeforeWrite). A received
     * fulfill's preimage is such state: the payee resends the fulfill.
     */
    bool MayWait() const
    {
        return !revocation_received && erased.empty() && onchain_dirty.empty() && broadcasts.empty() && after_commit.empty() && inbox_done.empty() &&
               disconnect.empty() && addresses.empty() && std::all_of(outgoing.begin(), outgoing.end(), [](const Outgoing& out) { return !out.after_write; });
    }
    bool Empty() const
    {
        return !Stores() && outgoing.empty() && after_commit.empty() && before_commit.empty() && disconnect.empty();
    }
    //! Whether the batch has anything to write: answers to list commands and the like do not.
    bool Stores() const
    {
        return !dirty.empty() || !erased.empty() || !onchain_dirty.empty() || !broadcasts.empty() || !inbox_done.empty() || !addresses.empty() ||
               !writes.empty() || index_dirty;
    }
};

/**
 * What we could still offer in a new HTLC: our balance less our HTLCs in flight, the reserve the
 * peer asked us to keep and, when we opened the channel, twice the commitment fee with one more
 * HTLC (BOLT 2's fee spike buffer) and the anchors. An estimate for choosing routes: the state
 * machine checks every rule when the HTLC is offered.
 */
Msat SpendableEstimate(const ChannelState& state)
{
    Msat committed{0};
    size_t htlcs = 0;
    for (const ChannelHtlc& htlc : state.htlcs) {
        ++htlcs;
        if (htlc.offerer == Side::LOCAL) committed = committed + htlc.amount_msat;
    }
    Msat keep = committed + ToMsat(state.setup.remote_limits.channel_reserve);
    const ChannelParams& params = state.setup.params;
    if (params.opener == Side::LOCAL) {
        // BOLT 2 fee spike buffer, as the machine checks it: twice the feerate with the new HTLC
        // and "a future additional non-dust HTLC" on the commitment (so two more outputs).
        const Sat fee = CommitmentFee(params.format, state.feerate_per_kw * 2, htlcs + 2);
        keep = keep + ToMsat(fee) + ToMsat(HasAnchors(params.format) ? Sat{660} : Sat{0});
    }
    return state.local_balance > keep ? state.local_balance - keep : Msat{0};
}

OnchainSummary SummarizeOnchain(const OnchainRecord& onchain, const Resolution* resolution, const ChannelParams& params);

bool IsLive(ChannelPhase phase)
{
    return phase == ChannelPhase::AWAITING_LOCKIN || phase == ChannelPhase::NORMAL || phase == ChannelPhase::SHUTTING_DOWN;
}

} // namespace

class ChannelManager::Impl
{
public:
    Impl(store::Env& env, PeerLink& peers, ChannelWallet& wallet, ChannelChain& chain, SecretForIndex secret,
         ChannelManagerOptions options)
        : m_env(env), m_peers(peers), m_wallet(wallet), m_chain(chain), m_secret(std::move(secret)),
          m_options(std::move(options)), m_channels_db(env.OpenDb(kChannelsDb)), m_inbox_db(env.OpenDb(kInboxDb)),
          m_meta_db(env.OpenDb(kMetaDb)), m_peers_db(env.OpenDb(kPeersDb)), m_onchain_db(env.OpenDb(kOnchainDb)),
          m_closed_db(env.OpenDb(kClosedDb)), m_remote_htlcs(env)
    {
    }

    void Start(uint32_t tip_height);
    std::vector<ClosedChannel> ListClosed() const;
    void Stop();
    void Post(Input input) EXCLUDES(m_queue_mutex);
    //! The messages of one read from `peer` were all posted (ChannelManagerOptions::wake_per_read).
    void ReadDelivered(const PubKey& peer) EXCLUDES(m_queue_mutex);
    //! Closes the transport (any thread); the peer layer reports the disconnection as usual.
    //! From the peer thread, about the message it is delivering: that message's connection.
    void DropPeer(const PubKey& peer) { m_peers.Disconnect(peer, std::nullopt); }

    void ListenerBlockConnected(store::WriteTxn& txn, int height, const Block& block);
    void ListenerBlockDisconnected(store::WriteTxn& txn, int height);
    void ListenerWatchEvent(store::WriteTxn& txn, const WatchEvent& event);
    void ListenerOutputSpend(store::WriteTxn& txn, const WatchEvent& event);
    //! Watches the outputs of a funding spend from inside the follower's transaction; false
    //! for a mutual close, whose outputs are nobody's duty.
    bool ListenerWatchOutputs(store::WriteTxn& txn, const SpendSeen& spend);

    const ChannelManagerOptions& Options() const { return m_options; }
    void SetRouter(HtlcRouter& router) { m_router = &router; }

private:
    class BatchChannels;
    // Worker.
    void Run() EXCLUDES(m_queue_mutex);
    //! Flow control: counts a peer's message in, pausing its reading at the high-water mark...
    void CountQueued(const PubKey& peer) REQUIRES(m_queue_mutex);
    void HandOverRead(const PubKey& peer) REQUIRES(m_queue_mutex);
    //! ...and out once processed, resuming its reading at the low-water mark.
    void CountProcessed(const std::deque<Input>& inputs) EXCLUDES(m_queue_mutex);
    void Process(Input& input, Batch& batch);
    void Dispatch(Input& input, Batch& batch);
    void Commit(Batch batch);
    void SendBeforeWrite(Batch& batch);
    //! A filter for SendOutgoing: a peer's messages up to the first with `must_wait` set.
    static std::function<bool(const Outgoing&)> InOrderUntil(std::function<bool(const Outgoing&)> must_wait);
    void SendOutgoing(Batch& batch, const std::function<bool(const Outgoing&)>& now);
    void Load();
    void DrainInbox(Batch& batch);
    void Tick(Batch& batch);

    // Inputs.
    void OnConnected(const PeerConnectedIn& in, Batch& batch);
    void OnDisconnected(const PubKey& peer, Batch& batch);
    void OnMessage(const PeerMessageIn& in, Batch& batch);
    void OnNotice(const PeerNoticeIn& in, Batch& batch);
    void OnFund(FundCmd& cmd, Batch& batch);
    void OnFundingBuilt(FundingBuiltIn& in, Batch& batch);
    void OnClose(CloseCmd& cmd, Batch& batch);
    void OnPayoutScript(const PayoutScriptIn& in, Batch& batch);
    void OnInboxEvent(const InboxEvent& event, Batch& batch);
    void OnDevCommitment(DevCommitmentCmd& cmd);
    void OnForceClose(ForceCloseCmd& cmd, Batch& batch);

    // On chain (BOLT 5).
    //! A transaction spending the funding output, in a block at `height` or in the mempool.
    void OnFundingSpend(const SpendSeen& spend, std::optional<uint32_t> height, Batch& batch);
    //! Broadcasts what the resolution of the channel's funding spend has due at the tip.
    void ActOnchain(ChannelRecord& record, Batch& batch);
    //! block_connected: a block came, so our transactions still unconfirmed missed one (BumpFees).
    void ActOnEverySpend(Batch& batch, bool block_connected);
    void ForgetReplacedSpend(OnchainRecord& onchain, Batch& batch);
    const Resolution& ResolutionOf(const ChannelRecord& record, const OnchainRecord& onchain, Batch& batch);
    ResolveContext ContextFor(const ChannelRecord& record, const OnchainRecord& onchain, uint32_t feerate_per_kw);
    /**
     * The tip a transaction handed out now first competes after: bitcoind's, when the follower
     * is still delivering older blocks. Those were mined before it existed, and must not count
     * as blocks it missed.
     */
    uint32_t HandoutHeight() { return std::max(m_tip, m_chain.NodeHeight().value_or(0)); }
    void NoteFirstVersions(const ChannelRecord& record, OnchainRecord& onchain, const Resolution& resolution, Batch& batch);
    void BumpFees(const ChannelRecord& record, OnchainRecord& onchain, Batch& batch);
    void RetireReplaced(const Hash256& channel_id, OnchainRecord& onchain, Batch& batch);
    void RequestSweepScript(const Hash256& channel_id);
    void OnSweepScript(const SweepScriptIn& in, Batch& batch);
    //! A spend of an output of the funding spend: recorded, and acted upon (ActOnchain).
    void OnOutputSpend(const OutputSpendSeen& seen, Batch& batch);
    //! What the peer's spends of the resolved commitment's outputs tell us: preimages to settle
    //! upstream, second-stage transactions of a revoked commitment to penalize.
    void LearnFromSpends(ChannelRecord& record, OnchainRecord& onchain, const Resolution& resolution, Batch& batch);
    //! option_anchors: asks the wallet to pay the fee of our HTLC transactions now valid.
    void FundDueHtlcTxs(const ChannelRecord& record, const OnchainRecord& onchain, const Resolution& resolution);
    void FundHtlcTx(const Hash256& channel_id, const OutputDuty& duty, uint32_t feerate_per_kw);
    std::optional<Transaction> RaceTransaction(const ChannelRecord& record, const OnchainRecord& onchain,
                                               const Resolution& resolution, uint32_t key, uint32_t feerate_per_kw);
    void OnHtlcFee(const HtlcFeeIn& in, Batch& batch);
    void CpfpCommitment(const ChannelRecord& record, OnchainRecord& onchain, bool block_connected, Batch& batch);
    void OnAnchorFee(const AnchorFeeIn& in, Batch& batch);
    //! What our confirmed spends of the commitment's outputs lead to: the sweep of an HTLC
    //! transaction's output after to_self_delay, and the upstream failure of a timed-out HTLC.
    void FollowOurSpends(ChannelRecord& record, OnchainRecord& onchain, const Resolution& resolution, Batch& batch);
    void FailHtlcsWithoutOutputs(const ChannelRecord& record, const OnchainRecord& onchain, const Resolution& resolution,
                                 Batch& batch);
    //! Watches every output of the funding spend for spends (ours and the peer's).
    void WatchSpendOutputs(const Hash256& channel_id, const Transaction& spend);

    // Opening.
    void OnOpenChannel(const PubKey& peer, const OpenChannelMessage& open, Batch& batch);
    void OnAcceptChannel(const PubKey& peer, const AcceptChannelMessage& accept, Batch& batch);
    void OnFundingCreated(const PubKey& peer, const FundingCreatedMessage& message, Batch& batch);
    void OnFundingSigned(const PubKey& peer, const FundingSignedMessage& message, Batch& batch);
    void OnChannelReady(ChannelRecord& record, const ChannelReadyMessage& message, Batch& batch);
    void AbandonOpen(const PubKey& peer, const Hash256& temporary_id, int code, const std::string& why, Batch& batch);
    size_t PendingOpensWith(const PubKey& peer) const;
    void MaybeSendChannelReady(ChannelRecord& record, Batch& batch);
    bool Announceable(const ChannelRecord& record) const;
    ChannelAnnouncementMessage UnsignedAnnouncement(const ChannelRecord& record) const;
    EndpointSignatures OurAnnouncementSigs(const ChannelRecord& record, const Hash256& digest);
    void MaybeSendAnnouncementSigs(ChannelRecord& record, Batch& batch);
    void MaybeSharePrivateChannel(const ChannelRecord& record, Batch& batch);
    void OnAnnouncementSigs(const PubKey& peer, const AnnouncementSignaturesMessage& message, Batch& batch);
    void AnnounceIfComplete(const ChannelRecord& record, Batch& batch);

    // Normal operation.
    bool MayHoldCommitment(const ChannelRecord& record) const;
    bool DeferFulfillSignature(const ChannelRecord& record);
    void SignIdleChannelsAhead();
    void PrepareIdleOnionStarts();
    void WarmIdleChannels();
    void PeelIdleOnions();
    bool InputWaiting() EXCLUDES(m_queue_mutex);
    void ReleaseHeldCommitment(ChannelRecord& record, Batch& batch);
    void ReleaseDueCommitments(Batch& batch);
    std::chrono::milliseconds UntilNextRelease(std::chrono::milliseconds wait) const;
    void StepChannel(ChannelRecord& record, const ChannelInput& input, Batch& batch,
                     PreimageKnown known = PreimageKnown::IN_BATCH);

    // Payments (the router decides; these carry its decisions out).
    void RouteHtlcEvents(Batch& batch);
    void ResumeIncomingHtlcs(Batch& batch);
    void SignTouched(Batch& batch);
    std::optional<uint64_t> OfferHtlc(const Hash256& channel_id, const AddHtlcCommand& command, Batch& batch);
    void CommandChannel(const Hash256& channel_id, const ChannelInput& command, Batch& batch,
                        PreimageKnown known = PreimageKnown::IN_BATCH);
    std::vector<RouterChannel> RouterView() const;
    void OnPay(PayCmd& cmd, Batch& batch);
    void OnWaitPay(WaitPayCmd& cmd, Batch& batch);
    void AfterReestablish(ChannelRecord& record, const ChannelReestablishMessage& theirs, Batch& batch);
    void LogRemoteHtlcs(const ChannelRecord& record, Batch& batch);

    // Closing.
    void StartLocalShutdown(ChannelRecord& record, Bytes script, Batch& batch);
    void OnShutdown(ChannelRecord& record, const ShutdownMessage& message, Batch& batch);
    void OnClosingSigned(ChannelRecord& record, const ClosingSignedMessage& message, Batch& batch);
    void StepCloseAndApply(ChannelRecord& record, const CloseEvent& event, Batch& batch);
    void MaybeBeginNegotiation(ChannelRecord& record, Batch& batch);
    void FailChannel(ChannelRecord& record, const std::string& why, bool send_error, Batch& batch);

    // Helpers.
    const ChannelSigner& Signer(uint64_t index);
    //! The same, for a job that may outlive this channel (its memos are thread-safe).
    const std::shared_ptr<ChannelSigner>& SharedSigner(uint64_t index);
    std::vector<bool> RunChecks(std::vector<std::function<bool()>> checks);
    uint64_t AllocateIndex(Batch& batch);
    void Send(Batch& batch, const PubKey& peer, const ChannelMessage& message,
              PreimageKnown known = PreimageKnown::IN_BATCH);
    void SendNotice(Batch& batch, const PubKey& peer, const Hash256& channel_id, bool is_error, const std::string& text);
    //! Queues `message` for the peer's current connection; nothing while it is not connected.
    void Queue(Batch& batch, const PubKey& peer, Bytes message, bool after_write);
    void QueueDisconnect(Batch& batch, const PubKey& peer);
    ChannelRecord* FindChannel(const Hash256& channel_id);
    void WatchFunding(const ChannelRecord& record);
    void UnwatchFunding(const ChannelRecord& record);
    void WatchSecondStage(const Hash256& channel_id, const OnchainRecord& onchain, const Resolution& resolution);
    bool OnSecondStageSpend(const ChannelRecord& record, OnchainRecord& onchain, const OutputSpendSeen& seen, Batch& batch);
    //! Forgets every channel whose close is irrevocable, keeping a ClosedChannel of it.
    void ArchiveResolved(Batch& batch);
    ClosedChannel DescribeClosed(const ChannelRecord& record, uint32_t resolved_height, Batch& batch);
    ChannelSummary Summarize(const ChannelRecord& record) const;
    bool Connected(const PubKey& peer) const { return m_connected.contains(peer); }
    ChannelFeatures FeaturesWith(const PubKey& peer) const;
    void RunOnWallet(std::function<Input()> job);
    //! Releases coins of an abandoned open in bitcoind's wallet (a failure is only logged:
    //! Core also releases a lock once the coin is spent).
    void UnlockOnWallet(std::vector<OutPoint> inputs);
    //! Asks the wallet for a payout script; the answer comes back as a PayoutScriptIn.
    void RequestPayoutScript(const Hash256& channel_id);

    store::Env& m_env;
    PeerLink& m_peers;
    ChannelWallet& m_wallet;
    ChannelChain& m_chain;
    const SecretForIndex m_secret;
    const ChannelManagerOptions m_options;
    const store::Db m_channels_db;
    const store::Db m_inbox_db;
    const store::Db m_meta_db;
    const store::Db m_peers_db;
    const store::Db m_onchain_db;
    const store::Db m_closed_db;
    RemoteHtlcLog m_remote_htlcs;

    // Shared with other threads.
    Mutex m_queue_mutex;
    std::condition_variable m_queue_cv;
    std::deque<Input> m_queue GUARDED_BY(m_queue_mutex);
    //! With wake_per_read, the messages of a read still being delivered: they join the queue
    //! together, so the worker never takes a revoke_and_ack without the commitment_signed read
    //! with it (it would write its store once for each).
    std::map<PubKey, std::vector<Input>> m_reading GUARDED_BY(m_queue_mutex);
    bool m_stopping GUARDED_BY(m_queue_mutex){false};
    //! Each peer's messages posted and not yet processed (queued, or in the batch being run).
    std::map<PubKey, size_t> m_queued_peer_messages GUARDED_BY(m_queue_mutex);
    //! Peers whose reading we paused (flow control; see ChannelManagerOptions).
    std::set<PubKey> m_reading_paused GUARDED_BY(m_queue_mutex);
    std::thread m_worker;
    WorkerQueue m_wallet_queue;

    //! What the chain listener looks for in each block: funding txids and funding outpoints.
    Mutex m_watch_mutex;
    std::map<Hash256, Hash256> m_watch_funding_txids GUARDED_BY(m_watch_mutex);
    std::map<OutPoint, Hash256> m_watch_funding_outpoints GUARDED_BY(m_watch_mutex);
    //! Outputs of funding spends, watched for the spends that resolve them.
    std::map<OutPoint, Hash256> m_watch_outputs GUARDED_BY(m_watch_mutex);
    //! The chain listener's thread only (after Load).
    uint64_t m_inbox_seq{0};

    // Worker thread only.
    uint32_t m_tip{0};
    HtlcRouter* m_router{nullptr};
    //! HTLC events of the steps of the input being processed.
    std::vector<HtlcEvent> m_htlc_events;
    //! Incoming HTLCs locked in before a restart are decided again at the first tick.
    bool m_htlcs_resumed{false};
    uint64_t m_next_index{0};
    std::map<Hash256, ChannelRecord> m_channels;
    //! Channels whose funding output was spent by something else than a mutual close.
    std::map<Hash256, OnchainRecord> m_onchain;
    //! Their resolutions (deterministic: rebuilt when the spend changes).
    std::map<Hash256, Resolution> m_resolutions;
    std::set<Hash256> m_awaiting_sweep_script;
    //! When to ask the wallet again for a sweep address it could not give (bitcoind down, or its
    //! wallet not loaded yet): every resolution, penalties first, waits on that address.
    std::map<Hash256, Clock::time_point> m_sweep_script_retry;
    //! HTLC transactions (channel, commitment output) whose fee the wallet is paying.
    std::set<std::pair<Hash256, uint32_t>> m_awaiting_fee;
    std::map<std::pair<PubKey, Hash256>, PendingOpen> m_opens;
    std::map<Hash256, CloseState> m_closes;
    //! A commitment_signed answered later (MayHoldCommitment), and when it is answered anyway.
    struct HeldCommitment {
        CommitmentSignedMessage message;
        Clock::time_point until;
    };
    std::map<Hash256, HeldCommitment> m_held_commitments;
    //! Channels whose commitment_signed for our fulfills waits for the peer's (DeferFulfillSignature), until when.
    std::map<Hash256, Clock::time_point> m_sign_waits;
    //! Channels stepped since the worker was last idle: their next commitments' keys are derived
    //! then (WarmIdleChannels), each side's in a job or a step of its own, the peer's first: a
    //! payer signs the peer's next commitment with its next payment, before it checks its own.
    struct PeerSideFirst {
        bool operator()(const std::pair<Hash256, Side>& a, const std::pair<Hash256, Side>& b) const
        {
            if (a.first != b.first) return a.first < b.first;
            return a.second == Side::REMOTE && b.second == Side::LOCAL;
        }
    };
    std::set<std::pair<Hash256, Side>, PeerSideFirst> m_to_warm;
    //! Warm jobs posted and not finished, by channel and side: while one runs, a second would
    //! only derive the same keys again beside it (a job takes a millisecond at idle priority).
    //! Each job holds its token until it is destroyed (run or dropped).
    std::map<std::pair<Hash256, Side>, std::weak_ptr<const bool>> m_warming;
    //! HTLCs the peer added since the worker was last idle: their onions are peeled then, ahead
    //! of their lock-in (PeelIdleOnions).
    std::deque<std::pair<Hash256, uint64_t>> m_to_peel;
    //! Channels with updates of the peer since the worker was last idle: the commitment we will
    //! sign once the peer's commitment_signed for them comes is signed then (SignIdleChannelsAhead).
    std::set<Hash256> m_to_sign_ahead;
    //! Closes the peer started, waiting for the wallet's payout script.
    std::set<Hash256> m_awaiting_payout;
    std::map<Hash256, Reply<CloseResult>> m_close_replies;
    //! The closing feerate the operator asked for (`close ... feerate`); the estimate otherwise.
    //! Not stored: after a restart the negotiation starts again from the estimate.
    std::map<Hash256, uint32_t> m_close_feerates;
    struct Connection {
        FeatureBits features;
        //! The peer layer's number for it: what is sent for it goes nowhere else.
        uint64_t number;
    };
    std::map<PubKey, Connection> m_connected;
    //! Channels whose announcement_signatures went out on the current connection to their peer.
    std::set<Hash256> m_announcement_sent;
    std::map<PubKey, std::string> m_addresses;
    struct Backoff {
        Clock::time_point next{};
        std::chrono::milliseconds delay{0};
        Clock::time_point connected_at{};
    };
    std::map<PubKey, Backoff> m_backoff;
    std::map<uint64_t, std::shared_ptr<ChannelSigner>> m_signers;
    ParallelPool m_signature_pool{m_options.signature_helpers};
};

// ---- Lifecycle ---------------------------------------------------------------------------

void ChannelManager::Impl::Start(uint32_t tip_height)
{
    m_tip = tip_height;
    Load();
    if (m_router) m_router->Load();
    m_worker = std::thread([this] { Run(); });
}

void ChannelManager::Impl::Stop()
{
    {
        const MutexLock lock(m_queue_mutex);
        m_stopping = true;
    }
    m_queue_cv.notify_all();
    if (m_worker.joinable()) m_worker.join();
    m_wallet_queue.Stop();
}

void ChannelManager::Impl::Post(Input input)
{
    if (m_options.on_activity) m_options.on_activity();
    // Notified under the lock: Stop takes it, so a caller still inside Post when the manager
    // is being destroyed has finished with the condition variable before it goes.
    const MutexLock lock(m_queue_mutex);
    if (m_stopping) return;
    const auto* message = std::get_if<PeerMessageIn>(&input);
    if (message) CountQueued(message->peer);
    // With wake_per_read, the end of the read hands the read's messages over (ReadDelivered);
    // should that never come (the connection closed mid-read), the disconnection does.
    if (message && m_options.wake_per_read) {
        m_reading[message->peer].push_back(std::move(input));
        return;
    }
    if (const auto* gone = std::get_if<PeerDisconnectedIn>(&input)) HandOverRead(gone->peer);
    m_queue.push_back(std::move(input));
    m_queue_cv.notify_one();
}

void ChannelManager::Impl::HandOverRead(const PubKey& peer)
{
    const auto it = m_reading.find(peer);
    if (it == m_reading.end()) return;
    for (Input& input : it->second) m_queue.push_back(std::move(input));
    m_reading.erase(it);
}

void ChannelManager::Impl::ReadDelivered(const PubKey& peer)
{
    const MutexLock lock(m_queue_mutex);
    HandOverRead(peer);
    m_queue_cv.notify_one();
}

// Flow control. The peer layer is told with the queue locked, so that it gets the pauses and
// resumes of a peer in the order they were decided here.
void ChannelManager::Impl::CountQueued(const PubKey& peer)
{
    if (++m_queued_peer_messages[peer] < m_options.max_queued_peer_messages || !m_reading_paused.insert(peer).second) return;
    Logger()->debug("peer {}: {} messages wait for the channel worker; reading from it paused", Short(peer),
                    m_options.max_queued_peer_messages);
    m_peers.PauseReading(peer);
}

void ChannelManager::Impl::CountProcessed(const std::deque<Input>& inputs)
{
    const MutexLock lock(m_queue_mutex);
    for (const auto& input : inputs) {
        const auto* message = std::get_if<PeerMessageIn>(&input);
        if (!message) continue;
        const auto it = m_queued_peer_messages.find(message->peer);
        const size_t left = --it->second;
        if (left == 0) m_queued_peer_messages.erase(it);
        if (left <= m_options.resume_queued_peer_messages && m_reading_paused.erase(message->peer) > 0) {
            m_peers.ResumeReading(message->peer);
        }
    }
}

void ChannelManager::Impl::Load()
{
    Batch batch;
    {
        store::ReadTxn txn(m_env);
        if (const auto index = txn.Get(m_meta_db, KeyOf(kNextIndexKey)); index && index->size() == 8) {
            WireReader r(*index);
            m_next_index = r.ReadU64();
        }
        txn.ForEachPrefix(m_channels_db, {}, [&](ByteSpan key, ByteSpan value) {
            auto record = DeserializeChannelRecord(value);
            if (!record) {
                // Never guess about a channel: refuse to run rather than lose track of funds.
                throw std::runtime_error("channel record " + ToHex(key) + " in the store is corrupt");
            }
            m_channels.emplace(record->channel_id, std::move(*record));
            return true;
        });
        txn.ForEachPrefix(m_peers_db, {}, [&](ByteSpan key, ByteSpan value) {
            if (auto peer = PubKey::Parse(key)) m_addresses[*peer] = std::string(value.begin(), value.end());
            return true;
        });
        m_remote_htlcs.Load(txn);
        txn.ForEachPrefix(m_onchain_db, {}, [&](ByteSpan key, ByteSpan value) {
            auto record = DecodeOnchainRecord(value);
            if (!record || key.size() != 32) throw std::runtime_error("on-chain record " + ToHex(key) + " in the store is corrupt");
            Hash256 id;
            std::copy(key.begin(), key.end(), id.begin());
            m_onchain.emplace(id, std::move(*record));
            return true;
        });
        store::Cursor cursor = txn.OpenCursor(m_inbox_db);
        if (cursor.Last()) {
            WireReader r(cursor.Key());
            m_inbox_seq = r.ReadU64() + 1;
        }
    }
    for (auto& [id, record] : m_channels) {
        if (record.phase == ChannelPhase::AWAITING_FUNDING_SIGNED) {
            // The connection that could have brought funding_signed is gone: BOLT 2 lets the
            // opener forget it, as the funding transaction was never broadcast.
            Logger()->info("channel {}: open interrupted before funding_signed; unlocking its inputs", Short(id));
            UnlockOnWallet(record.locked_inputs);
            batch.erased.insert(id);
            continue;
        }
        if (record.state && IsLive(record.phase)) {
            const auto result = Step(*record.state, Signer(record.channel_index), PeerDisconnected{});
            if (const auto* t = std::get_if<Transition>(&result)) record.state = t->state;
        }
        WatchFunding(record);
    }
    for (const auto& id : batch.erased) m_channels.erase(id);
    for (const auto& [id, onchain] : m_onchain) WatchSpendOutputs(id, ParseTransaction(onchain.spend_tx));
    for (const auto& [id, record] : m_channels) AnnounceIfComplete(record, batch);
    Commit(batch);
    Logger()->info("{} channels loaded", m_channels.size());
}

void ChannelManager::Impl::Run()
{
    Batch batch;
    // A resolution a stop interrupted goes on now, not at the next block: a penalty against a
    // commitment still in the mempool, or a sweep address never received, cannot wait for one.
    ActOnEverySpend(batch, false);
    for (;;) {
        SignIdleChannelsAhead();
        PeelIdleOnions();
        PrepareIdleOnionStarts();
        WarmIdleChannels();
        std::deque<Input> inputs;
        {
            // A batch held back (MayWait) is written when nothing more comes in time.
            const auto wait = UntilNextRelease(batch.Stores() ? kHeldBatchWait : std::chrono::milliseconds(std::chrono::seconds(1)));
            UniqueLock lock(m_queue_mutex);
            lock.WaitFor(m_queue_cv, wait, [&]() REQUIRES(m_queue_mutex) { return m_stopping || !m_queue.empty(); });
            if (m_stopping) break;
            inputs.swap(m_queue);
        }
        if (inputs.empty() && batch.Stores() && UntilNextRelease(kHeldBatchWait).count() > 0) {
            Commit(std::exchange(batch, {}));
            continue;
        }
        DrainInbox(batch);
        for (auto& input : inputs) Process(input, batch);
        ReleaseDueCommitments(batch);
        Tick(batch);
        // What may leave now does not wait for the signatures below: a payee's fulfill is what
        // ends the payer's payment.
        SendBeforeWrite(batch);
        SignTouched(batch);
        if (batch.MayWait()) {
            SendBeforeWrite(batch);
        } else {
            Commit(std::exchange(batch, {}));
        }
        CountProcessed(inputs);
    }
    Commit(std::exchange(batch, {}));
    const MutexLock lock(m_queue_mutex);
    for (auto& input : m_queue) {
        std::visit(Overloaded{[](FundCmd& c) { Fail(c.reply, kErrShuttingDown, "sideboltd is shutting down"); },
                              [](CloseCmd& c) { Fail(c.reply, kErrShuttingDown, "sideboltd is shutting down"); },
                              [](PayCmd& c) { Fail(c.reply, kErrShuttingDown, "sideboltd is shutting down"); },
                              [](auto&) {}},
                   input);
    }
}

void ChannelManager::Impl::Commit(Batch batch)
{
    if (batch.Empty()) return;
    SendBeforeWrite(batch);
    try {
        if (batch.Stores()) m_env.Write([&](store::WriteTxn& txn) {
            for (const auto& id : batch.dirty) {
                if (batch.erased.contains(id)) continue;
                const auto it = m_channels.find(id);
                if (it != m_channels.end()) txn.Put(m_channels_db, id, SerializeChannelRecord(it->second));
            }
            for (const auto& id : batch.erased) txn.Delete(m_channels_db, id);
            for (const auto& id : batch.onchain_dirty) txn.Put(m_onchain_db, id, EncodeOnchainRecord(m_onchain.at(id)));
            for (const auto& key : batch.inbox_done) txn.Delete(m_inbox_db, key);
            for (const auto& [peer, address] : batch.addresses) txn.Put(m_peers_db, peer.span(), KeyOf(address));
            if (batch.index_dirty) txn.Put(m_meta_db, KeyOf(kNextIndexKey), U64Key(m_next_index));
            for (const auto& [tx, label] : batch.broadcasts) m_chain.Broadcast(txn, tx, label);
            for (const auto& write : batch.writes) write(txn);
        }, [&] {
            // Durable once its log record is: the messages need not wait for LMDB's commit.
            SendOutgoing(batch, InOrderUntil([](const Outgoing& out) { return out.after_broadcast; }));
        });
    } catch (const std::exception& e) {
        // Memory is ahead of the store, or the store's log ahead of LMDB: continuing could
        // send messages that depend on state a restart would not have. Stop here; the next
        // start recovers the store.
        Logger()->critical("cannot write channel state: {}; stopping to keep the store authoritative", e.what());
        std::terminate();
    }
    if (!batch.broadcasts.empty()) m_chain.SendQueued();
    for (const Hash256& txid : batch.cancel_broadcasts) m_chain.CancelBroadcast(txid);
    SendOutgoing(batch, [](const Outgoing&) { return true; });
    for (const auto& [peer, connection] : batch.disconnect) m_peers.Disconnect(peer, connection);
    for (auto& callback : batch.after_commit) callback();
}

std::function<bool(const Outgoing&)> ChannelManager::Impl::InOrderUntil(std::function<bool(const Outgoing&)> must_wait)
{
    // Each peer's messages keep their order: one that must wait holds back those after it.
    return [must_wait = std::move(must_wait), held = std::set<PubKey>{}](const Outgoing& out) mutable {
        if (must_wait(out)) held.insert(out.peer);
        return !held.contains(out.peer);
    };
}

void ChannelManager::Impl::SendBeforeWrite(Batch& batch)
{
    // BOLT 2: a fulfill waits until "the HTLC is irrevocably committed", and for us that is the
    // peer's revoke_and_ack stored: until then the peer could broadcast the commitment it just
    // revoked, the one without the HTLC, and keep the preimage as well as the money.
    const bool revocation_unstored = batch.revocation_received;
    SendOutgoing(batch, InOrderUntil([revocation_unstored](const Outgoing& out) {
                     return out.after_write ||
                            (revocation_unstored && out.Type() == static_cast<uint16_t>(ChannelMessageType::kUpdateFulfillHtlc));
                 }));
    std::erase_if(batch.outgoing, [](const Outgoing& out) { return out.sent; });
    for (auto& callback : std::exchange(batch.before_commit, {})) callback();
}

void ChannelManager::Impl::SendOutgoing(Batch& batch, const std::function<bool(const Outgoing&)>& now)
{
    std::vector<uint16_t> sent_types;
    // Each peer's messages in their order, handed over together so that they leave together.
    std::map<std::pair<PubKey, uint64_t>, std::vector<Bytes>> by_peer;
    for (Outgoing& out : batch.outgoing) {
        if (out.sent || !now(out)) continue;
        if (out.message.size() >= 2) sent_types.push_back(out.Type());
        by_peer[{out.peer, out.connection}].push_back(std::move(out.message));
        out.sent = true;
    }
    if (!by_peer.empty() && m_options.on_activity) m_options.on_activity();
    for (auto& [to, messages] : by_peer) m_peers.SendAll(to.first, to.second, std::move(messages));
    // The network thread just woken to write these is often put on this CPU, and would wait
    // for the rest of the batch (LMDB's commit, keys derived ahead: up to 0.2 ms) to run.
    if (!by_peer.empty()) sched_yield();
    if (m_options.after_send && !sent_types.empty()) m_options.after_send(sent_types);
}

void ChannelManager::Impl::RunOnWallet(std::function<Input()> job)
{
    m_wallet_queue.Push([this, job = std::move(job)] { Post(job()); });
}

void ChannelManager::Impl::UnlockOnWallet(std::vector<OutPoint> inputs)
{
    RunOnWallet([this, inputs = std::move(inputs)]() -> Input {
        try {
            m_wallet.Unlock(inputs);
        } catch (const std::exception& e) {
            Logger()->warn("unlocking funding inputs: {}", e.what());
        }
        return ChainWakeIn{};
    });
}

void ChannelManager::Impl::RequestPayoutScript(const Hash256& channel_id)
{
    RunOnWallet([this, channel_id]() -> Input {
        try {
            return PayoutScriptIn{channel_id, m_wallet.NewPayoutScript(), {}};
        } catch (const std::exception& e) {
            return PayoutScriptIn{channel_id, std::nullopt, e.what()};
        }
    });
}

// ---- Inputs ------------------------------------------------------------------------------

void ChannelManager::Impl::Process(Input& input, Batch& batch)
{
    try {
        Dispatch(input, batch);
        RouteHtlcEvents(batch);
    } catch (const std::exception& e) {
        // A bug of ours on one input must not take every other channel down with it; what
        // the input changed before the throw is still written with the batch, as it stands.
        Logger()->error("internal error handling a channel input: {}", e.what());
    }
}

void ChannelManager::Impl::Dispatch(Input& input, Batch& batch)
{
    std::visit(Overloaded{
                   [&](const PeerConnectedIn& in) { OnConnected(in, batch); },
                   [&](const PeerDisconnectedIn& in) { OnDisconnected(in.peer, batch); },
                   [&](const PeerMessageIn& in) { OnMessage(in, batch); },
                   [&](const PeerNoticeIn& in) { OnNotice(in, batch); },
                   [&](const PeerAddressIn& in) {
                       m_addresses[in.peer] = in.address;
                       batch.addresses.emplace_back(in.peer, in.address);
                   },
                   [&](FundCmd& cmd) { OnFund(cmd, batch); },
                   [&](CloseCmd& cmd) { OnClose(cmd, batch); },
                   [&](const ListCmd& cmd) {
                       std::vector<ChannelSummary> out;
                       for (const auto& [id, record] : m_channels) out.push_back(Summarize(record));
                       batch.after_commit.push_back([reply = cmd.reply, out = std::move(out)]() mutable {
                           Succeed(reply, std::move(out));
                       });
                   },
                   [&](FundingBuiltIn& in) { OnFundingBuilt(in, batch); },
                   [&](const PayoutScriptIn& in) { OnPayoutScript(in, batch); },
                   [&](const ChainWakeIn&) {},
                   [&](const MempoolSpendIn& in) { OnFundingSpend(in.spend, std::nullopt, batch); },
                   [&](const OutputSpendIn& in) { OnOutputSpend(in.seen, batch); },
                   [&](const SweepScriptIn& in) { OnSweepScript(in, batch); },
                   [&](const HtlcFeeIn& in) { OnHtlcFee(in, batch); },
                   [&](const AnchorFeeIn& in) { OnAnchorFee(in, batch); },
                   [&](DevCommitmentCmd& cmd) { OnDevCommitment(cmd); },
                   [&](ForceCloseCmd& cmd) { OnForceClose(cmd, batch); },
                   [&](const AnnouncementSigsIn& in) { OnAnnouncementSigs(in.peer, in.message, batch); },
                   [&](PayCmd& cmd) { OnPay(cmd, batch); },
                   [&](WaitPayCmd& cmd) { OnWaitPay(cmd, batch); },
                   [&](const ListPaysCmd& cmd) {
                       auto out = m_router ? m_router->ListPayments() : std::vector<PaymentRecord>{};
                       batch.after_commit.push_back([reply = cmd.reply, out = std::move(out)]() mutable {
                           Succeed(reply, std::move(out));
                       });
                   },
                   [&](const HintsCmd& cmd) {
                       std::vector<std::vector<HintHop>> hints;
                       for (const auto& channel : RouterView()) {
                           if (!channel.usable) continue;
                           hints.push_back({HintHop{channel.peer, channel.short_channel_id, cmd.assumed.fee_base_msat,
                                                    cmd.assumed.fee_proportional_millionths, cmd.assumed.cltv_expiry_delta}});
                       }
                       Succeed(cmd.reply, std::move(hints));
                   },
                   [&](const SetPolicyCmd& cmd) {
                       if (!m_router) return Fail(cmd.reply, kErrChannelState, "payments are not enabled");
                       m_router->Policy() = cmd.policy;
                       Succeed(cmd.reply, cmd.policy);
                   },
               },
               input);
}

// ---- Payments ----------------------------------------------------------------------------

//! The router's view of and hands on the channels, for the batch being built.
class ChannelManager::Impl::BatchChannels : public RouterChannels
{
public:
    BatchChannels(Impl& impl, Batch& batch) : m_impl(impl), m_batch(batch) {}

    std::vector<RouterChannel> Channels() override { return m_impl.RouterView(); }
    std::optional<uint64_t> Offer(const Hash256& channel_id, const AddHtlcCommand& command) override
    {
        return m_impl.OfferHtlc(channel_id, command, m_batch);
    }
    void Fulfill(const Hash256& channel_id, uint64_t htlc_id, const Hash256& preimage, PreimageKnown known) override
    {
        m_impl.CommandChannel(channel_id, FulfillHtlcCommand{htlc_id, preimage}, m_batch, known);
    }
    void Fail(const Hash256& channel_id, uint64_t htlc_id, Bytes reason) override
    {
        m_impl.CommandChannel(channel_id, FailHtlcCommand{htlc_id, std::move(reason)}, m_batch);
    }
    void FailMalformed(const Hash256& channel_id, uint64_t htlc_id, const Hash256& sha256_of_onion, uint16_t code) override
    {
        m_impl.CommandChannel(channel_id, FailMalformedHtlcCommand{htlc_id, sha256_of_onion, code}, m_batch);
    }
    void Write(std::function<void(store::WriteTxn&)> write) override { m_batch.writes.push_back(std::move(write)); }
    void AfterCommit(std::function<void()> callback) override { m_batch.after_commit.push_back(std::move(callback)); }
    void BeforeCommit(std::function<void()> callback) override { m_batch.before_commit.push_back(std::move(callback)); }

private:
    Impl& m_impl;
    Batch& m_batch;
};

uint64_t NowSeconds()
{
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}

void ChannelManager::Impl::RouteHtlcEvents(Batch& batch)
{
    // The router's own commands may produce events in turn (never many): drain until none.
    while (!m_htlc_events.empty()) {
        auto events = std::move(m_htlc_events);
        m_htlc_events.clear();
        if (!m_router) continue;
        BatchChannels channels(*this, batch);
        const uint64_t now = NowSeconds();
        for (const HtlcEvent& item : events) {
            const Hash256& id = item.channel_id;
            std::visit(Overloaded{
                           [&](const HtlcLockedIn& e) { m_router->OnIncomingLockedIn(channels, id, e, m_tip, now); },
                           [&](const HtlcFulfilled& e) { m_router->OnOutgoingFulfilled(channels, id, e, now); },
                           [&](const HtlcFailed& e) { m_router->OnOutgoingFailed(channels, id, e, m_tip, now); },
                       },
                       item.event);
        }
    }
}

void ChannelManager::Impl::ResumeIncomingHtlcs(Batch& batch)
{
    // An incoming HTLC locked in before a restart whose decision never committed (the crash
    // came first, or it was a held multi-part set) is decided again, exactly as on arrival.
    for (const auto& [id, record] : m_channels) {
        if (record.phase != ChannelPhase::NORMAL && record.phase != ChannelPhase::SHUTTING_DOWN) continue;
        const ChannelState& state = *record.state;
        for (const ChannelHtlc& htlc : state.htlcs) {
            if (htlc.offerer != Side::REMOTE || htlc.removal || !htlc.added.remote_commitment ||
                *htlc.added.remote_commitment > state.IrrevocableRemoteCommitment()) {
                continue;
            }
            m_htlc_events.push_back({id, HtlcLockedIn{.id = htlc.id,
                                                      .amount_msat = htlc.amount_msat,
                                                      .payment_hash = htlc.payment_hash,
                                                      .cltv_expiry = htlc.cltv_expiry,
                                                      .onion_routing_packet = htlc.onion_routing_packet,
                                                      .blinding_point = htlc.blinding_point,
                                                      .exceeds_dust_exposure = htlc.exceeds_dust_exposure}});
        }
    }
    RouteHtlcEvents(batch);
}

std::vector<RouterChannel> ChannelManager::Impl::RouterView() const
{
    std::vector<RouterChannel> out;
    for (const auto& [id, record] : m_channels) {
        if (!record.state || !record.funding_height || record.phase != ChannelPhase::NORMAL) continue;
        const ChannelState& state = *record.state;
        RouterChannel channel(record.peer);
        channel.channel_id = id;
        channel.short_channel_id = ShortChannelId{*record.funding_height, record.funding_tx_index,
                                                  static_cast<uint16_t>(state.setup.params.funding_outpoint.n)};
        channel.usable = Connected(record.peer);
        channel.spendable_msat = SpendableEstimate(state);
        channel.htlc_minimum_msat = state.setup.remote_limits.htlc_minimum;
        out.push_back(std::move(channel));
    }
    return out;
}

std::optional<uint64_t> ChannelManager::Impl::OfferHtlc(const Hash256& channel_id, const AddHtlcCommand& command, Batch& batch)
{
    ChannelRecord* record = FindChannel(channel_id);
    if (record) ReleaseHeldCommitment(*record, batch);
    if (!record || !record->state || record->phase != ChannelPhase::NORMAL) return std::nullopt;
    auto result = Step(*record->state, Signer(record->channel_index), command);
    auto* transition = std::get_if<Transition>(&result);
    if (!transition) {
        if (const auto* rejected = std::get_if<CommandRejected>(&result)) {
            Logger()->info("channel {}: HTLC refused ({})", Short(channel_id), ChannelErrorName(rejected->error));
        }
        return std::nullopt;
    }
    std::optional<uint64_t> id;
    record->state = std::move(transition->state);
    batch.dirty.insert(channel_id);
    for (auto& action : transition->actions) {
        if (auto* send = std::get_if<SendMessage>(&action)) Send(batch, record->peer, send->message);
        if (const auto* offered = std::get_if<HtlcOffered>(&action)) id = offered->id;
    }
    batch.to_sign.insert(channel_id);
    return id;
}

void ChannelManager::Impl::CommandChannel(const Hash256& channel_id, const ChannelInput& command, Batch& batch,
                                          PreimageKnown known)
{
    ChannelRecord* record = FindChannel(channel_id);
    if (!record || !record->state) {
        Logger()->warn("channel {} is gone: cannot settle its HTLC", Short(channel_id));
        return;
    }
    StepChannel(*record, command, batch, known);
    batch.to_sign.insert(channel_id);
}

void ChannelManager::Impl::SignTouched(Batch& batch)
{
    if (!m_htlcs_resumed) {
        m_htlcs_resumed = true;
        ResumeIncomingHtlcs(batch);
    }
    if (m_router) {
        BatchChannels channels(*this, batch);
        m_router->OnTimer(channels, NowSeconds());
        RouteHtlcEvents(batch);
    }
    for (const auto& id : std::exchange(batch.to_sign, {})) {
        ChannelRecord* record = FindChannel(id);
        if (!record || !record->state || !Connected(record->peer) || DeferFulfillSignature(*record)) continue;
        // A held commitment_signed waits for updates of ours (MayHoldCommitment): signing for a
        // message of the peer (its fulfill, read with the held one) would release it for nothing.
        if (m_held_commitments.contains(id) && !HasUnsignedUpdatesOfOurs(*record->state)) continue;
        StepChannel(*record, SignCommitmentCommand{}, batch);
    }
}

void ChannelManager::Impl::OnWaitPay(WaitPayCmd& cmd, Batch& batch)
{
    if (!m_router) return Fail(cmd.reply, kErrChannelState, "payments are not enabled");
    BatchChannels channels(*this, batch);
    const bool known = m_router->WaitForPayment(channels, cmd.payment_hash,
                                                [reply = cmd.reply](const PaymentRecord& record) { Succeed(reply, record); });
    if (!known) Fail(cmd.reply, kErrInvalidParameter, "no payment with this payment hash");
}

void ChannelManager::Impl::OnPay(PayCmd& cmd, Batch& batch)
{
    if (!m_router) return Fail(cmd.reply, kErrChannelState, "payments are not enabled");
    BatchChannels channels(*this, batch);
    try {
        if (cmd.answer_pending) {
            PaymentRecord pending = m_router->Pay(channels, std::move(cmd.request), m_tip, NowSeconds(), [](const PaymentRecord&) {});
            batch.after_commit.push_back([reply = cmd.reply, pending = std::move(pending)] { Succeed(reply, pending); });
            return;
        }
        m_router->Pay(channels, std::move(cmd.request), m_tip, NowSeconds(),
                      [reply = cmd.reply](const PaymentRecord& record) { Succeed(reply, record); });
    } catch (const NodeError& e) {
        Fail(cmd.reply, e.Code(), e.what());
    }
}

void ChannelManager::Impl::OnConnected(const PeerConnectedIn& in, Batch& batch)
{
    m_connected[in.peer] = Connection{in.features, in.connection};
    m_backoff[in.peer].connected_at = Clock::now();
    for (auto& [id, record] : m_channels) {
        if (record.peer != in.peer || !record.state || !IsLive(record.phase)) continue;
        m_closes.erase(id);
        m_close_feerates.erase(id);
        StepChannel(record, PeerReconnected{}, batch);
    }
}

void ChannelManager::Impl::OnDisconnected(const PubKey& peer, Batch& batch)
{
    m_connected.erase(peer);
    std::erase_if(m_announcement_sent, [&](const Hash256& id) {
        const ChannelRecord* record = FindChannel(id);
        return !record || record->peer == peer;
    });
    // Only a connection that lasted resets the backoff: both sides reconnecting, each new
    // connection replacing the other's, must not become a storm.
    Backoff& backoff = m_backoff[peer];
    if (Clock::now() - backoff.connected_at > kStableConnection) backoff.delay = {};
    backoff.next = Clock::now() + backoff.delay;
    std::vector<Hash256> abandoned;
    for (const auto& [key, open] : m_opens) {
        if (key.first == peer) abandoned.push_back(key.second);
    }
    for (const auto& temporary_id : abandoned) {
        AbandonOpen(peer, temporary_id, kErrOpenRefused, "peer disconnected during the open", batch);
    }
    for (auto& [id, record] : m_channels) {
        if (record.peer != peer || !record.state || !IsLive(record.phase)) continue;
        // Negotiation restarts from the shutdown messages on reconnection (BOLT 2).
        m_closes.erase(id);
        m_close_feerates.erase(id);
        // A commitment_signed we never answered is sent again at reestablishment.
        m_held_commitments.erase(id);
        m_sign_waits.erase(id);
        StepChannel(record, PeerDisconnected{}, batch);
    }
}

void ChannelManager::Impl::OnMessage(const PeerMessageIn& in, Batch& batch)
{
    const PubKey& peer = in.peer;
    std::visit(Overloaded{
                   [&](const OpenChannelMessage& m) { OnOpenChannel(peer, m, batch); },
                   [&](const AcceptChannelMessage& m) { OnAcceptChannel(peer, m, batch); },
                   [&](const FundingCreatedMessage& m) { OnFundingCreated(peer, m, batch); },
                   [&](const FundingSignedMessage& m) { OnFundingSigned(peer, m, batch); },
                   [&](const auto& m) {
                       ChannelRecord* record = FindChannel(m.channel_id);
                       if (!record || record->peer != peer || !record->state) {
                           // BOLT 1: a message for an unknown channel gets an error naming it.
                           SendNotice(batch, peer, m.channel_id, true, "unknown channel");
                           return;
                       }
                       using M = std::decay_t<decltype(m)>;
                       if constexpr (std::is_same_v<M, CommitmentSignedMessage>) {
                           if (MayHoldCommitment(*record)) {
                               m_held_commitments.insert_or_assign(record->channel_id, HeldCommitment{m, Clock::now() + m_options.settle_wait});
                               return;
                           }
                       }
                       // The peer's messages are taken in the order they came.
                       ReleaseHeldCommitment(*record, batch);
                       if constexpr (std::is_same_v<M, ChannelReadyMessage>) {
                           OnChannelReady(*record, m, batch);
                       } else if constexpr (std::is_same_v<M, ShutdownMessage>) {
                           OnShutdown(*record, m, batch);
                       } else if constexpr (std::is_same_v<M, ClosingSignedMessage>) {
                           OnClosingSigned(*record, m, batch);
                       } else {
                           if (!IsLive(record->phase)) {
                               SendNotice(batch, peer, m.channel_id, false, "channel is no longer operating");
                               return;
                           }
                           StepChannel(*record, MessageReceived{m}, batch);
                           if constexpr (std::is_same_v<M, RevokeAndAckMessage>) batch.revocation_received = true;
                           if constexpr (std::is_same_v<M, ChannelReestablishMessage>) AfterReestablish(*record, m, batch);
                       }
                   },
               },
               in.message);
}

void ChannelManager::Impl::OnNotice(const PeerNoticeIn& in, Batch& batch)
{
    const bool all = std::all_of(in.channel_id.begin(), in.channel_id.end(), [](uint8_t b) { return b == 0; });
    if (!in.is_error) {
        Logger()->warn("warning from peer {} for channel {}: {}", Short(in.peer), all ? "(all)" : Short(in.channel_id), in.text);
        return;
    }
    // BOLT 1: "if channel_id is all zero: MUST fail all channels with the sending node.
    // otherwise: MUST fail the channel referred to by channel_id, if that channel is with the
    // sending node."
    std::vector<Hash256> opens;
    for (const auto& [key, open] : m_opens) {
        if (key.first == in.peer && (all || key.second == in.channel_id ||
                                     (open.pending && open.pending->setup.channel_id == in.channel_id))) {
            opens.push_back(key.second);
        }
    }
    for (const auto& id : opens) AbandonOpen(in.peer, id, kErrOpenRefused, "peer refused: " + in.text, batch);
    for (auto& [id, record] : m_channels) {
        if (record.peer != in.peer || (!all && id != in.channel_id)) continue;
        if (record.phase == ChannelPhase::CLOSED || record.phase == ChannelPhase::FAILED) continue;
        FailChannel(record, "peer sent error: " + in.text, false, batch);
    }
}

// ---- Opening -----------------------------------------------------------------------------

ChannelFeatures ChannelManager::Impl::FeaturesWith(const PubKey& peer) const
{
    const auto it = m_connected.find(peer);
    return ChannelFeatures::Negotiate(m_options.our_features, it == m_connected.end() ? FeatureBits{} : it->second.features);
}

size_t ChannelManager::Impl::PendingOpensWith(const PubKey& peer) const
{
    size_t count = 0;
    for (const auto& [key, open] : m_opens) count += key.first == peer;
    for (const auto& [id, record] : m_channels) count += record.peer == peer && record.phase == ChannelPhase::AWAITING_LOCKIN;
    return count;
}

void ChannelManager::Impl::OnFund(FundCmd& cmd, Batch& batch)
{
    const auto& request = cmd.request;
    if (!Connected(request.peer)) {
        return Fail(cmd.reply, kErrPeerNotConnected, "peer " + ToHex(request.peer.span()) + " is not connected");
    }
    if (PendingOpensWith(request.peer) >= m_options.max_pending_opens_per_peer) {
        return Fail(cmd.reply, kErrTooManyPendingOpens, "too many pending opens with this peer (max-pending-opens)");
    }
    const uint64_t index = AllocateIndex(batch);
    OpenRequest open_request;
    open_request.chain_hash = m_options.chain_hash;
    open_request.temporary_channel_id = RandomId();
    open_request.funding = request.amount;
    open_request.push = request.push;
    open_request.feerate_per_kw = request.feerate_per_kw.value_or(m_chain.CommitmentFeerate());
    open_request.announce = request.announce;
    auto open = MakeOpenChannel(open_request, m_options.policy, FeaturesWith(request.peer), Signer(index));
    if (!open) return Fail(cmd.reply, kErrInvalidParameter, open.error().message);
    PendingOpen pending{request.peer};
    pending.opener = true;
    pending.channel_index = index;
    pending.sent_open = *open;
    pending.minconf = request.minconf;
    pending.reply = cmd.reply;
    m_opens.emplace(std::pair{request.peer, open_request.temporary_channel_id}, std::move(pending));
    Logger()->info("opening channel {} with {}: {} sat, push {} msat", Short(open_request.temporary_channel_id),
                   Short(request.peer), request.amount.value(), request.push.value());
    Send(batch, request.peer, *open);
}

void ChannelManager::Impl::OnOpenChannel(const PubKey& peer, const OpenChannelMessage& open, Batch& batch)
{
    const Hash256& temporary_id = open.temporary_channel_id;
    if (m_opens.contains({peer, temporary_id})) {
        return SendNotice(batch, peer, temporary_id, true, "temporary_channel_id already in use");
    }
    if (PendingOpensWith(peer) >= m_options.max_pending_opens_per_peer) {
        return SendNotice(batch, peer, temporary_id, true, "too many pending channel opens");
    }
    const uint64_t index = AllocateIndex(batch);
    FundeeContext context;
    context.chain_hash = m_options.chain_hash;
    context.feerate_estimate_per_kw = m_chain.CommitmentFeerate();
    auto accepted = HandleOpenChannel(open, m_options.policy, FeaturesWith(peer), context, Signer(index));
    if (!accepted) {
        Logger()->info("refusing channel {} from {}: {}", Short(temporary_id), Short(peer), accepted.error().message);
        return SendNotice(batch, peer, temporary_id, true, accepted.error().message);
    }
    PendingOpen pending{peer};
    pending.channel_index = index;
    pending.stage = PendingOpen::Stage::AWAIT_FUNDING_CREATED;
    pending.pending = accepted->pending;
    m_opens.emplace(std::pair{peer, temporary_id}, std::move(pending));
    Logger()->info("accepting channel {} from {}: {} sat", Short(temporary_id), Short(peer), open.funding_satoshis.value());
    Send(batch, peer, accepted->message);
}

void ChannelManager::Impl::OnAcceptChannel(const PubKey& peer, const AcceptChannelMessage& accept, Batch& batch)
{
    const auto it = m_opens.find({peer, accept.temporary_channel_id});
    if (it == m_opens.end() || it->second.stage != PendingOpen::Stage::AWAIT_ACCEPT) {
        return SendNotice(batch, peer, accept.temporary_channel_id, true, "unexpected accept_channel");
    }
    PendingOpen& open = it->second;
    auto pending = HandleAcceptChannel(*open.sent_open, accept, m_options.policy, FeaturesWith(peer));
    if (!pending) {
        SendNotice(batch, peer, accept.temporary_channel_id, true, pending.error().message);
        return AbandonOpen(peer, accept.temporary_channel_id, kErrOpenRefused,
                           "peer's accept_channel refused: " + pending.error().message, batch);
    }
    open.pending = *pending;
    open.stage = PendingOpen::Stage::AWAIT_FUNDING_TX;
    const auto& params = pending->setup.params;
    const Script funding_script = FundingScript(params.local.funding_pubkey, params.remote.funding_pubkey);
    const Script output = P2wshScript(funding_script);
    const Sat amount = params.funding_sat;
    const uint32_t feerate = m_chain.CommitmentFeerate();
    const Hash256 temporary_id = accept.temporary_channel_id;
    const std::optional<uint32_t> minconf = open.minconf;
    RunOnWallet([this, peer, temporary_id, output, amount, feerate, minconf]() -> Input {
        FundingBuiltIn built{peer, temporary_id, std::nullopt, std::nullopt};
        try {
            built.funding = m_wallet.Fund(output, amount, feerate, minconf);
        } catch (const NodeError& e) {
            built.error = e;
        } catch (const std::exception& e) {
            built.error = NodeError(-1, e.what());
        }
        return built;
    });
}

void ChannelManager::Impl::OnFundingBuilt(FundingBuiltIn& in, Batch& batch)
{
    const auto it = m_opens.find({in.peer, in.temporary_channel_id});
    if (it == m_opens.end() || it->second.stage != PendingOpen::Stage::AWAIT_FUNDING_TX) {
        // The open was abandoned meanwhile (disconnect, error): release what the wallet locked.
        if (in.funding) {
            UnlockOnWallet(in.funding->locked_inputs);
        }
        return;
    }
    PendingOpen& open = it->second;
    if (!in.funding) {
        SendNotice(batch, in.peer, in.temporary_channel_id, true, "funding failed");
        return AbandonOpen(in.peer, in.temporary_channel_id, in.error->Code(), in.error->what(), batch);
    }
    const Transaction& tx = in.funding->tx;
    const OutPoint outpoint{tx.GetTxid(), in.funding->output_index};
    const FundingCreatedMessage created = MakeFundingCreated(*open.pending, outpoint, Signer(open.channel_index));
    ChannelRecord record{in.peer};
    record.channel_index = open.channel_index;
    record.phase = ChannelPhase::AWAITING_FUNDING_SIGNED;
    record.opener = true;
    record.channel_id = open.pending->setup.channel_id;
    record.temporary_channel_id = in.temporary_channel_id;
    record.funding_tx = SerializeTransaction(tx);
    record.locked_inputs = in.funding->locked_inputs;
    record.created_height = m_tip;
    open.stage = PendingOpen::Stage::AWAIT_FUNDING_SIGNED;
    batch.dirty.insert(record.channel_id);
    const Hash256 channel_id = record.channel_id;
    m_channels.insert_or_assign(channel_id, std::move(record));
    Send(batch, in.peer, created);
}

void ChannelManager::Impl::OnFundingCreated(const PubKey& peer, const FundingCreatedMessage& message, Batch& batch)
{
    const auto it = m_opens.find({peer, message.temporary_channel_id});
    if (it == m_opens.end() || it->second.stage != PendingOpen::Stage::AWAIT_FUNDING_CREATED) {
        return SendNotice(batch, peer, message.temporary_channel_id, true, "unexpected funding_created");
    }
    PendingOpen& open = it->second;
    auto reply = HandleFundingCreated(*open.pending, message, Signer(open.channel_index));
    if (!reply) {
        SendNotice(batch, peer, message.temporary_channel_id, true, reply.error().message);
        return AbandonOpen(peer, message.temporary_channel_id, kErrOpenRefused, reply.error().message, batch);
    }
    ChannelRecord record{peer};
    record.channel_index = open.channel_index;
    record.phase = ChannelPhase::AWAITING_LOCKIN;
    record.channel_id = reply->channel.setup.channel_id;
    record.temporary_channel_id = message.temporary_channel_id;
    record.state = MakeChannelState(reply->channel);
    record.state->policy.max_dust_htlc_exposure = m_options.policy.max_dust_exposure;
    record.created_height = m_tip;
    m_opens.erase(it);
    if (m_channels.contains(record.channel_id)) {
        return SendNotice(batch, peer, message.temporary_channel_id, true, "channel_id already in use");
    }
    // Watch before funding_signed leaves: the opener may broadcast the moment it arrives.
    WatchFunding(record);
    Logger()->info("channel {} with {} signed; waiting for the funding transaction", Short(record.channel_id), Short(peer));
    batch.dirty.insert(record.channel_id);
    const Hash256 channel_id = record.channel_id;
    m_channels.insert_or_assign(channel_id, std::move(record));
    Send(batch, peer, reply->message);
}

void ChannelManager::Impl::OnFundingSigned(const PubKey& peer, const FundingSignedMessage& message, Batch& batch)
{
    auto it = std::find_if(m_opens.begin(), m_opens.end(), [&](const auto& entry) {
        return entry.first.first == peer && entry.second.stage == PendingOpen::Stage::AWAIT_FUNDING_SIGNED &&
               entry.second.pending->setup.channel_id == message.channel_id;
    });
    ChannelRecord* record = FindChannel(message.channel_id);
    if (it == m_opens.end() || !record) {
        return SendNotice(batch, peer, message.channel_id, true, "unexpected funding_signed");
    }
    PendingOpen& open = it->second;
    auto opened = HandleFundingSigned(*open.pending, message, Signer(open.channel_index));
    if (!opened) {
        SendNotice(batch, peer, message.channel_id, true, opened.error().message);
        return AbandonOpen(peer, it->first.second, kErrOpenRefused, opened.error().message, batch);
    }
    record->phase = ChannelPhase::AWAITING_LOCKIN;
    record->state = MakeChannelState(*opened);
    record->state->policy.max_dust_htlc_exposure = m_options.policy.max_dust_exposure;
    record->locked_inputs.clear();
    const Transaction funding_tx = ParseTransaction(record->funding_tx);
    WatchFunding(*record);
    // BOLT 2: the opener "MUST NOT broadcast the funding transaction" before funding_signed; the
    // broadcaster persists it in this batch's transaction, with the channel.
    batch.broadcasts.emplace_back(funding_tx, "funding " + Short(record->channel_id));
    batch.dirty.insert(record->channel_id);
    FundChannelResult result{record->channel_id, funding_tx.GetTxid(), opened->setup.params.funding_outpoint.n};
    batch.after_commit.push_back([reply = open.reply, result] { Succeed(reply, result); });
    batch.after_commit.push_back([id = record->channel_id, peer, txid = result.funding_txid] {
        Logger()->info("channel {} with {}: funding transaction {} stored and broadcast", Short(id), Short(peer),
                       HashToHexRev(txid));
    });
    m_opens.erase(it);
    MaybeSendChannelReady(*record, batch);
}

void ChannelManager::Impl::AbandonOpen(const PubKey& peer, const Hash256& temporary_id, int code, const std::string& why,
                                       Batch& batch)
{
    const auto it = m_opens.find({peer, temporary_id});
    if (it == m_opens.end()) return;
    PendingOpen& open = it->second;
    Logger()->info("open {} with {} abandoned: {}", Short(temporary_id), Short(peer), why);
    if (open.pending && open.stage == PendingOpen::Stage::AWAIT_FUNDING_SIGNED) {
        const Hash256 channel_id = open.pending->setup.channel_id;
        if (const auto record = m_channels.find(channel_id); record != m_channels.end()) {
            UnlockOnWallet(record->second.locked_inputs);
            m_channels.erase(record);
            batch.erased.insert(channel_id);
        }
    }
    // A funding transaction still being built is unlocked when it arrives (OnFundingBuilt).
    Fail(open.reply, code, why);
    m_opens.erase(it);
}

void ChannelManager::Impl::OnChannelReady(ChannelRecord& record, const ChannelReadyMessage& message, Batch& batch)
{
    ChannelState& state = *record.state;
    if (!record.remote_ready_received && state.remote_commitment_number == 0) {
        state.remote_next_per_commitment_point = message.second_per_commitment_point;
        record.remote_ready_received = true;
        batch.dirty.insert(record.channel_id);
    }
    // A retransmitted channel_ready (after reconnection) changes nothing.
    if (record.phase == ChannelPhase::AWAITING_LOCKIN && record.local_ready_sent && record.remote_ready_received) {
        record.phase = ChannelPhase::NORMAL;
        Logger()->info("channel {} is ready", Short(record.channel_id));
        // Six confirmations may have come before the peer's channel_ready (BOLT 7 asks for both).
        MaybeSendAnnouncementSigs(record, batch);
        MaybeSharePrivateChannel(record, batch);
    }
}

void ChannelManager::Impl::MaybeSendChannelReady(ChannelRecord& record, Batch& batch)
{
    if (record.phase != ChannelPhase::AWAITING_LOCKIN || record.local_ready_sent || !record.funding_height) return;
    const uint32_t depth = m_tip >= *record.funding_height ? m_tip - *record.funding_height + 1 : 0;
    if (depth < record.state->setup.minimum_depth) return;
    record.local_ready_sent = true;
    batch.dirty.insert(record.channel_id);
    Send(batch, record.peer, MakeChannelReady(record.channel_id, Signer(record.channel_index)));
    if (record.remote_ready_received) {
        record.phase = ChannelPhase::NORMAL;
        Logger()->info("channel {} is ready", Short(record.channel_id));
        // Six confirmations may have come before the peer's channel_ready (BOLT 7 asks for both).
        MaybeSendAnnouncementSigs(record, batch);
        MaybeSharePrivateChannel(record, batch);
    }
}

// ---- Announcement (BOLT 7) ---------------------------------------------------------------

//! BOLT 7: announcement_signatures go out "once channel_ready has been sent and received AND the
//! funding transaction has at least six confirmations", and only "if the open_channel message
//! has the announce_channel bit set AND a shutdown message has not been sent".
constexpr uint32_t kAnnouncementDepth = 6;

bool ChannelManager::Impl::Announceable(const ChannelRecord& record) const
{
    if (!record.state || !record.state->setup.announce || record.phase != ChannelPhase::NORMAL) return false;
    if (!record.funding_height || record.state->local_shutdown_sent || !m_options.node_id || !m_options.node_sign) return false;
    return m_tip >= *record.funding_height && m_tip - *record.funding_height + 1 >= kAnnouncementDepth;
}

ChannelAnnouncementMessage ChannelManager::Impl::UnsignedAnnouncement(const ChannelRecord& record) const
{
    const ChannelParams& params = record.state->setup.params;
    const ShortChannelId scid{*record.funding_height, record.funding_tx_index, static_cast<uint16_t>(params.funding_outpoint.n)};
    return UnsignedChannelAnnouncement(m_options.chain_hash, scid, *m_options.node_id, record.peer, params.local.funding_pubkey,
                                       params.remote.funding_pubkey);
}

EndpointSignatures ChannelManager::Impl::OurAnnouncementSigs(const ChannelRecord& record, const Hash256& digest)
{
    return EndpointSignatures{m_options.node_sign(digest), Signer(record.channel_index).FundingKey().Sign(digest)};
}

void ChannelManager::Impl::MaybeSendAnnouncementSigs(ChannelRecord& record, Batch& batch)
{
    if (!Announceable(record) || m_announcement_sent.contains(record.channel_id) || !Connected(record.peer)) return;
    // Nothing but channel_reestablish may come first on a new connection (BOLT 2).
    if (record.state->connection != ConnectionStatus::CONNECTED) return;
    const ChannelAnnouncementMessage announcement = UnsignedAnnouncement(record);
    const EndpointSignatures ours = OurAnnouncementSigs(record, AnnouncementDigest(announcement));
    const AnnouncementSignaturesMessage message{record.channel_id, announcement.short_channel_id, ours.node_signature,
                                                ours.bitcoin_signature, {}};
    Bytes encoded;
    WireWriter(encoded).WriteU16(static_cast<uint16_t>(GossipMessageType::kAnnouncementSignatures));
    message.EncodePayload(encoded);
    // In order behind whatever the batch sends before it (channel_reestablish comes first).
    Queue(batch, record.peer, std::move(encoded), true);
    m_announcement_sent.insert(record.channel_id);
    AnnounceIfComplete(record, batch);
}

void ChannelManager::Impl::MaybeSharePrivateChannel(const ChannelRecord& record, Batch& batch)
{
    if (!record.state || record.state->setup.announce || record.phase != ChannelPhase::NORMAL || !record.funding_height) return;
    if (!m_options.on_private_channel) return;
    const ChannelParams& params = record.state->setup.params;
    const ShortChannelId scid{*record.funding_height, record.funding_tx_index, static_cast<uint16_t>(params.funding_outpoint.n)};
    batch.after_commit.push_back([this, peer = record.peer, scid, funding = params.funding_outpoint, capacity = params.funding_sat] {
        m_options.on_private_channel(peer, scid, funding, capacity);
    });
}

void ChannelManager::Impl::OnAnnouncementSigs(const PubKey& peer, const AnnouncementSignaturesMessage& message, Batch& batch)
{
    ChannelRecord* record = FindChannel(message.channel_id);
    if (!record || record->peer != peer || !record->state || !record->state->setup.announce || !record->funding_height) {
        // Nothing to announce (unknown, unannounced or unconfirmed channel): a warning, no harm done.
        SendNotice(batch, peer, message.channel_id, false, "announcement_signatures for a channel not to be announced");
        return;
    }
    const ChannelAnnouncementMessage announcement = UnsignedAnnouncement(*record);
    const Hash256 digest = AnnouncementDigest(announcement);
    // BOLT 7: "if the short_channel_id is NOT correct: SHOULD send a warning and close the
    // connection"; the same for signatures that are not theirs ("MAY send a warning and close").
    const bool right_scid = message.short_channel_id == announcement.short_channel_id;
    const bool signed_by_them = VerifyEcdsa(peer, digest, message.node_signature) &&
                                VerifyEcdsa(record->state->setup.params.remote.funding_pubkey, digest, message.bitcoin_signature);
    if (!right_scid || !signed_by_them) {
        SendNotice(batch, peer, message.channel_id, false,
                   right_scid ? "bad announcement_signatures" : "announcement_signatures for the wrong short_channel_id");
        QueueDisconnect(batch, peer);
        return;
    }
    const EndpointSignatures theirs{message.node_signature, message.bitcoin_signature};
    if (record->remote_announcement_sigs != theirs) {
        record->remote_announcement_sigs = theirs;
        batch.dirty.insert(record->channel_id);
    }
    // "MUST respond to the first announcement_signatures message with its own" (after a
    // reconnection, when ours did not go out again by themselves); before six confirmations ours
    // follow at the block that makes them.
    const bool sent_before = m_announcement_sent.contains(record->channel_id);
    MaybeSendAnnouncementSigs(*record, batch);
    if (sent_before) AnnounceIfComplete(*record, batch);
}

void ChannelManager::Impl::AnnounceIfComplete(const ChannelRecord& record, Batch& batch)
{
    if (!record.remote_announcement_sigs || !Announceable(record) || !m_options.on_channel_announced) return;
    const ChannelAnnouncementMessage announcement = UnsignedAnnouncement(record);
    const EndpointSignatures ours = OurAnnouncementSigs(record, AnnouncementDigest(announcement));
    batch.after_commit.push_back(
        [this, complete = AssembleChannelAnnouncement(announcement, WeAreNode1(*m_options.node_id, record.peer), ours,
                                                      *record.remote_announcement_sigs),
         capacity = record.state->setup.params.funding_sat] { m_options.on_channel_announced(complete, capacity); });
}

// ---- Normal operation --------------------------------------------------------------------

bool ChannelManager::Impl::MayHoldCommitment(const ChannelRecord& record) const
{
    // Not while we await the peer's revoke_and_ack: the commitment_signed that follows it would
    // need our revocation first. A batch that signs for the channel releases it at once
    // (SignTouched steps the channel).
    const ChannelState& state = *record.state;
    return record.phase == ChannelPhase::NORMAL && state.connection == ConnectionStatus::CONNECTED && !state.AwaitingRevocation() &&
           !m_held_commitments.contains(record.channel_id) && !m_sign_waits.contains(record.channel_id) &&
           NextCommitmentOnlySettlesOurs(state);
}

bool ChannelManager::Impl::DeferFulfillSignature(const ChannelRecord& record)
{
    // Both ends know the preimages of fulfilled HTLCs: a commitment_signed that only removes
    // them can wait for the next commitment round (the next HTLC either way) and go with it, one
    // round for the settlement of one payment and the offer of the next instead of a round each.
    // Anything else to sign (an HTLC, a failure, a fee) goes at once and takes the fulfills with
    // it, so a settlement waits at most settle_wait and never for the peer alone.
    const ChannelState& state = *record.state;
    const bool worth = !state.AwaitingRevocation() && NextSignatureOnlyFulfills(state);
    if (!worth) {
        m_sign_waits.erase(record.channel_id);
        return false;
    }
    // ReleaseDueCommitments signs once the wait is over.
    m_sign_waits.try_emplace(record.channel_id, Clock::now() + m_options.settle_wait);
    return true;
}

void ChannelManager::Impl::ReleaseHeldCommitment(ChannelRecord& record, Batch& batch)
{
    const auto it = m_held_commitments.find(record.channel_id);
    if (it == m_held_commitments.end()) return;
    const CommitmentSignedMessage message = std::move(it->second.message);
    m_held_commitments.erase(it);
    if (record.state && IsLive(record.phase)) StepChannel(record, MessageReceived{message}, batch);
}

void ChannelManager::Impl::ReleaseDueCommitments(Batch& batch)
{
    const auto now = Clock::now();
    std::vector<Hash256> due;
    for (const auto& [id, held] : m_held_commitments) {
        if (held.until <= now) due.push_back(id);
    }
    for (const Hash256& id : due) {
        if (ChannelRecord* record = FindChannel(id)) {
            ReleaseHeldCommitment(*record, batch);
        } else {
            m_held_commitments.erase(id);
        }
    }
    // A signature that waited long enough is made now, whatever became of its channel.
    std::vector<Hash256> waited;
    for (const auto& [id, until] : m_sign_waits) {
        if (until <= now) waited.push_back(id);
    }
    for (const Hash256& id : waited) {
        m_sign_waits.erase(id);
        ChannelRecord* record = FindChannel(id);
        if (record && record->state && IsLive(record->phase) && Connected(record->peer)) {
            StepChannel(*record, SignCommitmentCommand{}, batch);
        }
    }
}

bool ChannelManager::Impl::InputWaiting()
{
    const MutexLock lock(m_queue_mutex);
    return !m_queue.empty();
}

void ChannelManager::Impl::PeelIdleOnions()
{
    // A worker never idle meanwhile locked the older ones in already.
    while (m_to_peel.size() > kMaxOnionsToPeel) m_to_peel.pop_front();
    // Inputs come first: this only uses the time spent waiting for them.
    for (; !m_to_peel.empty() && !InputWaiting(); m_to_peel.pop_front()) {
        const auto& [channel_id, htlc_id] = m_to_peel.front();
        const ChannelRecord* record = FindChannel(channel_id);
        if (!record || !record->state || m_router->HandledIncoming(channel_id, htlc_id)) continue;
        // One with a removal was decided at its lock-in.
        const ChannelHtlc* htlc = record->state->FindHtlc(Side::REMOTE, htlc_id);
        if (htlc && !htlc->removal) m_router->PeelAhead(channel_id, htlc_id, htlc->payment_hash, htlc->onion_routing_packet);
    }
}

void ChannelManager::Impl::SignIdleChannelsAhead()
{
    // Here and not on the pollers: the signatures are the worker's own next work once the
    // peer's commitment_signed comes, so starting them early never wastes its time (unless the
    // peer sends other updates first), while a poller may be kept off its CPU.
    for (auto it = m_to_sign_ahead.begin(); it != m_to_sign_ahead.end() && !InputWaiting(); it = m_to_sign_ahead.erase(it)) {
        const ChannelRecord* record = FindChannel(*it);
        if (!record || !record->state || record->phase != ChannelPhase::NORMAL) continue;
        try {
            SignNextRemoteCommitmentAhead(*record->state, Signer(record->channel_index));
        } catch (const std::exception& e) {
            // Only a guess: the real signature reports what is wrong.
            Logger()->debug("channel {}: next commitment not signed ahead: {}", Short(record->channel_id), e.what());
        }
    }
    // Inputs came first: what they change makes the guesses stale.
    if (InputWaiting()) m_to_sign_ahead.clear();
}

void ChannelManager::Impl::PrepareIdleOnionStarts()
{
    // Only while a payment of ours is in flight: the worker then waits for the peer, and no
    // answer to a caller (woken on this CPU, perhaps) waits for the worker.
    while (m_router && m_router->Paying() && !InputWaiting() && m_router->PrepareOnionStart()) {
    }
}

void ChannelManager::Impl::WarmIdleChannels()
{
    // Both sides' jobs share one copy of the state.
    std::shared_ptr<const ChannelState> snapshot;
    Hash256 snapshot_of{};
    std::erase_if(m_warming, [](const auto& entry) { return entry.second.expired(); });
    for (auto it = m_to_warm.begin(); it != m_to_warm.end(); it = m_to_warm.erase(it)) {
        // Under load an input always waits, and the next step derives what it needs anyway: no
        // copy of the state for a job that would be stale before it ran.
        if (InputWaiting()) return;
        const ChannelRecord* record = FindChannel(it->first);
        if (!record || !record->state || record->phase != ChannelPhase::NORMAL) continue;
        if (m_options.run_when_idle) {
            std::weak_ptr<const bool>& posted = m_warming[*it];
            if (!posted.expired()) continue;
            if (!snapshot || snapshot_of != record->channel_id) {
                snapshot = std::make_shared<const ChannelState>(*record->state);
                snapshot_of = record->channel_id;
            }
            const auto token = std::make_shared<const bool>(true);
            posted = token;
            // The job owns what it reads: the state moves on, and the channel may go, meanwhile.
            auto job = [snapshot, signer = SharedSigner(record->channel_index), holder = it->second, token] {
                WarmNextCommitmentKeys(*snapshot, *signer, holder);
            };
            if (m_options.run_when_idle(std::move(job))) continue;
        }
        try {
            WarmNextCommitmentKeys(*record->state, Signer(record->channel_index), it->second);
        } catch (const std::exception& e) {
            // Only a cache: the commitment's own check or signature reports what is wrong.
            Logger()->debug("channel {}: next commitment keys not derived ahead: {}", Short(record->channel_id), e.what());
        }
    }
}

std::chrono::milliseconds ChannelManager::Impl::UntilNextRelease(std::chrono::milliseconds wait) const
{
    const auto now = Clock::now();
    const auto shorten = [&](Clock::time_point until) {
        wait = std::min(wait, std::max(std::chrono::ceil<std::chrono::milliseconds>(until - now), std::chrono::milliseconds{0}));
    };
    for (const auto& [id, held] : m_held_commitments) shorten(held.until);
    for (const auto& [id, until] : m_sign_waits) shorten(until);
    return wait;
}

void ChannelManager::Impl::StepChannel(ChannelRecord& record, const ChannelInput& input, Batch& batch, PreimageKnown known)
{
    // A held commitment_signed came before this input: the machine takes it first.
    ReleaseHeldCommitment(record, batch);
    for (Side holder : {Side::LOCAL, Side::REMOTE}) m_to_warm.emplace(record.channel_id, holder);
    const ChannelSigner& signer = Signer(record.channel_index);
    const uint64_t remote_number_before = record.state->remote_commitment_number;
    const auto* received = std::get_if<MessageReceived>(&input);
    auto result = Step(*record.state, signer, input);
    if (auto* failure = std::get_if<ProtocolFailure>(&result)) {
        const ChannelNotice notice = FailureNotice(*record.state, *failure);
        const std::string why(ChannelErrorName(failure->error));
        const bool deadline = failure->error == ChannelError::HTLC_DEADLINE;
        // Which message broke the rule: what an operator reading "unexpected message" needs.
        const std::string in = received ? ", in " + std::string(ChannelMessageName(TypeOfChannelMessage(received->message))) : "";
        Logger()->warn("channel {}: {} ({}{}), {}", Short(record.channel_id), deadline ? "an HTLC's deadline came" : "peer broke a rule",
                       why, in, failure->FailsChannel() ? "failing the channel" : "sending a warning and disconnecting");
        SendNotice(batch, record.peer, record.channel_id, failure->FailsChannel(),
                   std::string(notice.data.begin(), notice.data.end()));
        if (failure->FailsChannel()) {
            FailChannel(record, why, false, batch);
        } else {
            QueueDisconnect(batch, record.peer);
        }
        return;
    }
    if (std::holds_alternative<CommandRejected>(result)) return;
    auto& transition = std::get<Transition>(result);
    record.state = std::move(transition.state);
    if (received && m_router) {
        if (const auto* add = std::get_if<UpdateAddHtlcMessage>(&received->message)) m_to_peel.emplace_back(record.channel_id, add->id);
    }
    if (IsPeerUpdate(input)) m_to_sign_ahead.insert(record.channel_id);
    // An update of theirs that asks nothing of us yet need not be written: a crash undoes it at
    // both ends (BOLT 2's reversal of uncommitted updates), and the next write carries it.
    bool changed = !(transition.actions.empty() && IsPeerUpdate(input));
    for (auto& action : transition.actions) {
        std::visit(Overloaded{
                       [&](SendMessage& a) { Send(batch, record.peer, a.message, known); },
                       [&](const DataLossDetected&) {
                           record.failure = "peer proved our channel state is old: waiting for its close";
                           Logger()->error("channel {}: {}", Short(record.channel_id), record.failure);
                       },
                       [&](const HtlcLockedIn& a) {
                           Logger()->debug("channel {}: incoming HTLC {} locked in", Short(record.channel_id), a.id);
                           m_htlc_events.push_back({record.channel_id, a});
                       },
                       [&](const HtlcFulfilled& a) {
                           Logger()->debug("channel {}: HTLC {} fulfilled", Short(record.channel_id), a.id);
                           m_htlc_events.push_back({record.channel_id, a});
                       },
                       [&](const HtlcFailed& a) {
                           Logger()->debug("channel {}: HTLC {} failed", Short(record.channel_id), a.id);
                           m_htlc_events.push_back({record.channel_id, a});
                       },
                       [&](const HtlcOffered&) {},
                   },
                   action);
    }
    // Sign what was received at the end of the batch, with whatever else the batch adds to it
    // (the machine sends nothing when there is nothing to sign). After channel_reestablish at
    // once, so that the retransmission comes before what AfterReestablish sends.
    if (received) {
        if (std::holds_alternative<ChannelReestablishMessage>(received->message) && Connected(record.peer)) {
            auto sign = Step(*record.state, signer, SignCommitmentCommand{});
            if (auto* t = std::get_if<Transition>(&sign)) {
                record.state = std::move(t->state);
                changed = true;
                for (auto& action : t->actions) {
                    if (auto* send = std::get_if<SendMessage>(&action)) Send(batch, record.peer, send->message);
                }
            }
        } else {
            batch.to_sign.insert(record.channel_id);
        }
    }
    if (changed) batch.dirty.insert(record.channel_id);
    if (record.state->remote_commitment_number != remote_number_before) LogRemoteHtlcs(record, batch);
    if (record.phase == ChannelPhase::SHUTTING_DOWN) MaybeBeginNegotiation(record, batch);
}

void ChannelManager::Impl::LogRemoteHtlcs(const ChannelRecord& record, Batch& batch)
{
    // Written with the commitment_signed that makes the commitment: should the peer ever
    // broadcast it once revoked, its HTLC outputs are ours to claim (BOLT 5).
    batch.writes.push_back([this, id = record.channel_id, number = record.state->remote_commitment_number,
                            htlcs = HtlcsOf(RemoteCommitmentView(*record.state))](store::WriteTxn& txn) {
        m_remote_htlcs.OnRemoteCommitment(txn, id, number, htlcs);
    });
}

void ChannelManager::Impl::AfterReestablish(ChannelRecord& record, const ChannelReestablishMessage& theirs, Batch& batch)
{
    // BOLT 2: "if next_commitment_number is 1 in both the channel_reestablish it sent and
    // received: MUST retransmit channel_ready".
    if (record.local_ready_sent && theirs.next_commitment_number == 1 && record.state->local_commitment_number == 0) {
        Send(batch, record.peer, MakeChannelReady(record.channel_id, Signer(record.channel_index)));
    }
    // "upon reconnection: if it has sent a previous shutdown: MUST retransmit shutdown".
    const auto close = m_closes.find(record.channel_id);
    const bool resent = close != m_closes.end() && close->second.local_script;
    if (record.local_shutdown_script && record.phase == ChannelPhase::SHUTTING_DOWN && !resent) {
        StepCloseAndApply(record, close_event::LocalShutdown{*record.local_shutdown_script}, batch);
    }
    // BOLT 7 "upon reconnection ... if it has NOT received an announcement_signatures message:
    // SHOULD retransmit the announcement_signatures message"; once it has, it answers the peer's.
    if (!record.remote_announcement_sigs) MaybeSendAnnouncementSigs(record, batch);
    MaybeSharePrivateChannel(record, batch);
}

// ---- Closing -----------------------------------------------------------------------------

void ChannelManager::Impl::OnClose(CloseCmd& cmd, Batch& batch)
{
    ChannelRecord* record = FindChannel(cmd.channel_id);
    if (!record) return Fail(cmd.reply, kErrUnknownChannel, "unknown channel " + ToHex(cmd.channel_id));
    if (record->phase == ChannelPhase::CLOSING || record->phase == ChannelPhase::CLOSED) {
        if (!record->closing_tx.empty()) {
            return Succeed(cmd.reply, CloseResult{record->channel_id, ParseTransaction(record->closing_tx)});
        }
    }
    if (record->phase != ChannelPhase::NORMAL && record->phase != ChannelPhase::SHUTTING_DOWN) {
        return Fail(cmd.reply, kErrChannelState,
                    "channel is " + std::string(ChannelPhaseName(record->phase)) + ", not open: it cannot be closed cooperatively");
    }
    if (!Connected(record->peer)) {
        return Fail(cmd.reply, kErrPeerNotConnected, "peer is not connected: a cooperative close needs it");
    }
    m_close_replies[record->channel_id] = cmd.reply;
    if (cmd.feerate_per_kw) m_close_feerates[record->channel_id] = *cmd.feerate_per_kw;
    if (record->local_shutdown_script) return; // Already closing: the reply comes with the transaction.
    ReleaseHeldCommitment(*record, batch);
    if (cmd.destination) return StartLocalShutdown(*record, std::move(*cmd.destination), batch);
    const Hash256 channel_id = record->channel_id;
    RequestPayoutScript(channel_id);
}

void ChannelManager::Impl::OnForceClose(ForceCloseCmd& cmd, Batch& batch)
{
    ChannelRecord* record = FindChannel(cmd.channel_id);
    if (!record) return Fail(cmd.reply, kErrUnknownChannel, "unknown channel " + ToHex(cmd.channel_id));
    if (!record->state || !IsLive(record->phase)) {
        return Fail(cmd.reply, kErrChannelState,
                    "channel is " + std::string(ChannelPhaseName(record->phase)) + ": there is no commitment to broadcast");
    }
    if (!record->funding_height) return Fail(cmd.reply, kErrChannelState, "the funding transaction is not confirmed yet");
    if (record->state->data_loss_detected) {
        // BOLT 2: after the peer proved our state old we "MUST NOT broadcast" our commitment.
        return Fail(cmd.reply, kErrChannelState, "our state is older than the peer's: our commitment must not be broadcast");
    }
    FailChannel(*record, "closed unilaterally at the operator's request", true, batch);
    CloseResult result{record->channel_id, SignedLocalCommitment(*record->state, Signer(record->channel_index))};
    batch.after_commit.push_back([reply = cmd.reply, result = std::move(result)]() mutable { Succeed(reply, std::move(result)); });
}

void ChannelManager::Impl::OnDevCommitment(DevCommitmentCmd& cmd)
{
    const ChannelRecord* record = FindChannel(cmd.channel_id);
    if (!record || !record->state || !IsLive(record->phase)) {
        return Fail(cmd.reply, kErrChannelState, "no open channel " + ToHex(cmd.channel_id));
    }
    // The preimages we would claim with: those we learned, and those of our invoices.
    std::vector<Hash256> preimages;
    for (const ChannelHtlc& htlc : record->state->htlcs) {
        if (htlc.known_preimage) preimages.push_back(*htlc.known_preimage);
        if (htlc.offerer != Side::REMOTE || !m_router) continue;
        if (auto preimage = m_router->PreimageToClaim(htlc.payment_hash, htlc.amount_msat)) preimages.push_back(*preimage);
    }
    const ChannelSigner& signer = Signer(record->channel_index);
    Succeed(cmd.reply, DevCommitment{SignedLocalCommitment(*record->state, signer), DevSignedLocalHtlcTxs(*record->state, signer, preimages)});
}

void ChannelManager::Impl::OnPayoutScript(const PayoutScriptIn& in, Batch& batch)
{
    m_awaiting_payout.erase(in.channel_id);
    ChannelRecord* record = FindChannel(in.channel_id);
    if (!record || record->local_shutdown_script) return;
    if (!in.script) {
        if (auto it = m_close_replies.find(in.channel_id); it != m_close_replies.end()) {
            Fail(it->second, -4, "cannot get a payout address from bitcoind's wallet: " + in.error);
            m_close_replies.erase(it);
        }
        Logger()->error("channel {}: no payout address for the close: {}", Short(in.channel_id), in.error);
        return;
    }
    ReleaseHeldCommitment(*record, batch);
    StartLocalShutdown(*record, *in.script, batch);
}

void ChannelManager::Impl::StartLocalShutdown(ChannelRecord& record, Bytes script, Batch& batch)
{
    if (!IsValidShutdownScript(script, FeaturesWith(record.peer).shutdown_anysegwit)) {
        if (auto it = m_close_replies.find(record.channel_id); it != m_close_replies.end()) {
            Fail(it->second, kErrInvalidParameter, "destination is not a script a close may pay (BOLT 2 shutdown)");
            m_close_replies.erase(it);
        }
        return;
    }
    record.local_shutdown_script = script;
    record.phase = ChannelPhase::SHUTTING_DOWN;
    record.state->local_shutdown_sent = true;
    batch.dirty.insert(record.channel_id);
    Logger()->info("channel {}: sending shutdown", Short(record.channel_id));
    StepCloseAndApply(record, close_event::LocalShutdown{std::move(script)}, batch);
}

void ChannelManager::Impl::OnShutdown(ChannelRecord& record, const ShutdownMessage& message, Batch& batch)
{
    if (record.phase != ChannelPhase::NORMAL && record.phase != ChannelPhase::SHUTTING_DOWN) {
        return SendNotice(batch, record.peer, record.channel_id, false, "unexpected shutdown");
    }
    record.phase = ChannelPhase::SHUTTING_DOWN;
    record.state->remote_shutdown_received = true;
    batch.dirty.insert(record.channel_id);
    StepCloseAndApply(record, close_event::ShutdownReceived{message}, batch);
    // BOLT 2: "if it hasn't sent a shutdown: ... MUST reply to a shutdown message with a shutdown".
    if (!record.local_shutdown_script && !m_awaiting_payout.contains(record.channel_id)) {
        m_awaiting_payout.insert(record.channel_id);
        const Hash256 channel_id = record.channel_id;
        RequestPayoutScript(channel_id);
    }
}

void ChannelManager::Impl::OnClosingSigned(ChannelRecord& record, const ClosingSignedMessage& message, Batch& batch)
{
    if (!m_closes.contains(record.channel_id)) {
        return SendNotice(batch, record.peer, record.channel_id, false, "unexpected closing_signed");
    }
    StepCloseAndApply(record, close_event::ClosingSignedReceived{message}, batch);
}

void ChannelManager::Impl::MaybeBeginNegotiation(ChannelRecord& record, Batch& batch)
{
    const auto it = m_closes.find(record.channel_id);
    if (it == m_closes.end() || it->second.phase != ClosePhase::kShuttingDown) return;
    if (!it->second.local_script || !it->second.remote_script) return;
    const ChannelState& state = *record.state;
    CommitmentActivity activity;
    activity.htlcs_in_local_commitment = state.htlcs.size();
    activity.htlcs_in_remote_commitment = state.htlcs.size();
    activity.uncommitted_updates = !state.fee_updates.empty();
    activity.revocation_owed = state.AwaitingRevocation();
    if (!MayNegotiateClosingFee(activity)) return;
    close_event::BeginNegotiation begin;
    begin.local_balance = state.local_balance;
    begin.remote_balance = state.remote_balance;
    const auto requested = m_close_feerates.find(record.channel_id);
    const uint32_t target = std::max<uint32_t>(requested != m_close_feerates.end() ? requested->second : m_chain.ClosingFeerate(), 253);
    begin.preferences.target_feerate_per_kw = target;
    begin.preferences.min_feerate_per_kw = 253;
    begin.preferences.max_feerate_per_kw = std::max(target * 10, state.feerate_per_kw);
    StepCloseAndApply(record, begin, batch);
}

void ChannelManager::Impl::StepCloseAndApply(ChannelRecord& record, const CloseEvent& event, Batch& batch)
{
    auto it = m_closes.find(record.channel_id);
    if (it == m_closes.end()) {
        it = m_closes.emplace(record.channel_id,
                              MakeCloseState(CloseChannel::FromSetup(record.state->setup, FeaturesWith(record.peer).shutdown_anysegwit)))
                 .first;
    }
    CloseStep step = StepClose(it->second, event, Signer(record.channel_index).FundingKey());
    it->second = std::move(step.state);
    for (auto& action : step.actions) {
        std::visit(Overloaded{
                       [&](close_action::SendShutdown& a) { Send(batch, record.peer, a.message); },
                       [&](close_action::SendClosingSigned& a) { Send(batch, record.peer, a.message); },
                       [&](close_action::Broadcast& a) {
                           record.closing_tx = SerializeTransaction(a.tx);
                           record.phase = ChannelPhase::CLOSING;
                           batch.dirty.insert(record.channel_id);
                           batch.broadcasts.emplace_back(a.tx, "mutual close " + Short(record.channel_id));
                           batch.after_commit.push_back([id = record.channel_id, txid = a.tx.GetTxid()] {
                               Logger()->info("channel {}: mutual close {} agreed, stored and broadcast", Short(id),
                                              HashToHexRev(txid));
                           });
                           if (auto reply = m_close_replies.find(record.channel_id); reply != m_close_replies.end()) {
                               batch.after_commit.push_back([r = reply->second, result = CloseResult{record.channel_id, a.tx}] {
                                   Succeed(r, result);
                               });
                               m_close_replies.erase(reply);
                           }
                       },
                       [&](close_action::SendWarning& a) { SendNotice(batch, record.peer, record.channel_id, false, a.message); },
                       [&](close_action::Fail& a) {
                           SendNotice(batch, record.peer, record.channel_id, a.fail_channel, a.message);
                           if (a.fail_channel) {
                               FailChannel(record, "close negotiation failed: " + a.message, false, batch);
                           } else {
                               QueueDisconnect(batch, record.peer);
                           }
                           if (auto reply = m_close_replies.find(record.channel_id); reply != m_close_replies.end()) {
                               Fail(reply->second, kErrChannelState, "close negotiation failed: " + a.message);
                               m_close_replies.erase(reply);
                           }
                       },
                   },
                   action);
    }
    if (it->second.phase == ClosePhase::kShuttingDown) MaybeBeginNegotiation(record, batch);
}

void ChannelManager::Impl::FailChannel(ChannelRecord& record, const std::string& why, bool send_error, Batch& batch)
{
    const size_t broadcasts_before = batch.broadcasts.size();
    Logger()->error("channel {} failed: {}", Short(record.channel_id), why);
    record.failure = why;
    const bool had_state = record.state.has_value() && record.phase != ChannelPhase::AWAITING_FUNDING_SIGNED;
    record.phase = ChannelPhase::FAILED;
    batch.dirty.insert(record.channel_id);
    m_closes.erase(record.channel_id);
    m_close_feerates.erase(record.channel_id);
    if (auto reply = m_close_replies.find(record.channel_id); reply != m_close_replies.end()) {
        Fail(reply->second, kErrChannelState, "channel failed: " + why);
        m_close_replies.erase(reply);
    }
    // BOLT 2 "fail the channel": publish our latest commitment, unless the peer proved it old
    // ("MUST NOT broadcast its commitment transaction").
    // A funding transaction never seen confirmed may never exist (the opener forgot the open):
    // a commitment spending it would be resent for nothing at every block.
    // Nor when the funding output is spent already: that spend is what gets resolved.
    if (had_state && record.funding_height && !record.state->data_loss_detected && record.closing_tx.empty() &&
        !m_onchain.contains(record.channel_id)) {
        const Transaction commitment = SignedLocalCommitment(*record.state, Signer(record.channel_index));
        batch.broadcasts.emplace_back(commitment, "commitment " + Short(record.channel_id));
        Logger()->warn("channel {}: broadcasting our commitment {}", Short(record.channel_id),
                       HashToHexRev(commitment.GetTxid()));
        // One the mempool refuses is never reported spending the funding output: resolved as
        // seen, so that its anchor child carries it in (CpfpCommitment).
        if (FeerateOf(commitment, record.state->setup.params.funding_sat) < m_chain.MempoolFloorFeerate()) {
            OnFundingSpend(SpendOf(record.channel_id, commitment, commitment.GetTxid(), commitment.vin.at(0).sequence),
                           std::nullopt, batch);
        }
    }
    if (!send_error) return;
    const size_t queued_before = batch.outgoing.size();
    SendNotice(batch, record.peer, record.channel_id, true, why);
    // The peer answers an error with its own commitment: told before ours reached bitcoind, it
    // could win the mempool and leave the close we reported unconfirmable.
    if (batch.outgoing.size() > queued_before) batch.outgoing.back().after_broadcast = batch.broadcasts.size() > broadcasts_before;
}

// ---- Chain -------------------------------------------------------------------------------

void ChannelManager::Impl::ListenerBlockConnected(store::WriteTxn& txn, int height, const Block& block)
{
    InboxEvent event;
    event.kind = InboxKind::BLOCK_CONNECTED;
    event.height = static_cast<uint32_t>(height);
    {
        const MutexLock lock(m_watch_mutex);
        for (size_t i = 0; i < block.txs.size(); ++i) {
            if (const auto f = m_watch_funding_txids.find(block.txids[i]); f != m_watch_funding_txids.end()) {
                event.fundings.push_back({f->second, static_cast<uint32_t>(i)});
            }
            for (const TxIn& in : block.txs[i].vin) {
                if (const auto s = m_watch_funding_outpoints.find(in.prevout); s != m_watch_funding_outpoints.end()) {
                    event.spends.push_back(SpendOf(s->second, block.txs[i], block.txids[i], in.sequence));
                }
            }
        }
    }
    txn.Put(m_inbox_db, U64Key(m_inbox_seq++), EncodeInboxEvent(event));
    // The watches (called before us) have seen this block already: spends of the new outputs
    // in it, such as our penalty confirming with the revoked commitment, are found here.
    InboxEvent same_block;
    same_block.kind = InboxKind::OUTPUT_SPEND;
    for (const SpendSeen& spend : event.spends) {
        if (!ListenerWatchOutputs(txn, spend)) continue;
        for (size_t i = 0; i < block.txs.size(); ++i) {
            for (const TxIn& in : block.txs[i].vin) {
                if (in.prevout.txid != spend.spending_txid) continue;
                same_block.output_spends.push_back({.channel_id = spend.channel_id, .outpoint = in.prevout,
                                                    .spending_txid = block.txids[i], .tx = block.txs[i],
                                                    .height = static_cast<uint32_t>(height), .unconfirmed = false});
            }
        }
    }
    if (!same_block.output_spends.empty()) txn.Put(m_inbox_db, U64Key(m_inbox_seq++), EncodeInboxEvent(same_block));
}

bool ChannelManager::Impl::ListenerWatchOutputs(store::WriteTxn& txn, const SpendSeen& spend)
{
    // The worker watches them too once it takes in the spend, but a follower catching up may
    // have delivered the next blocks by then.
    if (!spend.tx || IsMutualCloseShape(spend)) return false;
    for (uint32_t i = 0; i < spend.tx->vout.size(); ++i) {
        {
            const MutexLock lock(m_watch_mutex);
            m_watch_outputs[{spend.spending_txid, i}] = spend.channel_id;
        }
        m_chain.WatchSpends(txn, {spend.spending_txid, i}, std::string(kOutputWatchTag) + ToHex(spend.channel_id));
    }
    return true;
}

void ChannelManager::Impl::ListenerWatchEvent(store::WriteTxn& txn, const WatchEvent& event)
{
    if (EventTag(event).starts_with(kOutputWatchTag)) return ListenerOutputSpend(txn, event);
    // Spends in blocks come with the block (ListenerBlockConnected), confirmed.
    const auto* spent = std::get_if<OutpointSpent>(&event);
    if (!spent || !spent->in_mempool) return;
    Hash256 channel_id;
    {
        const MutexLock lock(m_watch_mutex);
        const auto it = m_watch_funding_outpoints.find(spent->outpoint);
        if (it == m_watch_funding_outpoints.end()) return;
        channel_id = it->second;
    }
    const auto input = std::ranges::find_if(spent->spending_tx.vin, [&](const TxIn& in) { return in.prevout == spent->outpoint; });
    if (input == spent->spending_tx.vin.end()) return;
    InboxEvent seen;
    seen.kind = InboxKind::MEMPOOL_SPEND;
    seen.spends.push_back(SpendOf(channel_id, spent->spending_tx, spent->spending_txid, input->sequence));
    txn.Put(m_inbox_db, U64Key(m_inbox_seq++), EncodeInboxEvent(seen));
    ListenerWatchOutputs(txn, seen.spends.front());
    // A revoked commitment in the mempool is a race against its CSV: the worker acts on it now
    // rather than at its next wake after this transaction commits; the inbox entry makes sure
    // of it after a crash.
    Post(MempoolSpendIn{seen.spends.front()});
}

void ChannelManager::Impl::ListenerOutputSpend(store::WriteTxn& txn, const WatchEvent& event)
{
    OutputSpendSeen seen;
    std::visit(Overloaded{[&](const OutpointSpent& e) {
                              seen.outpoint = e.outpoint;
                              seen.spending_txid = e.spending_txid;
                              seen.tx = e.spending_tx;
                          },
                          [&](const OutpointSpendConfirmed& e) {
                              seen.outpoint = e.outpoint;
                              seen.spending_txid = e.spending_txid;
                              seen.height = static_cast<uint32_t>(e.height);
                          },
                          [&](const OutpointSpendUnconfirmed& e) {
                              seen.outpoint = e.outpoint;
                              seen.spending_txid = e.spending_txid;
                              seen.unconfirmed = true;
                          },
                          [](const auto&) {}},
               event);
    {
        const MutexLock lock(m_watch_mutex);
        const auto it = m_watch_outputs.find(seen.outpoint);
        if (it == m_watch_outputs.end()) return;
        seen.channel_id = it->second;
    }
    InboxEvent entry;
    entry.kind = InboxKind::OUTPUT_SPEND;
    entry.output_spends.push_back(seen);
    txn.Put(m_inbox_db, U64Key(m_inbox_seq++), EncodeInboxEvent(entry));
    // A preimage in the peer's claim settles the upstream HTLC: no reason to wait for a wake.
    Post(OutputSpendIn{std::move(seen)});
}

void ChannelManager::Impl::ListenerBlockDisconnected(store::WriteTxn& txn, int height)
{
    InboxEvent event;
    event.kind = InboxKind::BLOCK_DISCONNECTED;
    event.height = static_cast<uint32_t>(height);
    txn.Put(m_inbox_db, U64Key(m_inbox_seq++), EncodeInboxEvent(event));
}

void ChannelManager::Impl::DrainInbox(Batch& batch)
{
    std::vector<std::pair<Bytes, InboxEvent>> events;
    {
        store::ReadTxn txn(m_env);
        txn.ForEachPrefix(m_inbox_db, {}, [&](ByteSpan key, ByteSpan value) {
            auto event = DecodeInboxEvent(value);
            if (!event) throw std::runtime_error("corrupt chain event in the channel inbox");
            events.emplace_back(Bytes(key.begin(), key.end()), std::move(*event));
            return true;
        });
    }
    for (auto& [key, event] : events) {
        OnInboxEvent(event, batch);
        batch.inbox_done.push_back(std::move(key));
    }
}

void ChannelManager::Impl::OnInboxEvent(const InboxEvent& event, Batch& batch)
{
    if (event.kind == InboxKind::MEMPOOL_SPEND) {
        for (const auto& spend : event.spends) OnFundingSpend(spend, std::nullopt, batch);
        return;
    }
    if (event.kind == InboxKind::OUTPUT_SPEND) {
        for (const auto& seen : event.output_spends) OnOutputSpend(seen, batch);
        return;
    }
    if (event.kind == InboxKind::BLOCK_DISCONNECTED) {
        m_tip = event.height > 0 ? event.height - 1 : 0;
        for (auto& [id, onchain] : m_onchain) {
            if (onchain.spend_height && *onchain.spend_height >= event.height) {
                Logger()->warn("channel {}: funding spend unconfirmed by a reorg", Short(id));
                onchain.spend_height.reset();
                batch.onchain_dirty.insert(id);
            }
        }
        for (auto& [id, record] : m_channels) {
            if (record.funding_height && *record.funding_height >= event.height) {
                Logger()->warn("channel {}: funding transaction unconfirmed by a reorg", Short(id));
                record.funding_height.reset();
                // The announcement signatures exchanged cover the old short_channel_id: both
                // ends sign the new one once it is six deep again.
                record.remote_announcement_sigs.reset();
                m_announcement_sent.erase(id);
                batch.dirty.insert(id);
            }
            if (record.spend_height && *record.spend_height >= event.height) {
                record.spend_height.reset();
                if (record.phase == ChannelPhase::CLOSED) record.phase = ChannelPhase::CLOSING;
                batch.dirty.insert(id);
            }
        }
        return;
    }
    m_tip = event.height;
    for (const auto& seen : event.fundings) {
        ChannelRecord* record = FindChannel(seen.channel_id);
        if (!record) continue;
        record->funding_height = event.height;
        record->funding_tx_index = seen.tx_index;
        batch.dirty.insert(seen.channel_id);
        Logger()->info("channel {}: funding transaction confirmed at height {}", Short(seen.channel_id), event.height);
    }
    for (const auto& spend : event.spends) OnFundingSpend(spend, event.height, batch);
    ActOnEverySpend(batch, true);
    ArchiveResolved(batch);
    std::vector<Hash256> forget;
    for (auto& [id, record] : m_channels) {
        if (record.phase == ChannelPhase::AWAITING_LOCKIN) {
            MaybeSendChannelReady(record, batch);
            if (!record.opener && !record.funding_height &&
                event.height >= record.created_height + m_options.fundee_forget_blocks) {
                forget.push_back(id);
            }
        } else if ((record.phase == ChannelPhase::NORMAL || record.phase == ChannelPhase::SHUTTING_DOWN) && record.state) {
            // A shutdown waits for the HTLCs to go, and their deadlines still hold meanwhile.
            StepChannel(record, BlockHeightChanged{event.height}, batch);
            MaybeSendAnnouncementSigs(record, batch);
        }
    }
    for (const auto& id : forget) {
        Logger()->info("channel {}: funding never confirmed in {} blocks; forgetting it", Short(id), m_options.fundee_forget_blocks);
        UnwatchFunding(m_channels.at(id));
        m_channels.erase(id);
        batch.erased.insert(id);
    }
}

void ChannelManager::Impl::ActOnEverySpend(Batch& batch, bool block_connected)
{
    for (auto& [id, onchain] : m_onchain) {
        ChannelRecord* record = FindChannel(id);
        if (!record) continue;
        try {
            ActOnchain(*record, batch);
            // Not on a reorg's disconnection, nor at a start: our transaction missed no block then.
            if (block_connected) {
                BumpFees(*record, onchain, batch);
                CpfpCommitment(*record, onchain, true, batch);
            }
        } catch (const std::exception& e) {
            // A bug of ours resolving one channel must not stop the others' sweeps and penalties.
            Logger()->error("channel {}: internal error resolving its funding spend: {}", Short(id), e.what());
        }
    }
}

void ChannelManager::Impl::OnFundingSpend(const SpendSeen& spend, std::optional<uint32_t> height, Batch& batch)
{
    ChannelRecord* record = FindChannel(spend.channel_id);
    if (!record) return;
    if (height) {
        record->spending_txid = spend.spending_txid;
        record->spend_height = *height;
        batch.dirty.insert(spend.channel_id);
    }
    const bool ours = !record->closing_tx.empty() && ParseTransaction(record->closing_tx).GetTxid() == spend.spending_txid;
    if (ours || IsMutualCloseShape(spend)) {
        if (!height) return;
        record->phase = ChannelPhase::CLOSED;
        Logger()->info("channel {}: mutual close confirmed at height {}", Short(spend.channel_id), *height);
        return;
    }
    if (record->phase != ChannelPhase::FAILED) {
        // Someone published a commitment: on-chain resolution (BOLT 5) takes over from here.
        record->phase = ChannelPhase::FAILED;
        record->failure = "funding output spent by " + HashToHexRev(spend.spending_txid);
        batch.dirty.insert(spend.channel_id);
        Logger()->warn("channel {}: {}{}", Short(spend.channel_id), record->failure, height ? "" : " (in the mempool)");
    }
    if (!spend.tx || !record->state) return;
    OnchainRecord& onchain = m_onchain[spend.channel_id];
    const bool known = !onchain.spend_tx.empty() && ParseTransaction(onchain.spend_tx).GetTxid() == spend.spending_txid;
    if (!known) {
        // A confirmed spend is the one; one from the mempool replaces only another unconfirmed one.
        if (onchain.spend_height && !height) return;
        ForgetReplacedSpend(onchain, batch);
        onchain.spend_tx = SerializeTransaction(*spend.tx);
        m_resolutions.erase(spend.channel_id);
        WatchSpendOutputs(spend.channel_id, *spend.tx);
    }
    if (height) onchain.spend_height = *height;
    batch.onchain_dirty.insert(spend.channel_id);
    ActOnchain(*record, batch);
}

void ChannelManager::Impl::ForgetReplacedSpend(OnchainRecord& onchain, Batch& batch)
{
    // A reorg (or a mempool replacement) put another transaction in its place: what spent the
    // old one's outputs says nothing of the new one's, which has outputs at the same indexes,
    // and our transactions spending them can never confirm. Should the old spend come back,
    // it is resolved afresh.
    if (onchain.spend_tx.empty()) return;
    for (const Hash256& txid : onchain.broadcast) batch.cancel_broadcasts.push_back(txid);
    onchain.broadcast.clear();
    onchain.spent.clear();
    onchain.bumps.clear();
}

const Resolution& ChannelManager::Impl::ResolutionOf(const ChannelRecord& record, const OnchainRecord& onchain, Batch& batch)
{
    if (const auto it = m_resolutions.find(record.channel_id); it != m_resolutions.end()) return it->second;
    Resolution resolution = Resolve(ParseTransaction(onchain.spend_tx), *record.state, Signer(record.channel_index),
                                    ContextFor(record, onchain, onchain.feerate_per_kw));
    const std::string_view kind = SpendKindName(resolution.classification.kind);
    switch (resolution.classification.kind) {
    case SpendKind::UNKNOWN:
        // BOLT 5: "MUST send a warning regarding lost funds".
        Logger()->error("channel {}: funding output spent by {}, which is none of the channel's transactions: funds may be lost",
                        Short(record.channel_id), HashToHexRev(resolution.txid));
        SendNotice(batch, record.peer, record.channel_id, false, "funding output spent by an unknown transaction");
        break;
    case SpendKind::FUTURE_REMOTE_COMMITMENT:
        Logger()->error("channel {}: the peer published a commitment newer than any we know: we lost data; claiming what we can",
                        Short(record.channel_id));
        break;
    case SpendKind::REVOKED_LOCAL_COMMITMENT:
        // Not the peer's doing: no warning to it. Our balance in it is the peer's to penalize.
        Logger()->error("channel {}: our own revoked commitment {} was published (a node of ours that lost its state, or our "
                        "keys are out): the peer may take our balance",
                        Short(record.channel_id), HashToHexRev(resolution.txid));
        break;
    default:
        Logger()->warn("channel {}: funding spent by {} ({}), {} outputs to resolve{}", Short(record.channel_id),
                       HashToHexRev(resolution.txid), kind, resolution.duties.size(),
                       resolution.unmatched_outputs.empty() ? "" : "; some HTLC outputs unidentified");
    }
    return m_resolutions.emplace(record.channel_id, std::move(resolution)).first->second;
}

ResolveContext ChannelManager::Impl::ContextFor(const ChannelRecord& record, const OnchainRecord& onchain, uint32_t feerate_per_kw)
{
    ResolveContext context;
    context.target = SweepTarget{onchain.sweep_script, feerate_per_kw};
    if (record.local_shutdown_script) context.shutdown_scripts.push_back(*record.local_shutdown_script);
    if (const auto number = ClaimedCommitmentNumber(ParseTransaction(onchain.spend_tx), record.state->setup.params)) {
        const store::ReadTxn txn(m_env);
        context.revoked_htlcs.push_back(m_remote_htlcs.Find(txn, record.channel_id, *number));
    }
    context.preimages = onchain.preimages;
    for (const ChannelHtlc& htlc : record.state->htlcs) {
        if (htlc.offerer != Side::REMOTE || !m_router) continue;
        if (auto preimage = m_router->PreimageToClaim(htlc.payment_hash, htlc.amount_msat)) context.preimages.push_back(*preimage);
    }
    return context;
}

void ChannelManager::Impl::ActOnchain(ChannelRecord& record, Batch& batch)
{
    const auto it = m_onchain.find(record.channel_id);
    if (it == m_onchain.end() || !record.state) return;
    OnchainRecord& onchain = it->second;
    if (onchain.sweep_script.empty()) return RequestSweepScript(record.channel_id);
    const Resolution& resolution = ResolutionOf(record, onchain, batch);
    LearnFromSpends(record, onchain, resolution, batch);
    const bool zero_fee_htlc_txs = HasAnchors(record.state->setup.params.format);
    for (DueTransaction& due : DueTransactions(resolution, onchain, zero_fee_htlc_txs, m_tip)) {
        const Hash256 txid = due.tx.GetTxid();
        Logger()->warn("channel {}: broadcasting {} {}", Short(record.channel_id), due.label, HashToHexRev(txid));
        onchain.broadcast.push_back(txid);
        batch.broadcasts.emplace_back(std::move(due.tx), std::move(due.label));
        batch.onchain_dirty.insert(record.channel_id);
    }
    if (zero_fee_htlc_txs) FundDueHtlcTxs(record, onchain, resolution);
    NoteFirstVersions(record, onchain, resolution, batch);
    RetireReplaced(record.channel_id, onchain, batch);
    FollowOurSpends(record, onchain, resolution, batch);
    CpfpCommitment(record, onchain, false, batch);
    WatchSecondStage(record.channel_id, onchain, resolution);
    FailHtlcsWithoutOutputs(record, onchain, resolution, batch);
}

void ChannelManager::Impl::NoteFirstVersions(const ChannelRecord& record, OnchainRecord& onchain, const Resolution& resolution,
                                             Batch& batch)
{
    const uint16_t cheater_delay = record.state->setup.params.local.to_self_delay;
    for (const DeadlineRace& race : RunningRaces(resolution, onchain, cheater_delay, HasAnchors(record.state->setup.params.format))) {
        // Our wallet-funded HTLC transactions are noted when the wallet has funded them.
        if (onchain.BumpFor(race.key) || (resolution.DutyFor(race.key) && IsSecondStageDuty(resolution.DutyFor(race.key)->kind))) {
            continue;
        }
        const auto first = RaceTransaction(record, onchain, resolution, race.key, onchain.feerate_per_kw);
        if (!first || !onchain.Broadcast(first->GetTxid())) continue;
        // Its first block is the one after this tip (or after its parent's, when a watch reported
        // that before its block); bumped if that block goes without it.
        onchain.bumps.push_back({race.key, onchain.feerate_per_kw, std::max(HandoutHeight(), race.parent_height), {first->GetTxid()}});
        batch.onchain_dirty.insert(record.channel_id);
    }
    // A commitment in the mempool with HTLCs at stake starts at its own feerate; a CPFP child
    // follows if the next block goes without it.
    if (const auto race = UnconfirmedCommitmentRace(resolution, onchain); race && !onchain.BumpFor(race->anchor_output)) {
        const uint32_t feerate = FeerateOf(ParseTransaction(onchain.spend_tx), record.state->setup.params.funding_sat);
        onchain.bumps.push_back({race->anchor_output, feerate, HandoutHeight(), {}});
        batch.onchain_dirty.insert(record.channel_id);
    }
}

void ChannelManager::Impl::CpfpCommitment(const ChannelRecord& record, OnchainRecord& onchain, bool block_connected, Batch& batch)
{
    if (!record.state || onchain.sweep_script.empty() || onchain.spend_height) return;
    const Resolution& resolution = ResolutionOf(record, onchain, batch);
    const Transaction spend = ParseTransaction(onchain.spend_tx);
    const auto parent_weight = static_cast<uint32_t>(spend.GetWeight());
    const Sat parent_fee = FeeOf(spend, record.state->setup.params.funding_sat);
    const uint32_t parent_feerate = FeerateOf(spend, record.state->setup.params.funding_sat);
    auto race = UnconfirmedCommitmentRace(resolution, onchain);
    const FeeBump* noted = race ? onchain.BumpFor(race->anchor_output) : nullptr;
    // Our commitment below the mempool's floor (presigned when fees were lower) is not even in
    // the mempool: a child pays for both at once, sent with it as a package, deadline or not.
    // The peer's we only know from the mempool, which took it.
    const uint32_t floor = m_chain.MempoolFloorFeerate();
    const bool stuck = resolution.classification.kind == SpendKind::LOCAL_COMMITMENT &&
                       std::max(parent_feerate, noted ? noted->feerate_per_kw : 0) < floor;
    if (!race && stuck) race = StuckCommitmentRace(resolution, onchain);
    if (!race || m_awaiting_fee.contains({record.channel_id, race->anchor_output})) return;
    FeeBump* bump = onchain.BumpFor(race->anchor_output);
    if (!bump) {
        onchain.bumps.push_back({race->anchor_output, parent_feerate, HandoutHeight(), {}});
        bump = &onchain.bumps.back();
        batch.onchain_dirty.insert(record.channel_id);
    }
    const PubKey funding_pubkey = Signer(record.channel_index).FundingKey().GetPubKey();
    const uint32_t anchor_weight = AnchorInputWeight(funding_pubkey);
    const uint32_t child_weight = AnchorChildWeight(funding_pubkey, onchain.sweep_script.size());
    const uint32_t cap = BumpFeerateCap(race->stake, parent_weight + child_weight);
    uint32_t package = 0;
    if (stuck) {
        package = std::min(std::max(floor, m_chain.CommitmentFeerate()), cap);
    } else if (block_connected && m_tip > bump->height) {
        package = NextBumpFeerate(bump->feerate_per_kw, m_tip, race->deadline, cap);
    }
    // The child pays the package's feerate over its own weight, and what the parent lacks.
    const Sat deficit = PackageDeficit(package, parent_weight, parent_fee);
    if (package <= bump->feerate_per_kw || deficit == Sat{0}) return;
    m_awaiting_fee.insert({record.channel_id, race->anchor_output});
    if (stuck) {
        Logger()->warn("channel {}: commitment {} pays {} sat/kw, below the mempool's floor of {}: CPFP through our anchor for "
                       "{} sat/kw, sent with it as a package", Short(record.channel_id), HashToHexRev(spend.GetTxid()).substr(0, 16),
                       parent_feerate, floor, package);
    } else {
        Logger()->warn("channel {}: commitment {} not confirmed by block {}: CPFP through our anchor for {} sat/kw (was {}), "
                       "deadline block {}", Short(record.channel_id), HashToHexRev(spend.GetTxid()).substr(0, 16), m_tip, package,
                       bump->feerate_per_kw, race->deadline);
    }
    RunOnWallet([this, id = record.channel_id, spend_txid = spend.GetTxid(), anchor = race->anchor_output, package,
                 deficit, anchor_weight, spent = spend.vout.at(race->anchor_output),
                 tx = UnfundedAnchorSpend({spend.GetTxid(), race->anchor_output}, onchain.sweep_script)]() -> Input {
        AnchorFeeIn in{id, spend_txid, anchor, package, std::nullopt, {}};
        try {
            in.funded = m_wallet.FundChild(tx, anchor_weight, spent, package, deficit);
        } catch (const std::exception& e) {
            in.error = e.what();
        }
        return in;
    });
}

void ChannelManager::Impl::OnAnchorFee(const AnchorFeeIn& in, Batch& batch)
{
    m_awaiting_fee.erase({in.channel_id, in.anchor_output});
    const auto it = m_onchain.find(in.channel_id);
    ChannelRecord* record = FindChannel(in.channel_id);
    if (it == m_onchain.end() || !record) return;
    OnchainRecord& onchain = it->second;
    if (!in.funded) {
        // Asked again at the next block.
        Logger()->error("channel {}: bitcoind's wallet cannot fund a CPFP of our commitment: {}", Short(in.channel_id), in.error);
        return;
    }
    const auto signed_tx = SignAnchorInput(*in.funded, {in.spend_txid, in.anchor_output}, Signer(record->channel_index).FundingKey());
    FeeBump* bump = onchain.BumpFor(in.anchor_output);
    const bool current = ParseTransaction(onchain.spend_tx).GetTxid() == in.spend_txid && !onchain.spend_height;
    if (!signed_tx || !bump || !current) {
        // The commitment confirmed (or another replaced it) meanwhile: the wallet's coins go back.
        std::vector<OutPoint> wallet_inputs;
        for (size_t i = 1; i < in.funded->vin.size(); ++i) wallet_inputs.push_back(in.funded->vin[i].prevout);
        UnlockOnWallet(std::move(wallet_inputs));
        return;
    }
    const Hash256 txid = signed_tx->GetTxid();
    Logger()->warn("channel {}: broadcasting CPFP child {} of commitment {}", Short(in.channel_id), HashToHexRev(txid),
                   HashToHexRev(in.spend_txid).substr(0, 16));
    bump->feerate_per_kw = in.package_feerate;
    bump->height = HandoutHeight();
    bump->versions.push_back(txid);
    onchain.broadcast.push_back(txid);
    batch.broadcasts.emplace_back(*signed_tx, "CPFP of " + HashToHexRev(in.spend_txid).substr(0, 16));
    batch.onchain_dirty.insert(in.channel_id);
}

std::optional<Transaction> ChannelManager::Impl::RaceTransaction(const ChannelRecord& record, const OnchainRecord& onchain,
                                                                 const Resolution& resolution, uint32_t key, uint32_t feerate_per_kw)
{
    if (key != kBatchedPenaltyKey && key >= SecondStagePenaltyKey(0)) {
        const SpentOutput* cheater = CheaterSecondStage(resolution, onchain, key & ~SecondStagePenaltyKey(0));
        if (!cheater) return std::nullopt;
        return PenalizeSecondStage(resolution, ParseTransaction(cheater->tx), *record.state, Signer(record.channel_index),
                                   SweepTarget{onchain.sweep_script, feerate_per_kw});
    }
    std::optional<Resolution> other;
    if (feerate_per_kw != onchain.feerate_per_kw) {
        other = Resolve(ParseTransaction(onchain.spend_tx), *record.state, Signer(record.channel_index),
                        ContextFor(record, onchain, feerate_per_kw));
    }
    const Resolution& at = other ? *other : resolution;
    if (key == kBatchedPenaltyKey) return at.penalty_tx;
    const OutputDuty* duty = at.DutyFor(key);
    return duty ? duty->tx : std::nullopt;
}

void ChannelManager::Impl::BumpFees(const ChannelRecord& record, OnchainRecord& onchain, Batch& batch)
{
    if (!record.state || onchain.sweep_script.empty()) return;
    const Resolution& resolution = ResolutionOf(record, onchain, batch);
    const uint16_t cheater_delay = record.state->setup.params.local.to_self_delay;
    for (const DeadlineRace& race : RunningRaces(resolution, onchain, cheater_delay, HasAnchors(record.state->setup.params.format))) {
        FeeBump* bump = onchain.BumpFor(race.key);
        if (!bump || m_tip <= bump->height || bump->versions.empty()) continue;
        const OutputDuty* duty = resolution.DutyFor(race.key);
        if (duty && IsSecondStageDuty(duty->kind)) {
            // Our HTLC transaction's fee comes from the wallet: it funds the next version too.
            const uint32_t weight = static_cast<uint32_t>(duty->tx->GetWeight()) + kWalletFeeWeight;
            const uint32_t feerate = NextBumpFeerate(bump->feerate_per_kw, m_tip, race.deadline, BumpFeerateCap(race.amount, weight));
            if (feerate <= bump->feerate_per_kw || m_awaiting_fee.contains({record.channel_id, race.key})) continue;
            Logger()->warn("channel {}: our {} {} not confirmed by block {}: asking the wallet for {} sat/kw (was {}), deadline block {}",
                           Short(record.channel_id), DutyKindName(duty->kind), HashToHexRev(bump->versions.back()).substr(0, 16),
                           m_tip, feerate, bump->feerate_per_kw, race.deadline);
            FundHtlcTx(record.channel_id, *duty, feerate);
            continue;
        }
        const auto first = RaceTransaction(record, onchain, resolution, race.key, onchain.feerate_per_kw);
        if (!first) continue;
        const uint32_t feerate = NextBumpFeerate(bump->feerate_per_kw, m_tip, race.deadline,
                                                 BumpFeerateCap(race.amount, static_cast<uint32_t>(first->GetWeight())));
        if (feerate <= bump->feerate_per_kw) continue;
        const auto tx = RaceTransaction(record, onchain, resolution, race.key, feerate);
        if (!tx) continue;
        Logger()->warn("channel {}: {} not confirmed by block {}: replacing it at {} sat/kw (was {}), deadline block {}: {}",
                       Short(record.channel_id), HashToHexRev(bump->versions.back()).substr(0, 16), m_tip,
                       feerate, bump->feerate_per_kw, race.deadline, HashToHexRev(tx->GetTxid()));
        *bump = {bump->key, feerate, HandoutHeight(), bump->versions};
        bump->versions.push_back(tx->GetTxid());
        onchain.broadcast.push_back(tx->GetTxid());
        batch.broadcasts.emplace_back(*tx, "fee bump of " + HashToHexRev(first->GetTxid()).substr(0, 16));
        batch.onchain_dirty.insert(record.channel_id);
    }
}

void ChannelManager::Impl::RetireReplaced(const Hash256& channel_id, OnchainRecord& onchain, Batch& batch)
{
    // A version confirmed as deep as the broadcaster keeps its own: the others conflict with it
    // for good and are no longer resent at every block.
    std::vector<Hash256> settled;
    const auto note = [&](const Bytes& tx, const std::optional<uint32_t>& height) {
        if (height && m_tip + 1 >= *height + kReplacedRetireDepth) settled.push_back(ParseTransaction(tx).GetTxid());
    };
    for (const SpentOutput& spent : onchain.spent) note(spent.tx, spent.height);
    for (const SecondStageSpend& spend : onchain.second_stage) note(spend.tx, spend.height);
    for (FeeBump& bump : onchain.bumps) {
        if (bump.versions.size() < 2) continue;
        const auto found = std::ranges::find_first_of(settled, bump.versions);
        if (found == settled.end()) continue;
        const Hash256 winner = *found;
        for (const Hash256& txid : bump.versions) {
            if (txid != winner) batch.cancel_broadcasts.push_back(txid);
        }
        bump.versions = {winner};
        batch.onchain_dirty.insert(channel_id);
    }
}

void ChannelManager::Impl::FailHtlcsWithoutOutputs(const ChannelRecord& record, const OnchainRecord& onchain,
                                                   const Resolution& resolution, Batch& batch)
{
    // BOLT 5: "for any committed HTLC that does not have an output in this commitment
    // transaction: once the commitment transaction has reached reasonable depth: MUST fail the
    // corresponding incoming HTLC (if any)". Trimmed HTLCs, and those only in the other commitment.
    const SpendKind kind = resolution.classification.kind;
    const bool commitment = kind == SpendKind::LOCAL_COMMITMENT || kind == SpendKind::REMOTE_COMMITMENT ||
                            kind == SpendKind::REMOTE_PENDING_COMMITMENT || kind == SpendKind::REVOKED_REMOTE_COMMITMENT ||
                            kind == SpendKind::REVOKED_LOCAL_COMMITMENT;
    if (!m_router || !commitment || !resolution.unmatched_outputs.empty() || !onchain.spend_height ||
        m_tip + 1 < *onchain.spend_height + kHtlcResolvedDepth) {
        return;
    }
    // The outputs of HTLCs we offered, each matched to at most one HTLC.
    std::vector<const OutputDuty*> outputs;
    for (const OutputDuty& duty : resolution.duties) {
        if (duty.kind == DutyKind::LOCAL_HTLC_TIMEOUT || duty.kind == DutyKind::REMOTE_HTLC_TIMEOUT || duty.kind == DutyKind::PENALTY_HTLC) {
            outputs.push_back(&duty);
        }
    }
    for (const ChannelHtlc& htlc : record.state->htlcs) {
        // One the peer fulfilled was settled upstream with its preimage already.
        const bool fulfilled = htlc.known_preimage || (htlc.removal && htlc.removal->kind == HtlcRemovalKind::FULFILL);
        if (htlc.offerer != Side::LOCAL || fulfilled) continue;
        const auto output = std::ranges::find_if(outputs, [&](const OutputDuty* duty) {
            return duty && duty->payment_hash == htlc.payment_hash && duty->cltv_expiry == htlc.cltv_expiry &&
                   duty->amount == ToSatFloor(htlc.amount_msat);
        });
        if (output != outputs.end()) {
            *output = nullptr;
            continue;
        }
        BatchChannels channels(*this, batch);
        m_router->OnOutgoingTimedOutOnChain(channels, record.channel_id, htlc.id, m_tip, NowSeconds());
    }
}

void ChannelManager::Impl::FundDueHtlcTxs(const ChannelRecord& record, const OnchainRecord& onchain, const Resolution& resolution)
{
    for (const OutputDuty& duty : resolution.duties) {
        // A version handed out already is replaced by BumpFees, not funded again.
        if (!IsSecondStageDuty(duty.kind) || !duty.tx || onchain.SpentAt(duty.output_index) || onchain.BumpFor(duty.output_index)) {
            continue;
        }
        if (!DutySpendable(duty, onchain, m_tip) || m_awaiting_fee.contains({record.channel_id, duty.output_index})) continue;
        Logger()->info("channel {}: asking the wallet to pay the fee of our {} transaction", Short(record.channel_id),
                       DutyKindName(duty.kind));
        FundHtlcTx(record.channel_id, duty, onchain.feerate_per_kw);
    }
}

void ChannelManager::Impl::FundHtlcTx(const Hash256& channel_id, const OutputDuty& duty, uint32_t feerate_per_kw)
{
    m_awaiting_fee.insert({channel_id, duty.output_index});
    RunOnWallet([this, channel_id, index = duty.output_index, tx = *duty.tx, weight = SignedInputWeight(*duty.tx, 0),
                 feerate_per_kw]() -> Input {
        HtlcFeeIn in{channel_id, index, feerate_per_kw, std::nullopt, {}};
        try {
            in.funded = m_wallet.AddFeeInputs(tx, weight, feerate_per_kw);
        } catch (const std::exception& e) {
            in.error = e.what();
        }
        return in;
    });
}

void ChannelManager::Impl::OnHtlcFee(const HtlcFeeIn& in, Batch& batch)
{
    m_awaiting_fee.erase({in.channel_id, in.output_index});
    const auto it = m_onchain.find(in.channel_id);
    ChannelRecord* record = FindChannel(in.channel_id);
    if (it == m_onchain.end() || !record) return;
    if (!in.funded) {
        // Asked again at the next block.
        Logger()->error("channel {}: bitcoind's wallet cannot pay our HTLC transaction's fee: {}", Short(in.channel_id), in.error);
        return;
    }
    OnchainRecord& onchain = it->second;
    const Resolution& resolution = ResolutionOf(*record, onchain, batch);
    const OutputDuty* duty = resolution.DutyFor(in.output_index);
    const auto signed_tx = duty ? SignFundedHtlcTx(*duty, *in.funded, resolution, Signer(record->channel_index)) : std::nullopt;
    if (!signed_tx) {
        Logger()->error("channel {}: the wallet's funding of our HTLC transaction changed its own input or output",
                        Short(in.channel_id));
        return;
    }
    const Hash256 txid = signed_tx->GetTxid();
    Logger()->warn("channel {}: broadcasting {} with wallet fee at {} sat/kw {}", Short(record->channel_id), DutyKindName(duty->kind),
                   in.feerate_per_kw, HashToHexRev(txid));
    // Each version is a race entry: replaced by a better-paid one if a block goes without it.
    if (FeeBump* bump = onchain.BumpFor(in.output_index)) {
        *bump = {bump->key, in.feerate_per_kw, HandoutHeight(), bump->versions};
        bump->versions.push_back(txid);
    } else {
        onchain.bumps.push_back({in.output_index, in.feerate_per_kw, HandoutHeight(), {txid}});
    }
    onchain.broadcast.push_back(txid);
    batch.broadcasts.emplace_back(*signed_tx, std::string(DutyKindName(duty->kind)) + " of " + HashToHexRev(resolution.txid).substr(0, 16));
    batch.onchain_dirty.insert(record->channel_id);
}

void ChannelManager::Impl::FollowOurSpends(ChannelRecord& record, OnchainRecord& onchain, const Resolution& resolution,
                                           Batch& batch)
{
    const SweepTarget target{onchain.sweep_script, onchain.feerate_per_kw};
    for (const SpentOutput& spent : onchain.spent) {
        const OutputDuty* duty = resolution.DutyFor(spent.output_index);
        const Transaction tx = ParseTransaction(spent.tx);
        if (!duty || !spent.height || !onchain.Broadcast(tx.GetTxid())) continue;
        const uint32_t depth = m_tip + 1 - std::min(m_tip + 1, *spent.height);
        // Once our timeout or penalty of an HTLC we offered is deep, the peer can no longer claim it.
        const bool timed_out = duty->kind == DutyKind::LOCAL_HTLC_TIMEOUT || duty->kind == DutyKind::REMOTE_HTLC_TIMEOUT ||
                               duty->kind == DutyKind::PENALTY_HTLC;
        if (timed_out && depth >= kHtlcResolvedDepth && m_router) {
            for (const ChannelHtlc& htlc : record.state->htlcs) {
                if (htlc.offerer != Side::LOCAL || htlc.payment_hash != duty->payment_hash || htlc.cltv_expiry != duty->cltv_expiry) continue;
                BatchChannels channels(*this, batch);
                m_router->OnOutgoingTimedOutOnChain(channels, record.channel_id, htlc.id, m_tip, NowSeconds());
            }
        }
        // Our preimage claim of an HTLC paying one of our invoices, deep: the invoice is paid,
        // even when the HTLC went on chain before it was decided off chain.
        const bool claimed = duty->kind == DutyKind::REMOTE_HTLC_SUCCESS || duty->kind == DutyKind::LOCAL_HTLC_SUCCESS;
        if (claimed && depth >= kHtlcResolvedDepth && m_router) {
            for (const ChannelHtlc& htlc : record.state->htlcs) {
                if (htlc.offerer != Side::REMOTE || htlc.payment_hash != duty->payment_hash || htlc.cltv_expiry != duty->cltv_expiry) continue;
                BatchChannels channels(*this, batch);
                m_router->OnIncomingClaimedOnChain(channels, htlc.payment_hash, htlc.amount_msat, NowSeconds());
            }
        }
        if (!IsSecondStageDuty(duty->kind)) continue;
        // BOLT 5: "MUST wait until the OP_CHECKSEQUENCEVERIFY delay has passed ... before spending
        // that HTLC-timeout/success transaction output".
        if (m_tip + 1 < *spent.height + record.state->setup.params.remote.to_self_delay) continue;
        for (const Transaction& sweep : SweepSecondStage(resolution, tx, *record.state, Signer(record.channel_index), target)) {
            if (onchain.Broadcast(sweep.GetTxid())) continue;
            Logger()->warn("channel {}: broadcasting the sweep of {} {}", Short(record.channel_id), HashToHexRev(tx.GetTxid()),
                           HashToHexRev(sweep.GetTxid()));
            onchain.broadcast.push_back(sweep.GetTxid());
            batch.broadcasts.emplace_back(sweep, "sweep of " + HashToHexRev(tx.GetTxid()).substr(0, 16));
            batch.onchain_dirty.insert(record.channel_id);
        }
    }
}

void ChannelManager::Impl::WatchSecondStage(const Hash256& channel_id, const OnchainRecord& onchain, const Resolution& resolution)
{
    for (const Hash256& parent : SecondStageParents(resolution, onchain)) {
        const OutPoint outpoint{parent, 0};
        {
            const MutexLock lock(m_watch_mutex);
            if (!m_watch_outputs.emplace(outpoint, channel_id).second) continue;
        }
        m_chain.WatchSpends(outpoint, std::string(kOutputWatchTag) + ToHex(channel_id));
    }
}

bool ChannelManager::Impl::OnSecondStageSpend(const ChannelRecord& record, OnchainRecord& onchain, const OutputSpendSeen& seen,
                                              Batch& batch)
{
    const std::vector<Hash256> parents = SecondStageParents(ResolutionOf(record, onchain, batch), onchain);
    if (seen.outpoint.n != 0 || std::ranges::find(parents, seen.outpoint.txid) == parents.end()) return false;
    auto it = std::ranges::find_if(onchain.second_stage, [&](const SecondStageSpend& s) { return s.parent_txid == seen.outpoint.txid; });
    const bool known = it != onchain.second_stage.end();
    const RecordedSpend recorded = known ? RecordedSpend{it->tx, it->height} : RecordedSpend{};
    auto next = NextSpend(seen, known ? &recorded : nullptr);
    if (!next) return false;
    if (!known || next->tx != it->tx) {
        Logger()->info("channel {}: second-stage output of {} spent by {}", Short(record.channel_id),
                       HashToHexRev(seen.outpoint.txid), HashToHexRev(seen.spending_txid));
    }
    if (!known) it = onchain.second_stage.insert(it, SecondStageSpend{seen.outpoint.txid, {}, {}});
    it->tx = std::move(next->tx);
    it->height = next->height;
    batch.onchain_dirty.insert(record.channel_id);
    return true;
}

void ChannelManager::Impl::ArchiveResolved(Batch& batch)
{
    std::vector<std::pair<Hash256, uint32_t>> resolved;
    for (const auto& [id, record] : m_channels) {
        std::optional<uint32_t> last;
        const auto onchain = m_onchain.find(id);
        if (record.phase == ChannelPhase::CLOSED && onchain == m_onchain.end()) {
            last = record.spend_height;
        } else if (record.phase == ChannelPhase::FAILED && onchain != m_onchain.end() && record.state &&
                   !onchain->second.sweep_script.empty()) {
            last = LastResolvingHeight(ResolutionOf(record, onchain->second, batch), onchain->second);
        }
        // BOLT 5: irrevocably resolved once the last spend is 100 blocks deep.
        if (last && m_tip + 1 >= *last + kIrrevocableDepth) resolved.emplace_back(id, *last);
    }
    for (const auto& entry : resolved) {
        // Named copies: lambdas below capture them (clang before 16 cannot capture bindings).
        const Hash256 id = entry.first;
        const uint32_t last = entry.second;
        ChannelRecord& record = m_channels.at(id);
        const ClosedChannel closed = DescribeClosed(record, last, batch);
        Logger()->info("channel {}: {} irrevocably resolved at height {}; moved to the closed channels", Short(id),
                       closed.close_kind, last);
        batch.writes.push_back([this, id, encoded = EncodeClosedChannel(closed)](store::WriteTxn& txn) {
            txn.Put(m_closed_db, id, encoded);
            txn.Delete(m_onchain_db, id);
        });
        UnwatchFunding(record);
        std::vector<OutPoint> outputs;
        {
            const MutexLock lock(m_watch_mutex);
            std::erase_if(m_watch_outputs, [&](const auto& watch) {
                if (watch.second == id) outputs.push_back(watch.first);
                return watch.second == id;
            });
        }
        // Outside the lock: the watch manager calls our listener, which takes it, with its own held.
        for (const OutPoint& outpoint : outputs) m_chain.UnwatchSpends(outpoint, std::string(kOutputWatchTag) + ToHex(id));
        m_onchain.erase(id);
        m_resolutions.erase(id);
        batch.onchain_dirty.erase(id);
        m_channels.erase(id);
        batch.erased.insert(id);
    }
}

ClosedChannel ChannelManager::Impl::DescribeClosed(const ChannelRecord& record, uint32_t resolved_height, Batch& batch)
{
    ClosedChannel closed(record.peer);
    closed.channel_id = record.channel_id;
    closed.opener = record.opener;
    closed.resolved_height = resolved_height;
    closed.archived_height = m_tip;
    if (record.state) {
        closed.capacity = record.state->setup.params.funding_sat;
        closed.funding_outpoint = record.state->setup.params.funding_outpoint;
    }
    if (record.funding_height) {
        closed.short_channel_id =
            ShortChannelId{*record.funding_height, record.funding_tx_index, static_cast<uint16_t>(closed.funding_outpoint.n)}.ToU64();
    }
    closed.spend_txid = record.spending_txid.value_or(Hash256{});
    closed.spend_height = record.spend_height.value_or(0);
    const auto it = m_onchain.find(record.channel_id);
    if (it == m_onchain.end()) {
        closed.close_kind = SpendKindName(SpendKind::MUTUAL_CLOSE);
        // Our output of the mutual close we signed last, when that is the one that confirmed.
        if (!record.closing_tx.empty() && record.local_shutdown_script) {
            const Transaction closing = ParseTransaction(record.closing_tx);
            if (closing.GetTxid() == closed.spend_txid) {
                Sat ours;
                for (const TxOut& out : closing.vout) {
                    if (out.script_pubkey == *record.local_shutdown_script) ours += Sat{static_cast<uint64_t>(out.value)};
                }
                closed.our_txids.push_back(closing.GetTxid());
                closed.returned = ours;
            }
        }
        return closed;
    }
    const OnchainRecord& onchain = it->second;
    closed.close_kind = SpendKindName(ResolutionOf(record, onchain, batch).classification.kind);
    Sat returned;
    const auto count = [&](const Bytes& raw, const std::optional<uint32_t>& height) {
        const Transaction tx = ParseTransaction(raw);
        if (!height || !onchain.Broadcast(tx.GetTxid()) || std::ranges::find(closed.our_txids, tx.GetTxid()) != closed.our_txids.end()) {
            return;
        }
        closed.our_txids.push_back(tx.GetTxid());
        for (const TxOut& out : tx.vout) {
            if (out.script_pubkey == onchain.sweep_script) returned += Sat{static_cast<uint64_t>(out.value)};
        }
    };
    for (const SpentOutput& spent : onchain.spent) count(spent.tx, spent.height);
    for (const SecondStageSpend& spend : onchain.second_stage) count(spend.tx, spend.height);
    closed.returned = returned;
    return closed;
}

void ChannelManager::Impl::OnOutputSpend(const OutputSpendSeen& seen, Batch& batch)
{
    const auto it = m_onchain.find(seen.channel_id);
    ChannelRecord* record = FindChannel(seen.channel_id);
    if (it == m_onchain.end() || !record) return;
    OnchainRecord& onchain = it->second;
    if (seen.outpoint.txid != ParseTransaction(onchain.spend_tx).GetTxid()) {
        // An output of a second-stage transaction, or of a spend that was replaced (a mempool
        // commitment, then another confirmed).
        if (OnSecondStageSpend(*record, onchain, seen, batch)) ActOnchain(*record, batch);
        return;
    }
    auto spent = std::ranges::find_if(onchain.spent, [&](const SpentOutput& s) { return s.output_index == seen.outpoint.n; });
    const bool known = spent != onchain.spent.end();
    const RecordedSpend recorded = known ? RecordedSpend{spent->tx, spent->height} : RecordedSpend{};
    // A spend found in the block that confirmed the funding spend comes with its height.
    auto next = NextSpend(seen, known ? &recorded : nullptr);
    if (!next) return;
    if (!known || next->tx != spent->tx) {
        Logger()->info("channel {}: output {} of {} spent by {}", Short(seen.channel_id), seen.outpoint.n,
                       HashToHexRev(seen.outpoint.txid), HashToHexRev(seen.spending_txid));
    }
    if (!known) spent = onchain.spent.insert(spent, SpentOutput{seen.outpoint.n, {}, {}});
    spent->tx = std::move(next->tx);
    spent->height = next->height;
    batch.onchain_dirty.insert(seen.channel_id);
    ActOnchain(*record, batch);
}

void ChannelManager::Impl::LearnFromSpends(ChannelRecord& record, OnchainRecord& onchain, const Resolution& resolution,
                                           Batch& batch)
{
    for (const SpentOutput& spent : onchain.spent) {
        const Transaction tx = ParseTransaction(spent.tx);
        if (onchain.Broadcast(tx.GetTxid())) continue;
        for (const Hash256& preimage : ExtractPreimages(resolution, tx)) {
            if (std::ranges::find(onchain.preimages, preimage) != onchain.preimages.end()) continue;
            onchain.preimages.push_back(preimage);
            batch.onchain_dirty.insert(record.channel_id);
            const Hash256 payment_hash = Sha256(preimage);
            // BOLT 5: "MUST extract the payment preimage from the transaction input witness" and
            // settle the incoming HTLC upstream with it.
            for (const ChannelHtlc& htlc : record.state->htlcs) {
                if (htlc.offerer != Side::LOCAL || htlc.payment_hash != payment_hash) continue;
                Logger()->warn("channel {}: preimage of HTLC {} learned on chain", Short(record.channel_id), htlc.id);
                m_htlc_events.push_back({record.channel_id, HtlcFulfilled{htlc.id, preimage}});
            }
        }
        if (resolution.classification.kind != SpendKind::REVOKED_REMOTE_COMMITMENT) continue;
        // BOLT 5: "MUST *resolve* the outputs of the HTLC-timeout or HTLC-success transaction"
        // the cheater published from a revoked commitment, with the revocation key.
        const SweepTarget target{onchain.sweep_script, onchain.feerate_per_kw};
        const auto penalty = PenalizeSecondStage(resolution, tx, *record.state, Signer(record.channel_index), target);
        if (!penalty || onchain.Broadcast(penalty->GetTxid())) continue;
        Logger()->warn("channel {}: broadcasting the penalty of second-stage {} {}", Short(record.channel_id),
                       HashToHexRev(tx.GetTxid()), HashToHexRev(penalty->GetTxid()));
        onchain.broadcast.push_back(penalty->GetTxid());
        batch.broadcasts.emplace_back(*penalty, "penalty of second-stage " + HashToHexRev(tx.GetTxid()).substr(0, 16));
        batch.onchain_dirty.insert(record.channel_id);
    }
}

void ChannelManager::Impl::WatchSpendOutputs(const Hash256& channel_id, const Transaction& spend)
{
    const Hash256 txid = spend.GetTxid();
    for (uint32_t i = 0; i < spend.vout.size(); ++i) {
        {
            const MutexLock lock(m_watch_mutex);
            m_watch_outputs[{txid, i}] = channel_id;
        }
        m_chain.WatchSpends({txid, i}, std::string(kOutputWatchTag) + ToHex(channel_id));
    }
}

void ChannelManager::Impl::RequestSweepScript(const Hash256& channel_id)
{
    if (!m_awaiting_sweep_script.insert(channel_id).second) return;
    RunOnWallet([this, channel_id]() -> Input {
        SweepScriptIn in{channel_id, std::nullopt, {}};
        try {
            in.script = m_wallet.NewPayoutScript();
        } catch (const std::exception& e) {
            in.error = e.what();
        }
        return in;
    });
}

void ChannelManager::Impl::OnSweepScript(const SweepScriptIn& in, Batch& batch)
{
    m_awaiting_sweep_script.erase(in.channel_id);
    const auto it = m_onchain.find(in.channel_id);
    ChannelRecord* record = FindChannel(in.channel_id);
    if (it == m_onchain.end() || !record || !it->second.sweep_script.empty()) return;
    if (!in.script) {
        // Asked again soon (Tick), and at the next block: bitcoind may be back by then.
        Logger()->error("channel {}: no address from bitcoind's wallet to sweep to: {}", Short(in.channel_id), in.error);
        m_sweep_script_retry[in.channel_id] = Clock::now() + kSweepScriptRetry;
        return;
    }
    it->second.sweep_script = *in.script;
    it->second.feerate_per_kw = m_chain.CommitmentFeerate();
    batch.onchain_dirty.insert(in.channel_id);
    ActOnchain(*record, batch);
}

void ChannelManager::Impl::Tick(Batch&)
{
    const auto now = Clock::now();
    for (auto it = m_sweep_script_retry.begin(); it != m_sweep_script_retry.end();) {
        if (now < it->second) {
            ++it;
            continue;
        }
        const auto onchain = m_onchain.find(it->first);
        if (onchain != m_onchain.end() && onchain->second.sweep_script.empty()) RequestSweepScript(it->first);
        it = m_sweep_script_retry.erase(it);
    }
    std::set<PubKey> wanted;
    for (const auto& [id, record] : m_channels) {
        if (IsLive(record.phase) && !Connected(record.peer) && m_addresses.contains(record.peer)) wanted.insert(record.peer);
    }
    for (const PubKey& peer : wanted) {
        Backoff& backoff = m_backoff[peer];
        if (now < backoff.next) continue;
        backoff.delay = backoff.delay.count() == 0 ? m_options.reconnect_min
                                                   : std::min(backoff.delay * 2, m_options.reconnect_max);
        backoff.next = now + backoff.delay;
        const std::string& address = m_addresses.at(peer);
        const auto colon = address.rfind(':');
        if (colon == std::string::npos) continue;
        const auto port = static_cast<uint16_t>(std::strtoul(address.c_str() + colon + 1, nullptr, 10));
        Logger()->debug("reconnecting to {} at {} (next try in {} ms)", Short(peer), address, backoff.delay.count());
        m_peers.Connect(peer, address.substr(0, colon), port);
    }
}

// ---- Helpers -----------------------------------------------------------------------------

const ChannelSigner& ChannelManager::Impl::Signer(uint64_t index)
{
    return *SharedSigner(index);
}

const std::shared_ptr<ChannelSigner>& ChannelManager::Impl::SharedSigner(uint64_t index)
{
    auto it = m_signers.find(index);
    if (it == m_signers.end()) {
        it = m_signers.emplace(index, std::make_shared<ChannelSigner>(m_secret(index))).first;
        it->second->SetParallelFor([this](size_t count, const std::function<void(size_t)>& body) { m_signature_pool.For(count, body); });
        it->second->SetCheckRunner([this](std::vector<std::function<bool()>> checks) { return RunChecks(std::move(checks)); });
    }
    return it->second;
}

std::vector<bool> ChannelManager::Impl::RunChecks(std::vector<std::function<bool()>> checks)
{
    // Many: the helper threads, woken for them (a wake-up costs about what one check does). A
    // few, as one at a time a payment's two or three: the CPUs idle right now, if any.
    constexpr size_t kPooledChecks = 4;
    if (checks.size() < kPooledChecks) return RunWithIdleHelp<bool>(std::move(checks), m_options.run_when_idle, m_options.signature_helpers);
    std::vector<uint8_t> valid(checks.size(), 0);
    m_signature_pool.For(checks.size(), [&](size_t i) { valid[i] = checks[i]() ? 1 : 0; });
    return {valid.begin(), valid.end()};
}

uint64_t ChannelManager::Impl::AllocateIndex(Batch& batch)
{
    batch.index_dirty = true;
    return m_next_index++;
}

void ChannelManager::Impl::Send(Batch& batch, const PubKey& peer, const ChannelMessage& message, PreimageKnown known)
{
    Queue(batch, peer, EncodeChannelMessage(message), !MayLeaveBeforeWrite(message, known));
}

void ChannelManager::Impl::Queue(Batch& batch, const PubKey& peer, Bytes message, bool after_write)
{
    // What this connection's inputs make is for this connection alone: sent on a newer one it
    // could come before that one's channel_reestablish, or repeat it.
    const auto it = m_connected.find(peer);
    if (it == m_connected.end()) return;
    batch.outgoing.push_back({peer, it->second.number, std::move(message), after_write});
}

void ChannelManager::Impl::QueueDisconnect(Batch& batch, const PubKey& peer)
{
    if (const auto it = m_connected.find(peer); it != m_connected.end()) batch.disconnect.emplace_back(peer, it->second.number);
}

void ChannelManager::Impl::SendNotice(Batch& batch, const PubKey& peer, const Hash256& channel_id, bool is_error,
                                      const std::string& text)
{
    ChannelNotice notice;
    notice.channel_id = channel_id;
    notice.data.assign(text.begin(), text.end());
    Queue(batch, peer, is_error ? EncodeMessage(ErrorMessage{notice}) : EncodeMessage(WarningMessage{notice}), true);
}

ChannelRecord* ChannelManager::Impl::FindChannel(const Hash256& channel_id)
{
    const auto it = m_channels.find(channel_id);
    return it == m_channels.end() ? nullptr : &it->second;
}

void ChannelManager::Impl::WatchFunding(const ChannelRecord& record)
{
    if (!record.state || record.phase == ChannelPhase::CLOSED) return;
    const OutPoint& outpoint = record.state->setup.params.funding_outpoint;
    {
        const MutexLock lock(m_watch_mutex);
        m_watch_funding_txids[outpoint.txid] = record.channel_id;
        m_watch_funding_outpoints[outpoint] = record.channel_id;
    }
    // The chain service's watch sees the mempool too (a breach is answered before any block).
    m_chain.WatchSpends(outpoint, std::string(kFundingWatchTag) + ToHex(record.channel_id));
}

void ChannelManager::Impl::UnwatchFunding(const ChannelRecord& record)
{
    if (!record.state) return;
    const OutPoint& outpoint = record.state->setup.params.funding_outpoint;
    {
        const MutexLock lock(m_watch_mutex);
        m_watch_funding_txids.erase(outpoint.txid);
        m_watch_funding_outpoints.erase(outpoint);
    }
    m_chain.UnwatchSpends(outpoint, std::string(kFundingWatchTag) + ToHex(record.channel_id));
}

ChannelSummary ChannelManager::Impl::Summarize(const ChannelRecord& record) const
{
    ChannelSummary s{record.peer};
    s.peer_connected = Connected(record.peer);
    s.channel_id = record.channel_id;
    s.phase = record.phase;
    s.opener = record.opener;
    s.failure = record.failure;
    if (!record.closing_tx.empty()) s.closing_txid = ParseTransaction(record.closing_tx).GetTxid();
    if (record.spending_txid) s.closing_txid = record.spending_txid;
    if (!record.state) return s;
    const ChannelState& state = *record.state;
    const auto& params = state.setup.params;
    s.format = params.format;
    s.capacity = params.funding_sat;
    s.local_balance = state.local_balance;
    s.remote_balance = state.remote_balance;
    s.local_limits = state.setup.local_limits;
    s.remote_limits = state.setup.remote_limits;
    s.feerate_per_kw = state.feerate_per_kw;
    s.pending_htlcs = state.htlcs.size();
    s.funding_outpoint = params.funding_outpoint;
    s.minimum_depth = state.setup.minimum_depth;
    if (record.funding_height) {
        s.funding_confirmations = m_tip >= *record.funding_height ? m_tip - *record.funding_height + 1 : 0;
        s.short_channel_id = ShortChannelId{*record.funding_height, record.funding_tx_index,
                                            static_cast<uint16_t>(params.funding_outpoint.n)};
    }
    if (const auto onchain = m_onchain.find(record.channel_id); onchain != m_onchain.end()) {
        const auto resolution = m_resolutions.find(record.channel_id);
        s.onchain = SummarizeOnchain(onchain->second, resolution == m_resolutions.end() ? nullptr : &resolution->second, params);
    }
    return s;
}

namespace {
std::vector<OnchainSummary::SecondStage> SummarizeSecondStages(const OnchainRecord& onchain, const Resolution& resolution,
                                                               const ChannelParams& params)
{
    std::vector<OnchainSummary::SecondStage> out;
    for (const SpentOutput& spent : onchain.spent) {
        const Transaction tx = ParseTransaction(spent.tx);
        const Hash256 txid = tx.GetTxid();
        const std::vector<Hash256> parents = SecondStageParents(resolution, onchain);
        if (std::ranges::find(parents, txid) == parents.end()) continue;
        const bool ours = onchain.Broadcast(txid);
        OnchainSummary::SecondStage entry;
        entry.txid = txid;
        entry.output_index = spent.output_index;
        entry.duty = ours ? "sweep_second_stage" : "penalty_second_stage";
        // Our sweep waits for the peer's to_self_delay; the cheater's for the one we imposed.
        if (spent.height) entry.valid_from_height = *spent.height + (ours ? params.remote.to_self_delay : params.local.to_self_delay);
        const auto spend = std::ranges::find_if(onchain.second_stage, [&](const SecondStageSpend& s) { return s.parent_txid == txid; });
        if (spend != onchain.second_stage.end()) {
            entry.spent_by = ParseTransaction(spend->tx).GetTxid();
            entry.spent_height = spend->height;
            if (onchain.Broadcast(*entry.spent_by)) entry.our_txid = entry.spent_by;
        }
        if (const FeeBump* bump = onchain.BumpFor(SecondStagePenaltyKey(spent.output_index)); !ours && bump && !bump->versions.empty()) {
            entry.our_txid = entry.our_txid.value_or(bump->versions.back());
            if (bump->versions.size() > 1) {
                entry.replaced = bump->versions.size() - 1;
                entry.feerate_per_kw = bump->feerate_per_kw;
            }
        }
        out.push_back(std::move(entry));
    }
    return out;
}

OnchainSummary SummarizeOnchain(const OnchainRecord& onchain, const Resolution* resolution, const ChannelParams& params)
{
    OnchainSummary s;
    s.spend_txid = ParseTransaction(onchain.spend_tx).GetTxid();
    s.spend_height = onchain.spend_height;
    if (!resolution) return s;
    s.kind = SpendKindName(resolution->classification.kind);
    for (const OutputDuty& duty : resolution->duties) {
        OnchainSummary::Output out;
        out.duty = DutyKindName(duty.kind);
        out.output_index = duty.output_index;
        out.amount = duty.amount;
        if (duty.csv_delay == 0 || onchain.spend_height) {
            const uint32_t csv_from = duty.csv_delay == 0 ? 0 : *onchain.spend_height + duty.csv_delay;
            out.valid_from_height = std::max(duty.spendable_height + 1, csv_from);
        }
        if (duty.tx) {
            out.txid = duty.tx->GetTxid();
            out.broadcast = onchain.Broadcast(*out.txid);
        }
        // A CPFP child of the commitment replaced none at first; a penalty or claim did.
        const size_t originals = duty.kind == DutyKind::ANCHOR ? 0 : 1;
        if (const FeeBump* bump = onchain.BumpFor(duty.output_index); bump && !bump->versions.empty()) {
            // Our wallet-funded HTLC transaction is not the resolution's unfunded one.
            out.txid = bump->versions.back();
            out.broadcast = true;
            if (bump->versions.size() > originals) {
                out.replaced = bump->versions.size() - 1;
                out.feerate_per_kw = bump->feerate_per_kw;
            }
        }
        if (const SpentOutput* spent = onchain.SpentAt(duty.output_index)) {
            out.spent_by = ParseTransaction(spent->tx).GetTxid();
            out.spent_height = spent->height;
        }
        s.outputs.push_back(std::move(out));
    }
    s.second_stage = SummarizeSecondStages(onchain, *resolution, params);
    if (resolution->penalty_tx) {
        s.penalty_txid = resolution->penalty_tx->GetTxid();
        s.penalty_broadcast = onchain.Broadcast(*s.penalty_txid);
    }
    if (const FeeBump* bump = onchain.BumpFor(kBatchedPenaltyKey); bump && bump->versions.size() > 1) {
        s.penalty_txid = bump->versions.back();
        s.penalty_replaced = bump->versions.size() - 1;
        s.penalty_feerate_per_kw = bump->feerate_per_kw;
    }
    return s;
}
} // namespace

// ---- Public API --------------------------------------------------------------------------

ChannelManager::ChannelManager(store::Env& env, PeerLink& peers, ChannelWallet& wallet, ChannelChain& chain,
                               SecretForIndex channel_secret, ChannelManagerOptions options)
    : m_impl(std::make_unique<Impl>(env, peers, wallet, chain, std::move(channel_secret), std::move(options)))
{
}

ChannelManager::~ChannelManager() { m_impl->Stop(); }

void ChannelManager::Start(uint32_t tip_height) { m_impl->Start(tip_height); }
void ChannelManager::Stop() { m_impl->Stop(); }

void ChannelManager::OnPeerConnected(const PubKey& peer, const FeatureBits& features, uint64_t connection)
{
    m_impl->Post(PeerConnectedIn{peer, features, connection});
}

void ChannelManager::OnPeerDisconnected(const PubKey& peer) { m_impl->Post(PeerDisconnectedIn{peer}); }

bool ChannelManager::OnPeerMessage(const PubKey& peer, uint16_t type, ByteSpan payload)
{
    if (type == static_cast<uint16_t>(GossipMessageType::kAnnouncementSignatures)) {
        auto decoded = AnnouncementSignaturesMessage::DecodePayload(payload);
        if (!decoded) {
            Logger()->warn("peer {} sent a malformed announcement_signatures: {}", Short(peer), ToString(decoded.error()));
            m_impl->DropPeer(peer);
            return true;
        }
        m_impl->Post(AnnouncementSigsIn{peer, std::move(*decoded)});
        return true;
    }
    if (!IsChannelMessageType(type)) return false;
    auto decoded = DecodeChannelMessage(type, payload);
    if (!decoded) {
        // BOLT 1: a message "with insufficient length for the contents" is a protocol
        // violation; the transport is dropped (the peer layer then reports the disconnection)
        // and channel_reestablish repairs the rest.
        Logger()->warn("peer {} sent a malformed message of type {}: {}", Short(peer), type, ToString(decoded.error()));
        m_impl->DropPeer(peer);
        return true;
    }
    // Never refused for a full queue: the peer's reading pauses instead (flow control, Post).
    m_impl->Post(PeerMessageIn{peer, std::move(*decoded)});
    return true;
}

void ChannelManager::OnPeerReadDelivered(const PubKey& peer) { m_impl->ReadDelivered(peer); }

void ChannelManager::OnPeerNotice(const PubKey& peer, const Hash256& channel_id, bool is_error, const std::string& text)
{
    m_impl->Post(PeerNoticeIn{peer, channel_id, is_error, text});
}

void ChannelManager::RememberPeerAddress(const PubKey& peer, const std::string& host, uint16_t port)
{
    m_impl->Post(PeerAddressIn{peer, host + ":" + std::to_string(port)});
}

FundChannelResult ChannelManager::FundChannel(const FundChannelRequest& request)
{
    auto reply = std::make_shared<std::promise<FundChannelResult>>();
    m_impl->Post(FundCmd{request, reply});
    return Await(reply, m_impl->Options().rpc_timeout, "the channel open");
}

CloseResult ChannelManager::Close(const Hash256& channel_id, std::optional<Bytes> destination,
                                  std::optional<uint32_t> feerate_per_kw, std::optional<std::chrono::milliseconds> timeout)
{
    auto reply = std::make_shared<std::promise<CloseResult>>();
    m_impl->Post(CloseCmd{channel_id, std::move(destination), feerate_per_kw, reply});
    return Await(reply, timeout.value_or(m_impl->Options().rpc_timeout), "the close negotiation");
}

CloseResult ChannelManager::ForceClose(const Hash256& channel_id)
{
    auto reply = std::make_shared<std::promise<CloseResult>>();
    m_impl->Post(ForceCloseCmd{channel_id, reply});
    return Await(reply, m_impl->Options().rpc_timeout, "the unilateral close");
}

ChannelManager::DevCommitment ChannelManager::DevSignLastCommitment(const Hash256& channel_id)
{
    auto reply = std::make_shared<std::promise<DevCommitment>>();
    m_impl->Post(DevCommitmentCmd{channel_id, reply});
    return Await(reply, m_impl->Options().rpc_timeout, "the commitment");
}

void ChannelManager::OnWatchEvent(store::WriteTxn& txn, const WatchEvent& event) { m_impl->ListenerWatchEvent(txn, event); }

std::string ChannelManager::WatchTagPrefix() { return std::string(kWatchTagPrefix); }

void ChannelManager::SetRouter(HtlcRouter& router) { m_impl->SetRouter(router); }

PaymentRecord ChannelManager::Pay(PayRequest request, std::chrono::milliseconds timeout)
{
    auto reply = std::make_shared<std::promise<PaymentRecord>>();
    m_impl->Post(PayCmd{std::move(request), reply, /*answer_pending=*/false});
    return Await(reply, timeout, "the payment");
}

PaymentRecord ChannelManager::StartPayment(PayRequest request)
{
    auto reply = std::make_shared<std::promise<PaymentRecord>>();
    m_impl->Post(PayCmd{std::move(request), reply, /*answer_pending=*/true});
    return Await(reply, std::chrono::seconds(30), "the payment's first HTLC");
}

PaymentRecord ChannelManager::WaitPayment(const Hash256& payment_hash, std::chrono::milliseconds timeout)
{
    auto reply = std::make_shared<std::promise<PaymentRecord>>();
    m_impl->Post(WaitPayCmd{payment_hash, reply});
    return Await(reply, timeout, "the payment's outcome");
}

std::vector<PaymentRecord> ChannelManager::ListPayments()
{
    auto reply = std::make_shared<std::promise<std::vector<PaymentRecord>>>();
    m_impl->Post(ListPaysCmd{reply});
    return Await(reply, std::chrono::seconds(30), "the payment list");
}

std::vector<std::vector<HintHop>> ChannelManager::RouteHints(const ForwardPolicy& assumed)
{
    auto reply = std::make_shared<std::promise<std::vector<std::vector<HintHop>>>>();
    m_impl->Post(HintsCmd{assumed, reply});
    return Await(reply, std::chrono::seconds(30), "the route hints");
}

ForwardPolicy ChannelManager::SetForwardPolicy(const ForwardPolicy& policy)
{
    auto reply = std::make_shared<std::promise<ForwardPolicy>>();
    m_impl->Post(SetPolicyCmd{policy, reply});
    return Await(reply, std::chrono::seconds(30), "the policy change");
}

std::vector<ClosedChannel> ChannelManager::ListClosedChannels() { return m_impl->ListClosed(); }

std::vector<ClosedChannel> ChannelManager::Impl::ListClosed() const
{
    // Straight from the store: written once, never changed, read without the worker.
    std::vector<ClosedChannel> closed;
    const store::ReadTxn txn(m_env);
    txn.ForEachPrefix(m_closed_db, {}, [&](ByteSpan key, ByteSpan value) {
        auto channel = DecodeClosedChannel(value);
        if (!channel) throw std::runtime_error("closed channel record " + ToHex(key) + " in the store is corrupt");
        closed.push_back(std::move(*channel));
        return true;
    });
    return closed;
}

std::vector<ChannelSummary> ChannelManager::ListChannels()
{
    auto reply = std::make_shared<std::promise<std::vector<ChannelSummary>>>();
    m_impl->Post(ListCmd{reply});
    return Await(reply, std::chrono::seconds(30), "the channel list");
}

void ChannelManager::OnBlockConnected(store::WriteTxn& txn, int height, const Hash256&, const Block& block)
{
    m_impl->ListenerBlockConnected(txn, height, block);
}

void ChannelManager::OnBlockDisconnected(store::WriteTxn& txn, int height, const Hash256&)
{
    m_impl->ListenerBlockDisconnected(txn, height);
}

void ChannelManager::OnTipChanged(const BlockRef&) { m_impl->Post(ChainWakeIn{}); }

void ChannelManager::OnBlockAborted()
{
    // The inbox entry was written in the aborted transaction and is gone with it; the block is
    // delivered again. Nothing in memory changed.
}

} // namespace sidebolt
