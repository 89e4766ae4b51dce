#include "node/channel_record.h"

#include "tests/channel/machine_fixture.h"

#include <doctest/doctest.h>

namespace sidebolt {
namespace {

ChannelRecord SampleRecord()
{
    const auto pair = test::MakeChannelPair();
    ChannelRecord record{pair.signers[1].FundingPubKey()};
    record.channel_index = 7;
    record.phase = ChannelPhase::SHUTTING_DOWN;
    record.opener = true;
    record.channel_id = pair.states[0].setup.channel_id;
    record.temporary_channel_id = Sha256(Bytes{'t'});
    record.state = pair.states[0];
    record.funding_tx = Bytes{1, 2, 3};
    record.locked_inputs = {OutPoint{Sha256(Bytes{'i'}), 3}};
    record.created_height = 101;
    record.funding_height = 105;
    record.funding_tx_index = 2;
    record.local_ready_sent = true;
    record.remote_ready_received = true;
    record.local_shutdown_script = Bytes{0x00, 0x14, 0xaa};
    record.closing_tx = Bytes{9, 9};
    record.spending_txid = Sha256(Bytes{'s'});
    record.spend_height = 110;
    record.failure = "why";
    return record;
}

void CheckEqual(const ChannelRecord& a, const ChannelRecord& b)
{
    CHECK(a.peer == b.peer);
    CHECK(a.channel_index == b.channel_index);
    CHECK(a.phase == b.phase);
    CHECK(a.opener == b.opener);
    CHECK(a.channel_id == b.channel_id);
    CHECK(a.temporary_channel_id == b.temporary_channel_id);
    CHECK(a.state == b.state);
    CHECK(a.funding_tx == b.funding_tx);
    CHECK(a.locked_inputs == b.locked_inputs);
    CHECK(a.created_height == b.created_height);
    CHECK(a.funding_height == b.funding_height);
    CHECK(a.funding_tx_index == b.funding_tx_index);
    CHECK(a.local_ready_sent == b.local_ready_sent);
    CHECK(a.remote_ready_received == b.remote_ready_received);
    CHECK(a.local_shutdown_script == b.local_shutdown_script);
    CHECK(a.closing_tx == b.closing_tx);
    CHECK(a.spending_txid == b.spending_txid);
    CHECK(a.spend_height == b.spend_height);
    CHECK(a.failure == b.failure);
}

} // namespace

TEST_CASE("channel record round trip, with every optional field set and unset")
{
    const ChannelRecord full = SampleRecord();
    const auto decoded = DeserializeChannelRecord(SerializeChannelRecord(full));
    REQUIRE(decoded);
    CheckEqual(*decoded, full);

    ChannelRecord opening{full.peer};
    opening.phase = ChannelPhase::AWAITING_FUNDING_SIGNED;
    opening.funding_tx = Bytes{5};
    const auto decoded_opening = DeserializeChannelRecord(SerializeChannelRecord(opening));
    REQUIRE(decoded_opening);
    CheckEqual(*decoded_opening, opening);
}

TEST_CASE("corrupt channel records are refused, never half-read")
{
    const Bytes good = SerializeChannelRecord(SampleRecord());
    // Every truncation fails (the store must never hand a partial channel to the worker).
    for (size_t size = 0; size < good.size(); size += 7) {
        CHECK_FALSE(DeserializeChannelRecord(ByteSpan(good).first(size)));
    }
    Bytes trailing = good;
    trailing.push_back(0);
    CHECK_FALSE(DeserializeChannelRecord(trailing));
    Bytes version = good;
    version[0] = 99;
    CHECK_FALSE(DeserializeChannelRecord(version));
    Bytes phase = good;
    phase[1 + 33 + 8] = 42; // after version, peer, channel_index
    CHECK_FALSE(DeserializeChannelRecord(phase));
    Bytes peer = good;
    peer[1] = 0x05; // not a compressed point prefix
    CHECK_FALSE(DeserializeChannelRecord(peer));

    // A lock-in phase without channel state cannot be acted on: refused.
    ChannelRecord stateless{SampleRecord().peer};
    stateless.phase = ChannelPhase::NORMAL;
    CHECK_FALSE(DeserializeChannelRecord(SerializeChannelRecord(stateless)));
}

TEST_CASE("phase names are what listchannels prints")
{
    CHECK(ChannelPhaseName(ChannelPhase::AWAITING_LOCKIN) == "awaiting_lockin");
    CHECK(ChannelPhaseName(ChannelPhase::NORMAL) == "normal");
    CHECK(ChannelPhaseName(ChannelPhase::CLOSED) == "closed");
}

} // namespace sidebolt
