#ifndef SIDEBOLT_PRIMITIVES_SCRIPT_H
#define SIDEBOLT_PRIMITIVES_SCRIPT_H

#include "primitives/hash.h"
#include "primitives/key.h"
#include "util/bytes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidebolt {

//! Script opcodes (values as in Bitcoin Core's script.h).
enum Opcode : uint8_t {
    OP_0 = 0x00,
    OP_FALSE = OP_0,
    OP_PUSHDATA1 = 0x4c,
    OP_PUSHDATA2 = 0x4d,
    OP_PUSHDATA4 = 0x4e,
    OP_1NEGATE = 0x4f,
    OP_RESERVED = 0x50,
    OP_1 = 0x51,
    OP_TRUE = OP_1,
    OP_2 = 0x52,
    OP_3 = 0x53,
    OP_4 = 0x54,
    OP_5 = 0x55,
    OP_6 = 0x56,
    OP_7 = 0x57,
    OP_8 = 0x58,
    OP_9 = 0x59,
    OP_10 = 0x5a,
    OP_11 = 0x5b,
    OP_12 = 0x5c,
    OP_13 = 0x5d,
    OP_14 = 0x5e,
    OP_15 = 0x5f,
    OP_16 = 0x60,

    OP_NOP = 0x61,
    OP_VER = 0x62,
    OP_IF = 0x63,
    OP_NOTIF = 0x64,
    OP_VERIF = 0x65,
    OP_VERNOTIF = 0x66,
    OP_ELSE = 0x67,
    OP_ENDIF = 0x68,
    OP_VERIFY = 0x69,
    OP_RETURN = 0x6a,

    OP_TOALTSTACK = 0x6b,
    OP_FROMALTSTACK = 0x6c,
    OP_2DROP = 0x6d,
    OP_2DUP = 0x6e,
    OP_3DUP = 0x6f,
    OP_2OVER = 0x70,
    OP_2ROT = 0x71,
    OP_2SWAP = 0x72,
    OP_IFDUP = 0x73,
    OP_DEPTH = 0x74,
    OP_DROP = 0x75,
    OP_DUP = 0x76,
    OP_NIP = 0x77,
    OP_OVER = 0x78,
    OP_PICK = 0x79,
    OP_ROLL = 0x7a,
    OP_ROT = 0x7b,
    OP_SWAP = 0x7c,
    OP_TUCK = 0x7d,

    OP_CAT = 0x7e,
    OP_SUBSTR = 0x7f,
    OP_LEFT = 0x80,
    OP_RIGHT = 0x81,
    OP_SIZE = 0x82,

    OP_INVERT = 0x83,
    OP_AND = 0x84,
    OP_OR = 0x85,
    OP_XOR = 0x86,
    OP_EQUAL = 0x87,
    OP_EQUALVERIFY = 0x88,
    OP_RESERVED1 = 0x89,
    OP_RESERVED2 = 0x8a,

    OP_1ADD = 0x8b,
    OP_1SUB = 0x8c,
    OP_2MUL = 0x8d,
    OP_2DIV = 0x8e,
    OP_NEGATE = 0x8f,
    OP_ABS = 0x90,
    OP_NOT = 0x91,
    OP_0NOTEQUAL = 0x92,
    OP_ADD = 0x93,
    OP_SUB = 0x94,
    OP_MUL = 0x95,
    OP_DIV = 0x96,
    OP_MOD = 0x97,
    OP_LSHIFT = 0x98,
    OP_RSHIFT = 0x99,
    OP_BOOLAND = 0x9a,
    OP_BOOLOR = 0x9b,
    OP_NUMEQUAL = 0x9c,
    OP_NUMEQUALVERIFY = 0x9d,
    OP_NUMNOTEQUAL = 0x9e,
    OP_LESSTHAN = 0x9f,
    OP_GREATERTHAN = 0xa0,
    OP_LESSTHANOREQUAL = 0xa1,
    OP_GREATERTHANOREQUAL = 0xa2,
    OP_MIN = 0xa3,
    OP_MAX = 0xa4,
    OP_WITHIN = 0xa5,

    OP_RIPEMD160 = 0xa6,
    OP_SHA1 = 0xa7,
    OP_SHA256 = 0xa8,
    OP_HASH160 = 0xa9,
    OP_HASH256 = 0xaa,
    OP_CODESEPARATOR = 0xab,
    OP_CHECKSIG = 0xac,
    OP_CHECKSIGVERIFY = 0xad,
    OP_CHECKMULTISIG = 0xae,
    OP_CHECKMULTISIGVERIFY = 0xaf,

    OP_NOP1 = 0xb0,
    OP_CHECKLOCKTIMEVERIFY = 0xb1,
    OP_CLTV = OP_CHECKLOCKTIMEVERIFY,
    OP_CHECKSEQUENCEVERIFY = 0xb2,
    OP_CSV = OP_CHECKSEQUENCEVERIFY,
    OP_NOP4 = 0xb3,
    OP_NOP5 = 0xb4,
    OP_NOP6 = 0xb5,
    OP_NOP7 = 0xb6,
    OP_NOP8 = 0xb7,
    OP_NOP9 = 0xb8,
    OP_NOP10 = 0xb9,
    OP_CHECKSIGADD = 0xba,

    OP_INVALIDOPCODE = 0xff,
};

//! Core's name for an opcode ("OP_DUP"; "0", "1".."16", "-1" for small numbers; "OP_UNKNOWN").
std::string_view OpcodeName(Opcode op);

//! Consensus limit on a single pushed element (MAX_SCRIPT_ELEMENT_SIZE).
inline constexpr size_t MAX_SCRIPT_ELEMENT_SIZE = 520;

/**
 * A serialized script with a builder interface, e.g.
 * Script{}.Op(OP_DUP).Op(OP_HASH160).Push(hash).Op(OP_EQUALVERIFY).Op(OP_CHECKSIG).
 */
class Script
{
public:
    Script() = default;
    explicit Script(Bytes bytes) : m_bytes(std::move(bytes)) {}
    explicit Script(ByteSpan bytes) : m_bytes(bytes.begin(), bytes.end()) {}

    Script& Op(Opcode op);
    //! Pushes data with the shortest encoding (OP_0, OP_1..OP_16, OP_1NEGATE, direct, PUSHDATAn).
    Script& Push(ByteSpan data);
    //! Pushes a number as OP_0/OP_1NEGATE/OP_1..OP_16 when possible, else as minimal CScriptNum data.
    Script& Num(int64_t n);

    const Bytes& Data() const { return m_bytes; }
    ByteSpan span() const { return m_bytes; }
    size_t size() const { return m_bytes.size(); }
    bool empty() const { return m_bytes.empty(); }
    //! Space-separated disassembly in Core's asm style ("OP_DUP OP_HASH160 <hex> ...").
    std::string ToAsm() const;

    bool operator==(const Script&) const = default;

private:
    Bytes m_bytes;
};

//! One decoded script operation; data is a view into the script for push opcodes.
struct ScriptOp {
    Opcode opcode{OP_INVALIDOPCODE};
    ByteSpan data;
};

//! Decodes the operation at pos and advances past it; false (pos unchanged) at the end of the
//! script or on a truncated push.
bool GetScriptOp(ByteSpan script, size_t& pos, ScriptOp& out);
//! True when data would be pushed by exactly this opcode under the minimal-push rule.
bool IsMinimalPush(Opcode opcode, ByteSpan data);
//! True when every operation is a push (OP_0..OP_16, OP_1NEGATE, data), as P2SH scriptSigs must be.
bool IsPushOnly(ByteSpan script);

//! CScriptNum encoding: little-endian sign-magnitude, shortest form; zero is empty.
Bytes EncodeScriptNum(int64_t n);
//! Decodes a CScriptNum of at most max_size bytes; nullopt if too long or, when require_minimal, padded.
std::optional<int64_t> DecodeScriptNum(ByteSpan bytes, size_t max_size = 4, bool require_minimal = true);

using XOnlyPubKey = ByteArray<32>;

//! OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG
Script P2pkhScript(const Hash160& key_hash);
Script P2pkhScript(const PubKey& key);
//! OP_HASH160 <20> OP_EQUAL
Script P2shScript(const Hash160& script_hash);
Script P2shScript(const Script& redeem_script);
//! OP_0 <HASH160(compressed key)>
Script P2wpkhScript(const Hash160& key_hash);
Script P2wpkhScript(const PubKey& key);
//! OP_0 <SHA256(witness script)>
Script P2wshScript(const Hash256& script_hash);
Script P2wshScript(const Script& witness_script);
//! OP_1 <32-byte x-only output key>
Script P2trScript(const XOnlyPubKey& output_key);

//! The x coordinate of a public key (BIP340 x-only form).
XOnlyPubKey XOnlyFromPubKey(const PubKey& key);
/**
 * BIP341 key-path-only output key: Q = P + TaggedHash("TapTweak", P)*G for internal key P
 * (no script tree). nullopt if P is not a valid x-only key.
 */
std::optional<XOnlyPubKey> TaprootOutputKey(const XOnlyPubKey& internal_key);
//! P2trScript(TaprootOutputKey(internal_key)); nullopt if the internal key is invalid.
std::optional<Script> P2trKeyPathScript(const XOnlyPubKey& internal_key);

struct WitnessProgram {
    int version{0};
    ByteSpan program;
};
//! BIP141: a 4..42 byte script of a version opcode (OP_0..OP_16) and one 2..40 byte push.
std::optional<WitnessProgram> GetWitnessProgram(ByteSpan script_pubkey);

enum class ScriptType {
    NONSTANDARD,
    P2PK,
    P2PKH,
    P2SH,
    NULL_DATA,
    P2WPKH,
    P2WSH,
    P2TR,
    WITNESS_UNKNOWN,
};
std::string_view ScriptTypeName(ScriptType type);

//! What an output script pays to: its type and the key, hash or witness program it commits to.
struct SolvedScript {
    ScriptType type{ScriptType::NONSTANDARD};
    //! Witness version for P2WPKH/P2WSH/P2TR/WITNESS_UNKNOWN, otherwise -1.
    int witness_version{-1};
    //! Pubkey (P2PK), 20-byte hash (P2PKH/P2SH/P2WPKH), 32-byte program (P2WSH/P2TR), any
    //! program (WITNESS_UNKNOWN); empty for NULL_DATA and NONSTANDARD.
    Bytes program;
};
//! Classifies an output script like Core's Solver (without bare multisig).
SolvedScript Solve(ByteSpan script_pubkey);

} // namespace sidebolt

#endif
