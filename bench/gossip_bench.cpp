// Graph ingest (BOLT 7): channel_updates validated per second per core through NetworkView (each
// one ECDSA verification plus the receiving rules), and memory per 10,000 channels with both
// directions' updates and a node_announcement for every node.
#include "gossip/network_view.h"
#include "gossip/signatures.h"
#include "primitives/hash.h"
#include "primitives/key.h"

#include <benchmark/benchmark.h>

#include <malloc.h>

#include <cstdint>
#include <memory>
#include <vector>

using namespace sidebolt;

namespace {

constexpr size_t kChannels = 10'000;
constexpr size_t kNodes = 3'000;
constexpr uint32_t kNow = 1'800'000'000;

PrivKey BenchKey(size_t i, char kind)
{
    const Bytes seed{static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i >> 16),
                     static_cast<uint8_t>(kind)};
    return *PrivKey::FromBytes(Sha256(seed));
}

EcdsaSignature Unsigned() { return *EcdsaSignature::FromCompact(ByteArray<64>{}); }

struct Signed {
    ChannelAnnouncementMessage announcement;
    Bytes announcement_payload;
    //! Both directions' updates, signed by their node.
    std::vector<std::pair<ChannelUpdateMessage, Bytes>> updates;
    std::vector<std::pair<NodeAnnouncementMessage, Bytes>> nodes;
};

Bytes Payload(const auto& message)
{
    Bytes out;
    message.EncodePayload(out);
    return out;
}

//! A ring of channels over kNodes nodes, each with two signed updates (made once).
const std::vector<Signed>& Network()
{
    static const std::vector<Signed> network = [] {
        std::vector<PrivKey> keys;
        for (size_t i = 0; i < kNodes; ++i) keys.push_back(BenchKey(i, 'n'));
        std::vector<Signed> out;
        for (size_t i = 0; i < kChannels; ++i) {
            const size_t a = i % kNodes;
            // Each round over the nodes links every node to another at a new distance: no pair twice.
            const size_t b = (a + 1 + 7 * (i / kNodes)) % kNodes;
            const ShortChannelId scid{static_cast<uint32_t>(100 + i / 100), static_cast<uint32_t>(i % 100), 0};
            Signed channel{UnsignedChannelAnnouncement(Hash256{}, scid, keys[a].GetPubKey(), keys[b].GetPubKey(),
                                                       BenchKey(i, 'a').GetPubKey(), BenchKey(i, 'b').GetPubKey()),
                           {}, {}, {}};
            channel.announcement_payload = Payload(channel.announcement);
            for (int direction = 0; direction < 2; ++direction) {
                const PubKey& signer_id = direction == 0 ? channel.announcement.node_id_1 : channel.announcement.node_id_2;
                const PrivKey& signer = signer_id == keys[a].GetPubKey() ? keys[a] : keys[b];
                ChannelUpdateMessage update{Unsigned(), Hash256{}, scid, kNow - 60, ChannelUpdateMessage::kMustBeOneFlag,
                                            static_cast<uint8_t>(direction), 40, Msat{1}, 1000, 100, Msat{100'000'000}, {}};
                update = SignChannelUpdate(std::move(update), signer);
                channel.updates.emplace_back(update, Payload(update));
            }
            out.push_back(std::move(channel));
        }
        for (size_t i = 0; i < kNodes; ++i) {
            NodeAnnouncementMessage node{Unsigned(), {}, kNow - 60, keys[i].GetPubKey(), {1, 2, 3}, {}, {}, {}};
            node = SignNodeAnnouncement(std::move(node), keys[i]);
            out[i % out.size()].nodes.emplace_back(node, Payload(node));
        }
        return out;
    }();
    return network;
}

void AddChannels(NetworkView& view)
{
    for (const Signed& channel : Network()) view.AddChannel(channel.announcement, channel.announcement_payload, Sat{1'000'000}, kNow);
}

void BM_ChannelUpdateIngest(benchmark::State& state)
{
    const auto& network = Network();
    size_t applied = 0;
    for (auto _ : state) {
        state.PauseTiming();
        NetworkView view{Hash256{}};
        AddChannels(view);
        state.ResumeTiming();
        for (const Signed& channel : network) {
            for (const auto& [update, payload] : channel.updates) {
                benchmark::DoNotOptimize(view.ApplyChannelUpdate(update, payload, kNow));
                ++applied;
            }
        }
    }
    state.counters["updates_per_s"] = benchmark::Counter(static_cast<double>(applied), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ChannelUpdateIngest)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_ChannelAnnouncementCheck(benchmark::State& state)
{
    // Four verifications each; the announcements here carry unsigned slots, so every check fails
    // at the first signature: sign a few properly instead.
    const PrivKey n1 = BenchKey(1, 'x'), n2 = BenchKey(2, 'x'), b1 = BenchKey(3, 'x'), b2 = BenchKey(4, 'x');
    ChannelAnnouncementMessage announcement = UnsignedChannelAnnouncement(
        Hash256{}, ShortChannelId{100, 1, 0}, n1.GetPubKey(), n2.GetPubKey(), b1.GetPubKey(), b2.GetPubKey());
    const bool first = WeAreNode1(n1.GetPubKey(), n2.GetPubKey());
    announcement = AssembleChannelAnnouncement(announcement, first, SignAnnouncement(announcement, n1, b1),
                                               SignAnnouncement(announcement, n2, b2));
    const Bytes payload = Payload(announcement);
    const NetworkView view{Hash256{}};
    for (auto _ : state) benchmark::DoNotOptimize(view.CheckChannelAnnouncement(announcement, payload));
    state.counters["announcements_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ChannelAnnouncementCheck)->Unit(benchmark::kMicrosecond);

void BM_ViewMemoryPer10kChannels(benchmark::State& state)
{
    const auto& network = Network();
    for (auto _ : state) {
        const size_t before = mallinfo2().uordblks;
        auto view = std::make_unique<NetworkView>(Hash256{});
        AddChannels(*view);
        for (const Signed& channel : network) {
            for (const auto& [update, payload] : channel.updates) view->ApplyChannelUpdate(update, payload, kNow, GossipCheck::kTrusted);
            for (const auto& [node, payload] : channel.nodes) view->ApplyNodeAnnouncement(node, payload, GossipCheck::kTrusted);
        }
        const size_t after = mallinfo2().uordblks;
        state.counters["MB_per_10k_channels"] = static_cast<double>(after - before) / 1e6 * (10'000.0 / kChannels);
        state.counters["channels"] = static_cast<double>(view->ChannelCount());
        state.counters["nodes"] = static_cast<double>(view->NodeCount());
    }
}
BENCHMARK(BM_ViewMemoryPer10kChannels)->Unit(benchmark::kMillisecond)->Iterations(1);

} // namespace
