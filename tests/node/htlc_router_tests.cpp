// HtlcRouter (BOLT 4 at a node), two ways: in-process channel managers wired by a fake peer
// layer that routes between several nodes (payments end to end: direct, through a hop with a
// route hint, refused, multi-part, keysend, across restarts), and the router alone over a fake
// RouterChannels, which reaches every reject path of the forwarding and onion checks cheaply.
// ScratchDir, FakeChain and KeyOf come from node_test_util.h; the fake wallet and links are this file's.

#include "tests/node/node_test_util.h"
#include "channel/sweeps.h"
#include "node/htlc_router.h"
#include "node/onchain.h"
#include "node/remote_htlc_log.h"

#include "channel/scripts.h"
#include "gossip/signatures.h"
#include "node/channel_manager.h"
#include "node/invoice_store.h"
#include "pay/failure_codes.h"
#include "pay/invoice.h"
#include "pay/onion_failure.h"
#include "pay/sphinx.h"
#include "primitives/hash.h"
#include "primitives/network.h"
#include "store/env.h"
#include "util/hex.h"
#include "util/sync.h"
#include "wire/channel_messages.h"
#include "wire/gossip_messages.h"
#include "wire/message.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace sidebolt {
namespace {

using namespace std::chrono_literals;

using test::FakeChain;
using test::FastEnv;
using test::KeyOf;
using test::ScratchDir;


uint64_t Now()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

uint16_t Code(FailureCode code) { return static_cast<uint16_t>(code); }

class FakeWallet : public ChannelWallet
{
public:
    WalletFunding Fund(const Script& script_pubkey, Sat amount, uint32_t, std::optional<uint32_t>) override
    {
        std::lock_guard lock(m_mutex);
        WalletFunding funding;
        TxIn in;
        in.prevout = OutPoint{Sha256(Bytes{'c', 'o', 'i', 'n', m_salt, static_cast<uint8_t>(m_funded)}), 0};
        in.witness = {Bytes(71, 1), Bytes(33, 2)};
        funding.tx.vin.push_back(in);
        funding.tx.vout.push_back(TxOut{static_cast<int64_t>(amount.value()), script_pubkey.Data()});
        funding.locked_inputs = {in.prevout};
        ++m_funded;
        return funding;
    }
    void Unlock(std::span<const OutPoint>) override {}
    //! Fails while `payout_failures` counts down, as bitcoind does before its wallet is loaded.
    Bytes NewPayoutScript() override
    {
        if (payout_failures > 0) {
            --payout_failures;
            throw NodeError(-18, "No wallet is loaded");
        }
        return P2wpkhScript(KeyOf(8).GetPubKey()).Data();
    }
    //! Without coins for fees unless `pays_fees`: then one coin and a change output are added
    //! behind tx's own, and the feerates asked for are kept.
    Transaction AddFeeInputs(const Transaction& tx, uint32_t, uint32_t feerate_per_kw) override
    {
        std::lock_guard lock(m_mutex);
        if (!pays_fees) throw NodeError(-4, "this test's wallet has no coins for fees");
        fee_feerates.push_back(feerate_per_kw);
        Transaction funded = tx;
        funded.vin.push_back(TxIn{{Sha256(Bytes{'f', 'e', 'e', static_cast<uint8_t>(fee_feerates.size())}), 0}, {}, 0xfffffffd, {}});
        funded.vout.push_back(TxOut{50'000, P2wpkhScript(KeyOf(9).GetPubKey()).Data()});
        return funded;
    }

    //! As AddFeeInputs, and output 0 grows to cover input 0's fee, as the real one may; the
    //! extra fees asked for are kept.
    Transaction FundChild(const Transaction& tx, uint32_t, const TxOut&, uint32_t feerate_per_kw, Sat extra_fee) override
    {
        Transaction funded = AddFeeInputs(tx, 0, feerate_per_kw);
        funded.vout.at(0).value += 100;
        std::lock_guard lock(m_mutex);
        extra_fees.push_back(extra_fee);
        return funded;
    }

    std::vector<uint32_t> FeeFeerates()
    {
        std::lock_guard lock(m_mutex);
        return fee_feerates;
    }

    std::mutex m_mutex;
    uint8_t m_salt{0};
    int m_funded{0};
    bool pays_fees{false};
    std::atomic<int> payout_failures{0};
    std::vector<uint32_t> fee_feerates;
    std::vector<Sat> extra_fees;
};

struct Node;

//! Delivers what one node sends to the connected peer it names, as the peer layer would, and
//! keeps a log of every message sent (type, payload).
class FakeLink : public PeerLink
{
public:
    explicit FakeLink(PubKey self_id) : self(std::move(self_id)) {}

    void Send(const PubKey& to, uint64_t connection, Bytes message) override EXCLUDES(m_mutex);
    void Disconnect(const PubKey&, std::optional<uint64_t>) override {}
    void Connect(const PubKey&, const std::string&, uint16_t) override {}
    void PauseReading(const PubKey&) override {}
    void ResumeReading(const PubKey&) override {}

    //! Routes to `node` from now on; `announce` runs before anything can be delivered to it, so
    //! (as with a real connection) it hears of the connection before the first message.
    //! Each attachment is a new connection, numbered as the peer layer would: what was sent
    //! for an earlier one is not delivered. `announce` is given the number.
    void Attach(const PubKey& peer, Node& node, const std::function<void(uint64_t connection)>& announce) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        m_peers.insert_or_assign(peer, Attached{&node, ++m_connections});
        announce(m_connections);
    }
    void Detach(const PubKey& peer) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        m_peers.erase(peer);
    }
    //! The connection breaks as a message of `type` is sent: it and all after are lost.
    void CutAt(uint16_t type) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        m_cut_at = type;
    }
    //! The payloads of the messages of `type` sent so far.
    std::vector<Bytes> Sent(uint16_t type) EXCLUDES(m_mutex)
    {
        const MutexLock lock(m_mutex);
        std::vector<Bytes> out;
        for (const auto& [sent_type, payload] : m_sent) {
            if (sent_type == type) out.push_back(payload);
        }
        return out;
    }

    const PubKey self;

private:
    Mutex m_mutex;
    //! Held while delivering, so a node being disconnected (or restarted) gets nothing after.
    struct Attached {
        Node* node;
        uint64_t connection;
    };
    std::map<PubKey, Attached> m_peers GUARDED_BY(m_mutex);
    uint64_t m_connections GUARDED_BY(m_mutex){0};
    std::vector<std::pair<uint16_t, Bytes>> m_sent GUARDED_BY(m_mutex);
    std::optional<uint16_t> m_cut_at GUARDED_BY(m_mutex);
};

//! A channel manager with an invoice service and a router, over its own store.
struct Node {
    explicit Node(uint8_t key_byte)
        : key(KeyOf(key_byte)), id(key.GetPubKey()), link(id), env(std::make_unique<store::Env>(dir.Path(), FastEnv())),
          invoice_store(*env), invoices(*env, invoice_store, key, Network::Regtest, [] { return Now(); })
    {
        wallet.m_salt = key_byte;
        Make();
    }
    //! Unlinks itself from its peers first, so none delivers to a manager being destroyed.
    ~Node()
    {
        for (Node* peer : peers) {
            peer->link.Detach(id);
            peer->peers.erase(this);
        }
        invoices.Shutdown();
        manager.reset();
    }

    void Make()
    {
        ChannelManagerOptions options;
        options.rpc_timeout = 20s;
        options.policy.minimum_depth = 3;
        const uint8_t salt = id.span()[1];
        RouterOptions router_options;
        router_options.policy = policy;
        router_options.on_attempt = on_attempt;
        router = std::make_unique<HtlcRouter>(*env, invoice_store, key, router_options);
        router->on_invoice_paid = [this](const Hash256& hash) { invoices.NotifyPaid(hash); };
        manager = std::make_unique<ChannelManager>(*env, link, wallet, chain,
                                                   [salt](uint64_t index) {
                                                       Bytes secret(32, salt);
                                                       secret[0] = static_cast<uint8_t>(index);
                                                       return Secret<32>(secret);
                                                   },
                                                   options);
        manager->SetRouter(*router);
        manager->Start(height);
    }

    //! Drops the manager and router (as a crash would drop memory) and builds new ones on the
    //! same store. Disconnect the node first.
    void Restart()
    {
        manager.reset();
        router.reset();
        Make();
    }

    void MineBlock(const std::vector<Transaction>& txs)
    {
        Block block;
        block.txs.push_back(Transaction{});
        block.txids.push_back(Sha256(Bytes{'c', 'b', static_cast<uint8_t>(height)}));
        for (const auto& tx : txs) {
            block.txs.push_back(tx);
            block.txids.push_back(tx.GetTxid());
        }
        ++height;
        env->Write([&](store::WriteTxn& txn) { manager->OnBlockConnected(txn, height, Hash256{}, block); });
        manager->OnTipChanged(BlockRef{});
    }

    //! The channel once normal with no HTLC pending (every settlement signed both ways).
    ChannelSummary WaitSettled(const Hash256& channel_id)
    {
        for (int i = 0; i < 500; ++i) {
            for (const auto& c : manager->ListChannels()) {
                if (c.channel_id == channel_id && c.phase == ChannelPhase::NORMAL && c.pending_htlcs == 0) return c;
            }
            std::this_thread::sleep_for(10ms);
        }
        FAIL("channel never settled");
        return manager->ListChannels().front();
    }

    InvoiceRecord Invoice(const std::string& label)
    {
        const auto found = invoices.List(label);
        REQUIRE(found.size() == 1);
        return found.front();
    }
    //! The invoice once written paid: a payee reveals the preimage before that write, so its
    //! payer may know first.
    InvoiceRecord PaidInvoice(const std::string& label) { return invoices.WaitInvoice(label, std::chrono::seconds(10)); }

    PrivKey key;
    PubKey id;
    ForwardPolicy policy;
    //! The router's on_attempt (the daemon feeds the graph's scorer with it).
    std::function<void(const Route&, std::optional<size_t>)> on_attempt;
    ScratchDir dir;
    FakeLink link;
    FakeWallet wallet;
    FakeChain chain;
    std::unique_ptr<store::Env> env;
    InvoiceStore invoice_store;
    InvoiceService invoices;
    // Destroyed before the router it calls.
    std::unique_ptr<HtlcRouter> router;
    std::unique_ptr<ChannelManager> manager;
    int height{100};
    //! Nodes whose links may deliver to this one.
    std::set<Node*> peers;
};

void FakeLink::Send(const PubKey& to, uint64_t connection, Bytes message)
{
    const MutexLock lock(m_mutex);
    if (message.size() < 2) return;
    const uint16_t type = static_cast<uint16_t>(message[0] << 8 | message[1]);
    const ByteSpan payload = ByteSpan(message).subspan(2);
    m_sent.emplace_back(type, Bytes(payload.begin(), payload.end()));
    if (m_cut_at == type) {
        m_cut_at.reset();
        m_peers.erase(to);
    }
    const auto peer = m_peers.find(to);
    if (peer == m_peers.end() || peer->second.connection != connection) return;
    Node& other = *peer->second.node;
    if (type == static_cast<uint16_t>(MessageType::kError)) {
        const auto error = ErrorMessage::DecodePayload(payload);
        if (error) other.manager->OnPeerNotice(self, error->channel_id, true, std::string(error->data.begin(), error->data.end()));
        return;
    }
    if (type == static_cast<uint16_t>(MessageType::kWarning)) return;
    other.manager->OnPeerMessage(self, type, payload);
}

void Connect(Node& a, Node& b)
{
    a.peers.insert(&b);
    b.peers.insert(&a);
    a.link.Attach(b.id, b, [&](uint64_t a_to_b) {
        b.link.Attach(a.id, a, [&](uint64_t b_to_a) {
            a.manager->OnPeerConnected(b.id, OurInitFeatures(), a_to_b);
            b.manager->OnPeerConnected(a.id, OurInitFeatures(), b_to_a);
        });
    });
}

void Disconnect(Node& a, Node& b)
{
    a.link.Detach(b.id);
    b.link.Detach(a.id);
    a.manager->OnPeerDisconnected(b.id);
    b.manager->OnPeerDisconnected(a.id);
}

struct Opened {
    Hash256 channel_id{};
    Transaction funding;
};

Opened Fund(Node& opener, Node& peer, Sat amount)
{
    FundChannelRequest request{peer.id};
    request.amount = amount;
    const FundChannelResult result = opener.manager->FundChannel(request);
    for (const auto& tx : opener.chain.Broadcasts()) {
        if (tx.GetTxid() == result.funding_txid) return Opened{result.channel_id, tx};
    }
    FAIL("funding transaction not broadcast");
    return {};
}

//! Mines the fundings (one block, in order) and two more blocks at every node: minimum_depth 3.
void Confirm(std::initializer_list<Node*> nodes, const std::vector<Transaction>& fundings)
{
    for (Node* node : nodes) node->MineBlock(fundings);
    for (int i = 0; i < 2; ++i) {
        for (Node* node : nodes) node->MineBlock({});
    }
}

//! What `pay` would send for one of our invoices (pay_rpc.cpp's Pay), retrying for a minute.
PayRequest RequestFor(const InvoiceRecord& invoice)
{
    const auto decoded = DecodeInvoice(invoice.bolt11);
    REQUIRE(decoded);
    PayRequest request(decoded->payee);
    REQUIRE(decoded->invoice.amount_msat);
    request.amount_msat = *decoded->invoice.amount_msat;
    request.payment_hash = decoded->invoice.payment_hash;
    request.payment_secret = decoded->invoice.payment_secret;
    request.min_final_cltv_expiry_delta = decoded->invoice.min_final_cltv_expiry_delta;
    for (const auto& path : decoded->invoice.route_hints) {
        std::vector<HintHop> hops;
        for (const auto& hop : path) {
            hops.push_back(HintHop{hop.node_id, hop.short_channel_id, Msat{hop.fee_base_msat}, hop.fee_proportional_millionths,
                                   hop.cltv_expiry_delta});
        }
        request.route_hints.push_back(std::move(hops));
    }
    request.bolt11 = invoice.bolt11;
    request.retry_deadline = Now() + 60;
    return request;
}

InvoiceRecord NewInvoice(Node& node, const std::string& label, Msat amount)
{
    return node.invoices.Create(amount, label, "test", kDefaultInvoiceExpiry, std::nullopt, kMinFinalCltvExpiryDelta);
}

int PayErrorCode(Node& payer, PayRequest request)
{
    try {
        payer.manager->Pay(std::move(request), 20s);
    } catch (const NodeError& e) {
        return e.Code();
    }
    return 0;
}

//! Two nodes with one channel, A the opener with all the funds.
struct DirectPair {
    DirectPair() : a(0x11), b(0x12)
    {
        Connect(a, b);
        channel = Fund(a, b, Sat{500'000});
        Confirm({&a, &b}, {channel.funding});
        a.WaitSettled(channel.channel_id);
        b.WaitSettled(channel.channel_id);
    }
    Node a, b;
    Opened channel;
};

} // namespace

TEST_CASE("router: A pays B's invoice over a direct channel, once")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Msat amount{100'000'000};
    const InvoiceRecord invoice = NewInvoice(b, "coffee", amount);
    const PaymentRecord record = a.manager->Pay(RequestFor(invoice), 20s);
    CHECK(record.status == PaymentStatus::COMPLETE);
    REQUIRE(record.preimage);
    CHECK(*record.preimage == invoice.preimage);
    CHECK(Sha256(*record.preimage) == invoice.payment_hash);
    CHECK(record.amount_msat == amount);
    CHECK(record.attempts == 1);
    REQUIRE(record.parts.size() == 1);
    CHECK(record.parts[0].amount_msat == amount);
    CHECK(record.parts[0].amount_sent_msat == amount); // no hop, no fee
    CHECK(record.parts[0].status == PaymentStatus::COMPLETE);

    // B revealed the preimage before writing the invoice paid (its store had the preimage):
    // A may know first, so wait for B's write.
    CHECK(b.invoices.WaitAnyInvoice(0, 5s).label == "coffee");
    const InvoiceRecord paid = b.Invoice("coffee");
    CHECK(paid.Status(Now()) == InvoiceStatus::PAID);
    CHECK(paid.pay_index == 1);
    CHECK(paid.received_msat == amount);

    CHECK(a.WaitSettled(pair.channel.channel_id).local_balance == Msat{400'000'000});
    const ChannelSummary theirs = b.WaitSettled(pair.channel.channel_id);
    CHECK(theirs.local_balance == amount);
    CHECK(theirs.remote_balance == Msat{400'000'000});

    // A logged the HTLC in the run of B's commitments that held it, and in no other: were B to
    // broadcast one of those once revoked, A could take the HTLC output too (BOLT 5).
    {
        const RemoteHtlcLog log(*a.env);
        store::ReadTxn txn(*a.env);
        std::vector<uint64_t> holding;
        for (uint64_t number = 0; number < 20; ++number) {
            const auto htlcs = log.Find(txn, pair.channel.channel_id, number).htlcs;
            if (htlcs.empty()) continue;
            REQUIRE(htlcs.size() == 1);
            CHECK(htlcs[0] == LoggedHtlc{Side::LOCAL, amount, invoice.payment_hash, htlcs[0].cltv_expiry});
            holding.push_back(number);
        }
        REQUIRE_FALSE(holding.empty());
        CHECK(holding.back() - holding.front() + 1 == holding.size());
    }

    // Never pay twice: the router remembers the hash.
    CHECK(PayErrorCode(a, RequestFor(invoice)) == kErrAlreadyPaid);
    CHECK(a.WaitSettled(pair.channel.channel_id).local_balance == Msat{400'000'000});
    const auto listed = a.manager->ListPayments();
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].payment_hash == invoice.payment_hash);
    CHECK(listed[0].status == PaymentStatus::COMPLETE);
}

TEST_CASE("router: A -> B -> C with a route hint; B earns its fee, then refuses a fee below its policy")
{
    Node a(0x21), b(0x22), c(0x23);
    ForwardPolicy hinted;
    hinted.fee_base_msat = Msat{1000};
    hinted.fee_proportional_millionths = 10;
    hinted.cltv_expiry_delta = 34;
    b.policy = hinted;
    b.Restart(); // takes the policy
    std::mutex attempts_mutex;
    std::vector<std::pair<Route, std::optional<size_t>>> attempts;
    a.on_attempt = [&](const Route& route, std::optional<size_t> failed) {
        const std::lock_guard lock(attempts_mutex);
        attempts.emplace_back(route, failed);
    };
    a.Restart(); // takes on_attempt
    const auto attempts_seen = [&] {
        const std::lock_guard lock(attempts_mutex);
        return attempts;
    };
    Connect(a, b);
    Connect(b, c);
    const Opened ab = Fund(a, b, Sat{500'000});
    const Opened bc = Fund(b, c, Sat{500'000});
    Confirm({&a, &b, &c}, {ab.funding, bc.funding});
    for (Node* node : {&a, &b}) node->WaitSettled(ab.channel_id);
    for (Node* node : {&b, &c}) node->WaitSettled(bc.channel_id);

    // C's invoices carry a hint through B (as the daemon's RouteHintSource builds them).
    c.invoices.SetRouteHintSource([&c, hinted] {
        std::vector<std::vector<RouteHintHop>> hints;
        for (const auto& path : c.manager->RouteHints(hinted)) {
            std::vector<RouteHintHop> hops;
            for (const auto& hop : path) {
                hops.push_back(RouteHintHop{hop.node_id, hop.short_channel_id, static_cast<uint32_t>(hop.fee_base_msat.value()),
                                            hop.fee_proportional_millionths, hop.cltv_expiry_delta});
            }
            hints.push_back(std::move(hops));
        }
        return hints;
    });
    const Msat amount{50'000'000};
    const InvoiceRecord invoice = NewInvoice(c, "via-b", amount);
    const PayRequest request = RequestFor(invoice);
    REQUIRE(request.route_hints.size() == 1);
    REQUIRE(request.route_hints[0].size() == 1);
    CHECK(request.route_hints[0][0].node_id == b.id);

    const PaymentRecord record = a.manager->Pay(request, 20s);
    REQUIRE(record.status == PaymentStatus::COMPLETE);
    CHECK(*record.preimage == invoice.preimage);
    const Msat fee = ForwardingFee(hinted, amount);
    CHECK(fee == Msat{1000 + 500});
    REQUIRE(record.parts.size() == 1);
    CHECK(record.parts[0].amount_sent_msat == amount + fee);
    CHECK(record.parts[0].amount_msat == amount);
    CHECK(c.PaidInvoice("via-b").received_msat == amount);

    CHECK(a.WaitSettled(ab.channel_id).local_balance == Msat{500'000'000} - amount - fee);
    const Msat b_in = b.WaitSettled(ab.channel_id).local_balance;
    const Msat b_out = b.WaitSettled(bc.channel_id).local_balance;
    CHECK(b_in == amount + fee);
    CHECK(b_out == Msat{500'000'000} - amount);
    CHECK(b_in + b_out - Msat{500'000'000} == fee); // exactly its fee
    CHECK(c.WaitSettled(bc.channel_id).local_balance == amount);
    // The scorer hears that both channels carried the payment.
    REQUIRE(attempts_seen().size() == 1);
    CHECK_FALSE(attempts_seen()[0].second);
    CHECK(attempts_seen()[0].first.hops.size() == 2);
    CHECK(attempts_seen()[0].first.hops[0].node_id == b.id);
    CHECK(attempts_seen()[0].first.hops[1].node_id == c.id);

    // B raises its fee above what the hint says: B refuses with fee_insufficient (hop 0), and
    // with B's outgoing channel excluded no route is left.
    ForwardPolicy raised = hinted;
    raised.fee_base_msat = Msat{5000};
    CHECK(b.manager->SetForwardPolicy(raised).fee_base_msat == Msat{5000});
    const InvoiceRecord second = NewInvoice(c, "via-b-2", amount);
    const PaymentRecord failed = a.manager->Pay(RequestFor(second), 20s);
    CHECK(failed.status == PaymentStatus::FAILED);
    CHECK(failed.failure_code == std::optional<uint16_t>{Code(FailureCode::FEE_INSUFFICIENT)});
    CHECK(failed.erring_index == std::optional<uint32_t>{0});
    CHECK(failed.failure.find("fee_insufficient") != std::string::npos);
    CHECK(failed.failure.find(ToHex(b.id.span())) != std::string::npos);
    CHECK(failed.attempts == 1);
    // The scorer hears that B could not use its channel to C (the second of the route).
    REQUIRE(attempts_seen().size() == 2);
    CHECK(attempts_seen()[1].second == std::optional<size_t>{1});
    CHECK(attempts_seen()[1].first.hops[1].node_id == c.id);
    CHECK(c.Invoice("via-b-2").Status(Now()) == InvoiceStatus::UNPAID);
    CHECK(a.WaitSettled(ab.channel_id).local_balance == Msat{500'000'000} - amount - fee);
    CHECK(b.WaitSettled(bc.channel_id).local_balance == Msat{500'000'000} - amount);
}

TEST_CASE("router: the payee refuses wrong payment details once, without retries")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Msat amount{20'000'000};
    const InvoiceRecord invoice = NewInvoice(b, "details", amount);

    const auto expect_refused = [&](PayRequest request) {
        const PaymentRecord record = a.manager->Pay(std::move(request), 20s);
        CHECK(record.status == PaymentStatus::FAILED);
        CHECK(record.failure_code == std::optional<uint16_t>{Code(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS)});
        CHECK(record.erring_index == std::optional<uint32_t>{0});
        CHECK(record.failure.find("incorrect_or_unknown_payment_details") != std::string::npos);
        CHECK(record.attempts == 1);
        CHECK_FALSE(record.preimage);
    };
    SUBCASE("wrong payment_secret")
    {
        PayRequest request = RequestFor(invoice);
        (*request.payment_secret)[0] ^= 1;
        expect_refused(request);
    }
    SUBCASE("unknown payment hash")
    {
        PayRequest request = RequestFor(invoice);
        request.payment_hash = Sha256(Bytes{'n', 'o', 'n', 'e'});
        expect_refused(request);
    }
    SUBCASE("amount below the invoice's")
    {
        PayRequest request = RequestFor(invoice);
        request.amount_msat = amount - Msat{1};
        expect_refused(request);
    }
    CHECK(b.Invoice("details").Status(Now()) == InvoiceStatus::UNPAID);
    CHECK(a.WaitSettled(pair.channel.channel_id).local_balance == Msat{500'000'000});
    CHECK(b.WaitSettled(pair.channel.channel_id).local_balance == Msat{0});
    // The channel is fine: the right payment goes through.
    CHECK(a.manager->Pay(RequestFor(invoice), 20s).status == PaymentStatus::COMPLETE);
    CHECK(b.PaidInvoice("details").received_msat == amount);
}

TEST_CASE("router: a payment too large for either channel is split in two parts")
{
    Node a(0x31), b(0x32);
    Connect(a, b);
    const Opened first = Fund(a, b, Sat{200'000});
    const Opened second = Fund(a, b, Sat{200'000});
    Confirm({&a, &b}, {first.funding, second.funding});
    for (const Opened* opened : {&first, &second}) {
        a.WaitSettled(opened->channel_id);
        b.WaitSettled(opened->channel_id);
    }
    const Msat amount{300'000'000};
    const InvoiceRecord invoice = NewInvoice(b, "split", amount);
    REQUIRE(invoice.payment_secret != Hash256{});
    const PaymentRecord record = a.manager->Pay(RequestFor(invoice), 20s);
    REQUIRE(record.status == PaymentStatus::COMPLETE);
    CHECK(*record.preimage == invoice.preimage);
    REQUIRE(record.parts.size() == 2);
    CHECK(record.parts[0].channel_id != record.parts[1].channel_id);
    CHECK(record.parts[0].amount_msat + record.parts[1].amount_msat == amount);
    const InvoiceRecord paid = b.PaidInvoice("split");
    CHECK(paid.Status(Now()) == InvoiceStatus::PAID);
    CHECK(paid.received_msat == amount);
    CHECK(b.WaitSettled(first.channel_id).local_balance + b.WaitSettled(second.channel_id).local_balance == amount);
    a.WaitSettled(first.channel_id);
    a.WaitSettled(second.channel_id);
    // Complete at the first preimage; the other part settles after, into the same record.
    const auto listed = a.manager->ListPayments();
    REQUIRE(listed.size() == 1);
    REQUIRE(listed[0].parts.size() == 2);
    for (const auto& part : listed[0].parts) CHECK(part.status == PaymentStatus::COMPLETE);
    CHECK(listed[0].AmountSentSettled() == amount);

    SUBCASE("without a payment_secret the amount may not be split")
    {
        const InvoiceRecord other = NewInvoice(b, "no-split", Msat{300'000'000});
        PayRequest request = RequestFor(other);
        request.payment_secret.reset();
        CHECK(PayErrorCode(a, request) == kErrNoRoute);
    }
}

TEST_CASE("router: keysend over a direct channel needs no invoice")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    PayRequest request(b.id);
    Hash256 preimage{};
    preimage.fill(0x5a);
    request.keysend_preimage = preimage;
    request.payment_hash = Sha256(preimage);
    request.amount_msat = Msat{12'345'000};
    const PaymentRecord record = a.manager->Pay(request, 20s);
    CHECK(record.status == PaymentStatus::COMPLETE);
    CHECK(record.preimage == std::optional<Hash256>{preimage});
    CHECK(b.invoices.List(std::nullopt).empty());
    CHECK(b.WaitSettled(pair.channel.channel_id).local_balance == Msat{12'345'000});

    SUBCASE("a keysend preimage that does not match the hash is refused")
    {
        PayRequest wrong(b.id);
        wrong.keysend_preimage = preimage;
        wrong.payment_hash = Sha256(Bytes{1});
        wrong.amount_msat = Msat{1'000'000};
        const PaymentRecord refused = a.manager->Pay(wrong, 20s);
        CHECK(refused.status == PaymentStatus::FAILED);
        CHECK(refused.failure_code == std::optional<uint16_t>{Code(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS)});
    }
}

TEST_CASE("router: payments survive restarts of the payee and of the payer")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Msat amount{30'000'000};
    const InvoiceRecord invoice = NewInvoice(b, "restart", amount);
    Disconnect(a, b);
    b.Restart();
    Connect(a, b);
    a.WaitSettled(pair.channel.channel_id);
    b.WaitSettled(pair.channel.channel_id);
    const PaymentRecord record = a.manager->Pay(RequestFor(invoice), 20s);
    REQUIRE(record.status == PaymentStatus::COMPLETE);
    CHECK(b.PaidInvoice("restart").received_msat == amount);

    // The payer forgets everything but its store: HtlcRouter::Load restores its payments.
    Disconnect(a, b);
    a.Restart();
    Connect(a, b);
    const auto listed = a.manager->ListPayments();
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].payment_hash == invoice.payment_hash);
    CHECK(listed[0].status == PaymentStatus::COMPLETE);
    CHECK(listed[0].preimage == std::optional<Hash256>{invoice.preimage});
    CHECK(listed[0].amount_msat == amount);
    CHECK(listed[0].bolt11 == invoice.bolt11);
    a.WaitSettled(pair.channel.channel_id);
    CHECK(PayErrorCode(a, RequestFor(invoice)) == kErrAlreadyPaid);
}

TEST_CASE("router: a fulfil lost to a broken connection is resent after a restart")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Msat amount{40'000'000};
    const InvoiceRecord invoice = NewInvoice(b, "lost", amount);
    // B settles (and marks its invoice paid) but A never hears the update_fulfill_htlc.
    b.link.CutAt(static_cast<uint16_t>(ChannelMessageType::kUpdateFulfillHtlc));
    // A short wait: in the payer's restart the caller can only time out.
    auto paying = std::async(std::launch::async, [&] { return a.manager->Pay(RequestFor(invoice), 8s); });
    CHECK(b.invoices.WaitInvoice("lost", 10s).received_msat == amount);
    CHECK(paying.wait_for(200ms) == std::future_status::timeout);

    SUBCASE("the payee restarts: reestablish resends the fulfil, the payment completes")
    {
        Disconnect(a, b);
        b.Restart();
        Connect(a, b);
        const PaymentRecord record = paying.get();
        CHECK(record.status == PaymentStatus::COMPLETE);
        CHECK(record.preimage == std::optional<Hash256>{invoice.preimage});
    }
    SUBCASE("the payer restarts: its reloaded router links the fulfil to the payment")
    {
        Disconnect(a, b);
        a.Restart();
        const auto pending = a.manager->ListPayments();
        REQUIRE(pending.size() == 1);
        CHECK(pending[0].status == PaymentStatus::PENDING);
        Connect(a, b);
        for (int i = 0; i < 500 && a.manager->ListPayments()[0].status == PaymentStatus::PENDING; ++i) {
            std::this_thread::sleep_for(10ms);
        }
        const PaymentRecord record = a.manager->ListPayments()[0];
        CHECK(record.status == PaymentStatus::COMPLETE);
        CHECK(record.preimage == std::optional<Hash256>{invoice.preimage});
        REQUIRE(record.parts.size() == 1);
        CHECK(record.parts[0].status == PaymentStatus::COMPLETE);
        // The old manager's caller hears nothing more: its reply went with the old router.
        CHECK_THROWS_AS(paying.get(), NodeError);
    }
    CHECK(a.WaitSettled(pair.channel.channel_id).local_balance == Msat{500'000'000} - amount);
    CHECK(b.WaitSettled(pair.channel.channel_id).local_balance == amount);
    CHECK(b.PaidInvoice("lost").pay_index == 1);
}

ChannelPhase PhaseOf(Node& node, const Hash256& channel_id)
{
    for (const auto& c : node.manager->ListChannels()) {
        if (c.channel_id == channel_id) return c.phase;
    }
    FAIL("no such channel");
    return ChannelPhase::FAILED;
}

//! Whether `node` broadcast a commitment: a spend of the channel's funding output.
bool BroadcastCommitment(Node& node, const Opened& channel)
{
    const Hash256 funding_txid = channel.funding.GetTxid();
    const std::vector<Transaction> broadcasts = node.chain.Broadcasts();
    return std::ranges::any_of(broadcasts, [&](const Transaction& tx) {
        return tx.vin.size() == 1 && tx.vin[0].prevout.txid == funding_txid;
    });
}

TEST_CASE("router: an HTLC's deadline takes its channel on chain, the fulfiller's before the offerer's")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Hash256 channel_id = pair.channel.channel_id;
    const InvoiceRecord invoice = NewInvoice(b, "deadline", Msat{40'000'000});
    // B fulfils, but A never hears it: the HTLC stays in both commitments, with B holding its
    // preimage and A waiting for it.
    b.link.CutAt(static_cast<uint16_t>(ChannelMessageType::kUpdateFulfillHtlc));
    auto paying = std::async(std::launch::async, [&] { return a.manager->Pay(RequestFor(invoice), 2s); });
    CHECK(b.invoices.WaitInvoice("deadline", 10s).received_msat == Msat{40'000'000});
    const auto adds = a.link.Sent(static_cast<uint16_t>(ChannelMessageType::kUpdateAddHtlc));
    REQUIRE(adds.size() == 1);
    const uint32_t cltv_expiry = UpdateAddHtlcMessage::DecodePayload(adds[0])->cltv_expiry;
    std::future<CloseResult> closing;
    SUBCASE("in normal operation") {}
    SUBCASE("while a shutdown waits for the HTLC to go")
    {
        // B's shutdown reply is lost with the connection: A stays shutting down.
        closing = std::async(std::launch::async, [&] { return a.manager->Close(channel_id, std::nullopt); });
        for (int i = 0; i < 200 && PhaseOf(a, channel_id) != ChannelPhase::SHUTTING_DOWN; ++i) std::this_thread::sleep_for(10ms);
        REQUIRE(PhaseOf(a, channel_id) == ChannelPhase::SHUTTING_DOWN);
    }
    const auto mine_to = [&](int height) {
        while (a.height < height) {
            a.MineBlock({});
            b.MineBlock({});
        }
    };
    // BOLT 2: the fulfiller fails the channel while its commitment can still confirm before the
    // CLTV (7 blocks); the offerer once the HTLC is past its expiry (1 block of grace).
    mine_to(static_cast<int>(cltv_expiry) - 8);
    CHECK(PhaseOf(b, channel_id) != ChannelPhase::FAILED);
    CHECK_FALSE(BroadcastCommitment(b, pair.channel));
    mine_to(static_cast<int>(cltv_expiry) - 7);
    CHECK(PhaseOf(b, channel_id) == ChannelPhase::FAILED);
    CHECK(BroadcastCommitment(b, pair.channel));

    mine_to(static_cast<int>(cltv_expiry));
    CHECK(PhaseOf(a, channel_id) != ChannelPhase::FAILED);
    CHECK_FALSE(BroadcastCommitment(a, pair.channel));
    mine_to(static_cast<int>(cltv_expiry) + 1);
    CHECK(PhaseOf(a, channel_id) == ChannelPhase::FAILED);
    CHECK(BroadcastCommitment(a, pair.channel));
    if (closing.valid()) CHECK_THROWS_AS(closing.get(), NodeError);
    CHECK_THROWS_AS(paying.get(), NodeError);
}

TEST_CASE("router: a commitment's outputs are watched from the block that confirms it, spends in that block included")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Hash256 channel_id = pair.channel.channel_id;
    // B needs an output of its own on A's commitment.
    const InvoiceRecord invoice = NewInvoice(b, "balance", Msat{100'000'000});
    REQUIRE(a.manager->Pay(RequestFor(invoice), 20s).status == PaymentStatus::COMPLETE);
    b.WaitSettled(channel_id);
    const Transaction commitment = a.manager->ForceClose(channel_id).closing_tx;
    const Hash256 commitment_txid = commitment.GetTxid();
    // One transaction spending every output of the commitment, in the same block.
    Transaction sweeper;
    sweeper.version = 2;
    for (uint32_t i = 0; i < commitment.vout.size(); ++i) {
        TxIn in;
        in.prevout = {commitment_txid, i};
        sweeper.vin.push_back(in);
    }
    sweeper.vout.push_back(TxOut{1000, Bytes{0x51}});
    Block block;
    block.txs = {Transaction{}, commitment, sweeper};
    block.txids = {Sha256(Bytes{'c', 'b'}), commitment_txid, sweeper.GetTxid()};
    b.height += 1;
    // A follower catching up delivers the next block before the worker wakes: the watches must
    // be in place when the listener returns.
    b.env->Write([&](store::WriteTxn& txn) { b.manager->OnBlockConnected(txn, b.height, Hash256{}, block); });
    {
        const std::lock_guard lock(b.chain.m_mutex);
        for (uint32_t i = 0; i < commitment.vout.size(); ++i) CHECK(b.chain.watched.contains(OutPoint{commitment_txid, i}));
    }
    b.manager->OnTipChanged(BlockRef{});
    std::optional<OnchainSummary> onchain;
    for (int i = 0; i < 500; ++i) {
        const auto channels = b.manager->ListChannels();
        onchain = channels.front().onchain;
        if (onchain && !onchain->outputs.empty() && onchain->outputs.front().spent_by) break;
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(onchain);
    CHECK(onchain->spend_txid == commitment_txid);
    REQUIRE_FALSE(onchain->outputs.empty());
    for (const auto& output : onchain->outputs) {
        CHECK(output.spent_by == std::optional<Hash256>{sweeper.GetTxid()});
        CHECK(output.spent_height == std::optional<uint32_t>{static_cast<uint32_t>(b.height)});
    }
}

TEST_CASE("router: an HTLC with no output in the confirmed commitment fails once that is 3 blocks deep")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Hash256 channel_id = pair.channel.channel_id;
    // 100 sat: below the dust limit, so trimmed from both commitments.
    const InvoiceRecord invoice = NewInvoice(b, "dust", Msat{100'000});
    b.link.CutAt(static_cast<uint16_t>(ChannelMessageType::kUpdateFulfillHtlc));
    auto paying = std::async(std::launch::async, [&] {
        try {
            a.manager->Pay(RequestFor(invoice), 1s);
        } catch (const NodeError&) {
        }
    });
    CHECK(b.invoices.WaitInvoice("dust", 10s).received_msat == Msat{100'000});
    paying.get();
    const Transaction commitment = a.manager->ForceClose(channel_id).closing_tx;
    const auto payment_status = [&] {
        const auto payments = a.manager->ListPayments();
        REQUIRE(payments.size() == 1);
        return payments[0].status;
    };
    a.MineBlock({commitment});
    a.MineBlock({});
    // Resolved once the wallet gave a sweep address.
    std::optional<OnchainSummary> listed;
    for (int i = 0; i < 300 && !(listed && !listed->kind.empty()); ++i) {
        listed = a.manager->ListChannels().front().onchain;
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(listed);
    CHECK(listed->kind == "local_commitment");
    CHECK(std::ranges::none_of(listed->outputs, [](const auto& o) { return o.duty == "local_htlc_timeout"; }));
    CHECK(payment_status() == PaymentStatus::PENDING);
    // BOLT 5: failed back once the commitment "has reached reasonable depth".
    a.MineBlock({});
    for (int i = 0; i < 300 && payment_status() == PaymentStatus::PENDING; ++i) std::this_thread::sleep_for(10ms);
    CHECK(payment_status() == PaymentStatus::FAILED);
}

//! The transactions broadcast so far with an input `spends` says yes to.
std::vector<Transaction> BroadcastSpending(Node& node, const std::function<bool(const OutPoint&)>& spends)
{
    std::vector<Transaction> out;
    for (const Transaction& tx : node.chain.Broadcasts()) {
        if (std::ranges::any_of(tx.vin, [&](const TxIn& in) { return spends(in.prevout); })) out.push_back(tx);
    }
    return out;
}

//! The transactions broadcast so far that spend `outpoint`.
std::vector<Transaction> SpendsOf(Node& node, const OutPoint& outpoint)
{
    return BroadcastSpending(node, [&](const OutPoint& prevout) { return prevout == outpoint; });
}

//! The transactions broadcast so far that spend an output of `parent`.
std::vector<Transaction> SpendsOfTx(Node& node, const Hash256& parent)
{
    return BroadcastSpending(node, [&](const OutPoint& prevout) { return prevout.txid == parent; });
}

//! The transaction broadcast so far with that txid.
std::optional<Transaction> Broadcast(Node& node, const Hash256& txid)
{
    for (const Transaction& tx : node.chain.Broadcasts()) {
        if (tx.GetTxid() == txid) return tx;
    }
    return std::nullopt;
}

int64_t OutputValue(const Transaction& tx)
{
    int64_t sum = 0;
    for (const TxOut& out : tx.vout) sum += out.value;
    return sum;
}

TEST_CASE("router: a penalty that does not confirm is replaced at higher feerates, and the losers retired once one is deep")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Hash256 channel_id = pair.channel.channel_id;
    // B gets a balance to lose, keeps that commitment, and revokes it by paying some back.
    REQUIRE(a.manager->Pay(RequestFor(NewInvoice(b, "to b", Msat{100'000'000})), 20s).status == PaymentStatus::COMPLETE);
    b.WaitSettled(channel_id);
    const Transaction revoked = b.manager->DevSignLastCommitment(channel_id).commitment;
    REQUIRE(b.manager->Pay(RequestFor(NewInvoice(a, "to a", Msat{40'000'000})), 20s).status == PaymentStatus::COMPLETE);
    a.WaitSettled(channel_id);
    a.MineBlock({revoked});
    std::optional<Hash256> penalty_txid;
    for (int i = 0; i < 500 && !penalty_txid; ++i) {
        std::this_thread::sleep_for(10ms);
        const auto onchain = a.manager->ListChannels().front().onchain;
        if (onchain && onchain->penalty_broadcast) penalty_txid = onchain->penalty_txid;
    }
    REQUIRE(penalty_txid);
    // The penalty spends B's to_local; the to_remote sweep spends another output.
    const auto first = Broadcast(a, *penalty_txid);
    REQUIRE(first);
    const OutPoint to_local = first->vin.at(0).prevout;
    const auto wait_versions = [&](size_t n) {
        for (int i = 0; i < 500 && SpendsOf(a, to_local).size() < n; ++i) std::this_thread::sleep_for(10ms);
        return SpendsOf(a, to_local);
    };
    REQUIRE(wait_versions(1).size() == 1);
    // A block goes by without it: replaced, same inputs, a higher fee; then again.
    a.MineBlock({});
    a.MineBlock({});
    const std::vector<Transaction> versions = wait_versions(3);
    REQUIRE(versions.size() == 3);
    for (size_t i = 1; i < versions.size(); ++i) {
        CHECK(versions[i].vin.size() == versions[0].vin.size());
        for (size_t j = 0; j < versions[i].vin.size(); ++j) CHECK(versions[i].vin[j].prevout == versions[0].vin[j].prevout);
        // BIP 125: at least 1 sat/vB more over its whole size.
        CHECK(OutputValue(versions[i - 1]) - OutputValue(versions[i]) >= static_cast<int64_t>(versions[i].GetWeight() / 4));
    }
    CHECK(a.chain.cancelled.empty());
    // listchannels shows the newest version.
    const auto listed = a.manager->ListChannels().front().onchain;
    REQUIRE(listed);
    CHECK(listed->penalty_txid == std::optional<Hash256>{versions.back().GetTxid()});
    CHECK(listed->penalty_replaced == 2);

    // The newest confirms; six blocks later the two it replaced are no longer resent.
    // The watches report the spend before the block reaches the channel manager, as the follower does.
    const Transaction& winner = versions.back();
    const int confirmed_at = a.height + 1;
    a.env->Write([&](store::WriteTxn& txn) {
        for (const TxIn& in : winner.vin) {
            const std::string tag = ChannelManager::WatchTagPrefix() + "output/" + ToHex(channel_id);
            a.manager->OnWatchEvent(txn, OutpointSpent{tag, in.prevout, winner, winner.GetTxid(), false});
            a.manager->OnWatchEvent(txn, OutpointSpendConfirmed{tag, in.prevout, winner.GetTxid(), confirmed_at});
        }
    });
    a.MineBlock({winner});
    for (int i = 0; i < 5; ++i) a.MineBlock({});
    std::vector<Hash256> cancelled;
    for (int i = 0; i < 500 && cancelled.size() < 2; ++i) {
        std::this_thread::sleep_for(10ms);
        const std::lock_guard lock(a.chain.m_mutex);
        cancelled = a.chain.cancelled;
    }
    CHECK(std::ranges::is_permutation(cancelled, std::vector<Hash256>{versions[0].GetTxid(), versions[1].GetTxid()}));
    CHECK(SpendsOf(a, to_local).size() == 3);
}

//! A and B with B's kept commitment revoked: A paid B, B kept that commitment and paid some back.
struct Cheated {
    DirectPair pair;
    Transaction revoked;
    Transaction current;

    Cheated()
    {
        Node& a = pair.a;
        Node& b = pair.b;
        const Hash256 channel_id = pair.channel.channel_id;
        REQUIRE(a.manager->Pay(RequestFor(NewInvoice(b, "to b", Msat{100'000'000})), 20s).status == PaymentStatus::COMPLETE);
        b.WaitSettled(channel_id);
        revoked = b.manager->DevSignLastCommitment(channel_id).commitment;
        REQUIRE(b.manager->Pay(RequestFor(NewInvoice(a, "to a", Msat{40'000'000})), 20s).status == PaymentStatus::COMPLETE);
        a.WaitSettled(channel_id);
        b.WaitSettled(channel_id);
        current = b.manager->DevSignLastCommitment(channel_id).commitment;
    }

    //! bitcoind's mempool takes `tx` spending the funding output, as A's watch reports it.
    void SeenInMempool(const Transaction& tx)
    {
        pair.a.env->Write([&](store::WriteTxn& txn) {
            pair.a.manager->OnWatchEvent(txn, OutpointSpent{"funding", tx.vin.at(0).prevout, tx, tx.GetTxid(), true});
        });
    }

    std::optional<OnchainSummary> WaitOnchain(const std::function<bool(const OnchainSummary&)>& done, std::chrono::milliseconds timeout = 5s)
    {
        std::optional<OnchainSummary> onchain;
        for (auto waited = 0ms; waited < timeout; waited += 10ms) {
            onchain = pair.a.manager->ListChannels().front().onchain;
            if (onchain && done(*onchain)) break;
            std::this_thread::sleep_for(10ms);
        }
        return onchain;
    }
};

TEST_CASE("router: a wallet that cannot give a sweep address yet is asked again without waiting for a block")
{
    Cheated cheated;
    Node& a = cheated.pair.a;
    a.wallet.payout_failures = 2;
    cheated.SeenInMempool(cheated.revoked);
    // No block comes: the penalty still goes out once the wallet answers.
    const auto listed = cheated.WaitOnchain([](const OnchainSummary& o) { return o.penalty_broadcast; }, 10s);
    REQUIRE(listed);
    CHECK(listed->penalty_broadcast);
    CHECK(a.wallet.payout_failures == 0);
}

TEST_CASE("router: a reorg that unconfirms our penalty is not a block it missed; the next block without it is")
{
    Cheated cheated;
    Node& a = cheated.pair.a;
    a.MineBlock({cheated.revoked});
    const auto listed = cheated.WaitOnchain([](const OnchainSummary& o) { return o.penalty_broadcast; });
    REQUIRE((listed && listed->penalty_broadcast));
    const auto penalty = Broadcast(a, *listed->penalty_txid);
    REQUIRE(penalty);
    const OutPoint to_local = penalty->vin.at(0).prevout;
    const std::string tag = ChannelManager::WatchTagPrefix() + "output/" + ToHex(cheated.pair.channel.channel_id);
    // Confirmed in the next block, which a reorg then takes away.
    const int confirmed_at = a.height + 1;
    a.env->Write([&](store::WriteTxn& txn) {
        a.manager->OnWatchEvent(txn, OutpointSpent{tag, to_local, *penalty, penalty->GetTxid(), false});
        a.manager->OnWatchEvent(txn, OutpointSpendConfirmed{tag, to_local, penalty->GetTxid(), confirmed_at});
    });
    a.MineBlock({*penalty});
    REQUIRE(cheated.WaitOnchain([](const OnchainSummary& o) {
        return std::ranges::any_of(o.outputs, [](const auto& out) { return out.spent_height.has_value(); });
    }));
    a.env->Write([&](store::WriteTxn& txn) {
        a.manager->OnWatchEvent(txn, OutpointSpendUnconfirmed{tag, to_local, penalty->GetTxid()});
        a.manager->OnBlockDisconnected(txn, a.height, Hash256{});
    });
    a.manager->OnTipChanged(BlockRef{});
    --a.height;
    std::this_thread::sleep_for(300ms);
    CHECK(SpendsOf(a, to_local).size() == 1);
    // A block without it: now it missed one.
    a.MineBlock({});
    for (int i = 0; i < 300 && SpendsOf(a, to_local).size() < 2; ++i) std::this_thread::sleep_for(10ms);
    CHECK(SpendsOf(a, to_local).size() == 2);
}

TEST_CASE("router: our commitment with an HTLC at stake gets a CPFP child through its anchor for each block it misses")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Hash256 channel_id = pair.channel.channel_id;
    // B never fulfils: A's HTLC stays in both commitments.
    const InvoiceRecord invoice = NewInvoice(b, "held", Msat{50'000'000});
    b.link.CutAt(static_cast<uint16_t>(ChannelMessageType::kUpdateFulfillHtlc));
    auto paying = std::async(std::launch::async, [&] {
        try {
            a.manager->Pay(RequestFor(invoice), 1s);
        } catch (const NodeError&) {
        }
    });
    CHECK(b.invoices.WaitInvoice("held", 10s).received_msat == Msat{50'000'000});
    paying.get();
    a.wallet.pays_fees = true;
    const Transaction commitment = a.manager->ForceClose(channel_id).closing_tx;
    a.env->Write([&](store::WriteTxn& txn) {
        a.manager->OnWatchEvent(txn, OutpointSpent{"funding", commitment.vin.at(0).prevout, commitment, commitment.GetTxid(), true});
    });
    std::optional<OnchainSummary> listed;
    for (int i = 0; i < 300 && !(listed && !listed->kind.empty()); ++i) {
        std::this_thread::sleep_for(10ms);
        listed = a.manager->ListChannels().front().onchain;
    }
    REQUIRE(listed);
    REQUIRE(listed->kind == "local_commitment");
    const auto anchor = std::ranges::find_if(listed->outputs, [](const auto& o) { return o.duty == "anchor"; });
    REQUIRE(anchor != listed->outputs.end());
    const OutPoint anchor_outpoint{commitment.GetTxid(), anchor->output_index};
    const auto children = [&] { return SpendsOf(a, anchor_outpoint); };
    std::this_thread::sleep_for(200ms);
    CHECK(children().empty());

    for (size_t missed = 1; missed <= 2; ++missed) {
        a.MineBlock({});
        for (int i = 0; i < 300 && children().size() < missed; ++i) std::this_thread::sleep_for(10ms);
        REQUIRE(children().size() == missed);
        const Transaction child = children().back();
        CHECK(child.vin.at(0).prevout == anchor_outpoint);
        CHECK(child.vin.at(0).witness.size() == 2);
        CHECK(child.vin.size() == 2);
        CHECK(child.vout.at(0).value >= 330);
    }
    const std::vector<uint32_t> asked = a.wallet.FeeFeerates();
    REQUIRE(asked.size() == 2);
    CHECK(asked[1] > asked[0]);
    listed = a.manager->ListChannels().front().onchain;
    const auto shown = std::ranges::find_if(listed->outputs, [](const auto& o) { return o.duty == "anchor"; });
    CHECK(shown->txid == std::optional<Hash256>{children().back().GetTxid()});
    CHECK(shown->replaced == 1);
    // Confirmed: no more children.
    a.MineBlock({commitment});
    a.MineBlock({});
    std::this_thread::sleep_for(300ms);
    CHECK(children().size() == 2);
}

//! Reports `spender` spending `outpoint` and confirmed at `height`, as the follower's watches do.
void ReportSpend(Node& node, const Hash256& channel_id, const OutPoint& outpoint, const Transaction& spender, int height)
{
    const std::string tag = ChannelManager::WatchTagPrefix() + "output/" + ToHex(channel_id);
    node.env->Write([&](store::WriteTxn& txn) {
        node.manager->OnWatchEvent(txn, OutpointSpent{tag, outpoint, spender, spender.GetTxid(), false});
        node.manager->OnWatchEvent(txn, OutpointSpendConfirmed{tag, outpoint, spender.GetTxid(), height});
    });
}

//! Waits until `n` transactions broadcast by `node` spend `outpoint`, and returns them.
std::vector<Transaction> WaitSpends(Node& node, const OutPoint& outpoint, size_t n)
{
    for (int i = 0; i < 500 && SpendsOf(node, outpoint).size() < n; ++i) std::this_thread::sleep_for(10ms);
    return SpendsOf(node, outpoint);
}

TEST_CASE("router: the cheater's HTLC transaction is penalized, and that penalty replaced for each block it misses")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Hash256 channel_id = pair.channel.channel_id;
    // B holds A's HTLC (its fulfil lost) and keeps that commitment with its HTLC-success.
    const InvoiceRecord invoice = NewInvoice(b, "kept", Msat{50'000'000});
    b.link.CutAt(static_cast<uint16_t>(ChannelMessageType::kUpdateFulfillHtlc));
    auto paying = std::async(std::launch::async, [&] { return a.manager->Pay(RequestFor(invoice), 20s); });
    CHECK(b.invoices.WaitInvoice("kept", 10s).received_msat == Msat{50'000'000});
    const ChannelManager::DevCommitment kept = b.manager->DevSignLastCommitment(channel_id);
    REQUIRE(kept.htlc_txs.size() == 1);
    REQUIRE(kept.htlc_txs[0].is_success);
    REQUIRE(kept.htlc_txs[0].preimage_known);
    // Reconnected, the fulfil goes through and revokes the kept commitment.
    Disconnect(a, b);
    Connect(a, b);
    CHECK(paying.get().status == PaymentStatus::COMPLETE);
    a.WaitSettled(channel_id);
    b.WaitSettled(channel_id);

    a.MineBlock({kept.commitment});
    const Transaction& second_stage = kept.htlc_txs[0].tx;
    const OutPoint htlc_output = second_stage.vin.at(0).prevout;
    // A's batched penalty takes the HTLC output; B's HTLC-success, a block later, takes it first.
    REQUIRE(WaitSpends(a, htlc_output, 1).size() == 1);
    ReportSpend(a, channel_id, htlc_output, second_stage, a.height + 1);
    a.MineBlock({second_stage});
    const OutPoint revocable{second_stage.GetTxid(), 0};
    const std::vector<Transaction> first = WaitSpends(a, revocable, 1);
    REQUIRE(first.size() == 1);
    CHECK(first[0].vin.size() == 1);
    // Blocks go by without it: replaced, each paying more, up to the cheater's CSV.
    a.MineBlock({});
    a.MineBlock({});
    const std::vector<Transaction> versions = WaitSpends(a, revocable, 3);
    REQUIRE(versions.size() == 3);
    for (size_t i = 1; i < versions.size(); ++i) {
        CHECK(versions[i].vin.at(0).prevout == revocable);
        CHECK(OutputValue(versions[i - 1]) - OutputValue(versions[i]) >= static_cast<int64_t>(versions[i].GetWeight() / 4));
    }
    // listchannels shows the second stage, our newest penalty of it, and the cheater's CSV.
    const auto listed = a.manager->ListChannels().front().onchain;
    REQUIRE(listed);
    REQUIRE(listed->second_stage.size() == 1);
    const OnchainSummary::SecondStage& stage = listed->second_stage[0];
    CHECK(stage.txid == second_stage.GetTxid());
    CHECK(stage.output_index == htlc_output.n);
    CHECK(stage.duty == "penalty_second_stage");
    CHECK(stage.our_txid == std::optional<Hash256>{versions.back().GetTxid()});
    CHECK(stage.replaced == 2);
    CHECK(stage.valid_from_height == std::optional<uint32_t>{static_cast<uint32_t>(a.height - 2) + 144});
    // The newest confirms; six blocks later the others are no longer resent.
    ReportSpend(a, channel_id, revocable, versions.back(), a.height + 1);
    a.MineBlock({versions.back()});
    for (int i = 0; i < 5; ++i) a.MineBlock({});
    std::vector<Hash256> cancelled;
    for (int i = 0; i < 500; ++i) {
        {
            const std::lock_guard lock(a.chain.m_mutex);
            cancelled = a.chain.cancelled;
        }
        if (std::ranges::find(cancelled, versions[1].GetTxid()) != cancelled.end()) break;
        std::this_thread::sleep_for(10ms);
    }
    CHECK(std::ranges::find(cancelled, versions[0].GetTxid()) != cancelled.end());
    CHECK(std::ranges::find(cancelled, versions[1].GetTxid()) != cancelled.end());
    CHECK(std::ranges::find(cancelled, versions[2].GetTxid()) == cancelled.end());
    CHECK(WaitSpends(a, revocable, 4).size() == 3);
}

TEST_CASE("router: our wallet-funded HTLC transaction is funded again at a higher feerate for each block it misses")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const Hash256 channel_id = pair.channel.channel_id;
    // B never fulfils: A's HTLC stays, and A's HTLC-timeout is valid from its CLTV.
    const InvoiceRecord invoice = NewInvoice(b, "held", Msat{50'000'000});
    b.link.CutAt(static_cast<uint16_t>(ChannelMessageType::kUpdateFulfillHtlc));
    auto paying = std::async(std::launch::async, [&] {
        try {
            a.manager->Pay(RequestFor(invoice), 1s);
        } catch (const NodeError&) {
        }
    });
    CHECK(b.invoices.WaitInvoice("held", 10s).received_msat == Msat{50'000'000});
    paying.get();
    a.wallet.pays_fees = true;
    const Transaction commitment = a.manager->ForceClose(channel_id).closing_tx;
    a.MineBlock({commitment});
    std::optional<OnchainSummary> listed;
    const auto timeout_duty = [&]() -> std::optional<OnchainSummary::Output> {
        listed = a.manager->ListChannels().front().onchain;
        if (!listed) return std::nullopt;
        const auto it = std::ranges::find_if(listed->outputs, [](const auto& o) { return o.duty == "local_htlc_timeout"; });
        if (it == listed->outputs.end()) return std::nullopt;
        return *it;
    };
    for (int i = 0; i < 300 && !timeout_duty(); ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(timeout_duty());
    const OutPoint htlc_output{commitment.GetTxid(), timeout_duty()->output_index};
    REQUIRE(timeout_duty()->valid_from_height);
    while (a.height + 2 < static_cast<int>(*timeout_duty()->valid_from_height)) a.MineBlock({});
    std::this_thread::sleep_for(200ms);
    CHECK(SpendsOf(a, htlc_output).empty());
    // From this tip it may enter the next block: funded by the wallet at the sweep feerate.
    a.MineBlock({});
    REQUIRE(WaitSpends(a, htlc_output, 1).size() == 1);
    // Two blocks without it: the wallet is asked twice more, each time for more.
    a.MineBlock({});
    REQUIRE(WaitSpends(a, htlc_output, 2).size() == 2);
    a.MineBlock({});
    const std::vector<Transaction> versions = WaitSpends(a, htlc_output, 3);
    REQUIRE(versions.size() == 3);
    const std::vector<uint32_t> asked = a.wallet.FeeFeerates();
    REQUIRE(asked.size() == 3);
    CHECK(asked[1] >= asked[0] + std::max(asked[0] / 4, kMinFeerateStep));
    CHECK(asked[2] > asked[1]);
    for (const Transaction& version : versions) CHECK(version.vin.size() == 2);
    // listchannels names the newest version, funded, and how many it replaced.
    const auto shown = timeout_duty();
    REQUIRE(shown);
    CHECK(shown->txid == std::optional<Hash256>{versions.back().GetTxid()});
    CHECK(shown->broadcast);
    CHECK(shown->replaced == 2);
}

TEST_CASE("router: our commitment below the mempool's floor goes in at once with an anchor child, again when the floor rises")
{
    DirectPair pair;
    Node& a = pair.a;
    const Hash256 channel_id = pair.channel.channel_id;
    REQUIRE(a.manager->Pay(RequestFor(NewInvoice(pair.b, "to b", Msat{100'000'000})), 20s).status == PaymentStatus::COMPLETE);
    a.WaitSettled(channel_id);
    a.wallet.pays_fees = true;
    // Fees rose since the commitment was signed at 1000 sat/kw: bitcoind refuses it alone.
    a.chain.mempool_floor = 5000;
    const Transaction commitment = a.manager->ForceClose(channel_id).closing_tx;
    std::optional<OnchainSummary> listed;
    for (int i = 0; i < 300 && !(listed && !listed->kind.empty()); ++i) {
        std::this_thread::sleep_for(10ms);
        listed = a.manager->ListChannels().front().onchain;
    }
    REQUIRE(listed);
    CHECK(listed->kind == "local_commitment");
    CHECK(listed->spend_txid == commitment.GetTxid());
    CHECK(!listed->spend_height);
    const auto anchor = std::ranges::find_if(listed->outputs, [](const auto& o) { return o.duty == "anchor"; });
    REQUIRE(anchor != listed->outputs.end());
    const OutPoint anchor_outpoint{commitment.GetTxid(), anchor->output_index};
    // No block needed: the child is there at once, paying for both at the floor.
    std::vector<Transaction> children = WaitSpends(a, anchor_outpoint, 1);
    REQUIRE(children.size() == 1);
    const Sat commitment_fee = Sat{500'000} - [&] {
        Sat out;
        for (const TxOut& o : commitment.vout) out += Sat{static_cast<uint64_t>(o.value)};
        return out;
    }();
    CHECK(a.wallet.FeeFeerates().at(0) == 5000);
    {
        const std::lock_guard lock(a.wallet.m_mutex);
        CHECK(a.wallet.extra_fees.at(0) == PackageDeficit(5000, static_cast<uint32_t>(commitment.GetWeight()), commitment_fee));
        CHECK(a.wallet.extra_fees.at(0) > Sat{0});
    }
    // In the mempool at the floor, nothing at stake with a deadline: no child per block.
    a.MineBlock({});
    std::this_thread::sleep_for(300ms);
    CHECK(SpendsOf(a, anchor_outpoint).size() == 1);
    // The floor rises past the package: a new child replaces the first.
    a.chain.mempool_floor = 9000;
    a.MineBlock({});
    children = WaitSpends(a, anchor_outpoint, 2);
    REQUIRE(children.size() == 2);
    CHECK(a.wallet.FeeFeerates().at(1) > a.wallet.FeeFeerates().at(0));
}

TEST_CASE("router: a commitment the mempool takes alone gets no child without HTLCs at stake")
{
    DirectPair pair;
    Node& a = pair.a;
    const Hash256 channel_id = pair.channel.channel_id;
    a.wallet.pays_fees = true;
    const Transaction commitment = a.manager->ForceClose(channel_id).closing_tx;
    std::this_thread::sleep_for(300ms);
    // Not resolved until bitcoind reports it: only the commitment was handed out.
    CHECK(!a.manager->ListChannels().front().onchain);
    CHECK(SpendsOfTx(a, commitment.GetTxid()).empty());
    CHECK(a.wallet.FeeFeerates().empty());
}

TEST_CASE("router: blocks delivered while catching up were mined before our penalty: they are not blocks it missed")
{
    Cheated cheated;
    Node& a = cheated.pair.a;
    // bitcoind is three blocks past the revoked commitment's when the follower delivers it.
    {
        const std::lock_guard lock(a.chain.m_mutex);
        a.chain.node_height = static_cast<uint32_t>(a.height + 4);
    }
    a.MineBlock({cheated.revoked});
    const auto listed = cheated.WaitOnchain([](const OnchainSummary& o) { return o.penalty_broadcast; });
    REQUIRE((listed && listed->penalty_broadcast));
    const auto penalty = Broadcast(a, *listed->penalty_txid);
    REQUIRE(penalty);
    const OutPoint to_local = penalty->vin.at(0).prevout;
    for (int i = 0; i < 3; ++i) a.MineBlock({});
    std::this_thread::sleep_for(300ms);
    CHECK(SpendsOf(a, to_local).size() == 1);
    // Caught up: the next block without it is one it missed.
    a.MineBlock({});
    for (int i = 0; i < 300 && SpendsOf(a, to_local).size() < 2; ++i) std::this_thread::sleep_for(10ms);
    CHECK(SpendsOf(a, to_local).size() == 2);
}

TEST_CASE("router: a breach resolved 100 blocks deep leaves the channels for the closed channels")
{
    Cheated cheated;
    Node& a = cheated.pair.a;
    const Hash256 channel_id = cheated.pair.channel.channel_id;
    const Hash256 revoked_txid = cheated.revoked.GetTxid();
    a.MineBlock({cheated.revoked});
    const int spend_height = a.height;
    // The penalty and the to_remote sweep (its 1-block CSV passes with the next block).
    std::vector<Transaction> ours;
    for (int i = 0; i < 500 && ours.size() < 2; ++i) {
        std::this_thread::sleep_for(10ms);
        ours = SpendsOfTx(a, revoked_txid);
    }
    REQUIRE(ours.size() == 2);
    const std::string tag = ChannelManager::WatchTagPrefix() + "output/" + ToHex(channel_id);
    a.env->Write([&](store::WriteTxn& txn) {
        for (const Transaction& tx : ours) {
            for (const TxIn& in : tx.vin) {
                a.manager->OnWatchEvent(txn, OutpointSpent{tag, in.prevout, tx, tx.GetTxid(), false});
                a.manager->OnWatchEvent(txn, OutpointSpendConfirmed{tag, in.prevout, tx.GetTxid(), spend_height + 1});
            }
        }
    });
    a.MineBlock(ours);
    const auto listed = [&] {
        return std::ranges::count_if(a.manager->ListChannels(), [&](const ChannelSummary& c) { return c.channel_id == channel_id; });
    };
    while (a.height < spend_height + 99) a.MineBlock({});
    std::this_thread::sleep_for(300ms);
    CHECK(listed() == 1);
    CHECK(a.manager->ListClosedChannels().empty());
    // Block spend_height + 100 gives the last spend (at spend_height + 1) its 100th confirmation.
    a.MineBlock({});
    for (int i = 0; i < 300 && listed() == 1; ++i) std::this_thread::sleep_for(10ms);
    CHECK(listed() == 0);
    const std::vector<ClosedChannel> closed = a.manager->ListClosedChannels();
    REQUIRE(closed.size() == 1);
    CHECK(closed[0].channel_id == channel_id);
    CHECK(closed[0].close_kind == "revoked_remote_commitment");
    CHECK(closed[0].spend_txid == revoked_txid);
    CHECK(closed[0].spend_height == static_cast<uint32_t>(spend_height));
    CHECK(closed[0].resolved_height == static_cast<uint32_t>(spend_height + 1));
    CHECK(std::ranges::is_permutation(closed[0].our_txids, std::vector<Hash256>{ours[0].GetTxid(), ours[1].GetTxid()}));
    CHECK(closed[0].returned == Sat{static_cast<uint64_t>(OutputValue(ours[0]) + OutputValue(ours[1]))});
    CHECK(closed[0].capacity == Sat{500'000});
    // Forgotten for good: a restart does not bring it back.
    a.Restart();
    CHECK(listed() == 0);
    CHECK(a.manager->ListClosedChannels().size() == 1);
}

TEST_CASE("router: a restart resumes a resolution at once, not at the next block")
{
    Cheated cheated;
    Node& a = cheated.pair.a;
    cheated.SeenInMempool(cheated.revoked);
    const auto before = cheated.WaitOnchain([](const OnchainSummary& o) { return o.penalty_broadcast; });
    REQUIRE((before && before->penalty_broadcast));
    a.Restart();
    // No block comes: the resolution is rebuilt from the store by itself.
    const auto after = cheated.WaitOnchain([](const OnchainSummary& o) { return !o.kind.empty(); });
    REQUIRE(after);
    CHECK(after->kind == "revoked_remote_commitment");
    CHECK(after->penalty_txid == before->penalty_txid);
    CHECK(after->penalty_broadcast);
}

TEST_CASE("router: a revoked commitment that displaces another spend is penalized, whatever spent the other's outputs")
{
    Cheated cheated;
    Node& a = cheated.pair.a;
    const Hash256 current_txid = cheated.current.GetTxid();
    cheated.SeenInMempool(cheated.current);
    REQUIRE(cheated.WaitOnchain([](const OnchainSummary& o) { return o.kind == "remote_commitment"; })->kind == "remote_commitment");
    // Someone spends every output of the current commitment, in the mempool.
    Transaction stranger;
    stranger.version = 2;
    for (uint32_t i = 0; i < cheated.current.vout.size(); ++i) stranger.vin.push_back(TxIn{OutPoint{current_txid, i}, {}, 0, {}});
    stranger.vout.push_back(TxOut{1000, Bytes{0x51}});
    const std::string tag = ChannelManager::WatchTagPrefix() + "output/" + ToHex(cheated.pair.channel.channel_id);
    a.env->Write([&](store::WriteTxn& txn) {
        for (const TxIn& in : stranger.vin) a.manager->OnWatchEvent(txn, OutpointSpent{tag, in.prevout, stranger, stranger.GetTxid(), true});
    });
    REQUIRE(cheated.WaitOnchain([&](const OnchainSummary& o) {
        return std::ranges::any_of(o.outputs, [&](const auto& out) { return out.spent_by == stranger.GetTxid(); });
    }));
    // A block confirms the revoked commitment instead (a reorg, or B's double spend winning).
    a.MineBlock({cheated.revoked});
    const auto onchain = cheated.WaitOnchain([](const OnchainSummary& o) { return o.penalty_broadcast; });
    REQUIRE(onchain);
    CHECK(onchain->kind == "revoked_remote_commitment");
    CHECK(onchain->penalty_broadcast);
    CHECK(std::ranges::none_of(onchain->outputs, [](const auto& out) { return out.spent_by.has_value(); }));
}

TEST_CASE("router: an onion the next hop cannot read comes back as update_fail_malformed_htlc")
{
    DirectPair pair;
    Node& a = pair.a;
    Node& b = pair.b;
    const InvoiceRecord invoice = NewInvoice(b, "malformed", Msat{1'000'000});
    PayRequest request = RequestFor(invoice);
    // sendpay over the channel, with the onion encrypted to a node that is not B.
    Route route;
    const ShortChannelId scid = *b.WaitSettled(pair.channel.channel_id).short_channel_id;
    route.hops.push_back(RouteHop{KeyOf(0x77).GetPubKey(), scid, Msat{1'000'000}, static_cast<uint32_t>(a.height + 40)});
    request.fixed_route = route;
    const PaymentRecord record = a.manager->Pay(request, 20s);
    CHECK(record.status == PaymentStatus::FAILED);
    CHECK(record.attempts == 1);
    CHECK_FALSE(record.preimage);
    const auto malformed = b.link.Sent(static_cast<uint16_t>(ChannelMessageType::kUpdateFailMalformedHtlc));
    REQUIRE(malformed.size() == 1);
    const auto message = UpdateFailMalformedHtlcMessage::DecodePayload(malformed[0]);
    REQUIRE(message);
    CHECK(message->failure_code == Code(FailureCode::INVALID_ONION_HMAC));
    CHECK(message->channel_id == pair.channel.channel_id);
    CHECK(b.Invoice("malformed").Status(Now()) == InvoiceStatus::UNPAID);
    CHECK(a.WaitSettled(pair.channel.channel_id).local_balance == Msat{500'000'000});
}

TEST_CASE("router: the payer restarts mid-payment; the part fails after it and the payment retries to completion")
{
    Node a(0x51), b(0x52), c(0x53);
    Connect(a, b);
    Connect(b, c);
    const Opened ab = Fund(a, b, Sat{500'000});
    const Opened bc1 = Fund(b, c, Sat{500'000});
    const Opened bc2 = Fund(b, c, Sat{500'000});
    Confirm({&a, &b, &c}, {ab.funding, bc1.funding, bc2.funding});
    for (Node* node : {&a, &b}) node->WaitSettled(ab.channel_id);
    for (const Opened* opened : {&bc1, &bc2}) {
        b.WaitSettled(opened->channel_id);
        c.WaitSettled(opened->channel_id);
    }
    // C's invoice has a hint through B for each of its two channels.
    c.invoices.SetRouteHintSource([&c] {
        std::vector<std::vector<RouteHintHop>> hints;
        for (const auto& path : c.manager->RouteHints(ForwardPolicy{})) {
            const HintHop& hop = path.front();
            hints.push_back({RouteHintHop{hop.node_id, hop.short_channel_id, static_cast<uint32_t>(hop.fee_base_msat.value()),
                                          hop.fee_proportional_millionths, hop.cltv_expiry_delta}});
        }
        return hints;
    });
    const Msat amount{30'000'000};
    const InvoiceRecord invoice = NewInvoice(c, "resumed", amount);
    const PayRequest request = RequestFor(invoice);
    REQUIRE(request.route_hints.size() == 2);

    // B cannot reach C, and its failure of A's first part is lost on the way back.
    Disconnect(b, c);
    b.link.CutAt(static_cast<uint16_t>(ChannelMessageType::kUpdateFailHtlc));
    auto paying = std::async(std::launch::async, [&] { return a.manager->Pay(request, 8s); });
    for (int i = 0; i < 1000 && b.link.Sent(static_cast<uint16_t>(ChannelMessageType::kUpdateFailHtlc)).empty(); ++i) {
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(b.link.Sent(static_cast<uint16_t>(ChannelMessageType::kUpdateFailHtlc)).size() == 1);

    // A restarts with the part in flight; B and C meet again; then B resends its failure.
    Disconnect(a, b);
    a.Restart();
    CHECK_THROWS_AS(paying.get(), NodeError);
    const auto pending = a.manager->ListPayments();
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].status == PaymentStatus::PENDING);
    REQUIRE(pending[0].parts.size() == 1);
    Connect(b, c);
    Connect(a, b);
    const PaymentRecord record = a.manager->WaitPayment(invoice.payment_hash, 20s);
    REQUIRE(record.status == PaymentStatus::COMPLETE);
    CHECK(record.preimage == std::optional<Hash256>{invoice.preimage});
    CHECK(record.attempts == 2);
    REQUIRE(record.parts.size() == 2);
    CHECK(record.parts[0].status == PaymentStatus::FAILED);
    CHECK(record.parts[1].status == PaymentStatus::COMPLETE);
    // The retry avoided the hint channel B could not use.
    CHECK(record.parts[0].route != record.parts[1].route);
    CHECK(record.failure.empty());
    CHECK(c.PaidInvoice("resumed").received_msat == amount);
    CHECK(c.PaidInvoice("resumed").pay_index == 1);
    const Msat fee = ForwardingFee(ForwardPolicy{}, amount);
    CHECK(a.WaitSettled(ab.channel_id).local_balance == Msat{500'000'000} - amount - fee);
    // Paid once: the same invoice is refused from now on.
    CHECK(PayErrorCode(a, RequestFor(invoice)) == kErrAlreadyPaid);
}

// ---- The router alone --------------------------------------------------------------------

namespace {

//! Records what the router asks of the channels; runs writes at once in their own transaction.
class FakeChannels : public RouterChannels
{
public:
    explicit FakeChannels(store::Env& env) : m_env(env) {}

    struct Offered {
        Hash256 channel_id{};
        AddHtlcCommand command;
        //! The id the channel gave it; nullopt when refused.
        std::optional<uint64_t> htlc_id;
    };
    struct Failed {
        Hash256 channel_id{};
        uint64_t htlc_id{0};
        Bytes reason;
    };
    struct Malformed {
        Hash256 channel_id{};
        uint64_t htlc_id{0};
        Hash256 sha256_of_onion{};
        uint16_t code{0};
    };
    struct Fulfilled {
        Hash256 channel_id{};
        uint64_t htlc_id{0};
        Hash256 preimage{};
        PreimageKnown known{PreimageKnown::IN_BATCH};
    };

    std::vector<RouterChannel> Channels() override { return channels; }
    std::optional<uint64_t> Offer(const Hash256& channel_id, const AddHtlcCommand& command) override
    {
        offers.push_back({channel_id, command, std::nullopt});
        if (refuse_offers || refuse_channels.contains(channel_id)) return std::nullopt;
        // What the channel can still send shrinks by what it took, as the real estimate does.
        for (auto& channel : channels) {
            if (channel.channel_id == channel_id) channel.spendable_msat = channel.spendable_msat - command.amount_msat;
        }
        offers.back().htlc_id = next_htlc_id;
        return next_htlc_id++;
    }
    void Fulfill(const Hash256& channel_id, uint64_t htlc_id, const Hash256& preimage, PreimageKnown known) override
    {
        fulfills.push_back({channel_id, htlc_id, preimage, known});
    }
    void Fail(const Hash256& channel_id, uint64_t htlc_id, Bytes reason) override
    {
        fails.push_back({channel_id, htlc_id, std::move(reason)});
    }
    void FailMalformed(const Hash256& channel_id, uint64_t htlc_id, const Hash256& sha256_of_onion, uint16_t code) override
    {
        malformed.push_back({channel_id, htlc_id, sha256_of_onion, code});
    }
    void Write(std::function<void(store::WriteTxn&)> write) override { m_env.Write(write); }
    void AfterCommit(std::function<void()> callback) override
    {
        callback();
        ++after_commit_answers;
    }
    void BeforeCommit(std::function<void()> callback) override
    {
        callback();
        ++before_commit_answers;
    }

    std::vector<RouterChannel> channels;
    bool refuse_offers{false};
    //! Channels whose offers are refused, as when their capacity changed since the router looked.
    std::set<Hash256> refuse_channels;
    uint64_t next_htlc_id{7};
    std::vector<Offered> offers;
    std::vector<Fulfilled> fulfills;
    std::vector<Failed> fails;
    std::vector<Malformed> malformed;
    size_t after_commit_answers{0};
    size_t before_commit_answers{0};

private:
    store::Env& m_env;
};

constexpr uint32_t kHeight = 1000;
const ShortChannelId kOutScid{900, 1, 0};
//! What the forwarding tests send on through us: this amount, at this CLTV, over kOutScid.
constexpr Msat kForwardAmount{100'000};
constexpr uint32_t kForwardCltv = kHeight + 40;

Hash256 IdOf(uint8_t byte)
{
    Hash256 id{};
    id.fill(byte);
    return id;
}

//! A router (node key 0x41) with one outgoing channel to 0x42, and a payer's onions for it.
struct RouterBench {
    explicit RouterBench(RouterOptions options = Options())
        : env(dir.Path(), FastEnv()), invoice_store(env), router(env, invoice_store, KeyOf(0x41), std::move(options)), channels(env)
    {
        router.Load();
        RouterChannel out(KeyOf(0x42).GetPubKey());
        out.channel_id = IdOf(0xbb);
        out.short_channel_id = kOutScid;
        out.usable = true;
        out.spendable_msat = Msat{1'000'000'000};
        out.htlc_minimum_msat = Msat{1};
        channels.channels.push_back(out);
    }

    //! Stands for our signed channel_update of the outgoing channel (the gossip manager's).
    static Bytes OurUpdate() { return Bytes{0x01, 0x02, 0xaa, 0xbb, 0xcc}; }

    static RouterOptions Options()
    {
        RouterOptions options;
        options.policy.fee_base_msat = Msat{1000};
        options.policy.fee_proportional_millionths = 10;
        options.policy.cltv_expiry_delta = 34;
        options.our_channel_update = [](const ShortChannelId& scid) -> std::optional<Bytes> {
            if (scid == kOutScid) return OurUpdate();
            return std::nullopt;
        };
        return options;
    }

    //! An onion through us (forward `amount` at `cltv` over `scid`) to a final node 0x42.
    BuiltOnion ForwardOnion(ShortChannelId scid, Msat amount, uint32_t cltv)
    {
        HopPayload ours;
        ours.amt_to_forward = amount;
        ours.outgoing_cltv_value = cltv;
        ours.short_channel_id = scid;
        HopPayload last;
        last.amt_to_forward = amount;
        last.outgoing_cltv_value = cltv;
        const std::vector<OnionHop> hops{{KeyOf(0x41).GetPubKey(), EncodeHopPayload(ours)},
                                         {KeyOf(0x42).GetPubKey(), EncodeHopPayload(last)}};
        return CreateOnion(hops, NextSessionKey(), payment_hash);
    }
    //! An onion for which we are the final node.
    BuiltOnion FinalOnion(const HopPayload& payload)
    {
        const std::vector<OnionHop> hops{{KeyOf(0x41).GetPubKey(), EncodeHopPayload(payload)}};
        return CreateOnion(hops, NextSessionKey(), payment_hash);
    }

    //! A fresh session key per onion, as a payer uses: the same one twice is a replay.
    Secret<32> NextSessionKey() { return Secret<32>(Bytes(32, m_session_byte++)); }

    //! An onion that has us forward kForwardAmount at kForwardCltv over kOutScid.
    BuiltOnion ForwardOnion() { return ForwardOnion(kOutScid, kForwardAmount, kForwardCltv); }
    //! The incoming HTLC `id` carrying such an onion, with our fee and CLTV delta paid.
    HtlcLockedIn PaidForward(uint64_t id, const BuiltOnion& onion) const
    {
        return Incoming(id, kForwardAmount + ForwardingFee(Options().policy, kForwardAmount), kForwardCltv + 34, onion.packet);
    }

    HtlcLockedIn Incoming(uint64_t id, Msat amount, uint32_t cltv, const ByteArray<kOnionPacketSize>& onion) const
    {
        return HtlcLockedIn{.id = id,
                            .amount_msat = amount,
                            .payment_hash = payment_hash,
                            .cltv_expiry = cltv,
                            .onion_routing_packet = onion,
                            .blinding_point = std::nullopt,
                            .exceeds_dust_exposure = false};
    }

    //! Delivers one incoming HTLC on channel 0xaa and returns the single failure it got back,
    //! decrypted as the payer would.
    AttributedFailure FailureFor(const HtlcLockedIn& htlc, const BuiltOnion& onion)
    {
        router.OnIncomingLockedIn(channels, incoming_channel, htlc, kHeight, Now());
        CHECK(channels.offers.empty());
        CHECK(channels.fulfills.empty());
        REQUIRE(channels.fails.size() == 1);
        CHECK(channels.fails[0].channel_id == incoming_channel);
        CHECK(channels.fails[0].htlc_id == htlc.id);
        const auto failure = DecryptFailureOnion(onion.shared_secrets, channels.fails[0].reason);
        REQUIRE(failure);
        CHECK(failure->hop_index == 0);
        CHECK_FALSE(router.HandledIncoming(incoming_channel, htlc.id));
        return *failure;
    }

    ScratchDir dir;
    store::Env env;
    InvoiceStore invoice_store;
    HtlcRouter router;
    FakeChannels channels;
    Hash256 payment_hash = Sha256(Bytes{'p', 'a', 'y'});
    Hash256 incoming_channel = IdOf(0xaa);

private:
    uint8_t m_session_byte{0x33};
};

} // namespace

TEST_CASE("router: forwarding an HTLC and settling or failing it upstream")
{
    RouterBench bench;
    const BuiltOnion onion = bench.ForwardOnion();
    const HtlcLockedIn htlc = bench.PaidForward(3, onion);
    bench.router.OnIncomingLockedIn(bench.channels, bench.incoming_channel, htlc, kHeight, Now());
    REQUIRE(bench.channels.offers.size() == 1);
    const auto& offer = bench.channels.offers[0];
    CHECK(offer.channel_id == IdOf(0xbb));
    CHECK(offer.command.amount_msat == kForwardAmount);
    CHECK(offer.command.cltv_expiry == kForwardCltv);
    CHECK(offer.command.payment_hash == bench.payment_hash);
    // The next node can peel what we pass on, and is its final hop.
    const auto next = PeelOnion(KeyOf(0x42), offer.command.onion_routing_packet, bench.payment_hash);
    REQUIRE(next);
    CHECK_FALSE(next->next_packet);
    CHECK(bench.router.HandledIncoming(bench.incoming_channel, 3));
    // Locked in again (after a restart's replay): no second offer.
    bench.router.OnIncomingLockedIn(bench.channels, bench.incoming_channel, htlc, kHeight, Now());
    CHECK(bench.channels.offers.size() == 1);

    SUBCASE("downstream fulfils: we fulfil upstream with the preimage")
    {
        Hash256 preimage{};
        preimage.fill(9);
        bench.router.OnOutgoingFulfilled(bench.channels, IdOf(0xbb), HtlcFulfilled{7, preimage}, Now());
        REQUIRE(bench.channels.fulfills.size() == 1);
        CHECK(bench.channels.fulfills[0].channel_id == bench.incoming_channel);
        CHECK(bench.channels.fulfills[0].htlc_id == 3);
        CHECK(bench.channels.fulfills[0].preimage == preimage);
        // Learned from downstream in this batch: upstream sees it only once it is written.
        CHECK(bench.channels.fulfills[0].known == PreimageKnown::IN_BATCH);
        CHECK_FALSE(bench.router.HandledIncoming(bench.incoming_channel, 3));
    }
    SUBCASE("downstream fails: its failure is wrapped and reaches the payer from hop 1")
    {
        const Bytes reason = CreateFailureOnion(onion.shared_secrets[1], MakeFailure(FailureCode::TEMPORARY_NODE_FAILURE));
        bench.router.OnOutgoingFailed(bench.channels, IdOf(0xbb), HtlcFailed{7, reason, std::nullopt}, kHeight, Now());
        REQUIRE(bench.channels.fails.size() == 1);
        CHECK(bench.channels.fails[0].htlc_id == 3);
        const auto failure = DecryptFailureOnion(onion.shared_secrets, bench.channels.fails[0].reason);
        REQUIRE(failure);
        CHECK(failure->hop_index == 1);
        CHECK(failure->message.code == Code(FailureCode::TEMPORARY_NODE_FAILURE));
        CHECK(bench.channels.fulfills.empty());
    }
    SUBCASE("downstream fails malformed: we report its code from ourselves (hop 0)")
    {
        const Hash256 onion_hash = Sha256(offer.command.onion_routing_packet);
        const HtlcFailed failed{7, {}, MalformedFailure{onion_hash, Code(FailureCode::INVALID_ONION_HMAC)}};
        bench.router.OnOutgoingFailed(bench.channels, IdOf(0xbb), failed, kHeight, Now());
        REQUIRE(bench.channels.fails.size() == 1);
        const auto failure = DecryptFailureOnion(onion.shared_secrets, bench.channels.fails[0].reason);
        REQUIRE(failure);
        CHECK(failure->hop_index == 0);
        CHECK(failure->message.code == Code(FailureCode::INVALID_ONION_HMAC));
        CHECK(bench.channels.malformed.empty());
    }
    SUBCASE("the link survives a restart of the router")
    {
        HtlcRouter reloaded(bench.env, bench.invoice_store, KeyOf(0x41), RouterBench::Options());
        reloaded.Load();
        CHECK(reloaded.HandledIncoming(bench.incoming_channel, 3));
        Hash256 preimage{};
        preimage.fill(8);
        reloaded.OnOutgoingFulfilled(bench.channels, IdOf(0xbb), HtlcFulfilled{7, preimage}, Now());
        REQUIRE(bench.channels.fulfills.size() == 1);
        CHECK(bench.channels.fulfills[0].htlc_id == 3);
    }
}

TEST_CASE("router: an onion peeled ahead of its lock-in serves only the HTLC it came with")
{
    RouterBench bench;
    const BuiltOnion onion = bench.ForwardOnion();
    const HtlcLockedIn htlc = bench.PaidForward(3, onion);

    SUBCASE("peeled when it was added")
    {
        bench.router.PeelAhead(bench.incoming_channel, htlc.id, htlc.payment_hash, onion.packet);
    }
    SUBCASE("the id carried another HTLC when peeled (undone at a reconnection)")
    {
        // Its onion asks for less downstream: forwarding that would keep a larger fee.
        const BuiltOnion undone = bench.ForwardOnion(kOutScid, Msat{60'000}, kForwardCltv);
        bench.router.PeelAhead(bench.incoming_channel, htlc.id, htlc.payment_hash, undone.packet);
    }
    SUBCASE("the same onion for another channel")
    {
        bench.router.PeelAhead(IdOf(0xcc), htlc.id, htlc.payment_hash, onion.packet);
    }
    bench.router.OnIncomingLockedIn(bench.channels, bench.incoming_channel, htlc, kHeight, Now());
    REQUIRE(bench.channels.offers.size() == 1);
    CHECK(bench.channels.offers[0].command.amount_msat == kForwardAmount);
    CHECK(bench.channels.offers[0].command.cltv_expiry == kForwardCltv);
    const auto next = PeelOnion(KeyOf(0x42), bench.channels.offers[0].command.onion_routing_packet, bench.payment_hash);
    REQUIRE(next);
    CHECK_FALSE(next->next_packet);
}

TEST_CASE("router: a replayed onion is refused until its HTLC expires")
{
    RouterBench bench;
    const BuiltOnion onion = bench.ForwardOnion();
    bench.router.OnIncomingLockedIn(bench.channels, bench.incoming_channel, bench.PaidForward(3, onion),
                                    kHeight, Now());
    REQUIRE(bench.channels.offers.size() == 1);
    // The same onion in another HTLC (here: another id on the same channel) is a replay.
    bench.router.OnIncomingLockedIn(bench.channels, bench.incoming_channel, bench.PaidForward(4, onion),
                                    kHeight, Now());
    CHECK(bench.channels.offers.size() == 1);
    REQUIRE(bench.channels.fails.size() == 1);
    CHECK(bench.channels.fails[0].htlc_id == 4);
    const auto failure = DecryptFailureOnion(onion.shared_secrets, bench.channels.fails[0].reason);
    REQUIRE(failure);
    CHECK(failure->message.code == Code(FailureCode::TEMPORARY_CHANNEL_FAILURE));
    // Remembered across a restart...
    HtlcRouter reloaded(bench.env, bench.invoice_store, KeyOf(0x41), RouterBench::Options());
    reloaded.Load();
    reloaded.OnIncomingLockedIn(bench.channels, bench.incoming_channel, bench.PaidForward(5, onion),
                                kHeight, Now());
    CHECK(bench.channels.offers.size() == 1);
    CHECK(bench.channels.fails.size() == 2);
    // ...and forgotten once the first HTLC's expiry passed: then it is judged on its merits
    // (here its expiry is far behind the tip: expiry_too_soon, not a replay).
    reloaded.OnIncomingLockedIn(bench.channels, bench.incoming_channel, bench.PaidForward(6, onion),
                                bench.PaidForward(6, onion).cltv_expiry + 1, Now());
    REQUIRE(bench.channels.fails.size() == 3);
    const auto later = DecryptFailureOnion(onion.shared_secrets, bench.channels.fails[2].reason);
    REQUIRE(later);
    CHECK(later->message.code == Code(FailureCode::EXPIRY_TOO_SOON));
}

TEST_CASE("router: forwarding refusals")
{
    RouterBench bench;
    const Msat amount{100'000};
    const Msat fee = ForwardingFee(RouterBench::Options().policy, amount);
    const uint32_t out_cltv = kHeight + 40;
    uint16_t expected = 0;
    BuiltOnion onion = bench.ForwardOnion(kOutScid, amount, out_cltv);
    HtlcLockedIn htlc = bench.Incoming(1, amount + fee, out_cltv + 34, onion.packet);

    SUBCASE("unknown_next_peer: no channel with that scid")
    {
        onion = bench.ForwardOnion(ShortChannelId{900, 2, 0}, amount, out_cltv);
        htlc.onion_routing_packet = onion.packet;
        expected = Code(FailureCode::UNKNOWN_NEXT_PEER);
    }
    SUBCASE("amount_below_minimum: the next peer's htlc_minimum_msat")
    {
        bench.channels.channels[0].htlc_minimum_msat = amount + Msat{1};
        expected = Code(FailureCode::AMOUNT_BELOW_MINIMUM);
    }
    SUBCASE("fee_insufficient: one msat short")
    {
        htlc.amount_msat = amount + fee - Msat{1};
        expected = Code(FailureCode::FEE_INSUFFICIENT);
    }
    SUBCASE("incorrect_cltv_expiry: less than our cltv_expiry_delta")
    {
        htlc.cltv_expiry = out_cltv + 33;
        expected = Code(FailureCode::INCORRECT_CLTV_EXPIRY);
    }
    SUBCASE("expiry_too_soon: the outgoing HTLC would expire within 6 blocks (ForwardLimits)")
    {
        onion = bench.ForwardOnion(kOutScid, amount, kHeight + 5);
        htlc.onion_routing_packet = onion.packet;
        htlc.cltv_expiry = kHeight + 5 + 34;
        expected = Code(FailureCode::EXPIRY_TOO_SOON);
    }
    SUBCASE("channel_disabled: the next peer is not connected")
    {
        bench.channels.channels[0].usable = false;
        expected = Code(FailureCode::CHANNEL_DISABLED);
    }
    SUBCASE("temporary_channel_failure: more than the channel can send")
    {
        bench.channels.channels[0].spendable_msat = amount - Msat{1};
        expected = Code(FailureCode::TEMPORARY_CHANNEL_FAILURE);
    }
    SUBCASE("temporary_channel_failure: the channel refuses the offer")
    {
        bench.channels.refuse_offers = true;
        const AttributedFailure failure = [&] {
            bench.router.OnIncomingLockedIn(bench.channels, bench.incoming_channel, htlc, kHeight, Now());
            REQUIRE(bench.channels.offers.size() == 1);
            REQUIRE(bench.channels.fails.size() == 1);
            return *DecryptFailureOnion(onion.shared_secrets, bench.channels.fails[0].reason);
        }();
        CHECK(failure.hop_index == 0);
        CHECK(failure.message.code == Code(FailureCode::TEMPORARY_CHANNEL_FAILURE));
        CHECK_FALSE(bench.router.HandledIncoming(bench.incoming_channel, 1));
        return;
    }
    SUBCASE("invalid_onion_payload: a forward payload without outgoing_cltv_value")
    {
        HopPayload ours;
        ours.amt_to_forward = amount;
        ours.short_channel_id = kOutScid;
        HopPayload last;
        last.amt_to_forward = amount;
        last.outgoing_cltv_value = out_cltv;
        const std::vector<OnionHop> hops{{KeyOf(0x41).GetPubKey(), EncodeHopPayload(ours)},
                                         {KeyOf(0x42).GetPubKey(), EncodeHopPayload(last)}};
        onion = CreateOnion(hops, Secret<32>(Bytes(32, 0x35)), bench.payment_hash);
        htlc.onion_routing_packet = onion.packet;
        expected = Code(FailureCode::INVALID_ONION_PAYLOAD);
    }
    SUBCASE("temporary_channel_failure: the HTLC would exceed our dust exposure")
    {
        htlc.exceeds_dust_exposure = true;
        expected = Code(FailureCode::TEMPORARY_CHANNEL_FAILURE);
    }
    const AttributedFailure failure = bench.FailureFor(htlc, onion);
    CHECK(failure.message.code == expected);
    // BOLT 4: "the channel_update field is mandatory in messages whose failure_code includes the
    // UPDATE flag": ours for the outgoing channel.
    const auto details = ParseFailureMessage(EncodeFailureMessage(failure.message));
    REQUIRE(details);
    if (HasFlag(expected, failure_flag::UPDATE)) {
        CHECK(details->channel_update == std::optional<Bytes>{RouterBench::OurUpdate()});
    } else {
        CHECK_FALSE(details->channel_update);
    }
}

TEST_CASE("router: onions we cannot read are failed malformed with their hash")
{
    RouterBench bench;
    const BuiltOnion onion = bench.ForwardOnion(kOutScid, Msat{100'000}, kHeight + 40);
    HtlcLockedIn htlc = bench.Incoming(4, Msat{101'001}, kHeight + 74, onion.packet);
    uint16_t expected = 0;
    SUBCASE("invalid_onion_hmac: a flipped payload byte")
    {
        htlc.onion_routing_packet[100] ^= 1;
        expected = Code(FailureCode::INVALID_ONION_HMAC);
    }
    SUBCASE("invalid_onion_version: version 1")
    {
        htlc.onion_routing_packet[0] = 1;
        expected = Code(FailureCode::INVALID_ONION_VERSION);
    }
    SUBCASE("invalid_onion_key: not a point")
    {
        htlc.onion_routing_packet[1] = 0x05;
        expected = Code(FailureCode::INVALID_ONION_KEY);
    }
    SUBCASE("invalid_onion_hmac: bound to another payment hash")
    {
        htlc.payment_hash = Sha256(Bytes{'o', 't', 'h', 'e', 'r'});
        expected = Code(FailureCode::INVALID_ONION_HMAC);
    }
    bench.router.OnIncomingLockedIn(bench.channels, bench.incoming_channel, htlc, kHeight, Now());
    CHECK(bench.channels.offers.empty());
    CHECK(bench.channels.fails.empty());
    REQUIRE(bench.channels.malformed.size() == 1);
    CHECK(bench.channels.malformed[0].channel_id == bench.incoming_channel);
    CHECK(bench.channels.malformed[0].htlc_id == 4);
    CHECK(bench.channels.malformed[0].code == expected);
    CHECK(bench.channels.malformed[0].sha256_of_onion == Sha256(htlc.onion_routing_packet));
}

TEST_CASE("router: receiving as the final node")
{
    RouterBench bench;
    InvoiceRecord invoice;
    invoice.label = "bench";
    invoice.preimage.fill(0x66);
    invoice.payment_hash = Sha256(invoice.preimage);
    invoice.payment_secret.fill(0x77);
    invoice.amount_msat = Msat{200'000};
    invoice.created_at = Now();
    invoice.expires_at = Now() + 3600;
    bench.env.Write([&](store::WriteTxn& txn) { bench.invoice_store.Add(txn, invoice); });
    bench.payment_hash = invoice.payment_hash;
    std::vector<Hash256> notified;
    bench.router.on_invoice_paid = [&](const Hash256& hash) { notified.push_back(hash); };
    const uint32_t cltv = kHeight + 40;
    const auto part = [&](uint64_t id, Msat amount, const Hash256& secret) {
        HopPayload payload;
        payload.amt_to_forward = amount;
        payload.outgoing_cltv_value = cltv;
        payload.payment_data = PaymentData{secret, Msat{200'000}};
        const BuiltOnion onion = bench.FinalOnion(payload);
        bench.router.OnIncomingLockedIn(bench.channels, bench.incoming_channel, bench.Incoming(id, amount, cltv, onion.packet),
                                        kHeight, Now());
        return onion;
    };
    const auto paid = [&] {
        store::ReadTxn txn(bench.env);
        return bench.invoice_store.FindByHash(txn, invoice.payment_hash);
    };

    SUBCASE("two parts: held, then both fulfilled and the invoice paid once")
    {
        part(1, Msat{120'000}, invoice.payment_secret);
        CHECK(bench.channels.fulfills.empty());
        CHECK(bench.channels.fails.empty());
        CHECK(bench.router.HandledIncoming(bench.incoming_channel, 1));
        part(2, Msat{80'000}, invoice.payment_secret);
        REQUIRE(bench.channels.fulfills.size() == 2);
        for (const auto& fulfilled : bench.channels.fulfills) {
            CHECK(fulfilled.preimage == invoice.preimage);
            // The invoice's preimage was stored before: it may leave before the batch is written.
            CHECK(fulfilled.known == PreimageKnown::BEFORE_BATCH);
        }
        CHECK(paid()->paid);
        CHECK(paid()->received_msat == Msat{200'000});
        CHECK(paid()->pay_index == 1);
        CHECK(notified == std::vector<Hash256>{invoice.payment_hash});
        // A third HTLC for the paid invoice is refused.
        const BuiltOnion again = part(3, Msat{200'000}, invoice.payment_secret);
        REQUIRE(bench.channels.fails.size() == 1);
        const auto failure = DecryptFailureOnion(again.shared_secrets, bench.channels.fails[0].reason);
        REQUIRE(failure);
        CHECK(failure->message.code == Code(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS));
    }
    SUBCASE("claimed on chain before it was decided: the invoice is paid once, by the claim")
    {
        bench.router.OnIncomingClaimedOnChain(bench.channels, invoice.payment_hash, Msat{200'000}, Now());
        CHECK(paid()->paid);
        CHECK(paid()->received_msat == Msat{200'000});
        CHECK(paid()->pay_index == 1);
        CHECK(notified == std::vector<Hash256>{invoice.payment_hash});
        bench.router.OnIncomingClaimedOnChain(bench.channels, invoice.payment_hash, Msat{200'000}, Now());
        CHECK(notified.size() == 1);
        CHECK(paid()->pay_index == 1);
        // Not ours (a forwarded HTLC): nothing.
        Hash256 other{};
        other.fill(0x01);
        bench.router.OnIncomingClaimedOnChain(bench.channels, other, Msat{200'000}, Now());
        CHECK(notified.size() == 1);
        // The HTLC paying it off chain now is refused: paid already.
        part(3, Msat{200'000}, invoice.payment_secret);
        CHECK(bench.channels.fulfills.empty());
        CHECK(bench.channels.fails.size() == 1);
    }
    SUBCASE("a held part times out with mpp_timeout")
    {
        const BuiltOnion onion = part(1, Msat{120'000}, invoice.payment_secret);
        bench.router.OnTimer(bench.channels, Now() + 30);
        CHECK(bench.channels.fails.empty());
        bench.router.OnTimer(bench.channels, Now() + PartialPayment::kTimeoutSeconds + 1);
        REQUIRE(bench.channels.fails.size() == 1);
        const auto failure = DecryptFailureOnion(onion.shared_secrets, bench.channels.fails[0].reason);
        REQUIRE(failure);
        CHECK(failure->message.code == Code(FailureCode::MPP_TIMEOUT));
        CHECK_FALSE(bench.router.HandledIncoming(bench.incoming_channel, 1));
        CHECK_FALSE(paid()->paid);
    }
    SUBCASE("a wrong payment_secret is refused at once")
    {
        Hash256 wrong = invoice.payment_secret;
        wrong[31] ^= 1;
        const BuiltOnion onion = part(1, Msat{200'000}, wrong);
        REQUIRE(bench.channels.fails.size() == 1);
        const auto failure = DecryptFailureOnion(onion.shared_secrets, bench.channels.fails[0].reason);
        REQUIRE(failure);
        CHECK(failure->message.code == Code(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS));
        CHECK(bench.channels.fulfills.empty());
        CHECK_FALSE(paid()->paid);
    }
    SUBCASE("a final payload with a short_channel_id is an invalid_onion_payload")
    {
        HopPayload payload;
        payload.amt_to_forward = Msat{200'000};
        payload.outgoing_cltv_value = cltv;
        payload.short_channel_id = kOutScid;
        payload.payment_data = PaymentData{invoice.payment_secret, Msat{200'000}};
        const BuiltOnion onion = bench.FinalOnion(payload);
        const AttributedFailure failure = bench.FailureFor(bench.Incoming(1, Msat{200'000}, cltv, onion.packet), onion);
        CHECK(failure.message.code == Code(FailureCode::INVALID_ONION_PAYLOAD));
    }
}

TEST_CASE("router: sending retries around a failing hop, but never a fixed route")
{
    RouterBench bench;
    RouterChannel second(KeyOf(0x43).GetPubKey());
    second.channel_id = IdOf(0xcc);
    second.short_channel_id = ShortChannelId{900, 3, 0};
    second.usable = true;
    second.spendable_msat = Msat{1'000'000'000};
    bench.channels.channels.push_back(second);
    const PubKey payee = KeyOf(0x44).GetPubKey();
    PayRequest request(payee);
    request.amount_msat = Msat{100'000};
    request.payment_hash = bench.payment_hash;
    request.payment_secret = Sha256(Bytes{'s'});
    request.retry_deadline = Now() + 60;
    request.route_hints = {{HintHop{KeyOf(0x42).GetPubKey(), ShortChannelId{800, 1, 0}, Msat{1000}, 10, 34}},
                           {HintHop{KeyOf(0x43).GetPubKey(), ShortChannelId{800, 2, 0}, Msat{1000}, 10, 34}}};
    std::vector<PaymentRecord> outcomes;
    const auto done = [&](const PaymentRecord& record) { outcomes.push_back(record); };
    // The first hop (the peer) refuses to go on: its failure, made with its shared secret.
    const auto fail_offer = [&](size_t index) {
        const auto& offer = bench.channels.offers.at(index);
        const PrivKey& peer_key = offer.channel_id == IdOf(0xbb) ? KeyOf(0x42) : KeyOf(0x43);
        const auto peeled = PeelOnion(peer_key, offer.command.onion_routing_packet, bench.payment_hash);
        REQUIRE(peeled);
        const Bytes reason = CreateFailureOnion(peeled->shared_secret, MakeFailureWithUpdate(FailureCode::TEMPORARY_CHANNEL_FAILURE, {}));
        bench.router.OnOutgoingFailed(bench.channels, offer.channel_id, HtlcFailed{bench.channels.next_htlc_id - 1, reason, std::nullopt},
                                      kHeight, Now());
    };

    SUBCASE("a hop's failure excludes its next channel; the retry takes the other hint")
    {
        bench.router.Pay(bench.channels, request, kHeight, Now(), done);
        REQUIRE(bench.channels.offers.size() == 1);
        const Hash256 first_channel = bench.channels.offers[0].channel_id;
        CHECK(bench.channels.offers[0].command.amount_msat == Msat{100'000} + Msat{1001});
        try {
            bench.router.Pay(bench.channels, request, kHeight, Now(), done);
            FAIL("a second payment for a pending hash started");
        } catch (const NodeError& e) {
            CHECK(e.Code() == kErrPaymentPending);
        }
        fail_offer(0);
        REQUIRE(bench.channels.offers.size() == 2);
        CHECK(bench.channels.offers[1].channel_id != first_channel);
        CHECK(outcomes.empty());
        Hash256 preimage{};
        preimage.fill(3);
        bench.router.OnOutgoingFulfilled(bench.channels, bench.channels.offers[1].channel_id,
                                         HtlcFulfilled{bench.channels.next_htlc_id - 1, preimage}, Now());
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].status == PaymentStatus::COMPLETE);
        // Success is answered before the batch is written: nothing written can undo it.
        CHECK(bench.channels.before_commit_answers == 1);
        CHECK(bench.channels.after_commit_answers == 0);
        CHECK(outcomes[0].attempts == 2);
        CHECK(outcomes[0].preimage == std::optional<Hash256>{preimage});
        REQUIRE(outcomes[0].parts.size() == 2);
        CHECK(outcomes[0].parts[0].status == PaymentStatus::FAILED);
        try {
            bench.router.Pay(bench.channels, request, kHeight, Now(), done);
            FAIL("a paid hash was paid again");
        } catch (const NodeError& e) {
            CHECK(e.Code() == kErrAlreadyPaid);
        }
        // Restored from the store by a new router.
        HtlcRouter reloaded(bench.env, bench.invoice_store, KeyOf(0x41), RouterBench::Options());
        reloaded.Load();
        const auto listed = reloaded.ListPayments();
        REQUIRE(listed.size() == 1);
        CHECK(listed[0].status == PaymentStatus::COMPLETE);
        CHECK(listed[0].preimage == std::optional<Hash256>{preimage});
    }
    SUBCASE("sendpay's fixed route is tried once")
    {
        Route route;
        route.hops = {RouteHop{KeyOf(0x42).GetPubKey(), kOutScid, Msat{101'001}, kHeight + 74},
                      RouteHop{payee, ShortChannelId{800, 1, 0}, Msat{100'000}, kHeight + 40}};
        request.fixed_route = route;
        bench.router.Pay(bench.channels, request, kHeight, Now(), done);
        REQUIRE(bench.channels.offers.size() == 1);
        CHECK(bench.channels.offers[0].channel_id == IdOf(0xbb));
        fail_offer(0);
        CHECK(bench.channels.offers.size() == 1);
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].status == PaymentStatus::FAILED);
        // A failure only once written: a crash must not resume what was reported failed.
        CHECK(bench.channels.after_commit_answers == 1);
        CHECK(bench.channels.before_commit_answers == 0);
        CHECK(outcomes[0].attempts == 1);
        CHECK(outcomes[0].failure_code == std::optional<uint16_t>{Code(FailureCode::TEMPORARY_CHANNEL_FAILURE)});
        CHECK(outcomes[0].erring_index == std::optional<uint32_t>{0});
    }
    SUBCASE("no usable channel: no route, nothing offered")
    {
        for (auto& channel : bench.channels.channels) channel.usable = false;
        try {
            bench.router.Pay(bench.channels, request, kHeight, Now(), done);
            FAIL("a payment started without a channel");
        } catch (const NodeError& e) {
            CHECK(e.Code() == kErrNoRoute);
        }
        CHECK(bench.channels.offers.empty());
        CHECK(bench.router.ListPayments().empty());
    }
}

namespace {

//! Adds a second channel (0xcc, to 0x43) to the bench and returns a payment to 0x44 whose
//! invoice has a hint through each of the bench's peers, retrying for a minute.
PayRequest TwoHintRequest(RouterBench& bench)
{
    RouterChannel second(KeyOf(0x43).GetPubKey());
    second.channel_id = IdOf(0xcc);
    second.short_channel_id = ShortChannelId{900, 3, 0};
    second.usable = true;
    second.spendable_msat = Msat{1'000'000'000};
    bench.channels.channels.push_back(second);
    PayRequest request(KeyOf(0x44).GetPubKey());
    request.amount_msat = Msat{100'000};
    request.payment_hash = bench.payment_hash;
    request.payment_secret = Sha256(Bytes{'s'});
    request.retry_deadline = Now() + 60;
    request.route_hints = {{HintHop{KeyOf(0x42).GetPubKey(), ShortChannelId{800, 1, 0}, Msat{1000}, 10, 34}},
                           {HintHop{KeyOf(0x43).GetPubKey(), ShortChannelId{800, 2, 0}, Msat{1000}, 10, 34}}};
    return request;
}

//! Offer `index` comes back failed by `failer` (the node at hop `failer` peels it) with `code`.
HtlcFailed FailureOf(const RouterBench& bench, size_t index, const PrivKey& failer, FailureCode code)
{
    const auto& offer = bench.channels.offers.at(index);
    const auto peeled = PeelOnion(failer, offer.command.onion_routing_packet, bench.payment_hash);
    REQUIRE(peeled);
    REQUIRE(offer.htlc_id);
    const FailureMessage message = code == FailureCode::TEMPORARY_CHANNEL_FAILURE ? MakeFailureWithUpdate(code, {}) : MakeFailure(code);
    return HtlcFailed{*offer.htlc_id, CreateFailureOnion(peeled->shared_secret, message), std::nullopt};
}

//! The peer of offer `index` (0x42 over 0xbb, else 0x43) cannot go on: temporary_channel_failure.
HtlcFailed PeerFailure(const RouterBench& bench, size_t index)
{
    const bool first = bench.channels.offers.at(index).channel_id == IdOf(0xbb);
    return FailureOf(bench, index, first ? KeyOf(0x42) : KeyOf(0x43), FailureCode::TEMPORARY_CHANNEL_FAILURE);
}

std::unique_ptr<HtlcRouter> Reloaded(RouterBench& bench)
{
    auto router = std::make_unique<HtlcRouter>(bench.env, bench.invoice_store, KeyOf(0x41), RouterBench::Options());
    router->Load();
    return router;
}

int PayError(HtlcRouter& router, RouterChannels& channels, const PayRequest& request)
{
    try {
        router.Pay(channels, request, kHeight, Now(), [](const PaymentRecord&) {});
    } catch (const NodeError& e) {
        return e.Code();
    }
    return 0;
}

} // namespace

TEST_CASE("router: a payment pending at a restart goes on retrying within its limits")
{
    RouterBench bench;
    const PayRequest request = TwoHintRequest(bench);
    auto& offers = bench.channels.offers;
    bench.router.Pay(bench.channels, request, kHeight, Now(), [](const PaymentRecord&) {});
    REQUIRE(offers.size() == 1);
    std::vector<PaymentRecord> outcomes;
    const auto done = [&](const PaymentRecord& record) { outcomes.push_back(record); };

    SUBCASE("the part in flight fails after the restart: the next attempt takes the other hint and completes")
    {
        auto router = Reloaded(bench);
        REQUIRE(router->ListPayments().size() == 1);
        CHECK(router->ListPayments()[0].status == PaymentStatus::PENDING);
        // The resumed payment is waited for, not reported pending at once.
        REQUIRE(router->WaitForPayment(bench.channels, bench.payment_hash, done));
        CHECK(outcomes.empty());
        router->OnOutgoingFailed(bench.channels, offers[0].channel_id, PeerFailure(bench, 0), kHeight, Now());
        REQUIRE(offers.size() == 2);
        CHECK(offers[1].channel_id != offers[0].channel_id);
        CHECK(offers[1].command.amount_msat == Msat{101'001});
        CHECK(offers[1].command.payment_hash == bench.payment_hash);
        // The invoice's terms came back from the store: the payee reads its secret and total.
        const PrivKey& peer = offers[1].channel_id == IdOf(0xbb) ? KeyOf(0x42) : KeyOf(0x43);
        const auto at_peer = PeelOnion(peer, offers[1].command.onion_routing_packet, bench.payment_hash);
        REQUIRE(at_peer);
        REQUIRE(at_peer->next_packet);
        const auto at_payee = PeelOnion(KeyOf(0x44), *at_peer->next_packet, bench.payment_hash);
        REQUIRE(at_payee);
        const auto payload = DecodeHopPayload(at_payee->payload);
        REQUIRE(payload);
        REQUIRE(payload->payment_data);
        CHECK(payload->payment_data->payment_secret == *request.payment_secret);
        CHECK(payload->payment_data->total_msat == request.amount_msat);
        CHECK(outcomes.empty());

        Hash256 preimage{};
        preimage.fill(4);
        router->OnOutgoingFulfilled(bench.channels, offers[1].channel_id, HtlcFulfilled{*offers[1].htlc_id, preimage}, Now());
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].status == PaymentStatus::COMPLETE);
        // Success is answered before the batch is written: nothing written can undo it.
        CHECK(bench.channels.before_commit_answers == 1);
        CHECK(bench.channels.after_commit_answers == 0);
        CHECK(outcomes[0].attempts == 2);
        CHECK(outcomes[0].preimage == std::optional<Hash256>{preimage});
        // Settled: a later restart finds it complete, and the hash is never paid again.
        auto again = Reloaded(bench);
        CHECK(again->ListPayments()[0].status == PaymentStatus::COMPLETE);
        CHECK(PayError(*again, bench.channels, request) == kErrAlreadyPaid);
        CHECK(offers.size() == 2);
    }
    SUBCASE("a channel excluded before the restart stays excluded after it")
    {
        bench.router.OnOutgoingFailed(bench.channels, offers[0].channel_id, PeerFailure(bench, 0), kHeight, Now());
        REQUIRE(offers.size() == 2);
        auto router = Reloaded(bench);
        REQUIRE(router->WaitForPayment(bench.channels, bench.payment_hash, done));
        router->OnOutgoingFailed(bench.channels, offers[1].channel_id, PeerFailure(bench, 1), kHeight, Now());
        // Both hints' channels failed: the first is not tried again, the payment fails.
        CHECK(offers.size() == 2);
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].status == PaymentStatus::FAILED);
        CHECK(outcomes[0].attempts == 2);
        CHECK(outcomes[0].failure_code == std::optional<uint16_t>{Code(FailureCode::TEMPORARY_CHANNEL_FAILURE)});
        CHECK(outcomes[0].erring_index == std::optional<uint32_t>{0});
    }
    SUBCASE("past its retry deadline the resumed payment fails instead")
    {
        auto router = Reloaded(bench);
        REQUIRE(router->WaitForPayment(bench.channels, bench.payment_hash, done));
        router->OnOutgoingFailed(bench.channels, offers[0].channel_id, PeerFailure(bench, 0), kHeight, request.retry_deadline + 1);
        CHECK(offers.size() == 1);
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].status == PaymentStatus::FAILED);
    }
    SUBCASE("the payee's refusal after the restart ends it without a retry")
    {
        auto router = Reloaded(bench);
        REQUIRE(router->WaitForPayment(bench.channels, bench.payment_hash, done));
        // The payee (hop 1) refuses; the peer wraps its failure on the way back.
        const PrivKey& peer = offers[0].channel_id == IdOf(0xbb) ? KeyOf(0x42) : KeyOf(0x43);
        const auto at_peer = PeelOnion(peer, offers[0].command.onion_routing_packet, bench.payment_hash);
        REQUIRE(at_peer);
        REQUIRE(at_peer->next_packet);
        const auto at_payee = PeelOnion(KeyOf(0x44), *at_peer->next_packet, bench.payment_hash);
        REQUIRE(at_payee);
        const Bytes reason = CreateFailureOnion(at_payee->shared_secret, MakeIncorrectPaymentDetails(request.amount_msat, kHeight));
        const HtlcFailed wrapped{*offers[0].htlc_id, WrapFailureOnion(at_peer->shared_secret, reason), std::nullopt};
        router->OnOutgoingFailed(bench.channels, offers[0].channel_id, wrapped, kHeight, Now());
        CHECK(offers.size() == 1);
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].status == PaymentStatus::FAILED);
        CHECK(outcomes[0].erring_index == std::optional<uint32_t>{1});
        CHECK(outcomes[0].failure_code == std::optional<uint16_t>{Code(FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS)});
    }
}

TEST_CASE("router: a part a channel refuses mid-split is sent at once over the other channels")
{
    RouterBench bench;
    const PrivKey& payee_key = KeyOf(0x42);
    auto& channels = bench.channels.channels;
    channels[0].spendable_msat = Msat{1'000'000};
    for (const uint8_t byte : {uint8_t{0xcc}, uint8_t{0xdd}}) {
        RouterChannel more(payee_key.GetPubKey());
        more.channel_id = IdOf(byte);
        more.short_channel_id = ShortChannelId{900, byte, 0};
        more.usable = true;
        more.spendable_msat = Msat{1'000'000};
        channels.push_back(more);
    }
    PayRequest request(payee_key.GetPubKey());
    request.amount_msat = Msat{1'500'000};
    request.payment_hash = bench.payment_hash;
    request.payment_secret = Sha256(Bytes{'m'});
    request.retry_deadline = Now() + 60;
    // The second channel's capacity changed after the router looked: it refuses the HTLC.
    bench.channels.refuse_channels.insert(IdOf(0xcc));
    auto& offers = bench.channels.offers;
    std::vector<PaymentRecord> outcomes;
    const auto done = [&](const PaymentRecord& record) { outcomes.push_back(record); };

    SUBCASE("a third channel takes the refused part and the payment completes")
    {
        const PaymentRecord pending = bench.router.Pay(bench.channels, request, kHeight, Now(), done);
        CHECK(pending.status == PaymentStatus::PENDING);
        REQUIRE(offers.size() == 3);
        CHECK(offers[0].channel_id == IdOf(0xbb));
        CHECK(offers[0].command.amount_msat == Msat{1'000'000});
        CHECK(offers[1].channel_id == IdOf(0xcc));
        CHECK_FALSE(offers[1].htlc_id);
        CHECK(offers[2].channel_id == IdOf(0xdd));
        CHECK(offers[2].command.amount_msat == Msat{500'000});
        REQUIRE(pending.parts.size() == 2);
        CHECK(pending.AmountInFlightOrDone() == request.amount_msat);
        // The re-sent part belongs to the same set: the payee sees the whole amount as total.
        const auto peeled = PeelOnion(payee_key, offers[2].command.onion_routing_packet, bench.payment_hash);
        REQUIRE(peeled);
        const auto payload = DecodeHopPayload(peeled->payload);
        REQUIRE(payload);
        REQUIRE(payload->payment_data);
        CHECK(payload->payment_data->total_msat == request.amount_msat);
        CHECK(outcomes.empty());
        Hash256 preimage{};
        preimage.fill(5);
        for (const size_t i : {size_t{0}, size_t{2}}) {
            bench.router.OnOutgoingFulfilled(bench.channels, offers[i].channel_id, HtlcFulfilled{*offers[i].htlc_id, preimage},
                                             Now());
        }
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].status == PaymentStatus::COMPLETE);
        const PaymentRecord settled = bench.router.ListPayments().at(0);
        CHECK(settled.AmountSentSettled() == request.amount_msat);
        CHECK_FALSE(settled.HasPendingParts());
    }
    SUBCASE("no channel left for it: the payment fails at once, the part sent comes back from the payee")
    {
        channels.pop_back();
        const PaymentRecord failed = bench.router.Pay(bench.channels, request, kHeight, Now(), done);
        CHECK(failed.status == PaymentStatus::FAILED);
        CHECK(failed.failure == "a channel refused its part of the split payment");
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].status == PaymentStatus::FAILED);
        REQUIRE(offers.size() == 2);
        REQUIRE(failed.parts.size() == 1);
        CHECK(failed.HasPendingParts());
        // Until the payee returns it, new parts could add up with it: the hash is refused.
        CHECK(PayError(bench.router, bench.channels, request) == kErrPaymentPending);
        // Nor does a restart resume it: it failed.
        CHECK(Reloaded(bench)->ListPayments()[0].status == PaymentStatus::FAILED);

        // The payee's multi-part timeout returns the part: no retry, the failure stays ours.
        bench.router.OnOutgoingFailed(bench.channels, offers[0].channel_id,
                                      FailureOf(bench, 0, payee_key, FailureCode::MPP_TIMEOUT), kHeight, Now());
        CHECK(offers.size() == 2);
        CHECK(outcomes.size() == 1);
        const PaymentRecord returned = bench.router.ListPayments().at(0);
        CHECK(returned.status == PaymentStatus::FAILED);
        CHECK(returned.failure == "a channel refused its part of the split payment");
        CHECK_FALSE(returned.HasPendingParts());
        // Now it may be paid again.
        bench.channels.refuse_channels.clear();
        for (auto& channel : channels) channel.spendable_msat = Msat{1'000'000};
        CHECK(PayError(bench.router, bench.channels, request) == 0);
        CHECK(offers.size() == 4);
    }
}

TEST_CASE("router: a payment the graph splits past our channel leaves as the graph's parts, and a failed part is split again")
{
    // One channel of ours to 0x42, two of 0x42's to the payee 0x44: the graph (FindRoutes in the
    // daemon) splits the amount after the first hop, which a split across our channels cannot.
    const PubKey payee = KeyOf(0x44).GetPubKey();
    const ShortChannelId left{800, 1, 0};
    const ShortChannelId right{800, 2, 0};
    std::vector<PathRequest> asked;
    RouterOptions options = RouterBench::Options();
    options.find_path = [](const PathRequest&) -> Expected<std::vector<PathEdge>, PathfindError> { return PathfindError::NO_PATH; };
    options.find_routes = [&](const PathRequest& request, Msat min_part) -> Expected<std::vector<RoutePart>, PathfindError> {
        CHECK(min_part > Msat{0});
        asked.push_back(request);
        const auto hop = [&](const ShortChannelId& scid) {
            ForwardPolicy policy;
            policy.fee_base_msat = Msat{1000};
            return std::vector<PathEdge>{{KeyOf(0x42).GetPubKey(), kOutScid, {}}, {payee, scid, policy}};
        };
        if (request.amount == Msat{600'000}) {
            // The part that failed, again: half over the channel that refused it all.
            return std::vector<RoutePart>{{hop(left), Msat{300'000}, Msat{1000}}, {hop(right), Msat{300'000}, Msat{1000}}};
        }
        return std::vector<RoutePart>{{hop(left), Msat{600'000}, Msat{1000}}, {hop(right), request.amount - Msat{600'000}, Msat{1000}}};
    };
    RouterBench bench(options);
    PayRequest request(payee);
    request.amount_msat = Msat{1'000'000};
    request.payment_hash = bench.payment_hash;
    request.payment_secret = Sha256(Bytes{'g'});
    request.retry_deadline = Now() + 60;
    auto& offers = bench.channels.offers;
    std::vector<PaymentRecord> outcomes;
    const auto done = [&](const PaymentRecord& record) { outcomes.push_back(record); };
    // The next channel and amount 0x42 reads in offer i's onion.
    const auto next_hop = [&](size_t i) {
        const auto peeled = PeelOnion(KeyOf(0x42), offers.at(i).command.onion_routing_packet, bench.payment_hash);
        REQUIRE(peeled);
        const auto payload = DecodeHopPayload(peeled->payload);
        REQUIRE(payload);
        REQUIRE(payload->short_channel_id);
        REQUIRE(payload->amt_to_forward);
        return std::pair{*payload->short_channel_id, *payload->amt_to_forward};
    };

    const PaymentRecord pending = bench.router.Pay(bench.channels, request, kHeight, Now(), done);
    CHECK(pending.status == PaymentStatus::PENDING);
    REQUIRE(asked.size() == 1);
    CHECK(asked[0].amount == request.amount_msat);
    REQUIRE(asked[0].first_hops.size() == 1);
    CHECK(asked[0].first_hops[0].short_channel_id == kOutScid);
    REQUIRE(offers.size() == 2);
    CHECK(next_hop(0) == std::pair{left, Msat{600'000}});
    CHECK(next_hop(1) == std::pair{right, Msat{400'000}});
    // 0x42's fee rides on each part.
    CHECK(offers[0].command.amount_msat == Msat{601'000});
    CHECK(pending.AmountInFlightOrDone() == request.amount_msat);

    // The left channel lacks the balance for its part (temporary_channel_failure): what it
    // carried is split again, and the left channel still takes less than it refused.
    bench.router.OnOutgoingFailed(bench.channels, offers[0].channel_id, PeerFailure(bench, 0), kHeight, Now());
    REQUIRE(asked.size() == 2);
    CHECK(asked[1].amount == Msat{600'000});
    CHECK(asked[1].excluded_channels.empty());
    REQUIRE(offers.size() == 4);
    CHECK(next_hop(2) == std::pair{left, Msat{300'000}});
    CHECK(next_hop(3) == std::pair{right, Msat{300'000}});
    CHECK(outcomes.empty());

    Hash256 preimage{};
    preimage.fill(6);
    for (const size_t i : {size_t{1}, size_t{2}, size_t{3}}) {
        bench.router.OnOutgoingFulfilled(bench.channels, offers[i].channel_id, HtlcFulfilled{*offers[i].htlc_id, preimage}, Now());
    }
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes[0].status == PaymentStatus::COMPLETE);
    CHECK(outcomes[0].attempts == 4);
    // Three parts settled, each with 0x42's 1000 msat fee on top.
    CHECK(bench.router.ListPayments().at(0).AmountSentSettled() == request.amount_msat + Msat{3000});
}

TEST_CASE("router: a route hint's fees and CLTV delta give way to what its node announced")
{
    // 0x42 announced 4000 msat + 200 ppm and a 60-block delta for 800x1x0; the invoice's hint
    // still says 1000 + 10 ppm and 34 (0x43's channel 800x2x0 is unknown to the graph).
    RouterOptions options = RouterBench::Options();
    std::vector<std::pair<ShortChannelId, PubKey>> asked;
    options.channel_policy = [&](const ShortChannelId& scid, const PubKey& from) -> std::optional<ForwardPolicy> {
        asked.emplace_back(scid, from);
        if (scid != ShortChannelId{800, 1, 0} || from != KeyOf(0x42).GetPubKey()) return std::nullopt;
        ForwardPolicy announced;
        announced.fee_base_msat = Msat{4000};
        announced.fee_proportional_millionths = 200;
        announced.cltv_expiry_delta = 60;
        return announced;
    };
    RouterBench bench(options);
    PayRequest request = TwoHintRequest(bench);
    // Only the first hint's channel is ours to use: the other peer's channel is gone.
    bench.channels.channels.pop_back();
    bench.router.Pay(bench.channels, request, kHeight, Now(), [](const PaymentRecord&) {});
    CHECK(asked.size() == 2);
    REQUIRE(bench.channels.offers.size() == 1);
    const auto& offer = bench.channels.offers[0];
    CHECK(offer.command.amount_msat == Msat{100'000 + 4000 + 20});
    const auto peeled = PeelOnion(KeyOf(0x42), offer.command.onion_routing_packet, bench.payment_hash);
    REQUIRE(peeled);
    const auto payload = DecodeHopPayload(peeled->payload);
    REQUIRE(payload);
    REQUIRE(payload->outgoing_cltv_value);
    CHECK(offer.command.cltv_expiry - *payload->outgoing_cltv_value == 60);
}

//! A channel_update for `direction` of scid asking fee_base + 20 ppm, signed by signer; with or
//! without its message type (BOLT 4 failures should carry it).
Bytes FailureUpdate(const PrivKey& signer, ShortChannelId scid, int direction, uint32_t fee_base, bool typed)
{
    ChannelUpdateMessage update{
        .signature = *EcdsaSignature::FromCompact(ByteArray<64>{}),
        .chain_hash = ChainHash(Network::Regtest),
        .short_channel_id = scid,
        .timestamp = 1'700'000'000,
        .message_flags = ChannelUpdateMessage::kMustBeOneFlag,
        .channel_flags = static_cast<uint8_t>(direction),
        .cltv_expiry_delta = 40,
        .htlc_minimum_msat = Msat{1},
        .fee_base_msat = fee_base,
        .fee_proportional_millionths = 20,
        .htlc_maximum_msat = Msat{1'000'000'000},
        .trailing = {},
    };
    update = SignChannelUpdate(std::move(update), signer);
    Bytes out;
    if (typed) WireWriter(out).WriteU16(static_cast<uint16_t>(GossipMessageType::kChannelUpdate));
    update.EncodePayload(out);
    return out;
}

TEST_CASE("router: a policy failure's channel_update, signed by the failing node, is taken once and the payment retried")
{
    std::vector<ChannelUpdateMessage> applied;
    RouterOptions options = RouterBench::Options();
    options.on_channel_update = [&](const ChannelUpdateMessage& update, ByteSpan) { applied.push_back(update); };
    RouterBench bench(options);
    PayRequest request = TwoHintRequest(bench);
    // The way through 0x43 costs more than 0x42's, even at the fee 0x42 will ask.
    request.route_hints[1][0].fee_base_msat = Msat{4500};
    auto& offers = bench.channels.offers;
    const ShortChannelId hinted{800, 1, 0};
    const int direction = KeyOf(0x42).GetPubKey() < KeyOf(0x44).GetPubKey() ? 0 : 1;
    // Pays over 0x42 first, the cheaper way.
    bench.router.Pay(bench.channels, request, kHeight, Now(), [](const PaymentRecord&) {});
    REQUIRE(offers.size() == 1);
    REQUIRE(offers[0].channel_id == IdOf(0xbb));
    const auto refuse = [&](size_t index, const PrivKey& signer, uint32_t fee_base, bool typed) {
        const Bytes bytes = FailureUpdate(signer, hinted, direction, fee_base, typed);
        const auto peeled = PeelOnion(KeyOf(0x42), offers.at(index).command.onion_routing_packet, bench.payment_hash);
        REQUIRE(peeled);
        const Bytes reason = CreateFailureOnion(peeled->shared_secret, MakeFeeInsufficient(offers[index].command.amount_msat, bytes));
        bench.router.OnOutgoingFailed(bench.channels, offers[index].channel_id, HtlcFailed{*offers[index].htlc_id, reason, std::nullopt},
                                      kHeight, Now());
    };

    SUBCASE("the new fee is paid on the same channel; a second refusal sends it the other way")
    {
        refuse(0, KeyOf(0x42), 4000, true);
        REQUIRE(applied.size() == 1);
        CHECK(applied[0].fee_base_msat == 4000);
        REQUIRE(offers.size() == 2);
        CHECK(offers[1].channel_id == IdOf(0xbb));
        CHECK(offers[1].command.amount_msat == Msat{100'000 + 4000 + 2});
        // The same node refusing again, whatever it says, is routed around.
        refuse(1, KeyOf(0x42), 6000, false);
        CHECK(applied.size() == 1);
        REQUIRE(offers.size() == 3);
        CHECK(offers[2].channel_id == IdOf(0xcc));
    }
    SUBCASE("an update without the type prefix counts the same")
    {
        refuse(0, KeyOf(0x42), 4000, false);
        CHECK(applied.size() == 1);
        REQUIRE(offers.size() == 2);
        CHECK(offers[1].channel_id == IdOf(0xbb));
    }
    SUBCASE("an update another key signed is no reason to stay: the other hint is taken")
    {
        refuse(0, KeyOf(0x43), 4000, true);
        CHECK(applied.empty());
        REQUIRE(offers.size() == 2);
        CHECK(offers[1].channel_id == IdOf(0xcc));
    }
}


TEST_CASE("router: the first hop's onion work is made ahead while paying, and each start serves one onion")
{
    RouterBench bench;
    const PrivKey& peer_key = KeyOf(0x42);
    std::vector<PaymentRecord> outcomes;
    const auto pay = [&](uint8_t n) {
        PayRequest request(peer_key.GetPubKey());
        request.amount_msat = Msat{100'000};
        request.payment_hash = Sha256(Bytes{'o', n});
        request.payment_secret = Sha256(Bytes{'s', n});
        request.retry_deadline = Now() + 60;
        bench.router.Pay(bench.channels, request, kHeight, Now(), [&](const PaymentRecord& r) { outcomes.push_back(r); });
        const auto& offer = bench.channels.offers.back();
        const auto peeled = PeelOnion(peer_key, offer.command.onion_routing_packet, request.payment_hash);
        REQUIRE(peeled);
        CHECK_FALSE(peeled->next_packet);
        return offer.command.onion_routing_packet;
    };
    // Nothing to make before a payment names a first hop.
    CHECK_FALSE(bench.router.PrepareOnionStart());
    CHECK_FALSE(bench.router.Paying());
    const auto first = pay(1);
    CHECK(bench.router.Paying());
    CHECK(bench.router.OnionStartsReady() == 0);
    CHECK(bench.router.PrepareOnionStart());
    CHECK_FALSE(bench.router.PrepareOnionStart());
    CHECK(bench.router.OnionStartsReady() == 1);
    const auto second = pay(2);
    CHECK(bench.router.OnionStartsReady() == 0);
    CHECK(bench.router.PrepareOnionStart());
    const auto third = pay(3);
    // Each onion its own session key: another ephemeral key each time.
    const auto ephemeral = [](const ByteArray<kOnionPacketSize>& packet) { return Bytes(packet.begin() + 1, packet.begin() + 34); };
    CHECK(ephemeral(first) != ephemeral(second));
    CHECK(ephemeral(second) != ephemeral(third));
    CHECK(ephemeral(first) != ephemeral(third));
}

} // namespace sidebolt
