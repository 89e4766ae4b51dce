// The hashes under every transaction, script, sighash and onion: small inputs, called tens of
// times per commitment, where a digest's setup costs more than its compression rounds.
#include "primitives/hash.h"
#include "util/bytes.h"

#include <benchmark/benchmark.h>

using namespace sidebolt;

namespace {
void Sha256Of(benchmark::State& state)
{
    const Bytes data(static_cast<size_t>(state.range(0)), 0x5a);
    for (auto _ : state) benchmark::DoNotOptimize(Sha256(data));
}

//! A BIP 143 sighash's shape: a few writes, one digest.
void Sha256WriterOfThreeParts(benchmark::State& state)
{
    const Bytes part(40, 0x5a);
    for (auto _ : state) benchmark::DoNotOptimize(Sha256Writer{}.Write(part).Write(part).Write(part).Finalize());
}

void HmacSha256Of32(benchmark::State& state)
{
    const Bytes key(32, 0x11);
    const Bytes data(32, 0x22);
    for (auto _ : state) benchmark::DoNotOptimize(HmacSha256(key, data));
}

void Hash160Of33(benchmark::State& state)
{
    const Bytes data(33, 0x02);
    for (auto _ : state) benchmark::DoNotOptimize(Hash160Of(data));
}
} // namespace

BENCHMARK(Sha256Of)->Arg(32)->Arg(1366);
BENCHMARK(Sha256WriterOfThreeParts);
BENCHMARK(HmacSha256Of32);
BENCHMARK(Hash160Of33);
