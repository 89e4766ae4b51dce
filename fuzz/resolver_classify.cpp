// Arbitrary transactions as funding spends, classified and resolved (BOLT 5) against a fixed,
// realistic channel: HTLCs both ways, one revoked commitment of the peer. It must never crash,
// Resolve must agree with Classify, and every duty must name an output of the spend. The same
// bytes also go to the second-stage helpers of a revoked and of our own commitment.
//
// Input: one flag byte, then a serialized transaction. Flag bit 0 points the first input at
// the funding output (so random bytes reach the commitment checks); bit 1 resolves against
// Alice's state from before the last updates, with the peer's point from channel_reestablish
// (data-loss recovery).
#include "channel/commitment_broadcast.h"
#include "channel/resolver.h"
#include "channel/state.h"
#include "primitives/script.h"
#include "tests/channel/machine_fixture.h"

#include <cstdint>
#include <cstdlib>
#include <optional>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
constexpr size_t ALICE = 0;
constexpr size_t BOB = 1;

void Require(bool condition)
{
    if (!condition) std::abort();
}

struct Fixture {
    Harness h;
    ResolveContext context;
    std::optional<ChannelState> lost;
    std::optional<Resolution> revoked;
    std::optional<Resolution> local;

    Fixture() : h(PairOptions{.format = CommitmentFormat::ANCHORS})
    {
        context.target = SweepTarget{P2wpkhScript(h.pair.signers[ALICE].FundingPubKey()).Data(), 2'500};
        context.preimages = {PreimageOf(12)};
        h.Do(ALICE, AddCommand(Msat{5'000'000}, 1));
        h.Do(ALICE, AddCommand(Msat{200'000}, 2));
        h.Do(BOB, AddCommand(Msat{7'000'000}, 11));
        h.Do(BOB, AddCommand(Msat{6'000'000}, 12));
        h.Settle();
        context.revoked_htlcs.push_back(LogRemoteCommitmentHtlcs(h.State(ALICE)));
        lost = h.State(ALICE);
        const Transaction old_bob = SignedLocalCommitment(h.State(BOB), h.pair.signers[BOB]);
        h.Do(BOB, FulfillHtlcCommand{.id = 0, .preimage = PreimageOf(1)});
        h.Settle();
        lost->remote_point_after_data_loss = h.pair.signers[BOB].PerCommitmentPoint(h.State(BOB).local_commitment_number);
        revoked = Resolve(old_bob, h.State(ALICE), h.pair.signers[ALICE], context);
        local = Resolve(SignedLocalCommitment(h.State(ALICE), h.pair.signers[ALICE]), h.State(ALICE), h.pair.signers[ALICE], context);
        Require(revoked->classification.kind == SpendKind::REVOKED_REMOTE_COMMITMENT);
        Require(local->classification.kind == SpendKind::LOCAL_COMMITMENT);
    }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const Fixture fixture;
    if (size < 1) return 0;
    const uint8_t flags = data[0];
    std::optional<Transaction> tx = TryParseTransaction({data + 1, size - 1});
    if (!tx) return 0;
    if ((flags & 1) && !tx->vin.empty()) tx->vin[0].prevout = fixture.h.pair.states[ALICE].setup.params.funding_outpoint;
    const ChannelState& state = (flags & 2) ? *fixture.lost : fixture.h.pair.states[ALICE];
    const ChannelSigner& signer = fixture.h.pair.signers[ALICE];

    const Classification classification = Classify(*tx, state, signer, fixture.context);
    const Resolution resolution = Resolve(*tx, state, signer, fixture.context);
    Require(resolution.classification == classification);
    for (const OutputDuty& duty : resolution.duties) Require(duty.output_index < tx->vout.size());
    if (classification.kind == SpendKind::UNKNOWN || classification.kind == SpendKind::MUTUAL_CLOSE) {
        Require(resolution.duties.empty() && !resolution.penalty_tx);
    }
    PenalizeSecondStage(*fixture.revoked, *tx, fixture.h.pair.states[ALICE], signer, fixture.context.target);
    SweepSecondStage(*fixture.local, *tx, fixture.h.pair.states[ALICE], signer, fixture.context.target);
    ExtractPreimages(*fixture.revoked, *tx);
    ExtractPreimages(*fixture.local, *tx);
    return 0;
}
