// BOLT 3 Appendix D: per-commitment secret generation and compact storage.
#include "channel/shachain.h"
#include "tests/channel/channel_test_util.h"
#include "tests/test_util.h"

#include <doctest/doctest.h>

using namespace sidebolt;
using namespace sidebolt::test;

namespace {
Secret<32> SecretFromHex(const nlohmann::json& j) { return Secret<32>(ParseHex(Str(j))); }
} // namespace

TEST_CASE("BOLT 3 Appendix D generation")
{
    const auto v = ReadJsonVectors("channel/bolt3_shachain.json");
    for (const auto& t : v["generation"]) {
        CAPTURE(Str(t["name"]));
        const Secret<32> secret = GeneratePerCommitmentSecret(SecretFromHex(t["seed"]), t["index"].get<uint64_t>());
        CHECK(ToHex(secret.span()) == Str(t["output"]));
    }
}

TEST_CASE("BOLT 3 Appendix D storage, including every failure case")
{
    const auto v = ReadJsonVectors("channel/bolt3_shachain.json");
    const Secret<32> seed(Bytes(32, 0xff));
    for (const auto& t : v["storage"]) {
        CAPTURE(Str(t["name"]));
        ShachainStore store;
        for (const auto& insert : t["inserts"]) {
            const uint64_t index = insert["index"].get<uint64_t>();
            CAPTURE(index);
            const auto result = store.Insert(index, SecretFromHex(insert["secret"]));
            if (Str(insert["output"]) == "OK") {
                REQUIRE(result == ShachainStore::InsertResult::OK);
            } else {
                CHECK(result == ShachainStore::InsertResult::MISMATCH);
                break;
            }
        }
        if (Str(t["name"]) == "insert_secret correct sequence") {
            // Every received secret is derivable, and nothing newer than the last one.
            for (uint64_t index = FIRST_COMMITMENT_INDEX - 7; index <= FIRST_COMMITMENT_INDEX; ++index) {
                const auto secret = store.Lookup(index);
                REQUIRE(secret);
                CHECK(*secret == GeneratePerCommitmentSecret(seed, index));
            }
            CHECK(!store.Lookup(FIRST_COMMITMENT_INDEX - 8));
        }
    }
}

TEST_CASE("shachain store keeps 49 entries, derives every old secret and round-trips")
{
    const Secret<32> seed(Bytes(32, 0x42));
    ShachainStore store;
    CHECK(!store.Lookup(FIRST_COMMITMENT_INDEX));
    constexpr uint64_t COUNT = 1000;
    for (uint64_t n = 0; n < COUNT; ++n) {
        const uint64_t index = CommitmentIndex(n);
        REQUIRE(store.Insert(index, GeneratePerCommitmentSecret(seed, index)) == ShachainStore::InsertResult::OK);
    }
    for (uint64_t n = 0; n < COUNT; n += 37) {
        const auto secret = store.Lookup(CommitmentIndex(n));
        REQUIRE(secret);
        CHECK(*secret == GeneratePerCommitmentSecret(seed, CommitmentIndex(n)));
    }
    // Out-of-order, repeated and skipped indices are refused.
    CHECK(store.Insert(CommitmentIndex(COUNT + 1), GeneratePerCommitmentSecret(seed, CommitmentIndex(COUNT + 1))) ==
          ShachainStore::InsertResult::WRONG_INDEX);
    CHECK(store.Insert(CommitmentIndex(COUNT - 1), GeneratePerCommitmentSecret(seed, CommitmentIndex(COUNT - 1))) ==
          ShachainStore::InsertResult::WRONG_INDEX);
    const Bytes encoded = store.Serialize();
    const auto decoded = ShachainStore::Deserialize(encoded);
    REQUIRE(decoded);
    CHECK(*decoded == store);
    CHECK(decoded->LastIndex() == CommitmentIndex(COUNT - 1));
    Bytes truncated = encoded;
    truncated.pop_back();
    CHECK(!ShachainStore::Deserialize(truncated));
    Bytes bad_version = encoded;
    bad_version[0] = 9;
    CHECK(!ShachainStore::Deserialize(bad_version));

    // A secret from another seed in bucket 0 cannot be checked yet; its parent exposes it.
    const Secret<32> other(Bytes(32, 0x43));
    REQUIRE(CommitmentIndex(COUNT) % 2 == 1);
    CHECK(store.Insert(CommitmentIndex(COUNT), GeneratePerCommitmentSecret(other, CommitmentIndex(COUNT))) ==
          ShachainStore::InsertResult::OK);
    CHECK(store.Insert(CommitmentIndex(COUNT + 1), GeneratePerCommitmentSecret(seed, CommitmentIndex(COUNT + 1))) ==
          ShachainStore::InsertResult::MISMATCH);
    CHECK(ShachainStore::Deserialize(ShachainStore{}.Serialize()));
}
