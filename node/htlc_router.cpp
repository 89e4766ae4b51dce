#include "node/htlc_router.h"

#include "gossip/signatures.h"
#include "node/interfaces.h"
#include "pay/failure_codes.h"
#include "pay/forward.h"
#include "primitives/hash.h"
#include "util/hex.h"
#include "util/logging.h"

#include <algorithm>

namespace sidebolt {
namespace {

constexpr const char* kLinksDb = "htlc_links";
constexpr const char* kPaymentsDb = "payments";
constexpr const char* kReplayDb = "onion_replay";
//! The smallest part a payment is split into.
constexpr Msat kMinPartMsat{10'000};
//! Blocks added to the payee's min_final_cltv_expiry_delta, so a block found while the HTLC
//! travels does not make it too close to expiry at the payee.
constexpr uint32_t kFinalCltvSlack = 2;

auto Logger() { return Log("pay"); }

std::string Short(const Hash256& id) { return ToHex(ByteSpan(id).first(4)); }

//! The most a payment of `amount` may pay in fees: its percentage, or the exempt amount if more.
Msat FeeBudget(const PaymentTerms& terms, Msat amount)
{
    return std::max(MaxFeeFor(amount, terms.max_fee_percent), terms.exempt_fee_msat);
}

Bytes LinkKey(const Hash256& channel_id, uint64_t htlc_id)
{
    Bytes key(channel_id.begin(), channel_id.end());
    for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<uint8_t>(htlc_id >> shift));
    return key;
}

std::string RouteText(const Route& route)
{
    std::string text;
    for (const auto& hop : route.hops) {
        if (!text.empty()) text += '>';
        text += hop.short_channel_id.ToString();
    }
    return text;
}

//! The BOLT 4 shared secret of an onion whose ephemeral key parses, for failing it with an
//! encrypted failure (payload errors come after the HMAC checked, so the key is good).
std::optional<Secret<32>> OnionSharedSecret(const PrivKey& node_key, ByteSpan packet)
{
    if (packet.size() < 34) return std::nullopt;
    const auto key = PubKey::Parse(packet.subspan(1, 33));
    if (!key) return std::nullopt;
    return Ecdh(node_key, *key);
}

//! `update`: our channel_update of the outgoing channel (type-prefixed), empty for a channel
//! not announced (BOLT 7 gives a private channel's update to its peer alone).
FailureMessage ForwardFailureMessage(const ForwardFailure& failure, ByteSpan update)
{
    switch (failure.code) {
    case FailureCode::AMOUNT_BELOW_MINIMUM: return MakeAmountBelowMinimum(failure.htlc_msat.value_or(Msat{0}), update);
    case FailureCode::FEE_INSUFFICIENT: return MakeFeeInsufficient(failure.htlc_msat.value_or(Msat{0}), update);
    case FailureCode::INCORRECT_CLTV_EXPIRY: return MakeIncorrectCltvExpiry(failure.cltv_expiry.value_or(0), update);
    case FailureCode::CHANNEL_DISABLED: return MakeChannelDisabled(0, update);
    case FailureCode::TEMPORARY_CHANNEL_FAILURE:
    case FailureCode::EXPIRY_TOO_SOON: return MakeFailureWithUpdate(failure.code, update);
    default: return MakeFailure(failure.code);
    }
}

FailureMessage FinalFailureMessage(const FinalFailure& failure, Msat htlc_msat, uint32_t height)
{
    switch (failure.code) {
    case FailureCode::INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS:
        return MakeIncorrectPaymentDetails(failure.htlc_msat.value_or(htlc_msat), failure.height.value_or(height));
    case FailureCode::FINAL_INCORRECT_CLTV_EXPIRY: return MakeFinalIncorrectCltvExpiry(failure.cltv_expiry.value_or(0));
    case FailureCode::FINAL_INCORRECT_HTLC_AMOUNT: return MakeFinalIncorrectHtlcAmount(failure.htlc_msat.value_or(htlc_msat));
    default: return MakeFailure(failure.code);
    }
}

//! Whether a failure reported by the payee ends the payment (BOLT 4: the payee refused the
//! payment itself, not a route): all but the multi-part timeout.
bool FinalRefusal(uint16_t code) { return code != static_cast<uint16_t>(FailureCode::MPP_TIMEOUT); }

} // namespace

HtlcRouter::HtlcRouter(store::Env& env, InvoiceStore& invoices, PrivKey node_key, RouterOptions options)
    : m_env(env), m_invoices(invoices), m_node_key(std::move(node_key)), m_node_id(m_node_key.GetPubKey()),
      m_options(std::move(options)),
      m_links_db(env.OpenDb(kLinksDb)), m_payments_db(env.OpenDb(kPaymentsDb)), m_replay_db(env.OpenDb(kReplayDb))
{
}

void HtlcRouter::Load()
{
    store::ReadTxn txn(m_env);
    // A new cursor is not positioned: First() before reading.
    auto links = txn.OpenCursor(m_links_db);
    for (bool more = links.First(); more; more = links.Next()) {
        const ByteSpan key = links.Key();
        const auto link = DeserializeHtlcLink(links.Value());
        if (key.size() != 40 || !link) {
            Logger()->error("skipping an unreadable HTLC link record ({} bytes)", links.Value().size());
            continue;
        }
        Hash256 channel_id{};
        std::copy(key.begin(), key.begin() + 32, channel_id.begin());
        uint64_t htlc_id = 0;
        for (size_t i = 32; i < 40; ++i) htlc_id = htlc_id << 8 | key[i];
        if (const auto* forward = std::get_if<ForwardLink>(&*link)) {
            m_forwarded_incoming.insert({forward->incoming_channel_id, forward->incoming_htlc_id});
        }
        m_links.emplace(std::pair{channel_id, htlc_id}, *link);
    }
    auto seen = txn.OpenCursor(m_replay_db);
    for (bool more = seen.First(); more; more = seen.Next()) {
        const ByteSpan key = seen.Key();
        const ByteSpan value = seen.Value();
        if (key.size() != 32 || value.size() != 44) continue;
        Hash256 hash{};
        std::copy(key.begin(), key.end(), hash.begin());
        SeenOnion entry;
        std::copy(value.begin(), value.begin() + 32, entry.channel_id.begin());
        for (size_t i = 32; i < 40; ++i) entry.htlc_id = entry.htlc_id << 8 | value[i];
        for (size_t i = 40; i < 44; ++i) entry.cltv_expiry = entry.cltv_expiry << 8 | value[i];
        m_seen_onions.emplace(hash, entry);
        m_seen_by_expiry.emplace(entry.cltv_expiry, hash);
    }
    auto payments = txn.OpenCursor(m_payments_db);
    for (bool more = payments.First(); more; more = payments.Next()) {
        auto record = DeserializePaymentRecord(payments.Value());
        if (!record) {
            Logger()->error("skipping an unreadable payment record");
            continue;
        }
        // A payment pending at the restart goes on retrying within its deadline, as before.
        if (auto active = Resume(*record)) m_active.emplace(record->payment_hash, std::move(*active));
        record->retry.reset();
        m_payments.emplace(record->payment_hash, std::move(*record));
    }
}

std::optional<Hash256> HtlcRouter::PreimageToClaim(const Hash256& payment_hash, Msat amount_msat) const
{
    const store::ReadTxn txn(m_env);
    const auto invoice = m_invoices.FindByHash(txn, payment_hash);
    if (!invoice || (invoice->amount_msat && amount_msat < *invoice->amount_msat)) return std::nullopt;
    return invoice->preimage;
}

bool HtlcRouter::HandledIncoming(const Hash256& channel_id, uint64_t htlc_id) const
{
    if (m_forwarded_incoming.contains({channel_id, htlc_id})) return true;
    return std::any_of(m_held.begin(), m_held.end(), [&](const auto& held) {
        return held.second.secrets.contains(IncomingHtlcKey{channel_id, htlc_id});
    });
}

// ---- Incoming HTLCs ----------------------------------------------------------------------

namespace {
//! Incoming HTLCs added but not yet locked in whose onions are kept peeled; one the peer
//! undid on reconnection stays until its id is reused or the whole lot is dropped at this size.
constexpr size_t kMaxPeeledAhead = 4096;
} // namespace

void HtlcRouter::PeelAhead(const Hash256& channel_id, uint64_t htlc_id, const Hash256& payment_hash,
                           const ByteArray<kOnionPacketSize>& onion_routing_packet)
{
    auto peeled = PeelOnion(m_node_key, onion_routing_packet, payment_hash);
    // A bad onion is rare and answered at lock-in, where it is peeled again.
    if (!peeled) return;
    if (m_peeled_ahead.size() >= kMaxPeeledAhead) m_peeled_ahead.clear();
    m_peeled_ahead.insert_or_assign({channel_id, htlc_id}, PeeledAhead{payment_hash, onion_routing_packet, std::move(*peeled)});
}

void HtlcRouter::OnIncomingLockedIn(RouterChannels& channels, const Hash256& channel_id, const HtlcLockedIn& htlc,
                                    uint32_t height, uint64_t now)
{
    std::optional<PeeledAhead> ahead;
    if (auto node = m_peeled_ahead.extract({channel_id, htlc.id})) ahead = std::move(node.mapped());
    if (HandledIncoming(channel_id, htlc.id)) return;
    // The same id may have carried another HTLC, undone at a reconnection, when it was peeled.
    const bool same = ahead && ahead->payment_hash == htlc.payment_hash && ahead->packet == htlc.onion_routing_packet;
    auto peeled = same ? Expected<PeeledOnion, OnionError>(std::move(ahead->peeled))
                       : PeelOnion(m_node_key, htlc.onion_routing_packet, htlc.payment_hash);
    if (!peeled) {
        const uint16_t code = FailureCodeFor(peeled.error());
        Logger()->info("HTLC {} on {}: bad onion ({})", htlc.id, Short(channel_id), FailureCodeName(code));
        // BOLT 4: a BADONION failure goes back as update_fail_malformed_htlc with the onion's hash.
        if (HasFlag(code, failure_flag::BADONION)) {
            return channels.FailMalformed(channel_id, htlc.id, Sha256(htlc.onion_routing_packet), code);
        }
        const auto secret = OnionSharedSecret(m_node_key, htlc.onion_routing_packet);
        if (!secret) return channels.FailMalformed(channel_id, htlc.id, Sha256(htlc.onion_routing_packet),
                                                    static_cast<uint16_t>(FailureCode::INVALID_ONION_KEY));
        return FailIncoming(channels, channel_id, htlc.id, *secret, MakeFailure(FailureCode::INVALID_ONION_PAYLOAD));
    }
    if (!FirstSeen(channels, channel_id, htlc, peeled->shared_secret, height)) return;
    if (htlc.exceeds_dust_exposure) {
        return FailIncoming(channels, channel_id, htlc.id, peeled->shared_secret,
                            MakeFailureWithUpdate(FailureCode::TEMPORARY_CHANNEL_FAILURE, {}));
    }
    const auto payload = DecodeHopPayload(peeled->payload);
    if (!payload) {
        return FailIncoming(channels, channel_id, htlc.id, peeled->shared_secret,
                            MakeInvalidOnionPayload(payload.error().tlv_type, payload.error().offset));
    }
    if (peeled->next_packet) return Forward(channels, channel_id, htlc, *peeled, *payload, height);
    Receive(channels, channel_id, htlc, *peeled, *payload, height, now);
}

bool HtlcRouter::FirstSeen(RouterChannels& channels, const Hash256& channel_id, const HtlcLockedIn& htlc,
                           const Secret<32>& secret, uint32_t height)
{
    // Entries whose HTLC expired can go: a replay of them could no longer be claimed upstream.
    while (!m_seen_by_expiry.empty() && m_seen_by_expiry.begin()->first < height) {
        const Hash256 stale = m_seen_by_expiry.begin()->second;
        m_seen_by_expiry.erase(m_seen_by_expiry.begin());
        m_seen_onions.erase(stale);
        channels.Write([this, stale](store::WriteTxn& txn) { txn.Delete(m_replay_db, stale); });
    }
    const Hash256 key = Sha256(secret.span());
    if (const auto it = m_seen_onions.find(key); it != m_seen_onions.end()) {
        if (it->second.channel_id == channel_id && it->second.htlc_id == htlc.id) return true;
        Logger()->warn("HTLC {} on {}: replayed onion (first seen in HTLC {} on {}): refused", htlc.id, Short(channel_id),
                       it->second.htlc_id, Short(it->second.channel_id));
        FailIncoming(channels, channel_id, htlc.id, secret, MakeFailureWithUpdate(FailureCode::TEMPORARY_CHANNEL_FAILURE, {}));
        return false;
    }
    const SeenOnion entry{channel_id, htlc.id, htlc.cltv_expiry};
    m_seen_onions.emplace(key, entry);
    m_seen_by_expiry.emplace(entry.cltv_expiry, key);
    Bytes value(channel_id.begin(), channel_id.end());
    for (int shift = 56; shift >= 0; shift -= 8) value.push_back(static_cast<uint8_t>(htlc.id >> shift));
    for (int shift = 24; shift >= 0; shift -= 8) value.push_back(static_cast<uint8_t>(entry.cltv_expiry >> shift));
    channels.Write([this, key, value = std::move(value)](store::WriteTxn& txn) { txn.Put(m_replay_db, key, value); });
    return true;
}

void HtlcRouter::FailIncoming(RouterChannels& channels, const Hash256& channel_id, uint64_t htlc_id,
                              const Secret<32>& secret, const FailureMessage& message)
{
    Logger()->info("failing HTLC {} on {}: {}", htlc_id, Short(channel_id), FailureCodeName(message.code));
    channels.Fail(channel_id, htlc_id, CreateFailureOnion(secret, message));
}

void HtlcRouter::Forward(RouterChannels& channels, const Hash256& channel_id, const HtlcLockedIn& htlc,
                         const PeeledOnion& peeled, const HopPayload& payload, uint32_t height)
{
    if (const auto error = CheckForwardPayload(payload)) {
        return FailIncoming(channels, channel_id, htlc.id, peeled.shared_secret,
                            MakeInvalidOnionPayload(error->tlv_type, error->offset));
    }
    const ShortChannelId next = *payload.short_channel_id;
    OutgoingChannelView view;
    view.policy = m_options.policy;
    std::optional<RouterChannel> outgoing;
    for (auto& channel : channels.Channels()) {
        if (channel.short_channel_id == next) outgoing = channel;
    }
    if (outgoing) {
        view.exists = true;
        view.usable = outgoing->usable;
        view.spendable_msat = outgoing->spendable_msat;
        view.policy.htlc_minimum_msat = std::max(view.policy.htlc_minimum_msat, outgoing->htlc_minimum_msat);
    }
    const IncomingHtlc incoming{htlc.amount_msat, htlc.cltv_expiry};
    const ForwardRequest request{*payload.amt_to_forward, *payload.outgoing_cltv_value};
    if (const auto failure = CheckForward(incoming, request, view, height)) {
        // BOLT 4: "the channel_update field is mandatory in messages whose failure_code includes the UPDATE flag".
        const Bytes update = failure->needs_channel_update() && m_options.our_channel_update
                                 ? m_options.our_channel_update(next).value_or(Bytes{})
                                 : Bytes{};
        return FailIncoming(channels, channel_id, htlc.id, peeled.shared_secret, ForwardFailureMessage(*failure, update));
    }
    AddHtlcCommand add;
    add.amount_msat = request.amt_to_forward;
    add.payment_hash = htlc.payment_hash;
    add.cltv_expiry = request.outgoing_cltv_value;
    add.onion_routing_packet = *peeled.next_packet;
    const auto offered = channels.Offer(outgoing->channel_id, add);
    if (!offered) {
        return FailIncoming(channels, channel_id, htlc.id, peeled.shared_secret,
                            MakeFailureWithUpdate(FailureCode::TEMPORARY_CHANNEL_FAILURE, {}));
    }
    ForwardLink link{channel_id, htlc.id, peeled.shared_secret, htlc.amount_msat, request.amt_to_forward};
    m_forwarded_incoming.insert({channel_id, htlc.id});
    SaveLink(channels, outgoing->channel_id, *offered, link);
    Logger()->info("forwarding HTLC {} on {} as {} on {} ({} msat, fee {} msat)", htlc.id, Short(channel_id), *offered,
                   Short(outgoing->channel_id), request.amt_to_forward.value(),
                   (htlc.amount_msat - request.amt_to_forward).value());
}

void HtlcRouter::Receive(RouterChannels& channels, const Hash256& channel_id, const HtlcLockedIn& htlc,
                         const PeeledOnion& peeled, const HopPayload& payload, uint32_t height, uint64_t now)
{
    if (const auto error = CheckFinalPayload(payload)) {
        return FailIncoming(channels, channel_id, htlc.id, peeled.shared_secret,
                            MakeInvalidOnionPayload(error->tlv_type, error->offset));
    }
    std::optional<InvoiceRecord> invoice;
    {
        store::ReadTxn txn(m_env);
        invoice = m_invoices.FindByHash(txn, htlc.payment_hash);
    }
    std::optional<ExpectedPayment> expected;
    std::optional<Hash256> preimage;
    if (invoice) {
        expected = ExpectedPayment{invoice->amount_msat, invoice->payment_secret, invoice->min_final_cltv_expiry_delta,
                                   invoice->Status(now) == InvoiceStatus::EXPIRED,
                                   invoice->paid || m_paid_this_run.contains(htlc.payment_hash)};
        preimage = invoice->preimage;
    } else if (payload.keysend_preimage && Sha256(*payload.keysend_preimage) == htlc.payment_hash) {
        // keysend: the payer chose the preimage and sent it in the onion; any amount is welcome.
        expected = ExpectedPayment{std::nullopt, std::nullopt, kDefaultMinFinalCltvExpiryDelta, false,
                                   m_paid_this_run.contains(htlc.payment_hash)};
        preimage = *payload.keysend_preimage;
    }
    FinalHtlcCheck check{htlc.amount_msat, htlc.cltv_expiry, *payload.amt_to_forward, *payload.outgoing_cltv_value,
                         std::nullopt, std::nullopt};
    if (payload.payment_data) {
        check.payment_secret = payload.payment_data->payment_secret;
        check.total_msat = payload.payment_data->total_msat;
    }
    if (const auto failure = CheckFinalHtlc(check, expected, height)) {
        return FailIncoming(channels, channel_id, htlc.id, peeled.shared_secret,
                            FinalFailureMessage(*failure, htlc.amount_msat, height));
    }
    HeldSet& held = m_held[htlc.payment_hash];
    const IncomingHtlcKey key{channel_id, htlc.id};
    held.secrets.emplace(key, peeled.shared_secret);
    const auto outcome = held.parts.AddPart(key, htlc.amount_msat, FinalTotalMsat(payload), now);
    if (const auto* fail = std::get_if<PartialPayment::Fail>(&outcome)) {
        for (const auto& part : fail->parts) {
            const auto secret = held.secrets.at(part.key);
            FailIncoming(channels, part.key.channel_id, part.key.htlc_id, secret,
                         FinalFailureMessage(FinalFailure{fail->code, part.amount_msat, height, std::nullopt},
                                             part.amount_msat, height));
            held.secrets.erase(part.key);
        }
    } else if (const auto* complete = std::get_if<PartialPayment::Complete>(&outcome)) {
        Msat received{0};
        for (const auto& part : complete->parts) received = received + part.amount_msat;
        for (const auto& part : complete->parts) {
            channels.Fulfill(part.key.channel_id, part.key.htlc_id, *preimage, PreimageKnown::BEFORE_BATCH);
        }
        m_held.erase(htlc.payment_hash);
        m_paid_this_run.insert(htlc.payment_hash);
        Logger()->info("payment {} received: {} msat in {} part(s)", Short(htlc.payment_hash), received.value(),
                       complete->parts.size());
        if (invoice) {
            const Hash256 hash = htlc.payment_hash;
            channels.Write([this, hash, received, now](store::WriteTxn& txn) { m_invoices.MarkPaid(txn, hash, received, now); });
            channels.AfterCommit([this, hash] {
                if (on_invoice_paid) on_invoice_paid(hash);
            });
        }
    }
}

void HtlcRouter::OnIncomingClaimedOnChain(RouterChannels& channels, const Hash256& payment_hash, Msat amount_msat, uint64_t now)
{
    {
        const store::ReadTxn txn(m_env);
        const auto invoice = m_invoices.FindByHash(txn, payment_hash);
        if (!invoice || invoice->paid) return;
    }
    // Before the write commits, a second call in the same batch finds it unpaid still.
    if (!m_paid_this_run.insert(payment_hash).second) return;
    Logger()->info("payment {} received on chain: {} msat", Short(payment_hash), amount_msat.value());
    channels.Write([this, payment_hash, amount_msat, now](store::WriteTxn& txn) { m_invoices.MarkPaid(txn, payment_hash, amount_msat, now); });
    channels.AfterCommit([this, payment_hash] {
        if (on_invoice_paid) on_invoice_paid(payment_hash);
    });
}

void HtlcRouter::OnTimer(RouterChannels& channels, uint64_t now)
{
    for (auto it = m_held.begin(); it != m_held.end();) {
        for (const auto& part : it->second.parts.Expire(now)) {
            FailIncoming(channels, part.key.channel_id, part.key.htlc_id, it->second.secrets.at(part.key),
                         MakeFailure(FailureCode::MPP_TIMEOUT));
            it->second.secrets.erase(part.key);
        }
        it = it->second.secrets.empty() ? m_held.erase(it) : std::next(it);
    }
}

// ---- Outgoing HTLCs settle ---------------------------------------------------------------

void HtlcRouter::OnOutgoingFulfilled(RouterChannels& channels, const Hash256& channel_id, const HtlcFulfilled& htlc, uint64_t now)
{
    const auto it = m_links.find({channel_id, htlc.id});
    if (it == m_links.end()) return;
    const HtlcLink link = it->second;
    m_links.erase(it);
    channels.Write([this, key = LinkKey(channel_id, htlc.id)](store::WriteTxn& txn) { txn.Delete(m_links_db, key); });
    if (const auto* forward = std::get_if<ForwardLink>(&link)) {
        // BOLT 4/2: settle upstream at once; the preimage is in the outgoing channel's state,
        // written in this same batch.
        m_forwarded_incoming.erase({forward->incoming_channel_id, forward->incoming_htlc_id});
        Logger()->info("forward {} -> {} settled, earned {} msat", Short(forward->incoming_channel_id), Short(channel_id),
                       (forward->incoming_msat - forward->outgoing_msat).value());
        return channels.Fulfill(forward->incoming_channel_id, forward->incoming_htlc_id, htlc.preimage,
                                PreimageKnown::IN_BATCH);
    }
    const auto& part_link = std::get<PaymentLink>(link);
    const auto payment = m_payments.find(part_link.payment_hash);
    if (payment == m_payments.end()) return;
    PaymentRecord& record = payment->second;
    for (auto& part : record.parts) {
        if (part.part_id == part_link.part_id) part.status = PaymentStatus::COMPLETE;
    }
    if (const auto active = m_active.find(record.payment_hash); active != m_active.end() && m_options.on_attempt) {
        const auto route = active->second.part_routes.find(part_link.part_id);
        if (route != active->second.part_routes.end()) m_options.on_attempt(route->second, std::nullopt);
    }
    record.preimage = htlc.preimage;
    if (record.status != PaymentStatus::COMPLETE) {
        record.status = PaymentStatus::COMPLETE;
        record.completed_at = now;
        record.failure.clear();
        Logger()->info("payment {} complete", Short(record.payment_hash));
    }
    FinishPayment(channels, record);
}

void HtlcRouter::OnOutgoingFailed(RouterChannels& channels, const Hash256& channel_id, const HtlcFailed& htlc,
                                  uint32_t height, uint64_t now)
{
    const auto it = m_links.find({channel_id, htlc.id});
    if (it == m_links.end()) return;
    const HtlcLink link = it->second;
    m_links.erase(it);
    channels.Write([this, key = LinkKey(channel_id, htlc.id)](store::WriteTxn& txn) { txn.Delete(m_links_db, key); });
    if (const auto* forward = std::get_if<ForwardLink>(&link)) {
        m_forwarded_incoming.erase({forward->incoming_channel_id, forward->incoming_htlc_id});
        // BOLT 4: a malformed failure from downstream becomes our own failure with its code;
        // any other is wrapped with the incoming onion's secret on its way back.
        Bytes reason = htlc.malformed ? CreateFailureOnion(forward->shared_secret,
                                                           MakeBadOnion(static_cast<FailureCode>(htlc.malformed->failure_code),
                                                                        htlc.malformed->sha256_of_onion))
                                      : WrapFailureOnion(forward->shared_secret, htlc.reason);
        return channels.Fail(forward->incoming_channel_id, forward->incoming_htlc_id, std::move(reason));
    }
    const auto& part_link = std::get<PaymentLink>(link);
    const auto payment = m_payments.find(part_link.payment_hash);
    if (payment == m_payments.end()) return;
    PaymentRecord& record = payment->second;
    Msat failed_amount{0};
    for (auto& part : record.parts) {
        if (part.part_id != part_link.part_id) continue;
        part.status = PaymentStatus::FAILED;
        failed_amount = part.amount_msat;
    }
    const auto active = m_active.find(record.payment_hash);
    if (active != m_active.end()) {
        ActivePayment& pay = active->second;
        // A payment already complete or failed (its other parts still out) learns nothing more.
        const bool retry = record.status == PaymentStatus::PENDING && NoteFailure(pay, record, part_link.part_id, htlc);
        pay.part_routes.erase(part_link.part_id);
        pay.part_secrets.erase(part_link.part_id);
        // sendpay's fixed route is tried exactly once: no route of our own choosing after it.
        if (retry && !pay.refused && !pay.request.fixed_route && record.attempts < m_options.max_attempts &&
            now <= pay.request.retry_deadline) {
            SendParts(channels, pay, record, failed_amount, height);
        }
    }
    FailIfShort(record, now);
    FinishPayment(channels, record);
}

void HtlcRouter::OnOutgoingTimedOutOnChain(RouterChannels& channels, const Hash256& channel_id, uint64_t htlc_id,
                                           uint32_t height, uint64_t now)
{
    const auto it = m_links.find({channel_id, htlc_id});
    if (it == m_links.end()) return;
    if (const auto* forward = std::get_if<ForwardLink>(&it->second)) {
        const ForwardLink link = *forward;
        m_links.erase(it);
        channels.Write([this, key = LinkKey(channel_id, htlc_id)](store::WriteTxn& txn) { txn.Delete(m_links_db, key); });
        m_forwarded_incoming.erase({link.incoming_channel_id, link.incoming_htlc_id});
        return channels.Fail(link.incoming_channel_id, link.incoming_htlc_id,
                             CreateFailureOnion(link.shared_secret, MakeFailure(FailureCode::PERMANENT_CHANNEL_FAILURE)));
    }
    // Our own payment: no failure onion comes back from the chain; the part failed at our channel.
    OnOutgoingFailed(channels, channel_id, HtlcFailed{htlc_id, {}, std::nullopt}, height, now);
}

bool HtlcRouter::NoteFailure(ActivePayment& pay, PaymentRecord& record, uint64_t part_id, const HtlcFailed& htlc)
{
    const auto route = pay.part_routes.find(part_id);
    if (route == pay.part_routes.end()) return false;
    const auto secrets = pay.part_secrets.find(part_id);
    std::optional<AttributedFailure> failure;
    if (!htlc.malformed && secrets != pay.part_secrets.end()) failure = DecryptFailureOnion(secrets->second, htlc.reason);
    const auto& hops = route->second.hops;
    if (!failure) {
        // Unattributable (or malformed at the first hop): avoid our own channel.
        record.failure = "unreadable failure from the route";
        pay.excluded.insert(hops.front().short_channel_id);
        return true;
    }
    const size_t index = std::min(failure->hop_index, hops.size() - 1);
    const uint16_t code = failure->message.code;
    record.failure_code = code;
    record.erring_index = static_cast<uint32_t>(index);
    record.failure = "hop " + std::to_string(index) + " (" + ToHex(hops[index].node_id.span()) + ") failed with " +
                     std::string(FailureCodeName(code));
    Logger()->info("payment {} part {}: {}", Short(record.payment_hash), part_id, record.failure);
    if (index + 1 == hops.size()) {
        if (FinalRefusal(code)) pay.refused = true;
        return !pay.refused;
    }
    // The failing node could not use its next channel: route around that one, or, when it
    // lacked the balance and the payment may be split, send it only less than it refused.
    const RouteHop& refused = hops[index + 1];
    if (TakeFailureUpdate(pay, route->second, index, failure->message)) return true;
    if (code == static_cast<uint16_t>(FailureCode::TEMPORARY_CHANNEL_FAILURE) && pay.request.payment_secret) {
        const auto [known, inserted] = pay.too_large.try_emplace(refused.short_channel_id, refused.amount_msat);
        if (!inserted) known->second = std::min(known->second, refused.amount_msat);
    } else {
        pay.excluded.insert(refused.short_channel_id);
    }
    if (m_options.on_attempt) m_options.on_attempt(route->second, index + 1);
    return true;
}

bool HtlcRouter::TakeFailureUpdate(ActivePayment& pay, const Route& route, size_t index, const FailureMessage& message)
{
    const auto code = static_cast<FailureCode>(message.code);
    if (code != FailureCode::FEE_INSUFFICIENT && code != FailureCode::INCORRECT_CLTV_EXPIRY &&
        code != FailureCode::AMOUNT_BELOW_MINIMUM) {
        return false;
    }
    const PubKey& node = route.hops[index].node_id;
    const PubKey& next = route.hops[index + 1].node_id;
    const ShortChannelId scid = route.hops[index + 1].short_channel_id;
    const auto details = ParseFailureMessage(EncodeFailureMessage(message));
    if (!details || !details->channel_update) return false;
    // BOLT 4 sends it "*with* the message type prefix"; some nodes leave the prefix out.
    ByteSpan payload(*details->channel_update);
    const uint16_t type = static_cast<uint16_t>(GossipMessageType::kChannelUpdate);
    if (payload.size() >= 2 && payload[0] == type >> 8 && payload[1] == (type & 0xff)) payload = payload.subspan(2);
    const auto update = ChannelUpdateMessage::DecodePayload(payload);
    // Only the node's own terms for the channel it could not use count; and only once, so a node
    // that keeps refusing whatever it states is routed around.
    if (!update || update->short_channel_id != scid || update->Direction() != (node < next ? 0 : 1) ||
        !VerifyChannelUpdate(*update, payload, node)) {
        Logger()->info("channel {}: the channel_update in the failure is not its node's for it: not taken{}", scid.ToString(),
                       update ? " (it is for " + update->short_channel_id.ToString() + ")" : "");
        return false;
    }
    if (pay.updated.contains(scid)) return false;
    pay.updated.insert(scid);
    const ForwardPolicy policy = PolicyOf(*update);
    for (auto& hint : pay.request.route_hints) {
        for (HintHop& hop : hint) {
            if (hop.short_channel_id == scid && hop.node_id == node) hop.TakeTerms(policy);
        }
    }
    if (m_options.on_channel_update) m_options.on_channel_update(*update, payload);
    Logger()->info("channel {}: {} now asks {} msat + {} ppm, CLTV delta {}: retrying with that", scid.ToString(),
                   ToHex(node.span()).substr(0, 16), update->fee_base_msat, update->fee_proportional_millionths,
                   update->cltv_expiry_delta);
    return true;
}

void HtlcRouter::FinishPayment(RouterChannels& channels, PaymentRecord& record)
{
    SavePayment(channels, record);
    if (record.status == PaymentStatus::PENDING) return;
    const auto active = m_active.find(record.payment_hash);
    if (active == m_active.end()) return;
    auto callbacks = std::move(active->second.callbacks);
    active->second.callbacks.clear();
    for (auto& callback : callbacks) {
        auto answer = [callback = std::move(callback), final_record = record] { callback(final_record); };
        // Success is final whatever we store: the peer gave up the preimage. A failure is
        // answered once written, so a crash cannot resume (and pay) what was reported failed.
        if (record.status == PaymentStatus::COMPLETE) {
            channels.BeforeCommit(std::move(answer));
        } else {
            channels.AfterCommit(std::move(answer));
        }
    }
    // A completed multi-part payment may still have parts in flight: they settle the same way.
    if (!record.HasPendingParts()) m_active.erase(active);
}

void HtlcRouter::SaveLink(RouterChannels& channels, const Hash256& channel_id, uint64_t htlc_id, const HtlcLink& link)
{
    m_links.insert_or_assign({channel_id, htlc_id}, link);
    channels.Write([this, key = LinkKey(channel_id, htlc_id), value = SerializeHtlcLink(link)](store::WriteTxn& txn) {
        txn.Put(m_links_db, key, value);
    });
}

void HtlcRouter::SavePayment(RouterChannels& channels, const PaymentRecord& record)
{
    PaymentRecord stored = record;
    const auto active = m_active.find(record.payment_hash);
    stored.retry.reset();
    if (record.status == PaymentStatus::PENDING && active != m_active.end()) stored.retry = RetryStateOf(active->second);
    channels.Write([this, key = record.payment_hash, value = SerializePaymentRecord(stored)](store::WriteTxn& txn) {
        txn.Put(m_payments_db, key, value);
    });
}

PaymentRetryState HtlcRouter::RetryStateOf(const ActivePayment& pay)
{
    const PayRequest& request = pay.request;
    PaymentRetryState retry;
    static_cast<PaymentTerms&>(retry) = request;
    retry.excluded.assign(pay.excluded.begin(), pay.excluded.end());
    retry.too_large.assign(pay.too_large.begin(), pay.too_large.end());
    retry.refused = pay.refused;
    for (const auto& [part_id, route] : pay.part_routes) {
        PartAttempt attempt{part_id, route, {}};
        if (const auto secrets = pay.part_secrets.find(part_id); secrets != pay.part_secrets.end()) {
            attempt.shared_secrets = secrets->second;
        }
        retry.in_flight.push_back(std::move(attempt));
    }
    return retry;
}

std::optional<HtlcRouter::ActivePayment> HtlcRouter::Resume(const PaymentRecord& record)
{
    const auto payee = PubKey::Parse(record.destination);
    if (record.status != PaymentStatus::PENDING || !record.retry || !payee) return std::nullopt;
    const PaymentRetryState& retry = *record.retry;
    PayRequest request(*payee);
    request.payment_hash = record.payment_hash;
    request.amount_msat = record.amount_msat;
    static_cast<PaymentTerms&>(request) = retry;
    request.bolt11 = record.bolt11;
    request.label = record.label;
    ActivePayment pay(std::move(request));
    pay.excluded.insert(retry.excluded.begin(), retry.excluded.end());
    pay.too_large.insert(retry.too_large.begin(), retry.too_large.end());
    pay.refused = retry.refused;
    for (const auto& attempt : retry.in_flight) {
        pay.part_routes.emplace(attempt.part_id, attempt.route);
        pay.part_secrets.emplace(attempt.part_id, attempt.shared_secrets);
    }
    return pay;
}

// ---- Sending -----------------------------------------------------------------------------

void HtlcRouter::RefreshHints(std::vector<std::vector<HintHop>>& hints) const
{
    if (!m_options.channel_policy) return;
    for (auto& hint : hints) {
        for (HintHop& hop : hint) {
            if (const auto announced = m_options.channel_policy(hop.short_channel_id, hop.node_id)) hop.TakeTerms(*announced);
        }
    }
}

PaymentRecord HtlcRouter::Pay(RouterChannels& channels, PayRequest request, uint32_t height, uint64_t now, PayCallback done)
{
    RefreshHints(request.route_hints);
    if (const auto known = m_payments.find(request.payment_hash); known != m_payments.end()) {
        if (known->second.status == PaymentStatus::COMPLETE) {
            throw NodeError(kErrAlreadyPaid, "this payment hash was already paid: never pay twice");
        }
        if (known->second.status == PaymentStatus::PENDING) {
            throw NodeError(kErrPaymentPending, "a payment for this hash is already in flight");
        }
        // A failed payment's parts may still be at the payee: new ones could add up with them.
        if (known->second.HasPendingParts()) {
            throw NodeError(kErrPaymentPending, "the failed payment for this hash still has parts in flight");
        }
    }
    PaymentRecord record;
    if (const auto known = m_payments.find(request.payment_hash); known != m_payments.end()) record = known->second;
    record.payment_hash = request.payment_hash;
    std::copy(request.payee.span().begin(), request.payee.span().end(), record.destination.begin());
    record.amount_msat = request.amount_msat;
    record.status = PaymentStatus::PENDING;
    record.created_at = now;
    record.completed_at = 0;
    record.failure.clear();
    record.failure_code.reset();
    record.erring_index.reset();
    record.bolt11 = request.bolt11;
    record.label = request.label;
    auto [active, inserted] = m_active.insert_or_assign(request.payment_hash, ActivePayment{std::move(request)});
    ActivePayment& pay = active->second;
    pay.callbacks.push_back(std::move(done));
    if (pay.request.fixed_route) {
        if (!SendPart(channels, pay, record, *pay.request.fixed_route)) {
            m_active.erase(active);
            throw NodeError(kErrNoRoute, "the first channel of the route refused the HTLC");
        }
    } else {
        SendParts(channels, pay, record, pay.request.amount_msat, height);
    }
    if (!record.HasPendingParts()) {
        m_active.erase(active);
        throw NodeError(kErrNoRoute, record.failure.empty() ? "no route to the payee over our channels and the invoice's hints"
                                                            : record.failure);
    }
    FailIfShort(record, now);
    auto& stored = m_payments.insert_or_assign(record.payment_hash, record).first->second;
    FinishPayment(channels, stored);
    return record;
}

void HtlcRouter::FailIfShort(PaymentRecord& record, uint64_t now)
{
    // BOLT 4: below total_msat the payee "MUST NOT fulfill any HTLCs in the HTLC set", so parts
    // that fall short and cannot be topped up have failed: say so now rather than when the
    // payee's multi-part timeout returns them (Pay refuses the hash until they are back).
    if (record.status != PaymentStatus::PENDING || record.AmountInFlightOrDone() >= record.amount_msat) return;
    record.status = PaymentStatus::FAILED;
    record.completed_at = now;
    if (record.failure.empty()) record.failure = "failed";
    Logger()->info("payment {} failed after {} attempt(s): {}", Short(record.payment_hash), record.attempts, record.failure);
}

std::vector<LocalChannel> HtlcRouter::FirstHops(RouterChannels& channels, const ActivePayment& pay)
{
    std::vector<LocalChannel> locals;
    for (const auto& channel : channels.Channels()) {
        if (!channel.usable || pay.excluded.contains(channel.short_channel_id)) continue;
        ForwardPolicy limits;
        limits.htlc_minimum_msat = channel.htlc_minimum_msat;
        locals.push_back(LocalChannel{channel.peer, channel.short_channel_id, channel.spendable_msat, limits});
    }
    return locals;
}

std::vector<Route> HtlcRouter::CandidateRoutes(RouterChannels& channels, const ActivePayment& pay, Msat amount,
                                               uint32_t height) const
{
    const std::vector<LocalChannel> locals = FirstHops(channels, pay);
    const PayRequest& request = pay.request;
    const uint32_t final_cltv = height + request.min_final_cltv_expiry_delta + kFinalCltvSlack;
    const Msat max_fee = FeeBudget(request, amount);
    std::vector<std::vector<PathEdge>> paths = CandidatePaths(locals, request.payee, request.route_hints);
    if (auto graph_path = GraphPath(locals, pay, amount, max_fee)) paths.push_back(std::move(*graph_path));
    std::vector<Route> routes;
    for (const auto& path : paths) {
        if (std::any_of(path.begin(), path.end(), [&](const PathEdge& e) { return pay.excluded.contains(e.short_channel_id); })) {
            continue;
        }
        auto route = BuildRoute(path, amount, final_cltv);
        if (!route || !WithinFeeBudget(*route, max_fee) || !WithinDelay(*route, height, request.max_delay)) continue;
        if (CarriesTooMuch(pay, *route)) continue;
        routes.push_back(std::move(*route));
    }
    std::stable_sort(routes.begin(), routes.end(), [](const Route& a, const Route& b) { return a.fee_msat() < b.fee_msat(); });
    return routes;
}

bool HtlcRouter::CarriesTooMuch(const ActivePayment& pay, const Route& route)
{
    return std::any_of(route.hops.begin(), route.hops.end(), [&](const RouteHop& hop) {
        const auto refused = pay.too_large.find(hop.short_channel_id);
        return refused != pay.too_large.end() && hop.amount_msat >= refused->second;
    });
}

PathRequest HtlcRouter::GraphRequest(const std::vector<LocalChannel>& locals, const ActivePayment& pay, Msat amount,
                                     Msat max_fee) const
{
    const PayRequest& request = pay.request;
    PathRequest path_request{m_node_id, request.payee};
    path_request.amount = amount;
    path_request.final_cltv_delta = request.min_final_cltv_expiry_delta + kFinalCltvSlack;
    path_request.max_fee = max_fee;
    path_request.max_cltv = request.max_delay > path_request.final_cltv_delta ? request.max_delay - path_request.final_cltv_delta : 0;
    path_request.first_hops = locals;
    path_request.route_hints = request.route_hints;
    // A channel that failed this payment is avoided both ways (the failure names the channel).
    for (const ShortChannelId& scid : pay.excluded) {
        path_request.excluded_channels.push_back({scid, 0});
        path_request.excluded_channels.push_back({scid, 1});
    }
    return path_request;
}

std::optional<std::vector<PathEdge>> HtlcRouter::GraphPath(const std::vector<LocalChannel>& locals, const ActivePayment& pay,
                                                           Msat amount, Msat max_fee) const
{
    if (!m_options.find_path || locals.empty()) return std::nullopt;
    auto path = m_options.find_path(GraphRequest(locals, pay, amount, max_fee));
    if (!path) return std::nullopt;
    return std::move(*path);
}

void HtlcRouter::SendParts(RouterChannels& channels, ActivePayment& pay, PaymentRecord& record, Msat amount,
                           uint32_t height)
{
    std::map<ShortChannelId, Msat> spendable;
    for (const auto& channel : channels.Channels()) spendable[channel.short_channel_id] = channel.spendable_msat;
    const auto fits = [&](const Route& route) { return spendable[route.hops.front().short_channel_id] >= route.total_amount_msat(); };
    const auto whole = CandidateRoutes(channels, pay, amount, height);
    for (const auto& route : whole) {
        if (fits(route) && SendPart(channels, pay, record, route)) return;
    }
    // BOLT 4 "Basic Multi-Part Payments": only with a payment_secret may the amount be split.
    if (!pay.request.payment_secret) {
        // The last hop failure, when there was one, says more than "no route".
        if (record.failure.empty()) {
            record.failure = whole.empty() ? "no route to the payee within the fee and delay limits"
                                           : "no channel can carry the amount and it cannot be split";
        }
        return;
    }
    if (SplitOverGraph(channels, pay, record, amount, height)) return;
    if (whole.empty()) {
        if (record.failure.empty()) record.failure = "no route to the payee within the fee and delay limits";
        return;
    }
    SplitAcrossOurChannels(channels, pay, record, whole, spendable, amount, height);
}

bool HtlcRouter::SplitOverGraph(RouterChannels& channels, ActivePayment& pay, PaymentRecord& record, Msat amount,
                                uint32_t height)
{
    const std::vector<LocalChannel> locals = FirstHops(channels, pay);
    if (!m_options.find_routes || locals.empty()) return false;
    const PayRequest& request = pay.request;
    const Msat max_fee = FeeBudget(request, amount);
    const auto parts = m_options.find_routes(GraphRequest(locals, pay, amount, max_fee), kMinPartMsat);
    if (!parts || parts->empty()) return false;
    // Every part is checked before any leaves: a plan that cannot be carried out whole is not started.
    const uint32_t final_cltv = height + request.min_final_cltv_expiry_delta + kFinalCltvSlack;
    std::vector<Route> routes;
    for (const RoutePart& part : *parts) {
        auto route = BuildRoute(part.path, part.amount, final_cltv);
        if (!route || !WithinDelay(*route, height, request.max_delay) || CarriesTooMuch(pay, *route)) return false;
        routes.push_back(std::move(*route));
    }
    Msat placed{0};
    for (const Route& route : routes) {
        if (SendPart(channels, pay, record, route)) placed = placed + route.final_amount_msat();
    }
    Logger()->info("payment {}: {} msat split over {} graph route(s), {} msat placed", Short(record.payment_hash),
                   amount.value(), routes.size(), placed.value());
    // A part our channel refused (SendPart excluded it) is sent again over what remains.
    if (placed < amount && record.attempts < m_options.max_attempts) SendParts(channels, pay, record, amount - placed, height);
    return true;
}

void HtlcRouter::SplitAcrossOurChannels(RouterChannels& channels, ActivePayment& pay, PaymentRecord& record,
                                        const std::vector<Route>& whole, std::map<ShortChannelId, Msat>& spendable,
                                        Msat amount, uint32_t height)
{
    // One route per first channel, the cheapest; the amount divided by what each can carry
    // (less a fee margin for the hops after it).
    std::vector<Route> firsts;
    std::vector<Msat> capacity;
    for (const auto& route : whole) {
        const ShortChannelId first = route.hops.front().short_channel_id;
        if (std::any_of(firsts.begin(), firsts.end(), [&](const Route& r) { return r.hops.front().short_channel_id == first; })) continue;
        const Msat fees = route.fee_msat();
        const Msat room = spendable[first] > fees + fees ? spendable[first] - fees - fees : Msat{0};
        firsts.push_back(route);
        capacity.push_back(room);
    }
    const auto split = SplitAcross(capacity, amount, kMinPartMsat);
    if (!split) {
        record.failure = "our channels cannot carry " + std::to_string(amount.value()) + " msat even split";
        return;
    }
    Msat placed{0};
    bool offer_refused = false;
    for (size_t i = 0; i < firsts.size(); ++i) {
        if ((*split)[i].value() == 0) continue;
        ActivePayment narrowed = pay;
        for (const auto& other : firsts) {
            if (other.hops.front().short_channel_id != firsts[i].hops.front().short_channel_id) {
                narrowed.excluded.insert(other.hops.front().short_channel_id);
            }
        }
        const auto routes = CandidateRoutes(channels, narrowed, (*split)[i], height);
        if (routes.empty()) {
            record.failure = "a part of the split payment found no route";
        } else if (SendPart(channels, pay, record, routes.front())) {
            placed = placed + (*split)[i];
        } else {
            offer_refused = true;
        }
    }
    // A channel that refused its part (SendPart excluded it) leaves the others waiting at the
    // payee: send the rest over the remaining channels now, not after their multi-part timeout.
    if (placed < amount && offer_refused) {
        record.failure = "a channel refused its part of the split payment";
        if (record.attempts < m_options.max_attempts) SendParts(channels, pay, record, amount - placed, height);
    }
}

bool HtlcRouter::SendPart(RouterChannels& channels, ActivePayment& pay, PaymentRecord& record, const Route& route)
{
    const PayRequest& request = pay.request;
    std::vector<OnionHop> hops;
    for (size_t i = 0; i < route.hops.size(); ++i) {
        const HopOnionValues values = route.OnionValues(i);
        HopPayload payload;
        payload.amt_to_forward = values.amt_to_forward;
        payload.outgoing_cltv_value = values.outgoing_cltv_value;
        payload.short_channel_id = values.short_channel_id;
        if (i + 1 == route.hops.size()) {
            if (request.payment_secret) payload.payment_data = PaymentData{*request.payment_secret, request.amount_msat};
            payload.payment_metadata = request.payment_metadata;
            payload.keysend_preimage = request.keysend_preimage;
        }
        hops.push_back(OnionHop{route.hops[i].node_id, EncodeHopPayload(payload)});
    }
    BuiltOnion onion = CreateOnion(hops, TakeOnionStart(route.hops.front().node_id), request.payment_hash);
    AddHtlcCommand add;
    add.amount_msat = route.total_amount_msat();
    add.payment_hash = request.payment_hash;
    add.cltv_expiry = route.first_cltv();
    add.onion_routing_packet = onion.packet;
    Hash256 channel_id{};
    for (const auto& channel : channels.Channels()) {
        if (channel.short_channel_id == route.hops.front().short_channel_id) channel_id = channel.channel_id;
    }
    const auto offered = channels.Offer(channel_id, add);
    ++record.attempts;
    if (!offered) {
        pay.excluded.insert(route.hops.front().short_channel_id);
        return false;
    }
    const uint64_t part_id = record.next_part_id++;
    PaymentPart part;
    part.part_id = part_id;
    part.channel_id = channel_id;
    part.htlc_id = *offered;
    part.amount_sent_msat = route.total_amount_msat();
    part.amount_msat = route.final_amount_msat();
    part.route = RouteText(route);
    record.parts.push_back(part);
    pay.part_routes.insert_or_assign(part_id, route);
    pay.part_secrets.insert_or_assign(part_id, std::move(onion.shared_secrets));
    SaveLink(channels, channel_id, *offered, PaymentLink{request.payment_hash, part_id});
    Logger()->info("payment {} part {}: {} msat over {} (fee {} msat)", Short(request.payment_hash), part_id,
                   part.amount_msat.value(), part.route, route.fee_msat().value());
    return true;
}

OnionStart HtlcRouter::TakeOnionStart(const PubKey& first_hop)
{
    std::erase(m_recent_first_hops, first_hop);
    m_recent_first_hops.push_back(first_hop);
    if (m_recent_first_hops.size() > MAX_ONION_STARTS) {
        const PubKey& forgotten = m_recent_first_hops.front();
        m_onion_starts.erase(forgotten);
        m_recent_first_hops.erase(m_recent_first_hops.begin());
    }
    const auto ready = m_onion_starts.find(first_hop);
    if (ready == m_onion_starts.end()) return StartOnion(first_hop, Secret<32>(PrivKey::Generate().span()));
    // A session key serves one onion only.
    OnionStart start = std::move(ready->second);
    m_onion_starts.erase(ready);
    return start;
}

bool HtlcRouter::PrepareOnionStart()
{
    for (auto hop = m_recent_first_hops.rbegin(); hop != m_recent_first_hops.rend(); ++hop) {
        if (m_onion_starts.contains(*hop)) continue;
        m_onion_starts.emplace(*hop, StartOnion(*hop, Secret<32>(PrivKey::Generate().span())));
        return true;
    }
    return false;
}

std::vector<PaymentRecord> HtlcRouter::ListPayments() const
{
    std::vector<PaymentRecord> out;
    for (const auto& [hash, record] : m_payments) out.push_back(record);
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
    return out;
}

bool HtlcRouter::WaitForPayment(RouterChannels& channels, const Hash256& payment_hash, PayCallback done)
{
    const auto known = m_payments.find(payment_hash);
    if (known == m_payments.end()) return false;
    const auto active = m_active.find(payment_hash);
    if (known->second.status != PaymentStatus::PENDING || active == m_active.end()) {
        // Settled, or pending in a record written without its retry state (nothing retries
        // it; its parts still settle): report what is known now.
        channels.AfterCommit([done = std::move(done), record = known->second] { done(record); });
        return true;
    }
    active->second.callbacks.push_back(std::move(done));
    return true;
}

} // namespace sidebolt
