// What each elliptic-curve operation of a payment costs on this machine: the signatures and
// checks of the commitment dance, the onion's ECDH, and a commitment's keys derived from its
// per_commitment_point (which the node derives ahead on idle CPUs).
#include "channel/commitment.h"
#include "channel/keys.h"
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

//! One side's keys for one commitment, every key (as the node derives them ahead).
void CommitmentKeysOfPoint(benchmark::State& state)
{
    const auto points = [](const std::string& name) {
        return Basepoints{BenchKey(name + "r").GetPubKey(), BenchKey(name + "p").GetPubKey(),
                          BenchKey(name + "d").GetPubKey(), BenchKey(name + "h").GetPubKey()};
    };
    const CommitmentSpec spec{
        .format = CommitmentFormat::ANCHORS,
        .funding_outpoint = OutPoint{Sha256(Bytes{1}), 0},
        .funding_sat = Sat{16'000'000},
        .holder_funding_pubkey = BenchKey("a funding").GetPubKey(),
        .counterparty_funding_pubkey = BenchKey("b funding").GetPubKey(),
        .holder = points("a"),
        .counterparty = points("b"),
        .holder_is_opener = true,
        .to_self_delay = 144,
        .dust_limit_sat = Sat{546},
        .feerate_per_kw = 2500,
        .commitment_number = 1000,
        .per_commitment_point = BenchKey("point").GetPubKey(),
        .to_local_msat = Msat{8'000'000'000},
        .to_remote_msat = Msat{8'000'000'000},
        .htlcs = {},
    };
    for (auto _ : state) benchmark::DoNotOptimize(DeriveCommitmentKeys(spec, HtlcKeys::ALWAYS));
}
} // namespace

BENCHMARK(EcdsaSign)->Unit(benchmark::kMicrosecond);
BENCHMARK(EcdsaVerify)->Unit(benchmark::kMicrosecond);
BENCHMARK(EcdhShared)->Unit(benchmark::kMicrosecond);
BENCHMARK(PubKeyOfSecret)->Unit(benchmark::kMicrosecond);
BENCHMARK(PubKeyTweakAdd)->Unit(benchmark::kMicrosecond);
BENCHMARK(PubKeyTweakMul)->Unit(benchmark::kMicrosecond);
BENCHMARK(PubKeyParse)->Unit(benchmark::kMicrosecond);
BENCHMARK(CommitmentKeysOfPoint)->Unit(benchmark::kMicrosecond);
