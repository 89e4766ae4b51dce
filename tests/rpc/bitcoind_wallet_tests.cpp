#include "rpc/bitcoind.h"

#include "primitives/tx.h"
#include "tests/rpc/fake_bitcoind.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <mutex>

using namespace sidebolt;
using namespace sidebolt::rpc;
using nlohmann::json;

namespace {

// Answers recorded from Bitcoin Core v31.99 on regtest (PSBT version 2): a 400000 sat payment to
// a 2-of-2 P2WSH at fee_rate 2.500 sat/vB with lockUnspents, then signed and finalized.
const std::string FUNDING_ADDRESS = "bcrt1qp4g7vac08n6cd9d6x9yfmlmus396872zm2newv4vewsleynnmt3q5fxasp";
const std::string FUNDING_SCRIPT = "00200d51e6770f3cf58695ba31489dff7c844ba3f942daa79732accba1fc9273dae2";
const std::string CORE_PSBT =
    "cHNidP8BAgQCAAAAAQMEAAAAAAEEAQEBBQECAfsEAgAAAAABAIMCAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/////wJSAP7///"
    "8CAPIFKgEAAAAWABSdprZsNbn5Qz5iMGuLrPMWLLUBnQAAAAAAAAAAJmokqiGp7eL2HD9x0d79P6mZ36NpU3VcaQaJeZlitIvr2DaXToz5AQAAAAEB"
    "HwDyBSoBAAAAFgAUnaa2bDW5+UM+YjBri6zzFiy1AZ0iBgOOjVQt4BQDzehB3lYHfhcNk0hXS9Ync0/l6yRcxmQCTxhna9TNVAAAgAEAAIAAAACAAA"
    "AAAAAAAAABDiBnboXY9yAfeZQnnmfQTEf98PIQUxL8s3BI2pFHJTpB3QEPBAAAAAABEAT9////AAEDCIAaBgAAAAAAAQQiACANUeZ3Dzz1hpW6MUid"
    "/3yES6P5QtqnlzKsy6H8knPa4gABAwjj1f8pAQAAAAEEIlEgnMotJcqZq6zKAQzSggOhwbEotCcsdJnE4EY+R9H2wdIBBSBPBB6KwP4sqSfZy8WSQh"
    "ddUDijDK955Nl5sbyn44tonCEHTwQeisD+LKkn2cvFkkIXXVA4owyveeTZebG8p+OLaJwZAGdr1M1WAACAAQAAgAAAAIABAAAACQAAAAA=";
const std::string SIGNED_PSBT = "cHNidP8B...signed"; // opaque to the client: passed back as is
const std::string CORE_FINAL_HEX =
    "02000000000101676e85d8f7201f7994279e67d04c47fdf0f2105312fcb37048da9147253a41dd0000000000fdffffff02801a06000000000022"
    "00200d51e6770f3cf58695ba31489dff7c844ba3f942daa79732accba1fc9273dae2e3d5ff29010000002251209cca2d25ca99abacca010cd2"
    "8203a1c1b128b4272c7499c4e0463e47d1f6c1d20247304402201989a8325f2d356ac0fd53bc5e4500182075f692691169f4abcb37048197f2"
    "0302202d1383073024eb10b2ba37bb8a8cdf6c3784060e687c55162d8c31bb11c970170121038e8d542de01403cde841de56077e170d934857"
    "4bd627734fe5eb245cc664024f00000000";
const std::string CORE_INPUT_TXID = "dd413a254791da4870b3fc125310f2f0fd474cd0679e2794791f20f7d8856e67";

json CoreDecodedPsbt()
{
    return json::parse(R"({"global_xpubs": [], "tx_version": 2, "fallback_locktime": 0, "input_count": 1,
        "output_count": 2, "psbt_version": 2, "proprietary": [], "unknown": {},
        "inputs": [{"witness_utxo": {"amount": 50.0, "scriptPubKey": {"asm": "0 9da6b66c35b9f9433e62306b8bacf3162cb5019d",
            "hex": "00149da6b66c35b9f9433e62306b8bacf3162cb5019d", "type": "witness_v0_keyhash"}},
            "previous_txid": "dd413a254791da4870b3fc125310f2f0fd474cd0679e2794791f20f7d8856e67",
            "previous_vout": 0, "sequence": 4294967293}],
        "outputs": [{}, {}], "fee": 0.00000413})");
}

OutPoint CoreInput() { return OutPoint{HashFromHexRev(CORE_INPUT_TXID).value(), 0}; }

//! A scripted bitcoind: one answer (result, or {"error": {code, message}}) per method; records
//! every request with its target so tests check what the client sent and where.
class WalletNode
{
public:
    explicit WalletNode(std::optional<std::string> wallet = std::string{"funding"})
        : m_node{"u", "p", [this](const json& request, const std::string& path, httplib::Response& res) {
                     Answer(request, path, res);
                 }}
    {
        JsonRpcConfig config;
        config.port = m_node.Port();
        config.auth = PasswordAuth{"u", "p"};
        config.retry_budget = std::chrono::milliseconds{0};
        m_client = std::make_unique<JsonRpcClient>(config);
        m_bitcoind = std::make_unique<BitcoindClient>(*m_client, std::move(wallet));
    }

    BitcoindClient& Node() { return *m_bitcoind; }

    void Result(const std::string& method, json result)
    {
        std::lock_guard lock{m_mutex};
        m_answers[method] = json{{"result", std::move(result)}};
    }
    void Error(const std::string& method, int code, const std::string& message)
    {
        std::lock_guard lock{m_mutex};
        m_answers[method] = json{{"error", {{"code", code}, {"message", message}}}};
    }

    struct Request {
        std::string method;
        json params;
        std::string path;
    };
    std::vector<Request> Requests() const
    {
        std::lock_guard lock{m_mutex};
        return m_requests;
    }
    std::optional<Request> Last(const std::string& method) const
    {
        std::lock_guard lock{m_mutex};
        for (auto it = m_requests.rbegin(); it != m_requests.rend(); ++it) {
            if (it->method == method) return *it;
        }
        return std::nullopt;
    }

private:
    void Answer(const json& request, const std::string& path, httplib::Response& res)
    {
        std::lock_guard lock{m_mutex};
        const std::string method = request["method"];
        m_requests.push_back({method, request["params"], path});
        const auto it = m_answers.find(method);
        if (it == m_answers.end()) return test::ReplyError(res, request, -32601, "Method not found", 404);
        if (it->second.contains("error")) {
            return test::ReplyError(res, request, it->second["error"]["code"], it->second["error"]["message"]);
        }
        test::Reply(res, request, it->second["result"]);
    }

    mutable std::mutex m_mutex;
    std::map<std::string, json> m_answers;
    std::vector<Request> m_requests;
    test::FakeBitcoind m_node;
    std::unique_ptr<JsonRpcClient> m_client;
    std::unique_ptr<BitcoindClient> m_bitcoind;
};

//! Core's happy path for FundFromWallet.
void AnswerLikeCore(WalletNode& node)
{
    node.Result("walletcreatefundedpsbt", {{"psbt", CORE_PSBT}, {"fee", 0.00000413}, {"changepos", 1}});
    node.Result("walletprocesspsbt", {{"psbt", SIGNED_PSBT}, {"complete", true}, {"hex", CORE_FINAL_HEX}});
    node.Result("finalizepsbt", {{"hex", CORE_FINAL_HEX}, {"complete", true}});
    node.Result("decodepsbt", CoreDecodedPsbt());
    node.Result("lockunspent", true);
}

const std::vector<WalletOutput> FUNDING_OUTPUTS{{ParseHex(FUNDING_SCRIPT), Sat{400'000}}};

//! A finalized transaction whose only input has no witness (a P2PKH spend).
std::string LegacyInputTxHex()
{
    Transaction tx;
    tx.vin.push_back(TxIn{CoreInput(), ParseHex("47304402"), 0xfffffffd, {}});
    tx.vout.push_back(TxOut{400'000, ParseHex(FUNDING_SCRIPT)});
    return ToHex(SerializeTransaction(tx));
}

template <typename Fn>
RpcError CatchRpcError(Fn&& fn)
{
    try {
        fn();
    } catch (const RpcError& e) {
        return e;
    }
    FAIL("expected RpcError");
    return RpcError{0, ""};
}

} // namespace

TEST_CASE("bitcoind wallet: funding from Core's wallet, calls routed to /wallet/<name>")
{
    WalletNode node;
    AnswerLikeCore(node);

    const WalletFundedTx funded = node.Node().FundFromWallet(FUNDING_OUTPUTS, Network::Regtest, 2500);
    CHECK(ToHex(SerializeTransaction(funded.tx)) == CORE_FINAL_HEX);
    CHECK(funded.fee == Sat{413});
    CHECK(funded.change_pos == 1u);
    REQUIRE(funded.tx.vout.size() == 2);
    CHECK(funded.tx.vout[0].script_pubkey == ParseHex(FUNDING_SCRIPT));
    CHECK(funded.tx.vin.at(0).prevout == CoreInput());

    const auto create = node.Last("walletcreatefundedpsbt");
    REQUIRE(create);
    CHECK(create->path == "/wallet/funding");
    // inputs [], outputs [{address: "BTC"}], locktime 0, sat/vB with three decimals, coins locked.
    CHECK(create->params == json::parse(R"([[], [{")" + FUNDING_ADDRESS +
                                        R"(": "0.00400000"}], 0, {"fee_rate": "2.500", "lockUnspents": true}])"));
    CHECK(node.Last("walletprocesspsbt")->params == json::array({CORE_PSBT}));
    CHECK(node.Last("walletprocesspsbt")->path == "/wallet/funding");
    CHECK(node.Last("finalizepsbt")->params == json::array({SIGNED_PSBT}));
    // The coins stay locked for the open: nothing was unlocked.
    CHECK_FALSE(node.Last("lockunspent"));
}

TEST_CASE("bitcoind wallet: typed answers of the single calls")
{
    WalletNode node;
    AnswerLikeCore(node);
    node.Result("walletcreatefundedpsbt", {{"psbt", CORE_PSBT}, {"fee", 0.00000330}, {"changepos", -1}});
    node.Result("getnewaddress", FUNDING_ADDRESS);
    node.Result("getbalances", json::parse(R"({"mine": {"trusted": 148.9799685, "untrusted_pending": 0.0,
        "immature": 5000.0000315, "nonmempool": 0.0}, "lastprocessedblock": {"hash": ")" +
                                           std::string(64, '3') + R"(", "height": 103}})"));
    node.Result("listlockunspent", json::array({{{"txid", CORE_INPUT_TXID}, {"vout", 0}}}));

    const FundedPsbt funded = node.Node().CreateFundedPsbt(FUNDING_OUTPUTS, Network::Regtest, 1, false);
    CHECK(funded.psbt == CORE_PSBT);
    CHECK(funded.fee == Sat{330});
    CHECK_FALSE(funded.change_pos);
    CHECK(node.Last("walletcreatefundedpsbt")->params[3] == json{{"fee_rate", "0.001"}, {"lockUnspents", false}});

    const ProcessedPsbt processed = node.Node().ProcessPsbt(CORE_PSBT);
    CHECK(processed.psbt == SIGNED_PSBT);
    CHECK(processed.complete);
    CHECK(node.Node().FinalizePsbt(SIGNED_PSBT) == ParseHex(CORE_FINAL_HEX));
    CHECK(node.Last("finalizepsbt")->path == "/"); // needs no wallet

    CHECK(node.Node().PsbtInputs(CORE_PSBT) == std::vector<OutPoint>{CoreInput()});
    // Version 0 (Core before v31, the stand-in) carries the unsigned transaction instead.
    node.Result("decodepsbt", json::parse(R"({"tx": {"txid": ")" + std::string(64, '4') + R"(", "vin": [
        {"txid": ")" + CORE_INPUT_TXID + R"(", "vout": 0}, {"txid": ")" + std::string(64, '5') +
                                          R"(", "vout": 7}]}, "psbt_version": 0, "inputs": [{}, {}]})"));
    CHECK(node.Node().PsbtInputs(CORE_PSBT) ==
          std::vector<OutPoint>{CoreInput(), OutPoint{HashFromHexRev(std::string(64, '5')).value(), 7}});

    CHECK(node.Node().GetNewAddress() == FUNDING_ADDRESS);
    const WalletBalances balances = node.Node().GetWalletBalances();
    CHECK(balances.trusted == Sat{14'897'996'850});
    CHECK(balances.untrusted_pending == Sat{0});
    CHECK(balances.immature == Sat{500'000'003'150});

    CHECK(node.Node().ListLockUnspent() == std::vector<OutPoint>{CoreInput()});
    const std::vector<OutPoint> outpoints{CoreInput()};
    node.Node().LockUnspent(/*unlock=*/false, outpoints);
    CHECK(node.Last("lockunspent")->params ==
          json::parse(R"([false, [{"txid": ")" + CORE_INPUT_TXID + R"(", "vout": 0}]])"));
    CHECK(node.Last("lockunspent")->path == "/wallet/funding");
}

TEST_CASE("bitcoind wallet: without -bitcoin.wallet calls go to / (bitcoind's only wallet)")
{
    WalletNode node{std::nullopt};
    node.Result("getnewaddress", FUNDING_ADDRESS);
    CHECK_FALSE(node.Node().Wallet());
    CHECK(node.Node().GetNewAddress() == FUNDING_ADDRESS);
    CHECK(node.Last("getnewaddress")->path == "/");
}

TEST_CASE("bitcoind wallet: output forms")
{
    WalletNode node;
    AnswerLikeCore(node);
    // OP_RETURN with Core's push encoding becomes {"data": hex}; the amount is exact text.
    const std::vector<WalletOutput> outputs{{ParseHex(FUNDING_SCRIPT), Sat{2'100'000'000'000'000}},
                                            {ParseHex("6a0200ff"), Sat{0}},
                                            {ParseHex("6a00"), Sat{0}}};
    node.Node().CreateFundedPsbt(outputs, Network::Regtest, 1'234'567, true);
    CHECK(node.Last("walletcreatefundedpsbt")->params[1] ==
          json::parse(R"([{")" + FUNDING_ADDRESS + R"(": "21000000.00000000"}, {"data": "00ff"}, {"data": ""}])"));
    CHECK(node.Last("walletcreatefundedpsbt")->params[3]["fee_rate"] == "1234.567");

    // No address form: bare script, OP_RETURN not in Core's push form, OP_RETURN carrying value.
    for (const std::string_view script : {"51ae", "6a4c0100", "6a0100ff", "6a"}) {
        const std::vector<WalletOutput> bad{{ParseHex(script), Sat{0}}};
        CHECK_THROWS_AS(node.Node().CreateFundedPsbt(bad, Network::Regtest, 1000, true), std::invalid_argument);
    }
    const std::vector<WalletOutput> paid_data{{ParseHex("6a0200ff"), Sat{1}}};
    CHECK_THROWS_AS(node.Node().CreateFundedPsbt(paid_data, Network::Regtest, 1000, true), std::invalid_argument);
    // The address is made for the network sideboltd runs on.
    node.Node().CreateFundedPsbt(FUNDING_OUTPUTS, Network::Mainnet, 1000, true);
    CHECK(node.Last("walletcreatefundedpsbt")->params[1][0].begin().key().starts_with("bc1q"));
}

TEST_CASE("bitcoind wallet: bitcoind's refusals reach the caller with code and message")
{
    WalletNode node;
    AnswerLikeCore(node);

    SUBCASE("insufficient funds from the funding RPC (-4), nothing locked to undo")
    {
        node.Error("walletcreatefundedpsbt", RPC_WALLET_ERROR, "Insufficient funds");
        const RpcError e = CatchRpcError([&] { node.Node().FundFromWallet(FUNDING_OUTPUTS, Network::Regtest, 1000); });
        CHECK(e.Code() == RPC_WALLET_ERROR);
        CHECK(e.Message() == "Insufficient funds");
        CHECK_FALSE(node.Last("lockunspent"));
        CHECK_FALSE(node.Last("walletprocesspsbt"));
    }
    SUBCASE("insufficient funds as -6")
    {
        node.Error("walletcreatefundedpsbt", RPC_WALLET_INSUFFICIENT_FUNDS, "Insufficient funds");
        const RpcError e =
            CatchRpcError([&] { node.Node().CreateFundedPsbt(FUNDING_OUTPUTS, Network::Regtest, 1000, true); });
        CHECK(e.Code() == RPC_WALLET_INSUFFICIENT_FUNDS);
    }
    SUBCASE("no wallet loaded (-18)")
    {
        node.Error("walletcreatefundedpsbt", RPC_WALLET_NOT_FOUND,
                   "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. "
                   "(Note: A default wallet is no longer automatically created)");
        const RpcError e = CatchRpcError([&] { node.Node().FundFromWallet(FUNDING_OUTPUTS, Network::Regtest, 1000); });
        CHECK(e.Code() == RPC_WALLET_NOT_FOUND);
        CHECK(e.Message().starts_with("No wallet is loaded"));
    }
    SUBCASE("wallet not found (-18) and not specified (-19)")
    {
        node.Error("getbalances", RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded");
        CHECK(CatchRpcError([&] { node.Node().GetWalletBalances(); }).Code() == RPC_WALLET_NOT_FOUND);
        node.Error("getnewaddress", RPC_WALLET_NOT_SPECIFIED, "Multiple wallets are loaded.");
        CHECK(CatchRpcError([&] { node.Node().GetNewAddress(); }).Code() == RPC_WALLET_NOT_SPECIFIED);
    }
    SUBCASE("wallet locked (-13) while signing: the selected coins are unlocked again")
    {
        node.Error("walletprocesspsbt", RPC_WALLET_UNLOCK_NEEDED,
                   "Error: Please enter the wallet passphrase with walletpassphrase first.");
        const RpcError e = CatchRpcError([&] { node.Node().FundFromWallet(FUNDING_OUTPUTS, Network::Regtest, 1000); });
        CHECK(e.Code() == RPC_WALLET_UNLOCK_NEEDED);
        CHECK(e.Message() == "Error: Please enter the wallet passphrase with walletpassphrase first.");
        const auto unlock = node.Last("lockunspent");
        REQUIRE(unlock);
        CHECK(unlock->params == json::parse(R"([true, [{"txid": ")" + CORE_INPUT_TXID + R"(", "vout": 0}]])"));
        CHECK(unlock->path == "/wallet/funding");
    }
    SUBCASE("a failed unlock does not hide the original error")
    {
        node.Error("walletprocesspsbt", RPC_WALLET_UNLOCK_NEEDED, "locked");
        node.Error("lockunspent", RPC_INVALID_PARAMETER, "Invalid parameter, expected locked output");
        CHECK(CatchRpcError([&] { node.Node().FundFromWallet(FUNDING_OUTPUTS, Network::Regtest, 1000); }).Code() ==
              RPC_WALLET_UNLOCK_NEEDED);
    }
    SUBCASE("bad PSBT (-22)")
    {
        node.Error("finalizepsbt", RPC_DESERIALIZATION_ERROR, "TX decode failed invalid base64");
        const RpcError e = CatchRpcError([&] { node.Node().FinalizePsbt("not base64"); });
        CHECK(e.Code() == RPC_DESERIALIZATION_ERROR);
        CHECK(node.Last("finalizepsbt")->params == json::array({"not base64"}));
    }
    SUBCASE("lockunspent refusals (-8)")
    {
        const std::vector<OutPoint> outpoints{CoreInput()};
        for (const std::string message : {"Invalid parameter, unknown transaction",
                                          "Invalid parameter, expected unspent output",
                                          "Invalid parameter, output already locked"}) {
            node.Error("lockunspent", RPC_INVALID_PARAMETER, message);
            const RpcError e = CatchRpcError([&] { node.Node().LockUnspent(false, outpoints); });
            CHECK(e.Code() == RPC_INVALID_PARAMETER);
            CHECK(e.Message() == message);
        }
    }
}

TEST_CASE("bitcoind wallet: funding results we refuse unlock the coins")
{
    WalletNode node;
    AnswerLikeCore(node);

    SUBCASE("a non-segwit input: its txid could be malleated")
    {
        node.Result("finalizepsbt", {{"hex", LegacyInputTxHex()}, {"complete", true}});
        try {
            node.Node().FundFromWallet(FUNDING_OUTPUTS, Network::Regtest, 1000);
            FAIL("expected WalletFundingError");
        } catch (const WalletFundingError& e) {
            CHECK(e.GetKind() == WalletFundingError::Kind::NonSegwitInput);
            CHECK(std::string{e.what()}.find(CoreInput().ToString()) != std::string::npos);
        }
        REQUIRE(node.Last("lockunspent"));
        CHECK(node.Last("lockunspent")->params[0] == true);
    }
    SUBCASE("inputs the wallet cannot sign")
    {
        node.Result("walletprocesspsbt", {{"psbt", SIGNED_PSBT}, {"complete", false}});
        try {
            node.Node().FundFromWallet(FUNDING_OUTPUTS, Network::Regtest, 1000);
            FAIL("expected WalletFundingError");
        } catch (const WalletFundingError& e) {
            CHECK(e.GetKind() == WalletFundingError::Kind::NotFullySigned);
        }
        CHECK_FALSE(node.Last("finalizepsbt"));
        CHECK(node.Last("lockunspent")->params[0] == true);
    }
    SUBCASE("finalizepsbt still incomplete")
    {
        node.Result("finalizepsbt", {{"psbt", SIGNED_PSBT}, {"complete", false}});
        CHECK_FALSE(node.Node().FinalizePsbt(SIGNED_PSBT));
        CHECK_THROWS_AS(node.Node().FundFromWallet(FUNDING_OUTPUTS, Network::Regtest, 1000), WalletFundingError);
        CHECK(node.Last("lockunspent")->params[0] == true);
    }
}

TEST_CASE("bitcoind wallet: segwit-only inputs")
{
    Transaction tx = ParseTransaction(ParseHex(CORE_FINAL_HEX));
    CHECK_NOTHROW(RequireSegwitInputs(tx));
    tx.vin.push_back(TxIn{OutPoint{}, {}, 0, {}});
    CHECK_THROWS_AS(RequireSegwitInputs(tx), WalletFundingError);
}

TEST_CASE("bitcoind wallet: malformed answers are BadResponse")
{
    WalletNode node;
    const auto bad_response = [](auto&& fn) {
        try {
            fn();
            FAIL("expected RpcTransportError");
        } catch (const RpcTransportError& e) {
            CHECK(e.Kind() == TransportErrorKind::BadResponse);
        }
    };
    node.Result("walletcreatefundedpsbt", {{"psbt", CORE_PSBT}, {"fee", -0.1}, {"changepos", 0}});
    bad_response([&] { node.Node().CreateFundedPsbt(FUNDING_OUTPUTS, Network::Regtest, 1000, true); });
    node.Result("walletcreatefundedpsbt", {{"psbt", CORE_PSBT}, {"fee", 0.0001}, {"changepos", 2}});
    bad_response([&] { node.Node().CreateFundedPsbt(FUNDING_OUTPUTS, Network::Regtest, 1000, true); });
    node.Result("finalizepsbt", {{"complete", true}});
    bad_response([&] { node.Node().FinalizePsbt(SIGNED_PSBT); });
    node.Result("finalizepsbt", {{"complete", true}, {"hex", "zz"}});
    bad_response([&] { node.Node().FinalizePsbt(SIGNED_PSBT); });
    node.Result("lockunspent", false);
    bad_response([&] { node.Node().LockUnspent(true, std::vector<OutPoint>{CoreInput()}); });
    node.Result("listlockunspent", json::array({{{"txid", "xyz"}, {"vout", 0}}}));
    bad_response([&] { node.Node().ListLockUnspent(); });
    node.Result("getbalances", {{"mine", {{"trusted", 1.0}}}});
    bad_response([&] { node.Node().GetWalletBalances(); });
    node.Result("decodepsbt", {{"inputs", {{{"previous_txid", CORE_INPUT_TXID}, {"previous_vout", -1}}}}});
    bad_response([&] { node.Node().PsbtInputs(CORE_PSBT); });
}
