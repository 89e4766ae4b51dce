// BOLT 4 onion peeling with a fixed node key: either arbitrary bytes as the packet (nothing may
// crash, and a peel that succeeds must yield a well-formed result), or an onion built from the
// input's payloads, which every hop must peel back exactly and which fails once a byte flips.
#include "pay/sphinx.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

using namespace sidebolt;

namespace {
constexpr size_t kMaxHops = 5;

ByteArray<32> Filled(uint8_t fill)
{
    ByteArray<32> bytes;
    bytes.fill(fill);
    return bytes;
}

//! Node keys 0x41.., 0x42.., ... as in the spec's test vector; hop 0 peels the vector onion.
const PrivKey& NodeKey(size_t hop)
{
    static const std::vector<PrivKey> keys = [] {
        std::vector<PrivKey> out;
        for (size_t i = 0; i < kMaxHops; ++i) out.push_back(*PrivKey::FromBytes(Filled(static_cast<uint8_t>(0x41 + i))));
        return out;
    }();
    return keys[hop];
}

void PeelArbitrary(ByteSpan packet, ByteSpan associated_data)
{
    const auto peeled = PeelOnion(NodeKey(0), packet, associated_data);
    if (!peeled) return;
    if (peeled->payload.size() < 2 || peeled->payload.size() > kOnionHopPayloadsSize - 1 - kOnionHmacSize) std::abort();
    if (peeled->next_packet && (*peeled->next_packet)[0] != kOnionVersion) std::abort();
}

//! Input: per hop a length byte then that many payload bytes (at least 2, padded with zeros).
void BuildAndPeel(ByteSpan input, ByteSpan associated_data)
{
    std::vector<OnionHop> hops;
    size_t total = 0;
    while (!input.empty() && hops.size() < kMaxHops) {
        const size_t size = std::max<size_t>(2, input[0]);
        input = input.subspan(1);
        Bytes payload(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(std::min(size, input.size())));
        payload.resize(size, 0);
        input = input.subspan(std::min(size, input.size()));
        total += (size < 253 ? 1 : 3) + size + kOnionHmacSize;
        hops.push_back(OnionHop{NodeKey(hops.size()).GetPubKey(), std::move(payload)});
    }
    if (hops.empty() || total > kOnionHopPayloadsSize) return;
    const BuiltOnion built = CreateOnion(hops, Secret<32>(Filled(0x24)), associated_data);
    ByteArray<kOnionPacketSize> packet = built.packet;
    for (size_t i = 0; i < hops.size(); ++i) {
        const auto peeled = PeelOnion(NodeKey(i), packet, associated_data);
        if (!peeled || peeled->payload != hops[i].payload || !(peeled->shared_secret == built.shared_secrets[i])) std::abort();
        if (peeled->next_packet.has_value() != (i + 1 < hops.size())) std::abort();
        if (peeled->next_packet) packet = *peeled->next_packet;
    }
    // Any flipped bit, in any field, must be refused.
    ByteArray<kOnionPacketSize> flipped = built.packet;
    flipped[total % kOnionPacketSize] ^= 1;
    if (PeelOnion(NodeKey(0), flipped, associated_data)) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0) return 0;
    static const ByteArray<32> associated_data = Filled(0x42);
    const ByteSpan input(data + 1, size - 1);
    if (data[0] % 2 == 0) {
        PeelArbitrary(input, associated_data);
    } else {
        BuildAndPeel(input, associated_data);
    }
    return 0;
}
