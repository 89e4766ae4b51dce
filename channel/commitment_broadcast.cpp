#include "channel/commitment_broadcast.h"

#include "channel/commitment.h"
#include "channel/funding.h"

#include <stdexcept>

namespace sidebolt {

Transaction SignedLocalCommitment(const ChannelState& state, const ChannelSigner& signer)
{
    if (!state.local_commitment_signature) throw std::logic_error("commitment has no peer signature yet");
    CommitmentTx commitment = BuildCommitmentTx(LocalCommitmentView(state, signer).spec);
    const auto& params = state.setup.params;
    const EcdsaSignature ours = SignFundingInput(commitment.tx, commitment.funding_script, params.funding_sat,
                                                 signer.FundingKey());
    SetFundingWitness(commitment.tx, commitment.funding_script, params.local.funding_pubkey, ours,
                      params.remote.funding_pubkey, *state.local_commitment_signature);
    return commitment.tx;
}

} // namespace sidebolt
