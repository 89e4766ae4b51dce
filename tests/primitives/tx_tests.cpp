#include "primitives/tx.h"
#include "tests/test_util.h"
#include "util/hex.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace sidebolt;

namespace {
const nlohmann::json& Vectors()
{
    static const nlohmann::json vectors = test::ReadJsonVectors("chain/tx.json");
    return vectors;
}

Bytes BlockBytes(const BlockHeader& header, const std::vector<Transaction>& txs)
{
    ByteWriter w;
    w.Raw(header.Serialize()).CompactSize(txs.size());
    for (const Transaction& tx : txs) SerializeTransaction(w, tx);
    return w.Release();
}
} // namespace

TEST_CASE("known transactions round-trip with their txid, wtxid, size and weight")
{
    for (const auto& v : Vectors()["transactions"]) {
        CAPTURE(v["name"].get<std::string>());
        const Bytes raw = ParseHex(v["hex"].get<std::string>());
        const Transaction tx = ParseTransaction(raw);
        CHECK(SerializeTransaction(tx) == raw);
        CHECK(HashToHexRev(tx.GetTxid()) == v["txid"].get<std::string>());
        CHECK(HashToHexRev(tx.GetWtxid()) == v["wtxid"].get<std::string>());
        CHECK(SerializeTransaction(tx, TxWitness::EXCLUDE).size() == v["stripped_size"].get<size_t>());
        CHECK(tx.HasWitness() == (v["size"].get<size_t>() != v["stripped_size"].get<size_t>()));
        CHECK(tx.GetWeight() == v["weight"].get<size_t>());
        CHECK(tx.GetVsize() == v["vsize"].get<size_t>());
        CHECK(TryParseTransaction(raw) == tx);
    }
}

TEST_CASE("every malformed transaction is rejected with the matching reason")
{
    for (const auto& v : Vectors()["invalid"]) {
        const std::string name = v["name"].get<std::string>();
        CAPTURE(name);
        const Bytes raw = ParseHex(v["hex"].get<std::string>());
        CHECK_FALSE(TryParseTransaction(raw));
        try {
            ParseTransaction(raw);
            FAIL("accepted: " << name);
        } catch (const DeserializeError& e) {
            CHECK_MESSAGE(std::string(e.what()).find(v["error"].get<std::string>()) != std::string::npos, e.what());
        }
    }
}

TEST_CASE("edge-case transactions parse and re-serialize byte for byte")
{
    for (const auto& v : Vectors()["valid_edge_cases"]) {
        CAPTURE(v["name"].get<std::string>());
        const Bytes raw = ParseHex(v["hex"].get<std::string>());
        CHECK(SerializeTransaction(ParseTransaction(raw)) == raw);
    }
}

TEST_CASE("a transaction built in code round-trips with and without witness")
{
    Transaction tx;
    tx.version = 2;
    tx.locktime = 500000;
    TxIn in;
    in.prevout = {*HashFromHexRev("8984484a580b825b9972d7adb15050b3ab624ccd731946b3eeddb92f4e7ef6be"), 7};
    in.sequence = 0x80000000;
    tx.vin.push_back(in);
    tx.vout.push_back({12345, ParseHex("0014ccf1af2f2aabee14bb40fa3851ab2301de843110")});
    const Bytes legacy = SerializeTransaction(tx);
    CHECK_FALSE(tx.HasWitness());
    CHECK(legacy == SerializeTransaction(tx, TxWitness::EXCLUDE));
    CHECK(ParseTransaction(legacy) == tx);
    CHECK(tx.GetTxid() == tx.GetWtxid());

    tx.vin[0].witness = {Bytes{}, ParseHex("aabb"), Bytes(300, 0x01)};
    const Bytes segwit = SerializeTransaction(tx);
    CHECK(segwit[4] == 0x00);
    CHECK(segwit[5] == 0x01);
    CHECK(ParseTransaction(segwit) == tx);
    CHECK(SerializeTransaction(tx, TxWitness::EXCLUDE) == legacy);
    CHECK(tx.GetTxid() == Sha256d(legacy));
    CHECK(tx.GetWtxid() == Sha256d(segwit));
    CHECK(tx.GetWeight() == 3 * legacy.size() + segwit.size());
}

TEST_CASE("hashes display in Core's reversed hex; outpoints print as txid:n")
{
    const std::string txid = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";
    const auto hash = HashFromHexRev(txid);
    REQUIRE(hash);
    CHECK((*hash)[0] == 0x3b);
    CHECK(HashToHexRev(*hash) == txid);
    CHECK(OutPoint{*hash, 3}.ToString() == txid + ":3");
    CHECK_FALSE(HashFromHexRev(txid.substr(2)));
    CHECK_FALSE(HashFromHexRev(txid + "00"));
    CHECK_FALSE(HashFromHexRev("zz" + txid.substr(2)));
    CHECK(OutPoint{*hash, 0} < OutPoint{*hash, 1});
}

TEST_CASE("known blocks parse with header hash, txids and merkle root")
{
    for (const auto& v : Vectors()["blocks"]) {
        CAPTURE(v["name"].get<std::string>());
        const Bytes raw = ParseHex(v["hex"].get<std::string>());
        const Block block = ParseBlock(raw);
        CHECK(HashToHexRev(block.header.GetHash()) == v["hash"].get<std::string>());
        const auto header = block.header.Serialize();
        CHECK(std::equal(header.begin(), header.end(), raw.begin()));
        if (v.contains("prev_block")) CHECK(HashToHexRev(block.header.prev_block) == v["prev_block"].get<std::string>());
        REQUIRE(block.txids.size() == v["txids"].size());
        for (size_t i = 0; i < block.txids.size(); ++i) {
            CHECK(HashToHexRev(block.txids[i]) == v["txids"][i].get<std::string>());
            CHECK(block.txids[i] == block.txs[i].GetTxid());
        }
        CHECK(CheckMerkleRoot(block));

        Bytes trailing = raw;
        trailing.push_back(0);
        CHECK_THROWS_AS(ParseBlock(trailing), DeserializeError);
        CHECK_THROWS_AS(ParseBlock(ByteSpan(raw).first(raw.size() - 1)), DeserializeError);
        CHECK_THROWS_AS(ParseBlock(ByteSpan(raw).first(79)), DeserializeError);
    }
}

TEST_CASE("block parsing hashes the non-witness ranges of segwit transactions")
{
    std::vector<Transaction> txs;
    std::vector<Hash256> txids;
    for (const auto& v : Vectors()["transactions"]) {
        const Transaction tx = ParseTransaction(ParseHex(v["hex"].get<std::string>()));
        // Unsigned and signed forms of a segwit spend share a txid; a block holds each once.
        if (std::find(txids.begin(), txids.end(), tx.GetTxid()) != txids.end()) continue;
        txs.push_back(tx);
        txids.push_back(tx.GetTxid());
    }
    BlockHeader header;
    header.version = 0x20000000;
    header.merkle_root = ComputeMerkleRoot(txids);
    const Block block = ParseBlock(BlockBytes(header, txs));
    CHECK(block.header == header);
    CHECK(block.txs == txs);
    CHECK(block.txids == txids);
    CHECK(CheckMerkleRoot(block));

    Block tampered = block;
    std::swap(tampered.txids[0], tampered.txids[1]);
    CHECK_FALSE(CheckMerkleRoot(tampered));
}

TEST_CASE("merkle root pairs the odd node with itself and flags duplicate siblings")
{
    const Hash256 a = Sha256(ParseHex("01"));
    const Hash256 b = Sha256(ParseHex("02"));
    const Hash256 c = Sha256(ParseHex("03"));
    const auto pair = [](const Hash256& l, const Hash256& r) { return Sha256d(Concat({l, r})); };
    CHECK(ComputeMerkleRoot({}) == Hash256{});
    CHECK(ComputeMerkleRoot({a}) == a);
    CHECK(ComputeMerkleRoot({a, b}) == pair(a, b));
    bool mutated = true;
    const Hash256 odd = ComputeMerkleRoot({a, b, c}, &mutated);
    CHECK(odd == pair(pair(a, b), pair(c, c)));
    CHECK_FALSE(mutated);
    // CVE-2012-2459: duplicating the last transaction gives the same root.
    CHECK(ComputeMerkleRoot({a, b, c, c}, &mutated) == odd);
    CHECK(mutated);
}
