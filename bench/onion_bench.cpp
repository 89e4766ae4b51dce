// BOLT 4 onions: what the payer builds for each payment (its first hop's ECDH made ahead, or
// not) and what each hop peels; the hashes, stream ciphers and HMACs beside the EC operations.
#include "pay/sphinx.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/secure.h"

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

using namespace sidebolt;

namespace {
PrivKey BenchKey(const std::string& name)
{
    return *PrivKey::FromBytes(Sha256({reinterpret_cast<const uint8_t*>(name.data()), name.size()}));
}

std::vector<OnionHop> Route(size_t hop_count)
{
    std::vector<OnionHop> hops;
    // A final hop's payload: amount, CLTV and payment data, about 50 bytes.
    for (size_t i = 0; i < hop_count; ++i) hops.push_back({BenchKey("hop" + std::to_string(i)).GetPubKey(), Bytes(50, 0x42)});
    return hops;
}

void CreateOnionOfHops(benchmark::State& state)
{
    const std::vector<OnionHop> hops = Route(static_cast<size_t>(state.range(0)));
    const Secret<32> session_key(BenchKey("session").span());
    const Hash256 payment_hash = Sha256(Bytes{7});
    for (auto _ : state) benchmark::DoNotOptimize(CreateOnion(hops, session_key, payment_hash).packet);
}

//! The payer's path when the first hop's part was made while it waited (OnionStart).
void CreateOnionFromStart(benchmark::State& state)
{
    const std::vector<OnionHop> hops = Route(1);
    const OnionStart start = StartOnion(hops.front().node_id, Secret<32>(BenchKey("session").span()));
    const Hash256 payment_hash = Sha256(Bytes{7});
    for (auto _ : state) benchmark::DoNotOptimize(CreateOnion(hops, start, payment_hash).packet);
}

void PeelOnionAtHop(benchmark::State& state)
{
    const std::vector<OnionHop> hops = Route(1);
    const Hash256 payment_hash = Sha256(Bytes{7});
    const BuiltOnion built = CreateOnion(hops, Secret<32>(BenchKey("session").span()), payment_hash);
    const PrivKey node_key = BenchKey("hop0");
    for (auto _ : state) benchmark::DoNotOptimize(PeelOnion(node_key, built.packet, payment_hash));
}
} // namespace

BENCHMARK(CreateOnionOfHops)->Arg(1)->Arg(5)->Unit(benchmark::kMicrosecond);
BENCHMARK(CreateOnionFromStart)->Unit(benchmark::kMicrosecond);
BENCHMARK(PeelOnionAtHop)->Unit(benchmark::kMicrosecond);
