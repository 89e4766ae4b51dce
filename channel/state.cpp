#include "channel/state.h"

#include "channel/funding.h"
#include "channel/htlc_tx.h"
#include "channel/keys.h"
#include "primitives/key.h"
#include "primitives/serialize.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <tuple>
#include <vector>

namespace sidebolt {
namespace {
bool Included(const UpdateProgress& progress, Side holder, uint64_t commitment_number)
{
    const auto& first = holder == Side::LOCAL ? progress.local_commitment : progress.remote_commitment;
    return first && *first <= commitment_number;
}

auto PartyTie(const PartyParams& p)
{
    return std::tie(p.funding_pubkey, p.basepoints, p.dust_limit_sat, p.to_self_delay);
}
} // namespace

const ChannelHtlc* ChannelState::FindHtlc(Side offerer, uint64_t id) const
{
    const auto it = std::find_if(htlcs.begin(), htlcs.end(),
                                 [&](const ChannelHtlc& htlc) { return htlc.offerer == offerer && htlc.id == id; });
    return it == htlcs.end() ? nullptr : &*it;
}

bool AwaitsResolution(const ChannelState& state, const ChannelHtlc& htlc)
{
    return htlc.offerer == Side::REMOTE && !htlc.removal && htlc.added.local_commitment && htlc.added.remote_commitment &&
           *htlc.added.remote_commitment <= state.IrrevocableRemoteCommitment();
}

bool operator==(const ChannelSetup& a, const ChannelSetup& b)
{
    const ChannelParams& pa = a.params;
    const ChannelParams& pb = b.params;
    return a.channel_id == b.channel_id && pa.format == pb.format && pa.funding_outpoint == pb.funding_outpoint &&
           pa.funding_sat == pb.funding_sat && PartyTie(pa.local) == PartyTie(pb.local) &&
           PartyTie(pa.remote) == PartyTie(pb.remote) && pa.opener == pb.opener && a.local_limits == b.local_limits &&
           a.remote_limits == b.remote_limits && a.initial_local_balance == b.initial_local_balance &&
           a.initial_remote_balance == b.initial_remote_balance &&
           a.initial_feerate_per_kw == b.initial_feerate_per_kw &&
           a.remote_first_per_commitment_point == b.remote_first_per_commitment_point &&
           a.local_upfront_shutdown_script == b.local_upfront_shutdown_script &&
           a.remote_upfront_shutdown_script == b.remote_upfront_shutdown_script &&
           a.minimum_depth == b.minimum_depth && a.announce == b.announce;
}

ChannelState MakeInitialChannelState(const ChannelSetup& setup)
{
    return ChannelState{
        .setup = setup,
        .policy = ChannelPolicy{},
        .connection = ConnectionStatus::CONNECTED,
        .local_commitment_number = 0,
        .local_commitment_signature = std::nullopt,
        .local_htlc_signatures = {},
        .remote_commitment_number = 0,
        .remote_per_commitment_point = setup.remote_first_per_commitment_point,
        .remote_next_per_commitment_point = std::nullopt,
        .remote_prev_per_commitment_point = std::nullopt,
        .remote_secrets = ShachainStore{},
        .local_balance = setup.initial_local_balance,
        .remote_balance = setup.initial_remote_balance,
        .feerate_per_kw = setup.initial_feerate_per_kw,
        .fee_updates = {},
        .htlcs = {},
        .next_local_htlc_id = 0,
        .next_remote_htlc_id = 0,
        .next_update_sequence = 0,
        .last_sent_commitment_signed = std::nullopt,
        .last_sent_revoke_and_ack = std::nullopt,
        .block_height = 0,
        .data_loss_detected = false,
        .remote_point_after_data_loss = std::nullopt,
        .local_shutdown_sent = false,
        .remote_shutdown_received = false,
    };
}

CommitmentView MakeCommitmentView(const ChannelState& state, Side holder, uint64_t commitment_number, const PubKey& point)
{
    uint32_t feerate = state.feerate_per_kw;
    for (const FeeUpdate& update : state.fee_updates) {
        if (Included(update.progress, holder, commitment_number)) feerate = update.feerate_per_kw;
    }
    // Every HTLC counts for its offerer in the balances; take out the ones this commitment
    // carries or has paid to the receiver.
    Msat local_credit{0}, remote_credit{0}, local_debit{0}, remote_debit{0};
    std::vector<Htlc> htlcs;
    std::vector<HtlcKey> keys;
    for (const ChannelHtlc& htlc : state.htlcs) {
        if (!Included(htlc.added, holder, commitment_number)) continue;
        const bool ours = htlc.offerer == Side::LOCAL;
        (ours ? local_debit : remote_debit) += htlc.amount_msat;
        if (htlc.removal && Included(htlc.removal->progress, holder, commitment_number)) {
            const bool fulfilled = htlc.removal->kind == HtlcRemovalKind::FULFILL;
            (ours == fulfilled ? remote_credit : local_credit) += htlc.amount_msat;
            continue;
        }
        htlcs.push_back(Htlc{.direction = ours ? HtlcDirection::OFFERED : HtlcDirection::RECEIVED,
                             .amount_msat = htlc.amount_msat,
                             .payment_hash = htlc.payment_hash,
                             .cltv_expiry = htlc.cltv_expiry});
        keys.push_back(HtlcKey{htlc.offerer, htlc.id});
    }
    // AmountError here means a corrupt state: BOLT 2's checks keep both balances non-negative.
    const Msat local = state.local_balance + local_credit - local_debit;
    const Msat remote = state.remote_balance + remote_credit - remote_debit;
    return CommitmentView{
        .spec = MakeCommitmentSpec(state.setup.params, holder, commitment_number, point, feerate, local, remote, htlcs),
        .htlcs = std::move(keys),
    };
}

CommitmentView LocalCommitmentView(const ChannelState& state, const ChannelSigner& signer)
{
    return MakeCommitmentView(state, Side::LOCAL, state.local_commitment_number,
                              signer.PerCommitmentPoint(state.local_commitment_number));
}

CommitmentView RemoteCommitmentView(const ChannelState& state)
{
    return MakeCommitmentView(state, Side::REMOTE, state.remote_commitment_number, state.remote_per_commitment_point);
}

namespace {
//! The keys of a commitment the peer holds and we sign: our revocation basepoint secret makes
//! its revocationpubkey cheaper (unless the spec was made with other basepoints than ours).
CommitmentKeys DeriveKeysToSign(const ChannelSigner& signer, const CommitmentSpec& spec, HtlcKeys htlc_keys)
{
    const PubKey& ours = signer.GetBasepoints().revocation;
    if (spec.counterparty.revocation != ours) return DeriveCommitmentKeys(spec, htlc_keys);
    return DeriveCommitmentKeys(spec, htlc_keys,
                                DeriveRevocationPubKeyWithBasepointSecret(signer.RevocationBasepointSecret(), ours,
                                                                          spec.per_commitment_point));
}

//! The keys of our own commitment: our per_commitment_secret makes its revocationpubkey
//! cheaper (unless the spec's point is not the one of its commitment number).
CommitmentKeys DeriveKeysToCheck(const ChannelSigner& signer, const CommitmentSpec& spec, HtlcKeys htlc_keys)
{
    if (signer.PerCommitmentPoint(spec.commitment_number) != spec.per_commitment_point) {
        return DeriveCommitmentKeys(spec, htlc_keys);
    }
    const auto secret = PrivKey::FromBytes(signer.PerCommitmentSecret(spec.commitment_number).span());
    // A valid scalar: the point above was derived from it.
    return DeriveCommitmentKeys(spec, htlc_keys,
                                DeriveRevocationPubKeyWithCommitmentSecret(spec.counterparty.revocation, secret.value(),
                                                                           spec.per_commitment_point));
}

//! Derives the keys of a commitment the peer holds into the signer's memo, unless there.
void KeepKeysToSign(const ChannelSigner& signer, const CommitmentSpec& spec)
{
    if (!signer.RememberedKeys(spec)) signer.RememberKeys(spec, DeriveKeysToSign(signer, spec, HtlcKeys::ALWAYS));
}

CommitmentKeys KeysToSign(const ChannelSigner& signer, const CommitmentSpec& spec)
{
    if (auto keys = signer.RememberedKeys(spec)) return std::move(*keys);
    return DeriveKeysToSign(signer, spec, HtlcKeys::IF_UNTRIMMED);
}

CommitmentKeys KeysToCheck(const ChannelSigner& signer, const CommitmentSpec& spec)
{
    if (auto keys = signer.RememberedKeys(spec)) return std::move(*keys);
    return DeriveKeysToCheck(signer, spec, HtlcKeys::IF_UNTRIMMED);
}

SignatureCheck CheckSignatures(const ChannelState& state, const CommitmentView& view, const CommitmentKeys& keys,
                               const EcdsaSignature& signature, std::span<const EcdsaSignature> htlc_signatures,
                               const ChannelSigner* signer)
{
    const CommitmentTx commitment = BuildCommitmentTx(view.spec, keys);
    const std::vector<HtlcTx> htlc_txs = BuildHtlcTxs(commitment, view.spec, keys);
    // Each check owns its key, digest and signature: the signer may run them on other threads.
    std::vector<std::function<bool()>> checks;
    checks.reserve(1 + htlc_txs.size());
    checks.emplace_back([key = state.setup.params.remote.funding_pubkey,
                         digest = FundingSigHash(commitment.tx, commitment.funding_script, state.setup.params.funding_sat),
                         signature] { return VerifyEcdsa(key, digest, signature); });
    const bool count_matches = htlc_txs.size() == htlc_signatures.size();
    if (count_matches && !htlc_txs.empty()) {
        const uint8_t sighash_type = CounterpartyHtlcSigHashType(view.spec.format);
        // keys.remote_htlc is set: an HTLC transaction means an untrimmed HTLC.
        const PubKey& htlc_pubkey = keys.remote_htlc.value();
        for (size_t i = 0; i < htlc_txs.size(); ++i) {
            checks.emplace_back([key = htlc_pubkey, digest = HtlcSigHash(htlc_txs[i], sighash_type),
                                 signature = htlc_signatures[i]] { return VerifyEcdsa(key, digest, signature); });
        }
    }
    const std::vector<bool> valid = signer ? signer->RunChecks(std::move(checks)) : ChannelSigner::CheckInOrder(std::move(checks));
    // "if signature is not valid for its local commitment transaction ... if num_htlcs is not
    // equal to the number of HTLC outputs in the local commitment transaction ... if any
    // htlc_signature is not valid for the corresponding HTLC transaction": fail.
    if (!valid.front()) return SignatureCheck::BAD_COMMITMENT_SIGNATURE;
    if (!count_matches) return SignatureCheck::WRONG_HTLC_SIGNATURE_COUNT;
    return std::ranges::all_of(valid, [](bool ok) { return ok; }) ? SignatureCheck::OK : SignatureCheck::BAD_HTLC_SIGNATURE;
}

//! What our signatures on a peer's commitment sign: the commitment's digest (funding key) and
//! each HTLC transaction's (the htlc key for its per_commitment_point).
struct CommitmentDigests {
    Hash256 commitment;
    std::vector<Hash256> htlcs;
    std::optional<PrivKey> htlc_key;
};

CommitmentDigests DigestsToSign(const ChannelState& state, const ChannelSigner& signer, const CommitmentView& view)
{
    const CommitmentKeys keys = KeysToSign(signer, view.spec);
    const CommitmentTx commitment = BuildCommitmentTx(view.spec, keys);
    CommitmentDigests out{
        .commitment = FundingSigHash(commitment.tx, commitment.funding_script, state.setup.params.funding_sat),
        .htlcs = {},
        .htlc_key = std::nullopt,
    };
    const std::vector<HtlcTx> htlc_txs = BuildHtlcTxs(commitment, view.spec, keys);
    if (htlc_txs.empty()) return out;
    // The peer holds this commitment: our htlc key is its "remote_htlc".
    out.htlc_key = DerivePrivKey(signer.HtlcBasepointSecret(), signer.GetBasepoints().htlc, view.spec.per_commitment_point);
    const uint8_t sighash_type = CounterpartyHtlcSigHashType(view.spec.format);
    out.htlcs.reserve(htlc_txs.size());
    for (const HtlcTx& htlc_tx : htlc_txs) out.htlcs.push_back(HtlcSigHash(htlc_tx, sighash_type));
    return out;
}
} // namespace

CommitmentSignatures SignCommitmentView(const ChannelState& state, const ChannelSigner& signer, const CommitmentView& view)
{
    const CommitmentDigests digests = DigestsToSign(state, signer, view);
    CommitmentSignatures out{.signature = signer.Sign(signer.FundingKey(), digests.commitment), .htlc_signatures = {}};
    if (digests.htlcs.empty()) return out;
    std::vector<std::optional<EcdsaSignature>> signed_txs(digests.htlcs.size());
    signer.ForEachHtlc(digests.htlcs.size(), [&](size_t i) { signed_txs[i] = signer.Sign(*digests.htlc_key, digests.htlcs[i]); });
    out.htlc_signatures.reserve(signed_txs.size());
    for (auto& signature : signed_txs) out.htlc_signatures.push_back(std::move(signature).value());
    return out;
}

void SignCommitmentViewAhead(const ChannelState& state, const ChannelSigner& signer, const CommitmentView& view)
{
    // The signing that will find these signatures builds the same commitment first: its keys
    // kept, it finds them too instead of deriving them again on the path.
    KeepKeysToSign(signer, view.spec);
    const CommitmentDigests digests = DigestsToSign(state, signer, view);
    // More than the memo keeps would push out the first ones before they are used.
    if (1 + digests.htlcs.size() > ChannelSigner::SIGNATURES_AHEAD) return;
    signer.SignAhead(signer.FundingKey(), digests.commitment);
    for (const Hash256& digest : digests.htlcs) signer.SignAhead(*digests.htlc_key, digest);
}

SignatureCheck CheckCommitmentSignatures(const ChannelState& state, const CommitmentView& view,
                                         const EcdsaSignature& signature, std::span<const EcdsaSignature> htlc_signatures)
{
    return CheckSignatures(state, view, DeriveCommitmentKeys(view.spec, HtlcKeys::IF_UNTRIMMED), signature, htlc_signatures,
                           nullptr);
}

SignatureCheck CheckCommitmentSignatures(const ChannelState& state, const ChannelSigner& signer, const CommitmentView& view,
                                         const EcdsaSignature& signature, std::span<const EcdsaSignature> htlc_signatures)
{
    return CheckSignatures(state, view, KeysToCheck(signer, view.spec), signature, htlc_signatures, &signer);
}

void WarmNextCommitmentKeys(const ChannelState& state, const ChannelSigner& signer, Side holder)
{
    if (holder == Side::LOCAL) {
        const uint64_t local = state.local_commitment_number + 1;
        const CommitmentView ours = MakeCommitmentView(state, Side::LOCAL, local, signer.PerCommitmentPoint(local));
        if (!signer.RememberedKeys(ours.spec)) signer.RememberKeys(ours.spec, DeriveKeysToCheck(signer, ours.spec, HtlcKeys::ALWAYS));
        // The revoke_and_ack that answers the peer's signature for it carries the point after it.
        (void)signer.PerCommitmentPoint(local + 1);
        return;
    }
    if (!state.remote_next_per_commitment_point) return;
    const CommitmentView theirs = MakeCommitmentView(state, Side::REMOTE, state.remote_commitment_number + 1,
                                                     *state.remote_next_per_commitment_point);
    KeepKeysToSign(signer, theirs.spec);
}

EcdsaSignature SignRemoteCommitment(const ChannelState& state, const ChannelSigner& signer)
{
    return SignCommitmentView(state, signer, RemoteCommitmentView(state)).signature;
}

bool VerifyLocalCommitmentSig(const ChannelState& state, const ChannelSigner& signer, const EcdsaSignature& signature)
{
    // Only valid where our commitment carries no HTLC (number 0): otherwise HTLC signatures
    // belong to the check as well.
    const CommitmentView view = LocalCommitmentView(state, signer);
    const CommitmentKeys keys = KeysToCheck(signer, view.spec);
    const CommitmentTx commitment = BuildCommitmentTx(view.spec, keys);
    return VerifyFundingSignature(commitment.tx, commitment.funding_script, state.setup.params.funding_sat,
                                  state.setup.params.remote.funding_pubkey, signature);
}

// ---- Serialization ------------------------------------------------------------------------

namespace {
constexpr uint8_t STATE_VERSION = 1;
//! BOLT 2 caps max_accepted_htlcs at 483 per side.
constexpr size_t MAX_HTLCS = 2 * 483;
//! A few fee updates at most can be in flight (one per commitment round); a bound for decoding.
constexpr size_t MAX_FEE_UPDATES = 16;

class StateWriter
{
public:
    ByteWriter& out() { return m_out; }
    void Bool(bool b) { m_out.U8(b ? 1 : 0); }
    void Point(const PubKey& key) { m_out.Raw(key.span()); }
    void Sig(const EcdsaSignature& sig) { m_out.Raw(sig.Compact()); }
    void Amount(Msat msat) { m_out.U64(msat.value()); }
    void Amount(Sat sat) { m_out.U64(sat.value()); }
    template <typename T, typename F>
    void Optional(const std::optional<T>& value, F write)
    {
        Bool(value.has_value());
        if (value) write(*value);
    }
    void Sigs(const std::vector<EcdsaSignature>& sigs)
    {
        m_out.CompactSize(sigs.size());
        for (const auto& sig : sigs) Sig(sig);
    }
    void Progress(const UpdateProgress& progress)
    {
        Optional(progress.local_commitment, [&](uint64_t n) { m_out.U64(n); });
        Optional(progress.remote_commitment, [&](uint64_t n) { m_out.U64(n); });
        m_out.U64(progress.sequence);
    }
    void Party(const PartyParams& party)
    {
        Point(party.funding_pubkey);
        Point(party.basepoints.revocation);
        Point(party.basepoints.payment);
        Point(party.basepoints.delayed_payment);
        Point(party.basepoints.htlc);
        Amount(party.dust_limit_sat);
        m_out.U16(party.to_self_delay);
    }
    void Limits(const HtlcLimits& limits)
    {
        Amount(limits.max_htlc_value_in_flight);
        Amount(limits.channel_reserve);
        Amount(limits.htlc_minimum);
        m_out.U16(limits.max_accepted_htlcs);
    }
    void Setup(const ChannelSetup& setup);
    void Htlc(const ChannelHtlc& htlc);

private:
    ByteWriter m_out;
};

void StateWriter::Setup(const ChannelSetup& setup)
{
    const ChannelParams& params = setup.params;
    m_out.Raw(setup.channel_id).U8(static_cast<uint8_t>(params.format));
    m_out.Raw(params.funding_outpoint.txid).U32(params.funding_outpoint.n);
    Amount(params.funding_sat);
    Party(params.local);
    Party(params.remote);
    m_out.U8(static_cast<uint8_t>(params.opener));
    Limits(setup.local_limits);
    Limits(setup.remote_limits);
    Amount(setup.initial_local_balance);
    Amount(setup.initial_remote_balance);
    m_out.U32(setup.initial_feerate_per_kw);
    Point(setup.remote_first_per_commitment_point);
    Optional(setup.local_upfront_shutdown_script, [&](const Script& s) { m_out.VarBytes(s.span()); });
    Optional(setup.remote_upfront_shutdown_script, [&](const Script& s) { m_out.VarBytes(s.span()); });
    m_out.U32(setup.minimum_depth);
    Bool(setup.announce);
}

void StateWriter::Htlc(const ChannelHtlc& htlc)
{
    m_out.U8(static_cast<uint8_t>(htlc.offerer)).U64(htlc.id);
    Amount(htlc.amount_msat);
    m_out.Raw(htlc.payment_hash).U32(htlc.cltv_expiry).Raw(htlc.onion_routing_packet);
    Optional(htlc.blinding_point, [&](const PubKey& key) { Point(key); });
    Progress(htlc.added);
    Optional(htlc.removal, [&](const HtlcRemoval& removal) {
        m_out.U8(static_cast<uint8_t>(removal.kind));
        switch (removal.kind) {
        case HtlcRemovalKind::FULFILL: m_out.Raw(removal.preimage); break;
        case HtlcRemovalKind::FAIL: m_out.VarBytes(removal.reason); break;
        case HtlcRemovalKind::FAIL_MALFORMED: m_out.Raw(removal.sha256_of_onion).U16(removal.failure_code); break;
        }
        Progress(removal.progress);
    });
    Optional(htlc.known_preimage, [&](const Hash256& preimage) { m_out.Raw(preimage); });
    Bool(htlc.exceeds_dust_exposure);
}

class StateReader
{
public:
    explicit StateReader(ByteSpan bytes) : m_in(bytes) {}
    ByteReader& in() { return m_in; }

    static void Check(bool condition)
    {
        if (!condition) throw DeserializeError("inconsistent channel state");
    }
    bool Bool()
    {
        const uint8_t b = m_in.U8();
        Check(b <= 1);
        return b == 1;
    }
    uint8_t Enum(uint8_t max)
    {
        const uint8_t v = m_in.U8();
        Check(v <= max);
        return v;
    }
    PubKey Point()
    {
        const auto key = PubKey::Parse(m_in.Span(PubKey::SIZE));
        Check(key.has_value());
        return *key;
    }
    EcdsaSignature Sig()
    {
        const ByteSpan compact = m_in.Span(64);
        const auto sig = EcdsaSignature::FromCompact(compact);
        // Only the canonical encoding round-trips.
        Check(sig && std::ranges::equal(sig->Compact(), compact));
        return *sig;
    }
    Msat MsatAmount() { return Msat{m_in.U64()}; }
    Sat SatAmount() { return Sat{m_in.U64()}; }
    template <typename F>
    auto Optional(F read) -> std::optional<decltype(read())>
    {
        if (!Bool()) return std::nullopt;
        return read();
    }
    std::vector<EcdsaSignature> Sigs()
    {
        const size_t count = m_in.Count(64);
        Check(count <= MAX_HTLCS);
        std::vector<EcdsaSignature> sigs;
        sigs.reserve(count);
        for (size_t i = 0; i < count; ++i) sigs.push_back(Sig());
        return sigs;
    }
    UpdateProgress Progress()
    {
        UpdateProgress progress;
        progress.local_commitment = Optional([&] { return m_in.U64(); });
        progress.remote_commitment = Optional([&] { return m_in.U64(); });
        progress.sequence = m_in.U64();
        return progress;
    }
    PartyParams Party()
    {
        PubKey funding = Point();
        Basepoints basepoints{.revocation = Point(), .payment = Point(), .delayed_payment = Point(), .htlc = Point()};
        const Sat dust = SatAmount();
        return PartyParams{.funding_pubkey = funding, .basepoints = basepoints, .dust_limit_sat = dust, .to_self_delay = m_in.U16()};
    }
    HtlcLimits Limits()
    {
        HtlcLimits limits;
        limits.max_htlc_value_in_flight = MsatAmount();
        limits.channel_reserve = SatAmount();
        limits.htlc_minimum = MsatAmount();
        limits.max_accepted_htlcs = m_in.U16();
        return limits;
    }
    Script ReadScript() { return Script(m_in.VarBytes()); }
    ChannelSetup Setup();
    ChannelHtlc Htlc();

private:
    ByteReader m_in;
};

ChannelSetup StateReader::Setup()
{
    const Hash256 channel_id = m_in.Array<32>();
    const auto format = static_cast<CommitmentFormat>(Enum(static_cast<uint8_t>(CommitmentFormat::ANCHORS)));
    const OutPoint outpoint{.txid = m_in.Array<32>(), .n = m_in.U32()};
    const Sat funding = SatAmount();
    Check(funding <= kMaxMoney);
    PartyParams local = Party();
    PartyParams remote = Party();
    const auto opener = static_cast<Side>(Enum(static_cast<uint8_t>(Side::REMOTE)));
    const HtlcLimits local_limits = Limits();
    const HtlcLimits remote_limits = Limits();
    const Msat local_balance = MsatAmount();
    const Msat remote_balance = MsatAmount();
    const uint32_t feerate = m_in.U32();
    const PubKey first_point = Point();
    auto local_script = Optional([&] { return ReadScript(); });
    auto remote_script = Optional([&] { return ReadScript(); });
    const uint32_t minimum_depth = m_in.U32();
    return ChannelSetup{
        .channel_id = channel_id,
        .params = ChannelParams{.format = format, .funding_outpoint = outpoint, .funding_sat = funding,
                                .local = std::move(local), .remote = std::move(remote), .opener = opener},
        .local_limits = local_limits,
        .remote_limits = remote_limits,
        .initial_local_balance = local_balance,
        .initial_remote_balance = remote_balance,
        .initial_feerate_per_kw = feerate,
        .remote_first_per_commitment_point = first_point,
        .local_upfront_shutdown_script = std::move(local_script),
        .remote_upfront_shutdown_script = std::move(remote_script),
        .minimum_depth = minimum_depth,
        .announce = Bool(),
    };
}

ChannelHtlc StateReader::Htlc()
{
    ChannelHtlc htlc;
    htlc.offerer = static_cast<Side>(Enum(static_cast<uint8_t>(Side::REMOTE)));
    htlc.id = m_in.U64();
    htlc.amount_msat = MsatAmount();
    htlc.payment_hash = m_in.Array<32>();
    htlc.cltv_expiry = m_in.U32();
    htlc.onion_routing_packet = m_in.Array<kOnionPacketSize>();
    htlc.blinding_point = Optional([&] { return Point(); });
    htlc.added = Progress();
    htlc.removal = Optional([&] {
        HtlcRemoval removal;
        removal.kind = static_cast<HtlcRemovalKind>(Enum(static_cast<uint8_t>(HtlcRemovalKind::FAIL_MALFORMED)));
        switch (removal.kind) {
        case HtlcRemovalKind::FULFILL: removal.preimage = m_in.Array<32>(); break;
        case HtlcRemovalKind::FAIL: {
            const ByteSpan reason = m_in.VarBytes();
            removal.reason.assign(reason.begin(), reason.end());
            break;
        }
        case HtlcRemovalKind::FAIL_MALFORMED:
            removal.sha256_of_onion = m_in.Array<32>();
            removal.failure_code = m_in.U16();
            break;
        }
        removal.progress = Progress();
        return removal;
    });
    htlc.known_preimage = Optional([&] { return m_in.Array<32>(); });
    htlc.exceeds_dust_exposure = Bool();
    return htlc;
}

bool ProgressConsistent(const UpdateProgress& progress, const ChannelState& state)
{
    return progress.local_commitment.value_or(0) <= state.local_commitment_number &&
           progress.remote_commitment.value_or(0) <= state.remote_commitment_number &&
           progress.sequence < state.next_update_sequence;
}

//! The invariants the state machine relies on; a state that breaks one is corrupt.
bool Consistent(const ChannelState& state)
{
    const Msat funding = ToMsat(state.setup.params.funding_sat);
    const auto total = Msat::CheckedAdd(state.local_balance, state.remote_balance);
    if (!total || *total != funding) return false;
    if (state.local_commitment_number > FIRST_COMMITMENT_INDEX || state.remote_commitment_number > FIRST_COMMITMENT_INDEX) {
        return false;
    }
    if (state.AwaitingRevocation() && (state.remote_commitment_number == 0 || state.remote_next_per_commitment_point)) {
        return false;
    }
    for (size_t i = 0; i < state.htlcs.size(); ++i) {
        const ChannelHtlc& htlc = state.htlcs[i];
        if (i > 0 && std::tie(state.htlcs[i - 1].offerer, state.htlcs[i - 1].id) >= std::tie(htlc.offerer, htlc.id)) {
            return false;
        }
        const bool ours = htlc.offerer == Side::LOCAL;
        if (htlc.id >= (ours ? state.next_local_htlc_id : state.next_remote_htlc_id)) return false;
        if (!ProgressConsistent(htlc.added, state)) return false;
        if (htlc.removal && !ProgressConsistent(htlc.removal->progress, state)) return false;
    }
    if (!std::ranges::all_of(state.fee_updates, [&](const FeeUpdate& u) { return ProgressConsistent(u.progress, state); })) {
        return false;
    }
    // Both current commitments have non-negative balances (the point does not matter here).
    try {
        MakeCommitmentView(state, Side::LOCAL, state.local_commitment_number, state.remote_per_commitment_point);
        MakeCommitmentView(state, Side::REMOTE, state.remote_commitment_number, state.remote_per_commitment_point);
    } catch (const AmountError&) {
        return false;
    }
    return true;
}
} // namespace

Bytes SerializeChannelState(const ChannelState& state)
{
    StateWriter w;
    ByteWriter& out = w.out();
    out.U8(STATE_VERSION);
    w.Setup(state.setup);
    w.Amount(state.policy.max_dust_htlc_exposure);
    out.U32(state.policy.min_feerate_per_kw).U32(state.policy.max_feerate_per_kw);
    out.U8(static_cast<uint8_t>(state.connection));
    out.U64(state.local_commitment_number);
    w.Optional(state.local_commitment_signature, [&](const EcdsaSignature& sig) { w.Sig(sig); });
    w.Sigs(state.local_htlc_signatures);
    out.U64(state.remote_commitment_number);
    w.Point(state.remote_per_commitment_point);
    w.Optional(state.remote_next_per_commitment_point, [&](const PubKey& key) { w.Point(key); });
    w.Optional(state.remote_prev_per_commitment_point, [&](const PubKey& key) { w.Point(key); });
    out.VarBytes(state.remote_secrets.Serialize());
    w.Amount(state.local_balance);
    w.Amount(state.remote_balance);
    out.U32(state.feerate_per_kw);
    out.CompactSize(state.fee_updates.size());
    for (const FeeUpdate& update : state.fee_updates) {
        out.U32(update.feerate_per_kw);
        w.Progress(update.progress);
    }
    out.CompactSize(state.htlcs.size());
    for (const ChannelHtlc& htlc : state.htlcs) w.Htlc(htlc);
    out.U64(state.next_local_htlc_id).U64(state.next_remote_htlc_id).U64(state.next_update_sequence);
    w.Optional(state.last_sent_commitment_signed, [&](const SentMessage<CommitmentSignedMessage>& sent) {
        out.Raw(sent.message.channel_id);
        w.Sig(sent.message.signature);
        w.Sigs(sent.message.htlc_signatures);
        out.U64(sent.sequence);
    });
    w.Optional(state.last_sent_revoke_and_ack, [&](const SentMessage<RevokeAndAckMessage>& sent) {
        out.Raw(sent.message.channel_id).Raw(sent.message.per_commitment_secret);
        w.Point(sent.message.next_per_commitment_point);
        out.U64(sent.sequence);
    });
    out.U32(state.block_height);
    w.Bool(state.data_loss_detected);
    w.Optional(state.remote_point_after_data_loss, [&](const PubKey& key) { w.Point(key); });
    w.Bool(state.local_shutdown_sent);
    w.Bool(state.remote_shutdown_received);
    return out.Release();
}

std::optional<ChannelState> DeserializeChannelState(ByteSpan bytes)
{
    try {
        StateReader r(bytes);
        ByteReader& in = r.in();
        if (in.U8() != STATE_VERSION) return std::nullopt;
        ChannelState state = MakeInitialChannelState(r.Setup());
        state.policy.max_dust_htlc_exposure = r.MsatAmount();
        state.policy.min_feerate_per_kw = in.U32();
        state.policy.max_feerate_per_kw = in.U32();
        state.connection = static_cast<ConnectionStatus>(r.Enum(static_cast<uint8_t>(ConnectionStatus::CONNECTED)));
        state.local_commitment_number = in.U64();
        state.local_commitment_signature = r.Optional([&] { return r.Sig(); });
        state.local_htlc_signatures = r.Sigs();
        state.remote_commitment_number = in.U64();
        state.remote_per_commitment_point = r.Point();
        state.remote_next_per_commitment_point = r.Optional([&] { return r.Point(); });
        state.remote_prev_per_commitment_point = r.Optional([&] { return r.Point(); });
        auto secrets = ShachainStore::Deserialize(in.VarBytes());
        StateReader::Check(secrets.has_value());
        state.remote_secrets = std::move(*secrets);
        state.local_balance = r.MsatAmount();
        state.remote_balance = r.MsatAmount();
        state.feerate_per_kw = in.U32();
        const size_t fee_updates = in.Count(4 + 3 + 8);
        StateReader::Check(fee_updates <= MAX_FEE_UPDATES);
        for (size_t i = 0; i < fee_updates; ++i) {
            const uint32_t feerate = in.U32();
            state.fee_updates.push_back(FeeUpdate{.feerate_per_kw = feerate, .progress = r.Progress()});
        }
        const size_t htlcs = in.Count(kOnionPacketSize);
        StateReader::Check(htlcs <= MAX_HTLCS);
        state.htlcs.reserve(htlcs);
        for (size_t i = 0; i < htlcs; ++i) state.htlcs.push_back(r.Htlc());
        state.next_local_htlc_id = in.U64();
        state.next_remote_htlc_id = in.U64();
        state.next_update_sequence = in.U64();
        state.last_sent_commitment_signed = r.Optional([&] {
            const Hash256 channel_id = in.Array<32>();
            const EcdsaSignature signature = r.Sig();
            CommitmentSignedMessage message{.channel_id = channel_id, .signature = signature, .htlc_signatures = r.Sigs(), .extension = {}};
            return SentMessage<CommitmentSignedMessage>{.message = std::move(message), .sequence = in.U64()};
        });
        state.last_sent_revoke_and_ack = r.Optional([&] {
            const Hash256 channel_id = in.Array<32>();
            const ByteArray<32> secret = in.Array<32>();
            RevokeAndAckMessage message{.channel_id = channel_id, .per_commitment_secret = secret,
                                        .next_per_commitment_point = r.Point(), .extension = {}};
            return SentMessage<RevokeAndAckMessage>{.message = std::move(message), .sequence = in.U64()};
        });
        state.block_height = in.U32();
        state.data_loss_detected = r.Bool();
        state.remote_point_after_data_loss = r.Optional([&] { return r.Point(); });
        state.local_shutdown_sent = r.Bool();
        state.remote_shutdown_received = r.Bool();
        in.ExpectEnd();
        if (!Consistent(state)) return std::nullopt;
        return state;
    } catch (const DeserializeError&) {
        return std::nullopt;
    }
}

} // namespace sidebolt
