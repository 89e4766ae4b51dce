// BOLT 3 Appendix B, C, F and G: funding, commitment and HTLC transactions byte for byte.
#include "primitives/sighash.h"
#include "channel/commitment.h"
#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "channel/scripts.h"
#include "tests/channel/channel_test_util.h"
#include "tests/test_util.h"

#include <doctest/doctest.h>

#include <map>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
const nlohmann::json& Vectors()
{
    static const nlohmann::json vectors = ReadJsonVectors("channel/bolt3_commitment.json");
    return vectors;
}

std::string KeyHex(std::string_view name) { return Str(Vectors()["keys"][std::string(name)]); }

CommitmentFormat FormatOf(const std::string& name)
{
    if (name == "legacy") return CommitmentFormat::LEGACY;
    if (name == "static_remotekey") return CommitmentFormat::STATIC_REMOTEKEY;
    if (name == "anchor_outputs") return CommitmentFormat::ANCHOR_OUTPUTS;
    REQUIRE(name == "anchors_zero_fee_htlc_tx");
    return CommitmentFormat::ANCHORS;
}

struct VectorHtlc {
    Htlc htlc;
    Hash256 preimage;
    uint64_t id;
};

std::vector<VectorHtlc> AllHtlcs()
{
    std::vector<VectorHtlc> out;
    for (const auto& h : Vectors()["htlcs"]) {
        const Hash256 preimage = Hash256FromHex(Str(h["payment_preimage"]));
        out.push_back({Htlc{.direction = Str(h["direction"]) == "offered" ? HtlcDirection::OFFERED : HtlcDirection::RECEIVED,
                            .amount_msat = Msat{h["amount_msat"].get<uint64_t>()},
                            .payment_hash = Sha256(preimage),
                            .cltv_expiry = h["cltv_expiry"].get<uint32_t>()},
                       preimage, h["id"].get<uint64_t>()});
    }
    return out;
}

// The appendix's channel: local is the funder; htlc basepoints equal payment basepoints.
CommitmentSpec BaseSpec(CommitmentFormat format)
{
    const auto& params = Vectors()["params"];
    const PubKey local_payment = PubFromHex(KeyHex("local_payment_basepoint"));
    const PubKey remote_payment = PubFromHex(KeyHex("remote_payment_basepoint"));
    const PubKey local_delayed = PubFromHex(KeyHex("local_delayed_payment_basepoint"));
    const PubKey remote_revocation = PubFromHex(KeyHex("remote_revocation_basepoint"));
    const auto funding_txid = HashFromHexRev(Str(params["funding_txid"]));
    REQUIRE(funding_txid);
    return CommitmentSpec{
        .format = format,
        .funding_outpoint = OutPoint{*funding_txid, params["funding_output_index"].get<uint32_t>()},
        .funding_sat = Sat{params["funding_amount_satoshi"].get<uint64_t>()},
        .holder_funding_pubkey = PubFromHex(KeyHex("local_funding_pubkey")),
        .counterparty_funding_pubkey = PubFromHex(KeyHex("remote_funding_pubkey")),
        // The holder's revocation basepoint and the counterparty's delayed basepoint do not
        // appear in the holder's commitment.
        .holder = Basepoints{local_payment, local_payment, local_delayed, local_payment},
        .counterparty = Basepoints{remote_revocation, remote_payment, remote_payment, remote_payment},
        .holder_is_opener = true,
        .to_self_delay = params["local_delay"].get<uint16_t>(),
        .dust_limit_sat = Sat{params["local_dust_limit_satoshi"].get<uint64_t>()},
        .feerate_per_kw = 0,
        .commitment_number = params["commitment_number"].get<uint64_t>(),
        .per_commitment_point = PubFromHex(KeyHex("local_per_commitment_point")),
        .to_local_msat = Msat{},
        .to_remote_msat = Msat{},
        .htlcs = {},
    };
}
} // namespace

TEST_CASE("BOLT 3 Appendix C keys derive from the basepoints")
{
    const CommitmentKeys keys = DeriveCommitmentKeys(BaseSpec(CommitmentFormat::LEGACY));
    CHECK(ToHex(keys.local_htlc.value().span()) == KeyHex("localpubkey"));
    CHECK(ToHex(keys.remote_htlc.value().span()) == KeyHex("remotepubkey"));
    CHECK(ToHex(keys.remote_payment.span()) == KeyHex("remotepubkey"));
    CHECK(ToHex(keys.local_delayed.span()) == KeyHex("local_delayedpubkey"));
    CHECK(ToHex(keys.revocation.span()) == KeyHex("local_revocation_pubkey"));
    CHECK(DeriveCommitmentKeys(BaseSpec(CommitmentFormat::ANCHORS)).remote_payment ==
          PubFromHex(KeyHex("remote_payment_basepoint")));
    // The private keys given for signing match the derived public keys.
    CHECK(PrivFromHex(KeyHex("local_privkey")).GetPubKey() == keys.local_htlc);
    CHECK(PrivFromHex(KeyHex("remote_privkey")).GetPubKey() == keys.remote_htlc);
    CHECK(PrivFromHex(KeyHex("local_delayed_privkey")).GetPubKey() == keys.local_delayed);
    CHECK(ToHex(FundingScript(keys.local_funding, keys.remote_funding).span()) == KeyHex("funding_wscript"));
    CHECK(ToHex(FundingScript(keys.remote_funding, keys.local_funding).span()) == KeyHex("funding_wscript"));
    const auto& params = Vectors()["params"];
    CHECK(CommitmentNumberObscurer(PubFromHex(KeyHex("local_payment_basepoint")),
                                   PubFromHex(KeyHex("remote_payment_basepoint"))) ==
          std::stoull(Str(params["obscuring_factor"]), nullptr, 16));
    // The vectors' commitments carry nLockTime 0x2052193e and nSequence 0x802bb038: read back,
    // they give the commitment number under the obscuring factor.
    const uint64_t factor = std::stoull(Str(params["obscuring_factor"]), nullptr, 16);
    CHECK(ObscuredCommitmentNumber(0x2052193e, 0x802bb038) ==
          std::optional<uint64_t>{factor ^ params["commitment_number"].get<uint64_t>()});
    CHECK_FALSE(ObscuredCommitmentNumber(0x0052193e, 0x802bb038));
    CHECK_FALSE(ObscuredCommitmentNumber(0x2052193e, 0xffffffff));
}

TEST_CASE("BOLT 3 commitment and HTLC transaction vectors")
{
    const std::vector<VectorHtlc> all_htlcs = AllHtlcs();
    const PrivKey local_funding = PrivFromHex(KeyHex("local_funding_privkey"));
    const PrivKey remote_funding = PrivFromHex(KeyHex("remote_funding_privkey"));
    const PrivKey local_htlc_key = PrivFromHex(KeyHex("local_privkey"));
    const PrivKey remote_htlc_key = PrivFromHex(KeyHex("remote_privkey"));
    size_t commitments = 0, htlc_txs = 0;
    for (const auto& group : Vectors()["formats"]) {
        const CommitmentFormat format = FormatOf(Str(group["format"]));
        for (const auto& vector : group["tests"]) {
            CAPTURE(Str(group["format"]));
            CAPTURE(Str(vector["name"]));
            CommitmentSpec spec = BaseSpec(format);
            spec.to_local_msat = Msat{vector["to_local_msat"].get<uint64_t>()};
            spec.to_remote_msat = Msat{vector["to_remote_msat"].get<uint64_t>()};
            spec.feerate_per_kw = vector["feerate_per_kw"].get<uint32_t>();
            spec.dust_limit_sat = Sat{vector["dust_limit_satoshis"].get<uint64_t>()};
            std::vector<const VectorHtlc*> used;
            for (const auto& id : vector["htlcs"]) {
                used.push_back(&all_htlcs.at(id.get<size_t>()));
                spec.htlcs.push_back(used.back()->htlc);
            }

            const CommitmentKeys keys = DeriveCommitmentKeys(spec);
            CommitmentTx commitment = BuildCommitmentTx(spec, keys);
            const Sat funding_sat = spec.funding_sat;
            const EcdsaSignature local_sig = SignFundingInput(commitment.tx, commitment.funding_script, funding_sat, local_funding);
            const EcdsaSignature remote_sig = SignFundingInput(commitment.tx, commitment.funding_script, funding_sat, remote_funding);
            CHECK(VerifyFundingSignature(commitment.tx, commitment.funding_script, funding_sat, keys.remote_funding, remote_sig));
            SetFundingWitness(commitment.tx, commitment.funding_script, keys.local_funding, local_sig, keys.remote_funding,
                              remote_sig);
            CHECK(TxHex(commitment.tx) == Str(vector["commit_tx"]));
            const TxOut funding_output{ToTxValue(funding_sat), P2wshScript(commitment.funding_script).Data()};
            CHECK(VerifyInput(commitment.tx, 0, funding_output) == ScriptError::OK);
            ++commitments;

            std::vector<HtlcTx> second_stage = BuildHtlcTxs(commitment, spec, keys);
            REQUIRE(second_stage.size() == vector["htlc_txs"].size());
            const uint8_t remote_type = CounterpartyHtlcSigHashType(format);
            for (size_t i = 0; i < second_stage.size(); ++i) {
                HtlcTx& htlc_tx = second_stage[i];
                const auto& expected = vector["htlc_txs"][i];
                CAPTURE(i);
                const VectorHtlc& source = *used.at(htlc_tx.htlc_index);
                if (expected.contains("htlc")) {
                    CHECK(expected["htlc"].get<uint64_t>() == source.id);
                    CHECK((Str(expected["type"]) == "success") == htlc_tx.is_success);
                }
                const EcdsaSignature remote = SignHtlcTx(htlc_tx, remote_htlc_key, remote_type);
                const EcdsaSignature local = SignHtlcTx(htlc_tx, local_htlc_key, SIGHASH_ALL);
                CHECK(VerifyHtlcSignature(htlc_tx, keys.remote_htlc.value(), remote, remote_type));
                if (htlc_tx.is_success) {
                    SetHtlcSuccessWitness(htlc_tx, remote, remote_type, local, source.preimage);
                } else {
                    SetHtlcTimeoutWitness(htlc_tx, remote, remote_type, local);
                }
                CHECK(TxHex(htlc_tx.tx) == Str(expected["tx"]));
                CHECK(VerifyInput(htlc_tx.tx, 0, commitment.tx.vout[htlc_tx.commitment_output]) == ScriptError::OK);
                ++htlc_txs;
            }
        }
    }
    CHECK(commitments == 55);
    CHECK(htlc_txs == 109);
}

namespace {
// Legacy (pre-segwit) SIGHASH_ALL digest: only Appendix B's P2PKH funding input needs it.
Hash256 LegacySigHashAll(Transaction tx, size_t input, ByteSpan script_code)
{
    for (size_t i = 0; i < tx.vin.size(); ++i) {
        tx.vin[i].script_sig = i == input ? Bytes(script_code.begin(), script_code.end()) : Bytes{};
        tx.vin[i].witness.clear();
    }
    ByteWriter writer;
    SerializeTransaction(writer, tx, TxWitness::EXCLUDE);
    writer.U32(SIGHASH_ALL);
    return Sha256d(writer.Data());
}
} // namespace

TEST_CASE("BOLT 3 Appendix B funding transaction")
{
    const auto v = ReadJsonVectors("channel/bolt3_funding.json");
    const Transaction coinbase = ParseTransaction(ParseHex(Str(v["block1_coinbase_tx"])));
    CHECK(HashToHexRev(coinbase.GetTxid()) == Str(v["input_txid"]));
    const PrivKey coinbase_key = PrivFromHex(Str(v["coinbase_privkey"]));
    const PubKey coinbase_pub = coinbase_key.GetPubKey();
    REQUIRE(coinbase.vout.at(0).script_pubkey == P2pkhScript(coinbase_pub).Data());

    const Script funding_script = FundingScript(PubFromHex(Str(v["local_funding_pubkey"])),
                                                PubFromHex(Str(v["remote_funding_pubkey"])));
    CHECK(ToHex(funding_script.span()) == Str(v["funding_witness_script"]));
    Transaction tx;
    tx.version = 2;
    tx.vin.push_back(TxIn{.prevout = {coinbase.GetTxid(), v["input_index"].get<uint32_t>()}, .script_sig = {},
                          .sequence = SEQUENCE_FINAL, .witness = {}});
    tx.vout.push_back(TxOut{v["funding_satoshis"].get<int64_t>(), P2wshScript(funding_script).Data()});
    tx.vout.push_back(TxOut{v["change_satoshis"].get<int64_t>(), P2wpkhScript(coinbase_pub).Data()});
    std::sort(tx.vout.begin(), tx.vout.end(), [](const TxOut& a, const TxOut& b) {
        return a.value != b.value ? a.value < b.value : a.script_pubkey < b.script_pubkey;
    });
    CHECK(tx.vout[v["funding_output"].get<size_t>()].value == v["funding_satoshis"].get<int64_t>());
    const EcdsaSignature sig = coinbase_key.Sign(LegacySigHashAll(tx, 0, coinbase.vout[0].script_pubkey));
    tx.vin[0].script_sig = Script{}.Push(WitnessSignature(sig)).Push(coinbase_pub.span()).Data();
    CHECK(TxHex(tx) == Str(v["funding_tx"]));
    CHECK(HashToHexRev(tx.GetTxid()) == Str(v["funding_txid"]));
    // The change pays input - funding - fee at the vector's feerate_per_kw for this tx's weight.
    CHECK(v["input_satoshis"].get<int64_t>() - v["funding_satoshis"].get<int64_t>() - v["change_satoshis"].get<int64_t>() ==
          v["feerate_per_kw"].get<int64_t>() * 928 / 1000);
}
