#include "tests/node/node_test_util.h"
#include "node/invoice_store.h"

#include "node/interfaces.h"
#include "pay/invoice.h"
#include "wire/features.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <thread>

namespace sidebolt {
namespace {

using namespace std::chrono_literals;

using test::FastEnv;
using test::ScratchDir;

Hash256 Filled(uint8_t byte)
{
    Hash256 out;
    out.fill(byte);
    return out;
}

InvoiceRecord Sample(std::string label, uint8_t hash_byte, uint64_t created_at = 1000)
{
    InvoiceRecord record;
    record.label = std::move(label);
    record.bolt11 = "lnbcrt1...";
    record.description = "coffee";
    record.preimage = Filled(hash_byte);
    record.payment_hash = Sha256(record.preimage);
    record.payment_secret = Filled(static_cast<uint8_t>(hash_byte + 1));
    record.amount_msat = Msat{5000};
    record.created_at = created_at;
    record.expires_at = created_at + 3600;
    record.min_final_cltv_expiry_delta = 40;
    return record;
}

//! The store over a scratch LMDB environment.
struct StoreFixture {
    ScratchDir dir;
    std::unique_ptr<store::Env> env = std::make_unique<store::Env>(dir.Path(), FastEnv());
    std::unique_ptr<InvoiceStore> invoices = std::make_unique<InvoiceStore>(*env);

    void Add(const InvoiceRecord& record)
    {
        env->Write([&](store::WriteTxn& txn) { invoices->Add(txn, record); });
    }
    std::optional<InvoiceRecord> MarkPaid(const Hash256& hash, uint64_t now = 2000, Msat received = Msat{5000})
    {
        std::optional<InvoiceRecord> out;
        env->Write([&](store::WriteTxn& txn) { out = invoices->MarkPaid(txn, hash, received, now); });
        return out;
    }
    Expected<InvoiceRecord, InvoiceStoreError> Delete(std::string_view label, InvoiceStatus status, uint64_t now)
    {
        std::optional<Expected<InvoiceRecord, InvoiceStoreError>> out;
        env->Write([&](store::WriteTxn& txn) { out.emplace(invoices->Delete(txn, label, status, now)); });
        return std::move(*out);
    }
    std::optional<InvoiceRecord> ByLabel(std::string_view label)
    {
        const auto txn = env->BeginRead();
        return invoices->FindByLabel(txn, label);
    }
    std::optional<InvoiceRecord> ByHash(const Hash256& hash)
    {
        const auto txn = env->BeginRead();
        return invoices->FindByHash(txn, hash);
    }
    std::vector<InvoiceRecord> PaidSince(uint64_t index, size_t max_count = std::numeric_limits<size_t>::max())
    {
        const auto txn = env->BeginRead();
        return invoices->PaidSince(txn, index, max_count);
    }
    std::vector<std::string> Labels()
    {
        const auto txn = env->BeginRead();
        std::vector<std::string> out;
        for (const auto& record : invoices->List(txn)) out.push_back(record.label);
        return out;
    }
};

std::optional<InvoiceStoreErrorKind> AddError(StoreFixture& f, const InvoiceRecord& record)
{
    try {
        f.Add(record);
    } catch (const InvoiceStoreError& e) {
        return e.Kind();
    }
    return std::nullopt;
}

//! The NodeError code `fn` throws, or 0.
template <typename Fn>
int ErrorCode(Fn&& fn)
{
    try {
        fn();
    } catch (const NodeError& e) {
        return e.Code();
    }
    return 0;
}

PrivKey NodeKey() { return *PrivKey::FromBytes(Bytes(32, 0x42)); }

struct ServiceFixture : StoreFixture {
    std::atomic<uint64_t> now{1'700'000'000};
    InvoiceService service{*env, *invoices, NodeKey(), Network::Regtest, [this] { return now.load(); }};

    InvoiceRecord Create(std::string label, std::optional<Hash256> preimage = std::nullopt, uint64_t expiry = 3600)
    {
        return service.Create(Msat{1000}, std::move(label), "test", expiry, preimage, 18);
    }
    //! What the channel worker does when an HTLC for the invoice is fulfilled.
    void Pay(const Hash256& payment_hash)
    {
        REQUIRE(MarkPaid(payment_hash, now.load()));
        service.NotifyPaid(payment_hash);
    }
};

} // namespace

TEST_CASE("invoice record round trip, with and without amount, paid and unpaid")
{
    const InvoiceRecord unpaid = Sample("a", 1);
    CHECK(DeserializeInvoiceRecord(SerializeInvoiceRecord(unpaid)) == unpaid);

    InvoiceRecord paid = Sample("b", 2);
    paid.amount_msat.reset();
    paid.paid = true;
    paid.received_msat = Msat{12345};
    paid.paid_at = 1500;
    paid.pay_index = 9;
    CHECK(DeserializeInvoiceRecord(SerializeInvoiceRecord(paid)) == paid);
}

TEST_CASE("corrupt invoice records are refused")
{
    const Bytes good = SerializeInvoiceRecord(Sample("label", 3));
    for (size_t size = 0; size < good.size(); ++size) CHECK_FALSE(DeserializeInvoiceRecord(ByteSpan(good).first(size)));
    Bytes longer = good;
    longer.push_back(0);
    CHECK_FALSE(DeserializeInvoiceRecord(longer));
    Bytes version = good;
    version[0] = 2;
    CHECK_FALSE(DeserializeInvoiceRecord(version));

    // Inconsistent payment state: paid without a pay_index, and unpaid with one.
    InvoiceRecord no_index = Sample("x", 4);
    no_index.paid = true;
    CHECK_FALSE(DeserializeInvoiceRecord(SerializeInvoiceRecord(no_index)));
    InvoiceRecord stray_index = Sample("x", 4);
    stray_index.pay_index = 3;
    CHECK_FALSE(DeserializeInvoiceRecord(SerializeInvoiceRecord(stray_index)));
    InvoiceRecord stray_amount = Sample("x", 4);
    stray_amount.received_msat = Msat{1};
    CHECK_FALSE(DeserializeInvoiceRecord(SerializeInvoiceRecord(stray_amount)));
}

TEST_CASE("invoice store: add, find by hash and by label, list by created_at then label, survive a reopen")
{
    StoreFixture f;
    const InvoiceRecord late = Sample("a-late", 1, 3000);
    const InvoiceRecord early_b = Sample("b-early", 2, 1000);
    const InvoiceRecord early_a = Sample("a-early", 3, 1000);
    for (const auto& record : {late, early_b, early_a}) f.Add(record);

    CHECK(f.ByLabel("b-early") == early_b);
    CHECK(f.ByHash(late.payment_hash) == late);
    CHECK_FALSE(f.ByLabel("b-earl"));
    CHECK_FALSE(f.ByHash(Filled(9)));
    CHECK(f.Labels() == std::vector<std::string>{"a-early", "b-early", "a-late"});

    f.invoices.reset();
    f.env.reset();
    f.env = std::make_unique<store::Env>(f.dir.Path(), FastEnv());
    f.invoices = std::make_unique<InvoiceStore>(*f.env);
    CHECK(f.ByLabel("a-late") == late);
    CHECK(f.Labels().size() == 3);
}

TEST_CASE("invoice store: duplicate labels and payment hashes are refused, and leave nothing behind")
{
    StoreFixture f;
    f.Add(Sample("coffee", 1));
    CHECK(AddError(f, Sample("coffee", 2)) == InvoiceStoreErrorKind::DUPLICATE_LABEL);
    CHECK_FALSE(f.ByHash(Sample("coffee", 2).payment_hash));
    CHECK(AddError(f, Sample("tea", 1)) == InvoiceStoreErrorKind::DUPLICATE_HASH);
    CHECK_FALSE(f.ByLabel("tea"));
    InvoiceRecord paid = Sample("paid", 5);
    paid.paid = true;
    paid.pay_index = 1;
    CHECK_THROWS_AS(f.Add(paid), std::invalid_argument);
    CHECK(f.Labels() == std::vector<std::string>{"coffee"});
    CHECK(InvoiceStoreError(InvoiceStoreErrorKind::DUPLICATE_LABEL, "").Code() == kErrDuplicateLabel);
    CHECK(InvoiceStoreError(InvoiceStoreErrorKind::DUPLICATE_HASH, "").Code() == kErrDuplicatePaymentHash);
}

TEST_CASE("invoice store: MarkPaid numbers payments in order, once each; PaidSince follows the numbers")
{
    StoreFixture f;
    const InvoiceRecord a = Sample("a", 1);
    const InvoiceRecord b = Sample("b", 2);
    const InvoiceRecord c = Sample("c", 3);
    for (const auto& record : {a, b, c}) f.Add(record);

    const auto paid_b = f.MarkPaid(b.payment_hash, 2000, Msat{6000});
    REQUIRE(paid_b);
    CHECK(paid_b->pay_index == 1);
    CHECK(paid_b->paid);
    CHECK(paid_b->received_msat == Msat{6000});
    CHECK(paid_b->paid_at == 2000);
    CHECK(f.ByHash(b.payment_hash) == paid_b);

    const auto paid_a = f.MarkPaid(a.payment_hash, 2100);
    REQUIRE(paid_a);
    CHECK(paid_a->pay_index == 2);

    // Idempotent: a second settlement of the same hash changes nothing.
    CHECK_FALSE(f.MarkPaid(b.payment_hash, 9999, Msat{1}));
    CHECK(f.ByHash(b.payment_hash) == paid_b);
    CHECK_FALSE(f.MarkPaid(Filled(0xee)));

    auto labels = [](const std::vector<InvoiceRecord>& records) {
        std::vector<std::string> out;
        for (const auto& r : records) out.push_back(r.label);
        return out;
    };
    CHECK(labels(f.PaidSince(0)) == std::vector<std::string>{"b", "a"});
    CHECK(labels(f.PaidSince(1)) == std::vector<std::string>{"a"});
    CHECK(labels(f.PaidSince(0, 1)) == std::vector<std::string>{"b"});
    CHECK(f.PaidSince(2).empty());
    CHECK(f.PaidSince(std::numeric_limits<uint64_t>::max()).empty());
}

TEST_CASE("invoice store: status is derived from expires_at, and paid wins over expiry")
{
    InvoiceRecord record = Sample("x", 1, 1000);
    CHECK(record.Status(1000) == InvoiceStatus::UNPAID);
    CHECK(record.Status(4600) == InvoiceStatus::UNPAID);
    CHECK(record.Status(4601) == InvoiceStatus::EXPIRED);
    record.paid = true;
    CHECK(record.Status(999'999) == InvoiceStatus::PAID);
    for (const auto status : {InvoiceStatus::UNPAID, InvoiceStatus::PAID, InvoiceStatus::EXPIRED}) {
        CHECK(ParseInvoiceStatus(InvoiceStatusName(status)) == status);
    }
    CHECK_FALSE(ParseInvoiceStatus("Paid"));
    CHECK_FALSE(ParseInvoiceStatus(""));
}

TEST_CASE("invoice store: delinvoice deletes only on a matching status, and pay_index is never reused")
{
    StoreFixture f;
    const InvoiceRecord a = Sample("a", 1, 1000);
    const InvoiceRecord b = Sample("b", 2, 1000);
    f.Add(a);
    f.Add(b);

    const auto unknown = f.Delete("nope", InvoiceStatus::UNPAID, 1000);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().Kind() == InvoiceStoreErrorKind::UNKNOWN_LABEL);
    CHECK(unknown.error().Code() == kErrUnknownInvoice);

    const auto mismatch = f.Delete("a", InvoiceStatus::PAID, 1000);
    REQUIRE_FALSE(mismatch);
    CHECK(mismatch.error().Kind() == InvoiceStoreErrorKind::STATUS_MISMATCH);
    CHECK(mismatch.error().Code() == kErrInvoiceStatusMismatch);
    CHECK(std::string(mismatch.error().what()) == "invoice 'a' is unpaid, not paid");
    // Unpaid before expiry is not "expired", and expired is no longer "unpaid".
    CHECK_FALSE(f.Delete("a", InvoiceStatus::EXPIRED, 4600));
    CHECK_FALSE(f.Delete("a", InvoiceStatus::UNPAID, 4601));
    const auto expired = f.Delete("a", InvoiceStatus::EXPIRED, 4601);
    REQUIRE(expired);
    CHECK(*expired == a);
    CHECK_FALSE(f.ByLabel("a"));
    CHECK_FALSE(f.ByHash(a.payment_hash));
    // The label is free again.
    f.Add(Sample("a", 7, 1000));

    REQUIRE(f.MarkPaid(b.payment_hash));
    CHECK_FALSE(f.Delete("b", InvoiceStatus::UNPAID, 1000));
    const auto paid = f.Delete("b", InvoiceStatus::PAID, 1000);
    REQUIRE(paid);
    CHECK(paid->pay_index == 1);
    CHECK(f.PaidSince(0).empty());
    // A waiter that saw pay_index 1 must still hear of the next payment.
    const auto next = f.MarkPaid(Sample("a", 7).payment_hash);
    REQUIRE(next);
    CHECK(next->pay_index == 2);
}

TEST_CASE("invoice service: Create signs a BOLT 11 invoice with our node id, the preimage's hash and our features")
{
    ServiceFixture f;
    const Hash256 preimage = Filled(0x11);
    const InvoiceRecord record = f.service.Create(Msat{123'456}, "coffee", "one espresso", 600, preimage, 40);
    CHECK(record.preimage == preimage);
    CHECK(record.payment_hash == Sha256(preimage));
    CHECK(record.created_at == f.now.load());
    CHECK(record.expires_at == f.now.load() + 600);
    CHECK(f.ByLabel("coffee") == record);

    const auto decoded = DecodeInvoice(record.bolt11);
    REQUIRE(decoded);
    const Invoice& invoice = decoded->invoice;
    CHECK(decoded->payee == NodeKey().GetPubKey());
    CHECK(invoice.hrp_currency == "bcrt");
    CHECK(invoice.payment_hash == Sha256(preimage));
    CHECK(invoice.payment_secret == record.payment_secret);
    CHECK(invoice.amount_msat == Msat{123'456});
    CHECK(invoice.description == "one espresso");
    CHECK(invoice.timestamp == record.created_at);
    CHECK(invoice.expiry == 600);
    CHECK(invoice.min_final_cltv_expiry_delta == 40);
    const FeatureBits features = FeatureBits::FromWire(invoice.features);
    CHECK(features.Requires(Feature::kVarOnionOptin));
    CHECK(features.Requires(Feature::kPaymentSecret));
    CHECK(features.IsSet(OptionalBit(Feature::kBasicMpp)));
    CHECK_FALSE(features.Requires(Feature::kBasicMpp));
    CHECK(features.SetBits() == std::vector<size_t>{8, 14, 17});

    // Without a preimage: fresh random secrets each time, and an "any" amount.
    const InvoiceRecord first = f.service.Create(std::nullopt, "any1", "", 60, std::nullopt, 18);
    const InvoiceRecord second = f.service.Create(std::nullopt, "any2", "", 60, std::nullopt, 18);
    CHECK(first.payment_hash == Sha256(first.preimage));
    CHECK(first.preimage != second.preimage);
    CHECK(first.payment_secret != second.payment_secret);
    CHECK(first.preimage != first.payment_secret);
    const auto any = DecodeInvoice(first.bolt11);
    REQUIRE(any);
    CHECK_FALSE(any->invoice.amount_msat);
}

TEST_CASE("invoice service: Create refuses bad arguments and duplicates with their codes")
{
    ServiceFixture f;
    auto create = [&](std::optional<Msat> amount, std::string label, std::string description, uint64_t expiry, uint32_t cltv) {
        return ErrorCode([&] { f.service.Create(amount, label, description, expiry, std::nullopt, cltv); });
    };
    CHECK(create(Msat{0}, "l", "", 60, 18) == kErrInvalidParameter);
    CHECK(create(Msat{1}, "", "", 60, 18) == kErrInvalidParameter);
    CHECK(create(Msat{1}, "l", std::string(640, 'd'), 60, 18) == kErrInvalidParameter);
    CHECK(create(Msat{1}, "l", "", 0, 18) == kErrInvalidParameter);
    CHECK(create(Msat{1}, "l", "", kMaxInvoiceExpiry + 1, 18) == kErrInvalidParameter);
    CHECK(create(Msat{1}, "l", "", 60, 17) == kErrInvalidParameter);
    CHECK(create(Msat{1}, "l", "", 60, 2017) == kErrInvalidParameter);
    CHECK(f.Labels().empty());
    CHECK(create(Msat{1}, "l", std::string(639, 'd'), kMaxInvoiceExpiry, 2016) == 0);

    f.Create("dup", Filled(1));
    CHECK(ErrorCode([&] { f.Create("dup", Filled(2)); }) == kErrDuplicateLabel);
    CHECK(ErrorCode([&] { f.Create("other", Filled(1)); }) == kErrDuplicatePaymentHash);
}

TEST_CASE("invoice service: List and Delete")
{
    ServiceFixture f;
    f.Create("a");
    f.now += 1;
    f.Create("b");
    CHECK(f.service.List(std::nullopt).size() == 2);
    REQUIRE(f.service.List("b").size() == 1);
    CHECK(f.service.List("b").front().label == "b");
    CHECK(f.service.List("c").empty());
    CHECK(ErrorCode([&] { f.service.Delete("c", InvoiceStatus::UNPAID); }) == kErrUnknownInvoice);
    CHECK(ErrorCode([&] { f.service.Delete("a", InvoiceStatus::PAID); }) == kErrInvoiceStatusMismatch);
    CHECK(f.service.Delete("a", InvoiceStatus::UNPAID).label == "a");
    CHECK(f.service.List(std::nullopt).size() == 1);
}

TEST_CASE("invoice service: WaitAnyInvoice returns after NotifyPaid from another thread, and times out otherwise")
{
    ServiceFixture f;
    const InvoiceRecord a = f.Create("a");
    const InvoiceRecord b = f.Create("b");
    CHECK(ErrorCode([&] { f.service.WaitAnyInvoice(0, 20ms); }) == kErrTimeout);

    // No polling: only the notification can end this wait before its 60 s.
    const auto start = std::chrono::steady_clock::now();
    std::thread payer([&] {
        std::this_thread::sleep_for(50ms);
        f.Pay(b.payment_hash);
    });
    const InvoiceRecord paid = f.service.WaitAnyInvoice(0, 60s);
    payer.join();
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    CHECK(paid.label == "b");
    CHECK(paid.pay_index == 1);

    // Already paid: at once, even with no time to wait.
    CHECK(f.service.WaitAnyInvoice(0, 0ms).label == "b");
    CHECK(ErrorCode([&] { f.service.WaitAnyInvoice(1, 20ms); }) == kErrTimeout);
    f.Pay(a.payment_hash);
    CHECK(f.service.WaitAnyInvoice(1, 0ms).label == "a");

    std::thread stopper([&] {
        std::this_thread::sleep_for(50ms);
        f.service.Shutdown();
    });
    CHECK(ErrorCode([&] { f.service.WaitAnyInvoice(2, kWaitForever); }) == kErrShuttingDown);
    stopper.join();
    CHECK(ErrorCode([&] { f.service.WaitAnyInvoice(2, kWaitForever); }) == kErrShuttingDown);
}

TEST_CASE("invoice service: WaitInvoice returns on payment, times out, and refuses unknown or deleted labels")
{
    ServiceFixture f;
    const InvoiceRecord a = f.Create("a");
    f.Create("b");
    CHECK(ErrorCode([&] { f.service.WaitInvoice("nope", 1s); }) == kErrUnknownInvoice);
    CHECK(ErrorCode([&] { f.service.WaitInvoice("a", 20ms); }) == kErrTimeout);

    std::thread payer([&] {
        std::this_thread::sleep_for(50ms);
        f.Pay(a.payment_hash);
    });
    const InvoiceRecord paid = f.service.WaitInvoice("a", 60s);
    payer.join();
    CHECK(paid.Status(f.now.load()) == InvoiceStatus::PAID);

    std::thread deleter([&] {
        std::this_thread::sleep_for(50ms);
        f.service.Delete("b", InvoiceStatus::UNPAID);
    });
    CHECK(ErrorCode([&] { f.service.WaitInvoice("b", 60s); }) == kErrUnknownInvoice);
    deleter.join();
}

TEST_CASE("invoice service: WaitInvoice returns when the invoice expires")
{
    StoreFixture f;
    InvoiceService service{*f.env, *f.invoices, NodeKey(), Network::Regtest, [] {
                               return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                                std::chrono::system_clock::now().time_since_epoch())
                                                                .count());
                           }};
    service.Create(Msat{1}, "soon", "", 1, std::nullopt, 18);
    const auto start = std::chrono::steady_clock::now();
    const InvoiceRecord expired = service.WaitInvoice("soon", 60s);
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    CHECK(expired.Status(service.Now()) == InvoiceStatus::EXPIRED);
    // Expired already: at once.
    CHECK(service.WaitInvoice("soon", 0ms).label == "soon");
}

} // namespace sidebolt
