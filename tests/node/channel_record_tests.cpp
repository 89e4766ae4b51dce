#include "node/channel_record.h"
#include "node/closed_channel.h"

#include "tests/channel/machine_fixture.h"

#include <doctest/doctest.h>

#include <algorithm>

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

//! The peer's announcement_signatures as a record keeps them: two real signatures.
EndpointSignatures SampleAnnouncementSigs()
{
    const PrivKey node_key = *PrivKey::FromBytes(Bytes(32, 0x31));
    const PrivKey funding_key = *PrivKey::FromBytes(Bytes(32, 0x32));
    const Hash256 digest = Sha256(Bytes{'a', 'n', 'n'});
    return EndpointSignatures{node_key.Sign(digest), funding_key.Sign(digest)};
}

TEST_CASE("channel record keeps the peer's announcement signatures (record version 2)")
{
    ChannelRecord record = SampleRecord();
    record.remote_announcement_sigs = SampleAnnouncementSigs();
    const Bytes encoded = SerializeChannelRecord(record);
    CHECK(encoded[0] == 2);
    const auto decoded = DeserializeChannelRecord(encoded);
    REQUIRE(decoded);
    CheckEqual(*decoded, record);
    CHECK(decoded->remote_announcement_sigs == record.remote_announcement_sigs);
    // Unset, only the presence byte is written (the two signatures are 128 bytes).
    const Bytes without = SerializeChannelRecord(SampleRecord());
    CHECK(without.size() + 128 == encoded.size());
    const auto decoded_without = DeserializeChannelRecord(without);
    REQUIRE(decoded_without);
    CHECK_FALSE(decoded_without->remote_announcement_sigs);
}

TEST_CASE("channel record of version 1, written before announcement signatures, still reads")
{
    // Version 1 ended after `failure`: no presence byte for the signatures.
    Bytes v1 = SerializeChannelRecord(SampleRecord());
    REQUIRE(v1.back() == 0);
    v1[0] = 1;
    v1.pop_back();
    const auto decoded = DeserializeChannelRecord(v1);
    REQUIRE(decoded);
    CheckEqual(*decoded, SampleRecord());
    CHECK_FALSE(decoded->remote_announcement_sigs);
    // Written again, it becomes version 2.
    CHECK(SerializeChannelRecord(*decoded) == SerializeChannelRecord(SampleRecord()));
    // A version 1 record carries nothing after `failure`: the presence byte there is refused.
    Bytes v1_with_byte = SerializeChannelRecord(SampleRecord());
    v1_with_byte[0] = 1;
    CHECK_FALSE(DeserializeChannelRecord(v1_with_byte));
    for (size_t size = 0; size < v1.size(); size += 7) {
        CHECK_FALSE(DeserializeChannelRecord(ByteSpan(v1).first(size)));
    }
}

TEST_CASE("channel record with a truncated or invalid announcement signature is refused")
{
    ChannelRecord record = SampleRecord();
    record.remote_announcement_sigs = SampleAnnouncementSigs();
    const Bytes good = SerializeChannelRecord(record);
    // Cut anywhere in the presence byte or the two signatures: never half-read.
    for (size_t cut = 1; cut <= 1 + 128; ++cut) {
        CAPTURE(cut);
        CHECK_FALSE(DeserializeChannelRecord(ByteSpan(good).first(good.size() - cut)));
    }
    // r of the bitcoin signature at or above the group order: not a signature.
    Bytes overflow = good;
    std::fill(overflow.end() - 64, overflow.end() - 32, 0xff);
    CHECK_FALSE(DeserializeChannelRecord(overflow));
    Bytes node_overflow = good;
    std::fill(node_overflow.end() - 128, node_overflow.end() - 96, 0xff);
    CHECK_FALSE(DeserializeChannelRecord(node_overflow));
}

TEST_CASE("phase names are what listchannels prints")
{
    CHECK(ChannelPhaseName(ChannelPhase::AWAITING_LOCKIN) == "awaiting_lockin");
    CHECK(ChannelPhaseName(ChannelPhase::NORMAL) == "normal");
    CHECK(ChannelPhaseName(ChannelPhase::CLOSED) == "closed");
}

TEST_CASE("a closed channel round-trips and damage is refused")
{
    const auto pair = test::MakeChannelPair();
    ClosedChannel closed{pair.signers[1].FundingPubKey()};
    closed.channel_id = Sha256(Bytes{'c'});
    closed.opener = true;
    closed.capacity = Sat{400'000};
    closed.funding_outpoint = {Sha256(Bytes{'f'}), 1};
    closed.short_channel_id = ShortChannelId{103, 1, 1}.ToU64();
    closed.close_kind = "revoked_remote_commitment";
    closed.spend_txid = Sha256(Bytes{'s'});
    closed.spend_height = 200;
    closed.resolved_height = 206;
    closed.archived_height = 305;
    closed.our_txids = {Sha256(Bytes{'p'}), Sha256(Bytes{'r'})};
    closed.returned = Sat{249'000};
    const Bytes encoded = EncodeClosedChannel(closed);
    CHECK(DecodeClosedChannel(encoded) == closed);
    ClosedChannel mutual = closed;
    mutual.short_channel_id.reset();
    mutual.returned.reset();
    mutual.our_txids.clear();
    CHECK(DecodeClosedChannel(EncodeClosedChannel(mutual)) == mutual);
    for (size_t cut = 0; cut < encoded.size(); ++cut) {
        CAPTURE(cut);
        CHECK_FALSE(DecodeClosedChannel(ByteSpan(encoded.data(), cut)));
    }
    Bytes longer = encoded;
    longer.push_back(0);
    CHECK_FALSE(DecodeClosedChannel(longer));
    Bytes version = encoded;
    version[0] = 2;
    CHECK_FALSE(DecodeClosedChannel(version));
    Bytes bad_peer = encoded;
    bad_peer[1 + 32] = 0x05;
    CHECK_FALSE(DecodeClosedChannel(bad_peer));
    ClosedChannel too_much = closed;
    too_much.returned = Sat{kMaxMoney.value() + 1};
    CHECK_FALSE(DecodeClosedChannel(EncodeClosedChannel(too_much)));
}

} // namespace sidebolt
