#include "channel/htlc_tx.h"

#include "channel/funding.h"
#include "channel/scripts.h"
#include "util/amount.h"

#include <stdexcept>

namespace sidebolt {
namespace {
HtlcTx BuildOne(const CommitmentTx& commitment, const Hash256& commitment_txid, size_t output_index,
                const CommitmentSpec& spec, const Bytes& output_script)
{
    const CommitmentOutput& output = commitment.outputs.at(output_index);
    if (!output.htlc_index) throw std::invalid_argument("commitment output is not an HTLC");
    const Htlc& htlc = spec.htlcs.at(*output.htlc_index);
    HtlcTx out;
    out.is_success = htlc.direction == HtlcDirection::RECEIVED;
    out.htlc_index = *output.htlc_index;
    out.commitment_output = output_index;
    out.input_sat = SatFromTxValue(commitment.tx.vout[output_index].value);
    out.witness_script = output.witness_script;

    const Sat fee = out.is_success ? HtlcSuccessFee(spec.format, spec.feerate_per_kw)
                                        : HtlcTimeoutFee(spec.format, spec.feerate_per_kw);
    Transaction& tx = out.tx;
    tx.version = 2;
    tx.locktime = out.is_success ? 0 : htlc.cltv_expiry;
    // Anchors make every HTLC output CSV-1 encumbered ("1 OP_CHECKSEQUENCEVERIFY OP_DROP").
    tx.vin.push_back(TxIn{.prevout = OutPoint{commitment_txid, static_cast<uint32_t>(output_index)},
                          .script_sig = {},
                          .sequence = HasAnchors(spec.format) ? 1U : 0U,
                          .witness = {}});
    tx.vout.push_back(TxOut{ToTxValue(out.input_sat - fee), output_script});
    return out;
}

Bytes SecondStageScript(const CommitmentSpec& spec, const CommitmentKeys& keys)
{
    return P2wshScript(ToLocalScript(keys.revocation, spec.to_self_delay, keys.local_delayed)).Data();
}

void SetWitness(HtlcTx& htlc_tx, const EcdsaSignature& remote_signature, uint8_t remote_sighash_type,
                const EcdsaSignature& local_signature, Bytes last_item)
{
    htlc_tx.tx.vin.at(0).witness = {
        Bytes{},
        WitnessSignature(remote_signature, remote_sighash_type),
        WitnessSignature(local_signature, SIGHASH_ALL),
        std::move(last_item),
        htlc_tx.witness_script.Data(),
    };
}
} // namespace

HtlcTx BuildHtlcTx(const CommitmentTx& commitment, const Hash256& commitment_txid, size_t output_index,
                   const CommitmentSpec& spec, const CommitmentKeys& keys)
{
    return BuildOne(commitment, commitment_txid, output_index, spec, SecondStageScript(spec, keys));
}

std::vector<HtlcTx> BuildHtlcTxs(const CommitmentTx& commitment, const CommitmentSpec& spec, const CommitmentKeys& keys)
{
    const Hash256 txid = commitment.tx.GetTxid();
    const Bytes output_script = SecondStageScript(spec, keys);
    std::vector<HtlcTx> out;
    out.reserve(commitment.outputs.size());
    for (size_t i = 0; i < commitment.outputs.size(); ++i) {
        if (commitment.outputs[i].htlc_index) out.push_back(BuildOne(commitment, txid, i, spec, output_script));
    }
    return out;
}

Hash256 HtlcSigHash(const HtlcTx& htlc_tx, uint8_t sighash_type)
{
    return SignatureHashV0(htlc_tx.tx, 0, htlc_tx.witness_script.span(), ToTxValue(htlc_tx.input_sat), sighash_type);
}

EcdsaSignature SignHtlcTx(const HtlcTx& htlc_tx, const PrivKey& htlc_key, uint8_t sighash_type)
{
    return htlc_key.Sign(HtlcSigHash(htlc_tx, sighash_type));
}

bool VerifyHtlcSignature(const HtlcTx& htlc_tx, const PubKey& htlc_pubkey, const EcdsaSignature& signature,
                         uint8_t sighash_type)
{
    return VerifyEcdsa(htlc_pubkey, HtlcSigHash(htlc_tx, sighash_type), signature);
}

void SetHtlcTimeoutWitness(HtlcTx& htlc_tx, const EcdsaSignature& remote_signature, uint8_t remote_sighash_type,
                           const EcdsaSignature& local_signature)
{
    if (htlc_tx.is_success) throw std::invalid_argument("not an HTLC-timeout transaction");
    SetWitness(htlc_tx, remote_signature, remote_sighash_type, local_signature, Bytes{});
}

void SetHtlcSuccessWitness(HtlcTx& htlc_tx, const EcdsaSignature& remote_signature, uint8_t remote_sighash_type,
                           const EcdsaSignature& local_signature, const Hash256& payment_preimage)
{
    if (!htlc_tx.is_success) throw std::invalid_argument("not an HTLC-success transaction");
    SetWitness(htlc_tx, remote_signature, remote_sighash_type, local_signature,
               Bytes(payment_preimage.begin(), payment_preimage.end()));
}

} // namespace sidebolt
