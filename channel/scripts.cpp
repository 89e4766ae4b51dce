#include "channel/scripts.h"

namespace sidebolt {
namespace {
//! `OP_DUP OP_HASH160 <RIPEMD160(SHA256(revocationpubkey))> OP_EQUAL OP_IF OP_CHECKSIG OP_ELSE
//! <remote_htlcpubkey> OP_SWAP OP_SIZE 32 OP_EQUAL`: the prefix shared by both HTLC scripts.
Script HtlcScriptPrefix(const PubKey& revocation_pubkey, const PubKey& remote_htlc_pubkey)
{
    Script script;
    script.Op(OP_DUP).Op(OP_HASH160).Push(Hash160Of(revocation_pubkey.span())).Op(OP_EQUAL);
    script.Op(OP_IF).Op(OP_CHECKSIG).Op(OP_ELSE);
    script.Push(remote_htlc_pubkey.span()).Op(OP_SWAP).Op(OP_SIZE).Num(32).Op(OP_EQUAL);
    return script;
}

//! Closes both HTLC scripts; anchors add a one-block CSV to the non-revocation spends.
void HtlcScriptSuffix(Script& script, bool anchors)
{
    script.Op(OP_ENDIF);
    if (anchors) script.Num(1).Op(OP_CHECKSEQUENCEVERIFY).Op(OP_DROP);
    script.Op(OP_ENDIF);
}
} // namespace

Script FundingScript(const PubKey& funding_pubkey_a, const PubKey& funding_pubkey_b)
{
    const bool a_first = funding_pubkey_a < funding_pubkey_b;
    const PubKey& first = a_first ? funding_pubkey_a : funding_pubkey_b;
    const PubKey& second = a_first ? funding_pubkey_b : funding_pubkey_a;
    return Script{}.Num(2).Push(first.span()).Push(second.span()).Num(2).Op(OP_CHECKMULTISIG);
}

Script ToLocalScript(const PubKey& revocation_pubkey, uint16_t to_self_delay, const PubKey& local_delayed_pubkey)
{
    return Script{}
        .Op(OP_IF)
        .Push(revocation_pubkey.span())
        .Op(OP_ELSE)
        .Num(to_self_delay)
        .Op(OP_CHECKSEQUENCEVERIFY)
        .Op(OP_DROP)
        .Push(local_delayed_pubkey.span())
        .Op(OP_ENDIF)
        .Op(OP_CHECKSIG);
}

Script ToRemoteAnchorScript(const PubKey& remote_pubkey)
{
    return Script{}.Push(remote_pubkey.span()).Op(OP_CHECKSIGVERIFY).Num(1).Op(OP_CHECKSEQUENCEVERIFY);
}

Script AnchorScript(const PubKey& funding_pubkey)
{
    return Script{}
        .Push(funding_pubkey.span())
        .Op(OP_CHECKSIG)
        .Op(OP_IFDUP)
        .Op(OP_NOTIF)
        .Num(ANCHOR_ANYONE_CSV)
        .Op(OP_CHECKSEQUENCEVERIFY)
        .Op(OP_ENDIF);
}

Script OfferedHtlcScript(const PubKey& revocation_pubkey, const PubKey& local_htlc_pubkey,
                         const PubKey& remote_htlc_pubkey, const Hash256& payment_hash, bool anchors)
{
    Script script = HtlcScriptPrefix(revocation_pubkey, remote_htlc_pubkey);
    // To the local node via HTLC-timeout (2-of-2), or to the remote node with the preimage.
    script.Op(OP_NOTIF).Op(OP_DROP).Num(2).Op(OP_SWAP).Push(local_htlc_pubkey.span()).Num(2).Op(OP_CHECKMULTISIG);
    script.Op(OP_ELSE).Op(OP_HASH160).Push(Ripemd160(payment_hash)).Op(OP_EQUALVERIFY).Op(OP_CHECKSIG);
    HtlcScriptSuffix(script, anchors);
    return script;
}

Script ReceivedHtlcScript(const PubKey& revocation_pubkey, const PubKey& local_htlc_pubkey,
                          const PubKey& remote_htlc_pubkey, const Hash256& payment_hash, uint32_t cltv_expiry,
                          bool anchors)
{
    Script script = HtlcScriptPrefix(revocation_pubkey, remote_htlc_pubkey);
    // To the local node via HTLC-success (preimage + 2-of-2), or to the remote node after timeout.
    script.Op(OP_IF).Op(OP_HASH160).Push(Ripemd160(payment_hash)).Op(OP_EQUALVERIFY);
    script.Num(2).Op(OP_SWAP).Push(local_htlc_pubkey.span()).Num(2).Op(OP_CHECKMULTISIG);
    script.Op(OP_ELSE).Op(OP_DROP).Num(cltv_expiry).Op(OP_CHECKLOCKTIMEVERIFY).Op(OP_DROP).Op(OP_CHECKSIG);
    HtlcScriptSuffix(script, anchors);
    return script;
}

} // namespace sidebolt
