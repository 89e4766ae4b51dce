#ifndef SIDEBOLT_TESTS_SUPPORT_INTERPRETER_H
#define SIDEBOLT_TESTS_SUPPORT_INTERPRETER_H

#include "primitives/sighash.h"
#include "primitives/tx.h"

#include <cstdint>
#include <string_view>

namespace sidebolt {

//! Why a script failed; names follow Core's SCRIPT_ERR_* where Core has an equivalent.
enum class ScriptError {
    OK,
    EVAL_FALSE,
    OP_RETURN,
    SCRIPT_SIZE,
    PUSH_SIZE,
    OP_COUNT,
    STACK_SIZE,
    SIG_COUNT,
    PUBKEY_COUNT,
    VERIFY,
    EQUALVERIFY,
    CHECKMULTISIGVERIFY,
    CHECKSIGVERIFY,
    NUMEQUALVERIFY,
    BAD_OPCODE,
    DISABLED_OPCODE,
    INVALID_STACK_OPERATION,
    INVALID_ALTSTACK_OPERATION,
    UNBALANCED_CONDITIONAL,
    NEGATIVE_LOCKTIME,
    UNSATISFIED_LOCKTIME,
    SIG_HASHTYPE,
    SIG_DER,
    MINIMALDATA,
    SIG_PUSHONLY,
    SIG_HIGH_S,
    SIG_NULLDUMMY,
    PUBKEYTYPE,
    CLEANSTACK,
    MINIMALIF,
    SIG_NULLFAIL,
    DISCOURAGE_UPGRADABLE_NOPS,
    WITNESS_PROGRAM_WRONG_LENGTH,
    WITNESS_PROGRAM_WITNESS_EMPTY,
    WITNESS_PROGRAM_MISMATCH,
    WITNESS_MALLEATED,
    WITNESS_MALLEATED_P2SH,
    WITNESS_PUBKEYTYPE,
    //! A number operand was too long or not minimally encoded (Core: UNKNOWN_ERROR).
    SCRIPTNUM,
    //! The spent output is neither a witness program nor P2SH-wrapped one: out of scope here.
    NOT_WITNESS_PROGRAM,
    //! Witness version 1+ (taproot and later): not verified by this interpreter.
    UNSUPPORTED_WITNESS_VERSION,
    //! The input index is not an input of the transaction.
    INPUT_INDEX,
};

//! The enumerator's name, e.g. "SIG_NULLFAIL".
std::string_view ScriptErrorName(ScriptError error);

//! Policy rules on top of consensus; consensus rules (BIP66 DER, BIP65, BIP112, BIP141
//! clean stack) always apply.
enum VerifyFlags : uint32_t {
    VERIFY_NONE = 0,
    //! BIP146 low-S signatures.
    VERIFY_LOW_S = 1U << 0,
    //! BIP146: a failed signature check must have an empty signature.
    VERIFY_NULLFAIL = 1U << 1,
    //! BIP62 minimal pushes and minimal number encodings.
    VERIFY_MINIMALDATA = 1U << 2,
    //! OP_IF/OP_NOTIF argument must be empty or exactly 0x01.
    VERIFY_MINIMALIF = 1U << 3,
    //! BIP147: the extra OP_CHECKMULTISIG element must be empty.
    VERIFY_NULLDUMMY = 1U << 4,
    //! Defined sighash types and well-formed public keys.
    VERIFY_STRICTENC = 1U << 5,
    //! Only compressed public keys in segwit v0 scripts.
    VERIFY_WITNESS_PUBKEYTYPE = 1U << 6,
    //! Reject OP_NOP1 and OP_NOP4..OP_NOP10.
    VERIFY_DISCOURAGE_UPGRADABLE_NOPS = 1U << 7,
    //! What Core relays: every rule above.
    VERIFY_STANDARD = VERIFY_LOW_S | VERIFY_NULLFAIL | VERIFY_MINIMALDATA | VERIFY_MINIMALIF | VERIFY_NULLDUMMY |
                      VERIFY_STRICTENC | VERIFY_WITNESS_PUBKEYTYPE | VERIFY_DISCOURAGE_UPGRADABLE_NOPS,
};

/**
 * Verifies that input input_index of tx spends spent_output, for native P2WPKH/P2WSH outputs
 * and their P2SH-wrapped forms (segwit v0, BIP141/143). cache must be built from tx. Other
 * output types return NOT_WITNESS_PROGRAM or UNSUPPORTED_WITNESS_VERSION.
 */
ScriptError VerifyWitnessInput(const Transaction& tx, size_t input_index, const TxOut& spent_output,
                               const SigHashCache& cache, uint32_t flags = VERIFY_STANDARD);

} // namespace sidebolt

#endif
