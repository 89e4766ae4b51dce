#include "primitives/hash.h"
#include "primitives/sighash.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <secp256k1.h>

#include <stdexcept>
#include <string>

using namespace sidebolt;

namespace {
//! BIP143's "No FindAndDelete" signatures are high-S; libsecp256k1 only verifies the normalized form.
EcdsaSignature NormalizedFromDer(ByteSpan der)
{
    const auto sig = EcdsaSignature::FromDer(der);
    REQUIRE(sig);
    secp256k1_ecdsa_signature normalized;
    secp256k1_ecdsa_signature_normalize(SecpContext(), &normalized, &sig->Secp());
    return EcdsaSignature::FromSecp(normalized);
}

std::string Str(const nlohmann::json& j) { return j.get<std::string>(); }
} // namespace

TEST_CASE("BIP143 examples: midstate hashes, sighashes, signatures")
{
    const auto vectors = test::ReadJsonVectors("chain/bip143.json");
    for (const auto& c : vectors["cases"]) {
        CAPTURE(Str(c["name"]));
        const Transaction signed_tx = ParseTransaction(ParseHex(Str(c["signed_tx"])));
        std::vector<Transaction> forms{signed_tx};
        if (c.contains("unsigned_tx")) forms.push_back(ParseTransaction(ParseHex(Str(c["unsigned_tx"]))));
        for (const Transaction& tx : forms) {
            const SigHashCache cache(tx);
            if (c.contains("hash_prevouts")) CHECK(ToHex(cache.hash_prevouts) == Str(c["hash_prevouts"]));
            if (c.contains("hash_sequence")) CHECK(ToHex(cache.hash_sequence) == Str(c["hash_sequence"]));
            if (c.contains("hash_outputs")) CHECK(ToHex(cache.hash_outputs) == Str(c["hash_outputs"]));
            for (const auto& input : c["inputs"]) {
                const size_t index = input["index"].get<size_t>();
                const int64_t amount = input["amount"].get<int64_t>();
                for (const auto& sh : input["sighashes"]) {
                    const Bytes script_code = ParseHex(Str(sh["script_code"]));
                    const auto type = sh["sighash_type"].get<uint8_t>();
                    CAPTURE(int{type});
                    const Hash256 sighash = SignatureHashV0(tx, index, script_code, amount, type, cache);
                    CHECK(ToHex(sighash) == Str(sh["sighash"]));
                    CHECK(SignatureHashV0(tx, index, script_code, amount, type) == sighash);
                    if (!sh.contains("signature")) continue;
                    const auto key = PubKey::Parse(ParseHex(Str(sh["public_key"])));
                    REQUIRE(key);
                    CHECK(VerifyEcdsa(*key, sighash, NormalizedFromDer(ParseHex(Str(sh["signature"])))));
                    if (!sh.contains("private_key")) continue;
                    const auto priv = PrivKey::FromBytes(ParseHex(Str(sh["private_key"])));
                    REQUIRE(priv);
                    CHECK(priv->GetPubKey() == *key);
                    // RFC6979 makes the examples' signatures reproducible.
                    const Bytes sig = SignInputV0(*priv, tx, index, script_code, amount, type, cache);
                    CHECK(ToHex(sig) == Str(sh["signature"]) + ToHex(Bytes{type}));
                }
            }
        }
    }
}

TEST_CASE("each sighash type commits to exactly its parts of the transaction")
{
    Transaction tx;
    for (uint32_t i = 0; i < 3; ++i) {
        TxIn in;
        in.prevout = {Sha256(Bytes{static_cast<uint8_t>(i)}), i};
        in.sequence = 0xfffffffd - i;
        tx.vin.push_back(in);
        tx.vout.push_back({1000 * (i + 1), P2wpkhScript(Hash160Of(Bytes{static_cast<uint8_t>(i)})).Data()});
    }
    const Bytes script_code = P2wpkhScriptCode(Hash160{}).Data();
    const auto hash = [&](const Transaction& t, uint8_t type) { return SignatureHashV0(t, 1, script_code, 5000, type); };

    Transaction other_input = tx;
    other_input.vin[0].prevout.n = 99;
    Transaction other_sequence = tx;
    other_sequence.vin[2].sequence = 0;
    Transaction other_output = tx;
    other_output.vout[0].value += 1;
    Transaction own_output = tx;
    own_output.vout[1].value += 1;
    Transaction witness_added = tx;
    witness_added.vin[0].witness = {Bytes{1}};

    for (const uint8_t type : {0x01, 0x02, 0x03, 0x81, 0x82, 0x83}) {
        CAPTURE(int{type});
        const bool acp = type & SIGHASH_ANYONECANPAY;
        const uint8_t base = type & 0x1f;
        const Hash256 h = hash(tx, type);
        CHECK((hash(other_input, type) == h) == acp);
        CHECK((hash(other_sequence, type) == h) == (acp || base != SIGHASH_ALL));
        CHECK((hash(other_output, type) == h) == (base != SIGHASH_ALL));
        CHECK((hash(own_output, type) == h) == (base == SIGHASH_NONE));
        CHECK(hash(witness_added, type) == h);
        CHECK(SignatureHashV0(tx, 1, script_code, 5001, type) != h);
        CHECK(IsDefinedSigHashType(type));
    }
    for (const uint8_t type : {0x00, 0x04, 0x80, 0x84, 0x41, 0xff}) CHECK_FALSE(IsDefinedSigHashType(type));
    CHECK_THROWS_AS(SignatureHashV0(tx, 3, script_code, 1, SIGHASH_ALL), std::out_of_range);
}

TEST_CASE("SIGHASH_SINGLE without a matching output commits to zero outputs")
{
    Transaction tx;
    tx.vin.resize(2);
    tx.vout.push_back({1, Bytes{OP_TRUE}});
    const Bytes script_code = P2wpkhScriptCode(Hash160{}).Data();
    Transaction changed = tx;
    changed.vout[0].value = 2;
    // Input 1 has no output 1: any change to the outputs leaves the hash unchanged.
    CHECK(SignatureHashV0(tx, 1, script_code, 7, SIGHASH_SINGLE) ==
          SignatureHashV0(changed, 1, script_code, 7, SIGHASH_SINGLE));
    CHECK(SignatureHashV0(tx, 0, script_code, 7, SIGHASH_SINGLE) !=
          SignatureHashV0(changed, 0, script_code, 7, SIGHASH_SINGLE));
}

TEST_CASE("signing many inputs with one cache matches per-input hashing")
{
    Transaction tx;
    for (uint32_t i = 0; i < 300; ++i) {
        TxIn in;
        in.prevout = {Sha256(Bytes{static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8)}), i};
        tx.vin.push_back(in);
    }
    tx.vout.push_back({100000, P2wpkhScript(Hash160{}).Data()});
    const PrivKey key = PrivKey::Generate();
    const Bytes script_code = P2wpkhScriptCode(Hash160Of(key.GetPubKey().span())).Data();
    const SigHashCache cache(tx);
    for (size_t i = 0; i < tx.vin.size(); i += 37) {
        const Bytes sig = SignInputV0(key, tx, i, script_code, 1000, SIGHASH_ALL, cache);
        CHECK(sig.back() == SIGHASH_ALL);
        const auto parsed = EcdsaSignature::FromDer(ByteSpan(sig).first(sig.size() - 1));
        REQUIRE(parsed);
        CHECK(VerifyEcdsa(key.GetPubKey(), SignatureHashV0(tx, i, script_code, 1000, SIGHASH_ALL), *parsed));
    }
}

TEST_CASE("a sighash cache for one type holds just what that type commits to, and hashes the same")
{
    Transaction tx;
    tx.version = 2;
    tx.locktime = 77;
    for (uint8_t i = 0; i < 2; ++i) {
        tx.vin.push_back(TxIn{.prevout = OutPoint{Sha256(Bytes{i}), i}, .script_sig = {}, .sequence = 5U + i, .witness = {}});
    }
    for (uint8_t i = 0; i < 3; ++i) tx.vout.push_back(TxOut{.value = 1000 * (i + 1), .script_pubkey = Bytes(22, i)});
    const SigHashCache full(tx);
    const Bytes script_code{0x51};
    for (const uint8_t base : {SIGHASH_ALL, SIGHASH_NONE, SIGHASH_SINGLE}) {
        for (const uint8_t acp : {uint8_t{0}, SIGHASH_ANYONECANPAY}) {
            const uint8_t type = base | acp;
            CAPTURE(int{type});
            const SigHashCache partial(tx, type);
            CHECK(partial.hash_prevouts == (acp ? Hash256{} : full.hash_prevouts));
            CHECK(partial.hash_sequence == (acp || base != SIGHASH_ALL ? Hash256{} : full.hash_sequence));
            CHECK(partial.hash_outputs == (base != SIGHASH_ALL ? Hash256{} : full.hash_outputs));
            for (size_t input = 0; input < tx.vin.size(); ++input) {
                const Hash256 expected = SignatureHashV0(tx, input, script_code, 4000, type, full);
                CHECK(SignatureHashV0(tx, input, script_code, 4000, type, partial) == expected);
                CHECK(SignatureHashV0(tx, input, script_code, 4000, type) == expected);
            }
        }
    }
    const SigHashCache all(tx, SIGHASH_ALL);
    CHECK(all.hash_prevouts == full.hash_prevouts);
    CHECK(all.hash_sequence == full.hash_sequence);
    CHECK(all.hash_outputs == full.hash_outputs);
}
