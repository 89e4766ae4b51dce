// The commit log: its encodings, and a durable Env recovering from a crash of the process and
// from the losses a crash of the machine can cause (LMDB's unsynced pages gone, its meta pages
// torn, the log's last record torn).
#include "store/codec.h"
#include "store/commit_log.h"
#include "store/env.h"
#include "tests/test_util.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace sidebolt;
using namespace sidebolt::store;
using sidebolt::test::ScratchDir;

namespace {

LoggedOp Put(std::string db, std::string key, std::string value)
{
    return LoggedOp{LoggedOp::Kind::PUT, std::move(db), Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end())};
}

LoggedOp Del(std::string db, std::string key)
{
    return LoggedOp{LoggedOp::Kind::DELETE, std::move(db), Bytes(key.begin(), key.end()), {}};
}

Bytes Concatenated(const std::vector<LogRecord>& records)
{
    Bytes out;
    for (const auto& record : records) Append(out, EncodeLogRecord(record));
    return out;
}

EnvOptions DurableOptions()
{
    EnvOptions options;
    options.initial_map_size = size_t{1} << 20;
    options.checkpoint_commits = 5;
    return options;
}

//! Checkpoints only when a test asks for one.
EnvOptions RareCheckpoints()
{
    EnvOptions options = DurableOptions();
    options.checkpoint_commits = 1000;
    return options;
}

//! Ends the process at once, as a crash does: no destructor runs, so the Env writes no
//! final checkpoint.
[[noreturn]] void Crash() { _exit(0); }

//! Runs `body`, which must end in Crash() with its Env open, in a child process. The child's
//! failures show as its exit status.
void InCrashingChild(const std::function<void()>& body)
{
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        try {
            body();
        } catch (...) {
            _exit(1);
        }
        _exit(2); // The body returned: its Env closed cleanly, so nothing crashed.
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
}

std::string Value(Env& env, const Db& db, std::string_view key)
{
    const auto value = env.BeginRead().Get(db, AsBytes(key));
    return value ? ToString(*value) : "<missing>";
}

void PutString(Env& env, const Db& db, std::string_view key, std::string_view value)
{
    env.Write([&](WriteTxn& txn) { txn.Put(db, AsBytes(key), AsBytes(value)); });
}

//! Writes key0..key{n-1}, deletes every third, in one transaction each.
void WriteNumbered(Env& env, const Db& db, int from, int to)
{
    for (int i = from; i < to; ++i) {
        PutString(env, db, "key" + std::to_string(i), "value" + std::to_string(i));
        if (i % 3 == 0) env.Write([&](WriteTxn& txn) { txn.Delete(db, AsBytes("key" + std::to_string(i))); });
    }
}

void CheckNumbered(Env& env, const Db& db, int from, int to)
{
    for (int i = from; i < to; ++i) {
        const std::string key = "key" + std::to_string(i);
        CHECK(Value(env, db, key) == (i % 3 == 0 ? "<missing>" : "value" + std::to_string(i)));
    }
}

Bytes ReadWholeFile(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void OverwriteFile(const std::filesystem::path& path, uint64_t offset, const Bytes& bytes)
{
    const int fd = open(path.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes.size()));
    close(fd);
}

} // namespace

TEST_CASE("commit log: a header round-trips and any damage is refused")
{
    const LogCheckpoint checkpoint{7, 1234, Bytes(8192, 0x5a)};
    const Bytes header = EncodeLogHeader(checkpoint);
    CHECK(DecodeLogHeader(header) == checkpoint);
    for (size_t at : {size_t{0}, size_t{5}, size_t{9}, size_t{17}, size_t{30}, header.size() - 1}) {
        Bytes damaged = header;
        damaged[at] ^= 0x01;
        CHECK_FALSE(DecodeLogHeader(damaged).has_value());
    }
    CHECK_FALSE(DecodeLogHeader(ByteSpan{header}.first(header.size() - 1)).has_value());
    CHECK_FALSE(DecodeLogHeader(Bytes(kLogSlotSize, 0)).has_value());
    CHECK_THROWS_AS(EncodeLogHeader(LogCheckpoint{1, 1, Bytes(2 * kLogMaxPageSize + 1, 0)}), StoreError);
}

TEST_CASE("commit log: records round-trip and end at the first torn, foreign or missing one")
{
    const std::vector<LogRecord> records{
        {3, 10, LogRecordKind::COMMIT, {Put("a", "k1", "v1"), Del("b", "k2"), Put("a", "", "")}},
        {3, 11, LogRecordKind::ABORT, {}},
        {3, 11, LogRecordKind::COMMIT, {Put("c", std::string(300, 'k'), std::string(70000, 'v'))}},
    };
    Bytes region = Concatenated(records);
    CHECK(DecodeLogRecords(region, 3) == records);
    CHECK(DecodeLogRecords(region, 4).empty());

    SUBCASE("a torn last record: the ones before it stand")
    {
        region.resize(region.size() - 1);
        CHECK(DecodeLogRecords(region, 3) == std::vector<LogRecord>(records.begin(), records.begin() + 2));
    }
    SUBCASE("a damaged record ends the log there")
    {
        region[EncodeLogRecord(records[0]).size() + 3] ^= 0x80;
        CHECK(DecodeLogRecords(region, 3) == std::vector<LogRecord>(records.begin(), records.begin() + 1));
    }
    SUBCASE("an older generation's record after the last one of this generation")
    {
        Bytes older = EncodeLogRecord(LogRecord{2, 12, LogRecordKind::COMMIT, {Put("a", "x", "y")}});
        Append(region, older);
        CHECK(DecodeLogRecords(region, 3) == records);
    }
    SUBCASE("zeros and noise are no records")
    {
        CHECK(DecodeLogRecords(Bytes(4096, 0), 0).empty());
        Bytes noise(4096);
        for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<uint8_t>(i * 151 + 7);
        CHECK(DecodeLogRecords(noise, 0).empty());
    }
}

TEST_CASE("commit log: appends that bypass the page cache leave the bytes the page cache's would")
{
    const ScratchDir dir;
    const auto direct_path = dir.Path() / "direct.log";
    const auto cached_path = dir.Path() / "cached.log";
    const LogCheckpoint first{1, 7, Bytes(100, 0x11)};
    std::optional<CommitLog> direct = CommitLog::Create(direct_path, first);
    std::optional<CommitLog> cached = CommitLog::Create(cached_path, first, LogWrites::PAGE_CACHE);
    CHECK_FALSE(cached->WritesDirect());
    // Where the file system offers direct I/O the log must use it.
    const int probe = open(direct_path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    if (probe >= 0) close(probe);
    const bool supported = probe >= 0;

    // Sizes that end mid-block, on a boundary, one past it, and span many blocks.
    const std::vector<size_t> sizes{1, 100, 4000, 4096 - 38, 4097, 9000, 70000, 3, 12000};
    uint64_t txnid = 0;
    std::vector<LogRecord> expected;
    const auto append_all = [&](uint64_t generation) {
        expected.clear();
        for (size_t size : sizes) {
            const std::vector<LoggedOp> ops{Put("db", "k" + std::to_string(txnid), std::string(size, static_cast<char>('a' + txnid % 26)))};
            ++txnid;
            direct->Append(txnid, LogRecordKind::COMMIT, ops);
            cached->Append(txnid, LogRecordKind::COMMIT, ops);
            expected.push_back(LogRecord{generation, txnid, LogRecordKind::COMMIT, ops});
        }
    };
    const auto same_contents = [&] {
        CHECK(direct->WritesDirect() == supported);
        REQUIRE(direct->RecordBytes() == cached->RecordBytes());
        const Bytes a = ReadWholeFile(direct_path);
        const Bytes b = ReadWholeFile(cached_path);
        const size_t end = static_cast<size_t>(kLogRecordsOffset + direct->RecordBytes());
        REQUIRE(a.size() >= end);
        REQUIRE(b.size() >= end);
        CHECK(std::equal(a.begin(), a.begin() + end, b.begin()));
        for (const auto& path : {direct_path, cached_path}) {
            const auto contents = CommitLog::Read(path);
            REQUIRE(contents);
            CHECK(contents->records == expected);
        }
    };
    append_all(1);
    same_contents();
    // A checkpoint starts the records again over the older generation's.
    const LogCheckpoint second{2, 9, Bytes(100, 0x22)};
    direct->Restart(second);
    cached->Restart(second);
    append_all(2);
    same_contents();
    // Reopened, the log goes on from its new checkpoint the same way.
    direct.reset();
    cached.reset();
    const LogCheckpoint third{3, 11, Bytes(100, 0x33)};
    direct.emplace(CommitLog::Resume(direct_path, third));
    cached.emplace(CommitLog::Resume(cached_path, third, LogWrites::PAGE_CACHE));
    append_all(3);
    same_contents();
}

namespace {
//! Exit statuses of the child that mounts a file system without direct I/O.
constexpr int kNoPrivateMount = 3;
constexpr int kRamfsTakesDirect = 4;

//! A mount namespace of our own, as root or through a user namespace mapping us to root in it.
bool EnterPrivateMountNamespace()
{
    if (unshare(CLONE_NEWNS) != 0) {
        const uid_t uid = getuid();
        const gid_t gid = getgid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return false;
        const auto write = [](const char* path, const std::string& text) {
            std::ofstream out(path);
            out << text;
            return static_cast<bool>(out.flush());
        };
        if (!write("/proc/self/setgroups", "deny") || !write("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
            !write("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
            return false;
        }
    }
    // Nothing mounted here reaches the parent's namespace.
    return mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}
} // namespace

TEST_CASE("commit log: a file system without direct I/O keeps the page cache, as durable")
{
    const ScratchDir dir;
    const auto mount_point = dir.Path() / "ramfs";
    std::filesystem::create_directory(mount_point);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // ramfs has no direct I/O: an O_DIRECT open there fails with EINVAL.
        if (!EnterPrivateMountNamespace() || mount("ramfs", mount_point.c_str(), "ramfs", 0, nullptr) != 0) _exit(kNoPrivateMount);
        const auto path = mount_point / "commit.log";
        const int probe = open(mount_point.c_str(), O_RDONLY | O_DIRECTORY);
        const int direct = openat(probe, "probe", O_RDWR | O_CREAT | O_DIRECT, 0600);
        if (direct >= 0) _exit(kRamfsTakesDirect);
        close(probe);
        try {
            std::optional<CommitLog> log = CommitLog::Create(path, LogCheckpoint{1, 7, Bytes(100, 0x11)});
            if (log->WritesDirect()) _exit(1);
            std::vector<LogRecord> expected;
            for (uint64_t txnid = 1; txnid <= 5; ++txnid) {
                const std::vector<LoggedOp> ops{Put("db", "k" + std::to_string(txnid), std::string(3000 * txnid, 'v'))};
                log->Append(txnid, LogRecordKind::COMMIT, ops);
                expected.push_back(LogRecord{1, txnid, LogRecordKind::COMMIT, ops});
            }
            log.reset();
            const auto contents = CommitLog::Read(path);
            _exit(contents && contents->records == expected ? 0 : 2);
        } catch (...) {
            _exit(1);
        }
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == kNoPrivateMount || WEXITSTATUS(status) == kRamfsTakesDirect) {
        const std::string why = WEXITSTATUS(status) == kNoPrivateMount ? "no private mount namespace here to mount a ramfs in"
                                                                        : "this kernel's ramfs takes direct I/O";
        MESSAGE("skipped: " << why);
        return;
    }
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("commit log: an ABORT cancels the latest COMMIT of its transaction only")
{
    const std::vector<LogRecord> records{
        {1, 5, LogRecordKind::COMMIT, {Put("a", "k", "first try")}},
        {1, 5, LogRecordKind::ABORT, {}},
        {1, 5, LogRecordKind::COMMIT, {Put("a", "k", "retried")}},
        {1, 6, LogRecordKind::COMMIT, {Put("a", "k", "six")}},
        {1, 7, LogRecordKind::COMMIT, {Put("a", "k", "seven")}},
        {1, 7, LogRecordKind::ABORT, {}},
        {1, 9, LogRecordKind::ABORT, {}},
    };
    const auto changes = CommittedChanges(records);
    REQUIRE(changes.size() == 2);
    CHECK(changes[0] == std::vector<LoggedOp>{Put("a", "k", "retried")});
    CHECK(changes[1] == std::vector<LoggedOp>{Put("a", "k", "six")});
}

TEST_CASE("commit log: a missing log is none, a log without an intact header is an error")
{
    ScratchDir dir;
    CHECK_FALSE(CommitLog::Read(dir.Path() / "commit.log").has_value());
    {
        std::ofstream out(dir.Path() / "commit.log", std::ios::binary);
        out << std::string(3 * kLogSlotSize, 'x');
    }
    CHECK_THROWS_AS(CommitLog::Read(dir.Path() / "commit.log"), StoreError);
}

TEST_CASE("commit log: a durable Env syncs once a commit and twice a checkpoint")
{
    ScratchDir dir;
    EnvOptions options = RareCheckpoints();
    Env env{dir.Path() / "db", options};
    const Db db = env.OpenDb("things");
    const uint64_t syncs = env.Syncs();
    PutString(env, db, "a", "1");
    CHECK(env.Syncs() == syncs + 1);
    env.Write([&](WriteTxn&) {});
    CHECK(env.Syncs() == syncs + 1);
    const uint64_t checkpoints = env.Checkpoints();
    env.Checkpoint();
    CHECK(env.Checkpoints() == checkpoints + 1);
    CHECK(env.Syncs() == syncs + 3);
}

TEST_CASE("commit log: each commit's log write and each checkpoint is timed")
{
    const auto total = [](const LatencyHistogram& histogram) { return LatencyHistogram::Total(histogram.Counts()); };
    ScratchDir dir;
    Env env{dir.Path() / "db", RareCheckpoints()};
    const Db db = env.OpenDb("things");
    const uint64_t writes = total(env.CommitWriteTimes());
    const uint64_t checkpoints = total(env.CheckpointTimes());
    PutString(env, db, "a", "1");
    PutString(env, db, "b", "2");
    // Nothing to write, nothing timed.
    env.Write([&](WriteTxn&) {});
    CHECK(total(env.CommitWriteTimes()) == writes + 2);
    CHECK(total(env.CheckpointTimes()) == checkpoints);
    env.Checkpoint();
    CHECK(total(env.CheckpointTimes()) == checkpoints + 1);
}

TEST_CASE("commit log: every commit survives the process dying, across checkpoints")
{
    ScratchDir dir;
    const auto path = dir.Path() / "db";
    InCrashingChild([&] {
        Env env{path, DurableOptions()};
        const Db db = env.OpenDb("things");
        WriteNumbered(env, db, 0, 23);
        if (env.Checkpoints() < 3) std::abort();
        Crash();
    });
    {
        Env env{path, DurableOptions()};
        const Db db = env.OpenDb("things");
        CheckNumbered(env, db, 0, 23);
        // The recovered store goes on, and survives a second crash too.
        WriteNumbered(env, db, 23, 30);
    }
    InCrashingChild([&] {
        Env env{path, DurableOptions()};
        const Db db = env.OpenDb("things");
        WriteNumbered(env, db, 30, 33);
        Crash();
    });
    Env env{path, DurableOptions()};
    const Db db = env.OpenDb("things");
    CheckNumbered(env, db, 0, 33);
}

TEST_CASE("commit log: what LMDB wrote after the checkpoint may be lost or torn")
{
    ScratchDir dir;
    const auto path = dir.Path() / "db";
    const auto data = path / "data.mdb";
    const auto at_checkpoint = dir.Path() / "data-at-checkpoint.mdb";
    const auto stable_key = [](int i) { return "stable" + std::to_string(i); };
    InCrashingChild([&] {
        EnvOptions options = RareCheckpoints();
        // No growth, so no checkpoint but the one below.
        options.initial_map_size = size_t{64} << 20;
        Env env{path, options};
        const Db db = env.OpenDb("things");
        // Keys nothing rewrites after the checkpoint: only the checkpoint's pages hold them.
        env.Write([&](WriteTxn& txn) {
            for (int i = 0; i < 300; ++i) txn.Put(db, AsBytes(stable_key(i)), AsBytes(std::string(100, 's')));
        });
        WriteNumbered(env, db, 0, 10);
        env.Checkpoint();
        const uint64_t checkpoints = env.Checkpoints();
        std::filesystem::copy_file(data, at_checkpoint);
        // Rewrites free pages by the dozen: LMDB would reuse them for the next transactions
        // but for the reader the Env keeps on the checkpoint's snapshot.
        for (int round = 0; round < 30; ++round) {
            env.Write([&](WriteTxn& txn) {
                for (int i = 0; i < 10; ++i) txn.Put(db, AsBytes("key" + std::to_string(i)), AsBytes("rewritten" + std::to_string(round)));
                txn.Put(db, AsBytes(stable_key(round * 10)), AsBytes(std::string(100, 's')));
            });
        }
        WriteNumbered(env, db, 10, 20);
        if (env.Checkpoints() != checkpoints) std::abort();
        Crash();
    });

    SUBCASE("none of LMDB's writes since the checkpoint reached the disk")
    {
        std::filesystem::copy_file(at_checkpoint, data, std::filesystem::copy_options::overwrite_existing);
    }
    SUBCASE("LMDB's meta pages are torn")
    {
        OverwriteFile(data, 0, Bytes(8192, 0xee));
    }
    SUBCASE("all of them did")
    {
    }
    Env env{path, DurableOptions()};
    const Db db = env.OpenDb("things");
    for (int i = 0; i < 300; ++i) CHECK(Value(env, db, stable_key(i)) == std::string(100, 's'));
    for (int i = 0; i < 10; ++i) CHECK(Value(env, db, "key" + std::to_string(i)) == "rewritten29");
    CheckNumbered(env, db, 10, 20);
}

TEST_CASE("commit log: a record torn by the crash loses only its own transaction")
{
    ScratchDir dir;
    const auto path = dir.Path() / "db";
    InCrashingChild([&] {
        EnvOptions options = RareCheckpoints();
        Env env{path, options};
        const Db db = env.OpenDb("things");
        PutString(env, db, "kept", "yes");
        PutString(env, db, "torn", "yes");
        Crash();
    });
    const auto contents = CommitLog::Read(path / "commit.log");
    REQUIRE(contents.has_value());
    REQUIRE(contents->records.size() >= 2);
    uint64_t end = kLogRecordsOffset;
    for (const auto& record : contents->records) end += EncodeLogRecord(record).size();
    OverwriteFile(path / "commit.log", end - 2, Bytes{0x00, 0x00});

    Env env{path, DurableOptions()};
    const Db db = env.OpenDb("things");
    CHECK(Value(env, db, "kept") == "yes");
    CHECK(Value(env, db, "torn") == "<missing>");
}

TEST_CASE("commit log: the map grows while logging and recovery replays into the grown map")
{
    ScratchDir dir;
    const auto path = dir.Path() / "db";
    const std::string big(100'000, 'b');
    InCrashingChild([&] {
        EnvOptions options = RareCheckpoints();
        options.checkpoint_log_bytes = uint64_t{64} << 20;
        Env env{path, options};
        const Db db = env.OpenDb("blobs");
        for (int i = 0; i < 40; ++i) PutString(env, db, "blob" + std::to_string(i), big);
        // The commits wait in memory; the checkpoint that cannot take them leaves them there and
        // the next one, its map grown by its own transaction's begin, can.
        int tries = 0;
        while (!env.Checkpoint()) {
            if (++tries == 10) std::abort();
        }
        if (tries == 0 || env.MapSize() <= (size_t{1} << 20)) std::abort();
        for (int i = 40; i < 60; ++i) PutString(env, db, "blob" + std::to_string(i), big);
        Crash();
    });
    Env env{path, DurableOptions()};
    const Db db = env.OpenDb("blobs");
    for (int i = 0; i < 60; ++i) CHECK(Value(env, db, "blob" + std::to_string(i)) == big);
}

TEST_CASE("commit log: a damaged log or a missing data file stops the open with a clear error")
{
    ScratchDir dir;
    const auto path = dir.Path() / "db";
    {
        Env env{path, DurableOptions()};
        PutString(env, env.OpenDb("things"), "a", "1");
    }
    SUBCASE("both header slots damaged")
    {
        OverwriteFile(path / "commit.log", 0, Bytes(100, 0));
        OverwriteFile(path / "commit.log", kLogSlotSize, Bytes(100, 0));
        CHECK_THROWS_WITH_AS(Env(path, DurableOptions()), doctest::Contains("no intact header"), StoreError);
    }
    SUBCASE("LMDB's data file cut short")
    {
        std::filesystem::resize_file(path / "data.mdb", 4096 * 3);
        CHECK_THROWS_WITH_AS(Env(path, DurableOptions()), doctest::Contains("shorter"), StoreError);
    }
    SUBCASE("LMDB's data file gone")
    {
        std::filesystem::remove(path / "data.mdb");
        CHECK_THROWS_WITH_AS(Env(path, DurableOptions()), doctest::Contains("data file is missing"), StoreError);
    }
    SUBCASE("the latest header torn before any record of its own: the one before it recovers")
    {
        const auto contents = CommitLog::Read(path / "commit.log");
        REQUIRE(contents.has_value());
        OverwriteFile(path / "commit.log", (contents->checkpoint.generation % 2) * kLogSlotSize, Bytes(100, 0));
        Env env{path, DurableOptions()};
        CHECK(Value(env, env.OpenDb("things"), "a") == "1");
    }
    SUBCASE("the latest header lost after records of its own")
    {
        {
            Env env{path, DurableOptions()};
            PutString(env, env.OpenDb("things"), "b", "2");
            // The Env is still open: its newest generation has a record and no later header.
            const auto contents = CommitLog::Read(path / "commit.log");
            REQUIRE(contents.has_value());
            REQUIRE_FALSE(contents->records.empty());
            OverwriteFile(path / "commit.log", (contents->checkpoint.generation % 2) * kLogSlotSize, Bytes(100, 0));
            CHECK_THROWS_WITH_AS(CommitLog::Read(path / "commit.log"), doctest::Contains("lost the header"), StoreError);
        }
    }
}

TEST_CASE("commit log: once_durable runs when the log has the transaction and readers see it")
{
    ScratchDir dir;
    const auto path = dir.Path() / "db";
    SUBCASE("durable: LMDB does not have it yet, and a crash then keeps it")
    {
        InCrashingChild([&] {
            Env env{path, RareCheckpoints()};
            const Db db = env.OpenDb("things");
            PutString(env, db, "before", "1");
            env.Write([&](WriteTxn& txn) { txn.Put(db, AsBytes("sent"), AsBytes("yes")); }, [&] {
                // A message that depends on the commit leaves here, and what answers it reads it.
                if (Value(env, db, "sent") != "yes") std::abort();
                Crash();
            });
        });
        Env env{path, DurableOptions()};
        const Db db = env.OpenDb("things");
        CHECK(Value(env, db, "before") == "1");
        CHECK(Value(env, db, "sent") == "yes");
    }
    SUBCASE("not durable: after LMDB's commit")
    {
        EnvOptions options = DurableOptions();
        options.durable = false;
        Env env{path, options};
        const Db db = env.OpenDb("things");
        std::string seen;
        env.Write([&](WriteTxn& txn) { txn.Put(db, AsBytes("k"), AsBytes("v")); }, [&] { seen = Value(env, db, "k"); });
        CHECK(seen == "v");
    }
    SUBCASE("a transaction that changed nothing")
    {
        Env env{path, DurableOptions()};
        bool ran = false;
        env.Write([&](WriteTxn&) {}, [&] { ran = true; });
        CHECK(ran);
    }
}

TEST_CASE("commit log: the map grows once three quarters are used, before a commit could run out")
{
    ScratchDir dir;
    Env env{dir.Path() / "db", DurableOptions()};
    const Db db = env.OpenDb("blobs");
    const size_t initial = env.MapSize();
    const std::string blob(50'000, 'b');
    int written = 0;
    while (env.MapSize() == initial) {
        PutString(env, db, "blob" + std::to_string(written++), blob);
        REQUIRE(written < 100);
    }
    // Twenty blobs fill a 1 MiB map; the growth came with room to spare.
    CHECK(written * blob.size() < initial);
    for (int i = 0; i < written; ++i) CHECK(Value(env, db, "blob" + std::to_string(i)) == blob);
}

namespace {

EnvOptions IdleCheckpoints(std::chrono::milliseconds idle, uint64_t min_commits)
{
    EnvOptions options = RareCheckpoints();
    options.idle_checkpoint = idle;
    options.idle_checkpoint_commits = min_commits;
    return options;
}

bool WaitForCheckpoints(const Env& env, uint64_t count)
{
    for (int i = 0; i < 500 && env.Checkpoints() < count; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return env.Checkpoints() == count;
}

//! An Env with idle checkpoints whose log a checkpoint just emptied: checkpoints count from `start`.
struct IdleEnv {
    IdleEnv(std::chrono::milliseconds idle, uint64_t min_commits)
        : env{dir.Path() / "db", IdleCheckpoints(idle, min_commits)}, db{env.OpenDb("things")}
    {
        env.Checkpoint();
        start = env.Checkpoints();
    }

    ScratchDir dir;
    Env env;
    Db db;
    uint64_t start{0};
};

} // namespace

TEST_CASE("commit log: a quiet Env checkpoints by itself once enough commits wait in the log")
{
    IdleEnv idle{std::chrono::milliseconds(50), 3};
    auto& [dir, env, db, start] = idle;
    PutString(env, db, "a", "1");
    PutString(env, db, "b", "2");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(env.Checkpoints() == start);
    PutString(env, db, "c", "3");
    CHECK(WaitForCheckpoints(env, start + 1));
    CHECK(env.IdleCheckpoints() == 1);
    // Nothing logged since: no second one.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(env.Checkpoints() == start + 1);
}

TEST_CASE("commit log: a busy Env leaves its checkpoint to the quiet after the commits")
{
    IdleEnv idle{std::chrono::milliseconds(500), 1};
    auto& [dir, env, db, start] = idle;
    for (int i = 0; i < 25; ++i) {
        PutString(env, db, "key" + std::to_string(i), "value");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(env.Checkpoints() == start);
    CHECK(WaitForCheckpoints(env, start + 1));
}

TEST_CASE("commit log: a crash after an idle checkpoint loses nothing")
{
    ScratchDir dir;
    const auto path = dir.Path() / "db";
    InCrashingChild([&] {
        Env env{path, IdleCheckpoints(std::chrono::milliseconds(20), 1)};
        const Db db = env.OpenDb("things");
        WriteNumbered(env, db, 0, 6);
        if (!WaitForCheckpoints(env, env.Checkpoints() + 1)) std::abort();
        WriteNumbered(env, db, 6, 9);
        Crash();
    });
    Env env{path, DurableOptions()};
    const Db db = env.OpenDb("things");
    CheckNumbered(env, db, 0, 9);
}
