#include "chain/chain_service.h"
#include "chain/zmq_listener.h"

#include "fake_chain.h"
#include "recorders.h"

#include <doctest/doctest.h>
#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

using namespace sidebolt;
using namespace sidebolt::test;
using namespace std::chrono_literals;

namespace {

//! Generous: the machine running the tests may be busy.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 30s)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

//! Publishes in bitcoind's format: topic, body, 4-byte little-endian sequence per topic.
class Publisher
{
public:
    explicit Publisher(const std::string& endpoint) : m_socket{m_context, zmq::socket_type::pub}
    {
        m_socket.bind(endpoint);
    }
    void Send(const std::string& topic, ByteSpan body, uint32_t sequence)
    {
        const uint8_t seq[4]{static_cast<uint8_t>(sequence), static_cast<uint8_t>(sequence >> 8),
                             static_cast<uint8_t>(sequence >> 16), static_cast<uint8_t>(sequence >> 24)};
        m_socket.send(zmq::buffer(topic), zmq::send_flags::sndmore);
        m_socket.send(zmq::buffer(body.data(), body.size()), zmq::send_flags::sndmore);
        m_socket.send(zmq::buffer(seq, sizeof(seq)), zmq::send_flags::none);
    }
    //! The next sequence number of topic, counting what Send was given.
    uint32_t Next(const std::string& topic) { return m_sequences[topic]++; }

private:
    zmq::context_t m_context;
    zmq::socket_t m_socket;
    std::map<std::string, uint32_t> m_sequences;
};

std::string IpcEndpoint(const ScratchDir& dir) { return "ipc://" + (dir.Path() / "zmq.sock").string(); }

struct Counters {
    std::atomic<int> blocks{0};
    std::atomic<int> gaps{0};
    std::atomic<int> txs{0};
    std::mutex mutex;
    std::vector<std::string> gap_reasons;
    Bytes last_tx;

    ZmqHandlers Handlers()
    {
        return ZmqHandlers{[this] { ++blocks; },
                           [this](const std::string& reason) {
                               const std::lock_guard lock{mutex};
                               gap_reasons.push_back(reason);
                               ++gaps;
                           },
                           [this](ByteSpan raw) {
                               const std::lock_guard lock{mutex};
                               last_tx.assign(raw.begin(), raw.end());
                               ++txs;
                           }};
    }
};

//! Publishes hashblock messages until the subscriber gets one (ZMQ's slow joiner).
void WarmUp(Publisher& publisher, Counters& counters)
{
    const Hash256 hash{};
    REQUIRE(WaitFor([&] {
        publisher.Send("hashblock", hash, publisher.Next("hashblock"));
        std::this_thread::sleep_for(10ms);
        return counters.blocks > 0;
    }));
    std::this_thread::sleep_for(50ms); // let the in-flight warm-up messages land
}

} // namespace

TEST_CASE("zmq: subscriptions from getzmqnotifications")
{
    const auto subscriptions = SubscriptionsFromNotifications({{"pubrawblock", "tcp://127.0.0.1:28332"},
                                                               {"pubhashtx", "tcp://127.0.0.1:28332"},
                                                               {"pubrawtx", "tcp://127.0.0.1:28333"},
                                                               {"pubsequence", "tcp://127.0.0.1:28334"}});
    REQUIRE(subscriptions.size() == 3);
    CHECK(subscriptions[0].topic == "rawblock");
    CHECK(subscriptions[1].topic == "rawtx");
    CHECK(subscriptions[1].endpoint == "tcp://127.0.0.1:28333");
    CHECK(subscriptions[2].topic == "sequence");
}

TEST_CASE("zmq: messages in order are hints; sequence gaps and drops ask for reconciliation")
{
    ScratchDir dir;
    const std::string endpoint = IpcEndpoint(dir);
    Publisher publisher{endpoint};
    Counters counters;
    ZmqListener listener{{{"hashblock", endpoint}, {"rawtx", endpoint}, {"sequence", endpoint}}, counters.Handlers()};
    listener.Start();
    WarmUp(publisher, counters);
    // Connecting and the first hashblock message each asked for a reconciliation.
    CHECK(counters.gaps >= 1);
    const int gaps = counters.gaps;
    const int blocks = counters.blocks;

    publisher.Send("hashblock", Hash256{}, publisher.Next("hashblock"));
    REQUIRE(WaitFor([&] { return counters.blocks == blocks + 1; }));
    CHECK(counters.gaps == gaps);

    // The first rawtx message: reconcile, and the body goes to the mempool handler.
    const Bytes raw = SerializeTransaction(MakeTx({}));
    publisher.Send("rawtx", raw, publisher.Next("rawtx"));
    REQUIRE(WaitFor([&] { return counters.txs == 1; }));
    CHECK(counters.gaps == gaps + 1);
    {
        const std::lock_guard lock{counters.mutex};
        CHECK(counters.last_tx == raw);
    }
    publisher.Send("rawtx", raw, publisher.Next("rawtx"));
    REQUIRE(WaitFor([&] { return counters.txs == 2; }));
    CHECK(counters.gaps == gaps + 1);

    // A message lost on the way (the -debugzmqdrop knob): the next one reveals the gap.
    listener.DropNext(1);
    publisher.Send("rawtx", raw, publisher.Next("rawtx"));
    publisher.Send("rawtx", raw, publisher.Next("rawtx"));
    REQUIRE(WaitFor([&] { return counters.txs == 3; }));
    CHECK(counters.gaps == gaps + 2);
    CHECK(listener.Stats().dropped == 1);

    // A sequence number jumping ahead (the publisher's high-water mark dropped some).
    const uint32_t skipped = publisher.Next("hashblock");
    publisher.Send("hashblock", Hash256{}, publisher.Next("hashblock"));
    REQUIRE(WaitFor([&] { return counters.gaps == gaps + 3; }));
    {
        const std::lock_guard lock{counters.mutex};
        CHECK(counters.gap_reasons.back() == "hashblock sequence gap: expected " + std::to_string(skipped) +
                                                 ", got " + std::to_string(skipped + 1));
    }

    // sequence 'C' is a block hint; 'A' (mempool) is not.
    const int before = counters.blocks;
    Bytes connected(32, 0);
    connected.push_back('C');
    publisher.Send("sequence", connected, publisher.Next("sequence"));
    REQUIRE(WaitFor([&] { return counters.blocks == before + 1; }));
    Bytes added(32, 0);
    added.push_back('A');
    added.resize(added.size() + 8);
    publisher.Send("sequence", added, publisher.Next("sequence"));
    publisher.Send("sequence", connected, publisher.Next("sequence"));
    REQUIRE(WaitFor([&] { return counters.blocks == before + 2; }));
    listener.Stop();
}

TEST_CASE("zmq: Stats().gaps counts lost messages only, not the connection, first messages or a wrapping counter")
{
    ScratchDir dir;
    const std::string endpoint = IpcEndpoint(dir);
    Publisher publisher{endpoint};
    Counters counters;
    ZmqListener listener{{{"hashblock", endpoint}, {"rawtx", endpoint}}, counters.Handlers()};
    listener.Start();
    WarmUp(publisher, counters);
    // Connecting and the first hashblock asked for reconciliation, but nothing was lost.
    CHECK(counters.gaps >= 1);
    CHECK(listener.Stats().gaps == 0);

    // bitcoind's 32-bit counter wrapping is the next number, not a gap.
    const Bytes raw = SerializeTransaction(MakeTx({}));
    publisher.Send("rawtx", raw, 0xffffffff);
    publisher.Send("rawtx", raw, 0);
    publisher.Send("rawtx", raw, 1);
    REQUIRE(WaitFor([&] { return counters.txs == 3; }));
    CHECK(listener.Stats().gaps == 0);

    publisher.Send("rawtx", raw, 3);
    REQUIRE(WaitFor([&] { return counters.txs == 4; }));
    CHECK(listener.Stats().gaps == 1);
    // Any other jump, backwards too, is a gap.
    publisher.Send("rawtx", raw, 0);
    REQUIRE(WaitFor([&] { return counters.txs == 5; }));
    CHECK(listener.Stats().gaps == 2);
    listener.Stop();
}

namespace {

struct ServiceFixture {
    explicit ServiceFixture(ChainServiceConfig config)
    {
        chain.MineEmpty(10);
        service = std::make_unique<ChainService>(chain, env, std::move(config));
        service->Watches().AddListener("chan/", recorder);
        service->AddChainListener(blocks);
    }
    bool WaitForTip()
    {
        return WaitFor([&] {
            const auto status = service->Status().chain;
            return status.synced && status.tip.hash == chain.Tip();
        });
    }

    ScratchDir dir;
    store::Env env{dir.Path() / "db", TestEnvOptions()};
    FakeChain chain;
    WatchRecorder recorder;
    BlockRecorder blocks;
    std::unique_ptr<ChainService> service;
};

} // namespace

TEST_CASE("service: polling mode follows the chain, rides out the node going down, stops cleanly")
{
    ChainServiceConfig config;
    config.poll_interval = 20ms;
    config.max_retry_delay = 50ms;
    ServiceFixture f{config};
    f.service->Start();
    REQUIRE(f.WaitForTip());
    CHECK(f.service->Status().mode == "polling");
    CHECK(f.service->Status().running);

    f.chain.MineEmpty(3);
    REQUIRE(f.WaitForTip());
    CHECK(f.blocks.Take().size() == 3);

    f.chain.SetDown(true);
    REQUIRE(WaitFor([&] { return !f.service->Status().chain.source_reachable; }));
    CHECK_FALSE(f.service->Status().chain.synced);
    f.chain.MineEmpty(2);
    f.chain.SetDown(false);
    REQUIRE(f.WaitForTip());
    CHECK(f.blocks.Take().size() == 2);

    // Mempool spends are found by polling too.
    const Transaction funding = MakeTx({}, 1);
    f.chain.Mine({funding});
    REQUIRE(f.WaitForTip());
    const OutPoint outpoint{funding.GetTxid(), 0};
    f.service->Watches().WatchOutpoint(outpoint, "chan/1");
    f.chain.AddToMempool(MakeTx({outpoint}));
    // The watch's state changes before its event reaches the listener: wait for the event.
    std::vector<std::string> events;
    REQUIRE(WaitFor([&] {
        const auto more = f.recorder.Take();
        events.insert(events.end(), more.begin(), more.end());
        return !events.empty();
    }));
    CHECK(f.service->Watches().GetOutpointWatch(outpoint, "chan/1")->spender.has_value());
    CHECK(events == std::vector<std::string>{"chan/1: spent mempool"});

    f.service->Stop();
    CHECK_FALSE(f.service->Status().running);
}

TEST_CASE("service: ZMQ hints trigger syncs; a gap triggers a reconciliation of chain and mempool")
{
    ScratchDir zmq_dir;
    const std::string endpoint = IpcEndpoint(zmq_dir);
    Publisher publisher{endpoint};
    ChainServiceConfig config;
    config.zmq = {{"hashblock", endpoint}, {"rawtx", endpoint}};
    config.zmq_poll_interval = 1h; // only ZMQ drives it
    config.zmq_mempool_scan_interval = 1h;
    ServiceFixture f{config};
    f.service->Start();
    CHECK(f.service->Status().mode == "zmq");
    REQUIRE(f.WaitForTip()); // the initial sync

    // Warm up until the subscription is live (each message is also a sync hint).
    REQUIRE(WaitFor([&] {
        publisher.Send("hashblock", f.chain.Tip(), publisher.Next("hashblock"));
        std::this_thread::sleep_for(10ms);
        return f.service->Status().zmq.received > 0;
    }));

    f.chain.MineEmpty(1);
    publisher.Send("hashblock", f.chain.Tip(), publisher.Next("hashblock"));
    REQUIRE(f.WaitForTip());

    // rawtx feeds watches directly.
    const Transaction funding = MakeTx({}, 2);
    f.chain.Mine({funding});
    publisher.Send("hashblock", f.chain.Tip(), publisher.Next("hashblock"));
    REQUIRE(f.WaitForTip());
    const OutPoint first{funding.GetTxid(), 0};
    const OutPoint second{funding.GetTxid(), 1};
    f.service->Watches().WatchOutpoint(first, "chan/1");
    f.service->Watches().WatchOutpoint(second, "chan/2");
    const Transaction spend1 = MakeTx({first});
    publisher.Send("rawtx", SerializeTransaction(spend1), publisher.Next("rawtx"));
    REQUIRE(WaitFor([&] { return f.service->Watches().GetOutpointWatch(first, "chan/1")->spender.has_value(); }));

    // A spend the node has but whose rawtx message was lost: the next message shows the gap,
    // and the reconciliation finds the spend through getrawmempool.
    const Transaction spend2 = MakeTx({second});
    f.chain.AddToMempool(spend2);
    publisher.Next("rawtx"); // lost
    publisher.Send("rawtx", SerializeTransaction(MakeTx({})), publisher.Next("rawtx"));
    REQUIRE(WaitFor([&] { return f.service->Watches().GetOutpointWatch(second, "chan/2")->spender.has_value(); }));
    CHECK(f.service->Watches().GetOutpointWatch(second, "chan/2")->spender == spend2.GetTxid());

    // A lost block hint leaves us behind (no polling here) until a gap is noticed: the
    // reconciliation then syncs the chain too.
    f.chain.MineEmpty(2);
    f.service->DropZmqMessages(1);
    publisher.Send("hashblock", f.chain.Tip(), publisher.Next("hashblock"));
    std::this_thread::sleep_for(200ms);
    CHECK(f.service->Status().chain.tip.hash != f.chain.Tip());
    publisher.Next("rawtx"); // lost
    publisher.Send("rawtx", SerializeTransaction(MakeTx({})), publisher.Next("rawtx"));
    REQUIRE(f.WaitForTip());
    f.service->Stop();
}
