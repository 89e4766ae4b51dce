#include "chain/watches.h"

#include "fake_chain.h"
#include "recorders.h"

#include <doctest/doctest.h>

#include <memory>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {

struct Fixture {
    Fixture()
    {
        chain.MineEmpty(10);
        Restart();
        follower->Sync();
    }
    void Restart()
    {
        follower.reset();
        watches = std::make_unique<WatchManager>(env);
        watches->AddListener("chan/", recorder);
        follower = std::make_unique<ChainFollower>(chain, env);
        follower->AddListener(*watches);
    }
    //! A transaction in the chain, as if it funded a channel.
    Transaction Funding()
    {
        const Transaction tx = MakeTx({}, 2);
        chain.Mine({tx});
        follower->Sync();
        return tx;
    }

    ScratchDir dir;
    store::Env env{dir.Path(), TestEnvOptions()};
    FakeChain chain;
    WatchRecorder recorder;
    std::unique_ptr<WatchManager> watches;
    std::unique_ptr<ChainFollower> follower;
};

using Events = std::vector<std::string>;

} // namespace

TEST_CASE("watches: outpoint spent in the mempool, confirmed, then reorged out")
{
    Fixture f;
    const Transaction funding = f.Funding();
    const OutPoint outpoint{funding.GetTxid(), 1};
    f.watches->WatchOutpoint(outpoint, "chan/1");

    const Transaction spend = MakeTx({outpoint});
    f.chain.AddToMempool(spend);
    CHECK_FALSE(f.watches->ScanMempool(f.chain, 100));
    const auto events = f.recorder.TakeRaw();
    REQUIRE(events.size() == 1);
    const auto& spent = std::get<OutpointSpent>(events[0]);
    CHECK(spent.outpoint == outpoint);
    CHECK(spent.spending_tx == spend);
    CHECK(spent.spending_txid == spend.GetTxid());
    CHECK(spent.in_mempool);

    f.chain.Mine();
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/1: spend confirmed 12"});
    CHECK(f.watches->GetOutpointWatch(outpoint, "chan/1") == OutpointWatchState{spend.GetTxid(), 12});

    f.chain.Disconnect(1);
    f.chain.MineEmpty(2);
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/1: spend unconfirmed"});
    // Back in the mempool: the same spender says nothing new; confirming it again does.
    f.watches->ScanMempool(f.chain, 100);
    CHECK(f.recorder.Take().empty());
    f.chain.Mine();
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/1: spend confirmed 14"});
}

TEST_CASE("watches: a spend first seen in a block, and a different spender replacing ours")
{
    Fixture f;
    const Transaction funding = f.Funding();
    const OutPoint outpoint{funding.GetTxid(), 0};
    f.watches->WatchOutpoint(outpoint, "chan/a");
    f.watches->WatchOutpoint(outpoint, "chan/b");
    f.watches->WatchOutpoint(outpoint, "other/x"); // not our prefix

    const Transaction ours = MakeTx({outpoint});
    f.watches->ProcessMempoolTx(ours, ours.GetTxid());
    CHECK(f.recorder.Take() == Events{"chan/a: spent mempool", "chan/b: spent mempool"});

    const Transaction theirs = MakeTx({outpoint});
    f.chain.Mine({theirs}, false);
    f.follower->Sync();
    const auto events = f.recorder.TakeRaw();
    REQUIRE(events.size() == 4);
    CHECK(Describe(events[0]) == "spent block");
    CHECK(std::get<OutpointSpent>(events[0]).spending_txid == theirs.GetTxid());
    CHECK(Describe(events[1]) == "spend confirmed 12");
}

TEST_CASE("watches: txid to depth 3 with a reorg in between")
{
    Fixture f;
    const Transaction tx = MakeTx({});
    const Hash256 txid = tx.GetTxid();
    f.watches->WatchTxid(txid, 3, "chan/tx");
    f.chain.AddToMempool(tx);
    f.watches->ScanMempool(f.chain, 100);
    CHECK(f.recorder.Take() == Events{"chan/tx: tx mempool"});

    f.chain.Mine();
    f.chain.MineEmpty(1);
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/tx: tx confirmed 11 depth 1"});

    // Reorg: the tx is left out of the new blocks.
    f.chain.Disconnect(2, true);
    f.chain.MineEmpty(3);
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/tx: tx unconfirmed"});
    CHECK(f.watches->GetTxidWatch(txid, "chan/tx") == TxidWatchState{3, false, std::nullopt});

    f.chain.Mine({tx});
    f.chain.MineEmpty(1);
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/tx: tx confirmed 14 depth 1"});
    f.chain.MineEmpty(1);
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/tx: tx confirmed 14 depth 3"});
    CHECK_FALSE(f.watches->GetTxidWatch(txid, "chan/tx"));
    f.chain.MineEmpty(1);
    f.follower->Sync();
    CHECK(f.recorder.Take().empty());
}

TEST_CASE("watches: depth 1 ends at the first confirmation")
{
    Fixture f;
    const Transaction tx = MakeTx({});
    f.watches->WatchTxid(tx.GetTxid(), 1, "chan/tx");
    f.chain.Mine({tx});
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/tx: tx confirmed 11 depth 1"});
    CHECK(f.watches->WatchCount() == 0);
}

TEST_CASE("watches: persist with their state across a restart")
{
    Fixture f;
    const Transaction funding = f.Funding();
    const OutPoint outpoint{funding.GetTxid(), 0};
    const Transaction tx = MakeTx({outpoint});
    f.watches->WatchOutpoint(outpoint, "chan/1");
    f.watches->WatchTxid(tx.GetTxid(), 2, "chan/1");
    f.chain.Mine({tx});
    f.follower->Sync();
    CHECK(f.recorder.Take() ==
          Events{"chan/1: tx confirmed 12 depth 1", "chan/1: spent block", "chan/1: spend confirmed 12"});

    f.Restart();
    CHECK(f.watches->WatchCount() == 2);
    // Re-adding at startup keeps the state.
    f.watches->WatchOutpoint(outpoint, "chan/1");
    CHECK(f.watches->GetOutpointWatch(outpoint, "chan/1") == OutpointWatchState{tx.GetTxid(), 12});
    f.chain.MineEmpty(1);
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/1: tx confirmed 12 depth 2"});

    CHECK(f.watches->UnwatchOutpoint(outpoint, "chan/1"));
    CHECK_FALSE(f.watches->UnwatchOutpoint(outpoint, "chan/1"));
    f.Restart();
    CHECK(f.watches->WatchCount() == 0);
}

TEST_CASE("watches: a failed listener leaves the watch state as it was, and the block is delivered again")
{
    Fixture f;
    const Transaction funding = f.Funding();
    const OutPoint outpoint{funding.GetTxid(), 0};
    f.watches->WatchOutpoint(outpoint, "chan/1");
    const Transaction spend = MakeTx({outpoint});
    f.chain.Mine({spend});

    f.recorder.fail_next = true;
    CHECK_THROWS(f.follower->Sync());
    CHECK(f.watches->GetOutpointWatch(outpoint, "chan/1") == OutpointWatchState{});
    CHECK(f.follower->Status().tip.height == 11);

    f.Restart();
    f.follower->Sync();
    CHECK(f.recorder.Take() == Events{"chan/1: spent block", "chan/1: spend confirmed 12"});
    CHECK(f.watches->GetOutpointWatch(outpoint, "chan/1") == OutpointWatchState{spend.GetTxid(), 12});
}

namespace {

//! Channel-like code: when its outpoint is spent, it watches the spender's outputs and txid.
class ReactingListener : public WatchListener
{
public:
    explicit ReactingListener(WatchManager& watches) : m_watches{watches} {}
    void OnWatchEvent(store::WriteTxn& txn, const WatchEvent& event) override
    {
        events.push_back(Describe(event));
        if (const auto* spent = std::get_if<OutpointSpent>(&event)) {
            m_watches.WatchTxid(txn, spent->spending_txid, 1, "react/tx");
            m_watches.WatchOutpoint(txn, OutPoint{spent->spending_txid, 0}, "react/out");
        }
    }
    std::vector<std::string> events;

private:
    WatchManager& m_watches;
};

} // namespace

TEST_CASE("watches: a watch added from a listener sees the block being delivered")
{
    Fixture f;
    ReactingListener reacting{*f.watches};
    f.watches->AddListener("react/", reacting);
    const Transaction funding = f.Funding();
    const OutPoint outpoint{funding.GetTxid(), 0};
    f.watches->WatchOutpoint(outpoint, "react/funding");
    const Transaction commitment = MakeTx({outpoint}, 2);
    const Transaction child = MakeTx({OutPoint{commitment.GetTxid(), 0}}); // same block
    f.chain.Mine({commitment, child});
    f.follower->Sync();
    // funding spent by the commitment; the commitment confirmed; its output spent by the child
    // (watched only from the first event on); the child's own confirmation.
    CHECK(reacting.events == Events{"spent block", "spend confirmed 12", "tx confirmed 12 depth 1", "spent block",
                                    "spend confirmed 12", "tx confirmed 12 depth 1"});
}

TEST_CASE("watches: mempool scans fetch only unseen transactions, in bounded passes")
{
    Fixture f;
    const Transaction funding = f.Funding();
    f.watches->WatchOutpoint(OutPoint{funding.GetTxid(), 0}, "chan/1");
    f.watches->ScanMempool(f.chain, 10); // consumes the fresh-watch check
    for (int i = 0; i < 5; ++i) f.chain.AddToMempool(MakeTx({}));
    const int calls = f.chain.RawTxCalls();
    CHECK(f.watches->ScanMempool(f.chain, 3));
    CHECK_FALSE(f.watches->ScanMempool(f.chain, 3));
    CHECK(f.chain.RawTxCalls() == calls + 5);
    CHECK_FALSE(f.watches->ScanMempool(f.chain, 3));
    CHECK(f.chain.RawTxCalls() == calls + 5);
}

TEST_CASE("watches: a new watch finds a spender that was in the mempool before it")
{
    Fixture f;
    const Transaction funding = f.Funding();
    const OutPoint watched{funding.GetTxid(), 0};
    f.watches->WatchOutpoint(OutPoint{funding.GetTxid(), 1}, "chan/other");
    const Transaction spend = MakeTx({watched});
    f.chain.AddToMempool(spend);
    f.watches->ScanMempool(f.chain, 100); // seen, but nobody watched it yet
    CHECK(f.recorder.Take().empty());

    f.watches->WatchOutpoint(watched, "chan/1");
    f.watches->ScanMempool(f.chain, 100);
    CHECK(f.recorder.Take() == Events{"chan/1: spent mempool"});
}

TEST_CASE("watches: unrelated transactions raise no events")
{
    Fixture f;
    f.watches->WatchOutpoint(OutPoint{MakeTx({}).GetTxid(), 0}, "chan/1");
    std::vector<Transaction> txs;
    for (int i = 0; i < 200; ++i) txs.push_back(MakeTx({OutPoint{MakeTx({}).GetTxid(), 0}}, 2));
    f.chain.Mine(txs);
    f.follower->Sync();
    CHECK(f.recorder.Take().empty());
}

namespace {

class MisusingListener : public WatchListener
{
public:
    explicit MisusingListener(WatchManager& watches) : m_watches{watches} {}
    void OnWatchEvent(store::WriteTxn&, const WatchEvent& event) override
    {
        m_watches.WatchTxid(std::get<OutpointSpent>(event).spending_txid, 1, "bad/tx"); // no txn: would deadlock
    }

private:
    WatchManager& m_watches;
};

} // namespace

TEST_CASE("watches: the overloads without txn refuse to run inside a listener instead of deadlocking")
{
    Fixture f;
    MisusingListener misusing{*f.watches};
    f.watches->AddListener("bad/", misusing);
    const Transaction funding = f.Funding();
    const OutPoint outpoint{funding.GetTxid(), 0};
    f.watches->WatchOutpoint(outpoint, "bad/1");
    const Transaction spend = MakeTx({outpoint});
    CHECK_THROWS_AS(f.watches->ProcessMempoolTx(spend, spend.GetTxid()), std::logic_error);
    CHECK_FALSE(WatchManager::InsideDelivery());
    CHECK(f.watches->GetOutpointWatch(outpoint, "bad/1") == OutpointWatchState{});
}
