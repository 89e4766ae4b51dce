// BOLT 5 resolver cost per channel: classifying a funding spend and building every transaction
// we must publish, for a revoked commitment of the peer (the penalty path: what a breach costs
// before the penalty can be sent) and for our own commitment, with N HTLCs in flight each way.
#include "channel/commitment_broadcast.h"
#include "channel/resolver.h"
#include "primitives/script.h"
#include "tests/channel/machine_fixture.h"

#include <benchmark/benchmark.h>

#include <optional>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
constexpr size_t ALICE = 0;
constexpr size_t BOB = 1;

//! Alice's channel with `per_side` HTLCs offered by each side, and a commitment of Bob's that
//! the last update (one more HTLC) revoked.
struct BreachFixture {
    Harness h;
    ResolveContext context;
    Transaction revoked;
    Transaction local;

    explicit BreachFixture(size_t per_side) : h(PairOptions{.format = CommitmentFormat::ANCHORS})
    {
        context.target = SweepTarget{P2wpkhScript(h.pair.signers[ALICE].FundingPubKey()).Data(), 2'500};
        for (size_t i = 0; i < per_side; ++i) {
            h.Do(ALICE, AddCommand(Msat{5'000'000}, 1 + i));
            h.Do(BOB, AddCommand(Msat{6'000'000}, 100 + i));
        }
        h.Settle();
        context.revoked_htlcs.push_back(LogRemoteCommitmentHtlcs(h.State(ALICE)));
        revoked = SignedLocalCommitment(h.State(BOB), h.pair.signers[BOB]);
        // One more HTLC revokes Bob's commitment.
        h.Do(ALICE, AddCommand(Msat{1'000'000}, 999));
        h.Settle();
        local = SignedLocalCommitment(h.State(ALICE), h.pair.signers[ALICE]);
    }
};

void ResolveRevokedCommitment(benchmark::State& state)
{
    const BreachFixture fixture(static_cast<size_t>(state.range(0)));
    for (auto _ : state) {
        Resolution resolution = Resolve(fixture.revoked, fixture.h.pair.states[ALICE], fixture.h.pair.signers[ALICE], fixture.context);
        if (resolution.classification.kind != SpendKind::REVOKED_REMOTE_COMMITMENT || !resolution.penalty_tx) {
            state.SkipWithError("not resolved as a breach");
        }
        benchmark::DoNotOptimize(resolution);
    }
}

void ResolveLocalCommitment(benchmark::State& state)
{
    const BreachFixture fixture(static_cast<size_t>(state.range(0)));
    for (auto _ : state) {
        Resolution resolution = Resolve(fixture.local, fixture.h.pair.states[ALICE], fixture.h.pair.signers[ALICE], fixture.context);
        if (resolution.classification.kind != SpendKind::LOCAL_COMMITMENT) state.SkipWithError("not our commitment");
        benchmark::DoNotOptimize(resolution);
    }
}
} // namespace

BENCHMARK(ResolveRevokedCommitment)->Arg(0)->Arg(2)->Arg(10)->Unit(benchmark::kMicrosecond);
BENCHMARK(ResolveLocalCommitment)->Arg(0)->Arg(2)->Arg(10)->Unit(benchmark::kMicrosecond);
