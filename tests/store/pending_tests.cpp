// A durable Env's commits wait in memory until a checkpoint applies them to LMDB: every read
// (Get, Exists, cursors in both directions, prefix scans) sees them as if LMDB had them, each
// transaction keeps the snapshot it began with, and LMDB's file is not written in between.

#include "store/codec.h"
#include "store/env.h"
#include "tests/test_util.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::store;
using sidebolt::test::ScratchDir;

namespace {

using Model = std::map<Bytes, Bytes>;

EnvOptions Options(bool durable, uint64_t checkpoint_commits)
{
    EnvOptions options;
    options.initial_map_size = size_t{1} << 20;
    options.durable = durable;
    options.checkpoint_commits = checkpoint_commits;
    return options;
}

Bytes Key(uint32_t n)
{
    // Short keys and their extensions, so that prefixes and LMDB's "a prefix sorts first" count.
    std::string text = "k" + std::to_string(n % 40);
    if (n % 3 == 0) text += "x";
    return Bytes(text.begin(), text.end());
}

std::vector<std::pair<Bytes, Bytes>> Forward(const Txn& txn, const Db& db)
{
    std::vector<std::pair<Bytes, Bytes>> out;
    Cursor cursor = txn.OpenCursor(db);
    for (bool ok = cursor.First(); ok; ok = cursor.Next()) {
        out.emplace_back(Bytes(cursor.Key().begin(), cursor.Key().end()), Bytes(cursor.Value().begin(), cursor.Value().end()));
    }
    return out;
}

std::vector<std::pair<Bytes, Bytes>> Backward(const Txn& txn, const Db& db)
{
    std::vector<std::pair<Bytes, Bytes>> out;
    Cursor cursor = txn.OpenCursor(db);
    for (bool ok = cursor.Last(); ok; ok = cursor.Prev()) {
        out.emplace_back(Bytes(cursor.Key().begin(), cursor.Key().end()), Bytes(cursor.Value().begin(), cursor.Value().end()));
    }
    std::reverse(out.begin(), out.end());
    return out;
}

//! Everything a transaction can read agrees with the model.
void CheckReads(const Txn& txn, const Db& db, const Model& model, std::mt19937& rng)
{
    const std::vector<std::pair<Bytes, Bytes>> expected(model.begin(), model.end());
    REQUIRE(Forward(txn, db) == expected);
    REQUIRE(Backward(txn, db) == expected);
    for (uint32_t n = 0; n < 40; ++n) {
        const Bytes key = Key(n);
        const auto it = model.find(key);
        const auto got = txn.Get(db, key);
        REQUIRE(got.has_value() == (it != model.end()));
        if (got) REQUIRE(*got == it->second);
        REQUIRE(txn.Exists(db, key) == got.has_value());
    }
    // Seek, then a step either way, from keys present and absent.
    for (int i = 0; i < 10; ++i) {
        const Bytes from = Key(static_cast<uint32_t>(rng()));
        Cursor cursor = txn.OpenCursor(db);
        const auto at = model.lower_bound(from);
        REQUIRE(cursor.Seek(from) == (at != model.end()));
        if (at == model.end()) continue;
        REQUIRE(Bytes(cursor.Key().begin(), cursor.Key().end()) == at->first);
        if (rng() % 2) {
            const auto next = std::next(at);
            REQUIRE(cursor.Next() == (next != model.end()));
            if (next != model.end()) REQUIRE(Bytes(cursor.Key().begin(), cursor.Key().end()) == next->first);
        } else {
            REQUIRE(cursor.Prev() == (at != model.begin()));
            if (at != model.begin()) REQUIRE(Bytes(cursor.Key().begin(), cursor.Key().end()) == std::prev(at)->first);
        }
    }
    // A prefix scan sees what the model has under the prefix.
    const Bytes prefix{'k', '1'};
    std::vector<Bytes> scanned;
    txn.ForEachPrefix(db, prefix, [&](ByteSpan key, ByteSpan) {
        scanned.emplace_back(key.begin(), key.end());
        return true;
    });
    std::vector<Bytes> under;
    for (const auto& [key, value] : model) {
        if (key.size() >= 2 && std::equal(prefix.begin(), prefix.end(), key.begin())) under.push_back(key);
    }
    REQUIRE(scanned == under);
}

//! Random transactions of puts and deletes, some aborted, checkpoints now and then; the reads
//! are checked inside each transaction (its own changes) and after it.
void RunModel(bool durable, uint32_t seed, uint64_t checkpoint_commits = 7)
{
    ScratchDir dir;
    Env env{dir.Path() / "db", Options(durable, checkpoint_commits)};
    const Db db = env.OpenDb("things");
    const Db other = env.OpenDb("other");
    std::mt19937 rng{seed};
    Model model;
    for (int round = 0; round < 120; ++round) {
        Model next = model;
        const bool abort = rng() % 5 == 0;
        {
            WriteTxn txn = env.BeginWrite();
            const int ops = 1 + static_cast<int>(rng() % 6);
            for (int i = 0; i < ops; ++i) {
                const Bytes key = Key(static_cast<uint32_t>(rng()));
                if (rng() % 3 == 0) {
                    REQUIRE(txn.Delete(db, key) == (next.erase(key) == 1));
                } else {
                    const Bytes value(1 + rng() % 300, static_cast<uint8_t>(rng()));
                    txn.Put(db, key, value);
                    next[key] = value;
                }
                // The same keys in another Db must not show through.
                txn.Put(other, key, Bytes{0xee});
            }
            CheckReads(txn, db, next, rng);
            if (!abort) txn.Commit();
        }
        if (!abort) model = std::move(next);
        CheckReads(env.BeginRead(), db, model, rng);
        if (checkpoint_commits < 100 && rng() % 17 == 0) CHECK(env.Checkpoint());
    }
}

std::string FileBytes(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

} // namespace

TEST_CASE("pending commits: every read sees them as LMDB would, before and after checkpoints")
{
    for (uint32_t seed = 1; seed <= 6; ++seed) {
        CAPTURE(seed);
        RunModel(true, seed);
    }
}

TEST_CASE("pending commits: reads through a hundred and more of them, each passing by those without its key")
{
    // Each commit's filter and Db list let a read skip it: one that skipped a commit holding
    // the key, or the Db, would read an older value here.
    for (uint32_t seed = 7; seed <= 8; ++seed) {
        CAPTURE(seed);
        RunModel(true, seed, 1000);
    }
}

TEST_CASE("pending commits: the same reads without a commit log (LMDB's own cursor), for reference")
{
    for (uint32_t seed = 1; seed <= 2; ++seed) {
        CAPTURE(seed);
        RunModel(false, seed);
    }
}

TEST_CASE("pending commits: a transaction keeps the snapshot it began with, across commits and checkpoints")
{
    ScratchDir dir;
    Env env{dir.Path() / "db", Options(true, 1000)};
    const Db db = env.OpenDb("things");
    env.Write([&](WriteTxn& txn) { txn.Put(db, AsBytes("a"), AsBytes("1")); });
    const ReadTxn before = env.BeginRead();
    env.Write([&](WriteTxn& txn) {
        txn.Put(db, AsBytes("a"), AsBytes("2"));
        txn.Put(db, AsBytes("b"), AsBytes("2"));
    });
    const ReadTxn between = env.BeginRead();
    REQUIRE(env.Checkpoint());
    env.Write([&](WriteTxn& txn) { txn.Delete(db, AsBytes("a")); });

    CHECK(before.Get(db, AsBytes("a")) == Bytes{'1'});
    CHECK_FALSE(before.Exists(db, AsBytes("b")));
    CHECK(between.Get(db, AsBytes("a")) == Bytes{'2'});
    CHECK(between.Get(db, AsBytes("b")) == Bytes{'2'});
    const ReadTxn after = env.BeginRead();
    CHECK_FALSE(after.Exists(db, AsBytes("a")));
    CHECK(after.Get(db, AsBytes("b")) == Bytes{'2'});
}

TEST_CASE("pending commits: LMDB's file is written at checkpoints only")
{
    ScratchDir dir;
    const auto path = dir.Path() / "db";
    Env env{path, Options(true, 1000)};
    const Db db = env.OpenDb("things");
    REQUIRE(env.Checkpoint());
    const std::string at_checkpoint = FileBytes(path / "data.mdb");
    const uint64_t syncs = env.Syncs();
    for (int i = 0; i < 20; ++i) {
        env.Write([&](WriteTxn& txn) { txn.Put(db, AsBytes("key" + std::to_string(i)), Bytes(3000, static_cast<uint8_t>(i))); });
    }
    // One sync a commit, the log's, and not a byte of LMDB's.
    CHECK(env.Syncs() - syncs == 20);
    CHECK(FileBytes(path / "data.mdb") == at_checkpoint);
    REQUIRE(env.Checkpoint());
    CHECK(FileBytes(path / "data.mdb") != at_checkpoint);
    const ReadTxn txn = env.BeginRead();
    for (int i = 0; i < 20; ++i) CHECK(txn.Get(db, AsBytes("key" + std::to_string(i))) == Bytes(3000, static_cast<uint8_t>(i)));
}

TEST_CASE("pending commits: a key LMDB could not take is refused at Put, not at the checkpoint")
{
    ScratchDir dir;
    Env env{dir.Path() / "db", Options(true, 1000)};
    const Db db = env.OpenDb("things");
    WriteTxn txn = env.BeginWrite();
    CHECK_THROWS_AS(txn.Put(db, Bytes{}, AsBytes("v")), StoreError);
    WriteTxn again = env.BeginWrite();
    CHECK_THROWS_AS(again.Put(db, Bytes(600, 'k'), AsBytes("v")), StoreError);
    // As with LMDB's own refusal, the transaction is over.
    CHECK_THROWS_AS(again.Put(db, Bytes(100, 'k'), AsBytes("v")), StoreError);
    env.Write([&](WriteTxn& ok) { ok.Put(db, Bytes(100, 'k'), AsBytes("v")); });
    CHECK(env.Checkpoint());
    CHECK(env.BeginRead().Get(db, Bytes(100, 'k')) == Bytes{'v'});
}

TEST_CASE("pending commits: readers on other threads see whole commits while checkpoints move them into LMDB")
{
    ScratchDir dir;
    // A checkpoint every 5 commits: many of them happen under the readers.
    Env env{dir.Path() / "db", Options(true, 5)};
    const Db db = env.OpenDb("things");
    const auto encode = [](uint32_t n) { return Bytes{static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)}; };
    env.Write([&](WriteTxn& txn) {
        txn.Put(db, AsBytes("a"), encode(0));
        txn.Put(db, AsBytes("b"), encode(0));
    });
    std::atomic<bool> done{false};
    std::atomic<int> torn{0};
    std::atomic<int> reads{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
        readers.emplace_back([&] {
            while (!done.load()) {
                const ReadTxn txn = env.BeginRead();
                const auto a = txn.Get(db, AsBytes("a"));
                const auto b = txn.Get(db, AsBytes("b"));
                std::vector<Bytes> scanned;
                txn.ForEachPrefix(db, {}, [&](ByteSpan, ByteSpan value) {
                    scanned.emplace_back(value.begin(), value.end());
                    return true;
                });
                if (!a || a != b || scanned != std::vector<Bytes>{*a, *b}) ++torn;
                ++reads;
            }
        });
    }
    for (uint32_t n = 1; n <= 300; ++n) {
        env.Write([&](WriteTxn& txn) {
            txn.Put(db, AsBytes("a"), encode(n));
            txn.Put(db, AsBytes("b"), encode(n));
        });
    }
    done = true;
    for (auto& t : readers) t.join();
    CHECK(torn.load() == 0);
    CHECK(reads.load() > 0);
    CHECK(env.Checkpoints() >= 300 / 5);
}
