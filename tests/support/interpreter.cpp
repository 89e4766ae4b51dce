#include "tests/support/interpreter.h"

#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/script.h"

#include <openssl/evp.h>
#include <secp256k1.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <vector>

namespace sidebolt {
namespace {
// Consensus limits (Core's script.h / policy).
constexpr size_t MAX_SCRIPT_SIZE = 10000;
constexpr int MAX_OPS_PER_SCRIPT = 201;
constexpr size_t MAX_STACK_SIZE = 1000;
constexpr int64_t MAX_PUBKEYS_PER_MULTISIG = 20;
constexpr int64_t LOCKTIME_THRESHOLD = 500000000;
constexpr int64_t SEQUENCE_LOCKTIME_DISABLE_FLAG = int64_t{1} << 31;
constexpr int64_t SEQUENCE_LOCKTIME_TYPE_FLAG = int64_t{1} << 22;
constexpr int64_t SEQUENCE_LOCKTIME_MASK = 0x0000ffff;

using Stack = std::vector<Bytes>;

//! Carries a script failure out of nested evaluation helpers to VerifyWitnessInput.
struct ScriptFailure {
    ScriptError error;
};

[[noreturn]] void Fail(ScriptError error) { throw ScriptFailure{error}; }

//! Script truth: any non-zero byte, except that "negative zero" (only a final 0x80) is false.
bool CastToBool(ByteSpan v)
{
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] != 0) return !(i == v.size() - 1 && v[i] == 0x80);
    }
    return false;
}

/**
 * BIP66 strict DER of <sig> || <hashtype>: 0x30 len 0x02 lenR R 0x02 lenS S hashtype, with
 * R and S positive and without superfluous leading zero bytes.
 */
bool IsValidSignatureEncoding(ByteSpan sig)
{
    if (sig.size() < 9 || sig.size() > 73) return false;
    if (sig[0] != 0x30 || sig[1] != sig.size() - 3) return false;
    const size_t len_r = sig[3];
    if (5 + len_r >= sig.size()) return false;
    const size_t len_s = sig[5 + len_r];
    if (len_r + len_s + 7 != sig.size()) return false;
    const auto valid_integer = [&](size_t tag_pos, size_t len) {
        const size_t first = tag_pos + 2;
        if (sig[tag_pos] != 0x02 || len == 0 || (sig[first] & 0x80)) return false;
        return !(len > 1 && sig[first] == 0x00 && !(sig[first + 1] & 0x80));
    };
    return valid_integer(2, len_r) && valid_integer(len_r + 4, len_s);
}

//! Parses DER (without the hashtype byte) and reports whether S was already in the lower half.
std::optional<secp256k1_ecdsa_signature> ParseNormalized(ByteSpan der, bool& was_low_s)
{
    secp256k1_ecdsa_signature sig;
    if (der.empty() || !secp256k1_ecdsa_signature_parse_der(SecpContext(), &sig, der.data(), der.size())) {
        return std::nullopt;
    }
    was_low_s = secp256k1_ecdsa_signature_normalize(SecpContext(), &sig, &sig) == 0;
    return sig;
}

bool IsCompressedPubKey(ByteSpan key) { return key.size() == 33 && (key[0] == 0x02 || key[0] == 0x03); }

bool IsCompressedOrUncompressedPubKey(ByteSpan key)
{
    return IsCompressedPubKey(key) || (key.size() == 65 && key[0] == 0x04);
}

Bytes Digest(const EVP_MD* md, ByteSpan data)
{
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) {
        throw std::runtime_error("OpenSSL digest failure");
    }
    out.resize(len);
    return out;
}

//! What signature and timelock opcodes check against: one input of the spending transaction.
class InputChecker
{
public:
    InputChecker(const Transaction& tx, size_t index, int64_t amount, const SigHashCache& cache)
        : m_tx(tx), m_index(index), m_amount(amount), m_cache(cache)
    {
    }

    //! sig is DER || hashtype, already checked for encoding; false when it does not verify.
    bool CheckSig(ByteSpan sig, ByteSpan pubkey, ByteSpan script_code) const
    {
        // libsecp256k1 aborts on a null input pointer, which an empty span may carry.
        if (sig.empty() || pubkey.empty()) return false;
        const auto key = PubKey::Parse(pubkey);
        if (!key) return false;
        bool was_low_s = false;
        // Consensus accepts high-S (LOW_S is policy), so verify the normalized form.
        const auto parsed = ParseNormalized(sig.first(sig.size() - 1), was_low_s);
        if (!parsed) return false;
        const Hash256 sighash = SignatureHashV0(m_tx, m_index, script_code, m_amount, sig.back(), m_cache);
        return VerifyEcdsa(*key, sighash, EcdsaSignature::FromSecp(*parsed));
    }

    //! BIP65: same kind (height or time) as nLockTime, not above it, and the input not final.
    bool CheckLockTime(int64_t locktime) const
    {
        const int64_t tx_locktime = m_tx.locktime;
        if ((tx_locktime < LOCKTIME_THRESHOLD) != (locktime < LOCKTIME_THRESHOLD)) return false;
        if (locktime > tx_locktime) return false;
        return m_tx.vin[m_index].sequence != SEQUENCE_FINAL;
    }

    //! BIP112: version >= 2, relative lock enabled on the input, same kind, not above it.
    bool CheckSequence(int64_t sequence) const
    {
        const int64_t tx_sequence = m_tx.vin[m_index].sequence;
        if (m_tx.version < 2) return false;
        if (tx_sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG) return false;
        const int64_t mask = SEQUENCE_LOCKTIME_TYPE_FLAG | SEQUENCE_LOCKTIME_MASK;
        const int64_t tx_masked = tx_sequence & mask;
        const int64_t masked = sequence & mask;
        if ((tx_masked < SEQUENCE_LOCKTIME_TYPE_FLAG) != (masked < SEQUENCE_LOCKTIME_TYPE_FLAG)) return false;
        return masked <= tx_masked;
    }

private:
    const Transaction& m_tx;
    size_t m_index;
    int64_t m_amount;
    const SigHashCache& m_cache;
};

bool IsDisabledOpcode(Opcode op)
{
    switch (op) {
    case OP_CAT: case OP_SUBSTR: case OP_LEFT: case OP_RIGHT: case OP_INVERT: case OP_AND: case OP_OR:
    case OP_XOR: case OP_2MUL: case OP_2DIV: case OP_MUL: case OP_DIV: case OP_MOD: case OP_LSHIFT:
    case OP_RSHIFT:
        return true;
    default:
        return false;
    }
}

//! Executes one segwit v0 script (Core's EvalScript with SigVersion::WITNESS_V0).
class WitnessV0Evaluator
{
public:
    WitnessV0Evaluator(ByteSpan script, Stack& stack, const InputChecker& checker, uint32_t flags)
        : m_script(script), m_stack(stack), m_checker(checker), m_flags(flags)
    {
    }

    void Run()
    {
        if (m_script.size() > MAX_SCRIPT_SIZE) Fail(ScriptError::SCRIPT_SIZE);
        size_t pos = 0;
        while (pos < m_script.size()) {
            ScriptOp op;
            if (!GetScriptOp(m_script, pos, op)) Fail(ScriptError::BAD_OPCODE);
            m_pos = pos;
            Step(op);
            if (m_stack.size() + m_alt.size() > MAX_STACK_SIZE) Fail(ScriptError::STACK_SIZE);
        }
        if (!m_exec.empty()) Fail(ScriptError::UNBALANCED_CONDITIONAL);
    }

private:
    bool Has(uint32_t flag) const { return (m_flags & flag) != 0; }
    bool Executing() const { return std::find(m_exec.begin(), m_exec.end(), false) == m_exec.end(); }

    void Need(size_t n) const
    {
        if (m_stack.size() < n) Fail(ScriptError::INVALID_STACK_OPERATION);
    }
    //! i-th element from the top, 1-based as Core's stacktop(-i).
    Bytes& Top(size_t i) { return m_stack[m_stack.size() - i]; }
    Bytes Pop()
    {
        Need(1);
        Bytes v = std::move(m_stack.back());
        m_stack.pop_back();
        return v;
    }
    int64_t ToNum(ByteSpan v, size_t max_size = 4) const
    {
        const auto n = DecodeScriptNum(v, max_size, Has(VERIFY_MINIMALDATA));
        if (!n) Fail(ScriptError::SCRIPTNUM);
        return *n;
    }
    void PushNum(int64_t n) { m_stack.push_back(EncodeScriptNum(n)); }
    void PushBool(bool b) { m_stack.push_back(b ? Bytes{1} : Bytes{}); }
    //! Pops the top element if it is true, else fails with error (the *VERIFY opcodes).
    void VerifyTop(ScriptError error)
    {
        if (!CastToBool(Pop())) Fail(error);
    }

    void Step(const ScriptOp& op)
    {
        if (op.data.size() > MAX_SCRIPT_ELEMENT_SIZE) Fail(ScriptError::PUSH_SIZE);
        if (op.opcode > OP_16 && ++m_op_count > MAX_OPS_PER_SCRIPT) Fail(ScriptError::OP_COUNT);
        // Disabled opcodes fail even in unexecuted branches.
        if (IsDisabledOpcode(op.opcode)) Fail(ScriptError::DISABLED_OPCODE);
        const bool executing = Executing();
        if (op.opcode <= OP_PUSHDATA4) {
            if (!executing) return;
            if (Has(VERIFY_MINIMALDATA) && !IsMinimalPush(op.opcode, op.data)) Fail(ScriptError::MINIMALDATA);
            m_stack.emplace_back(op.data.begin(), op.data.end());
        } else if (op.opcode >= OP_IF && op.opcode <= OP_ENDIF) {
            FlowControl(op.opcode, executing);
        } else if (executing) {
            Execute(op.opcode);
        }
    }

    void FlowControl(Opcode op, bool executing)
    {
        switch (op) {
        case OP_IF:
        case OP_NOTIF: {
            bool value = false;
            if (executing) {
                if (m_stack.empty()) Fail(ScriptError::UNBALANCED_CONDITIONAL);
                const Bytes arg = Pop();
                // Segwit v0 policy: the argument must be exactly empty or 0x01.
                if (Has(VERIFY_MINIMALIF) && (arg.size() > 1 || (arg.size() == 1 && arg[0] != 1))) {
                    Fail(ScriptError::MINIMALIF);
                }
                value = CastToBool(arg) == (op == OP_IF);
            }
            m_exec.push_back(value);
            break;
        }
        case OP_ELSE:
            if (m_exec.empty()) Fail(ScriptError::UNBALANCED_CONDITIONAL);
            m_exec.back() = !m_exec.back();
            break;
        case OP_ENDIF:
            if (m_exec.empty()) Fail(ScriptError::UNBALANCED_CONDITIONAL);
            m_exec.pop_back();
            break;
        default: // OP_VERIF and OP_VERNOTIF are invalid even when not executed.
            Fail(ScriptError::BAD_OPCODE);
        }
    }

    void Execute(Opcode op)
    {
        if (op == OP_1NEGATE || (op >= OP_1 && op <= OP_16)) {
            PushNum(static_cast<int>(op) - (OP_1 - 1));
        } else if (op >= OP_NOP && op <= OP_RETURN) {
            Misc(op);
        } else if (op >= OP_TOALTSTACK && op <= OP_TUCK) {
            StackOp(op);
        } else if (op >= OP_1ADD && op <= OP_WITHIN) {
            Arithmetic(op);
        } else if (op >= OP_RIPEMD160 && op <= OP_HASH256) {
            HashOp(op);
        } else if (op >= OP_CODESEPARATOR && op <= OP_CHECKMULTISIGVERIFY) {
            SignatureOp(op);
        } else if (op >= OP_NOP1 && op <= OP_NOP10) {
            Nops(op);
        } else if (op == OP_SIZE) {
            Need(1);
            PushNum(static_cast<int64_t>(Top(1).size()));
        } else if (op == OP_EQUAL || op == OP_EQUALVERIFY) {
            Need(2);
            const bool equal = Pop() == Pop();
            PushBool(equal);
            if (op == OP_EQUALVERIFY) VerifyTop(ScriptError::EQUALVERIFY);
        } else {
            Fail(ScriptError::BAD_OPCODE);
        }
    }

    void Misc(Opcode op)
    {
        switch (op) {
        case OP_NOP: break;
        case OP_VERIFY: VerifyTop(ScriptError::VERIFY); break;
        case OP_RETURN: Fail(ScriptError::OP_RETURN);
        default: Fail(ScriptError::BAD_OPCODE); // OP_VER
        }
    }

    void Nops(Opcode op)
    {
        if (op == OP_CHECKLOCKTIMEVERIFY || op == OP_CHECKSEQUENCEVERIFY) {
            Need(1);
            // Timelocks may exceed 2^31, so they are 5-byte numbers; the top element stays.
            const int64_t lock = ToNum(Top(1), 5);
            if (lock < 0) Fail(ScriptError::NEGATIVE_LOCKTIME);
            if (op == OP_CHECKLOCKTIMEVERIFY) {
                if (!m_checker.CheckLockTime(lock)) Fail(ScriptError::UNSATISFIED_LOCKTIME);
            } else if (!(lock & SEQUENCE_LOCKTIME_DISABLE_FLAG) && !m_checker.CheckSequence(lock)) {
                // BIP112: with the disable flag set in the operand, OP_CSV acts as a NOP.
                Fail(ScriptError::UNSATISFIED_LOCKTIME);
            }
        } else if (Has(VERIFY_DISCOURAGE_UPGRADABLE_NOPS)) {
            Fail(ScriptError::DISCOURAGE_UPGRADABLE_NOPS);
        }
    }

    void StackOp(Opcode op)
    {
        switch (op) {
        case OP_TOALTSTACK: m_alt.push_back(Pop()); break;
        case OP_FROMALTSTACK:
            if (m_alt.empty()) Fail(ScriptError::INVALID_ALTSTACK_OPERATION);
            m_stack.push_back(std::move(m_alt.back()));
            m_alt.pop_back();
            break;
        case OP_2DROP: Need(2); m_stack.resize(m_stack.size() - 2); break;
        case OP_2DUP: Need(2); CopyToTop({2, 1}); break;
        case OP_3DUP: Need(3); CopyToTop({3, 2, 1}); break;
        case OP_2OVER: Need(4); CopyToTop({4, 3}); break;
        case OP_2ROT: Need(6); MoveToTop(6); MoveToTop(6); break;
        case OP_2SWAP: Need(4); std::swap(Top(4), Top(2)); std::swap(Top(3), Top(1)); break;
        case OP_IFDUP: Need(1); if (CastToBool(Top(1))) CopyToTop({1}); break;
        case OP_DEPTH: PushNum(static_cast<int64_t>(m_stack.size())); break;
        case OP_DROP: Pop(); break;
        case OP_DUP: Need(1); CopyToTop({1}); break;
        case OP_NIP: Need(2); m_stack.erase(m_stack.end() - 2); break;
        case OP_OVER: Need(2); CopyToTop({2}); break;
        case OP_PICK:
        case OP_ROLL: {
            Need(2);
            const int64_t n = ToNum(Pop());
            if (n < 0 || static_cast<uint64_t>(n) >= m_stack.size()) Fail(ScriptError::INVALID_STACK_OPERATION);
            const auto depth = static_cast<size_t>(n) + 1;
            if (op == OP_ROLL) MoveToTop(depth); else CopyToTop({depth});
            break;
        }
        case OP_ROT: Need(3); MoveToTop(3); break;
        case OP_SWAP: Need(2); std::swap(Top(2), Top(1)); break;
        case OP_TUCK: Need(2); m_stack.insert(m_stack.end() - 2, Top(1)); break;
        default: Fail(ScriptError::BAD_OPCODE);
        }
    }

    //! Pushes copies of the elements at the given depths (measured before any push).
    void CopyToTop(std::initializer_list<size_t> depths)
    {
        const size_t size = m_stack.size();
        for (const size_t depth : depths) m_stack.push_back(m_stack[size - depth]);
    }
    void MoveToTop(size_t depth)
    {
        Bytes v = std::move(Top(depth));
        m_stack.erase(m_stack.end() - static_cast<std::ptrdiff_t>(depth));
        m_stack.push_back(std::move(v));
    }

    void Arithmetic(Opcode op)
    {
        if (op <= OP_0NOTEQUAL) {
            Need(1);
            const int64_t a = ToNum(Top(1));
            Pop();
            switch (op) {
            case OP_1ADD: PushNum(a + 1); break;
            case OP_1SUB: PushNum(a - 1); break;
            case OP_NEGATE: PushNum(-a); break;
            case OP_ABS: PushNum(a < 0 ? -a : a); break;
            case OP_NOT: PushBool(a == 0); break;
            case OP_0NOTEQUAL: PushBool(a != 0); break;
            default: Fail(ScriptError::BAD_OPCODE);
            }
        } else if (op == OP_WITHIN) {
            Need(3);
            const int64_t x = ToNum(Top(3));
            const int64_t min = ToNum(Top(2));
            const int64_t max = ToNum(Top(1));
            m_stack.resize(m_stack.size() - 3);
            PushBool(min <= x && x < max);
        } else {
            Need(2);
            const int64_t a = ToNum(Top(2));
            const int64_t b = ToNum(Top(1));
            m_stack.resize(m_stack.size() - 2);
            BinaryArithmetic(op, a, b);
        }
    }

    void BinaryArithmetic(Opcode op, int64_t a, int64_t b)
    {
        switch (op) {
        case OP_ADD: PushNum(a + b); break;
        case OP_SUB: PushNum(a - b); break;
        case OP_BOOLAND: PushBool(a != 0 && b != 0); break;
        case OP_BOOLOR: PushBool(a != 0 || b != 0); break;
        case OP_NUMEQUAL: PushBool(a == b); break;
        case OP_NUMEQUALVERIFY: PushBool(a == b); VerifyTop(ScriptError::NUMEQUALVERIFY); break;
        case OP_NUMNOTEQUAL: PushBool(a != b); break;
        case OP_LESSTHAN: PushBool(a < b); break;
        case OP_GREATERTHAN: PushBool(a > b); break;
        case OP_LESSTHANOREQUAL: PushBool(a <= b); break;
        case OP_GREATERTHANOREQUAL: PushBool(a >= b); break;
        case OP_MIN: PushNum(std::min(a, b)); break;
        case OP_MAX: PushNum(std::max(a, b)); break;
        default: Fail(ScriptError::BAD_OPCODE);
        }
    }

    void HashOp(Opcode op)
    {
        const Bytes v = Pop();
        switch (op) {
        case OP_RIPEMD160: Push(Ripemd160(v)); break;
        case OP_SHA1: m_stack.push_back(Digest(EVP_sha1(), v)); break;
        case OP_SHA256: Push(Sha256(v)); break;
        case OP_HASH160: Push(Hash160Of(v)); break;
        case OP_HASH256: Push(Sha256d(v)); break;
        default: Fail(ScriptError::BAD_OPCODE);
        }
    }
    void Push(ByteSpan v) { m_stack.emplace_back(v.begin(), v.end()); }

    //! BIP143: the scriptCode is the script after the last executed OP_CODESEPARATOR.
    ByteSpan ScriptCode() const { return m_script.subspan(m_codesep_pos); }

    void SignatureOp(Opcode op)
    {
        switch (op) {
        case OP_CODESEPARATOR: m_codesep_pos = m_pos; break;
        case OP_CHECKSIG:
        case OP_CHECKSIGVERIFY: {
            Need(2);
            const Bytes pubkey = Pop();
            const Bytes sig = Pop();
            const bool ok = CheckSig(sig, pubkey);
            PushBool(ok);
            if (op == OP_CHECKSIGVERIFY) VerifyTop(ScriptError::CHECKSIGVERIFY);
            break;
        }
        case OP_CHECKMULTISIG:
        case OP_CHECKMULTISIGVERIFY:
            CheckMultisig();
            if (op == OP_CHECKMULTISIGVERIFY) VerifyTop(ScriptError::CHECKMULTISIGVERIFY);
            break;
        default: Fail(ScriptError::BAD_OPCODE);
        }
    }

    void CheckSignatureEncoding(ByteSpan sig) const
    {
        // An empty signature is a valid way to make a check fail (and the only one under NULLFAIL).
        if (sig.empty()) return;
        if (!IsValidSignatureEncoding(sig)) Fail(ScriptError::SIG_DER);
        if (Has(VERIFY_LOW_S)) {
            bool was_low_s = false;
            if (!ParseNormalized(sig.first(sig.size() - 1), was_low_s) || !was_low_s) Fail(ScriptError::SIG_HIGH_S);
        }
        if (Has(VERIFY_STRICTENC) && !IsDefinedSigHashType(sig.back())) Fail(ScriptError::SIG_HASHTYPE);
    }

    void CheckPubKeyEncoding(ByteSpan pubkey) const
    {
        if (Has(VERIFY_STRICTENC) && !IsCompressedOrUncompressedPubKey(pubkey)) Fail(ScriptError::PUBKEYTYPE);
        if (Has(VERIFY_WITNESS_PUBKEYTYPE) && !IsCompressedPubKey(pubkey)) Fail(ScriptError::WITNESS_PUBKEYTYPE);
    }

    bool CheckSig(ByteSpan sig, ByteSpan pubkey) const
    {
        CheckSignatureEncoding(sig);
        CheckPubKeyEncoding(pubkey);
        const bool ok = m_checker.CheckSig(sig, pubkey, ScriptCode());
        if (!ok && Has(VERIFY_NULLFAIL) && !sig.empty()) Fail(ScriptError::SIG_NULLFAIL);
        return ok;
    }

    // Stack: <dummy> <sig_1..sig_m> m <key_1..key_n> n. Signatures must match keys in order.
    void CheckMultisig()
    {
        size_t i = 1;
        Need(i);
        const int64_t key_count = ToNum(Top(i));
        if (key_count < 0 || key_count > MAX_PUBKEYS_PER_MULTISIG) Fail(ScriptError::PUBKEY_COUNT);
        m_op_count += static_cast<int>(key_count);
        if (m_op_count > MAX_OPS_PER_SCRIPT) Fail(ScriptError::OP_COUNT);
        size_t key_pos = ++i;
        i += static_cast<size_t>(key_count);
        Need(i);
        const int64_t sig_count = ToNum(Top(i));
        if (sig_count < 0 || sig_count > key_count) Fail(ScriptError::SIG_COUNT);
        size_t sig_pos = ++i;
        i += static_cast<size_t>(sig_count);
        Need(i);

        int64_t sigs_left = sig_count;
        int64_t keys_left = key_count;
        bool success = true;
        while (success && sigs_left > 0) {
            const ByteSpan sig = Top(sig_pos);
            const ByteSpan key = Top(key_pos);
            CheckSignatureEncoding(sig);
            CheckPubKeyEncoding(key);
            if (m_checker.CheckSig(sig, key, ScriptCode())) {
                ++sig_pos;
                --sigs_left;
            }
            ++key_pos;
            --keys_left;
            // More signatures left than keys means some signature can no longer match.
            if (sigs_left > keys_left) success = false;
        }
        // Pop keys, counts and signatures; under NULLFAIL every signature of a failed check
        // must be empty (the elements below the keys and both counts are signatures).
        const size_t non_sig_elements = static_cast<size_t>(key_count) + 2;
        for (size_t popped = 0; popped + 1 < i; ++popped) {
            if (!success && Has(VERIFY_NULLFAIL) && popped >= non_sig_elements && !Top(1).empty()) {
                Fail(ScriptError::SIG_NULLFAIL);
            }
            m_stack.pop_back();
        }
        // The historical off-by-one pops one extra element; BIP147 requires it to be empty.
        const Bytes dummy = Pop();
        if (Has(VERIFY_NULLDUMMY) && !dummy.empty()) Fail(ScriptError::SIG_NULLDUMMY);
        PushBool(success);
    }

    ByteSpan m_script;
    Stack& m_stack;
    const InputChecker& m_checker;
    uint32_t m_flags;
    Stack m_alt;
    std::vector<bool> m_exec;
    int m_op_count{0};
    //! Position just after the current opcode, and after the last executed OP_CODESEPARATOR.
    size_t m_pos{0};
    size_t m_codesep_pos{0};
};

//! BIP141: run the script on the witness stack; it must leave exactly one true element.
void ExecuteWitnessScript(ByteSpan script, Stack stack, const InputChecker& checker, uint32_t flags)
{
    for (const Bytes& item : stack) {
        if (item.size() > MAX_SCRIPT_ELEMENT_SIZE) Fail(ScriptError::PUSH_SIZE);
    }
    WitnessV0Evaluator(script, stack, checker, flags).Run();
    if (stack.size() != 1) Fail(ScriptError::CLEANSTACK);
    if (!CastToBool(stack.back())) Fail(ScriptError::EVAL_FALSE);
}

void VerifyWitnessProgram(const std::vector<Bytes>& witness, const WitnessProgram& wp, const InputChecker& checker,
                          uint32_t flags)
{
    if (wp.version != 0) Fail(ScriptError::UNSUPPORTED_WITNESS_VERSION);
    if (wp.program.size() == 32) {
        if (witness.empty()) Fail(ScriptError::WITNESS_PROGRAM_WITNESS_EMPTY);
        const Bytes& script = witness.back();
        const Hash256 script_hash = Sha256(script);
        if (!std::equal(script_hash.begin(), script_hash.end(), wp.program.begin(), wp.program.end())) {
            Fail(ScriptError::WITNESS_PROGRAM_MISMATCH);
        }
        ExecuteWitnessScript(script, Stack(witness.begin(), witness.end() - 1), checker, flags);
    } else if (wp.program.size() == 20) {
        if (witness.size() != 2) Fail(ScriptError::WITNESS_PROGRAM_MISMATCH);
        Hash160 key_hash;
        std::copy(wp.program.begin(), wp.program.end(), key_hash.begin());
        ExecuteWitnessScript(P2pkhScript(key_hash).span(), witness, checker, flags);
    } else {
        Fail(ScriptError::WITNESS_PROGRAM_WRONG_LENGTH);
    }
}

//! P2SH-wrapped witness: the scriptSig is exactly one push of a witness program hashing to the output.
WitnessProgram UnwrapP2shWitness(ByteSpan script_sig, ByteSpan script_hash)
{
    if (!IsPushOnly(script_sig)) Fail(ScriptError::SIG_PUSHONLY);
    ByteSpan redeem_script;
    size_t pos = 0;
    ScriptOp op;
    while (GetScriptOp(script_sig, pos, op)) redeem_script = op.data;
    if (pos == 0) Fail(ScriptError::INVALID_STACK_OPERATION);
    const Hash160 hash = Hash160Of(redeem_script);
    if (!std::equal(hash.begin(), hash.end(), script_hash.begin(), script_hash.end())) Fail(ScriptError::EVAL_FALSE);
    const auto wp = GetWitnessProgram(redeem_script);
    if (!wp) Fail(ScriptError::NOT_WITNESS_PROGRAM);
    if (Script{}.Push(redeem_script).span().size() != script_sig.size()) Fail(ScriptError::WITNESS_MALLEATED_P2SH);
    return *wp;
}
} // namespace

std::string_view ScriptErrorName(ScriptError error)
{
    switch (error) {
    case ScriptError::OK: return "OK";
    case ScriptError::EVAL_FALSE: return "EVAL_FALSE";
    case ScriptError::OP_RETURN: return "OP_RETURN";
    case ScriptError::SCRIPT_SIZE: return "SCRIPT_SIZE";
    case ScriptError::PUSH_SIZE: return "PUSH_SIZE";
    case ScriptError::OP_COUNT: return "OP_COUNT";
    case ScriptError::STACK_SIZE: return "STACK_SIZE";
    case ScriptError::SIG_COUNT: return "SIG_COUNT";
    case ScriptError::PUBKEY_COUNT: return "PUBKEY_COUNT";
    case ScriptError::VERIFY: return "VERIFY";
    case ScriptError::EQUALVERIFY: return "EQUALVERIFY";
    case ScriptError::CHECKMULTISIGVERIFY: return "CHECKMULTISIGVERIFY";
    case ScriptError::CHECKSIGVERIFY: return "CHECKSIGVERIFY";
    case ScriptError::NUMEQUALVERIFY: return "NUMEQUALVERIFY";
    case ScriptError::BAD_OPCODE: return "BAD_OPCODE";
    case ScriptError::DISABLED_OPCODE: return "DISABLED_OPCODE";
    case ScriptError::INVALID_STACK_OPERATION: return "INVALID_STACK_OPERATION";
    case ScriptError::INVALID_ALTSTACK_OPERATION: return "INVALID_ALTSTACK_OPERATION";
    case ScriptError::UNBALANCED_CONDITIONAL: return "UNBALANCED_CONDITIONAL";
    case ScriptError::NEGATIVE_LOCKTIME: return "NEGATIVE_LOCKTIME";
    case ScriptError::UNSATISFIED_LOCKTIME: return "UNSATISFIED_LOCKTIME";
    case ScriptError::SIG_HASHTYPE: return "SIG_HASHTYPE";
    case ScriptError::SIG_DER: return "SIG_DER";
    case ScriptError::MINIMALDATA: return "MINIMALDATA";
    case ScriptError::SIG_PUSHONLY: return "SIG_PUSHONLY";
    case ScriptError::SIG_HIGH_S: return "SIG_HIGH_S";
    case ScriptError::SIG_NULLDUMMY: return "SIG_NULLDUMMY";
    case ScriptError::PUBKEYTYPE: return "PUBKEYTYPE";
    case ScriptError::CLEANSTACK: return "CLEANSTACK";
    case ScriptError::MINIMALIF: return "MINIMALIF";
    case ScriptError::SIG_NULLFAIL: return "SIG_NULLFAIL";
    case ScriptError::DISCOURAGE_UPGRADABLE_NOPS: return "DISCOURAGE_UPGRADABLE_NOPS";
    case ScriptError::WITNESS_PROGRAM_WRONG_LENGTH: return "WITNESS_PROGRAM_WRONG_LENGTH";
    case ScriptError::WITNESS_PROGRAM_WITNESS_EMPTY: return "WITNESS_PROGRAM_WITNESS_EMPTY";
    case ScriptError::WITNESS_PROGRAM_MISMATCH: return "WITNESS_PROGRAM_MISMATCH";
    case ScriptError::WITNESS_MALLEATED: return "WITNESS_MALLEATED";
    case ScriptError::WITNESS_MALLEATED_P2SH: return "WITNESS_MALLEATED_P2SH";
    case ScriptError::WITNESS_PUBKEYTYPE: return "WITNESS_PUBKEYTYPE";
    case ScriptError::SCRIPTNUM: return "SCRIPTNUM";
    case ScriptError::NOT_WITNESS_PROGRAM: return "NOT_WITNESS_PROGRAM";
    case ScriptError::UNSUPPORTED_WITNESS_VERSION: return "UNSUPPORTED_WITNESS_VERSION";
    case ScriptError::INPUT_INDEX: return "INPUT_INDEX";
    }
    return "UNKNOWN";
}

ScriptError VerifyWitnessInput(const Transaction& tx, size_t input_index, const TxOut& spent_output,
                               const SigHashCache& cache, uint32_t flags)
{
    if (input_index >= tx.vin.size()) return ScriptError::INPUT_INDEX;
    const TxIn& txin = tx.vin[input_index];
    const InputChecker checker(tx, input_index, spent_output.value, cache);
    const ByteSpan spk = spent_output.script_pubkey;
    try {
        if (const auto wp = GetWitnessProgram(spk)) {
            // BIP141: native witness spends must have an empty scriptSig.
            if (!txin.script_sig.empty()) return ScriptError::WITNESS_MALLEATED;
            VerifyWitnessProgram(txin.witness, *wp, checker, flags);
        } else if (const SolvedScript solved = Solve(spk); solved.type == ScriptType::P2SH) {
            VerifyWitnessProgram(txin.witness, UnwrapP2shWitness(txin.script_sig, solved.program), checker, flags);
        } else {
            return ScriptError::NOT_WITNESS_PROGRAM;
        }
    } catch (const ScriptFailure& failure) {
        return failure.error;
    }
    return ScriptError::OK;
}

} // namespace sidebolt
