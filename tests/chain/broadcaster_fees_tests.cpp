#include "chain/broadcaster.h"
#include "chain/fees.h"

#include "fake_chain.h"
#include "recorders.h"
#include "rpc/bitcoind.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {

struct Fixture {
    Fixture()
    {
        chain.MineEmpty(10);
        follower.AddListener(watches);
        follower.AddListener(broadcaster);
        follower.Sync();
    }
    size_t SentCount(const Hash256& txid) const
    {
        const auto sent = chain.Sent();
        return static_cast<size_t>(std::count(sent.begin(), sent.end(), txid));
    }

    ScratchDir dir;
    store::Env env{dir.Path(), TestEnvOptions()};
    FakeChain chain;
    WatchManager watches{env};
    Broadcaster broadcaster{chain, env, watches, BroadcasterConfig{3, "broadcast/"}};
    ChainFollower follower{chain, env};
};

} // namespace

TEST_CASE("broadcaster: already in chain (-27) is success")
{
    Fixture f;
    const Transaction tx = MakeTx({});
    f.chain.Mine({tx});
    f.follower.Sync();
    const BroadcastResult result = f.broadcaster.Broadcast(tx, "funding");
    CHECK(result.Ok());
    CHECK(result.txid == tx.GetTxid());
    CHECK(result.send.status == SendResult::Status::AlreadyInChain);
    CHECK(result.send.code == rpc::RPC_VERIFY_ALREADY_IN_CHAIN);
    CHECK(f.broadcaster.Pending().empty());
    CHECK(f.watches.WatchCount() == 0);
}

TEST_CASE("broadcaster: rejections carry the node's code and message")
{
    Fixture f;
    const Transaction tx = MakeTx({});
    f.chain.SetSendResult(tx.GetTxid(), {SendResult::Status::Rejected, rpc::RPC_VERIFY_REJECTED, "non-final"});
    const BroadcastResult result = f.broadcaster.Broadcast(tx, "htlc-timeout");
    CHECK_FALSE(result.Ok());
    CHECK(result.send.status == SendResult::Status::Rejected);
    CHECK(result.send.code == rpc::RPC_VERIFY_REJECTED);
    CHECK(result.send.message == "non-final");
    // Kept, as a timelock may simply not be reached yet: resent at the next block.
    REQUIRE(f.broadcaster.Pending().size() == 1);
    CHECK(f.broadcaster.Pending()[0].label == "htlc-timeout");
    f.chain.MineEmpty(1);
    f.follower.Sync();
    CHECK(f.SentCount(tx.GetTxid()) == 2);

    CHECK(f.broadcaster.Cancel(tx.GetTxid()));
    CHECK(f.broadcaster.Pending().empty());
    f.chain.MineEmpty(1);
    f.follower.Sync();
    CHECK(f.SentCount(tx.GetTxid()) == 2);
}

TEST_CASE("broadcaster: rebroadcasts at every block until confirmed, again after a reorg")
{
    Fixture f;
    const Transaction tx = MakeTx({});
    const Hash256 txid = tx.GetTxid();
    CHECK(f.broadcaster.Broadcast(tx, "commitment").Ok());
    CHECK(f.chain.InMempool(txid));

    f.chain.RemoveFromMempool(txid); // evicted
    f.chain.MineEmpty(1);
    f.follower.Sync();
    CHECK(f.SentCount(txid) == 2);
    CHECK(f.chain.InMempool(txid));

    f.chain.Mine(); // confirms it
    f.follower.Sync();
    CHECK(f.SentCount(txid) == 2);
    REQUIRE(f.broadcaster.Pending().size() == 1);
    CHECK(f.broadcaster.Pending()[0].confirmed);
    f.chain.MineEmpty(1);
    f.follower.Sync();
    CHECK(f.SentCount(txid) == 2);

    f.chain.Disconnect(2, true); // reorged out and gone from the mempool
    f.chain.MineEmpty(3);
    f.follower.Sync();
    CHECK(f.SentCount(txid) == 3);
    CHECK_FALSE(f.broadcaster.Pending()[0].confirmed);

    f.chain.Mine();
    f.chain.MineEmpty(2);
    f.follower.Sync();
    // Three deep: forgotten.
    CHECK(f.broadcaster.Pending().empty());
    CHECK(f.watches.WatchCount() == 0);
}

TEST_CASE("broadcaster: node down at broadcast time: sent at the next block")
{
    Fixture f;
    const Transaction tx = MakeTx({});
    f.chain.SetDown(true);
    const BroadcastResult result = f.broadcaster.Broadcast(tx, "closing");
    CHECK(result.node_unreachable);
    CHECK_FALSE(result.Ok());
    f.chain.SetDown(false);
    f.chain.MineEmpty(1);
    f.follower.Sync();
    CHECK(f.chain.InMempool(tx.GetTxid()));
}

TEST_CASE("broadcaster: send once")
{
    Fixture f;
    const Transaction tx = MakeTx({});
    CHECK(f.broadcaster.Broadcast(tx, "probe", Rebroadcast::NEVER).Ok());
    CHECK(f.broadcaster.Pending().empty());
    f.chain.RemoveFromMempool(tx.GetTxid());
    f.chain.MineEmpty(1);
    f.follower.Sync();
    CHECK(f.SentCount(tx.GetTxid()) == 1);
}

TEST_CASE("fees: BTC/kvB from the node becomes sat/kw")
{
    // 0.00012345 BTC/kvB = 12345 sat/kvB = 3086.25 sat/kw, rounded down.
    CHECK(SatPerKvbToSatPerKw(rpc::BtcToSat(0.00012345)) == 3086);
    CHECK(SatPerKvbToSatPerKw(1000) == 250);
    CHECK(SatPerKvbToSatPerKw(1012) == 253);
    CHECK(SatPerKvbToSatPerKw(0) == 0);
    CHECK(SatPerKvbToSatPerKw(-1) == 0);
    CHECK(SatPerKvbToSatPerKw(int64_t{1} << 40) == UINT32_MAX);
}

TEST_CASE("fees: floor, fallback and per-block cache")
{
    FakeChain chain;
    FeeEstimator fees{chain};
    // Regtest has no estimate: the BOLT floor.
    Feerate rate = fees.Estimate(6);
    CHECK(rate.per_kw == FEERATE_FLOOR);
    CHECK_FALSE(rate.estimated);

    chain.SetFeeEstimate(1000); // 250 sat/kw: below the floor
    CHECK(fees.Estimate(6).per_kw == FEERATE_FLOOR); // cached until the next block
    fees.OnTipChanged({});
    rate = fees.Estimate(6);
    CHECK(rate.per_kw == FEERATE_FLOOR);
    CHECK(rate.estimated);

    chain.SetFeeEstimate(20000);
    fees.OnTipChanged({});
    CHECK(fees.Estimate(6).per_kw == 5000);
    chain.SetDown(true);
    fees.OnTipChanged({});
    CHECK(fees.Estimate(6).per_kw == 5000); // last known answer
    CHECK(fees.Estimate(2).per_kw == FEERATE_FLOOR);

    FeeEstimator with_fallback{chain, FeeConfig{300, 2000}};
    CHECK(with_fallback.Estimate(6).per_kw == 2000);
    chain.SetDown(false);
    chain.SetFeeEstimate(std::nullopt);
    CHECK(with_fallback.Estimate(6).per_kw == 2000);
    chain.SetFeeEstimate(1000);
    with_fallback.OnTipChanged({});
    CHECK(with_fallback.Estimate(6).per_kw == 300);
}

TEST_CASE("fees: never below the mempool's floor, with headroom for rounding")
{
    CHECK(FloorPerKw(10'000) == 2525);
    CHECK(FloorPerKw(1'001) == 253);
    CHECK(FloorPerKw(0) == 0);
    FakeChain chain;
    FeeEstimator fees{chain};
    chain.SetMempoolMinFee(1000);
    CHECK(fees.MempoolFloor() == FEERATE_FLOOR);
    // The mempool fills up: its floor rises above the estimate, and is what we pay.
    chain.SetFeeEstimate(4000);
    chain.SetMempoolMinFee(10'000);
    fees.OnTipChanged({});
    CHECK(fees.MempoolFloor() == 2525);
    CHECK(fees.Estimate(6).per_kw == 2525);
    chain.SetMempoolMinFee(1000);
    CHECK(fees.MempoolFloor() == 2525); // cached until the next block
    fees.OnTipChanged({});
    CHECK(fees.Estimate(6).per_kw == 1000);
    chain.SetMempoolMinFee(20'000);
    fees.OnTipChanged({});
    CHECK(fees.MempoolFloor() == 5050);
    // bitcoind unreachable: its last answer.
    fees.OnTipChanged({});
    chain.SetDown(true);
    CHECK(fees.MempoolFloor() == 5050);
}

TEST_CASE("broadcaster: a child whose parent the mempool refused goes out with it as a package")
{
    Fixture f;
    const Transaction parent = MakeTx({});
    const Transaction child = MakeTx({{parent.GetTxid(), 0}});
    const Transaction stranger_child = MakeTx({{MakeTx({}).GetTxid(), 0}});
    // A presigned parent below the mempool's floor; its child alone misses its input.
    f.chain.SetSendResult(parent.GetTxid(), {SendResult::Status::Rejected, rpc::RPC_VERIFY_REJECTED, "min relay fee not met"});
    f.chain.SetSendResult(child.GetTxid(), {SendResult::Status::Rejected, rpc::RPC_VERIFY_ERROR, "missing inputs"});
    f.chain.SetSendResult(stranger_child.GetTxid(), {SendResult::Status::Rejected, rpc::RPC_VERIFY_ERROR, "missing inputs"});
    CHECK_FALSE(f.broadcaster.Broadcast(parent, "commitment").Ok());
    const BroadcastResult result = f.broadcaster.Broadcast(child, "anchor child");
    CHECK(result.Ok());
    REQUIRE(f.chain.Packages().size() == 1);
    CHECK(f.chain.Packages()[0] == std::vector<Hash256>{parent.GetTxid(), child.GetTxid()});
    CHECK(f.chain.InMempool(parent.GetTxid()));
    // A missing input that is none of ours: no package.
    CHECK_FALSE(f.broadcaster.Broadcast(stranger_child, "other").Ok());
    CHECK(f.chain.Packages().size() == 1);
    // At the next block both are resent, the child again with its parent.
    f.chain.MineEmpty(1);
    f.follower.Sync();
    CHECK(f.chain.Packages().size() == 2);
}

namespace {

//! Channel-like code that answers a spend seen in a block with a broadcast of its own.
class PenaltyListener : public WatchListener
{
public:
    PenaltyListener(Broadcaster& broadcaster, Transaction penalty)
        : m_broadcaster{broadcaster}, m_penalty{std::move(penalty)}
    {
    }
    bool fail{false};
    void OnWatchEvent(store::WriteTxn& txn, const WatchEvent& event) override
    {
        if (!std::holds_alternative<OutpointSpent>(event)) return;
        m_broadcaster.Broadcast(txn, m_penalty, "penalty");
        if (fail) throw std::runtime_error("listener failure");
    }

private:
    Broadcaster& m_broadcaster;
    Transaction m_penalty;
};

} // namespace

TEST_CASE("broadcaster: from inside a listener, sent only once the transaction committed")
{
    Fixture f;
    const Transaction funding = MakeTx({});
    f.chain.Mine({funding});
    f.follower.Sync();
    const OutPoint outpoint{funding.GetTxid(), 0};
    const Transaction revoked = MakeTx({outpoint}, 2);
    const Transaction penalty = MakeTx({OutPoint{revoked.GetTxid(), 0}});
    PenaltyListener listener{f.broadcaster, penalty};
    f.watches.AddListener("chan/", listener);
    f.watches.WatchOutpoint(outpoint, "chan/1");

    // In the mempool: queued, and sent by SendQueued once committed.
    listener.fail = true;
    CHECK_THROWS(f.watches.ProcessMempoolTx(revoked, revoked.GetTxid()));
    f.broadcaster.SendQueued();
    CHECK(f.SentCount(penalty.GetTxid()) == 0); // aborted: never sent
    CHECK(f.broadcaster.Pending().empty());

    listener.fail = false;
    f.watches.ProcessMempoolTx(revoked, revoked.GetTxid());
    f.broadcaster.SendQueued();
    CHECK(f.SentCount(penalty.GetTxid()) == 1);
    CHECK(f.chain.InMempool(penalty.GetTxid()));
}
