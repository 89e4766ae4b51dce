// Cooperative closing transactions: legacy closing_signed and option_simple_close shapes.
#include "channel/closing.h"
#include "channel/funding.h"
#include "channel/scripts.h"
#include "tests/channel/channel_test_util.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>

using namespace sidebolt;
using namespace sidebolt::test;
using namespace sidebolt::amount_literals;

namespace {
struct Fixture {
    PrivKey local_key{NamedKey("close local funding")};
    PrivKey remote_key{NamedKey("close remote funding")};
    Script funding_script{FundingScript(local_key.GetPubKey(), remote_key.GetPubKey())};
    OutPoint funding{Sha256(Bytes{7}), 3};
    Sat funding_sat{1'000'000};
    Bytes local_spk{P2wpkhScript(NamedKey("local wallet").GetPubKey()).Data()};
    Bytes remote_spk{P2wshScript(Script{}.Op(OP_TRUE)).Data()};

    //! Both signatures added; the funding input verifies with the interpreter.
    void SignAndVerify(Transaction& tx) const
    {
        SetFundingWitness(tx, funding_script, local_key.GetPubKey(), SignFundingInput(tx, funding_script, funding_sat, local_key),
                          remote_key.GetPubKey(), SignFundingInput(tx, funding_script, funding_sat, remote_key));
        CHECK(VerifyInput(tx, 0, TxOut{ToTxValue(funding_sat), P2wshScript(funding_script).Data()}) == ScriptError::OK);
    }
};
} // namespace

TEST_CASE("legacy closing transaction: fee from the opener, dust removed, BIP69 order")
{
    Fixture f;
    Transaction tx =
        BuildLegacyClosingTx(f.funding, {600'000'500_msat, f.local_spk}, {399'000'000_msat, f.remote_spk}, true, 1000_sat, 546_sat);
    CHECK(tx.version == 2);
    CHECK(tx.locktime == 0);
    CHECK(tx.vin[0].sequence == SEQUENCE_FINAL);
    REQUIRE(tx.vout.size() == 2);
    CHECK(tx.vout[0] == TxOut{399'000, f.remote_spk});
    CHECK(tx.vout[1] == TxOut{599'000, f.local_spk}); // msat rounded down, fee taken
    f.SignAndVerify(tx);

    // The acceptor pays nothing; an output below the signer's dust limit disappears.
    const Transaction dusty =
        BuildLegacyClosingTx(f.funding, {999'500'000_msat, f.local_spk}, {500'000_msat, f.remote_spk}, false, 100_sat, 546_sat);
    REQUIRE(dusty.vout.size() == 1);
    CHECK(dusty.vout[0].value == 999'500);
    // The other variant: the signer leaves out its own output.
    const Transaction own_omitted =
        BuildLegacyClosingTx(f.funding, {600'000'000_msat, f.local_spk}, {400'000'000_msat, f.remote_spk}, true, 1000_sat, 546_sat, true);
    REQUIRE(own_omitted.vout.size() == 1);
    CHECK(own_omitted.vout[0].script_pubkey == f.remote_spk);
    CHECK_THROWS_AS(BuildLegacyClosingTx(f.funding, {500'000_msat, f.local_spk}, {999'500'000_msat, f.remote_spk}, true,
                                         1000_sat, 546_sat),
                    std::invalid_argument);
    // No transaction output can carry more than 21 million bitcoin.
    CHECK_THROWS_AS(BuildLegacyClosingTx(f.funding, {Msat{UINT64_MAX}, f.local_spk}, {0_msat, f.remote_spk}, true, 1000_sat,
                                         546_sat),
                    AmountError);
}

TEST_CASE("simple close: closer pays, variants, OP_RETURN closer output, RBF sequence")
{
    Fixture f;
    const ClosingParty closer{300'000'000_msat, f.local_spk};
    const ClosingParty closee{700'000'000_msat, f.remote_spk};
    Transaction both = BuildSimpleClosingTx(f.funding, closer, closee, 2000_sat, 800'000, SimpleCloseVariant::CLOSER_AND_CLOSEE_OUTPUTS);
    CHECK(both.locktime == 800'000);
    CHECK(both.vin[0].sequence == 0xfffffffd);
    REQUIRE(both.vout.size() == 2);
    CHECK(both.vout[0] == TxOut{298'000, f.local_spk});
    CHECK(both.vout[1] == TxOut{700'000, f.remote_spk});
    f.SignAndVerify(both);

    const Transaction closer_only = BuildSimpleClosingTx(f.funding, closer, closee, 2000_sat, 0, SimpleCloseVariant::CLOSER_OUTPUT_ONLY);
    REQUIRE(closer_only.vout.size() == 1);
    CHECK(closer_only.vout[0].value == 298'000);
    const Transaction closee_only = BuildSimpleClosingTx(f.funding, closer, closee, 2000_sat, 0, SimpleCloseVariant::CLOSEE_OUTPUT_ONLY);
    REQUIRE(closee_only.vout.size() == 1);
    CHECK(closee_only.vout[0].value == 700'000);

    const Bytes op_return = Script{}.Op(OP_RETURN).Push(Bytes(6, 0xab)).Data();
    CHECK(IsOpReturnScript(op_return));
    CHECK(!IsOpReturnScript(Script{}.Op(OP_RETURN).Push(Bytes(5, 0xab)).Data()));
    CHECK(IsOpReturnScript(Script{}.Op(OP_RETURN).Push(Bytes(80, 0xab)).Data()));
    CHECK(!IsOpReturnScript(Script{}.Op(OP_RETURN).Push(Bytes(81, 0xab)).Data()));
    Transaction burn = BuildSimpleClosingTx(f.funding, {1'000'000_msat, op_return}, closee, 100'000'000_sat, 0,
                                            SimpleCloseVariant::CLOSER_AND_CLOSEE_OUTPUTS);
    REQUIRE(burn.vout.size() == 2);
    CHECK(burn.vout[0] == TxOut{0, op_return});
    f.SignAndVerify(burn);
    CHECK_THROWS_AS(BuildSimpleClosingTx(f.funding, closer, closee, 300'001_sat, 0, SimpleCloseVariant::CLOSER_AND_CLOSEE_OUTPUTS),
                    std::invalid_argument);
}
