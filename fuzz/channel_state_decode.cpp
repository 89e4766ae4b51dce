// Arbitrary bytes into DeserializeChannelState: never a crash, and whatever it accepts is
// canonical (re-encodes to the same bytes), round-trips, and gives consistent commitments.
#include "channel/state.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace sidebolt;

namespace {
void Require(bool condition)
{
    if (!condition) std::abort();
}

void CheckView(const ChannelState& state, Side holder, uint64_t number)
{
    const CommitmentView view = MakeCommitmentView(state, holder, number, state.remote_per_commitment_point);
    Msat total = view.spec.to_local_msat + view.spec.to_remote_msat;
    for (const Htlc& htlc : view.spec.htlcs) total += htlc.amount_msat;
    Require(total == ToMsat(state.setup.params.funding_sat));
    Require(view.htlcs.size() == view.spec.htlcs.size());
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const ByteSpan input(data, size);
    const auto state = DeserializeChannelState(input);
    if (!state) return 0;
    const Bytes encoded = SerializeChannelState(*state);
    Require(std::ranges::equal(encoded, input));
    const auto again = DeserializeChannelState(encoded);
    Require(again && *again == *state);
    CheckView(*state, Side::LOCAL, state->local_commitment_number);
    CheckView(*state, Side::REMOTE, state->remote_commitment_number);
    return 0;
}
