#include "channel/funding.h"

namespace sidebolt {

Bytes WitnessSignature(const EcdsaSignature& signature, uint8_t sighash_type)
{
    Bytes out = signature.Der();
    out.push_back(sighash_type);
    return out;
}

Hash256 FundingSigHash(const Transaction& tx, const Script& funding_script, Sat funding_sat)
{
    return SignatureHashV0(tx, 0, funding_script.span(), ToTxValue(funding_sat), SIGHASH_ALL);
}

EcdsaSignature SignFundingInput(const Transaction& tx, const Script& funding_script, Sat funding_sat,
                                const PrivKey& funding_key)
{
    return funding_key.Sign(FundingSigHash(tx, funding_script, funding_sat));
}

bool VerifyFundingSignature(const Transaction& tx, const Script& funding_script, Sat funding_sat,
                            const PubKey& funding_pubkey, const EcdsaSignature& signature)
{
    return VerifyEcdsa(funding_pubkey, FundingSigHash(tx, funding_script, funding_sat), signature);
}

void SetFundingWitness(Transaction& tx, const Script& funding_script, const PubKey& key_a,
                       const EcdsaSignature& signature_a, const PubKey& key_b, const EcdsaSignature& signature_b)
{
    const bool a_first = key_a < key_b;
    tx.vin.at(0).witness = {
        Bytes{},
        WitnessSignature(a_first ? signature_a : signature_b),
        WitnessSignature(a_first ? signature_b : signature_a),
        funding_script.Data(),
    };
}

} // namespace sidebolt
