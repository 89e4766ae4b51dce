// Builds commitment and HTLC transactions from random channel states, from both parties'
// points of view. It must never crash; whenever a transaction is built, both views agree, value
// is conserved, no output is dust, outputs are in BIP69 order and every HTLC is either trimmed
// or has exactly one output. Dust limits are sometimes near 2^64, as a hostile peer may send.
#include "channel/commitment.h"
#include "channel/htlc_tx.h"
#include "util/amount.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

using namespace sidebolt;

namespace {
void Require(bool condition)
{
    if (!condition) std::abort();
}

//! Reads little-endian integers from the input, zeros once it runs out.
class Reader
{
public:
    Reader(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    uint64_t Next(size_t bytes)
    {
        uint64_t v = 0;
        for (size_t i = 0; i < bytes; ++i) v |= uint64_t{m_pos < m_size ? m_data[m_pos++] : uint8_t{0}} << (8 * i);
        return v;
    }
    bool Empty() const { return m_pos >= m_size; }

private:
    const uint8_t* m_data;
    size_t m_size;
    size_t m_pos{0};
};

PubKey KeyFor(uint8_t tag)
{
    uint8_t secret[32] = {};
    secret[31] = static_cast<uint8_t>(tag + 1);
    return PrivKey::FromBytes(secret)->GetPubKey();
}

//! Two input bytes: mostly an ordinary dust limit, 1 in 256 within 2^8 of the largest amount.
Sat DustLimit(uint64_t raw)
{
    return raw >= 0xff00 ? Sat{std::numeric_limits<uint64_t>::max() - (raw & 0xff)} : Sat{raw};
}

PartyParams Party(uint8_t base, Sat dust, uint16_t delay)
{
    return PartyParams{.funding_pubkey = KeyFor(base),
                       .basepoints = {KeyFor(base + 1), KeyFor(base + 2), KeyFor(base + 3), KeyFor(base + 4)},
                       .dust_limit_sat = dust,
                       .to_self_delay = delay};
}

std::optional<CommitmentTx> TryBuild(const CommitmentSpec& spec)
{
    try {
        return BuildCommitmentTx(spec);
    } catch (const CommitmentError&) {
        return std::nullopt;
    }
}

void CheckInvariants(const CommitmentSpec& spec, const CommitmentTx& built)
{
    Require(built.tx.vout.size() == built.outputs.size());
    Sat total;
    size_t htlc_outputs = 0;
    for (size_t i = 0; i < built.tx.vout.size(); ++i) {
        const TxOut& out = built.tx.vout[i];
        total += SatFromTxValue(out.value);
        const auto kind = built.outputs[i].kind;
        const bool anchor = kind == CommitmentOutputKind::LOCAL_ANCHOR || kind == CommitmentOutputKind::REMOTE_ANCHOR;
        Require(anchor ? out.value == 330 : SatFromTxValue(out.value) >= spec.dust_limit_sat);
        if (i > 0) {
            const TxOut& prev = built.tx.vout[i - 1];
            Require(prev.value < out.value || (prev.value == out.value && prev.script_pubkey <= out.script_pubkey));
        }
        if (built.outputs[i].htlc_index) {
            ++htlc_outputs;
            Require(built.OutputOfHtlc(*built.outputs[i].htlc_index) == i);
        }
    }
    Require(total <= spec.funding_sat);
    Require(htlc_outputs + built.trimmed_htlcs.size() == spec.htlcs.size());
    for (const size_t trimmed : built.trimmed_htlcs) {
        Require(IsTrimmed(spec.htlcs[trimmed], spec.format, spec.feerate_per_kw, spec.dust_limit_sat));
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    Reader in(data, size);
    const auto format = static_cast<CommitmentFormat>(in.Next(1) % 4);
    const Sat funding_sat{in.Next(4) % 21'000'001};
    const PartyParams a = Party(10, DustLimit(in.Next(2)), static_cast<uint16_t>(in.Next(2)));
    const PartyParams b = Party(20, DustLimit(in.Next(2)), static_cast<uint16_t>(in.Next(2)));
    const Side opener = in.Next(1) % 2 ? Side::LOCAL : Side::REMOTE;
    const ChannelParams alice{format, OutPoint{{}, static_cast<uint32_t>(in.Next(1))}, funding_sat, a, b, opener};
    const ChannelParams bob{format, alice.funding_outpoint, funding_sat, b, a, Other(opener)};
    const auto feerate = static_cast<uint32_t>(in.Next(3));
    const uint64_t commitment_number = in.Next(6);

    Msat remaining = ToMsat(funding_sat);
    std::vector<Htlc> htlcs;
    while (!in.Empty() && htlcs.size() < 483) {
        const Msat amount = std::min(remaining, Msat{in.Next(4) * 7});
        remaining -= amount;
        const uint8_t flags = static_cast<uint8_t>(in.Next(1));
        Hash256 hash{};
        hash[0] = flags >> 1;
        htlcs.push_back({flags & 1 ? HtlcDirection::OFFERED : HtlcDirection::RECEIVED, amount, hash,
                         static_cast<uint32_t>(in.Next(2))});
    }
    const Msat alice_msat{remaining.value() / 3};
    const Msat bob_msat = remaining - alice_msat;
    std::vector<Htlc> mirrored = htlcs;
    for (Htlc& h : mirrored) h.direction = h.direction == HtlcDirection::OFFERED ? HtlcDirection::RECEIVED : HtlcDirection::OFFERED;

    const PubKey point = KeyFor(static_cast<uint8_t>(commitment_number));
    for (const Side holder : {Side::LOCAL, Side::REMOTE}) {
        const CommitmentSpec from_alice =
            MakeCommitmentSpec(alice, holder, commitment_number, point, feerate, alice_msat, bob_msat, htlcs);
        const CommitmentSpec from_bob =
            MakeCommitmentSpec(bob, Other(holder), commitment_number, point, feerate, bob_msat, alice_msat, mirrored);
        const auto built = TryBuild(from_alice);
        const auto other = TryBuild(from_bob);
        Require(built.has_value() == other.has_value());
        if (!built) continue;
        Require(built->tx == other->tx);
        CheckInvariants(from_alice, *built);
        const std::vector<HtlcTx> second_stage = BuildHtlcTxs(*built, from_alice, DeriveCommitmentKeys(from_alice));
        Require(second_stage.size() + built->trimmed_htlcs.size() == htlcs.size());
        for (const HtlcTx& htlc_tx : second_stage) {
            Require(htlc_tx.tx.vout[0].value >= 0 && SatFromTxValue(htlc_tx.tx.vout[0].value) <= htlc_tx.input_sat);
        }
    }
    return 0;
}
