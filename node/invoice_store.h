#ifndef SIDEBOLT_NODE_INVOICE_STORE_H
#define SIDEBOLT_NODE_INVOICE_STORE_H

#include "pay/invoice.h"
#include "primitives/hash.h"
#include "primitives/key.h"
#include "primitives/network.h"
#include "store/env.h"
#include "util/amount.h"
#include "util/bytes.h"
#include "util/sync.h"
#include "wire/expected.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sidebolt {

//! RPC error codes of invoice operations (beside node/interfaces.h's; kErrTimeout, kErrShuttingDown
//! and kErrInvalidParameter are shared).
enum InvoiceErrorCode : int {
    kErrDuplicateLabel = -121,
    kErrDuplicatePaymentHash = -122,
    kErrUnknownInvoice = -123,
    kErrInvoiceStatusMismatch = -124,
};

enum class InvoiceStatus : uint8_t { UNPAID, PAID, EXPIRED };

//! "unpaid", "paid", "expired" (the RPCs' words) and back.
std::string_view InvoiceStatusName(InvoiceStatus status);
std::optional<InvoiceStatus> ParseInvoiceStatus(std::string_view name);

//! One invoice this node issued. EXPIRED is derived from expires_at at read time, never stored.
struct InvoiceRecord {
    std::string label;
    std::string bolt11;
    std::string description;
    Hash256 payment_hash{};
    Hash256 preimage{}; //!< secret: never logged
    Hash256 payment_secret{};
    std::optional<Msat> amount_msat; //!< nullopt: "any"
    uint64_t created_at{0};
    uint64_t expires_at{0};
    uint32_t min_final_cltv_expiry_delta{18};
    bool paid{false};
    Msat received_msat{0};
    uint64_t paid_at{0};
    uint64_t pay_index{0}; //!< 1, 2, 3... in the order invoices were paid (waitanyinvoice)

    //! PAID once paid; else EXPIRED after expires_at (BOLT 11: "after the timestamp plus expiry
    //! has passed"), UNPAID before.
    InvoiceStatus Status(uint64_t now) const;
    bool operator==(const InvoiceRecord&) const = default;
};

Bytes SerializeInvoiceRecord(const InvoiceRecord& record);
//! nullopt for anything that is not exactly a record this code wrote.
std::optional<InvoiceRecord> DeserializeInvoiceRecord(ByteSpan bytes);

enum class InvoiceStoreErrorKind { DUPLICATE_LABEL, DUPLICATE_HASH, UNKNOWN_LABEL, STATUS_MISMATCH };

class InvoiceStoreError : public std::runtime_error
{
public:
    InvoiceStoreError(InvoiceStoreErrorKind kind, const std::string& message) : std::runtime_error(message), m_kind(kind) {}
    InvoiceStoreErrorKind Kind() const { return m_kind; }
    //! The RPC code for this refusal (InvoiceErrorCode).
    int Code() const;

private:
    InvoiceStoreErrorKind m_kind;
};

/**
 * The invoices in LMDB: records by payment hash, an index by label and one by pay_index. Not
 * locked: LMDB's single writer orders writes, so callers pass the transaction they hold (the
 * channel worker marks invoices paid inside the commit that settles the HTLC).
 */
class InvoiceStore
{
public:
    //! Opens its databases; call at startup, before the Env is shared between threads.
    explicit InvoiceStore(store::Env& env);

    //! Stores a new, unpaid invoice. Throws InvoiceStoreError (DUPLICATE_LABEL, DUPLICATE_HASH),
    //! std::invalid_argument for a record marked paid.
    void Add(store::WriteTxn& txn, const InvoiceRecord& record);
    std::optional<InvoiceRecord> FindByHash(const store::Txn& txn, const Hash256& payment_hash) const;
    std::optional<InvoiceRecord> FindByLabel(const store::Txn& txn, std::string_view label) const;
    //! Ordered by created_at then label.
    std::vector<InvoiceRecord> List(const store::Txn& txn) const;
    //! Marks an unpaid invoice paid (assigning the next pay_index); returns the record, or
    //! nullopt if unknown or already paid. Amount and expiry are the caller's checks (pay/receive).
    std::optional<InvoiceRecord> MarkPaid(store::WriteTxn& txn, const Hash256& payment_hash, Msat received, uint64_t now);
    //! delinvoice: deletes the invoice when its status (at `now`) is `status`; returns the
    //! deleted record, or UNKNOWN_LABEL / STATUS_MISMATCH.
    Expected<InvoiceRecord, InvoiceStoreError> Delete(store::WriteTxn& txn, std::string_view label, InvoiceStatus status,
                                                      uint64_t now);
    //! Paid invoices with pay_index > after_pay_index, in pay_index order, at most max_count.
    std::vector<InvoiceRecord> PaidSince(const store::Txn& txn, uint64_t after_pay_index,
                                         size_t max_count = std::numeric_limits<size_t>::max()) const;

private:
    //! Throws store::StoreError for a record this code cannot read.
    std::optional<InvoiceRecord> Load(const store::Txn& txn, ByteSpan payment_hash) const;

    store::Db m_invoices;   //!< payment_hash -> record
    store::Db m_labels;     //!< SHA256(label) -> payment_hash (LMDB keys are at most 511 bytes)
    store::Db m_pay_index;  //!< pay_index (big-endian) -> payment_hash
    store::Db m_meta;       //!< "last_pay_index": never reused, even after delinvoice
};

//! BOLT 11 writer's limit on one tagged field: the `d` field holds at most 639 bytes.
inline constexpr size_t kMaxInvoiceDescription = 639;
inline constexpr uint64_t kDefaultInvoiceExpiry = 7 * 24 * 3600;
inline constexpr uint64_t kMaxInvoiceExpiry = 10ULL * 365 * 24 * 3600;
//! The cltv a payer must leave us at least: BOLT 11's default and our ceiling.
inline constexpr uint32_t kMinFinalCltvExpiryDelta = 18;
inline constexpr uint32_t kMaxFinalCltvExpiryDelta = 2016;
//! Waits without a deadline (until paid, expired, deleted or shutdown).
inline constexpr std::chrono::milliseconds kWaitForever = std::chrono::milliseconds::max();

/**
 * The thread-safe service the RPCs use: creates and signs invoices, lists and deletes them, and
 * lets RPC threads wait for payments. The channel worker marks invoices paid in its own
 * transaction (InvoiceStore::MarkPaid) and calls NotifyPaid after the commit.
 */
class InvoiceService
{
public:
    InvoiceService(store::Env& env, InvoiceStore& store, PrivKey node_key, Network network,
                   std::function<uint64_t()> now_seconds);

    //! A new invoice: random preimage (unless given) and payment_secret from the OS RNG, signed
    //! with the node key, features var_onion_optin and payment_secret required, basic_mpp
    //! optional. Throws NodeError: kErrInvalidParameter, kErrDuplicateLabel, kErrDuplicatePaymentHash.
    InvoiceRecord Create(std::optional<Msat> amount, std::string label, std::string description, uint64_t expiry_seconds,
                         std::optional<Hash256> preimage, uint32_t min_final_cltv_expiry_delta);
    //! Every invoice, or the one labelled `label` (none if unknown).
    std::vector<InvoiceRecord> List(std::optional<std::string_view> label) const;
    //! Throws NodeError kErrUnknownInvoice or kErrInvoiceStatusMismatch. Wakes waiters.
    InvoiceRecord Delete(std::string_view label, InvoiceStatus status);

    //! Called by the worker after the commit that marked the invoice paid; wakes waiters.
    void NotifyPaid(const Hash256& payment_hash) EXCLUDES(m_mutex);
    //! Returns once the invoice is paid or expired (Status says which). Throws NodeError:
    //! kErrUnknownInvoice (also when deleted meanwhile), kErrTimeout, kErrShuttingDown.
    InvoiceRecord WaitInvoice(std::string_view label, std::chrono::milliseconds timeout) EXCLUDES(m_mutex);
    //! The paid invoice with the lowest pay_index above lastpay_index, waiting for one. Throws
    //! NodeError kErrTimeout or kErrShuttingDown.
    InvoiceRecord WaitAnyInvoice(uint64_t lastpay_index, std::chrono::milliseconds timeout) EXCLUDES(m_mutex);
    //! Ends every wait (kErrShuttingDown), now and later: call before stopping the RPC server.
    void Shutdown() EXCLUDES(m_mutex);

    uint64_t Now() const { return m_now(); }
    Network ChainNetwork() const { return m_network; }
    //! Where new invoices get their route hints (our channels, so payers without our channels
    //! in their graph can reach us). Set once before the RPC server starts.
    void SetRouteHintSource(std::function<std::vector<std::vector<RouteHintHop>>()> source) { m_route_hints = std::move(source); }

private:
    //! Waits until the next wake-up or `until`; throws NodeError kErrShuttingDown once shut down.
    void WaitForChange(uint64_t seen_generation, std::chrono::steady_clock::time_point until) EXCLUDES(m_mutex);
    uint64_t Generation() EXCLUDES(m_mutex);
    void WakeWaiters() EXCLUDES(m_mutex);

    store::Env& m_env;
    InvoiceStore& m_store;
    const PrivKey m_node_key;
    const Network m_network;
    std::function<std::vector<std::vector<RouteHintHop>>()> m_route_hints;
    const std::function<uint64_t()> m_now;

    Mutex m_mutex;
    std::condition_variable m_changed;
    //! Bumped on every payment or deletion; a waiter reads it before looking at the store, so
    //! a change between its look and its wait is not missed.
    uint64_t m_generation GUARDED_BY(m_mutex){0};
    bool m_shutdown GUARDED_BY(m_mutex){false};
};

} // namespace sidebolt

#endif
