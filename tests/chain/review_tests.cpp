// Regression tests for defects found reviewing the chain follower, watches, broadcaster and fees.

#include "chain/broadcaster.h"
#include "chain/chain_service.h"
#include "chain/fees.h"
#include "chain/follower.h"
#include "chain/watches.h"

#include "fake_chain.h"
#include "recorders.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {

using Events = std::vector<std::string>;

struct ReviewFixture {
    explicit ReviewFixture(FollowerConfig config = {})
    {
        chain.MineEmpty(10);
        follower = std::make_unique<ChainFollower>(chain, env, config);
        follower->AddListener(recorder);
        follower->AddListener(watches);
        follower->AddListener(broadcaster);
        watches.AddListener("chan/", watch_recorder);
        follower->Sync();
    }
    size_t SentCount(const Hash256& txid) const
    {
        const auto sent = chain.Sent();
        return static_cast<size_t>(std::count(sent.begin(), sent.end(), txid));
    }

    ScratchDir dir;
    store::Env env{dir.Path(), TestEnvOptions()};
    FakeChain chain;
    BlockRecorder recorder;
    WatchRecorder watch_recorder;
    WatchManager watches{env};
    Broadcaster broadcaster{chain, env, watches, BroadcasterConfig{3, "broadcast/"}};
    std::unique_ptr<ChainFollower> follower;
};

//! A node whose fee estimate call runs a hook before answering (another thread's work).
class HookedFeeChain : public FakeChain
{
public:
    std::function<void()> during_estimate;

    std::optional<int64_t> EstimateSmartFee(int conf_target) override
    {
        const auto answer = FakeChain::EstimateSmartFee(conf_target);
        if (during_estimate) std::exchange(during_estimate, {})();
        return answer;
    }
};

} // namespace

TEST_CASE("review: a reorg exactly history_depth blocks deep is followed")
{
    // "A reorg deeper than this stops the follower": one of exactly this depth must not.
    FollowerConfig config;
    config.history_depth = 5;
    ReviewFixture f{config};
    f.chain.MineEmpty(10);
    f.follower->Sync();
    f.recorder.Take();

    f.chain.Disconnect(5);
    f.chain.MineEmpty(6);
    CHECK(f.follower->Sync());
    const auto blocks = f.recorder.Take();
    CHECK(std::count_if(blocks.begin(), blocks.end(), [](const RecordedBlock& b) { return !b.connected; }) == 5);
    CHECK(f.follower->Status().tip == BlockRef{f.chain.Height(), f.chain.Tip()});

    // One deeper is refused.
    f.chain.Disconnect(6);
    f.chain.MineEmpty(7);
    CHECK_THROWS_AS(f.follower->Sync(), ReorgTooDeepError);
}

TEST_CASE("review: a new watch on an unconfirmed output finds its spender already seen in the mempool")
{
    ReviewFixture f;
    // Another watch exists, so scans record what they saw.
    f.watches.WatchOutpoint(OutPoint{MakeTx({}).GetTxid(), 0}, "chan/other");
    const Transaction funding = MakeTx({}, 2);
    const OutPoint outpoint{funding.GetTxid(), 0};
    const Transaction spend = MakeTx({outpoint});
    f.chain.AddToMempool(funding); // not confirmed yet
    f.chain.AddToMempool(spend);
    CHECK_FALSE(f.watches.ScanMempool(f.chain, 100));
    CHECK(f.watch_recorder.Take().empty());

    f.watches.WatchOutpoint(outpoint, "chan/1");
    CHECK_FALSE(f.watches.ScanMempool(f.chain, 100));
    CHECK(f.watch_recorder.Take() == Events{"chan/1: spent mempool"});
}

TEST_CASE("review: a txid watch whose confirmation was reorged out is reported back in the mempool by a scan")
{
    ReviewFixture f;
    const Transaction tx = MakeTx({});
    f.watches.WatchTxid(tx.GetTxid(), 3, "chan/tx");
    f.chain.AddToMempool(tx);
    f.watches.ScanMempool(f.chain, 100);
    CHECK(f.watch_recorder.Take() == Events{"chan/tx: tx mempool"});

    f.chain.Mine();
    f.follower->Sync();
    CHECK(f.watch_recorder.Take() == Events{"chan/tx: tx confirmed 11 depth 1"});

    f.chain.Disconnect(1); // back to the mempool
    f.follower->Sync();
    CHECK(f.watch_recorder.Take() == Events{"chan/tx: tx unconfirmed"});
    REQUIRE(f.chain.InMempool(tx.GetTxid()));
    f.watches.ScanMempool(f.chain, 100);
    CHECK(f.watch_recorder.Take() == Events{"chan/tx: tx mempool"});
}

TEST_CASE("review: a transaction the node mined before we processed its block is still rebroadcast after a reorg")
{
    ReviewFixture f;
    f.chain.MineEmpty(1);
    f.follower->Sync(); // the broadcaster has seen a tip
    const Transaction tx = MakeTx({});
    const Hash256 txid = tx.GetTxid();
    CHECK(f.broadcaster.Broadcast(tx, "penalty").Ok());

    // The node mines it; our follower has not processed that block when we rebroadcast.
    f.chain.Mine();
    f.broadcaster.RebroadcastPending();
    CHECK(f.SentCount(txid) == 2);
    REQUIRE(f.broadcaster.Pending().size() == 1);

    // That block is reorged out and the transaction lost from the mempool: it must be resent.
    f.chain.Disconnect(1, true);
    f.chain.MineEmpty(2);
    f.follower->Sync();
    CHECK(f.SentCount(txid) == 3);
    CHECK(f.chain.InMempool(txid));

    // Confirmed where we can see it, then forgotten three deep.
    f.chain.Mine();
    f.chain.MineEmpty(2);
    f.follower->Sync();
    CHECK(f.broadcaster.Pending().empty());
    CHECK(f.watches.WatchCount() == 0);
}

TEST_CASE("review: a fee estimate asked before a new tip is not cached after it")
{
    HookedFeeChain chain;
    FeeEstimator fees{chain};
    chain.SetFeeEstimate(4000);
    chain.during_estimate = [&] {
        // A block arrives while the node answers: the answer in flight is already stale.
        chain.SetFeeEstimate(8000);
        fees.OnTipChanged(BlockRef{});
    };
    CHECK(fees.Estimate(6).per_kw == 1000);
    CHECK(fees.Estimate(6).per_kw == 2000);
}

TEST_CASE("review: the RPC thread's calls race nothing on the sync thread (run under TSan)")
{
    ScratchDir dir;
    store::Env env{dir.Path(), TestEnvOptions()};
    FakeChain chain;
    chain.MineEmpty(10);
    ChainServiceConfig config;
    config.poll_interval = std::chrono::milliseconds{1};
    config.max_retry_delay = std::chrono::milliseconds{2};
    ChainService service{chain, env, config};
    WatchRecorder recorder;
    service.Watches().AddListener("chan/", recorder);
    BlockRecorder blocks;
    service.AddChainListener(blocks);
    service.Start();

    for (int round = 0; round < 30; ++round) {
        const Transaction funding = MakeTx({}, 2);
        chain.Mine({funding});
        const OutPoint outpoint{funding.GetTxid(), 0};
        service.Watches().WatchOutpoint(outpoint, "chan/" + std::to_string(round));
        const Transaction spend = MakeTx({outpoint});
        service.Watches().WatchTxid(spend.GetTxid(), 2, "chan/tx" + std::to_string(round));
        chain.AddToMempool(spend);
        service.GetBroadcaster().Broadcast(MakeTx({OutPoint{funding.GetTxid(), 1}}), "race");
        if (round % 5 == 4) chain.Disconnect(2);
        chain.MineEmpty(1);
        (void)service.Status();
        (void)service.RecentEvents();
        (void)service.Fees().Estimate(6);
        (void)service.GetBroadcaster().Pending();
        (void)service.Watches().GetOutpointWatch(outpoint, "chan/" + std::to_string(round));
        if (round % 3 == 0) service.Watches().UnwatchOutpoint(outpoint, "chan/" + std::to_string(round));
        std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    while (service.Status().chain.tip.hash != chain.Tip() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    service.Stop();
    CHECK(service.Status().chain.tip == BlockRef{chain.Height(), chain.Tip()});
    CHECK(service.Status().chain.last_error.empty());
}
