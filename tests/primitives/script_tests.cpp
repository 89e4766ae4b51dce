#include "primitives/script.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <string>

using namespace sidebolt;

TEST_CASE("Push picks the minimal encoding for every size class")
{
    const std::pair<Bytes, std::string> cases[] = {
        {{}, "00"},
        {{0x05}, "55"},
        {{0x10}, "60"},
        {{0x11}, "0111"},
        {{0x81}, "4f"},
        {{0x00}, "0100"},
    };
    for (const auto& [data, hex] : cases) CHECK(ToHex(Script{}.Push(data).span()) == hex);
    const auto prefix = [](size_t size) {
        const Script s = Script{}.Push(Bytes(size, 0xaa));
        CHECK(s.size() > size);
        return ToHex(ByteSpan(s.span()).first(s.size() - size));
    };
    CHECK(prefix(2) == "02");
    CHECK(prefix(75) == "4b");
    CHECK(prefix(76) == "4c4c");
    CHECK(prefix(255) == "4cff");
    CHECK(prefix(256) == "4d0001");
    CHECK(prefix(65535) == "4dffff");
    CHECK(prefix(65536) == "4e00000100");
}

TEST_CASE("Num uses small-integer opcodes, then minimal CScriptNum pushes")
{
    const std::pair<int64_t, std::string> cases[] = {
        {0, "00"}, {-1, "4f"}, {1, "51"}, {16, "60"}, {17, "0111"}, {-2, "0182"}, {127, "017f"},
        {128, "028000"}, {-128, "028080"}, {144, "029000"}, {500, "02f401"}, {255, "02ff00"},
        {0x7fffffff, "04ffffff7f"}, {-0x7fffffff, "04ffffffff"}, {0x80000000LL, "050000008000"},
    };
    for (const auto& test_case : cases) {
        CAPTURE(test_case.first);
        CHECK(ToHex(Script{}.Num(test_case.first).span()) == test_case.second);
    }
}

TEST_CASE("CScriptNum encoding round-trips; decoding enforces size and minimality")
{
    for (int64_t n : {0LL, 1LL, -1LL, 127LL, 128LL, -128LL, 255LL, 256LL, 32767LL, 32768LL, -32768LL, 8388608LL,
                      2147483647LL, -2147483647LL, 549755813887LL, -549755813887LL}) {
        CAPTURE(n);
        const Bytes enc = EncodeScriptNum(n);
        CHECK(DecodeScriptNum(enc, 8) == n);
    }
    CHECK(EncodeScriptNum(0).empty());
    CHECK(ToHex(EncodeScriptNum(-0x80)) == "8080");
    CHECK(DecodeScriptNum(ParseHex("8000")) == 128);
    // Zero has one minimal encoding: empty. "00" and negative zero "80" are padded.
    CHECK_FALSE(DecodeScriptNum(ParseHex("00")));
    CHECK_FALSE(DecodeScriptNum(ParseHex("80")));
    CHECK(DecodeScriptNum(ParseHex("80"), 4, false) == 0);
    CHECK_FALSE(DecodeScriptNum(ParseHex("0100")));
    CHECK_FALSE(DecodeScriptNum(ParseHex("0180")));
    CHECK(DecodeScriptNum(ParseHex("0100"), 4, false) == 1);
    CHECK(DecodeScriptNum(ParseHex("0180"), 4, false) == -1);
    CHECK_FALSE(DecodeScriptNum(ParseHex("0000000001")));
    CHECK(DecodeScriptNum(ParseHex("0000000001"), 5) == 0x100000000LL);
}

TEST_CASE("GetScriptOp decodes pushes and fails on truncation")
{
    const Bytes script = ParseHex("00" "0201ff" "4c0103" "4d0200aabb" "4e01000000cc" "51" "ac");
    size_t pos = 0;
    ScriptOp op;
    const std::pair<Opcode, std::string> expected[] = {
        {OP_0, ""}, {static_cast<Opcode>(2), "01ff"}, {OP_PUSHDATA1, "03"}, {OP_PUSHDATA2, "aabb"},
        {OP_PUSHDATA4, "cc"}, {OP_1, ""}, {OP_CHECKSIG, ""},
    };
    for (const auto& [opcode, data] : expected) {
        REQUIRE(GetScriptOp(script, pos, op));
        CHECK(op.opcode == opcode);
        CHECK(ToHex(op.data) == data);
    }
    CHECK(pos == script.size());
    CHECK_FALSE(GetScriptOp(script, pos, op));
    for (const char* bad : {"02aa", "4c", "4c02aa", "4d01", "4d0100", "4e010000", "4e02000000aa"}) {
        CAPTURE(std::string(bad));
        const Bytes b = ParseHex(bad);
        size_t p = 0;
        CHECK_FALSE(GetScriptOp(b, p, op));
        CHECK(p == 0);
    }
    CHECK(IsPushOnly(ParseHex("00514f0201ff")));
    CHECK_FALSE(IsPushOnly(ParseHex("0051ac")));
    CHECK_FALSE(IsPushOnly(ParseHex("02aa")));
    CHECK(IsMinimalPush(OP_1, ParseHex("01")));
    CHECK_FALSE(IsMinimalPush(static_cast<Opcode>(1), ParseHex("01")));
    CHECK_FALSE(IsMinimalPush(OP_PUSHDATA1, Bytes(10, 0)));
}

TEST_CASE("ToAsm prints like Core and names opcodes")
{
    const Script s = Script{}.Op(OP_DUP).Op(OP_HASH160).Push(Bytes(20, 0xab)).Op(OP_EQUALVERIFY).Op(OP_CHECKSIG);
    CHECK(s.ToAsm() == "OP_DUP OP_HASH160 " + ToHex(Bytes(20, 0xab)) + " OP_EQUALVERIFY OP_CHECKSIG");
    CHECK(Script{}.Num(0).Num(-1).Num(7).Num(1000).Op(OP_CSV).ToAsm() == "0 -1 7 1000 OP_CHECKSEQUENCEVERIFY");
    CHECK(Script(ParseHex("0201")).ToAsm() == "[error]");
    CHECK(OpcodeName(OP_CHECKMULTISIG) == "OP_CHECKMULTISIG");
    CHECK(OpcodeName(OP_16) == "16");
    CHECK(OpcodeName(static_cast<Opcode>(0xc0)) == "OP_UNKNOWN");
}

TEST_CASE("Solve classifies standard output scripts")
{
    const Hash160 h160 = Hash160Of(ParseHex("01"));
    const Hash256 h256 = Sha256(ParseHex("01"));
    const PubKey key = PrivKey::Generate().GetPubKey();
    const auto check = [](const Script& s, ScriptType type, int version, ByteSpan program) {
        const SolvedScript solved = Solve(s.span());
        CAPTURE(s.ToAsm());
        CHECK(solved.type == type);
        CHECK(solved.witness_version == version);
        CHECK(ToHex(solved.program) == ToHex(program));
    };
    check(P2pkhScript(h160), ScriptType::P2PKH, -1, h160);
    check(P2shScript(h160), ScriptType::P2SH, -1, h160);
    check(P2wpkhScript(h160), ScriptType::P2WPKH, 0, h160);
    check(P2wshScript(h256), ScriptType::P2WSH, 0, h256);
    check(P2trScript(h256), ScriptType::P2TR, 1, h256);
    check(Script{}.Op(OP_2).Push(Bytes(5, 1)), ScriptType::WITNESS_UNKNOWN, 2, Bytes(5, 1));
    check(Script{}.Op(OP_1).Push(Bytes(20, 1)), ScriptType::WITNESS_UNKNOWN, 1, Bytes(20, 1));
    check(Script{}.Op(OP_0).Push(Bytes(25, 1)), ScriptType::NONSTANDARD, -1, {});
    check(Script{}.Op(OP_0).Push(Bytes(41, 1)), ScriptType::NONSTANDARD, -1, {});
    check(Script{}.Op(OP_RETURN).Push(ParseHex("deadbeef")), ScriptType::NULL_DATA, -1, {});
    check(Script{}.Op(OP_RETURN).Op(OP_CHECKSIG), ScriptType::NONSTANDARD, -1, {});
    check(Script{}.Push(key.span()).Op(OP_CHECKSIG), ScriptType::P2PK, -1, key.span());
    check(Script{}.Push(key.SerializeUncompressed()).Op(OP_CHECKSIG), ScriptType::P2PK, -1, key.SerializeUncompressed());
    check(Script{}.Push(Bytes(33, 0x05)).Op(OP_CHECKSIG), ScriptType::NONSTANDARD, -1, {});
    check(Script{}, ScriptType::NONSTANDARD, -1, {});
    CHECK(ScriptTypeName(ScriptType::P2WSH) == "witness_v0_scripthash");

    CHECK(ToHex(P2pkhScript(key).span()) == ToHex(P2pkhScript(Hash160Of(key.span())).span()));
    CHECK_FALSE(GetWitnessProgram(ParseHex("0001aa")));
    CHECK_FALSE(GetWitnessProgram(ParseHex("5003aabbcc")));
    CHECK(GetWitnessProgram(ParseHex("6002aabb"))->version == 16);
}

TEST_CASE("output script helpers match the BIP143 and BOLT 3 examples")
{
    const auto bolt3 = test::ReadJsonVectors("chain/bolt3_scripts.json");
    const Script funding(ParseHex(bolt3["funding"]["script"].get<std::string>()));
    CHECK(ToHex(P2wshScript(funding).span()) == bolt3["funding"]["script_pubkey"].get<std::string>());
    const auto remote = PubKey::Parse(ParseHex(bolt3["to_remote"]["pubkey"].get<std::string>()));
    REQUIRE(remote);
    CHECK(ToHex(P2wpkhScript(*remote).span()) == bolt3["to_remote"]["script_pubkey"].get<std::string>());

    const auto bip143 = test::ReadJsonVectors("chain/bip143.json");
    for (const auto& c : bip143["cases"]) {
        for (const auto& input : c["inputs"]) {
            const std::string spk = input["script_pubkey"].get<std::string>();
            if (input.contains("redeem_script")) {
                const Script redeem(ParseHex(input["redeem_script"].get<std::string>()));
                CHECK(ToHex(P2shScript(redeem).span()) == spk);
            }
            if (input.contains("witness_script") && !input.contains("redeem_script")) {
                CHECK(ToHex(P2wshScript(Script(ParseHex(input["witness_script"].get<std::string>()))).span()) == spk);
            }
        }
    }
    // BIP143 native P2WPKH: scriptPubKey of the example's public key.
    const auto key = PubKey::Parse(ParseHex("025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee6357"));
    REQUIRE(key);
    CHECK(ToHex(P2wpkhScript(*key).span()) == "00141d0f172a0ecb48aee1be1f2687d2963ae33f71a1");
}

TEST_CASE("taproot key-path output keys follow BIP341 and BIP86")
{
    const auto vectors = test::ReadJsonVectors("chain/taproot_keypath.json");
    for (const auto& v : vectors["cases"]) {
        CAPTURE(v["name"].get<std::string>());
        const auto internal = TryParseHexArray<32>(v["internal_key"].get<std::string>());
        REQUIRE(internal);
        const auto output = TaprootOutputKey(*internal);
        REQUIRE(output);
        CHECK(ToHex(*output) == v["output_key"].get<std::string>());
        const auto script = P2trKeyPathScript(*internal);
        REQUIRE(script);
        CHECK(ToHex(script->span()) == v["script_pubkey"].get<std::string>());
        if (v.contains("tweak")) {
            CHECK(ToHex(TaggedHash("TapTweak", *internal)) == v["tweak"].get<std::string>());
        }
    }
    for (const auto& v : vectors["invalid_internal_keys"]) {
        CAPTURE(v["reason"].get<std::string>());
        const auto internal = TryParseHexArray<32>(v["key"].get<std::string>());
        REQUIRE(internal);
        CHECK_FALSE(TaprootOutputKey(*internal));
        CHECK_FALSE(P2trKeyPathScript(*internal));
    }
    const PubKey key = PrivKey::Generate().GetPubKey();
    CHECK(ToHex(XOnlyFromPubKey(key)) == ToHex(key.span()).substr(2));
}
