#include "tests/support/interpreter.h"
#include "primitives/script.h"
#include "primitives/sighash.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <secp256k1.h>

#include <string>
#include <string_view>

using namespace sidebolt;

// Failed checks print the error's name.
template <>
struct doctest::StringMaker<ScriptError> {
    static doctest::String convert(ScriptError e) { return std::string(ScriptErrorName(e)).c_str(); }
};

namespace {
std::string Str(const nlohmann::json& j) { return j.get<std::string>(); }


PrivKey Key(std::string_view name)
{
    const auto key = PrivKey::FromBytes(Sha256({reinterpret_cast<const uint8_t*>(name.data()), name.size()}));
    REQUIRE(key);
    return *key;
}

Bytes Pub(const PrivKey& key)
{
    const PubKey pub = key.GetPubKey();
    return Bytes(pub.span().begin(), pub.span().end());
}

// BOLT 3 witness scripts, built here to test the Script builder and to spend with our own keys.
Script ToLocalScript(ByteSpan revocation, int64_t to_self_delay, ByteSpan delayed)
{
    return Script{}.Op(OP_IF).Push(revocation).Op(OP_ELSE).Num(to_self_delay).Op(OP_CSV).Op(OP_DROP).Push(delayed)
        .Op(OP_ENDIF).Op(OP_CHECKSIG);
}

Script OfferedHtlcScript(ByteSpan revocation, ByteSpan remote_htlc, ByteSpan local_htlc, const Hash160& payment_hash160)
{
    return Script{}.Op(OP_DUP).Op(OP_HASH160).Push(Hash160Of(revocation)).Op(OP_EQUAL)
        .Op(OP_IF).Op(OP_CHECKSIG)
        .Op(OP_ELSE).Push(remote_htlc).Op(OP_SWAP).Op(OP_SIZE).Num(32).Op(OP_EQUAL)
        .Op(OP_NOTIF).Op(OP_DROP).Num(2).Op(OP_SWAP).Push(local_htlc).Num(2).Op(OP_CHECKMULTISIG)
        .Op(OP_ELSE).Op(OP_HASH160).Push(payment_hash160).Op(OP_EQUALVERIFY).Op(OP_CHECKSIG)
        .Op(OP_ENDIF).Op(OP_ENDIF);
}

Script ReceivedHtlcScript(ByteSpan revocation, ByteSpan remote_htlc, ByteSpan local_htlc, const Hash160& payment_hash160,
                          int64_t cltv_expiry)
{
    return Script{}.Op(OP_DUP).Op(OP_HASH160).Push(Hash160Of(revocation)).Op(OP_EQUAL)
        .Op(OP_IF).Op(OP_CHECKSIG)
        .Op(OP_ELSE).Push(remote_htlc).Op(OP_SWAP).Op(OP_SIZE).Num(32).Op(OP_EQUAL)
        .Op(OP_IF).Op(OP_HASH160).Push(payment_hash160).Op(OP_EQUALVERIFY).Num(2).Op(OP_SWAP).Push(local_htlc).Num(2)
        .Op(OP_CHECKMULTISIG)
        .Op(OP_ELSE).Op(OP_DROP).Num(cltv_expiry).Op(OP_CLTV).Op(OP_DROP).Op(OP_CHECKSIG)
        .Op(OP_ENDIF).Op(OP_ENDIF);
}

//! option_anchors: the anchor output and the CSV-1 to_remote output.
Script AnchorScript(ByteSpan funding_pubkey)
{
    return Script{}.Push(funding_pubkey).Op(OP_CHECKSIG).Op(OP_IFDUP).Op(OP_NOTIF).Num(16).Op(OP_CSV).Op(OP_ENDIF);
}

Script ToRemoteAnchorScript(ByteSpan pubkey) { return Script{}.Push(pubkey).Op(OP_CHECKSIGVERIFY).Num(1).Op(OP_CSV); }

//! One transaction spending a single P2WSH output, signed and verified with its witness script.
struct WshSpend {
    Script witness_script;
    Transaction tx;
    int64_t amount{100000};

    TxOut Prev() const { return {amount, P2wshScript(witness_script).Data()}; }
    Bytes Sign(const PrivKey& key, uint8_t type = SIGHASH_ALL) const
    {
        return SignInputV0(key, tx, 0, witness_script.span(), amount, type, SigHashCache(tx));
    }
    ScriptError Verify(std::vector<Bytes> stack, uint32_t flags = VERIFY_STANDARD) const
    {
        Transaction spending = tx;
        stack.push_back(witness_script.Data());
        spending.vin[0].witness = std::move(stack);
        return VerifyWitnessInput(spending, 0, Prev(), SigHashCache(spending), flags);
    }
};

Transaction SpendingTx(uint32_t sequence, uint32_t locktime = 0, uint32_t version = 2)
{
    Transaction tx;
    tx.version = version;
    tx.locktime = locktime;
    TxIn in;
    in.prevout = {Sha256(Bytes{0x42}), 1};
    in.sequence = sequence;
    tx.vin.push_back(in);
    tx.vout.push_back({90000, P2wpkhScript(Hash160{}).Data()});
    return tx;
}

WshSpend MakeSpend(Script witness_script, uint32_t sequence = 0xfffffffe, uint32_t locktime = 0, uint32_t version = 2)
{
    return {std::move(witness_script), SpendingTx(sequence, locktime, version)};
}

//! The same signature with S replaced by n - S: valid by consensus, rejected by BIP146 LOW_S.
Bytes HighS(const Bytes& sig)
{
    const auto parsed = EcdsaSignature::FromDer(ByteSpan(sig).first(sig.size() - 1));
    REQUIRE(parsed);
    ByteArray<64> compact = parsed->Compact();
    REQUIRE(secp256k1_ec_seckey_negate(SecpContext(), compact.data() + 32));
    Bytes out = EcdsaSignature::FromCompact(compact)->Der();
    out.push_back(sig.back());
    return out;
}

//! Inserts a superfluous zero byte in front of R: still parses leniently, but is not strict DER.
Bytes PaddedR(const Bytes& sig)
{
    Bytes out = sig;
    out.insert(out.begin() + 4, 0x00);
    out[1] += 1;
    out[3] += 1;
    return out;
}
} // namespace

TEST_CASE("BIP143 example transactions verify input by input")
{
    const auto vectors = test::ReadJsonVectors("chain/bip143.json");
    for (const auto& c : vectors["cases"]) {
        CAPTURE(Str(c["name"]));
        const Transaction tx = ParseTransaction(ParseHex(Str(c["signed_tx"])));
        const SigHashCache cache(tx);
        for (const auto& input : c["inputs"]) {
            const size_t index = input["index"].get<size_t>();
            CAPTURE(index);
            TxOut prev{input["amount"].get<int64_t>(), ParseHex(Str(input["script_pubkey"]))};
            CHECK(ScriptErrorName(VerifyWitnessInput(tx, index, prev, cache)) == Str(input["expected"]));
            if (input.contains("expected_without_low_s")) {
                CHECK(ScriptErrorName(VerifyWitnessInput(tx, index, prev, cache, VERIFY_STANDARD & ~VERIFY_LOW_S)) ==
                      Str(input["expected_without_low_s"]));
            }
            if (Str(input["expected"]) == "OK") {
                // The amount is committed to: a different value invalidates every signature.
                prev.value += 1;
                CHECK(VerifyWitnessInput(tx, index, prev, cache) != ScriptError::OK);
            }
        }
    }
}

TEST_CASE("Script builder reproduces the BOLT 3 witness scripts")
{
    const auto v = test::ReadJsonVectors("chain/bolt3_scripts.json");
    const Bytes pk1 = ParseHex(Str(v["funding"]["pubkey1"]));
    const Bytes pk2 = ParseHex(Str(v["funding"]["pubkey2"]));
    CHECK(ToHex(Script{}.Num(2).Push(pk1).Push(pk2).Num(2).Op(OP_CHECKMULTISIG).span()) == Str(v["funding"]["script"]));

    const auto& tl = v["to_local"];
    const Script to_local = ToLocalScript(ParseHex(Str(tl["revocation_pubkey"])), tl["to_self_delay"].get<int64_t>(),
                                          ParseHex(Str(tl["local_delayed_pubkey"])));
    CHECK(ToHex(to_local.span()) == Str(tl["script"]));
    CHECK(to_local.ToAsm() == Str(tl["asm"]));

    const auto& h = v["htlcs"];
    const Bytes revocation = ParseHex(Str(h["revocation_pubkey"]));
    const Bytes remote = ParseHex(Str(h["remote_htlc_pubkey"]));
    const Bytes local = ParseHex(Str(h["local_htlc_pubkey"]));
    for (const auto& c : h["cases"]) {
        CAPTURE(Str(c["name"]));
        const Hash160 payment_hash160 = Ripemd160(Sha256(ParseHex(Str(c["payment_preimage"]))));
        const Script script = c["offered"].get<bool>()
                                  ? OfferedHtlcScript(revocation, remote, local, payment_hash160)
                                  : ReceivedHtlcScript(revocation, remote, local, payment_hash160,
                                                       c["cltv_expiry"].get<int64_t>());
        CHECK(ToHex(script.span()) == Str(c["script"]));
    }
}

TEST_CASE("BOLT 3 commitment and HTLC transactions spend their outputs")
{
    const auto v = test::ReadJsonVectors("chain/bolt3_spends.json");
    const auto& funding = v["funding"];
    const Transaction funding_tx = ParseTransaction(ParseHex(Str(funding["tx"])));
    CHECK(HashToHexRev(funding_tx.GetTxid()) == Str(funding["txid"]));
    const TxOut funding_output = funding_tx.vout.at(funding["output_index"].get<size_t>());
    CHECK(funding_output.value == funding["amount"].get<int64_t>());
    CHECK(funding_output.script_pubkey == P2wshScript(Script(ParseHex(Str(funding["witness_script"])))).Data());

    for (const auto& c : v["commitments"]) {
        CAPTURE(Str(c["name"]));
        const Transaction commitment = ParseTransaction(ParseHex(Str(c["tx"])));
        CHECK(commitment.vin[0].prevout.txid == funding_tx.GetTxid());
        CHECK(VerifyWitnessInput(commitment, 0, funding_output, SigHashCache(commitment)) == ScriptError::OK);

        Transaction altered = commitment;
        altered.vout[0].value -= 1;
        CHECK(VerifyWitnessInput(altered, 0, funding_output, SigHashCache(altered)) == ScriptError::SIG_NULLFAIL);

        for (const auto& h : c["htlc_txs"]) {
            CAPTURE(Str(h["name"]));
            const Transaction htlc_tx = ParseTransaction(ParseHex(Str(h["tx"])));
            REQUIRE(htlc_tx.vin.size() == 1);
            CHECK(htlc_tx.vin[0].prevout.txid == commitment.GetTxid());
            const TxOut& spent = commitment.vout.at(htlc_tx.vin[0].prevout.n);
            CHECK(VerifyWitnessInput(htlc_tx, 0, spent, SigHashCache(htlc_tx)) == ScriptError::OK);

            Transaction early = htlc_tx;
            early.locktime ^= 1;
            CHECK(VerifyWitnessInput(early, 0, spent, SigHashCache(early)) == ScriptError::SIG_NULLFAIL);
        }
    }
}

TEST_CASE("P2WPKH spends: valid, wrong key, signature encodings, witness shape")
{
    const PrivKey key = Key("p2wpkh");
    Transaction tx = SpendingTx(SEQUENCE_FINAL);
    const int64_t amount = 50000;
    const Hash160 key_hash = Hash160Of(key.GetPubKey().span());
    const TxOut prev{amount, P2wpkhScript(key_hash).Data()};
    const Script script_code = P2wpkhScriptCode(key_hash);
    const auto sign = [&](const PrivKey& k, uint8_t type) {
        return SignInputV0(k, tx, 0, script_code.span(), amount, type, SigHashCache(tx));
    };
    const auto verify = [&](std::vector<Bytes> witness, uint32_t flags = VERIFY_STANDARD) {
        Transaction spending = tx;
        spending.vin[0].witness = std::move(witness);
        return VerifyWitnessInput(spending, 0, prev, SigHashCache(spending), flags);
    };
    const Bytes sig = sign(key, SIGHASH_ALL);
    const Bytes pub = Pub(key);

    CHECK(verify({sig, pub}) == ScriptError::OK);
    for (const uint8_t type : {0x02, 0x03, 0x81, 0x82, 0x83}) CHECK(verify({sign(key, type), pub}) == ScriptError::OK);
    CHECK(verify({sign(Key("other"), SIGHASH_ALL), pub}) == ScriptError::SIG_NULLFAIL);
    CHECK(verify({sign(Key("other"), SIGHASH_ALL), pub}, VERIFY_NONE) == ScriptError::EVAL_FALSE);
    CHECK(verify({sig, Pub(Key("other"))}) == ScriptError::EQUALVERIFY);
    CHECK(verify({Bytes{}, pub}) == ScriptError::EVAL_FALSE);

    Bytes wrong_type = sig;
    wrong_type.back() = SIGHASH_SINGLE;
    CHECK(verify({wrong_type, pub}) == ScriptError::SIG_NULLFAIL);
    CHECK(verify({HighS(sig), pub}) == ScriptError::SIG_HIGH_S);
    CHECK(verify({HighS(sig), pub}, VERIFY_STANDARD & ~VERIFY_LOW_S) == ScriptError::OK);
    CHECK(verify({PaddedR(sig), pub}) == ScriptError::SIG_DER);
    CHECK(verify({PaddedR(sig), pub}, VERIFY_NONE) == ScriptError::SIG_DER); // BIP66 is consensus
    Bytes not_sequence = sig;
    not_sequence[0] = 0x31;
    CHECK(verify({not_sequence, pub}) == ScriptError::SIG_DER);
    CHECK(verify({sign(key, 0x04), pub}) == ScriptError::SIG_HASHTYPE);
    CHECK(verify({sign(key, 0x04), pub}, VERIFY_STANDARD & ~VERIFY_STRICTENC) == ScriptError::OK);

    CHECK(verify({sig}) == ScriptError::WITNESS_PROGRAM_MISMATCH);
    CHECK(verify({sig, pub, pub}) == ScriptError::WITNESS_PROGRAM_MISMATCH);
    CHECK(verify({}) == ScriptError::WITNESS_PROGRAM_MISMATCH);

    // Segwit v0 policy allows only compressed keys (BIP143 "Restrictions on public key type").
    const auto uncompressed = key.GetPubKey().SerializeUncompressed();
    const TxOut prev_uncompressed{amount, P2wpkhScript(Hash160Of(uncompressed)).Data()};
    const Bytes sig_u = SignInputV0(key, tx, 0, P2wpkhScriptCode(Hash160Of(uncompressed)).span(), amount, SIGHASH_ALL,
                                    SigHashCache(tx));
    Transaction spending = tx;
    spending.vin[0].witness = {sig_u, Bytes(uncompressed.begin(), uncompressed.end())};
    CHECK(VerifyWitnessInput(spending, 0, prev_uncompressed, SigHashCache(spending)) == ScriptError::WITNESS_PUBKEYTYPE);
    CHECK(VerifyWitnessInput(spending, 0, prev_uncompressed, SigHashCache(spending),
                             VERIFY_STANDARD & ~VERIFY_WITNESS_PUBKEYTYPE) == ScriptError::OK);

    spending = tx;
    spending.vin[0].witness = {sig, pub};
    spending.vin[0].script_sig = {OP_0};
    CHECK(VerifyWitnessInput(spending, 0, prev, SigHashCache(spending)) == ScriptError::WITNESS_MALLEATED);
    CHECK(VerifyWitnessInput(spending, 1, prev, SigHashCache(spending)) == ScriptError::INPUT_INDEX);
}

TEST_CASE("P2SH-wrapped P2WPKH: exact redeem script push required")
{
    const PrivKey key = Key("p2sh-p2wpkh");
    const Hash160 key_hash = Hash160Of(key.GetPubKey().span());
    const Script redeem = P2wpkhScript(key_hash);
    const TxOut prev{70000, P2shScript(redeem).Data()};
    Transaction tx = SpendingTx(SEQUENCE_FINAL);
    const Bytes sig = SignInputV0(key, tx, 0, P2wpkhScriptCode(key_hash).span(), prev.value, SIGHASH_ALL, SigHashCache(tx));
    tx.vin[0].witness = {sig, Pub(key)};
    const auto verify_with_script_sig = [&](const Script& script_sig) {
        Transaction spending = tx;
        spending.vin[0].script_sig = script_sig.Data();
        return VerifyWitnessInput(spending, 0, prev, SigHashCache(spending));
    };
    CHECK(verify_with_script_sig(Script{}.Push(redeem.span())) == ScriptError::OK);
    CHECK(verify_with_script_sig(Script{}.Op(OP_0).Push(redeem.span())) == ScriptError::WITNESS_MALLEATED_P2SH);
    CHECK(verify_with_script_sig(Script{}.Op(OP_NOP).Push(redeem.span())) == ScriptError::SIG_PUSHONLY);
    CHECK(verify_with_script_sig(Script{}.Push(P2wpkhScript(Hash160{}).span())) == ScriptError::EVAL_FALSE);
    CHECK(verify_with_script_sig(Script{}) == ScriptError::INVALID_STACK_OPERATION);
    const Script legacy_redeem = Script{}.Op(OP_TRUE);
    const TxOut legacy_prev{1, P2shScript(legacy_redeem).Data()};
    Transaction spending = tx;
    spending.vin[0].script_sig = Script{}.Push(legacy_redeem.span()).Data();
    CHECK(VerifyWitnessInput(spending, 0, legacy_prev, SigHashCache(spending)) == ScriptError::NOT_WITNESS_PROGRAM);
}

TEST_CASE("to_local: revocation and CSV-delayed paths (BIP68/BIP112)")
{
    const PrivKey revocation = Key("revocation");
    const PrivKey delayed = Key("delayed");
    const Script script = ToLocalScript(Pub(revocation), 144, Pub(delayed));
    const Bytes one{0x01};

    const WshSpend penalty = MakeSpend(script);
    CHECK(penalty.Verify({penalty.Sign(revocation), one}) == ScriptError::OK);
    CHECK(penalty.Verify({penalty.Sign(delayed), one}) == ScriptError::SIG_NULLFAIL);
    CHECK(penalty.Verify({penalty.Sign(revocation), Bytes{0x02}}) == ScriptError::MINIMALIF);
    CHECK(penalty.Verify({penalty.Sign(revocation), Bytes{0x01, 0x00}}) == ScriptError::MINIMALIF);
    CHECK(penalty.Verify({penalty.Sign(revocation), Bytes{0x02}}, VERIFY_STANDARD & ~VERIFY_MINIMALIF) ==
          ScriptError::OK);
    CHECK(penalty.Verify({penalty.Sign(revocation)}) == ScriptError::MINIMALIF); // the signature became the IF argument
    CHECK(penalty.Verify({one, penalty.Sign(revocation), one}) == ScriptError::CLEANSTACK);

    const WshSpend sweep = MakeSpend(script, 144);
    CHECK(sweep.Verify({sweep.Sign(delayed), Bytes{}}) == ScriptError::OK);
    CHECK(sweep.Verify({sweep.Sign(delayed), Bytes{0x00}}) == ScriptError::MINIMALIF);
    CHECK(MakeSpend(script, 1000).Verify({MakeSpend(script, 1000).Sign(delayed), Bytes{}}) == ScriptError::OK);

    const auto sweep_with = [&](uint32_t sequence, uint32_t version) {
        const WshSpend s = MakeSpend(script, sequence, 0, version);
        return s.Verify({s.Sign(delayed), Bytes{}});
    };
    CHECK(sweep_with(143, 2) == ScriptError::UNSATISFIED_LOCKTIME);
    CHECK(sweep_with(144, 1) == ScriptError::UNSATISFIED_LOCKTIME);             // BIP68 needs version 2
    CHECK(sweep_with(144 | (1U << 31), 2) == ScriptError::UNSATISFIED_LOCKTIME); // relative lock disabled
    CHECK(sweep_with(144 | (1U << 22), 2) == ScriptError::UNSATISFIED_LOCKTIME); // time-based vs height-based
    CHECK(sweep_with(0xffff0090, 2) == ScriptError::UNSATISFIED_LOCKTIME);
    CHECK(sweep_with(0x7fbf0090, 2) == ScriptError::OK); // bits outside type flag and mask are ignored
}

TEST_CASE("offered HTLC: preimage, revocation and 2-of-2 timeout paths")
{
    const PrivKey revocation = Key("revocation");
    const PrivKey remote = Key("remote htlc");
    const PrivKey local = Key("local htlc");
    const Bytes preimage(32, 0x07);
    const Script script = OfferedHtlcScript(Pub(revocation), Pub(remote), Pub(local), Ripemd160(Sha256(preimage)));
    const WshSpend spend = MakeSpend(script);
    const Bytes remote_sig = spend.Sign(remote);
    const Bytes local_sig = spend.Sign(local);

    CHECK(spend.Verify({remote_sig, preimage}) == ScriptError::OK);
    CHECK(spend.Verify({remote_sig, Bytes(32, 0x08)}) == ScriptError::EQUALVERIFY);
    CHECK(spend.Verify({local_sig, preimage}) == ScriptError::SIG_NULLFAIL);
    CHECK(spend.Verify({spend.Sign(revocation), Pub(revocation)}) == ScriptError::OK);
    CHECK(spend.Verify({spend.Sign(remote), Pub(revocation)}) == ScriptError::SIG_NULLFAIL);

    CHECK(spend.Verify({Bytes{}, remote_sig, local_sig, Bytes{}}) == ScriptError::OK);
    CHECK(spend.Verify({Bytes{}, local_sig, remote_sig, Bytes{}}) == ScriptError::SIG_NULLFAIL);
    CHECK(spend.Verify({Bytes{}, local_sig, remote_sig, Bytes{}}, VERIFY_NONE) == ScriptError::EVAL_FALSE);
    CHECK(spend.Verify({Bytes{0x01}, remote_sig, local_sig, Bytes{}}) == ScriptError::SIG_NULLDUMMY);
    CHECK(spend.Verify({Bytes{0x01}, remote_sig, local_sig, Bytes{}}, VERIFY_STANDARD & ~VERIFY_NULLDUMMY) ==
          ScriptError::OK);
    CHECK(spend.Verify({remote_sig, local_sig, Bytes{}}) == ScriptError::INVALID_STACK_OPERATION);
    // Anchor-style HTLC signatures: the remote signs SINGLE|ANYONECANPAY.
    CHECK(spend.Verify({Bytes{}, spend.Sign(remote, SIGHASH_SINGLE | SIGHASH_ANYONECANPAY), local_sig, Bytes{}}) ==
          ScriptError::OK);
}

TEST_CASE("received HTLC: CLTV timeout path (BIP65) and preimage path")
{
    const PrivKey revocation = Key("revocation");
    const PrivKey remote = Key("remote htlc");
    const PrivKey local = Key("local htlc");
    const Bytes preimage(32, 0x09);
    const int64_t expiry = 700000;
    const Script script =
        ReceivedHtlcScript(Pub(revocation), Pub(remote), Pub(local), Ripemd160(Sha256(preimage)), expiry);

    const auto timeout = [&](uint32_t locktime, uint32_t sequence) {
        const WshSpend s = MakeSpend(script, sequence, locktime);
        return s.Verify({s.Sign(remote), Bytes{}});
    };
    CHECK(timeout(700000, 0xfffffffe) == ScriptError::OK);
    CHECK(timeout(700001, 0) == ScriptError::OK);
    CHECK(timeout(699999, 0xfffffffe) == ScriptError::UNSATISFIED_LOCKTIME);
    CHECK(timeout(700000, SEQUENCE_FINAL) == ScriptError::UNSATISFIED_LOCKTIME); // nLockTime disabled
    CHECK(timeout(500000001, 0xfffffffe) == ScriptError::UNSATISFIED_LOCKTIME);  // timestamp vs height

    const WshSpend success = MakeSpend(script);
    CHECK(success.Verify({Bytes{}, success.Sign(remote), success.Sign(local), preimage}) == ScriptError::OK);
    CHECK(success.Verify({Bytes{}, success.Sign(remote), success.Sign(local), Bytes(32, 0)}) ==
          ScriptError::EQUALVERIFY);
    CHECK(success.Verify({success.Sign(revocation), Pub(revocation)}) == ScriptError::OK);
}

TEST_CASE("anchor outputs: OP_IFDUP/OP_NOTIF with 16-block CSV, and CSV-1 to_remote")
{
    const PrivKey funding = Key("funding");
    const Script anchor = AnchorScript(Pub(funding));
    const WshSpend owner = MakeSpend(anchor, 0);
    CHECK(owner.Verify({owner.Sign(funding)}) == ScriptError::OK);
    CHECK(MakeSpend(anchor, 16).Verify({Bytes{}}) == ScriptError::OK);
    CHECK(MakeSpend(anchor, 15).Verify({Bytes{}}) == ScriptError::UNSATISFIED_LOCKTIME);
    CHECK(owner.Verify({owner.Sign(Key("stranger"))}) == ScriptError::SIG_NULLFAIL);

    const PrivKey remote = Key("to_remote");
    const Script to_remote = ToRemoteAnchorScript(Pub(remote));
    const WshSpend after_one = MakeSpend(to_remote, 1);
    CHECK(after_one.Verify({after_one.Sign(remote)}) == ScriptError::OK);
    const WshSpend immediately = MakeSpend(to_remote, 0);
    CHECK(immediately.Verify({immediately.Sign(remote)}) == ScriptError::UNSATISFIED_LOCKTIME);
    CHECK(after_one.Verify({Bytes{}}) == ScriptError::CHECKSIGVERIFY);
}

TEST_CASE("witness program and script limits")
{
    const Script true_script = Script{}.Op(OP_TRUE);
    const WshSpend spend = MakeSpend(true_script);
    CHECK(spend.Verify({}) == ScriptError::OK);
    CHECK(spend.Verify({Bytes(520, 1)}) == ScriptError::CLEANSTACK);
    CHECK(spend.Verify({Bytes(521, 1)}) == ScriptError::PUSH_SIZE);

    Transaction tx = SpendingTx(0);
    const TxOut prev = spend.Prev();
    CHECK(VerifyWitnessInput(tx, 0, prev, SigHashCache(tx)) == ScriptError::WITNESS_PROGRAM_WITNESS_EMPTY);
    tx.vin[0].witness = {Script{}.Op(OP_2).Data()};
    CHECK(VerifyWitnessInput(tx, 0, prev, SigHashCache(tx)) == ScriptError::WITNESS_PROGRAM_MISMATCH);
    tx.vin[0].witness = {Bytes{}};
    CHECK(VerifyWitnessInput(tx, 0, {1, Script{}.Op(OP_0).Push(Bytes(21, 1)).Data()}, SigHashCache(tx)) ==
          ScriptError::WITNESS_PROGRAM_WRONG_LENGTH);
    CHECK(VerifyWitnessInput(tx, 0, {1, P2trScript(XOnlyPubKey{}).Data()}, SigHashCache(tx)) ==
          ScriptError::UNSUPPORTED_WITNESS_VERSION);
    CHECK(VerifyWitnessInput(tx, 0, {1, P2pkhScript(Hash160{}).Data()}, SigHashCache(tx)) ==
          ScriptError::NOT_WITNESS_PROGRAM);

    const auto run = [](const Script& script, std::vector<Bytes> stack = {}, uint32_t flags = VERIFY_STANDARD) {
        return MakeSpend(script).Verify(std::move(stack), flags);
    };
    Script many_pushes;
    for (int i = 0; i < 1001; ++i) many_pushes.Op(OP_1);
    CHECK(run(many_pushes) == ScriptError::STACK_SIZE);
    Script many_ops = Script{}.Op(OP_1);
    for (int i = 0; i < 202; ++i) many_ops.Op(OP_NOP);
    CHECK(run(many_ops) == ScriptError::OP_COUNT);
    CHECK(run(Script(Bytes(10001, OP_1))) == ScriptError::SCRIPT_SIZE);
    CHECK(run(Script(ParseHex("0201"))) == ScriptError::BAD_OPCODE);
}

TEST_CASE("interpreter opcodes: flow control, stack, arithmetic, hashes")
{
    const auto run = [](const Script& script, std::vector<Bytes> stack = {}, uint32_t flags = VERIFY_STANDARD) {
        return MakeSpend(script).Verify(std::move(stack), flags);
    };
    CHECK(run(Script{}.Num(2).Num(3).Op(OP_ADD).Num(5).Op(OP_EQUAL)) == ScriptError::OK);
    CHECK(run(Script{}.Num(2).Num(3).Op(OP_SUB).Num(-1).Op(OP_NUMEQUAL)) == ScriptError::OK);
    CHECK(run(Script{}.Num(7).Op(OP_1ADD).Op(OP_1SUB).Op(OP_NEGATE).Op(OP_ABS).Num(7).Op(OP_NUMEQUALVERIFY).Op(OP_1)) ==
          ScriptError::OK);
    CHECK(run(Script{}.Num(4).Num(2).Num(6).Op(OP_WITHIN)) == ScriptError::OK);
    CHECK(run(Script{}.Num(6).Num(2).Num(6).Op(OP_WITHIN).Op(OP_NOT)) == ScriptError::OK);
    CHECK(run(Script{}.Num(3).Num(9).Op(OP_MIN).Num(9).Num(3).Op(OP_MAX).Op(OP_LESSTHAN)) == ScriptError::OK);
    CHECK(run(Script{}.Num(1).Num(0).Op(OP_BOOLOR).Num(1).Num(0).Op(OP_BOOLAND).Op(OP_NOT).Op(OP_BOOLAND)) ==
          ScriptError::OK);
    CHECK(run(Script{}.Num(1).Num(2).Op(OP_NUMEQUALVERIFY).Op(OP_1)) == ScriptError::NUMEQUALVERIFY);
    CHECK(run(Script{}.Op(OP_ADD), {Bytes(5, 1), Bytes{1}}) == ScriptError::SCRIPTNUM);
    CHECK(run(Script{}.Op(OP_1ADD), {Bytes{0x01, 0x00}}) == ScriptError::SCRIPTNUM);
    CHECK(run(Script{}.Op(OP_1ADD), {Bytes{0x01, 0x00}}, VERIFY_STANDARD & ~VERIFY_MINIMALDATA) == ScriptError::OK);

    CHECK(run(Script{}.Num(1).Num(2).Num(3).Op(OP_ROT).Num(1).Op(OP_EQUALVERIFY).Op(OP_2DROP).Op(OP_1)) ==
          ScriptError::OK);
    CHECK(run(Script{}.Num(1).Num(2).Op(OP_SWAP).Op(OP_DROP).Num(2).Op(OP_EQUAL)) == ScriptError::OK);
    CHECK(run(Script{}.Num(5).Op(OP_TOALTSTACK).Op(OP_FROMALTSTACK).Num(5).Op(OP_EQUAL)) == ScriptError::OK);
    CHECK(run(Script{}.Op(OP_FROMALTSTACK)) == ScriptError::INVALID_ALTSTACK_OPERATION);
    CHECK(run(Script{}.Num(1).Num(2).Num(3).Num(2).Op(OP_PICK).Num(1).Op(OP_EQUALVERIFY).Op(OP_DEPTH).Num(3)
                  .Op(OP_EQUALVERIFY).Op(OP_2DROP)) == ScriptError::OK);
    CHECK(run(Script{}.Num(1).Num(2).Num(3).Num(2).Op(OP_ROLL).Num(1).Op(OP_EQUALVERIFY).Op(OP_DEPTH).Num(2)
                  .Op(OP_EQUALVERIFY).Op(OP_2DROP).Op(OP_1)) == ScriptError::OK);
    CHECK(run(Script{}.Num(1).Num(5).Op(OP_PICK)) == ScriptError::INVALID_STACK_OPERATION);
    CHECK(run(Script{}.Num(1).Num(2).Op(OP_TUCK).Op(OP_2DROP)) == ScriptError::OK);
    CHECK(run(Script{}.Num(1).Num(2).Op(OP_2DUP).Op(OP_3DUP).Op(OP_DEPTH).Num(7).Op(OP_EQUALVERIFY).Op(OP_2DROP)
                  .Op(OP_2DROP).Op(OP_2DROP)) == ScriptError::OK);
    CHECK(run(Script{}.Num(1).Num(2).Num(3).Num(4).Op(OP_2SWAP).Op(OP_2OVER).Op(OP_NIP).Num(4).Op(OP_EQUALVERIFY)
                  .Op(OP_2DROP).Op(OP_DROP)) == ScriptError::OK);
    CHECK(run(Script{}.Num(1).Num(2).Num(3).Num(4).Num(5).Num(6).Op(OP_2ROT).Num(2).Op(OP_EQUALVERIFY).Num(1)
                  .Op(OP_EQUALVERIFY).Op(OP_OVER).Num(5).Op(OP_EQUALVERIFY).Op(OP_2DROP).Op(OP_DROP)) == ScriptError::OK);
    CHECK(run(Script{}.Op(OP_DROP)) == ScriptError::INVALID_STACK_OPERATION);

    const Bytes preimage(32, 0x55);
    CHECK(run(Script{}.Op(OP_SHA256).Push(Sha256(preimage)).Op(OP_EQUAL), {preimage}) == ScriptError::OK);
    CHECK(run(Script{}.Op(OP_SHA256).Push(Sha256(preimage)).Op(OP_EQUAL), {Bytes(32, 0)}) == ScriptError::EVAL_FALSE);
    CHECK(run(Script{}.Op(OP_HASH256).Push(Sha256d(preimage)).Op(OP_EQUAL), {preimage}) == ScriptError::OK);
    CHECK(run(Script{}.Op(OP_RIPEMD160).Push(Ripemd160(preimage)).Op(OP_EQUAL), {preimage}) == ScriptError::OK);
    CHECK(run(Script{}.Op(OP_SHA1).Push(ParseHex("a9993e364706816aba3e25717850c26c9cd0d89d")).Op(OP_EQUAL),
              {Bytes{'a', 'b', 'c'}}) == ScriptError::OK);
    CHECK(run(Script{}.Op(OP_SIZE).Num(32).Op(OP_EQUALVERIFY).Op(OP_DROP).Op(OP_1), {preimage}) == ScriptError::OK);

    CHECK(run(Script{}.Op(OP_0).Op(OP_IF).Op(OP_CAT).Op(OP_ENDIF).Op(OP_1)) == ScriptError::DISABLED_OPCODE);
    CHECK(run(Script{}.Op(OP_0).Op(OP_IF).Op(OP_VERIF).Op(OP_ENDIF).Op(OP_1)) == ScriptError::BAD_OPCODE);
    CHECK(run(Script{}.Op(OP_0).Op(OP_IF).Op(OP_RETURN).Op(OP_ENDIF).Op(OP_1)) == ScriptError::OK);
    CHECK(run(Script{}.Op(OP_RETURN)) == ScriptError::OP_RETURN);
    CHECK(run(Script{}.Op(OP_RESERVED)) == ScriptError::BAD_OPCODE);
    CHECK(run(Script{}.Op(OP_1).Op(OP_IF).Op(OP_1)) == ScriptError::UNBALANCED_CONDITIONAL);
    CHECK(run(Script{}.Op(OP_ELSE)) == ScriptError::UNBALANCED_CONDITIONAL);
    CHECK(run(Script{}.Op(OP_IF)) == ScriptError::UNBALANCED_CONDITIONAL);
    CHECK(run(Script{}.Op(OP_1).Op(OP_NOTIF).Op(OP_0).Op(OP_ELSE).Op(OP_1).Op(OP_ENDIF)) == ScriptError::OK);
    CHECK(run(Script{}.Op(OP_0).Op(OP_VERIFY).Op(OP_1)) == ScriptError::VERIFY);
    CHECK(run(Script{}.Op(OP_NOP4).Op(OP_1)) == ScriptError::DISCOURAGE_UPGRADABLE_NOPS);
    CHECK(run(Script{}.Op(OP_NOP4).Op(OP_1), {}, VERIFY_NONE) == ScriptError::OK);
    CHECK(run(Script(ParseHex("010551"))) == ScriptError::MINIMALDATA); // 0x05 must be pushed as OP_5
    CHECK(run(Script(ParseHex("010551")), {}, VERIFY_NONE) == ScriptError::CLEANSTACK);
    CHECK(run(Script{}.Num(-1).Op(OP_CLTV)) == ScriptError::NEGATIVE_LOCKTIME);
    CHECK(run(Script{}.Num(-1).Op(OP_CSV)) == ScriptError::NEGATIVE_LOCKTIME);
    CHECK(run(Script{}.Push(EncodeScriptNum(int64_t{1} << 31)).Op(OP_CSV)) == ScriptError::OK); // disable flag: NOP
    CHECK(run(Script{}.Op(OP_CLTV)) == ScriptError::INVALID_STACK_OPERATION);
    CHECK(run(Script{}.Op(OP_CHECKSIG), {Bytes{}, Bytes{}}) == ScriptError::PUBKEYTYPE);
    CHECK(run(Script{}.Op(OP_CHECKMULTISIG), {Bytes{}, Bytes{}, Bytes{21}}) == ScriptError::PUBKEY_COUNT);
    CHECK(run(Script{}.Op(OP_CHECKMULTISIG), {Bytes{}, Bytes{2}, Bytes{}, Bytes{1}}) == ScriptError::SIG_COUNT);
    CHECK(run(Script{}.Op(OP_CHECKMULTISIG).Op(OP_NOT), {Bytes{}, Bytes{}, Bytes{}}) == ScriptError::EVAL_FALSE);
    CHECK(run(Script{}.Op(OP_CHECKMULTISIG), {Bytes{}, Bytes{}, Bytes{}}) == ScriptError::OK); // 0-of-0
    CHECK(ScriptErrorName(ScriptError::SIG_NULLFAIL) == "SIG_NULLFAIL");
}
