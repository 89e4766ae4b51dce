#include "rpc/bitcoind.h"
#include "rpc/bitcoind_auth.h"

#include "primitives/tx.h"
#include "tests/rpc/fake_bitcoind.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>

using namespace sidebolt;
using namespace sidebolt::rpc;
using nlohmann::json;

namespace {

Hash256 H(std::string_view display_hex) { return HashFromHexRev(display_hex).value(); }

std::string Repeat(char c) { return std::string(64, c); }

//! A fake node that answers from tests/vectors/rpc/node_answers.json[kind].
class ScriptedNode
{
public:
    explicit ScriptedNode(const std::string& kind)
        // Parentheses: braces around a json would wrap it in an array.
        : m_exchanges(test::ReadJsonVectors("rpc/node_answers.json").at(kind)),
          m_node{"u", "p",
                 [this](const json& request, const std::string&, httplib::Response& res) { Answer(request, res); }}
    {
        JsonRpcConfig config;
        config.port = m_node.Port();
        config.auth = PasswordAuth{"u", "p"};
        config.retry_budget = std::chrono::milliseconds{0};
        m_client = std::make_unique<JsonRpcClient>(config);
        m_bitcoind = std::make_unique<BitcoindClient>(*m_client);
    }

    BitcoindClient& Node() { return *m_bitcoind; }

private:
    void Answer(const json& request, httplib::Response& res) const
    {
        for (const json& exchange : m_exchanges) {
            if (exchange["method"] != request["method"] || exchange["params"] != request["params"]) continue;
            if (exchange.contains("error")) {
                return test::ReplyError(res, request, exchange["error"]["code"].get<int>(),
                                       exchange["error"]["message"].get<std::string>());
            }
            return test::Reply(res, request, exchange["result"]);
        }
        test::ReplyError(res, request, -32601, "no scripted answer for " + request.dump(), 404);
    }

    json m_exchanges;
    test::FakeBitcoind m_node;
    std::unique_ptr<JsonRpcClient> m_client;
    std::unique_ptr<BitcoindClient> m_bitcoind;
};

const std::string GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
const std::string TIP = "3b8e1e2d6f5e9b0a40d6c1c4e08dd2c6ec6a8b3fe2f3b3cfd05a34b1a2c1e0f9";

} // namespace

TEST_CASE("bitcoind: chain queries against Core")
{
    ScriptedNode scripted{"core"};
    BitcoindClient& node = scripted.Node();

    const BlockchainInfo info = node.GetBlockchainInfo();
    CHECK(info.chain == "regtest");
    CHECK(info.blocks == 101);
    CHECK(info.headers == 101);
    CHECK(info.best_block_hash == H(TIP));
    CHECK_FALSE(info.initial_block_download);
    CHECK(info.verification_progress == 1.0);

    CHECK(node.GetBlockCount() == 101);
    CHECK(node.GetBestBlockHash() == H(TIP));
    CHECK(node.GetBlockHash(0) == H(GENESIS));
    CHECK_FALSE(node.GetBlockHash(102)); // -8 out of range

    const auto genesis = node.GetBlockHeader(H(GENESIS));
    REQUIRE(genesis);
    CHECK(genesis->hash == H(GENESIS));
    CHECK(genesis->height == 0);
    CHECK_FALSE(genesis->prev_hash);
    CHECK(genesis->OnActiveChain());

    const auto stale = node.GetBlockHeader(H(Repeat('5')));
    REQUIRE(stale);
    CHECK(stale->confirmations == -1);
    CHECK_FALSE(stale->OnActiveChain());
    CHECK(stale->prev_hash == H(Repeat('6')));

    CHECK_FALSE(node.GetBlockHeader(H(Repeat('7')))); // -5 unknown block

    CHECK(node.GetBlockRaw(H(GENESIS)) == ParseHex("0100deadbeef"));
    CHECK(node.GetRawTransaction(H(Repeat('1'))) == ParseHex("02000000000000000000"));
    CHECK_FALSE(node.GetRawTransaction(H(Repeat('2'))));
}

TEST_CASE("bitcoind: broadcast results keyed on error codes")
{
    ScriptedNode scripted{"core"};
    BitcoindClient& node = scripted.Node();

    const SendResult accepted = node.SendRawTransaction(ParseHex("aa"));
    CHECK(accepted.status == SendResult::Status::Accepted);
    CHECK(accepted.Ok());

    const SendResult in_chain = node.SendRawTransaction(ParseHex("bb"));
    CHECK(in_chain.status == SendResult::Status::AlreadyInChain);
    CHECK(in_chain.Ok());
    CHECK(in_chain.code == RPC_VERIFY_ALREADY_IN_CHAIN);

    const SendResult rejected = node.SendRawTransaction(ParseHex("cc"));
    CHECK(rejected.status == SendResult::Status::Rejected);
    CHECK_FALSE(rejected.Ok());
    CHECK(rejected.code == RPC_VERIFY_REJECTED);
    CHECK(rejected.message == "non-BIP68-final");

    CHECK(node.SendRawTransaction(ParseHex("dd")).code == RPC_VERIFY_ERROR);

    const std::vector<Bytes> txs{ParseHex("aa"), ParseHex("cc")};
    const auto results = node.TestMempoolAccept(txs);
    REQUIRE(results.size() == 2);
    CHECK(results[0].txid == H(Repeat('1')));
    CHECK(results[0].allowed);
    CHECK(results[0].reject_reason.empty());
    CHECK_FALSE(results[1].allowed);
    CHECK(results[1].reject_reason == "non-BIP68-final");
}

TEST_CASE("bitcoind: a package is accepted only when every transaction of it is in the mempool")
{
    ScriptedNode scripted{"core"};
    BitcoindClient& node = scripted.Node();
    const std::vector<Bytes> both_in{ParseHex("aa"), ParseHex("bb")};
    CHECK(node.SubmitPackage(both_in).status == SendResult::Status::Accepted);
    // A per-transaction error, not a failed call: rejected with the policy code.
    const std::vector<Bytes> one_out{ParseHex("aa"), ParseHex("cc")};
    const SendResult refused = node.SubmitPackage(one_out);
    CHECK(refused.status == SendResult::Status::Rejected);
    CHECK(refused.code == RPC_VERIFY_REJECTED);
    CHECK(refused.message == "transaction failed; min relay fee not met, 1000 < 1100; bad-txns-inputs-missingorspent");
    // The call refused: its own code.
    const std::vector<Bytes> lone{ParseHex("dd")};
    CHECK(node.SubmitPackage(lone).code == RPC_VERIFY_ERROR);
    // The mempool floor: the larger of its minimum and the relay minimum.
    CHECK(node.MempoolMinFee() == 12000);
}

TEST_CASE("bitcoind: fees, outputs, mempool and ZMQ endpoints")
{
    ScriptedNode scripted{"core"};
    BitcoindClient& node = scripted.Node();

    CHECK(node.EstimateSmartFee(2) == 12345); // 0.00012345 BTC/kvB
    CHECK_FALSE(node.EstimateSmartFee(6));    // "errors": no estimate yet

    const auto out = node.GetTxOut(H(Repeat('1')), 1);
    REQUIRE(out);
    CHECK(out->value_sat == 29999890);
    CHECK(out->confirmations == 6);
    CHECK(out->best_block == H(TIP));
    CHECK(out->script_pubkey.size() == 34);
    CHECK_FALSE(out->coinbase);
    CHECK_FALSE(node.GetTxOut(H(Repeat('1')), 2)); // spent

    CHECK(node.GetRawMempool() == std::vector<Hash256>{H(Repeat('1')), H(Repeat('3'))});

    const auto zmq = node.GetZmqNotifications();
    REQUIRE(zmq.size() == 2);
    CHECK(zmq[0].type == "pubhashblock");
    CHECK(zmq[0].address == "tcp://127.0.0.1:28332");
    CHECK(zmq[1].type == "pubrawtx");
}

TEST_CASE("bitcoind: node version check")
{
    {
        ScriptedNode scripted{"core"};
        const NetworkInfo info = scripted.Node().RequireSupportedNode();
        CHECK(info.version == 270100);
        CHECK(info.subversion == "/Satoshi:27.1.0/");
    }
    {
        ScriptedNode scripted{"old_core"};
        const NetworkInfo info = scripted.Node().GetNetworkInfo();
        const auto problem = CheckNodeVersion(info);
        REQUIRE(problem);
        CHECK(problem->find("0.21") != std::string::npos);
        CHECK_THROWS_AS(scripted.Node().RequireSupportedNode(), std::runtime_error);
    }
    {
        // The stand-in reports bcoin's string version; its subversion tag is what counts.
        ScriptedNode scripted{"standin"};
        const NetworkInfo info = scripted.Node().RequireSupportedNode();
        CHECK(info.version == 0);
    }
}

TEST_CASE("bitcoind: stand-in answer shapes")
{
    ScriptedNode scripted{"standin"};
    BitcoindClient& node = scripted.Node();

    const BlockchainInfo info = node.GetBlockchainInfo();
    CHECK(info.blocks == 0);
    CHECK_FALSE(info.initial_block_download); // field absent

    const auto genesis = node.GetBlockHeader(H(GENESIS));
    REQUIRE(genesis);
    CHECK_FALSE(genesis->prev_hash); // null rather than absent
    CHECK_FALSE(node.EstimateSmartFee(2)); // feerate -1
}

TEST_CASE("bitcoind: malformed answers are BadResponse")
{
    test::FakeBitcoind fake{"u", "p", [](const json& request, const std::string&, httplib::Response& res) {
                                if (request["method"] == "getbestblockhash") return test::Reply(res, request, "xyz");
                                test::Reply(res, request, json{{"chain", "main"}}); // fields missing
                            }};
    JsonRpcConfig config;
    config.port = fake.Port();
    config.auth = PasswordAuth{"u", "p"};
    JsonRpcClient client{config};
    BitcoindClient node{client};
    try {
        node.GetBlockchainInfo();
        FAIL("expected RpcTransportError");
    } catch (const RpcTransportError& e) {
        CHECK(e.Kind() == TransportErrorKind::BadResponse);
        CHECK(std::string{e.what()}.find("blocks") != std::string::npos);
    }
    CHECK_THROWS_AS(node.GetBestBlockHash(), RpcTransportError);
}

TEST_CASE("bitcoind: amounts")
{
    CHECK(BtcToSat(0.29999890) == 29999890);
    CHECK(BtcToSat(21000000.0) == 2100000000000000);
    CHECK(BtcToSat(0.00000001) == 1);
    CHECK(BtcToSat(0.1 + 0.2) == 30000000);
}

TEST_CASE("bitcoind: default datadir, cookie path and port as bitcoin-cli finds them")
{
    const std::filesystem::path datadir{"/data/btc"};
    CHECK(BitcoindCookiePath(datadir, Network::Mainnet) == "/data/btc/.cookie");
    CHECK(BitcoindCookiePath(datadir, Network::Testnet) == "/data/btc/testnet3/.cookie");
    CHECK(BitcoindCookiePath(datadir, Network::Testnet4) == "/data/btc/testnet4/.cookie");
    CHECK(BitcoindCookiePath(datadir, Network::Signet) == "/data/btc/signet/.cookie");
    CHECK(BitcoindCookiePath(datadir, Network::Regtest) == "/data/btc/regtest/.cookie");

    CHECK(DefaultBitcoindRpcConfig(Network::Mainnet, datadir).port == 8332);
    CHECK(DefaultBitcoindRpcConfig(Network::Testnet, datadir).port == 18332);
    CHECK(DefaultBitcoindRpcConfig(Network::Testnet4, datadir).port == 48332);
    CHECK(DefaultBitcoindRpcConfig(Network::Signet, datadir).port == 38332);
    const JsonRpcConfig regtest = DefaultBitcoindRpcConfig(Network::Regtest, datadir);
    CHECK(regtest.port == 18443);
    CHECK(regtest.host == "127.0.0.1");
    CHECK(std::get<CookieAuth>(regtest.auth).path == "/data/btc/regtest/.cookie");

    if (const char* home = std::getenv("HOME"); home && *home) {
        CHECK(DefaultBitcoinDatadir() == std::filesystem::path{home} / ".bitcoin");
    }
}
