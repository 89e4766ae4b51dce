#include "node/invoice_store.h"

#include "node/interfaces.h"
#include "pay/invoice.h"
#include "store/codec.h"
#include "util/hex.h"
#include "util/logging.h"
#include "wire/features.h"
#include "wire/wire.h"

#include <openssl/rand.h>

#include <algorithm>
#include <limits>
#include <tuple>

namespace sidebolt {
namespace {

//! Bumped whenever the layout below changes; older records then need a migration.
constexpr uint8_t kRecordVersion = 1;
constexpr std::string_view kLastPayIndexKey = "last_pay_index";

void WriteString(WireWriter& w, std::string_view text)
{
    w.WriteU32(static_cast<uint32_t>(text.size()));
    w.WriteBytes(store::AsBytes(text));
}

std::string ReadString(WireReader& r)
{
    const uint32_t size = r.ReadU32();
    return store::ToString(r.ReadBytes(size));
}

Hash256 LabelKey(std::string_view label) { return Sha256(store::AsBytes(label)); }

Hash256 RandomHash()
{
    Hash256 out;
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    return out;
}

//! Features every invoice of ours sets. BOLT 11: the writer "MUST set the `s` field" and set
//! payment_secret as required; var_onion_optin is its dependency; basic_mpp because we accept
//! multi-part payments (pay/receive).
Bytes OurInvoiceFeatures()
{
    FeatureBits features;
    features.SetRequired(Feature::kVarOnionOptin);
    features.SetRequired(Feature::kPaymentSecret);
    features.SetOptional(Feature::kBasicMpp);
    return features.ToWire();
}

std::chrono::steady_clock::time_point DeadlineAfter(std::chrono::milliseconds timeout)
{
    using Clock = std::chrono::steady_clock;
    const auto now = Clock::now();
    // Saturate: kWaitForever must not overflow the clock.
    if (timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now)) {
        return Clock::time_point::max();
    }
    return now + timeout;
}

void CheckCreateArguments(const std::optional<Msat>& amount, const std::string& label, const std::string& description,
                          uint64_t expiry_seconds, uint32_t min_final_cltv_expiry_delta)
{
    if (amount && amount->value() == 0) throw NodeError(kErrInvalidParameter, "amount_msat must be positive (or \"any\")");
    if (label.empty()) throw NodeError(kErrInvalidParameter, "label must not be empty");
    if (description.size() > kMaxInvoiceDescription) {
        throw NodeError(kErrInvalidParameter, "description must be at most " + std::to_string(kMaxInvoiceDescription) + " bytes");
    }
    if (expiry_seconds == 0 || expiry_seconds > kMaxInvoiceExpiry) {
        throw NodeError(kErrInvalidParameter, "expiry must be 1 to " + std::to_string(kMaxInvoiceExpiry) + " seconds");
    }
    if (min_final_cltv_expiry_delta < kMinFinalCltvExpiryDelta || min_final_cltv_expiry_delta > kMaxFinalCltvExpiryDelta) {
        throw NodeError(kErrInvalidParameter, "cltv must be " + std::to_string(kMinFinalCltvExpiryDelta) + " to " +
                                                  std::to_string(kMaxFinalCltvExpiryDelta) + " blocks");
    }
}

} // namespace

std::string_view InvoiceStatusName(InvoiceStatus status)
{
    switch (status) {
    case InvoiceStatus::UNPAID: return "unpaid";
    case InvoiceStatus::PAID: return "paid";
    case InvoiceStatus::EXPIRED: return "expired";
    }
    return "unknown";
}

std::optional<InvoiceStatus> ParseInvoiceStatus(std::string_view name)
{
    for (const auto status : {InvoiceStatus::UNPAID, InvoiceStatus::PAID, InvoiceStatus::EXPIRED}) {
        if (InvoiceStatusName(status) == name) return status;
    }
    return std::nullopt;
}

InvoiceStatus InvoiceRecord::Status(uint64_t now) const
{
    if (paid) return InvoiceStatus::PAID;
    return now > expires_at ? InvoiceStatus::EXPIRED : InvoiceStatus::UNPAID;
}

Bytes SerializeInvoiceRecord(const InvoiceRecord& record)
{
    Bytes out;
    WireWriter w(out);
    w.WriteU8(kRecordVersion);
    WriteString(w, record.label);
    WriteString(w, record.bolt11);
    WriteString(w, record.description);
    w.WriteBytes(record.payment_hash);
    w.WriteBytes(record.preimage);
    w.WriteBytes(record.payment_secret);
    w.WriteU8(record.amount_msat ? 1 : 0);
    if (record.amount_msat) w.WriteU64(record.amount_msat->value());
    w.WriteU64(record.created_at);
    w.WriteU64(record.expires_at);
    w.WriteU32(record.min_final_cltv_expiry_delta);
    w.WriteU8(record.paid ? 1 : 0);
    w.WriteU64(record.received_msat.value());
    w.WriteU64(record.paid_at);
    w.WriteU64(record.pay_index);
    return out;
}

std::optional<InvoiceRecord> DeserializeInvoiceRecord(ByteSpan bytes)
{
    WireReader r(bytes);
    if (r.ReadU8() != kRecordVersion) return std::nullopt;
    InvoiceRecord record;
    record.label = ReadString(r);
    record.bolt11 = ReadString(r);
    record.description = ReadString(r);
    record.payment_hash = r.ReadArray<32>();
    record.preimage = r.ReadArray<32>();
    record.payment_secret = r.ReadArray<32>();
    const uint8_t has_amount = r.ReadU8();
    if (has_amount == 1) record.amount_msat = Msat{r.ReadU64()};
    record.created_at = r.ReadU64();
    record.expires_at = r.ReadU64();
    record.min_final_cltv_expiry_delta = r.ReadU32();
    const uint8_t paid = r.ReadU8();
    record.paid = paid == 1;
    record.received_msat = Msat{r.ReadU64()};
    record.paid_at = r.ReadU64();
    record.pay_index = r.ReadU64();
    r.ExpectEnd();
    if (!r.Ok() || has_amount > 1 || paid > 1) return std::nullopt;
    // pay_index numbers paid invoices only, from 1.
    if (record.paid != (record.pay_index != 0)) return std::nullopt;
    if (!record.paid && (record.paid_at != 0 || record.received_msat.value() != 0)) return std::nullopt;
    return record;
}

int InvoiceStoreError::Code() const
{
    switch (m_kind) {
    case InvoiceStoreErrorKind::DUPLICATE_LABEL: return kErrDuplicateLabel;
    case InvoiceStoreErrorKind::DUPLICATE_HASH: return kErrDuplicatePaymentHash;
    case InvoiceStoreErrorKind::UNKNOWN_LABEL: return kErrUnknownInvoice;
    case InvoiceStoreErrorKind::STATUS_MISMATCH: return kErrInvoiceStatusMismatch;
    }
    return kErrInvalidParameter;
}

InvoiceStore::InvoiceStore(store::Env& env)
    : m_invoices(env.OpenDb("invoices")),
      m_labels(env.OpenDb("invoice_labels")),
      m_pay_index(env.OpenDb("invoice_pay_index")),
      m_meta(env.OpenDb("invoice_meta"))
{
}

std::optional<InvoiceRecord> InvoiceStore::Load(const store::Txn& txn, ByteSpan payment_hash) const
{
    const auto bytes = txn.GetView(m_invoices, payment_hash);
    if (!bytes) return std::nullopt;
    auto record = DeserializeInvoiceRecord(*bytes);
    if (!record) throw store::StoreError("read invoice", "corrupt invoice record " + ToHex(payment_hash));
    return record;
}

void InvoiceStore::Add(store::WriteTxn& txn, const InvoiceRecord& record)
{
    if (record.paid) throw std::invalid_argument("a new invoice cannot be paid already");
    const Hash256 label_key = LabelKey(record.label);
    if (txn.Exists(m_labels, label_key)) {
        throw InvoiceStoreError(InvoiceStoreErrorKind::DUPLICATE_LABEL, "an invoice labelled '" + record.label + "' exists");
    }
    if (txn.Exists(m_invoices, record.payment_hash)) {
        throw InvoiceStoreError(InvoiceStoreErrorKind::DUPLICATE_HASH,
                                "an invoice with payment_hash " + ToHex(record.payment_hash) + " exists");
    }
    txn.Put(m_invoices, record.payment_hash, SerializeInvoiceRecord(record));
    txn.Put(m_labels, label_key, record.payment_hash);
}

std::optional<InvoiceRecord> InvoiceStore::FindByHash(const store::Txn& txn, const Hash256& payment_hash) const
{
    return Load(txn, payment_hash);
}

std::optional<InvoiceRecord> InvoiceStore::FindByLabel(const store::Txn& txn, std::string_view label) const
{
    const auto payment_hash = txn.Get(m_labels, LabelKey(label));
    if (!payment_hash) return std::nullopt;
    auto record = Load(txn, *payment_hash);
    if (!record || record->label != label) throw store::StoreError("read invoice", "label index out of step with invoices");
    return record;
}

std::vector<InvoiceRecord> InvoiceStore::List(const store::Txn& txn) const
{
    std::vector<InvoiceRecord> out;
    txn.ForEachPrefix(m_invoices, {}, [&](ByteSpan key, ByteSpan value) {
        auto record = DeserializeInvoiceRecord(value);
        if (!record) throw store::StoreError("read invoice", "corrupt invoice record " + ToHex(key));
        out.push_back(std::move(*record));
        return true;
    });
    std::sort(out.begin(), out.end(), [](const InvoiceRecord& a, const InvoiceRecord& b) {
        return std::tie(a.created_at, a.label) < std::tie(b.created_at, b.label);
    });
    return out;
}

std::optional<InvoiceRecord> InvoiceStore::MarkPaid(store::WriteTxn& txn, const Hash256& payment_hash, Msat received,
                                                    uint64_t now)
{
    auto record = Load(txn, payment_hash);
    if (!record || record->paid) return std::nullopt;
    const auto stored_last = txn.Get(m_meta, store::AsBytes(kLastPayIndexKey));
    const uint64_t last = stored_last ? store::DecodeU64(*stored_last).value_or(0) : 0;
    record->paid = true;
    record->received_msat = received;
    record->paid_at = now;
    record->pay_index = last + 1;
    txn.Put(m_meta, store::AsBytes(kLastPayIndexKey), store::EncodeU64(record->pay_index));
    txn.Put(m_pay_index, store::EncodeU64(record->pay_index), payment_hash);
    txn.Put(m_invoices, payment_hash, SerializeInvoiceRecord(*record));
    return record;
}

Expected<InvoiceRecord, InvoiceStoreError> InvoiceStore::Delete(store::WriteTxn& txn, std::string_view label,
                                                                 InvoiceStatus status, uint64_t now)
{
    auto record = FindByLabel(txn, label);
    if (!record) return InvoiceStoreError(InvoiceStoreErrorKind::UNKNOWN_LABEL, "no invoice labelled '" + std::string(label) + "'");
    const InvoiceStatus actual = record->Status(now);
    if (actual != status) {
        return InvoiceStoreError(InvoiceStoreErrorKind::STATUS_MISMATCH,
                                 "invoice '" + record->label + "' is " + std::string(InvoiceStatusName(actual)) + ", not " +
                                     std::string(InvoiceStatusName(status)));
    }
    txn.Delete(m_labels, LabelKey(label));
    txn.Delete(m_invoices, record->payment_hash);
    if (record->paid) txn.Delete(m_pay_index, store::EncodeU64(record->pay_index));
    return std::move(*record);
}

std::vector<InvoiceRecord> InvoiceStore::PaidSince(const store::Txn& txn, uint64_t after_pay_index, size_t max_count) const
{
    std::vector<InvoiceRecord> out;
    if (after_pay_index == std::numeric_limits<uint64_t>::max()) return out;
    auto cursor = txn.OpenCursor(m_pay_index);
    for (bool ok = cursor.Seek(store::EncodeU64(after_pay_index + 1)); ok && out.size() < max_count; ok = cursor.Next()) {
        auto record = Load(txn, cursor.Value());
        if (!record) throw store::StoreError("read invoice", "pay index names a missing invoice");
        out.push_back(std::move(*record));
    }
    return out;
}

InvoiceService::InvoiceService(store::Env& env, InvoiceStore& store, PrivKey node_key, Network network,
                               std::function<uint64_t()> now_seconds)
    : m_env(env), m_store(store), m_node_key(std::move(node_key)), m_network(network), m_now(std::move(now_seconds))
{
}

InvoiceRecord InvoiceService::Create(std::optional<Msat> amount, std::string label, std::string description,
                                     uint64_t expiry_seconds, std::optional<Hash256> preimage,
                                     uint32_t min_final_cltv_expiry_delta)
{
    CheckCreateArguments(amount, label, description, expiry_seconds, min_final_cltv_expiry_delta);
    InvoiceRecord record;
    record.label = std::move(label);
    record.description = std::move(description);
    record.preimage = preimage ? *preimage : RandomHash();
    record.payment_hash = Sha256(record.preimage);
    record.payment_secret = RandomHash();
    record.amount_msat = amount;
    record.created_at = m_now();
    record.expires_at = record.created_at + expiry_seconds;
    record.min_final_cltv_expiry_delta = min_final_cltv_expiry_delta;

    Invoice invoice;
    invoice.hrp_currency = std::string(InvoiceCurrency(m_network));
    invoice.amount_msat = amount;
    invoice.timestamp = record.created_at;
    invoice.payment_hash = record.payment_hash;
    invoice.payment_secret = record.payment_secret;
    invoice.description = record.description;
    invoice.expiry = expiry_seconds;
    invoice.min_final_cltv_expiry_delta = min_final_cltv_expiry_delta;
    invoice.features = OurInvoiceFeatures();
    if (m_route_hints) invoice.route_hints = m_route_hints();
    try {
        record.bolt11 = EncodeInvoice(invoice, m_node_key);
    } catch (const std::invalid_argument& e) {
        throw NodeError(kErrInvalidParameter, std::string("cannot encode the invoice: ") + e.what());
    }
    try {
        m_env.Write([&](store::WriteTxn& txn) { m_store.Add(txn, record); });
    } catch (const InvoiceStoreError& e) {
        throw NodeError(e.Code(), e.what());
    }
    return record;
}

std::vector<InvoiceRecord> InvoiceService::List(std::optional<std::string_view> label) const
{
    const auto txn = m_env.BeginRead();
    if (!label) return m_store.List(txn);
    auto record = m_store.FindByLabel(txn, *label);
    if (!record) return {};
    return {std::move(*record)};
}

InvoiceRecord InvoiceService::Delete(std::string_view label, InvoiceStatus status)
{
    std::optional<Expected<InvoiceRecord, InvoiceStoreError>> result;
    m_env.Write([&](store::WriteTxn& txn) { result.emplace(m_store.Delete(txn, label, status, m_now())); });
    if (!*result) throw NodeError(result->error().Code(), result->error().what());
    WakeWaiters();
    return std::move(**result);
}

void InvoiceService::NotifyPaid(const Hash256& payment_hash)
{
    Log("invoices")->info("invoice with payment_hash {} paid", ToHex(payment_hash));
    WakeWaiters();
}

void InvoiceService::WakeWaiters()
{
    {
        MutexLock lock(m_mutex);
        ++m_generation;
    }
    m_changed.notify_all();
}

void InvoiceService::Shutdown()
{
    {
        MutexLock lock(m_mutex);
        m_shutdown = true;
    }
    m_changed.notify_all();
}

uint64_t InvoiceService::Generation()
{
    MutexLock lock(m_mutex);
    return m_generation;
}

void InvoiceService::WaitForChange(uint64_t seen_generation, std::chrono::steady_clock::time_point until)
{
    UniqueLock lock(m_mutex);
    lock.WaitUntil(m_changed, until, [&]() REQUIRES(m_mutex) { return m_shutdown || m_generation != seen_generation; });
    if (m_shutdown) throw NodeError(kErrShuttingDown, "shutting down");
}

InvoiceRecord InvoiceService::WaitInvoice(std::string_view label, std::chrono::milliseconds timeout)
{
    const auto deadline = DeadlineAfter(timeout);
    for (;;) {
        const uint64_t generation = Generation();
        const auto found = List(label);
        if (found.empty()) throw NodeError(kErrUnknownInvoice, "no invoice labelled '" + std::string(label) + "'");
        const uint64_t now = m_now();
        if (found.front().Status(now) != InvoiceStatus::UNPAID) return found.front();
        if (std::chrono::steady_clock::now() >= deadline) {
            throw NodeError(kErrTimeout, "timed out waiting for invoice '" + std::string(label) + "'");
        }
        // Expiry comes with no notification: wake just after it (expired once now > expires_at).
        const auto expiry = std::chrono::steady_clock::now() + std::chrono::seconds(found.front().expires_at - now + 1);
        WaitForChange(generation, std::min(deadline, expiry));
    }
}

InvoiceRecord InvoiceService::WaitAnyInvoice(uint64_t lastpay_index, std::chrono::milliseconds timeout)
{
    const auto deadline = DeadlineAfter(timeout);
    for (;;) {
        const uint64_t generation = Generation();
        {
            const auto txn = m_env.BeginRead();
            auto paid = m_store.PaidSince(txn, lastpay_index, 1);
            if (!paid.empty()) return std::move(paid.front());
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw NodeError(kErrTimeout, "no invoice paid after pay_index " + std::to_string(lastpay_index) + " in time");
        }
        WaitForChange(generation, deadline);
    }
}

} // namespace sidebolt
