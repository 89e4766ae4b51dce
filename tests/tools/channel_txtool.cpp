// channel-txtool: a test-only CLI over the channel library for functional tests. Reads one JSON
// request on stdin and prints the transactions it asks for as JSON on stdout:
//   {"command": "funding_script", "local_funding_pubkey": hex, "remote_funding_pubkey": hex}
//   {"command": "channel", ...}: the holder's signed commitment, its HTLC transactions, and
//     every enforcement transaction either side can build against it (see Channel() below).
// Errors go to stderr with exit code 1. Secrets come from the request: never use real keys.
#include "primitives/sighash.h"
#include "channel/commitment.h"
#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "channel/keys.h"
#include "channel/scripts.h"
#include "channel/sweeps.h"
#include "util/amount.h"
#include "util/hex.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <stdexcept>
#include <string>

using namespace sidebolt;
using nlohmann::json;

namespace {
PrivKey Secret32(const json& j)
{
    const auto key = PrivKey::FromBytes(ParseHex(j.get<std::string>()));
    if (!key) throw std::invalid_argument("invalid secret key");
    return *key;
}

PubKey Point(const json& j)
{
    const auto key = PubKey::Parse(ParseHex(j.get<std::string>()));
    if (!key) throw std::invalid_argument("invalid public key");
    return *key;
}

CommitmentFormat Format(const std::string& name)
{
    if (name == "legacy") return CommitmentFormat::LEGACY;
    if (name == "static_remotekey") return CommitmentFormat::STATIC_REMOTEKEY;
    if (name == "anchor_outputs") return CommitmentFormat::ANCHOR_OUTPUTS;
    if (name == "anchors") return CommitmentFormat::ANCHORS;
    throw std::invalid_argument("unknown format " + name);
}

const char* KindName(CommitmentOutputKind kind)
{
    switch (kind) {
    case CommitmentOutputKind::TO_LOCAL: return "to_local";
    case CommitmentOutputKind::TO_REMOTE: return "to_remote";
    case CommitmentOutputKind::LOCAL_ANCHOR: return "local_anchor";
    case CommitmentOutputKind::REMOTE_ANCHOR: return "remote_anchor";
    case CommitmentOutputKind::OFFERED_HTLC: return "offered_htlc";
    case CommitmentOutputKind::RECEIVED_HTLC: return "received_htlc";
    }
    return "?";
}

//! One party's basepoint secrets.
struct Party {
    PrivKey funding, revocation, payment, delayed_payment, htlc;

    explicit Party(const json& j)
        : funding(Secret32(j.at("funding_secret"))), revocation(Secret32(j.at("revocation_basepoint_secret"))),
          payment(Secret32(j.at("payment_basepoint_secret"))), delayed_payment(Secret32(j.at("delayed_payment_basepoint_secret"))),
          htlc(Secret32(j.at("htlc_basepoint_secret")))
    {
    }
    Basepoints Points() const
    {
        return {revocation.GetPubKey(), payment.GetPubKey(), delayed_payment.GetPubKey(), htlc.GetPubKey()};
    }
};

json TxJson(const Transaction& tx)
{
    return {{"hex", ToHex(SerializeTransaction(tx))}, {"txid", HashToHexRev(tx.GetTxid())}};
}

json OptionalTx(const std::optional<Transaction>& tx) { return tx ? TxJson(*tx) : json(nullptr); }

json FundingScriptCommand(const json& req)
{
    const Script script = FundingScript(Point(req.at("local_funding_pubkey")), Point(req.at("remote_funding_pubkey")));
    return {{"witness_script", ToHex(script.span())}, {"script_pubkey", ToHex(P2wshScript(script).span())}};
}

/**
 * Request: format, funding {txid, vout, amount_sat}, holder and counterparty secrets,
 * holder_is_opener, to_self_delay, dust_limit_sat, feerate_per_kw, commitment_number,
 * per_commitment_secret (the holder's), to_local_msat, to_remote_msat, htlcs [{direction
 * (as seen by the holder), amount_msat, payment_preimage, cltv_expiry}], sweep {script_pubkey,
 * feerate_per_kw}.
 */
json ChannelCommand(const json& req)
{
    const Party holder(req.at("holder"));
    const Party counterparty(req.at("counterparty"));
    const PrivKey per_commitment_secret = Secret32(req.at("per_commitment_secret"));
    const auto funding_txid = HashFromHexRev(req.at("funding").at("txid").get<std::string>());
    if (!funding_txid) throw std::invalid_argument("invalid funding txid");

    std::vector<Hash256> preimages;
    CommitmentSpec spec{
        .format = Format(req.at("format").get<std::string>()),
        .funding_outpoint = OutPoint{*funding_txid, req.at("funding").at("vout").get<uint32_t>()},
        .funding_sat = Sat{req.at("funding").at("amount_sat").get<uint64_t>()},
        .holder_funding_pubkey = holder.funding.GetPubKey(),
        .counterparty_funding_pubkey = counterparty.funding.GetPubKey(),
        .holder = holder.Points(),
        .counterparty = counterparty.Points(),
        .holder_is_opener = req.at("holder_is_opener").get<bool>(),
        .to_self_delay = req.at("to_self_delay").get<uint16_t>(),
        .dust_limit_sat = Sat{req.at("dust_limit_sat").get<uint64_t>()},
        .feerate_per_kw = req.at("feerate_per_kw").get<uint32_t>(),
        .commitment_number = req.at("commitment_number").get<uint64_t>(),
        .per_commitment_point = per_commitment_secret.GetPubKey(),
        .to_local_msat = Msat{req.at("to_local_msat").get<uint64_t>()},
        .to_remote_msat = Msat{req.at("to_remote_msat").get<uint64_t>()},
        .htlcs = {},
    };
    for (const json& h : req.at("htlcs")) {
        const auto preimage = TryParseHexArray<32>(h.at("payment_preimage").get<std::string>());
        if (!preimage) throw std::invalid_argument("invalid payment preimage");
        preimages.push_back(*preimage);
        spec.htlcs.push_back(Htlc{.direction = h.at("direction").get<std::string>() == "offered" ? HtlcDirection::OFFERED
                                                                                                  : HtlcDirection::RECEIVED,
                                  .amount_msat = Msat{h.at("amount_msat").get<uint64_t>()},
                                  .payment_hash = Sha256(*preimage),
                                  .cltv_expiry = h.at("cltv_expiry").get<uint32_t>()});
    }
    const SweepTarget target{ParseHex(req.at("sweep").at("script_pubkey").get<std::string>()),
                             req.at("sweep").at("feerate_per_kw").get<uint32_t>()};

    const CommitmentKeys keys = DeriveCommitmentKeys(spec);
    CommitmentTx commitment = BuildCommitmentTx(spec, keys);
    const Sat funding_sat = spec.funding_sat;
    SetFundingWitness(commitment.tx, commitment.funding_script, keys.local_funding,
                      SignFundingInput(commitment.tx, commitment.funding_script, funding_sat, holder.funding),
                      keys.remote_funding,
                      SignFundingInput(commitment.tx, commitment.funding_script, funding_sat, counterparty.funding));
    const Hash256 commitment_txid = commitment.tx.GetTxid();
    auto outpoint = [&](size_t index) { return OutPoint{commitment_txid, static_cast<uint32_t>(index)}; };

    json out;
    out["commitment"] = TxJson(commitment.tx);
    json outputs = json::array();
    for (size_t i = 0; i < commitment.outputs.size(); ++i) {
        json o{{"index", i}, {"kind", KindName(commitment.outputs[i].kind)}, {"value", commitment.tx.vout[i].value}};
        if (commitment.outputs[i].htlc_index) o["htlc"] = *commitment.outputs[i].htlc_index;
        outputs.push_back(o);
    }
    out["commitment"]["outputs"] = outputs;

    // The holder's own resolutions: HTLC transactions and sweeps after to_self_delay.
    const PrivKey local_htlc_key = DerivePrivKey(holder.htlc, spec.per_commitment_point);
    const PrivKey remote_htlc_key = DerivePrivKey(counterparty.htlc, spec.per_commitment_point);
    const PrivKey delayed_key = DerivePrivKey(holder.delayed_payment, spec.per_commitment_point);
    const uint8_t remote_type = CounterpartyHtlcSigHashType(spec.format);
    const Script second_stage_script = ToLocalScript(keys.revocation, spec.to_self_delay, keys.local_delayed);
    const PrivKey revocation_key = DeriveRevocationPrivKey(counterparty.revocation, per_commitment_secret);
    json htlc_txs = json::array();
    for (HtlcTx& htlc_tx : BuildHtlcTxs(commitment, spec, keys)) {
        const EcdsaSignature remote = SignHtlcTx(htlc_tx, remote_htlc_key, remote_type);
        const EcdsaSignature local = SignHtlcTx(htlc_tx, local_htlc_key, SIGHASH_ALL);
        if (htlc_tx.is_success) {
            SetHtlcSuccessWitness(htlc_tx, remote, remote_type, local, preimages[htlc_tx.htlc_index]);
        } else {
            SetHtlcTimeoutWitness(htlc_tx, remote, remote_type, local);
        }
        json entry = TxJson(htlc_tx.tx);
        entry["htlc"] = htlc_tx.htlc_index;
        entry["type"] = htlc_tx.is_success ? "success" : "timeout";
        entry["locktime"] = htlc_tx.tx.locktime;
        const OutPoint second_stage{htlc_tx.tx.GetTxid(), 0};
        const Sat second_stage_sat = SatFromTxValue(htlc_tx.tx.vout[0].value);
        entry["sweep"] = OptionalTx(BuildDelayedSweep(second_stage, second_stage_sat, second_stage_script, spec.to_self_delay,
                                                      delayed_key, target));
        const RevokedOutput revoked{second_stage, second_stage_sat, RevokedOutputKind::SECOND_STAGE, second_stage_script};
        entry["penalty"] = OptionalTx(BuildPenaltyTx({&revoked, 1}, revocation_key, target));
        htlc_txs.push_back(entry);
    }
    out["htlc_txs"] = htlc_txs;

    // The counterparty's resolutions: to_remote, HTLC claims, and penalties once revoked.
    const PrivKey remote_payment_key =
        HasStaticRemoteKey(spec.format) ? counterparty.payment : DerivePrivKey(counterparty.payment, spec.per_commitment_point);
    std::vector<RevokedOutput> revoked_commitment;
    json claims = json::array();
    for (size_t i = 0; i < commitment.outputs.size(); ++i) {
        const CommitmentOutput& o = commitment.outputs[i];
        const Sat value = SatFromTxValue(commitment.tx.vout[i].value);
        switch (o.kind) {
        case CommitmentOutputKind::TO_LOCAL:
            out["to_local_sweep"] = OptionalTx(BuildDelayedSweep(outpoint(i), value, o.witness_script, spec.to_self_delay,
                                                                 delayed_key, target));
            revoked_commitment.push_back({outpoint(i), value, RevokedOutputKind::TO_LOCAL, o.witness_script});
            break;
        case CommitmentOutputKind::TO_REMOTE:
            out["to_remote_sweep"] = OptionalTx(BuildToRemoteSweep(outpoint(i), value, spec.format, remote_payment_key, target));
            break;
        case CommitmentOutputKind::OFFERED_HTLC:
        case CommitmentOutputKind::RECEIVED_HTLC: {
            const bool offered = o.kind == CommitmentOutputKind::OFFERED_HTLC;
            const Htlc& htlc = spec.htlcs[*o.htlc_index];
            const RemoteHtlcOutput remote_htlc{outpoint(i), value, o.witness_script, htlc.cltv_expiry};
            json claim{{"htlc", *o.htlc_index}, {"type", offered ? "preimage" : "timeout"}};
            claim["tx"] = offered ? OptionalTx(BuildHtlcPreimageClaim(remote_htlc, spec.format, remote_htlc_key,
                                                                     preimages[*o.htlc_index], target))
                                  : OptionalTx(BuildHtlcTimeoutClaim(remote_htlc, spec.format, remote_htlc_key, target));
            claims.push_back(claim);
            revoked_commitment.push_back({outpoint(i), value,
                                          offered ? RevokedOutputKind::OFFERED_HTLC : RevokedOutputKind::RECEIVED_HTLC,
                                          o.witness_script});
            break;
        }
        case CommitmentOutputKind::LOCAL_ANCHOR:
            out["local_anchor_spend"] = OptionalTx(BuildAnchorSpend(outpoint(i), holder.funding, {}, target));
            break;
        case CommitmentOutputKind::REMOTE_ANCHOR:
            break;
        }
    }
    out["remote_claims"] = claims;
    out["penalty"] = OptionalTx(BuildPenaltyTx(revoked_commitment, revocation_key, target));
    return out;
}
} // namespace

int main()
{
    try {
        const json req = json::parse(std::cin);
        const std::string command = req.at("command").get<std::string>();
        json result;
        if (command == "funding_script") {
            result = FundingScriptCommand(req);
        } else if (command == "channel") {
            result = ChannelCommand(req);
        } else {
            throw std::invalid_argument("unknown command " + command);
        }
        std::cout << result.dump(1) << std::endl;
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "channel-txtool: " << e.what() << std::endl;
        return 1;
    }
}
