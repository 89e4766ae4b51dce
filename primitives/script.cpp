#include "primitives/script.h"

#include "util/hex.h"

#include <secp256k1_extrakeys.h>

#include <utility>

namespace sidebolt {
namespace {
constexpr std::pair<Opcode, std::string_view> OPCODE_NAMES[] = {
    {OP_0, "0"}, {OP_PUSHDATA1, "OP_PUSHDATA1"}, {OP_PUSHDATA2, "OP_PUSHDATA2"},
    {OP_PUSHDATA4, "OP_PUSHDATA4"}, {OP_1NEGATE, "-1"}, {OP_RESERVED, "OP_RESERVED"},
    {OP_1, "1"}, {OP_2, "2"}, {OP_3, "3"}, {OP_4, "4"}, {OP_5, "5"}, {OP_6, "6"}, {OP_7, "7"},
    {OP_8, "8"}, {OP_9, "9"}, {OP_10, "10"}, {OP_11, "11"}, {OP_12, "12"}, {OP_13, "13"},
    {OP_14, "14"}, {OP_15, "15"}, {OP_16, "16"},
    {OP_NOP, "OP_NOP"}, {OP_VER, "OP_VER"}, {OP_IF, "OP_IF"}, {OP_NOTIF, "OP_NOTIF"},
    {OP_VERIF, "OP_VERIF"}, {OP_VERNOTIF, "OP_VERNOTIF"}, {OP_ELSE, "OP_ELSE"},
    {OP_ENDIF, "OP_ENDIF"}, {OP_VERIFY, "OP_VERIFY"}, {OP_RETURN, "OP_RETURN"},
    {OP_TOALTSTACK, "OP_TOALTSTACK"}, {OP_FROMALTSTACK, "OP_FROMALTSTACK"}, {OP_2DROP, "OP_2DROP"},
    {OP_2DUP, "OP_2DUP"}, {OP_3DUP, "OP_3DUP"}, {OP_2OVER, "OP_2OVER"}, {OP_2ROT, "OP_2ROT"},
    {OP_2SWAP, "OP_2SWAP"}, {OP_IFDUP, "OP_IFDUP"}, {OP_DEPTH, "OP_DEPTH"}, {OP_DROP, "OP_DROP"},
    {OP_DUP, "OP_DUP"}, {OP_NIP, "OP_NIP"}, {OP_OVER, "OP_OVER"}, {OP_PICK, "OP_PICK"},
    {OP_ROLL, "OP_ROLL"}, {OP_ROT, "OP_ROT"}, {OP_SWAP, "OP_SWAP"}, {OP_TUCK, "OP_TUCK"},
    {OP_CAT, "OP_CAT"}, {OP_SUBSTR, "OP_SUBSTR"}, {OP_LEFT, "OP_LEFT"}, {OP_RIGHT, "OP_RIGHT"},
    {OP_SIZE, "OP_SIZE"}, {OP_INVERT, "OP_INVERT"}, {OP_AND, "OP_AND"}, {OP_OR, "OP_OR"},
    {OP_XOR, "OP_XOR"}, {OP_EQUAL, "OP_EQUAL"}, {OP_EQUALVERIFY, "OP_EQUALVERIFY"},
    {OP_RESERVED1, "OP_RESERVED1"}, {OP_RESERVED2, "OP_RESERVED2"}, {OP_1ADD, "OP_1ADD"},
    {OP_1SUB, "OP_1SUB"}, {OP_2MUL, "OP_2MUL"}, {OP_2DIV, "OP_2DIV"}, {OP_NEGATE, "OP_NEGATE"},
    {OP_ABS, "OP_ABS"}, {OP_NOT, "OP_NOT"}, {OP_0NOTEQUAL, "OP_0NOTEQUAL"}, {OP_ADD, "OP_ADD"},
    {OP_SUB, "OP_SUB"}, {OP_MUL, "OP_MUL"}, {OP_DIV, "OP_DIV"}, {OP_MOD, "OP_MOD"},
    {OP_LSHIFT, "OP_LSHIFT"}, {OP_RSHIFT, "OP_RSHIFT"}, {OP_BOOLAND, "OP_BOOLAND"},
    {OP_BOOLOR, "OP_BOOLOR"}, {OP_NUMEQUAL, "OP_NUMEQUAL"}, {OP_NUMEQUALVERIFY, "OP_NUMEQUALVERIFY"},
    {OP_NUMNOTEQUAL, "OP_NUMNOTEQUAL"}, {OP_LESSTHAN, "OP_LESSTHAN"}, {OP_GREATERTHAN, "OP_GREATERTHAN"},
    {OP_LESSTHANOREQUAL, "OP_LESSTHANOREQUAL"}, {OP_GREATERTHANOREQUAL, "OP_GREATERTHANOREQUAL"},
    {OP_MIN, "OP_MIN"}, {OP_MAX, "OP_MAX"}, {OP_WITHIN, "OP_WITHIN"}, {OP_RIPEMD160, "OP_RIPEMD160"},
    {OP_SHA1, "OP_SHA1"}, {OP_SHA256, "OP_SHA256"}, {OP_HASH160, "OP_HASH160"},
    {OP_HASH256, "OP_HASH256"},
    {OP_CODESEPARATOR, "OP_CODESEPARATOR"}, {OP_CHECKSIG, "OP_CHECKSIG"},
    {OP_CHECKSIGVERIFY, "OP_CHECKSIGVERIFY"}, {OP_CHECKMULTISIG, "OP_CHECKMULTISIG"},
    {OP_CHECKMULTISIGVERIFY, "OP_CHECKMULTISIGVERIFY"}, {OP_NOP1, "OP_NOP1"},
    {OP_CHECKLOCKTIMEVERIFY, "OP_CHECKLOCKTIMEVERIFY"}, {OP_CHECKSEQUENCEVERIFY, "OP_CHECKSEQUENCEVERIFY"},
    {OP_NOP4, "OP_NOP4"}, {OP_NOP5, "OP_NOP5"}, {OP_NOP6, "OP_NOP6"}, {OP_NOP7, "OP_NOP7"},
    {OP_NOP8, "OP_NOP8"}, {OP_NOP9, "OP_NOP9"}, {OP_NOP10, "OP_NOP10"}, {OP_CHECKSIGADD, "OP_CHECKSIGADD"},
    {OP_INVALIDOPCODE, "OP_INVALIDOPCODE"},
};

//! The opcode that pushes data minimally (BIP62 rule 3/4 as Core's CheckMinimalPush).
Opcode MinimalPushOpcode(ByteSpan data)
{
    if (data.empty()) return OP_0;
    if (data.size() == 1 && data[0] >= 1 && data[0] <= 16) return static_cast<Opcode>(OP_1 + data[0] - 1);
    if (data.size() == 1 && data[0] == 0x81) return OP_1NEGATE;
    if (data.size() < OP_PUSHDATA1) return static_cast<Opcode>(data.size());
    if (data.size() <= 0xff) return OP_PUSHDATA1;
    if (data.size() <= 0xffff) return OP_PUSHDATA2;
    return OP_PUSHDATA4;
}

//! Accepts the prefix/size pairs Core's CPubKey::ValidSize allows in P2PK outputs.
bool IsPubKeyShape(ByteSpan key)
{
    if (key.size() == 33) return key[0] == 0x02 || key[0] == 0x03;
    if (key.size() == 65) return key[0] == 0x04 || key[0] == 0x06 || key[0] == 0x07;
    return false;
}
} // namespace

std::string_view OpcodeName(Opcode op)
{
    for (const auto& [code, name] : OPCODE_NAMES) {
        if (code == op) return name;
    }
    return "OP_UNKNOWN";
}

Script& Script::Op(Opcode op)
{
    m_bytes.push_back(op);
    return *this;
}

Script& Script::Push(ByteSpan data)
{
    const Opcode op = MinimalPushOpcode(data);
    m_bytes.push_back(op);
    if (op == OP_0 || op == OP_1NEGATE || op >= OP_1) return *this;
    const size_t size = data.size();
    if (op == OP_PUSHDATA1) {
        m_bytes.push_back(static_cast<uint8_t>(size));
    } else if (op == OP_PUSHDATA2) {
        for (int i = 0; i < 2; ++i) m_bytes.push_back(static_cast<uint8_t>(size >> (8 * i)));
    } else if (op == OP_PUSHDATA4) {
        for (int i = 0; i < 4; ++i) m_bytes.push_back(static_cast<uint8_t>(size >> (8 * i)));
    }
    Append(m_bytes, data);
    return *this;
}

Script& Script::Num(int64_t n)
{
    if (n == 0) return Op(OP_0);
    if (n == -1) return Op(OP_1NEGATE);
    if (n >= 1 && n <= 16) return Op(static_cast<Opcode>(OP_1 + n - 1));
    return Push(EncodeScriptNum(n));
}

std::string Script::ToAsm() const
{
    std::string out;
    size_t pos = 0;
    while (pos < m_bytes.size()) {
        if (!out.empty()) out += ' ';
        ScriptOp op;
        if (!GetScriptOp(m_bytes, pos, op)) return out + "[error]";
        if (op.opcode > OP_0 && op.opcode <= OP_PUSHDATA4) {
            // Like Core, short pushes read as numbers; longer ones as hex.
            out += op.data.size() <= 4 ? std::to_string(*DecodeScriptNum(op.data, 4, false)) : ToHex(op.data);
        } else {
            out += OpcodeName(op.opcode);
        }
    }
    return out;
}

bool GetScriptOp(ByteSpan script, size_t& pos, ScriptOp& out)
{
    if (pos >= script.size()) return false;
    const auto opcode = static_cast<Opcode>(script[pos]);
    size_t cursor = pos + 1;
    out = ScriptOp{opcode, {}};
    if (opcode > OP_PUSHDATA4) {
        pos = cursor;
        return true;
    }
    size_t size = opcode;
    const size_t len_bytes = opcode == OP_PUSHDATA1 ? 1 : opcode == OP_PUSHDATA2 ? 2 : opcode == OP_PUSHDATA4 ? 4 : 0;
    if (len_bytes > 0) {
        if (script.size() - cursor < len_bytes) return false;
        size = 0;
        for (size_t i = 0; i < len_bytes; ++i) size |= size_t{script[cursor + i]} << (8 * i);
        cursor += len_bytes;
    }
    if (script.size() - cursor < size) return false;
    out.data = script.subspan(cursor, size);
    pos = cursor + size;
    return true;
}

bool IsMinimalPush(Opcode opcode, ByteSpan data) { return opcode == MinimalPushOpcode(data); }

bool IsPushOnly(ByteSpan script)
{
    size_t pos = 0;
    ScriptOp op;
    while (pos < script.size()) {
        if (!GetScriptOp(script, pos, op) || op.opcode > OP_16) return false;
    }
    return true;
}

Bytes EncodeScriptNum(int64_t n)
{
    Bytes out;
    if (n == 0) return out;
    const bool negative = n < 0;
    // Unsigned negation is well defined even for INT64_MIN.
    uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
    while (magnitude) {
        out.push_back(static_cast<uint8_t>(magnitude & 0xff));
        magnitude >>= 8;
    }
    // The top bit is the sign: add a byte when the magnitude already uses it.
    if (out.back() & 0x80) {
        out.push_back(negative ? 0x80 : 0x00);
    } else if (negative) {
        out.back() |= 0x80;
    }
    return out;
}

std::optional<int64_t> DecodeScriptNum(ByteSpan bytes, size_t max_size, bool require_minimal)
{
    if (bytes.size() > max_size || bytes.size() > 8) return std::nullopt;
    if (bytes.empty()) return 0;
    // Minimal: the last byte may only be 0x00/0x80 when the previous byte needs its top bit.
    if (require_minimal && (bytes.back() & 0x7f) == 0) {
        if (bytes.size() == 1 || (bytes[bytes.size() - 2] & 0x80) == 0) return std::nullopt;
    }
    uint64_t magnitude = 0;
    for (size_t i = 0; i < bytes.size(); ++i) magnitude |= uint64_t{bytes[i]} << (8 * i);
    const uint64_t sign_bit = uint64_t{0x80} << (8 * (bytes.size() - 1));
    if (magnitude & sign_bit) return -static_cast<int64_t>(magnitude & ~sign_bit);
    return static_cast<int64_t>(magnitude);
}

Script P2pkhScript(const Hash160& key_hash)
{
    return Script{}.Op(OP_DUP).Op(OP_HASH160).Push(key_hash).Op(OP_EQUALVERIFY).Op(OP_CHECKSIG);
}

Script P2pkhScript(const PubKey& key) { return P2pkhScript(Hash160Of(key.span())); }

Script P2shScript(const Hash160& script_hash) { return Script{}.Op(OP_HASH160).Push(script_hash).Op(OP_EQUAL); }

Script P2shScript(const Script& redeem_script) { return P2shScript(Hash160Of(redeem_script.span())); }

Script P2wpkhScript(const Hash160& key_hash) { return Script{}.Op(OP_0).Push(key_hash); }

Script P2wpkhScript(const PubKey& key) { return P2wpkhScript(Hash160Of(key.span())); }

Script P2wshScript(const Hash256& script_hash) { return Script{}.Op(OP_0).Push(script_hash); }

Script P2wshScript(const Script& witness_script) { return P2wshScript(Sha256(witness_script.span())); }

Script P2trScript(const XOnlyPubKey& output_key) { return Script{}.Op(OP_1).Push(output_key); }

XOnlyPubKey XOnlyFromPubKey(const PubKey& key)
{
    XOnlyPubKey out;
    std::copy(key.Bytes33().begin() + 1, key.Bytes33().end(), out.begin());
    return out;
}

std::optional<XOnlyPubKey> TaprootOutputKey(const XOnlyPubKey& internal_key)
{
    const secp256k1_context* ctx = SecpContext();
    secp256k1_xonly_pubkey internal;
    if (!secp256k1_xonly_pubkey_parse(ctx, &internal, internal_key.data())) return std::nullopt;
    // BIP341 (no script tree): t = hash_TapTweak(P), Q = P + t*G.
    const Hash256 tweak = TaggedHash("TapTweak", internal_key);
    secp256k1_pubkey output;
    if (!secp256k1_xonly_pubkey_tweak_add(ctx, &output, &internal, tweak.data())) return std::nullopt;
    secp256k1_xonly_pubkey output_xonly;
    if (!secp256k1_xonly_pubkey_from_pubkey(ctx, &output_xonly, nullptr, &output)) return std::nullopt;
    XOnlyPubKey out;
    if (!secp256k1_xonly_pubkey_serialize(ctx, out.data(), &output_xonly)) return std::nullopt;
    return out;
}

std::optional<Script> P2trKeyPathScript(const XOnlyPubKey& internal_key)
{
    const auto output_key = TaprootOutputKey(internal_key);
    if (!output_key) return std::nullopt;
    return P2trScript(*output_key);
}

std::optional<WitnessProgram> GetWitnessProgram(ByteSpan script_pubkey)
{
    if (script_pubkey.size() < 4 || script_pubkey.size() > 42) return std::nullopt;
    const uint8_t version_op = script_pubkey[0];
    if (version_op != OP_0 && (version_op < OP_1 || version_op > OP_16)) return std::nullopt;
    if (size_t{script_pubkey[1]} + 2 != script_pubkey.size()) return std::nullopt;
    return WitnessProgram{version_op == OP_0 ? 0 : version_op - OP_1 + 1, script_pubkey.subspan(2)};
}

std::string_view ScriptTypeName(ScriptType type)
{
    switch (type) {
    case ScriptType::NONSTANDARD: return "nonstandard";
    case ScriptType::P2PK: return "pubkey";
    case ScriptType::P2PKH: return "pubkeyhash";
    case ScriptType::P2SH: return "scripthash";
    case ScriptType::NULL_DATA: return "nulldata";
    case ScriptType::P2WPKH: return "witness_v0_keyhash";
    case ScriptType::P2WSH: return "witness_v0_scripthash";
    case ScriptType::P2TR: return "witness_v1_taproot";
    case ScriptType::WITNESS_UNKNOWN: return "witness_unknown";
    }
    return "nonstandard";
}

SolvedScript Solve(ByteSpan s)
{
    const auto bytes = [](ByteSpan part) { return Bytes(part.begin(), part.end()); };
    if (s.size() == 23 && s[0] == OP_HASH160 && s[1] == 20 && s[22] == OP_EQUAL) {
        return {ScriptType::P2SH, -1, bytes(s.subspan(2, 20))};
    }
    if (const auto wp = GetWitnessProgram(s)) {
        const Bytes program = bytes(wp->program);
        if (wp->version == 0 && program.size() == 20) return {ScriptType::P2WPKH, 0, program};
        if (wp->version == 0 && program.size() == 32) return {ScriptType::P2WSH, 0, program};
        if (wp->version == 1 && program.size() == 32) return {ScriptType::P2TR, 1, program};
        // A v0 program of another length can never be spent; Core calls it nonstandard.
        if (wp->version == 0) return {};
        return {ScriptType::WITNESS_UNKNOWN, wp->version, program};
    }
    if (!s.empty() && s[0] == OP_RETURN && IsPushOnly(s.subspan(1))) return {ScriptType::NULL_DATA, -1, {}};
    if ((s.size() == 35 || s.size() == 67) && s[0] == s.size() - 2 && s.back() == OP_CHECKSIG &&
        IsPubKeyShape(s.subspan(1, s.size() - 2))) {
        return {ScriptType::P2PK, -1, bytes(s.subspan(1, s.size() - 2))};
    }
    if (s.size() == 25 && s[0] == OP_DUP && s[1] == OP_HASH160 && s[2] == 20 && s[23] == OP_EQUALVERIFY &&
        s[24] == OP_CHECKSIG) {
        return {ScriptType::P2PKH, -1, bytes(s.subspan(3, 20))};
    }
    return {};
}

} // namespace sidebolt
