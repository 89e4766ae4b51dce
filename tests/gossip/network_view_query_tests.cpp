// NetworkView answering peers (reply_channel_range splitting, query_short_channel_ids flags,
// gossip_timestamp_filter) and asking them (WantedFromReply), and a view at mainnet's scale.
#include "gossip/network_view.h"

#include "gossip/checksum.h"
#include "gossip/signatures.h"
#include "gossip_fixtures.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {

constexpr uint64_t kTimestampsAndChecksums =
    QueryChannelRangeMessage::kWantTimestamps | QueryChannelRangeMessage::kWantChecksums;

//! A pool of nodes and a view filled with channels between them, cheaply: AddChannel takes the
//! announcement as already checked, so these are unsigned; updates are signed for real.
struct BigView {
    NetworkView view{TestChain()};
    std::vector<TestNode> nodes;
    //! Node ids and funding keys computed once: point multiplications are what is slow here.
    std::vector<PubKey> ids;
    std::vector<PubKey> funding_keys;
    std::map<ShortChannelId, std::pair<size_t, size_t>> ends;

    explicit BigView(size_t node_count)
    {
        for (size_t i = 0; i < node_count; ++i) {
            nodes.push_back(NodeOf(static_cast<uint32_t>(100 + i)));
            ids.push_back(nodes.back().Id());
            funding_keys.push_back(nodes.back().funding_key.GetPubKey());
        }
    }

    void AddChannel(ShortChannelId scid, size_t x, size_t y)
    {
        const ChannelAnnouncementMessage announcement =
            UnsignedChannelAnnouncement(TestChain(), scid, ids[x], ids[y], funding_keys[x], funding_keys[y]);
        view.AddChannel(announcement, PayloadOf(announcement), Sat{1'000'000}, kNow);
        ends.emplace(scid, std::pair{x, y});
    }

    void Update(ShortChannelId scid, int direction, uint32_t timestamp)
    {
        const auto [x, y] = ends.at(scid);
        const bool x_first = ids[x] < ids[y];
        const TestNode& signer = (direction == 0) == x_first ? nodes[x] : nodes[y];
        UpdateTerms terms;
        terms.timestamp = timestamp;
        const ChannelUpdateMessage update = SignedUpdate(signer.node_key, scid, direction, terms);
        REQUIRE(view.ApplyChannelUpdate(update, PayloadOf(update), kNow).outcome == GossipOutcome::kAccepted);
    }
};

//! BOLT 7's reply rules, plus ours: ranges without gaps, every id inside its reply's range, each
//! reply under the message limit and decoding back to itself. Returns the ids in reply order.
std::vector<ShortChannelId> CheckReplies(const NetworkView& view, const std::vector<ReplyChannelRangeMessage>& replies,
                                         uint32_t first_blocknum, uint32_t number_of_blocks, uint64_t option)
{
    REQUIRE_FALSE(replies.empty());
    std::vector<ShortChannelId> ids;
    const uint64_t query_end = uint64_t{first_blocknum} + number_of_blocks;
    CHECK(replies.front().first_blocknum <= first_blocknum);
    CHECK(uint64_t{replies.front().first_blocknum} + replies.front().number_of_blocks > first_blocknum);
    for (size_t i = 0; i < replies.size(); ++i) {
        const ReplyChannelRangeMessage& reply = replies[i];
        const uint64_t end = uint64_t{reply.first_blocknum} + reply.number_of_blocks;
        CHECK(reply.chain_hash == TestChain());
        CHECK(reply.sync_complete == (i + 1 == replies.size() ? 1 : 0));
        if (i > 0) {
            const ReplyChannelRangeMessage& previous = replies[i - 1];
            CHECK(reply.first_blocknum >= previous.first_blocknum);
            CHECK(reply.first_blocknum <= uint64_t{previous.first_blocknum} + previous.number_of_blocks);
        }
        CHECK(reply.timestamps.has_value() == ((option & QueryChannelRangeMessage::kWantTimestamps) != 0));
        CHECK(reply.checksums.has_value() == ((option & QueryChannelRangeMessage::kWantChecksums) != 0));
        if (reply.timestamps) REQUIRE(reply.timestamps->size() == reply.short_channel_ids.size());
        if (reply.checksums) REQUIRE(reply.checksums->size() == reply.short_channel_ids.size());
        // Counted, not checked one by one: tens of thousands of ids.
        size_t outside = 0;
        size_t wrong_extra = 0;
        for (size_t j = 0; j < reply.short_channel_ids.size(); ++j) {
            const ShortChannelId& scid = reply.short_channel_ids[j];
            if (scid.block_height < reply.first_blocknum || scid.block_height >= end) ++outside;
            const ChannelEntry* channel = view.Channel(scid);
            REQUIRE(channel != nullptr);
            const auto stamp = [&](int d) { return channel->halves[d] ? channel->halves[d]->update.timestamp : 0; };
            const auto sum = [&](int d) { return channel->halves[d] ? channel->halves[d]->checksum : 0; };
            if (reply.timestamps && (*reply.timestamps)[j] != ChannelTimestamps{stamp(0), stamp(1)}) ++wrong_extra;
            if (reply.checksums && (*reply.checksums)[j] != ChannelChecksums{sum(0), sum(1)}) ++wrong_extra;
        }
        CHECK(outside == 0);
        CHECK(wrong_extra == 0);
        const Bytes encoded = Encoded(reply);
        CHECK(encoded.size() <= 65535);
        const auto decoded = DecodeGossipMessage(static_cast<uint16_t>(ReplyChannelRangeMessage::kType),
                                                 ByteSpan(encoded).subspan(2));
        REQUIRE(decoded);
        CHECK(std::get<ReplyChannelRangeMessage>(*decoded) == reply);
        ids.insert(ids.end(), reply.short_channel_ids.begin(), reply.short_channel_ids.end());
    }
    CHECK(uint64_t{replies.back().first_blocknum} + replies.back().number_of_blocks >=
          std::min<uint64_t>(query_end, std::numeric_limits<uint32_t>::max()));
    return ids;
}

std::vector<ShortChannelId> ExpectedIds(const NetworkView& view, uint32_t first_blocknum, uint32_t number_of_blocks)
{
    std::vector<ShortChannelId> ids;
    for (const auto& [scid, channel] : view.Channels()) {
        if (scid.block_height >= first_blocknum && scid.block_height < uint64_t{first_blocknum} + number_of_blocks) {
            ids.push_back(scid);
        }
    }
    return ids;
}

//! Built once for the range tests: 21,000 channels.
const NetworkView& RangeView()
{
    static const BigView big = [] {
        BigView built(60);
        // 12,000 channels, three per block, then one block with more channels than any reply holds.
        for (uint32_t i = 0; i < 12'000; ++i) {
            built.AddChannel(ShortChannelId{600'000 + i / 3, i % 3, 0}, i % 60, (i % 60 + 1 + (i / 60) % 59) % 60);
        }
        for (uint32_t i = 0; i < 9'000; ++i) built.AddChannel(ShortChannelId{650'000, i, 1}, i % 60, (i + 7) % 60);
        for (uint32_t i = 0; i < 12'000; i += 400) {
            built.Update(ShortChannelId{600'000 + i / 3, i % 3, 0}, static_cast<int>(i / 400 % 2), kNow - i);
        }
        built.Update(ShortChannelId{650'000, 17, 1}, 1, kNow - 3);
        return built;
    }();
    return big.view;
}

} // namespace

TEST_CASE("reply_channel_range: split under 65535 bytes, contiguous and covering")
{
    const NetworkView& view = RangeView();
    REQUIRE(view.ChannelCount() == 21'000);
    for (const uint64_t option : {uint64_t{0}, uint64_t{1}, uint64_t{2}, kTimestampsAndChecksums}) {
        CAPTURE(option);
        const auto replies = view.ChannelsInRange(0, std::numeric_limits<uint32_t>::max(), option);
        CHECK(CheckReplies(view, replies, 0, std::numeric_limits<uint32_t>::max(), option) ==
              ExpectedIds(view, 0, std::numeric_limits<uint32_t>::max()));
        CHECK(replies.size() >= (option == kTimestampsAndChecksums ? 8u : 3u));
    }
}

TEST_CASE("reply_channel_range: parts of the range")
{
    const NetworkView& view = RangeView();
    SUBCASE("a query inside the channels")
    {
        const auto replies = view.ChannelsInRange(600'100, 2'000, kTimestampsAndChecksums);
        CHECK(CheckReplies(view, replies, 600'100, 2'000, kTimestampsAndChecksums) == ExpectedIds(view, 600'100, 2'000));
        CHECK(replies.front().first_blocknum == 600'100);
        CHECK(uint64_t{replies.back().first_blocknum} + replies.back().number_of_blocks == 602'100);
    }
    SUBCASE("the big block alone, split across replies that all name it")
    {
        const auto replies = view.ChannelsInRange(650'000, 1, kTimestampsAndChecksums);
        CHECK(CheckReplies(view, replies, 650'000, 1, kTimestampsAndChecksums).size() == 9'000);
        CHECK(replies.size() == 4);
        for (const auto& reply : replies) {
            CHECK(reply.first_blocknum == 650'000);
            CHECK(reply.number_of_blocks == 1);
        }
    }
    SUBCASE("without options the ids alone fill a reply")
    {
        const auto replies = view.ChannelsInRange(600'000, 4'000);
        const auto ids = CheckReplies(view, replies, 600'000, 4'000, 0);
        CHECK(ids.size() == 12'000);
        CHECK(replies.size() == 2);
    }
    SUBCASE("a range without channels")
    {
        const auto replies = view.ChannelsInRange(100, 50, 1);
        REQUIRE(replies.size() == 1);
        CHECK(replies[0].first_blocknum == 100);
        CHECK(replies[0].number_of_blocks == 50);
        CHECK(replies[0].short_channel_ids.empty());
        CHECK(replies[0].timestamps == std::vector<ChannelTimestamps>{});
        CHECK(replies[0].sync_complete == 1);
    }
}

TEST_CASE("reply_channel_range of an empty view, and of a range past 2^32")
{
    const NetworkView view(TestChain());
    const auto replies = view.ChannelsInRange(5, std::numeric_limits<uint32_t>::max());
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].first_blocknum == 5);
    CHECK(replies[0].number_of_blocks == std::numeric_limits<uint32_t>::max());
    CHECK(replies[0].sync_complete == 1);
    CHECK_FALSE(replies[0].timestamps);
}

namespace {
struct QueryFixture {
    NetworkView view{TestChain()};
    TestNode a = NodeOf(1);
    TestNode b = NodeOf(2);
    TestNode c = NodeOf(3);
    ShortChannelId ab{700'000, 1, 0};
    ShortChannelId bc{700'001, 2, 1};
    Sat capacity{1'000'000};

    ChannelAnnouncementMessage Announce(const TestNode& x, const TestNode& y, ShortChannelId scid)
    {
        const ChannelAnnouncementMessage announcement = SignedAnnouncement(x, y, scid);
        REQUIRE(ApplyEncoded(view, Encoded(announcement), capacity).outcome == GossipOutcome::kAccepted);
        return announcement;
    }
    template <typename Message>
    Message Apply(Message message)
    {
        REQUIRE(ApplyEncoded(view, Encoded(message), capacity).outcome == GossipOutcome::kAccepted);
        return message;
    }
};

UpdateTerms At(uint32_t timestamp)
{
    UpdateTerms terms;
    terms.timestamp = timestamp;
    return terms;
}
} // namespace

TEST_CASE_FIXTURE(QueryFixture, "query_short_channel_ids: the messages each flag asks for")
{
    const auto channel = Announce(a, b, ab);
    const TestNode& one = First(a, b);
    const TestNode& two = Second(a, b);
    const auto update_1 = Apply(UpdateFrom(one, two, ab, At(kNow - 10)));
    const auto update_2 = Apply(UpdateFrom(two, one, ab, At(kNow - 20)));
    const auto node_1 = Apply(SignedNodeAnnouncement(one, kNow - 5));
    const auto node_2 = Apply(SignedNodeAnnouncement(two, kNow - 6));

    CHECK(view.MessagesFor(ab, std::nullopt) ==
          std::vector<Bytes>{Encoded(channel), Encoded(update_1), Encoded(update_2), Encoded(node_1), Encoded(node_2)});
    CHECK(view.MessagesFor(ab, query_flag::kChannelAnnouncement) == std::vector<Bytes>{Encoded(channel)});
    CHECK(view.MessagesFor(ab, query_flag::kChannelUpdate1) == std::vector<Bytes>{Encoded(update_1)});
    CHECK(view.MessagesFor(ab, query_flag::kChannelUpdate2) == std::vector<Bytes>{Encoded(update_2)});
    CHECK(view.MessagesFor(ab, query_flag::kNodeAnnouncement1) == std::vector<Bytes>{Encoded(node_1)});
    CHECK(view.MessagesFor(ab, query_flag::kNodeAnnouncement2) == std::vector<Bytes>{Encoded(node_2)});
    CHECK(view.MessagesFor(ab, query_flag::kChannelAnnouncement | query_flag::kChannelUpdate2) ==
          std::vector<Bytes>{Encoded(channel), Encoded(update_2)});
    CHECK(view.MessagesFor(ab, 0).empty());
    CHECK(view.MessagesFor(ShortChannelId{1, 2, 3}, std::nullopt).empty());

    // Only what was received: b-c has no updates and c no announcement.
    const auto channel_bc = Announce(b, c, bc);
    CHECK(view.MessagesFor(bc, std::nullopt).front() == Encoded(channel_bc));
    CHECK(view.MessagesFor(bc, query_flag::kChannelUpdate1 | query_flag::kChannelUpdate2).empty());
    CHECK(view.MessagesFor(bc, std::nullopt).size() == 2);

    SUBCASE("a whole query sends each node_announcement once")
    {
        QueryShortChannelIdsMessage query{.chain_hash = TestChain(), .short_channel_ids = {ab, bc}, .query_flags = {}, .extension = {}};
        const auto all = view.MessagesForQuery(query);
        CHECK(std::ranges::count(all, Encoded(b.Id() == one.Id() ? node_1 : node_2)) == 1);
        CHECK(all.size() == 5 + 1);
        query.query_flags = std::vector<uint64_t>{query_flag::kNodeAnnouncement1 | query_flag::kNodeAnnouncement2,
                                                  query_flag::kNodeAnnouncement1 | query_flag::kNodeAnnouncement2};
        CHECK(view.MessagesForQuery(query).size() == 2);
        // Flags that do not match the ids one to one count as absent.
        query.query_flags = std::vector<uint64_t>{0};
        CHECK(view.MessagesForQuery(query) == all);
    }
}

TEST_CASE_FIXTURE(QueryFixture, "gossip_timestamp_filter: announcements before their updates, within the range")
{
    const TestNode& one = First(a, b);
    const TestNode& two = Second(a, b);
    const auto channel_ab = Announce(a, b, ab);
    const auto ab_1 = Apply(UpdateFrom(one, two, ab, At(kNow - 100)));
    const auto ab_2 = Apply(UpdateFrom(two, one, ab, At(kNow - 90)));
    const auto channel_bc = Announce(b, c, bc);
    const auto bc_update = Apply(UpdateFrom(c, b, bc, At(kNow - 80)));
    const auto node_a = Apply(SignedNodeAnnouncement(a, kNow - 95));
    const auto node_b = Apply(SignedNodeAnnouncement(b, kNow - 70));
    // A channel without updates is never sent ("MUST NOT send the channel_announcement").
    Announce(c, a, ShortChannelId{700'002, 1, 1});

    CHECK(view.MessagesSince(kNow - 100, 1) == std::vector<Bytes>{Encoded(channel_ab), Encoded(ab_1)});
    CHECK(view.MessagesSince(kNow - 90, 100) ==
          std::vector<Bytes>{Encoded(channel_ab), Encoded(ab_2), Encoded(channel_bc), Encoded(bc_update), Encoded(node_b)});
    CHECK(view.MessagesSince(0, std::numeric_limits<uint32_t>::max()).size() == 7);
    CHECK(view.MessagesSince(kNow - 100, 0).empty());
    CHECK(view.MessagesSince(std::numeric_limits<uint32_t>::max(), std::numeric_limits<uint32_t>::max()).empty());
    CHECK(view.MessagesSince(kNow - 95, 1) == std::vector<Bytes>{Encoded(node_a)});
}

TEST_CASE("WantedFromReply: what we lack or hold older, and a sync that completes")
{
    NetworkView ours(TestChain());
    NetworkView theirs(TestChain());
    const TestNode a = NodeOf(1);
    const TestNode b = NodeOf(2);
    const TestNode c = NodeOf(3);
    const ShortChannelId ab{700'000, 1, 0};
    const ShortChannelId bc{700'001, 2, 1};
    const Sat capacity{1'000'000};
    const auto both = [&](const Bytes& message) {
        CHECK(ApplyEncoded(ours, message, capacity).outcome == GossipOutcome::kAccepted);
        CHECK(ApplyEncoded(theirs, message, capacity).outcome == GossipOutcome::kAccepted);
    };
    const auto only_theirs = [&](const Bytes& message) {
        CHECK(ApplyEncoded(theirs, message, capacity).outcome == GossipOutcome::kAccepted);
    };
    const TestNode& one = First(a, b);
    const TestNode& two = Second(a, b);
    both(Encoded(SignedAnnouncement(a, b, ab)));
    both(Encoded(UpdateFrom(one, two, ab, At(kNow - 1000))));
    UpdateTerms new_terms = At(kNow - 500);
    new_terms.fee_base_msat = 2000;
    only_theirs(Encoded(UpdateFrom(one, two, ab, new_terms)));
    only_theirs(Encoded(UpdateFrom(two, one, ab, At(kNow - 700))));
    only_theirs(Encoded(SignedAnnouncement(b, c, bc)));
    only_theirs(Encoded(UpdateFrom(b, c, bc, At(kNow - 300))));
    only_theirs(Encoded(SignedNodeAnnouncement(c, kNow - 200)));

    const auto replies = theirs.ChannelsInRange(0, std::numeric_limits<uint32_t>::max(), kTimestampsAndChecksums);
    REQUIRE(replies.size() == 1);
    const auto wanted = ours.WantedFromReply(replies[0], kNow);
    const uint64_t all = query_flag::kChannelAnnouncement | query_flag::kChannelUpdate1 | query_flag::kChannelUpdate2 |
                         query_flag::kNodeAnnouncement1 | query_flag::kNodeAnnouncement2;
    CHECK(wanted == std::vector<WantedChannel>{{ab, query_flag::kChannelUpdate1 | query_flag::kChannelUpdate2}, {bc, all}});

    ReplyChannelRangeMessage other_chain = replies[0];
    other_chain.chain_hash = ChainHash(Network::Mainnet);
    CHECK(ours.WantedFromReply(other_chain, kNow).empty());

    // Ask for it as query_short_channel_ids would, apply the answer: nothing is wanted anymore.
    QueryShortChannelIdsMessage query{.chain_hash = TestChain(), .short_channel_ids = {}, .query_flags = std::vector<uint64_t>{},
                                      .extension = {}};
    for (const WantedChannel& entry : wanted) {
        query.short_channel_ids.push_back(entry.short_channel_id);
        query.query_flags->push_back(entry.query_flags);
    }
    for (const Bytes& message : theirs.MessagesForQuery(query)) {
        CHECK(ApplyEncoded(ours, message, capacity).outcome == GossipOutcome::kAccepted);
    }
    CHECK(ours.WantedFromReply(replies[0], kNow).empty());
    CHECK(ours.ChannelCount() == 2);
    CHECK(ours.Node(c.Id())->announcement);

    SUBCASE("without timestamps only unknown channels are wanted")
    {
        ReplyChannelRangeMessage bare = replies[0];
        bare.timestamps.reset();
        bare.checksums.reset();
        bare.short_channel_ids.push_back(ShortChannelId{800'000, 1, 1});
        CHECK(ours.WantedFromReply(bare, kNow) == std::vector<WantedChannel>{{ShortChannelId{800'000, 1, 1}, all}});
    }
    SUBCASE("unknown channels without updates or too old are not worth asking for")
    {
        ReplyChannelRangeMessage reply = replies[0];
        const auto add = [&](ShortChannelId scid, uint32_t t1, uint32_t t2) {
            reply.short_channel_ids.push_back(scid);
            reply.timestamps->push_back({t1, t2});
            reply.checksums->push_back({1, 2});
        };
        add({800'000, 1, 1}, 0, 0);
        add({800'000, 1, 2}, kNow - kGossipStaleSeconds - 1, kNow);
        add({800'000, 1, 3}, 0, kNow - kGossipStaleSeconds - 1);
        add({800'000, 1, 4}, 0, kNow - 5);
        CHECK(ours.WantedFromReply(reply, kNow) == std::vector<WantedChannel>{{ShortChannelId{800'000, 1, 4}, all}});
        // Arrays that do not match the ids are ignored.
        reply.timestamps->pop_back();
        CHECK(ours.WantedFromReply(reply, kNow).size() == 4);
    }
}

TEST_CASE("WantedFromReply: the same content with a newer timestamp is fetched only to refresh")
{
    NetworkView ours(TestChain());
    NetworkView theirs(TestChain());
    const TestNode a = NodeOf(1);
    const TestNode b = NodeOf(2);
    const ShortChannelId ab{700'000, 1, 0};
    const Sat capacity{1'000'000};
    const TestNode& one = First(a, b);
    const TestNode& two = Second(a, b);
    const Bytes announcement = Encoded(SignedAnnouncement(a, b, ab));
    const uint32_t t0 = kNow - 1000;
    for (NetworkView* view : {&ours, &theirs}) REQUIRE(ApplyEncoded(*view, announcement, capacity, t0).outcome == GossipOutcome::kAccepted);
    REQUIRE(ApplyEncoded(ours, Encoded(UpdateFrom(one, two, ab, At(t0))), capacity, t0).outcome == GossipOutcome::kAccepted);
    // Same terms, signed again later (a keep-alive).
    REQUIRE(ApplyEncoded(theirs, Encoded(UpdateFrom(one, two, ab, At(t0 + 100))), capacity, t0 + 100).outcome ==
            GossipOutcome::kAccepted);
    const uint64_t want_1 = query_flag::kChannelUpdate1;

    const auto with_checksums = theirs.ChannelsInRange(0, 1'000'000, kTimestampsAndChecksums).at(0);
    CHECK(ours.WantedFromReply(with_checksums, t0 + 200).empty());
    CHECK(ours.WantedFromReply(with_checksums, t0 + kGossipRefreshSeconds + 1) == std::vector<WantedChannel>{{ab, want_1}});
    const auto timestamps_only = theirs.ChannelsInRange(0, 1'000'000, QueryChannelRangeMessage::kWantTimestamps).at(0);
    CHECK(ours.WantedFromReply(timestamps_only, t0 + 200) == std::vector<WantedChannel>{{ab, want_1}});

    // Different terms: wanted at once.
    UpdateTerms changed = At(t0 + 300);
    changed.fee_base_msat = 1;
    REQUIRE(ApplyEncoded(theirs, Encoded(UpdateFrom(one, two, ab, changed)), capacity, t0 + 300).outcome ==
            GossipOutcome::kAccepted);
    const auto changed_reply = theirs.ChannelsInRange(0, 1'000'000, kTimestampsAndChecksums).at(0);
    CHECK(ours.WantedFromReply(changed_reply, t0 + 400) == std::vector<WantedChannel>{{ab, want_1}});
}

TEST_CASE("a view of mainnet's size: 50,000 channels between 15,000 nodes")
{
    constexpr size_t kNodes = 15'000;
    constexpr uint32_t kChannels = 50'000;
    std::vector<PubKey> ids;
    ids.reserve(kNodes);
    for (size_t i = 0; i < kNodes; ++i) ids.push_back(KeyOf(static_cast<uint32_t>(10'000 + i)).GetPubKey());
    const PubKey funding = KeyOf(7).GetPubKey();
    NetworkView view(TestChain());
    for (uint32_t i = 0; i < kChannels; ++i) {
        const size_t x = i % kNodes;
        const size_t y = (x + 1 + i / kNodes) % kNodes;
        const ShortChannelId scid{500'000 + i / 7, i % 7, static_cast<uint16_t>(i % 3)};
        const auto announcement = UnsignedChannelAnnouncement(TestChain(), scid, ids[x], ids[y], funding, funding);
        view.AddChannel(announcement, PayloadOf(announcement), Sat{100'000}, kNow);
    }
    CHECK(view.ChannelCount() == kChannels);
    CHECK(view.NodeCount() == kNodes);
    CHECK(view.Node(ids[0])->channels.size() == 7);
    const auto replies = view.ChannelsInRange(0, std::numeric_limits<uint32_t>::max(), kTimestampsAndChecksums);
    size_t total = 0;
    for (const auto& reply : replies) total += reply.short_channel_ids.size();
    CHECK(total == kChannels);
    CHECK(view.WantedFromReply(replies[0], kNow).empty());
    for (uint32_t i = 0; i < kChannels; i += 2) view.RemoveChannel(ShortChannelId{500'000 + i / 7, i % 7, static_cast<uint16_t>(i % 3)});
    CHECK(view.ChannelCount() == kChannels / 2);
    CHECK(view.PruneStale(kNow + kGossipStaleSeconds + 1).size() == kChannels / 2);
    CHECK(view.NodeCount() == 0);
}
