// BOLT 7 signatures: the double-SHA256 of the payload after the signatures, trailing bytes
// included; each of the four channel_announcement signatures checked by its own key; our side's
// signatures placed by node id order.
#include "gossip/signatures.h"

#include "gossip_fixtures.h"

#include <doctest/doctest.h>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
const ShortChannelId kScid{700'000, 12, 1};

//! Every payload with one byte of the signed part flipped fails `verify`.
template <typename Verify>
void CheckEveryTamperFails(const Bytes& payload, size_t signed_offset, Verify verify)
{
    REQUIRE(verify(payload));
    size_t failed = 0;
    for (size_t i = signed_offset; i < payload.size(); ++i) {
        Bytes tampered = payload;
        tampered[i] ^= 0x01;
        if (!verify(tampered)) ++failed;
    }
    CHECK(failed == payload.size() - signed_offset);
}
} // namespace

TEST_CASE("GossipDigest is Sha256d of the signed part")
{
    const Bytes payload{1, 2, 3, 4, 5};
    CHECK(GossipDigest(payload, 2) == Sha256d(Bytes{3, 4, 5}));
    CHECK(GossipDigest(payload, 5) == Sha256d({}));
    CHECK(GossipDigest(payload, 6) == Sha256d({}));
}

TEST_CASE("channel_update: sign, verify, tamper")
{
    const TestNode a = NodeOf(1);
    const TestNode b = NodeOf(2);
    const ChannelUpdateMessage update = SignedUpdate(a.node_key, kScid, 0);
    const Bytes payload = PayloadOf(update);
    CHECK(VerifyChannelUpdate(update, payload, a.Id()));
    CHECK_FALSE(VerifyChannelUpdate(update, payload, b.Id()));
    CheckEveryTamperFails(payload, ChannelUpdateMessage::kSignedOffset,
                          [&](const Bytes& bytes) { return VerifyChannelUpdate(update, bytes, a.Id()); });
    // BOLT 7: a relay may flip s to -s; the signature still proves the signer.
    ChannelUpdateMessage malleated = update;
    malleated.signature = Malleate(update.signature);
    CHECK(malleated.signature != update.signature);
    CHECK(VerifyChannelUpdate(malleated, payload, a.Id()));
    CHECK_FALSE(VerifyChannelUpdate(malleated, payload, b.Id()));
    // The digest is the signed part's: the signature is over exactly that.
    CHECK(VerifyEcdsa(a.Id(), Sha256d(ByteSpan(payload).subspan(64)), update.signature));
}

TEST_CASE("channel_update: trailing bytes are signed")
{
    const TestNode a = NodeOf(1);
    UpdateTerms terms;
    terms.trailing = {0xde, 0xad, 0xbe, 0xef};
    const ChannelUpdateMessage update = SignedUpdate(a.node_key, kScid, 1, terms);
    const Bytes payload = PayloadOf(update);
    REQUIRE(payload.size() == 136 + 4);
    CHECK(VerifyChannelUpdate(update, payload, a.Id()));
    CheckEveryTamperFails(payload, ChannelUpdateMessage::kSignedOffset,
                          [&](const Bytes& bytes) { return VerifyChannelUpdate(update, bytes, a.Id()); });
    // Without the trailing bytes the signature no longer matches.
    CHECK_FALSE(VerifyChannelUpdate(update, ByteSpan(payload).first(136), a.Id()));
    const auto decoded = ChannelUpdateMessage::DecodePayload(payload);
    REQUIRE(decoded);
    CHECK(decoded->trailing == terms.trailing);
    CHECK(VerifyChannelUpdate(*decoded, payload, a.Id()));
}

TEST_CASE("node_announcement: sign, verify, tamper, trailing")
{
    const TestNode a = NodeOf(3);
    NodeAnnouncementMessage announcement = SignedNodeAnnouncement(
        a, 1234, {0x02, 0x00},
        NodeAnnouncementMessage::EncodeAddresses({NodeAddress{NodeAddress::Type::kIpv4, {127, 0, 0, 1}, 9735}}));
    Bytes payload = PayloadOf(announcement);
    CHECK(VerifyNodeAnnouncement(announcement, payload));
    CheckEveryTamperFails(payload, NodeAnnouncementMessage::kSignedOffset,
                          [&](const Bytes& bytes) { return VerifyNodeAnnouncement(announcement, bytes); });

    announcement.trailing = {0x01, 0x02};
    announcement = SignNodeAnnouncement(announcement, a.node_key);
    payload = PayloadOf(announcement);
    CHECK(VerifyNodeAnnouncement(announcement, payload));
    CHECK_FALSE(VerifyNodeAnnouncement(announcement, ByteSpan(payload).first(payload.size() - 2)));
    // Signed by another key than node_id's.
    const NodeAnnouncementMessage forged = SignNodeAnnouncement(announcement, NodeOf(4).node_key);
    CHECK_FALSE(VerifyNodeAnnouncement(forged, PayloadOf(forged)));
}

TEST_CASE("channel_announcement: four signatures, each by its key")
{
    const TestNode a = NodeOf(5);
    const TestNode b = NodeOf(6);
    const ChannelAnnouncementMessage announcement = SignedAnnouncement(a, b, kScid, {}, {0x07, 0x08, 0x09});
    const Bytes payload = PayloadOf(announcement);
    CHECK(announcement.node_id_1 < announcement.node_id_2);
    CHECK(announcement.node_id_1 == First(a, b).Id());
    CHECK(announcement.bitcoin_key_1 == First(a, b).funding_key.GetPubKey());
    CHECK(announcement.bitcoin_key_2 == Second(a, b).funding_key.GetPubKey());
    CHECK(VerifyChannelAnnouncement(announcement, payload));
    CHECK(AnnouncementDigest(announcement) == GossipDigest(payload, ChannelAnnouncementMessage::kSignedOffset));
    CheckEveryTamperFails(payload, ChannelAnnouncementMessage::kSignedOffset,
                          [&](const Bytes& bytes) { return VerifyChannelAnnouncement(announcement, bytes); });
    CHECK_FALSE(VerifyChannelAnnouncement(announcement, ByteSpan(payload).first(payload.size() - 3)));

    // A signature by the wrong key in each place is reported as that place.
    const EcdsaSignature wrong = NodeOf(7).node_key.Sign(AnnouncementDigest(announcement));
    const auto with = [&](AnnouncementSigner signer) {
        ChannelAnnouncementMessage bad = announcement;
        switch (signer) {
        case AnnouncementSigner::kNode1: bad.node_signature_1 = wrong; break;
        case AnnouncementSigner::kNode2: bad.node_signature_2 = wrong; break;
        case AnnouncementSigner::kBitcoin1: bad.bitcoin_signature_1 = wrong; break;
        case AnnouncementSigner::kBitcoin2: bad.bitcoin_signature_2 = wrong; break;
        }
        return bad;
    };
    for (const auto signer : {AnnouncementSigner::kNode1, AnnouncementSigner::kNode2, AnnouncementSigner::kBitcoin1,
                              AnnouncementSigner::kBitcoin2}) {
        const ChannelAnnouncementMessage bad = with(signer);
        CHECK(BadAnnouncementSignature(bad, PayloadOf(bad)) == signer);
    }
    // Swapped node signatures are both wrong; the first is reported.
    ChannelAnnouncementMessage swapped = announcement;
    std::swap(swapped.node_signature_1, swapped.node_signature_2);
    CHECK(BadAnnouncementSignature(swapped, PayloadOf(swapped)) == AnnouncementSigner::kNode1);
    CHECK(ToString(AnnouncementSigner::kBitcoin2) == "bitcoin_signature_2");
}

TEST_CASE("channel_announcement assembled from either side is the same")
{
    const TestNode a = NodeOf(8);
    const TestNode b = NodeOf(9);
    const auto unsigned_by_a = UnsignedChannelAnnouncement(TestChain(), kScid, a.Id(), b.Id(), a.funding_key.GetPubKey(),
                                                           b.funding_key.GetPubKey());
    const auto unsigned_by_b = UnsignedChannelAnnouncement(TestChain(), kScid, b.Id(), a.Id(), b.funding_key.GetPubKey(),
                                                           a.funding_key.GetPubKey());
    CHECK(unsigned_by_a == unsigned_by_b);
    CHECK_FALSE(VerifyChannelAnnouncement(unsigned_by_a, PayloadOf(unsigned_by_a)));
    CHECK(WeAreNode1(a.Id(), b.Id()) != WeAreNode1(b.Id(), a.Id()));
    // Both sides sign the same digest, so their announcement_signatures combine.
    CHECK(AnnouncementDigest(unsigned_by_a) == AnnouncementDigest(unsigned_by_b));

    const EndpointSignatures sigs_a = SignAnnouncement(unsigned_by_a, a.node_key, a.funding_key);
    const EndpointSignatures sigs_b = SignAnnouncement(unsigned_by_b, b.node_key, b.funding_key);
    const auto at_a = AssembleChannelAnnouncement(unsigned_by_a, WeAreNode1(a.Id(), b.Id()), sigs_a, sigs_b);
    const auto at_b = AssembleChannelAnnouncement(unsigned_by_b, WeAreNode1(b.Id(), a.Id()), sigs_b, sigs_a);
    CHECK(at_a == at_b);
    CHECK(VerifyChannelAnnouncement(at_a, PayloadOf(at_a)));
    // Claiming the wrong side puts the signatures in the wrong slots.
    const auto confused = AssembleChannelAnnouncement(unsigned_by_a, !WeAreNode1(a.Id(), b.Id()), sigs_a, sigs_b);
    CHECK(BadAnnouncementSignature(confused, PayloadOf(confused)) == AnnouncementSigner::kNode1);
}
