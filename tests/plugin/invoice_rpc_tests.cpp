#include "plugin/invoice_rpc.h"

#include "node/interfaces.h"
#include "pay/invoice.h"
#include "tests/support/scratch_dir.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

namespace sidebolt {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr uint64_t kStart = 1'700'000'000;

PrivKey TestNodeKey() { return *PrivKey::FromBytes(Bytes(32, 0x24)); }

//! An RpcServer with the invoice RPCs over a scratch store, and a clock the test moves.
class InvoiceRpcFixture
{
    //! First, so that it goes last: the store lives in it.
    test::ScratchDir m_dir{"sidebolt-invoice-rpc"};

public:
    InvoiceRpcFixture()
    {
        store::EnvOptions options;
        options.durable = false;
        env = std::make_unique<store::Env>(m_dir.Path(), options);
        store = std::make_unique<InvoiceStore>(*env);
        service = std::make_unique<InvoiceService>(*env, *store, TestNodeKey(), Network::Regtest, [this] { return now.load(); });
        RegisterInvoiceRpcs(server, *service);
    }
    ~InvoiceRpcFixture()
    {
        service.reset();
        store.reset();
        env.reset();
    }

    json Call(const std::string& method, const json& params = json::array())
    {
        return server.Dispatch({{"method", method}, {"params", params}, {"id", 1}});
    }
    json Result(const std::string& method, const json& params = json::array())
    {
        const json response = Call(method, params);
        INFO(response.dump());
        REQUIRE(response["error"].is_null());
        return response["result"];
    }
    //! The error code of the call (0 when it succeeded), with the message in `message`.
    int ErrorCode(const std::string& method, const json& params, std::string* message = nullptr)
    {
        const json response = Call(method, params);
        if (response["error"].is_null()) return 0;
        if (message) *message = response["error"]["message"].get<std::string>();
        return response["error"]["code"].get<int>();
    }
    void Pay(const std::string& payment_hash_hex, uint64_t received_msat)
    {
        const auto hash = TryParseHexArray<32>(payment_hash_hex);
        REQUIRE(hash);
        env->Write([&](store::WriteTxn& txn) { REQUIRE(store->MarkPaid(txn, *hash, Msat{received_msat}, now.load())); });
        service->NotifyPaid(*hash);
    }

    std::atomic<uint64_t> now{kStart};
    std::unique_ptr<store::Env> env;
    std::unique_ptr<InvoiceStore> store;
    std::unique_ptr<InvoiceService> service;
    RpcServer server{"__cookie__:secret"};
};

} // namespace

TEST_CASE("invoice RPC: creates an invoice that decode reads back field by field")
{
    InvoiceRpcFixture f;
    const std::string preimage(64, 'a');
    const json created = f.Result("invoice", {"150000", "coffee", "one espresso", "600", preimage, "40"});
    CHECK(created["payment_hash"] == ToHex(Sha256(ParseHex(preimage))));
    CHECK(created["created_at"] == kStart);
    CHECK(created["expires_at"] == kStart + 600);
    CHECK(created["payment_secret"].get<std::string>().size() == 64);
    CHECK(created.size() == 5);

    const json decoded = f.Result("decode", json::array({created["bolt11"]}));
    CHECK(decoded["currency"] == "bcrt");
    CHECK(decoded["network"] == "regtest");
    CHECK(decoded["for_our_network"] == true);
    CHECK(decoded["amount_msat"] == 150000);
    CHECK(decoded["created_at"] == kStart);
    CHECK(decoded["expiry"] == 600);
    CHECK(decoded["payee"] == ToHex(TestNodeKey().GetPubKey().span()));
    CHECK(decoded["payment_hash"] == created["payment_hash"]);
    CHECK(decoded["payment_secret"] == created["payment_secret"]);
    CHECK(decoded["description"] == "one espresso");
    CHECK(decoded["min_final_cltv_expiry"] == 40);
    CHECK(decoded["features"] == "024100"); // bits 8, 14 and 17
    CHECK(decoded["valid"] == true);
    CHECK(decoded["expired"] == false);
    CHECK(decoded["signature"].get<std::string>().substr(0, 2) == "30");
    CHECK_FALSE(decoded.contains("fallbacks"));
    CHECK_FALSE(decoded.contains("description_hash"));

    // Defaults: an "any" amount, a week, cltv 18.
    const json any = f.Result("invoice", {"any", "tip", "thanks"});
    CHECK(any["expires_at"] == kStart + kDefaultInvoiceExpiry);
    const json any_decoded = f.Result("decode", json::array({any["bolt11"]}));
    CHECK_FALSE(any_decoded.contains("amount_msat"));
    CHECK(any_decoded["min_final_cltv_expiry"] == 18);
    // Numbers may come as JSON numbers too.
    CHECK(f.Result("decode", json::array({f.Result("invoice", {7, "n", "d", 60})["bolt11"]}))["amount_msat"] == 7);
}

TEST_CASE("invoice RPC: every refusal has its code and says why")
{
    InvoiceRpcFixture f;
    std::string message;
    for (const json& amount : {json("0"), json(-5), json("abc"), json("1.5"), json("2100000000000000001"), json(true)}) {
        CHECK(f.ErrorCode("invoice", {amount, "l", "d"}, &message) == RPC_INVALID_PARAMETER);
        CHECK(message.find("amount_msat") != std::string::npos);
    }
    CHECK(f.ErrorCode("invoice", {"any"}) == RPC_INVALID_PARAMS);
    CHECK(f.ErrorCode("invoice", {"1", "l", "d", "0"}, &message) == RPC_INVALID_PARAMETER);
    CHECK(message.find("expiry") != std::string::npos);
    CHECK(f.ErrorCode("invoice", {"1", "l", "d", "-1"}) == RPC_INVALID_PARAMETER);
    CHECK(f.ErrorCode("invoice", {"1", "l", "d", nullptr, "zz"}, &message) == RPC_INVALID_PARAMETER);
    CHECK(message.find("preimage") != std::string::npos);
    CHECK(f.ErrorCode("invoice", {"1", "l", "d", nullptr, std::string(62, 'a')}) == RPC_INVALID_PARAMETER);
    CHECK(f.ErrorCode("invoice", {"1", "l", "d", nullptr, nullptr, "5"}, &message) == RPC_INVALID_PARAMETER);
    CHECK(message.find("cltv") != std::string::npos);
    CHECK(f.ErrorCode("invoice", {"1", "", "d"}) == RPC_INVALID_PARAMETER);
    CHECK(f.ErrorCode("invoice", {"1", "l", std::string(640, 'x')}) == RPC_INVALID_PARAMETER);
    CHECK(f.Result("listinvoices")["invoices"].empty());

    f.Result("invoice", {"1", "dup", "d", nullptr, std::string(64, 'b')});
    CHECK(f.ErrorCode("invoice", {"1", "dup", "d"}, &message) == kErrDuplicateLabel);
    CHECK(message == "an invoice labelled 'dup' exists");
    CHECK(f.ErrorCode("invoice", {"1", "other", "d", nullptr, std::string(64, 'b')}) == kErrDuplicatePaymentHash);

    CHECK(f.ErrorCode("decode", {"lnbcrt1garbage"}, &message) == RPC_INVALID_PARAMETER);
    CHECK(message.rfind("invalid bolt11 invoice: ", 0) == 0);
    CHECK(f.ErrorCode("delinvoice", {"dup", "gone"}) == RPC_INVALID_PARAMETER);
    CHECK(f.ErrorCode("delinvoice", {"nope", "unpaid"}) == kErrUnknownInvoice);
    CHECK(f.ErrorCode("delinvoice", {"dup", "paid"}, &message) == kErrInvoiceStatusMismatch);
    CHECK(message == "invoice 'dup' is unpaid, not paid");
    CHECK(f.ErrorCode("waitinvoice", {"nope"}) == kErrUnknownInvoice);
    CHECK(f.ErrorCode("waitanyinvoice", {"-1"}) == RPC_INVALID_PARAMETER);
    CHECK(f.ErrorCode("waitanyinvoice", {"0", "-1"}) == RPC_INVALID_PARAMETER);
    CHECK(f.ErrorCode("waitanyinvoice", {"0", "0"}) == kErrTimeout);
}

TEST_CASE("invoice RPC: decode shows every field of a foreign invoice and names its network")
{
    InvoiceRpcFixture f;
    const PrivKey key = *PrivKey::FromBytes(Bytes(32, 0x31));
    Invoice invoice;
    invoice.hrp_currency = "bc";
    invoice.amount_msat = Msat{2'000'000'000};
    invoice.timestamp = 1'000;
    invoice.payment_hash = Sha256(Bytes{1});
    invoice.payment_secret = Sha256(Bytes{2});
    invoice.description_hash = Sha256(Bytes{3});
    invoice.expiry = 60;
    invoice.fallbacks = {FallbackAddress{0, Bytes(20, 0x75)}, FallbackAddress{kFallbackP2pkh, Bytes(20, 0x01)}};
    const RouteHintHop hop{key.GetPubKey(), ShortChannelId::FromU64((uint64_t{700'000} << 40) | (uint64_t{12} << 16) | 1), 1000, 200, 144};
    invoice.route_hints = {{hop}};
    invoice.metadata = Bytes{0xde, 0xad};
    const json decoded = f.Result("decode", json::array({EncodeInvoice(invoice, key)}));

    CHECK(decoded["currency"] == "bc");
    CHECK(decoded["network"] == "mainnet");
    CHECK(decoded["for_our_network"] == false);
    CHECK(decoded["expired"] == true);
    CHECK(decoded["payee"] == ToHex(key.GetPubKey().span()));
    CHECK(decoded["description_hash"] == ToHex(Sha256(Bytes{3})));
    CHECK_FALSE(decoded.contains("description"));
    CHECK(decoded["payment_metadata"] == "dead");
    CHECK(decoded["features"] == "");
    REQUIRE(decoded["fallbacks"].size() == 2);
    CHECK(decoded["fallbacks"][0]["type"] == "P2WPKH");
    CHECK(decoded["fallbacks"][0]["hex"] == "0014" + ToHex(Bytes(20, 0x75)));
    CHECK(decoded["fallbacks"][0]["addr"].get<std::string>().rfind("bc1q", 0) == 0);
    CHECK(decoded["fallbacks"][1]["type"] == "P2PKH");
    CHECK(decoded["fallbacks"][1]["addr"].get<std::string>().rfind("1", 0) == 0);
    REQUIRE(decoded["routes"].size() == 1);
    const json& route_hop = decoded["routes"][0][0];
    CHECK(route_hop["pubkey"] == ToHex(key.GetPubKey().span()));
    CHECK(route_hop["short_channel_id"] == "700000x12x1");
    CHECK(route_hop["fee_base_msat"] == 1000);
    CHECK(route_hop["fee_proportional_millionths"] == 200);
    CHECK(route_hop["cltv_expiry_delta"] == 144);
}

TEST_CASE("invoice RPC: listinvoices shows status, and the preimage only once paid")
{
    InvoiceRpcFixture f;
    const json coffee = f.Result("invoice", {"5000", "coffee", "espresso", "100"});
    f.now += 1;
    f.Result("invoice", {"any", "tip", "thanks", "100"});

    json list = f.Result("listinvoices")["invoices"];
    REQUIRE(list.size() == 2);
    CHECK(list[0]["label"] == "coffee");
    CHECK(list[0]["status"] == "unpaid");
    CHECK(list[0]["amount_msat"] == 5000);
    CHECK(list[0]["bolt11"] == coffee["bolt11"]);
    CHECK(list[0]["payment_hash"] == coffee["payment_hash"]);
    CHECK(list[0]["expires_at"] == kStart + 100);
    CHECK(list[0]["description"] == "espresso");
    for (const char* hidden : {"payment_preimage", "pay_index", "amount_received_msat", "paid_at"}) {
        CHECK_FALSE(list[0].contains(hidden));
    }
    CHECK(list[1]["label"] == "tip");
    CHECK_FALSE(list[1].contains("amount_msat"));

    f.Pay(coffee["payment_hash"], 5100);
    const json paid = f.Result("listinvoices", {"coffee"})["invoices"];
    REQUIRE(paid.size() == 1);
    CHECK(paid[0]["status"] == "paid");
    CHECK(paid[0]["pay_index"] == 1);
    CHECK(paid[0]["amount_received_msat"] == 5100);
    CHECK(paid[0]["paid_at"] == kStart + 1);
    CHECK(ToHex(Sha256(ParseHex(paid[0]["payment_preimage"].get<std::string>()))) == coffee["payment_hash"]);
    CHECK(f.Result("listinvoices", {"nope"})["invoices"].empty());

    f.now += 200;
    CHECK(f.Result("listinvoices", {"tip"})["invoices"][0]["status"] == "expired");
    CHECK(f.Result("listinvoices", {"coffee"})["invoices"][0]["status"] == "paid");
}

TEST_CASE("invoice RPC: waitanyinvoice, waitinvoice and delinvoice")
{
    InvoiceRpcFixture f;
    const json a = f.Result("invoice", {"1000", "a", "d", "100"});
    const json b = f.Result("invoice", {"1000", "b", "d", "100"});

    std::thread payer([&] {
        std::this_thread::sleep_for(50ms);
        f.Pay(b["payment_hash"], 1000);
    });
    const json any = f.Result("waitanyinvoice", {nullptr, "60"});
    payer.join();
    CHECK(any["label"] == "b");
    CHECK(any["pay_index"] == 1);
    CHECK(f.ErrorCode("waitanyinvoice", {"1", "0"}) == kErrTimeout);
    CHECK(f.Result("waitinvoice", {"b"})["status"] == "paid");

    // An unpaid invoice past its expiry: waitinvoice answers at once with its status.
    f.now += 101;
    CHECK(f.Result("waitinvoice", {"a"})["status"] == "expired");

    CHECK(f.ErrorCode("delinvoice", {"a", "unpaid"}) == kErrInvoiceStatusMismatch);
    const json deleted = f.Result("delinvoice", {"a", "expired"});
    CHECK(deleted["label"] == "a");
    CHECK(deleted["status"] == "expired");
    CHECK(f.Result("delinvoice", {"b", "paid"})["payment_preimage"].is_string());
    CHECK(f.Result("listinvoices")["invoices"].empty());
}

} // namespace sidebolt
