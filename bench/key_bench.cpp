// What each elliptic-curve operation of a payment costs on this machine: the signatures and
// checks of the commitment dance, the onion's ECDH, the tweaks a commitment's keys are derived
// with (commitment_bench.cpp has a whole commitment's keys).
#include "primitives/hash.h"
#include "primitives/key.h"

#include <benchmark/benchmark.h>

#include <string>

using namespace sidebolt;

namespace {
PrivKey BenchKey(const std::string& name)
{
    return *PrivKey::FromBytes(Sha256({reinterpret_cast<const uint8_t*>(name.data()), name.size()}));
}

void EcdsaSign(benchmark::State& state)
{
    const PrivKey key = BenchKey("signer");
    Hash256 digest = Sha256(Bytes{1});
    for (auto _ : state) {
        benchmark::DoNotOptimize(key.Sign(digest));
        ++digest[0];
    }
}

void EcdsaVerify(benchmark::State& state)
{
    const PrivKey key = BenchKey("signer");
    const PubKey pub = key.GetPubKey();
    const Hash256 digest = Sha256(Bytes{1});
    const EcdsaSignature sig = key.Sign(digest);
    for (auto _ : state) benchmark::DoNotOptimize(VerifyEcdsa(pub, digest, sig));
}

void EcdhShared(benchmark::State& state)
{
    const PrivKey key = BenchKey("session");
    const PubKey peer = BenchKey("peer").GetPubKey();
    for (auto _ : state) benchmark::DoNotOptimize(Ecdh(key, peer));
}

void PubKeyOfSecret(benchmark::State& state)
{
    const PrivKey key = BenchKey("secret");
    for (auto _ : state) benchmark::DoNotOptimize(key.GetPubKey());
}

void PubKeyTweakAdd(benchmark::State& state)
{
    const PubKey base = BenchKey("base").GetPubKey();
    const Hash256 tweak = Sha256(Bytes{2});
    for (auto _ : state) benchmark::DoNotOptimize(base.TweakAdd(tweak));
}

void PubKeyTweakMul(benchmark::State& state)
{
    const PubKey base = BenchKey("base").GetPubKey();
    const Hash256 tweak = Sha256(Bytes{2});
    for (auto _ : state) benchmark::DoNotOptimize(base.TweakMul(tweak));
}

void PubKeyParse(benchmark::State& state)
{
    const PubKey base = BenchKey("base").GetPubKey();
    const Bytes compressed(base.span().begin(), base.span().end());
    for (auto _ : state) benchmark::DoNotOptimize(PubKey::Parse(compressed));
}
} // namespace

BENCHMARK(EcdsaSign)->Unit(benchmark::kMicrosecond);
BENCHMARK(EcdsaVerify)->Unit(benchmark::kMicrosecond);
BENCHMARK(EcdhShared)->Unit(benchmark::kMicrosecond);
BENCHMARK(PubKeyOfSecret)->Unit(benchmark::kMicrosecond);
BENCHMARK(PubKeyTweakAdd)->Unit(benchmark::kMicrosecond);
BENCHMARK(PubKeyTweakMul)->Unit(benchmark::kMicrosecond);
BENCHMARK(PubKeyParse)->Unit(benchmark::kMicrosecond);
