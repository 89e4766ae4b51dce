#include "chain/follower.h"

#include "fake_chain.h"
#include "recorders.h"

#include <doctest/doctest.h>

#include <memory>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {

//! A store, a fake node at height `height`, and a follower with a block recorder.
struct Fixture {
    explicit Fixture(int height = 10, FollowerConfig config = {}) : m_config{config}
    {
        chain.MineEmpty(height);
        Restart();
    }
    //! A new follower over the same store, as after a daemon restart.
    void Restart()
    {
        follower.reset();
        follower = std::make_unique<ChainFollower>(chain, env, m_config);
        follower->AddListener(recorder);
    }
    std::vector<RecordedBlock> Connected(int from, int to)
    {
        std::vector<RecordedBlock> blocks;
        for (int h = from; h <= to; ++h) blocks.push_back({true, h, chain.HashAt(h)});
        return blocks;
    }

    FollowerConfig m_config;
    ScratchDir dir;
    store::Env env{dir.Path(), TestEnvOptions()};
    FakeChain chain;
    BlockRecorder recorder;
    std::unique_ptr<ChainFollower> follower;
};

} // namespace

TEST_CASE("follower: a fresh store starts at the node's tip without replaying history")
{
    Fixture f{10};
    CHECK(f.follower->Sync());
    CHECK(f.recorder.Take().empty());
    const FollowerStatus status = f.follower->Status();
    CHECK(status.tip == BlockRef{10, f.chain.HashAt(10)});
    CHECK(status.synced);
    CHECK(status.source_reachable);
    CHECK(status.source_height == 10);
    CHECK(status.last_error.empty());
}

TEST_CASE("follower: follows a linear chain block by block, in order")
{
    Fixture f{10};
    f.follower->Sync();
    f.chain.MineEmpty(1);
    f.follower->Sync();
    f.chain.MineEmpty(3);
    f.follower->Sync();
    CHECK(f.recorder.Take() == f.Connected(11, 14));
    CHECK(f.follower->Status().tip == BlockRef{14, f.chain.Tip()});

    const auto events = f.follower->RecentEvents();
    REQUIRE(events.size() == 4);
    CHECK(events.front().type == ChainEventType::CONNECTED);
    CHECK(events.front().height == 11);
    CHECK(events.back().hash == f.chain.Tip());
}

TEST_CASE("follower: a configured start height replays from there")
{
    FollowerConfig config;
    config.start_height = 5;
    Fixture f{10, config};
    f.follower->Sync();
    CHECK(f.recorder.Take() == f.Connected(5, 10));

    SUBCASE("from genesis")
    {
        FollowerConfig from_genesis;
        from_genesis.start_height = 0;
        Fixture g{3, from_genesis};
        g.follower->Sync();
        CHECK(g.recorder.Take() == g.Connected(0, 3));
    }
}

TEST_CASE("follower: a reorg of 3 replaced by 4 disconnects newest first, then connects oldest first")
{
    Fixture f{10};
    f.follower->Sync();
    f.chain.MineEmpty(5);
    f.follower->Sync();
    f.recorder.Take();
    const Hash256 old13 = f.chain.HashAt(13), old14 = f.chain.HashAt(14), old15 = f.chain.HashAt(15);

    f.chain.Disconnect(3);
    f.chain.MineEmpty(4);
    CHECK(f.follower->Sync());

    std::vector<RecordedBlock> expected{{false, 15, old15}, {false, 14, old14}, {false, 13, old13}};
    for (const auto& block : f.Connected(13, 16)) expected.push_back(block);
    CHECK(f.recorder.Take() == expected);
    CHECK(f.follower->Status().tip == BlockRef{16, f.chain.Tip()});

    const auto events = f.follower->RecentEvents();
    REQUIRE(events.size() == 5 + 7);
    CHECK(events[5].type == ChainEventType::DISCONNECTED);
    CHECK(events[5].height == 15);
}

TEST_CASE("follower: the node switching to a shorter chain disconnects down to it")
{
    Fixture f{10};
    f.follower->Sync();
    f.chain.MineEmpty(3);
    f.follower->Sync();
    f.recorder.Take();
    const Hash256 old13 = f.chain.HashAt(13), old12 = f.chain.HashAt(12);
    f.chain.Disconnect(2);
    f.follower->Sync();
    CHECK(f.recorder.Take() == std::vector<RecordedBlock>{{false, 13, old13}, {false, 12, old12}});
    CHECK(f.follower->Status().tip == BlockRef{11, f.chain.Tip()});
}

TEST_CASE("follower: a reorg deeper than the kept history stops with a clear error")
{
    FollowerConfig config;
    config.history_depth = 5;
    Fixture f{10, config};
    f.follower->Sync();
    f.chain.MineEmpty(10);
    f.follower->Sync();
    f.recorder.Take();
    const BlockRef tip = f.follower->Status().tip;

    f.chain.Disconnect(7);
    f.chain.MineEmpty(8);
    CHECK_THROWS_AS(f.follower->Sync(), ReorgTooDeepError);
    const FollowerStatus status = f.follower->Status();
    CHECK_FALSE(status.synced);
    CHECK(status.source_reachable);
    CHECK(status.last_error.find("reorg deeper") != std::string::npos);
    // Nothing was disconnected on a guess.
    CHECK(status.tip == tip);
    CHECK(f.recorder.Take().empty());
}

TEST_CASE("follower: a reorg within the kept history but below the start is not delivered")
{
    Fixture f{10};
    f.follower->Sync(); // birth at 11: blocks up to 10 were never delivered
    f.chain.Disconnect(2);
    f.chain.MineEmpty(4);
    f.follower->Sync();
    CHECK(f.recorder.Take() == f.Connected(11, 12));
}

TEST_CASE("follower: after a restart it catches up on every missed block, in order")
{
    Fixture f{10};
    f.follower->Sync();
    f.follower.reset(); // stopped
    f.chain.MineEmpty(20);
    f.Restart();
    CHECK(f.follower->Status().tip.height == 10); // loaded from the store
    CHECK(f.follower->Sync());
    CHECK(f.recorder.Take() == f.Connected(11, 30));
}

TEST_CASE("follower: a long catch-up proceeds in bounded steps")
{
    FollowerConfig config;
    config.max_blocks_per_step = 7;
    Fixture f{5, config};
    f.follower->Sync();
    f.chain.MineEmpty(30);
    CHECK(f.follower->Sync());
    CHECK(f.recorder.Take() == f.Connected(6, 35));
}

TEST_CASE("follower: a restart in the middle of a reorg finishes it")
{
    Fixture f{10};
    f.follower->Sync();
    f.chain.MineEmpty(4);
    f.follower->Sync();
    f.recorder.Take();
    const Hash256 old14 = f.chain.HashAt(14), old13 = f.chain.HashAt(13), old12 = f.chain.HashAt(12);
    f.chain.Disconnect(3);
    f.chain.MineEmpty(3);
    f.recorder.fail_at_height = 12; // dies while connecting the first new block
    CHECK_THROWS(f.follower->Sync());
    CHECK(f.recorder.Take() == std::vector<RecordedBlock>{{false, 14, old14}, {false, 13, old13}, {false, 12, old12}});
    f.Restart();
    CHECK(f.follower->Status().tip == BlockRef{11, f.chain.HashAt(11)});
    f.follower->Sync();
    CHECK(f.recorder.Take() == f.Connected(12, 14));
}

TEST_CASE("follower: the node down then up: unsynced meanwhile, nothing skipped")
{
    Fixture f{10};
    f.follower->Sync();
    f.chain.SetDown(true);
    CHECK_THROWS_AS(f.follower->Sync(), ChainSourceUnavailable);
    FollowerStatus status = f.follower->Status();
    CHECK_FALSE(status.synced);
    CHECK_FALSE(status.source_reachable);
    CHECK(status.last_error.find("unreachable") != std::string::npos);

    f.chain.SetDown(false);
    f.chain.MineEmpty(3);
    CHECK(f.follower->Sync());
    status = f.follower->Status();
    CHECK(status.synced);
    CHECK(status.last_error.empty());
    CHECK(f.recorder.Take() == f.Connected(11, 13));
}

TEST_CASE("follower: a listener failing in a block leaves it unprocessed; it is delivered again")
{
    Fixture f{10};
    f.follower->Sync();
    f.chain.MineEmpty(3);
    f.recorder.fail_at_height = 12;
    CHECK_THROWS(f.follower->Sync());
    CHECK(f.recorder.Take() == f.Connected(11, 11));
    CHECK(f.follower->Status().tip.height == 11);
    CHECK(f.follower->Status().last_error == "listener failure");

    SUBCASE("after a restart")
    {
        f.Restart();
        CHECK(f.follower->Sync());
        CHECK(f.recorder.Take() == f.Connected(12, 13));
    }
    SUBCASE("on the next sync")
    {
        CHECK(f.follower->Sync());
        CHECK(f.recorder.Take() == f.Connected(12, 13));
    }
}

TEST_CASE("follower: the event ring is bounded")
{
    FollowerConfig config;
    config.event_ring_size = 4;
    Fixture f{2, config};
    f.follower->Sync();
    f.chain.MineEmpty(10);
    f.follower->Sync();
    const auto events = f.follower->RecentEvents();
    REQUIRE(events.size() == 4);
    CHECK(events.front().height == 9);
    CHECK(events.back().height == 12);
}

TEST_CASE("follower: a stop request ends a sync between blocks")
{
    Fixture f{2};
    f.follower->Sync();
    f.chain.MineEmpty(5);
    std::stop_source stop;
    stop.request_stop();
    CHECK_FALSE(f.follower->Sync(stop.get_token()));
    CHECK(f.follower->Sync());
    CHECK(f.recorder.Take() == f.Connected(3, 7));
}
