// NetworkView's BOLT 7 receiving rules: every accept and reject path of channel_announcement,
// channel_update and node_announcement, updates and node announcements held for channels not
// known yet, removal and stale pruning.
#include "gossip/network_view.h"

#include "gossip/checksum.h"
#include "gossip/signatures.h"
#include "gossip_fixtures.h"
#include "wire/features.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {

Bytes FeatureWithBit(size_t bit)
{
    FeatureBits bits;
    bits.Set(bit);
    return bits.ToWire();
}

struct ViewFixture {
    NetworkView view{TestChain()};
    TestNode a = NodeOf(1);
    TestNode b = NodeOf(2);
    TestNode c = NodeOf(3);
    ShortChannelId ab{700'000, 1, 0};
    ShortChannelId bc{700'001, 2, 1};
    Sat capacity{1'000'000};

    std::vector<Bytes> Add(const TestNode& x, const TestNode& y, ShortChannelId scid, uint32_t now = kNow)
    {
        const ChannelAnnouncementMessage announcement = SignedAnnouncement(x, y, scid);
        const Bytes payload = PayloadOf(announcement);
        REQUIRE(view.CheckChannelAnnouncement(announcement, payload).outcome == GossipOutcome::kAccepted);
        return view.AddChannel(announcement, payload, capacity, now);
    }
    GossipResult Check(const ChannelAnnouncementMessage& announcement)
    {
        return view.CheckChannelAnnouncement(announcement, PayloadOf(announcement));
    }
    GossipResult Update(const ChannelUpdateMessage& update, uint32_t now = kNow)
    {
        return view.ApplyChannelUpdate(update, PayloadOf(update), now);
    }
    GossipResult Announce(const NodeAnnouncementMessage& announcement)
    {
        return view.ApplyNodeAnnouncement(announcement, PayloadOf(announcement));
    }
    //! The update of node_id_1 (direction 0) or node_id_2 (1) of channel a-b.
    ChannelUpdateMessage AbUpdate(int direction, const UpdateTerms& terms = {})
    {
        const TestNode& signer = direction == 0 ? First(a, b) : Second(a, b);
        return SignedUpdate(signer.node_key, ab, direction, terms);
    }
};

UpdateTerms At(uint32_t timestamp)
{
    UpdateTerms terms;
    terms.timestamp = timestamp;
    return terms;
}

} // namespace

TEST_CASE_FIXTURE(ViewFixture, "channel_announcement: accepted, stored, duplicate, conflicting")
{
    const ChannelAnnouncementMessage announcement = SignedAnnouncement(a, b, ab, {}, {0x01, 0x02});
    const Bytes payload = PayloadOf(announcement);
    CHECK(view.CheckChannelAnnouncement(announcement, payload) == GossipResult{GossipOutcome::kAccepted, ""});
    // Checking stores nothing: the node looks up the funding output first.
    CHECK(view.Channel(ab) == nullptr);
    CHECK(view.AddChannel(announcement, payload, capacity, kNow).empty());

    const ChannelEntry* channel = view.Channel(ab);
    REQUIRE(channel != nullptr);
    CHECK(channel->announcement == announcement);
    CHECK(std::ranges::equal(channel->Payload(), payload));
    CHECK(channel->message == Encoded(announcement));
    CHECK(channel->capacity == capacity);
    CHECK(channel->BlockHeight() == 700'000);
    CHECK(channel->added_at == kNow);
    CHECK_FALSE(channel->halves[0]);
    CHECK_FALSE(channel->halves[1]);
    CHECK(channel->NodeId(0) == First(a, b).Id());
    CHECK(view.ChannelCount() == 1);
    CHECK(view.NodeCount() == 2);
    REQUIRE(view.Node(a.Id()) != nullptr);
    CHECK(view.Node(a.Id())->channels == std::set<ShortChannelId>{ab});
    CHECK_FALSE(view.Node(a.Id())->announcement);
    CHECK(view.Node(c.Id()) == nullptr);

    // "already known scid with the same content": a duplicate, even with malleated signatures.
    CHECK(view.CheckChannelAnnouncement(announcement, payload).outcome == GossipOutcome::kDuplicate);
    ChannelAnnouncementMessage malleated = announcement;
    malleated.node_signature_1 = Malleate(malleated.node_signature_1);
    CHECK(malleated.node_signature_1 != announcement.node_signature_1);
    CHECK(Check(malleated).outcome == GossipOutcome::kDuplicate);
    CHECK(view.AddChannel(announcement, payload, Sat{5}, kNow + 1).empty());
    CHECK(view.Channel(ab)->capacity == capacity);

    // A different announcement of the same short_channel_id is refused.
    const GossipResult other_nodes = Check(SignedAnnouncement(a, c, ab));
    CHECK(other_nodes.outcome == GossipOutcome::kRejected);
    CHECK(other_nodes.reason.find("conflicts") != std::string::npos);
    CHECK(Check(SignedAnnouncement(a, b, ab, {}, {0x01})).outcome == GossipOutcome::kRejected);
}

TEST_CASE_FIXTURE(ViewFixture, "channel_announcement: ignored or rejected before it is stored")
{
    SUBCASE("another chain is ignored")
    {
        const auto result = Check(SignedAnnouncement(a, b, ab, {}, {}, ChainHash(Network::Mainnet)));
        CHECK(result == GossipResult{GossipOutcome::kIgnored, "unknown chain_hash"});
    }
    SUBCASE("node ids out of order are rejected")
    {
        // Correctly signed, but node_id_1 is the greater key.
        ChannelAnnouncementMessage announcement = SignedAnnouncement(a, b, ab);
        std::swap(announcement.node_id_1, announcement.node_id_2);
        std::swap(announcement.bitcoin_key_1, announcement.bitcoin_key_2);
        const TestNode& one = Second(a, b);
        const TestNode& two = First(a, b);
        const Hash256 digest = AnnouncementDigest(announcement);
        announcement.node_signature_1 = one.node_key.Sign(digest);
        announcement.node_signature_2 = two.node_key.Sign(digest);
        announcement.bitcoin_signature_1 = one.funding_key.Sign(digest);
        announcement.bitcoin_signature_2 = two.funding_key.Sign(digest);
        REQUIRE(VerifyChannelAnnouncement(announcement, PayloadOf(announcement)));
        const GossipResult result = Check(announcement);
        CHECK(result.outcome == GossipOutcome::kRejected);
        CHECK(result.reason == "node_id_1 is not lesser than node_id_2");
    }
    SUBCASE("a channel with itself is rejected")
    {
        CHECK(Check(SignedAnnouncement(a, a, ab)).outcome == GossipOutcome::kRejected);
    }
    SUBCASE("an unknown even feature is ignored, an odd one is fine")
    {
        const GossipResult even = Check(SignedAnnouncement(a, b, ab, FeatureWithBit(100)));
        CHECK(even == GossipResult{GossipOutcome::kIgnored, "unknown even feature bit 100"});
        // No BOLT 9 feature has the channel_announcement context: a known even bit is unknown here.
        CHECK(Check(SignedAnnouncement(a, b, ab, FeatureWithBit(RequiredBit(Feature::kAnchors)))).outcome ==
              GossipOutcome::kIgnored);
        CHECK(Check(SignedAnnouncement(a, b, ab, FeatureWithBit(101))).outcome == GossipOutcome::kAccepted);
    }
    SUBCASE("a bad signature in each of the four places is rejected")
    {
        const ChannelAnnouncementMessage good = SignedAnnouncement(a, b, ab);
        const EcdsaSignature wrong = c.node_key.Sign(AnnouncementDigest(good));
        const std::pair<EcdsaSignature ChannelAnnouncementMessage::*, std::string> places[] = {
            {&ChannelAnnouncementMessage::node_signature_1, "bad node_signature_1"},
            {&ChannelAnnouncementMessage::node_signature_2, "bad node_signature_2"},
            {&ChannelAnnouncementMessage::bitcoin_signature_1, "bad bitcoin_signature_1"},
            {&ChannelAnnouncementMessage::bitcoin_signature_2, "bad bitcoin_signature_2"},
        };
        for (const auto& [field, reason] : places) {
            ChannelAnnouncementMessage bad = good;
            bad.*field = wrong;
            CHECK(Check(bad) == GossipResult{GossipOutcome::kRejected, reason});
        }
        // Signed payload tampered after signing: every signature fails, the first is named.
        const Bytes payload = PayloadOf(good);
        Bytes tampered = payload;
        tampered.back() ^= 0x80;
        CHECK(view.CheckChannelAnnouncement(good, tampered).outcome == GossipOutcome::kRejected);
    }
    CHECK(view.ChannelCount() == 0);
}

TEST_CASE_FIXTURE(ViewFixture, "channel_update: accepted, duplicate, stale, newer")
{
    Add(a, b, ab);
    const ChannelUpdateMessage first = AbUpdate(0, At(kNow - 100));
    CHECK(Update(first) == GossipResult{GossipOutcome::kAccepted, ""});
    const ChannelHalf* half = &*view.Channel(ab)->halves[0];
    CHECK(half->update == first);
    CHECK(half->message == Encoded(first));
    CHECK(half->checksum == ChannelUpdateChecksum(first));
    CHECK_FALSE(view.Channel(ab)->halves[1]);

    // The same bytes, or the same fields with a malleated signature: duplicates.
    CHECK(Update(first).outcome == GossipOutcome::kDuplicate);
    ChannelUpdateMessage malleated = first;
    malleated.signature = Malleate(first.signature);
    REQUIRE(malleated.signature != first.signature);
    CHECK(Update(malleated).outcome == GossipOutcome::kDuplicate);

    // Same timestamp, different parameters: the first stays.
    UpdateTerms changed = At(kNow - 100);
    changed.fee_base_msat = 7;
    CHECK(Update(AbUpdate(0, changed)) ==
          GossipResult{GossipOutcome::kIgnored, "same timestamp, different parameters"});
    CHECK(view.Channel(ab)->halves[0]->update == first);

    CHECK(Update(AbUpdate(0, At(kNow - 101))) == GossipResult{GossipOutcome::kStale, "older timestamp"});

    UpdateTerms newer = At(kNow - 50);
    newer.disabled = true;
    const ChannelUpdateMessage second = AbUpdate(0, newer);
    CHECK(Update(second).outcome == GossipOutcome::kAccepted);
    CHECK(view.Channel(ab)->halves[0]->update == second);
    CHECK(view.Channel(ab)->halves[0]->update.Disabled());

    // The other direction is independent.
    CHECK(Update(AbUpdate(1, At(kNow - 200))).outcome == GossipOutcome::kAccepted);
    CHECK(view.Channel(ab)->halves[1]->update.timestamp == kNow - 200);
    CHECK(view.Channel(ab)->halves[0]->update == second);
}

TEST_CASE_FIXTURE(ViewFixture, "channel_update: rejected and ignored")
{
    Add(a, b, ab);
    SUBCASE("signed by the other node of the channel")
    {
        const ChannelUpdateMessage wrong_direction = SignedUpdate(First(a, b).node_key, ab, 1);
        CHECK(Update(wrong_direction) == GossipResult{GossipOutcome::kRejected, "bad signature of node_id_2"});
        const ChannelUpdateMessage stranger = SignedUpdate(c.node_key, ab, 0);
        CHECK(Update(stranger) == GossipResult{GossipOutcome::kRejected, "bad signature of node_id_1"});
        // A signed byte changed after signing.
        const ChannelUpdateMessage good = AbUpdate(0);
        Bytes tampered = PayloadOf(good);
        tampered[110] ^= 0x01;
        CHECK(view.ApplyChannelUpdate(good, tampered, kNow).outcome == GossipOutcome::kRejected);
        // What we stored after checking it is loaded back trusted: the signature is not checked.
        CHECK(view.ApplyChannelUpdate(stranger, PayloadOf(stranger), kNow, GossipCheck::kTrusted).outcome ==
              GossipOutcome::kAccepted);
    }
    SUBCASE("another chain")
    {
        const ChannelUpdateMessage update = SignedUpdate(First(a, b).node_key, ab, 0, {}, ChainHash(Network::Signet));
        CHECK(Update(update) == GossipResult{GossipOutcome::kIgnored, "unknown chain_hash"});
    }
    SUBCASE("a timestamp more than a day ahead")
    {
        CHECK(Update(AbUpdate(0, At(kNow + kGossipMaxFutureSeconds + 1))) ==
              GossipResult{GossipOutcome::kIgnored, "timestamp too far in the future"});
        CHECK(Update(AbUpdate(0, At(kNow + kGossipMaxFutureSeconds))).outcome == GossipOutcome::kAccepted);
    }
    SUBCASE("a timestamp more than two weeks old")
    {
        CHECK(Update(AbUpdate(0, At(kNow - kGossipStaleSeconds - 1))) ==
              GossipResult{GossipOutcome::kIgnored, "timestamp older than two weeks"});
        CHECK(Update(AbUpdate(0, At(kNow - kGossipStaleSeconds))).outcome == GossipOutcome::kAccepted);
    }
    SUBCASE("htlc_maximum_msat above the capacity, or below htlc_minimum_msat")
    {
        UpdateTerms above;
        above.htlc_maximum_msat = ToMsat(capacity) + Msat{1};
        CHECK(Update(AbUpdate(0, above)) ==
              GossipResult{GossipOutcome::kIgnored, "htlc_maximum_msat above the channel capacity"});
        UpdateTerms inverted;
        inverted.htlc_minimum_msat = Msat{2000};
        inverted.htlc_maximum_msat = Msat{1999};
        CHECK(Update(AbUpdate(0, inverted)) ==
              GossipResult{GossipOutcome::kIgnored, "htlc_maximum_msat below htlc_minimum_msat"});
        CHECK_FALSE(view.Channel(ab)->halves[0]);
        UpdateTerms exact;
        exact.htlc_minimum_msat = ToMsat(capacity);
        exact.htlc_maximum_msat = ToMsat(capacity);
        CHECK(Update(AbUpdate(0, exact)).outcome == GossipOutcome::kAccepted);
    }
    SUBCASE("dont_forward updates are not gossip")
    {
        UpdateTerms private_update;
        private_update.message_flags = ChannelUpdateMessage::kMustBeOneFlag | 0x02;
        CHECK(Update(AbUpdate(0, private_update)) == GossipResult{GossipOutcome::kIgnored, "dont_forward set"});
    }
    SUBCASE("must_be_one is ignored by receivers")
    {
        UpdateTerms zero_flags;
        zero_flags.message_flags = 0;
        CHECK(Update(AbUpdate(0, zero_flags)).outcome == GossipOutcome::kAccepted);
    }
}

TEST_CASE_FIXTURE(ViewFixture, "channel_update for an unknown channel is held, then replayed")
{
    const ChannelUpdateMessage old_update = AbUpdate(0, At(kNow - 300));
    const ChannelUpdateMessage new_update = AbUpdate(0, At(kNow - 200));
    const ChannelUpdateMessage other_direction = AbUpdate(1, At(kNow - 250));
    const ChannelUpdateMessage forged = SignedUpdate(c.node_key, ab, 1, At(kNow - 100));

    CHECK(Update(new_update) == GossipResult{GossipOutcome::kPending, "unknown channel"});
    CHECK(Update(new_update).outcome == GossipOutcome::kPending);
    CHECK(view.PendingUpdateCount() == 1);
    CHECK(Update(old_update).outcome == GossipOutcome::kPending);
    CHECK(Update(other_direction).outcome == GossipOutcome::kPending);
    CHECK(view.PendingUpdateCount() == 3);
    // Far-future and wrong-chain updates are not even held.
    CHECK(Update(AbUpdate(0, At(kNow + 2 * kGossipMaxFutureSeconds))).outcome == GossipOutcome::kIgnored);
    CHECK(view.PendingUpdateCount() == 3);
    CHECK(Update(forged).outcome == GossipOutcome::kPending);
    CHECK(view.PendingUpdateCount() == 4);

    // The channel arrives: the newest valid update of each direction is stored and returned for
    // relay; the forged one is dropped.
    const std::vector<Bytes> replayed = Add(a, b, ab);
    CHECK(view.PendingUpdateCount() == 0);
    const ChannelEntry* channel = view.Channel(ab);
    REQUIRE(channel->halves[0]);
    REQUIRE(channel->halves[1]);
    CHECK(channel->halves[0]->update == new_update);
    CHECK(channel->halves[1]->update == other_direction);
    CHECK(replayed == std::vector<Bytes>{Encoded(new_update), Encoded(other_direction)});
}

TEST_CASE("held channel_updates are bounded per channel and in total")
{
    NetworkView view(TestChain(), NetworkViewLimits{.max_pending_updates = 3,
                                                    .max_pending_updates_per_channel = 2,
                                                    .max_pending_node_announcements = 1});
    const TestNode a = NodeOf(1);
    const TestNode b = NodeOf(2);
    const ShortChannelId x{600'000, 1, 0};
    const ShortChannelId y{600'001, 1, 0};
    const ShortChannelId z{600'002, 1, 0};
    const auto hold = [&](ShortChannelId scid, uint32_t timestamp) {
        const ChannelUpdateMessage update = SignedUpdate(First(a, b).node_key, scid, 0, At(timestamp));
        return view.ApplyChannelUpdate(update, PayloadOf(update), kNow).outcome;
    };
    CHECK(hold(x, kNow - 30) == GossipOutcome::kPending);
    CHECK(hold(x, kNow - 20) == GossipOutcome::kPending);
    // A third for x drops x's oldest.
    CHECK(hold(x, kNow - 10) == GossipOutcome::kPending);
    CHECK(view.PendingUpdateCount() == 2);
    CHECK(hold(y, kNow - 5) == GossipOutcome::kPending);
    CHECK(view.PendingUpdateCount() == 3);
    // Full: the oldest held of all (x at -20) goes.
    CHECK(hold(z, kNow - 1) == GossipOutcome::kPending);
    CHECK(view.PendingUpdateCount() == 3);

    const ChannelAnnouncementMessage announcement = SignedAnnouncement(a, b, x);
    const std::vector<Bytes> replayed = view.AddChannel(announcement, PayloadOf(announcement), Sat{1'000'000}, kNow);
    REQUIRE(replayed.size() == 1);
    CHECK(view.Channel(x)->halves[0]->update.timestamp == kNow - 10);
    CHECK(view.PendingUpdateCount() == 2);

    NetworkView no_room(TestChain(), NetworkViewLimits{.max_pending_updates = 0,
                                                       .max_pending_updates_per_channel = 2,
                                                       .max_pending_node_announcements = 0});
    const ChannelUpdateMessage update = SignedUpdate(a.node_key, x, 0);
    CHECK(no_room.ApplyChannelUpdate(update, PayloadOf(update), kNow) ==
          GossipResult{GossipOutcome::kIgnored, "unknown channel"});
    const NodeAnnouncementMessage node = SignedNodeAnnouncement(a, kNow);
    CHECK(no_room.ApplyNodeAnnouncement(node, PayloadOf(node)) ==
          GossipResult{GossipOutcome::kIgnored, "no known channel"});
}

TEST_CASE_FIXTURE(ViewFixture, "node_announcement: held without a channel, then rules")
{
    const NodeAnnouncementMessage early = SignedNodeAnnouncement(a, kNow - 100);
    CHECK(Announce(early) == GossipResult{GossipOutcome::kPending, "no known channel"});
    CHECK(view.PendingNodeAnnouncementCount() == 1);
    CHECK(view.Node(a.Id()) == nullptr);

    const std::vector<Bytes> replayed = Add(a, b, ab);
    CHECK(replayed == std::vector<Bytes>{Encoded(early)});
    CHECK(view.PendingNodeAnnouncementCount() == 0);
    REQUIRE(view.Node(a.Id())->announcement);
    CHECK(view.Node(a.Id())->announcement->announcement == early);
    CHECK(view.Node(a.Id())->announcement->message == Encoded(early));
    CHECK_FALSE(view.Node(a.Id())->announcement->unknown_required_features);

    CHECK(Announce(early).outcome == GossipOutcome::kDuplicate);
    CHECK(Announce(SignedNodeAnnouncement(a, kNow - 101)) == GossipResult{GossipOutcome::kStale, "timestamp not newer"});
    // Same timestamp, other content: not newer, so ignored.
    CHECK(Announce(SignedNodeAnnouncement(a, kNow - 100, {}, {}, "other")).outcome == GossipOutcome::kStale);

    const NodeAnnouncementMessage forged = SignNodeAnnouncement(SignedNodeAnnouncement(a, kNow), c.node_key);
    CHECK(Announce(forged) == GossipResult{GossipOutcome::kRejected, "bad signature"});
    CHECK(view.Node(a.Id())->announcement->announcement == early);

    // Unknown even features: kept and relayed, marked so routes avoid the node.
    const NodeAnnouncementMessage unknown_feature = SignedNodeAnnouncement(a, kNow - 50, FeatureWithBit(200));
    CHECK(Announce(unknown_feature).outcome == GossipOutcome::kAccepted);
    CHECK(view.Node(a.Id())->announcement->unknown_required_features);
    const NodeAnnouncementMessage known_features =
        SignedNodeAnnouncement(a, kNow - 40, FeatureWithBit(OptionalBit(Feature::kBasicMpp)));
    CHECK(Announce(known_features).outcome == GossipOutcome::kAccepted);
    CHECK_FALSE(view.Node(a.Id())->announcement->unknown_required_features);

    // An IPv4 descriptor cut short.
    const Bytes truncated{0x01, 127, 0, 0, 1, 0x26};
    CHECK(Announce(SignedNodeAnnouncement(a, kNow - 30, {}, truncated)).outcome == GossipOutcome::kRejected);
    const Bytes two_hostnames = NodeAnnouncementMessage::EncodeAddresses(
        {NodeAddress{NodeAddress::Type::kDns, {'a', '.', 'b'}, 9735},
         NodeAddress{NodeAddress::Type::kDns, {'c', '.', 'd'}, 9735}});
    CHECK(Announce(SignedNodeAnnouncement(a, kNow - 30, {}, two_hostnames)) ==
          GossipResult{GossipOutcome::kIgnored, "more than one DNS hostname"});
    const Bytes addresses = NodeAnnouncementMessage::EncodeAddresses(
        {NodeAddress{NodeAddress::Type::kIpv4, {10, 0, 0, 1}, 9735}, NodeAddress{NodeAddress::Type::kDns, {'a', '.', 'b'}, 9735}});
    CHECK(Announce(SignedNodeAnnouncement(a, kNow - 30, {}, addresses)).outcome == GossipOutcome::kAccepted);
    CHECK(view.Node(a.Id())->announcement->announcement.addresses == addresses);
}

TEST_CASE("held node_announcements: the newest per node, bounded")
{
    NetworkView view(TestChain(), NetworkViewLimits{.max_pending_updates = 10,
                                                    .max_pending_updates_per_channel = 2,
                                                    .max_pending_node_announcements = 2});
    const TestNode a = NodeOf(1);
    const TestNode b = NodeOf(2);
    const TestNode c = NodeOf(3);
    const auto announce = [&](const NodeAnnouncementMessage& message) {
        return view.ApplyNodeAnnouncement(message, PayloadOf(message)).outcome;
    };
    const NodeAnnouncementMessage a_new = SignedNodeAnnouncement(a, kNow);
    CHECK(announce(a_new) == GossipOutcome::kPending);
    CHECK(announce(SignedNodeAnnouncement(a, kNow - 1)) == GossipOutcome::kPending);
    CHECK(announce(SignedNodeAnnouncement(b, kNow)) == GossipOutcome::kPending);
    CHECK(view.PendingNodeAnnouncementCount() == 2);
    // Full: a's, the oldest held, is dropped for c's.
    CHECK(announce(SignedNodeAnnouncement(c, kNow)) == GossipOutcome::kPending);
    CHECK(view.PendingNodeAnnouncementCount() == 2);
    // A forged one is never held.
    CHECK(announce(SignNodeAnnouncement(SignedNodeAnnouncement(a, kNow + 5), c.node_key)) == GossipOutcome::kRejected);

    const ChannelAnnouncementMessage announcement = SignedAnnouncement(b, c, ShortChannelId{1, 1, 1});
    const std::vector<Bytes> replayed = view.AddChannel(announcement, PayloadOf(announcement), Sat{10'000}, kNow);
    CHECK(replayed.size() == 2);
    CHECK(view.Node(b.Id())->announcement);
    CHECK(view.Node(c.Id())->announcement);
    CHECK(view.PendingNodeAnnouncementCount() == 0);
}

TEST_CASE_FIXTURE(ViewFixture, "removing a channel drops the nodes left without one")
{
    Add(a, b, ab);
    Add(b, c, bc);
    CHECK(Announce(SignedNodeAnnouncement(a, kNow)).outcome == GossipOutcome::kAccepted);
    CHECK(view.NodeCount() == 3);
    CHECK(view.Node(b.Id())->channels.size() == 2);

    CHECK(view.RemoveChannel(ab));
    CHECK_FALSE(view.RemoveChannel(ab));
    CHECK(view.Channel(ab) == nullptr);
    CHECK(view.Node(a.Id()) == nullptr);
    CHECK(view.Node(b.Id())->channels == std::set<ShortChannelId>{bc});
    CHECK(view.NodeCount() == 2);
    // Forgotten with its node: a new announcement of a waits for a channel again.
    CHECK(Announce(SignedNodeAnnouncement(a, kNow + 1)).outcome == GossipOutcome::kPending);

    CHECK(view.RemoveChannel(bc));
    CHECK(view.ChannelCount() == 0);
    CHECK(view.NodeCount() == 0);
    // The channel can be announced again (a reorg put it back).
    CHECK(Check(SignedAnnouncement(a, b, ab)).outcome == GossipOutcome::kAccepted);
}

TEST_CASE_FIXTURE(ViewFixture, "stale channels are pruned after exactly two weeks")
{
    const uint32_t t0 = kNow;
    Add(a, b, ab, t0);
    CHECK(Update(AbUpdate(0, At(t0)), t0).outcome == GossipOutcome::kAccepted);
    CHECK(Update(AbUpdate(1, At(t0 + 500)), t0 + 500).outcome == GossipOutcome::kAccepted);
    // b-c: one direction updated later; the silent direction counts from when it was added.
    Add(b, c, bc, t0 + 100);
    const TestNode& bc_first = First(b, c);
    const TestNode& bc_second = Second(b, c);
    CHECK(Update(UpdateFrom(bc_first, bc_second, bc, At(t0 + 1000)), t0 + 1000).outcome == GossipOutcome::kAccepted);
    // c-a: no update at all.
    const ShortChannelId ca{700'002, 1, 0};
    Add(c, a, ca, t0 + 200);

    CHECK(view.PruneStale(t0 + kGossipStaleSeconds).empty());
    CHECK(view.ChannelCount() == 3);
    // The oldest direction of a-b (t0) is now more than two weeks old.
    CHECK(view.PruneStale(t0 + kGossipStaleSeconds + 1) == std::vector<ShortChannelId>{ab});
    CHECK(view.PruneStale(t0 + 100 + kGossipStaleSeconds).empty());
    CHECK(view.PruneStale(t0 + 100 + kGossipStaleSeconds + 1) == std::vector<ShortChannelId>{bc});
    CHECK(view.Node(b.Id()) == nullptr);
    CHECK(view.PruneStale(t0 + 200 + kGossipStaleSeconds + 1) == std::vector<ShortChannelId>{ca});
    CHECK(view.NodeCount() == 0);
}

TEST_CASE_FIXTURE(ViewFixture, "the older direction decides when a channel is stale")
{
    Add(a, b, ab, kNow);
    CHECK(Update(AbUpdate(0, At(kNow)), kNow).outcome == GossipOutcome::kAccepted);
    CHECK(Update(AbUpdate(1, At(kNow)), kNow).outcome == GossipOutcome::kAccepted);
    const uint32_t later = kNow + kGossipStaleSeconds - 10;
    CHECK(Update(AbUpdate(0, At(later)), later).outcome == GossipOutcome::kAccepted);
    CHECK(view.PruneStale(kNow + kGossipStaleSeconds + 1) == std::vector<ShortChannelId>{ab});

    Add(a, b, ab, later);
    CHECK(Update(AbUpdate(0, At(later)), later).outcome == GossipOutcome::kAccepted);
    CHECK(Update(AbUpdate(1, At(later)), later).outcome == GossipOutcome::kAccepted);
    CHECK(view.PruneStale(later + kGossipStaleSeconds).empty());
}

TEST_CASE("outcome names")
{
    CHECK(ToString(GossipOutcome::kAccepted) == "accepted");
    CHECK(ToString(GossipOutcome::kDuplicate) == "duplicate");
    CHECK(ToString(GossipOutcome::kStale) == "stale");
    CHECK(ToString(GossipOutcome::kPending) == "pending");
    CHECK(ToString(GossipOutcome::kIgnored) == "ignored");
    CHECK(ToString(GossipOutcome::kRejected) == "rejected");
}

TEST_CASE_FIXTURE(ViewFixture, "node_announcement: what we stored after checking it loads back unverified")
{
    Add(a, b, ab);
    const NodeAnnouncementMessage forged = SignNodeAnnouncement(SignedNodeAnnouncement(a, kNow), c.node_key);
    CHECK(Announce(forged).outcome == GossipOutcome::kRejected);
    CHECK(view.ApplyNodeAnnouncement(forged, PayloadOf(forged), GossipCheck::kTrusted).outcome == GossipOutcome::kAccepted);
    REQUIRE(view.Node(a.Id())->announcement);
    CHECK(view.Node(a.Id())->announcement->announcement == forged);
}
