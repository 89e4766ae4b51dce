#include "store/codec.h"
#include "store/env.h"
#include "tests/support/scratch_dir.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <stop_token>
#include <thread>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::store;

namespace {

EnvOptions TestOptions()
{
    EnvOptions options;
    options.durable = false;
    options.initial_map_size = size_t{1} << 20;
    return options;
}

std::string GetString(const Txn& txn, const Db& db, std::string_view key)
{
    const auto value = txn.Get(db, AsBytes(key));
    return value ? ToString(*value) : "<missing>";
}

} // namespace

TEST_CASE("store: put, get, exists, delete")
{
    test::ScratchDir dir;
    Env env{dir.Path() / "db", TestOptions()};
    const Db db = env.OpenDb("things");

    env.Write([&](WriteTxn& txn) {
        txn.Put(db, AsBytes("a"), AsBytes("alpha"));
        txn.Put(db, AsBytes("b"), AsBytes("beta"));
        txn.Put(db, AsBytes("a"), AsBytes("alpha2")); // overwrite
    });
    {
        const ReadTxn txn = env.BeginRead();
        CHECK(GetString(txn, db, "a") == "alpha2");
        CHECK(GetString(txn, db, "b") == "beta");
        CHECK(txn.Exists(db, AsBytes("b")));
        CHECK_FALSE(txn.Exists(db, AsBytes("c")));
        CHECK_FALSE(txn.Get(db, AsBytes("c")));
    }
    env.Write([&](WriteTxn& txn) {
        CHECK(txn.Delete(db, AsBytes("a")));
        CHECK_FALSE(txn.Delete(db, AsBytes("a")));
    });
    const ReadTxn txn = env.BeginRead();
    CHECK_FALSE(txn.Exists(db, AsBytes("a")));
    CHECK(txn.Exists(db, AsBytes("b")));

    // The same name gives the same database; another name is separate.
    const Db same = env.OpenDb("things");
    CHECK(GetString(txn, same, "b") == "beta");
    const Db other = env.OpenDb("others");
    CHECK_FALSE(env.BeginRead().Exists(other, AsBytes("b")));
}

TEST_CASE("store: directory is created private")
{
    test::ScratchDir dir;
    const auto path = dir.Path() / "nested" / "db";
    Env env{path, TestOptions()};
    struct stat st{};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("store: prefix iteration in big-endian key order")
{
    test::ScratchDir dir;
    Env env{dir.Path(), TestOptions()};
    const Db db = env.OpenDb("heights");

    // Inserted out of order; 256 > 255 > 1 only sorts right with big-endian encoding.
    const std::vector<uint64_t> heights{256, 1, 70000, 255, 2};
    env.Write([&](WriteTxn& txn) {
        for (const uint64_t h : heights) {
            txn.Put(db, KeyBuilder{}.U8('h').U64(h), EncodeU64(h * 10));
        }
        txn.Put(db, KeyBuilder{}.U8('g').U64(5), AsBytes("before"));
        txn.Put(db, KeyBuilder{}.U8('i').U64(0), AsBytes("after"));
    });

    std::vector<uint64_t> seen;
    const ReadTxn txn = env.BeginRead();
    txn.ForEachPrefix(db, KeyBuilder{}.U8('h'), [&](ByteSpan key, ByteSpan value) {
        const auto height = DecodeU64(key.subspan(1));
        REQUIRE(height);
        CHECK(DecodeU64(value) == *height * 10);
        seen.push_back(*height);
        return true;
    });
    CHECK(seen == std::vector<uint64_t>{1, 2, 255, 256, 70000});

    // Stopping early.
    seen.clear();
    txn.ForEachPrefix(db, KeyBuilder{}.U8('h'), [&](ByteSpan key, ByteSpan) {
        seen.push_back(*DecodeU64(key.subspan(1)));
        return seen.size() < 2;
    });
    CHECK(seen == std::vector<uint64_t>{1, 2});

    // Empty prefix range.
    int count = 0;
    txn.ForEachPrefix(db, KeyBuilder{}.U8('z'), [&](ByteSpan, ByteSpan) { return ++count, true; });
    CHECK(count == 0);

    // Cursor from the end: highest height under the prefix.
    Cursor cursor = txn.OpenCursor(db);
    REQUIRE(cursor.Seek(KeyBuilder{}.U8('i')));
    REQUIRE(cursor.Prev());
    CHECK(DecodeU64(cursor.Key().subspan(1)) == 70000u);
    REQUIRE(cursor.Last());
    CHECK(ToString(cursor.Value()) == "after");
    CHECK_FALSE(cursor.Next());
    CHECK_FALSE(cursor.Valid());
    CHECK_THROWS_AS(cursor.Key(), StoreError);
}

TEST_CASE("store: write transaction aborts unless committed")
{
    test::ScratchDir dir;
    Env env{dir.Path(), TestOptions()};
    const Db db = env.OpenDb("t");
    {
        WriteTxn txn = env.BeginWrite();
        txn.Put(db, AsBytes("k"), AsBytes("v"));
        CHECK(GetString(txn, db, "k") == "v"); // visible inside its own txn
    }
    CHECK_FALSE(env.BeginRead().Exists(db, AsBytes("k")));

    CHECK_THROWS_AS(env.Write([&](WriteTxn& txn) {
        txn.Put(db, AsBytes("k"), AsBytes("v"));
        throw std::runtime_error("caller failed");
    }),
                    std::runtime_error);
    CHECK_FALSE(env.BeginRead().Exists(db, AsBytes("k")));

    WriteTxn txn = env.BeginWrite();
    txn.Put(db, AsBytes("k"), AsBytes("v"));
    txn.Commit();
    CHECK_THROWS_AS(txn.Put(db, AsBytes("x"), AsBytes("y")), StoreError); // finished
    CHECK(env.BeginRead().Exists(db, AsBytes("k")));
}

TEST_CASE("store: Commits counts the write transactions that changed the store, not the aborted or empty ones")
{
    test::ScratchDir dir;
    Env env{dir.Path(), TestOptions()};
    const Db db = env.OpenDb("t");
    const uint64_t at_open = env.Commits();
    env.Write([&](WriteTxn& txn) { txn.Put(db, AsBytes("a"), AsBytes("1")); });
    CHECK(env.Commits() == at_open + 1);
    {
        WriteTxn aborted = env.BeginWrite();
        aborted.Put(db, AsBytes("b"), AsBytes("2"));
    }
    CHECK_THROWS_AS(env.Write([&](WriteTxn&) { throw std::runtime_error("caller failed"); }), std::runtime_error);
    CHECK(env.Commits() == at_open + 1);
    env.Write([](WriteTxn&) {}); // nothing changed: LMDB does not go to the disk
    CHECK(env.Commits() == at_open + 1);
    env.Write([&](WriteTxn& txn) { txn.Put(db, AsBytes("c"), AsBytes("3")); });
    CHECK(env.Commits() == at_open + 2);
    CHECK(env.Durable() == TestOptions().durable);
}

TEST_CASE("store: LMDB errors carry the operation and mdb_strerror text")
{
    test::ScratchDir dir;
    Env env{dir.Path(), TestOptions()};
    const Db db = env.OpenDb("t");
    const Bytes too_long_key(600, 'k'); // LMDB's default maximum key size is 511 bytes
    WriteTxn txn = env.BeginWrite();
    try {
        txn.Put(db, too_long_key, AsBytes("v"));
        FAIL("expected StoreError");
    } catch (const StoreError& e) {
        CHECK(e.Operation() == "put t");
        CHECK(e.Code() == MDB_BAD_VALSIZE);
        CHECK(std::string{e.what()}.find(mdb_strerror(MDB_BAD_VALSIZE)) != std::string::npos);
    }
}

TEST_CASE("store: reopen persists data, schema version and JSON metadata")
{
    test::ScratchDir dir;
    const nlohmann::json meta = {{"alias", "sidebolt"}, {"color", "#3399ff"}, {"n", 3}};
    {
        EnvOptions options = TestOptions();
        options.durable = true;
        Env env{dir.Path(), options};
        CHECK(env.SchemaVersion() == CURRENT_SCHEMA_VERSION);
        const Db db = env.OpenDb("config");
        env.Write([&](WriteTxn& txn) { txn.Put(db, AsBytes("node"), EncodeJson(meta)); });
    }
    Env env{dir.Path(), TestOptions()};
    CHECK(env.SchemaVersion() == CURRENT_SCHEMA_VERSION);
    const Db db = env.OpenDb("config");
    const auto stored = env.BeginRead().Get(db, AsBytes("node"));
    REQUIRE(stored);
    CHECK(DecodeJson(*stored) == meta);
    CHECK_THROWS_AS(DecodeJson(AsBytes("{not json")), StoreError);
}

TEST_CASE("store: newer schema refused, older needs a migration")
{
    test::ScratchDir dir;
    {
        EnvOptions options = TestOptions();
        options.schema_version = CURRENT_SCHEMA_VERSION + 1;
        Env env{dir.Path(), options};
    }
    try {
        Env env{dir.Path(), TestOptions()};
        FAIL("expected StoreError");
    } catch (const StoreError& e) {
        CHECK(std::string{e.what()}.find("newer") != std::string::npos);
    }

    // Older on disk than the code: refused without a migration, upgraded with one.
    EnvOptions newer = TestOptions();
    newer.schema_version = CURRENT_SCHEMA_VERSION + 2;
    CHECK_THROWS_AS(Env(dir.Path(), newer), StoreError);

    uint32_t migrated_from = 0;
    newer.migrate = [&](WriteTxn&, uint32_t stored) { migrated_from = stored; };
    {
        Env env{dir.Path(), newer};
        CHECK(env.SchemaVersion() == CURRENT_SCHEMA_VERSION + 2);
    }
    CHECK(migrated_from == CURRENT_SCHEMA_VERSION + 1);
}

TEST_CASE("store: map grows when full")
{
    test::ScratchDir dir;
    EnvOptions options = TestOptions();
    options.initial_map_size = size_t{64} << 10;
    Env env{dir.Path(), options};
    const Db db = env.OpenDb("big");
    const size_t initial = env.MapSize();

    // One transaction larger than the initial map, then many small ones.
    const Bytes value(1000, 0xab);
    env.Write([&](WriteTxn& txn) {
        for (uint32_t i = 0; i < 2000; ++i) txn.Put(db, EncodeU32(i), value);
    });
    for (uint32_t i = 2000; i < 2500; ++i) {
        env.Write([&](WriteTxn& txn) { txn.Put(db, EncodeU32(i), value); });
    }
    CHECK(env.MapSize() > initial);
    CHECK(env.MapSize() >= size_t{2500} * 1000);

    size_t count = 0;
    env.BeginRead().ForEachPrefix(db, {}, [&](ByteSpan, ByteSpan v) {
        CHECK(v.size() == value.size());
        return ++count, true;
    });
    CHECK(count == 2500);
}

TEST_CASE("store: map growth with concurrent readers and a size limit")
{
    test::ScratchDir dir;
    EnvOptions options = TestOptions();
    options.initial_map_size = size_t{64} << 10;
    options.max_map_size = size_t{4} << 20;
    Env env{dir.Path(), options};
    const Db db = env.OpenDb("d");

    // A jthread: whatever the writes below throw, the reader stops and joins as it unwinds, and
    // the test reports the exception instead of aborting.
    std::jthread reader([&](const std::stop_token& stop) {
        while (!stop.stop_requested()) {
            const ReadTxn txn = env.BeginRead();
            (void)txn.Exists(db, EncodeU32(1));
        }
    });
    // Enough to grow the map twice under the reader, and few enough that the limit cannot be
    // reached even if the reader, descheduled, pins an old snapshot all along: LMDB then reuses
    // no freed page, and 150 commits dirty at most a few pages each (1,024 fit in 4 MiB).
    const Bytes value(1000, 1);
    constexpr uint32_t kWrites = 150;
    for (uint32_t i = 0; i < kWrites; ++i) {
        env.Write([&](WriteTxn& txn) { txn.Put(db, EncodeU32(i), value); });
    }
    CHECK(env.MapSize() > options.initial_map_size);

    // Past the limit the write fails with a clear error instead of looping.
    try {
        env.Write([&](WriteTxn& txn) {
            for (uint32_t i = 0; i < 8000; ++i) txn.Put(db, EncodeU32(100000 + i), value);
        });
        FAIL("expected StoreError");
    } catch (const StoreError& e) {
        CHECK(std::string{e.what()}.find("limit") != std::string::npos);
    }
    reader.request_stop();
    reader.join();
    CHECK(env.BeginRead().Exists(db, EncodeU32(kWrites - 1)));
    CHECK_FALSE(env.BeginRead().Exists(db, EncodeU32(100000)));
}

TEST_CASE("store: a thread holding a read txn gets an error, not a deadlock, when growth is needed")
{
    test::ScratchDir dir;
    EnvOptions options = TestOptions();
    options.initial_map_size = size_t{64} << 10;
    Env env{dir.Path(), options};
    const Db db = env.OpenDb("d");
    const ReadTxn held = env.BeginRead();
    const Bytes value(1000, 1);
    CHECK_THROWS_AS(env.Write([&](WriteTxn& txn) {
        for (uint32_t i = 0; i < 500; ++i) txn.Put(db, EncodeU32(i), value);
    }),
                    StoreError);
}

TEST_CASE("store: one environment per directory")
{
    test::ScratchDir dir;
    Env env{dir.Path(), TestOptions()};
    try {
        Env second{dir.Path(), TestOptions()};
        FAIL("expected StoreError");
    } catch (const StoreError& e) {
        CHECK(std::string{e.what()}.find("already open") != std::string::npos);
    }
    // Other directories are independent.
    Env other{dir.Path() / "other", TestOptions()};
}

TEST_CASE("store: codecs")
{
    CHECK(EncodeU32(0x01020304) == Bytes{1, 2, 3, 4});
    CHECK(EncodeU64(0x0102030405060708) == Bytes{1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(DecodeU32(Bytes{1, 2, 3, 4}) == 0x01020304u);
    CHECK(DecodeU64(EncodeU64(UINT64_MAX)) == UINT64_MAX);
    CHECK_FALSE(DecodeU32(Bytes{1, 2, 3}));
    CHECK_FALSE(DecodeU64(Bytes{1, 2, 3, 4}));
    CHECK(KeyBuilder{}.U8(7).U32(1).Str("ab").Span().size() == 7);
    CHECK(std::move(KeyBuilder{}.U8(1).Raw(Bytes{9, 9})).Take() == Bytes{1, 9, 9});
    CHECK(EncodeU64(255) < EncodeU64(256)); // byte order matches numeric order
}
