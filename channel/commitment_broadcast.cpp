#include "channel/commitment_broadcast.h"

#include "channel/commitment.h"
#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "channel/keys.h"

#include <algorithm>

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

std::vector<DevHtlcTx> DevSignedLocalHtlcTxs(const ChannelState& state, const ChannelSigner& signer,
                                             std::span<const Hash256> preimages)
{
    const CommitmentView view = LocalCommitmentView(state, signer);
    const CommitmentTx commitment = BuildCommitmentTx(view.spec);
    std::vector<HtlcTx> htlc_txs = BuildHtlcTxs(commitment, view.spec, DeriveCommitmentKeys(view.spec));
    if (htlc_txs.size() != state.local_htlc_signatures.size()) throw std::logic_error("HTLC signatures do not match the commitment");
    const PrivKey htlc_key = DerivePrivKey(signer.HtlcBasepointSecret(), signer.GetBasepoints().htlc, view.spec.per_commitment_point);
    const uint8_t remote_type = CounterpartyHtlcSigHashType(view.spec.format);
    std::vector<DevHtlcTx> out;
    for (size_t i = 0; i < htlc_txs.size(); ++i) {
        HtlcTx& htlc_tx = htlc_txs[i];
        const Htlc& htlc = view.spec.htlcs.at(htlc_tx.htlc_index);
        DevHtlcTx dev{{}, htlc_tx.is_success, htlc.payment_hash, htlc.cltv_expiry, false};
        const EcdsaSignature local = SignHtlcTx(htlc_tx, htlc_key, remote_type);
        const EcdsaSignature& remote = state.local_htlc_signatures[i];
        if (htlc_tx.is_success) {
            const auto preimage = std::ranges::find_if(preimages, [&](const Hash256& p) { return Sha256(p) == htlc.payment_hash; });
            dev.preimage_known = preimage != preimages.end();
            SetHtlcSuccessWitness(htlc_tx, remote, remote_type, local, dev.preimage_known ? *preimage : Hash256{});
        } else {
            SetHtlcTimeoutWitness(htlc_tx, remote, remote_type, local);
        }
        htlc_tx.tx.vin.at(0).witness.at(2) = WitnessSignature(local, remote_type);
        dev.tx = std::move(htlc_tx.tx);
        out.push_back(std::move(dev));
    }
    return out;
}

} // namespace sidebolt
