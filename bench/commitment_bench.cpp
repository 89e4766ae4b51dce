// Building and signing a commitment transaction with N HTLCs, including every HTLC signature
// sent in commitment_signed: key derivation, scripts, BIP69 sort, txid, sighashes, ECDSA.
#include "primitives/sighash.h"
#include "channel/commitment.h"
#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "channel/keys.h"
#include "util/amount.h"

#include <benchmark/benchmark.h>

#include <string>

using namespace sidebolt;

namespace {
PrivKey BenchKey(const std::string& name)
{
    return *PrivKey::FromBytes(Sha256({reinterpret_cast<const uint8_t*>(name.data()), name.size()}));
}

Basepoints Points(const std::string& name)
{
    return {BenchKey(name + "r").GetPubKey(), BenchKey(name + "p").GetPubKey(), BenchKey(name + "d").GetPubKey(),
            BenchKey(name + "h").GetPubKey()};
}

CommitmentSpec Spec(size_t htlc_count)
{
    CommitmentSpec spec{
        .format = CommitmentFormat::ANCHORS,
        .funding_outpoint = OutPoint{Sha256(Bytes{1}), 0},
        .funding_sat = Sat{16'000'000},
        .holder_funding_pubkey = BenchKey("a funding").GetPubKey(),
        .counterparty_funding_pubkey = BenchKey("b funding").GetPubKey(),
        .holder = Points("a"),
        .counterparty = Points("b"),
        .holder_is_opener = true,
        .to_self_delay = 144,
        .dust_limit_sat = Sat{546},
        .feerate_per_kw = 2500,
        .commitment_number = 1000,
        .per_commitment_point = BenchKey("point").GetPubKey(),
        .to_local_msat = Msat{8'000'000'000},
        .to_remote_msat = Msat{8'000'000'000} - Msat{5'000'000} * htlc_count,
        .htlcs = {},
    };
    for (size_t i = 0; i < htlc_count; ++i) {
        spec.htlcs.push_back(Htlc{.direction = i % 2 ? HtlcDirection::OFFERED : HtlcDirection::RECEIVED,
                                  .amount_msat = Msat{5'000'000},
                                  .payment_hash = Sha256(Bytes{static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8)}),
                                  .cltv_expiry = 800'000u + static_cast<uint32_t>(i)});
    }
    return spec;
}

//! What sending commitment_signed costs: the peer's commitment and all our HTLC signatures.
void BuildAndSignCommitment(benchmark::State& state)
{
    const CommitmentSpec spec = Spec(static_cast<size_t>(state.range(0)));
    const PrivKey funding_key = BenchKey("b funding");
    const PrivKey htlc_basepoint_secret = BenchKey("bh");
    const uint8_t sighash_type = CounterpartyHtlcSigHashType(spec.format);
    for (auto _ : state) {
        const CommitmentKeys keys = DeriveCommitmentKeys(spec);
        const PrivKey htlc_key = DerivePrivKey(htlc_basepoint_secret, spec.per_commitment_point);
        const CommitmentTx commitment = BuildCommitmentTx(spec, keys);
        const EcdsaSignature commitment_sig =
            SignFundingInput(commitment.tx, commitment.funding_script, spec.funding_sat, funding_key);
        const std::vector<HtlcTx> htlc_txs = BuildHtlcTxs(commitment, spec, keys);
        std::vector<EcdsaSignature> htlc_sigs;
        htlc_sigs.reserve(htlc_txs.size());
        for (const HtlcTx& htlc_tx : htlc_txs) htlc_sigs.push_back(SignHtlcTx(htlc_tx, htlc_key, sighash_type));
        benchmark::DoNotOptimize(commitment_sig);
        benchmark::DoNotOptimize(htlc_sigs.data());
    }
}
//! One side's keys for one commitment, every key: what the node derives ahead on idle CPUs for
//! each side's next commitment.
void CommitmentKeysOfPoint(benchmark::State& state)
{
    const CommitmentSpec spec = Spec(0);
    for (auto _ : state) benchmark::DoNotOptimize(DeriveCommitmentKeys(spec, HtlcKeys::ALWAYS));
}
//! The transactions alone, keys known: what each commitment_signed sent or checked rebuilds
//! (scripts, BIP 69 order, the HTLC transactions and their sighashes), without any EC operation.
void BuildCommitmentWithKeys(benchmark::State& state)
{
    const CommitmentSpec spec = Spec(static_cast<size_t>(state.range(0)));
    const CommitmentKeys keys = DeriveCommitmentKeys(spec, HtlcKeys::ALWAYS);
    const uint8_t sighash_type = CounterpartyHtlcSigHashType(spec.format);
    for (auto _ : state) {
        const CommitmentTx commitment = BuildCommitmentTx(spec, keys);
        benchmark::DoNotOptimize(FundingSigHash(commitment.tx, commitment.funding_script, spec.funding_sat));
        for (const HtlcTx& htlc_tx : BuildHtlcTxs(commitment, spec, keys)) benchmark::DoNotOptimize(HtlcSigHash(htlc_tx, sighash_type));
    }
}
} // namespace

BENCHMARK(BuildCommitmentWithKeys)->Arg(0)->Arg(2)->Arg(30)->Unit(benchmark::kMicrosecond);
BENCHMARK(CommitmentKeysOfPoint)->Unit(benchmark::kMicrosecond);
BENCHMARK(BuildAndSignCommitment)->Arg(0)->Arg(10)->Arg(483)->Unit(benchmark::kMicrosecond);
