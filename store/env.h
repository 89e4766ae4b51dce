#ifndef SIDEBOLT_STORE_ENV_H
#define SIDEBOLT_STORE_ENV_H

// LMDB environment, transactions and named databases.
//
// Thread safety (LMDB rules, enforced or documented here):
// - One Env per directory per process. LMDB must not open the same environment twice in a
//   process (closing one would drop the other's locks), so Env takes an exclusive lock file
//   and a second Env on the same directory, in this or another process, is refused.
// - Env is opened with MDB_NOTLS: read transactions are not tied to LMDB's per-thread reader
//   slots. Our ReadTxn/WriteTxn objects are still not movable and must end on the thread that
//   began them (the Env counts open transactions per thread to resize the map safely).
// - Many readers, one writer: a second WriteTxn blocks until the first ends. Never begin a
//   WriteTxn while the same thread holds another WriteTxn (it would wait for itself).
// - Growing the map needs every transaction of this process closed, so keep read transactions
//   short; a thread that holds a ReadTxn while its own write runs out of map space gets a
//   StoreError instead of a deadlock.
// - Open every Db once at startup (OpenDb), before sharing the Env between threads.
//
// Durability (store/commit_log.h): a durable Env appends each write transaction's changes to
// its commit log with one synchronous write, and that is the whole commit: the changes wait in
// memory ("pending", read through by every transaction) until a checkpoint applies them to
// LMDB in one transaction and syncs it. A record rewritten at every commit (a channel's state)
// then reaches LMDB's file once per checkpoint, not once per commit: LMDB copies a page for
// every tree a commit touches, and on a disk that pays by the page those copies were most of
// what a commit cost. Opening the Env recovers what a crash of the process or the machine left:
// LMDB back at the last checkpoint, then the log's transactions again.
//
// Write transactions of a durable Env are serialized by the Env (not LMDB's writer lock) and
// read LMDB's last checkpoint through what is pending; every transaction sees one snapshot.

#include "store/commit_log.h"
#include "util/bytes.h"
#include "util/latency_histogram.h"
#include "util/sync.h"

#include <lmdb.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sidebolt::store {

//! Schema version written by this code into a fresh environment.
constexpr uint32_t CURRENT_SCHEMA_VERSION = 1;

class StoreError : public std::runtime_error
{
public:
    //! From an LMDB return code; the message carries the operation and mdb_strerror's text.
    StoreError(std::string operation, int mdb_code);
    StoreError(std::string operation, const std::string& detail);

    const std::string& Operation() const { return m_operation; }
    //! The LMDB (or errno) code, 0 when the error did not come from LMDB.
    int Code() const { return m_code; }

private:
    std::string m_operation;
    int m_code{0};
};

//! The map ran out of space inside a transaction. Env::Write handles it by growing and
//! retrying; callers of BeginWrite see it and may simply retry (the map is grown first).
class MapFullError : public StoreError
{
public:
    explicit MapFullError(std::string operation) : StoreError(std::move(operation), MDB_MAP_FULL) {}
};

class WriteTxn;

struct EnvOptions {
    unsigned max_dbs{32};
    //! Initial map size; LMDB rounds it up to whole pages. It doubles when full.
    size_t initial_map_size{size_t{64} << 20};
    //! Growth stops here and writes fail with MapFullError.
    size_t max_map_size{size_t{1} << 40};
    //! false sets MDB_NOSYNC with no commit log: commits survive a crash of the process but
    //! not of the machine. For tests only.
    bool durable{true};
    //! A durable Env checkpoints after this many logged commits or bytes of log, whichever
    //! comes first; until then their changes are held in memory.
    uint64_t checkpoint_commits{64};
    uint64_t checkpoint_log_bytes{uint64_t{4} << 20};
    //! A durable Env quiet this long with at least idle_checkpoint_commits in its log
    //! checkpoints on a thread of its own, so that the commit reaching checkpoint_commits, which
    //! waits for LMDB's apply and sync, comes rarely. Zero: never.
    std::chrono::milliseconds idle_checkpoint{0};
    uint64_t idle_checkpoint_commits{8};
    //! The schema version this code understands.
    uint32_t schema_version{CURRENT_SCHEMA_VERSION};
    //! Called in the opening write transaction when the stored version is older than
    //! schema_version; it must upgrade the data (the new version is written after it returns).
    //! Without it an older store is refused.
    std::function<void(WriteTxn&, uint32_t stored_version)> migrate;
};

//! A named database inside the environment; a cheap handle, valid as long as its Env.
class Db
{
public:
    const std::string& Name() const { return m_name; }

private:
    friend class Env;
    friend class Txn;
    friend class WriteTxn;
    friend class Cursor;
    Db(MDB_dbi dbi, std::string name) : m_dbi{dbi}, m_name{std::move(name)} {}
    MDB_dbi m_dbi;
    std::string m_name;
};

class Env;

/**
 * A commit logged but not yet in LMDB, with what lets a read pass it by without comparing its
 * operations one by one: the Dbs it wrote, and a filter of the (Db, key) pairs it wrote (which
 * may say yes for a pair it did not write, never no for one it did). Reads go through every
 * pending commit, up to a checkpoint's worth, and most find nothing there.
 */
class PendingCommit
{
public:
    explicit PendingCommit(std::vector<LoggedOp> ops);
    const std::vector<LoggedOp>& Ops() const { return m_ops; }
    bool Writes(std::string_view db) const;
    //! False only if no operation of this commit is on this pair (KeyHash of it).
    bool MayHold(uint64_t key_hash) const;
    static uint64_t KeyHash(std::string_view db, ByteSpan key);

private:
    static constexpr size_t FILTER_BITS = 512;
    //! The filter's bits for a pair (KeyHash of it).
    static std::array<uint64_t, 2> FilterBits(uint64_t key_hash);
    std::vector<LoggedOp> m_ops;
    std::vector<std::string> m_dbs;
    std::array<uint64_t, FILTER_BITS / 64> m_filter{};
};

//! Commits logged but not yet in LMDB, oldest first (a durable Env's).
using PendingCommits = std::vector<std::shared_ptr<const PendingCommit>>;

//! Iterates one Db in key order (keys compare as raw bytes, so use big-endian integers).
//! Views returned by Key()/Value() stay valid until the cursor moves or the txn ends or writes.
//! A Cursor must be destroyed before its transaction ends (declare it after the txn).
class Cursor
{
public:
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;
    ~Cursor();

    //! Positions at the first key >= key.
    bool Seek(ByteSpan key);
    bool First();
    bool Last();
    bool Next();
    bool Prev();
    bool Valid() const { return m_valid; }
    ByteSpan Key() const;
    ByteSpan Value() const;

private:
    friend class Txn;
    //! What is pending for the Db over LMDB's entries: a value, or nullopt for a deletion.
    using Delta = std::map<Bytes, std::optional<Bytes>>;
    struct Entry {
        ByteSpan key;
        ByteSpan value;
    };

    Cursor(MDB_txn* txn, const Db& db, std::unique_ptr<const Delta> delta);
    bool Move(MDB_cursor_op op, ByteSpan key = {});
    std::optional<Entry> LmdbAt(MDB_cursor_op op, ByteSpan key = {});
    //! With a delta: the first entry after `from` (at it too when inclusive), LMDB's or the
    //! delta's, skipping deletions.
    bool Forward(Bytes from, bool inclusive);
    //! The last entry before `from` (nullopt: the end), at it too when inclusive.
    bool Backward(std::optional<Bytes> from, bool inclusive);
    bool Land(ByteSpan key, ByteSpan value);
    //! Lands on whichever of LMDB's entry and the pending one comes first in the direction of
    //! travel (the pending one on the same key), or on nothing; returns the key to go past
    //! when that is a pending deletion.
    std::optional<Bytes> LandOnNearer(const std::optional<Entry>& stored, const Delta::value_type* pending, bool forward);

    MDB_cursor* m_cursor{nullptr};
    std::unique_ptr<const Delta> m_delta;
    ByteSpan m_key;
    ByteSpan m_value;
    bool m_valid{false};
};

//! Operations shared by read and write transactions.
class Txn
{
public:
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;

    //! Zero-copy view, valid until this transaction ends or writes.
    std::optional<ByteSpan> GetView(const Db& db, ByteSpan key) const;
    std::optional<Bytes> Get(const Db& db, ByteSpan key) const;
    bool Exists(const Db& db, ByteSpan key) const;
    Cursor OpenCursor(const Db& db) const;
    //! Calls fn for each entry whose key starts with prefix, in key order, until fn returns
    //! false. fn must not write to the transaction.
    void ForEachPrefix(const Db& db, ByteSpan prefix,
                       const std::function<bool(ByteSpan key, ByteSpan value)>& fn) const;

protected:
    friend class Env;
    //! `deferred`: a durable Env's write transaction, which reads LMDB through a read
    //! transaction and keeps its changes for the commit log and the pending commits.
    Txn(Env& env, bool write, bool deferred);
    ~Txn();
    void Abort();
    //! Marks the txn as unusable after LMDB returned an error inside it, and throws.
    [[noreturn]] void Fail(const std::string& operation, int rc);
    MDB_txn* Handle() const;
    //! The latest change of the key not yet in LMDB (this transaction's own first), if any.
    const LoggedOp* FindPending(const Db& db, ByteSpan key) const;

    Env& m_env;
    MDB_txn* m_txn{nullptr};
    //! The pending commits as this transaction began (a durable Env's; null otherwise).
    std::shared_ptr<const PendingCommits> m_pending;
    //! A deferred write transaction's own changes, in order.
    std::vector<LoggedOp> m_ops;
    //! A deferred write transaction holds the Env's writer lock from begin to end.
    std::unique_lock<Mutex> m_writer_lock;
};

class ReadTxn : public Txn
{
public:
    explicit ReadTxn(Env& env) : Txn(env, false, false) {}
};

//! Aborted by the destructor unless Commit() succeeded.
class WriteTxn : public Txn
{
public:
    explicit WriteTxn(Env& env);

    void Put(const Db& db, ByteSpan key, ByteSpan value);
    //! Returns whether the key existed.
    bool Delete(const Db& db, ByteSpan key);
    //! Throws StoreError (MapFullError when out of space); the txn is finished either way.
    //! Durable when it returns (with a durable Env).
    //!
    //! `once_durable` runs as soon as the transaction is durable: with a durable Env that is
    //! when its log record is written (and new transactions see it), still under the writer
    //! lock, so that what depends on commits (messages to a peer) leaves in their order and
    //! waits for one sync and no more. Without a durable Env it runs after LMDB's commit.
    void Commit(const std::function<void()>& once_durable = {});

private:
    //! A durable Env's commit: changes kept for the log instead of written to LMDB.
    void CommitDeferred(const std::function<void()>& once_durable);

    //! LMDB commits a transaction that changed nothing without touching the disk.
    bool m_changed{false};
};

class Env
{
public:
    //! Opens (creating with mode 0700 if needed) the environment in dir, then checks or writes
    //! the schema version. Throws StoreError.
    explicit Env(const std::filesystem::path& dir, EnvOptions options = {});
    ~Env();
    Env(const Env&) = delete;
    Env& operator=(const Env&) = delete;

    //! Opens (creating) a named database; repeated calls return the same handle. The name
    //! "meta" is the store's own (schema version); prefix names by component instead.
    Db OpenDb(std::string_view name);

    ReadTxn BeginRead() { return ReadTxn(*this); }
    WriteTxn BeginWrite() { return WriteTxn(*this); }

    //! Runs fn in a write transaction and commits it (see WriteTxn::Commit for once_durable).
    //! When the map is full the transaction is aborted, the map grown and fn run again from
    //! scratch, so fn must only touch the txn.
    template <typename Fn>
    void Write(Fn&& fn, const std::function<void()>& once_durable = {})
    {
        for (;;) {
            try {
                WriteTxn txn{*this};
                fn(txn);
                txn.Commit(once_durable);
                return;
            } catch (const MapFullError&) {
                // The aborted txn is gone; the next WriteTxn grows the map first.
            }
        }
    }

    //! The schema version stored in the meta db (equal to options.schema_version once open).
    uint32_t SchemaVersion() const { return m_schema_version; }
    size_t MapSize() const;
    const std::filesystem::path& Path() const { return m_path; }
    //! Write transactions that changed something, committed since open.
    uint64_t Commits() const { return m_commits.load(std::memory_order_relaxed); }
    //! Device syncs since open, what the operator's disk pays for: with durable (the default)
    //! one per commit (its log record) and two per checkpoint (LMDB's file, the log header).
    uint64_t Syncs() const { return m_syncs.load(std::memory_order_relaxed); }
    uint64_t Checkpoints() const { return m_checkpoints.load(std::memory_order_relaxed); }
    //! Of those, the ones made while the store was quiet (EnvOptions::idle_checkpoint).
    uint64_t IdleCheckpoints() const { return m_idle_checkpoints.load(std::memory_order_relaxed); }
    bool Durable() const { return m_durable; }
    //! How long each commit's synchronous log write took (what a payment waits for at each
    //! commit), and each checkpoint (apply, LMDB's sync, the log header), since open.
    const LatencyHistogram& CommitWriteTimes() const { return m_commit_write_times; }
    const LatencyHistogram& CheckpointTimes() const { return m_checkpoint_times; }
    //! Applies what is pending to LMDB, syncs it and starts the commit log afresh (done by
    //! itself every so many commits).
    //! Waits for a running write transaction of another thread; the calling thread must hold
    //! none. No-op when not durable. False when the map must grow first (the next write
    //! transaction grows it; the commits stay pending and logged meanwhile).
    bool Checkpoint();

private:
    friend class Txn;
    friend class WriteTxn;

    //! Transaction bookkeeping so that the map can be resized with no transaction open.
    void BeginTxnSlot(bool write) EXCLUDES(m_txn_mutex);
    void EndTxnSlot() EXCLUDES(m_txn_mutex);
    void GrowMapIfNeeded() EXCLUDES(m_txn_mutex);
    //! Lock-free: a checkpoint notes a full map under m_log_mutex, which a resize takes.
    void NoteMapFull();
    bool GrowPending();
    void CheckSchema(const EnvOptions& options);

    //! With LMDB opened at the log's checkpoint (its meta pages put back first): checks that it
    //! is, replays the log's transactions and checkpoints.
    //! Lock order: m_writer_mutex, m_log_mutex, LMDB's writer lock, m_pending_mutex.
    void Recover(const CommitLog::Contents& contents) EXCLUDES(m_log_mutex);
    void Replay(const std::vector<std::vector<LoggedOp>>& changes) EXCLUDES(m_log_mutex);
    //! Syncs LMDB and describes it for the log's next header. No commit may run meanwhile.
    LogCheckpoint SyncedCheckpoint(uint64_t generation);
    //! Applies the pending commits and checkpoints; false (nothing changed) when the map is too
    //! small to take them. The caller holds m_writer_mutex (or is alone with the Env).
    bool WriteCheckpoint() REQUIRES(m_log_mutex);
    //! The pending commits in one LMDB transaction, which leaves them pending if it fails.
    bool ApplyPending() REQUIRES(m_log_mutex) EXCLUDES(m_pending_mutex);
    void OpenCheckpointReader() REQUIRES(m_log_mutex);
    void CloseCheckpointReader() REQUIRES(m_log_mutex);
    //! Called by WriteTxn::Commit with m_writer_mutex held: checkpoints first when the log is
    //! full, then appends the transaction's record.
    void AppendToLog(std::span<const LoggedOp> ops) EXCLUDES(m_log_mutex);
    //! The pending commits with this one's changes last; readers that began before keep theirs.
    void AddPending(std::vector<LoggedOp> ops) EXCLUDES(m_pending_mutex);
    //! A read transaction on LMDB and the pending commits, taken together: a checkpoint moves
    //! commits from one to the other at once.
    MDB_txn* BeginSnapshot(std::shared_ptr<const PendingCommits>& pending) EXCLUDES(m_pending_mutex);
    //! The thread of the idle checkpoints: started once the Env is open, stopped before it
    //! closes. It holds m_background_mutex only to wait.
    void StartBackground(std::chrono::milliseconds idle, uint64_t min_commits) EXCLUDES(m_background_mutex);
    void StopBackground() EXCLUDES(m_background_mutex);
    void BackgroundLoop(std::chrono::milliseconds idle, uint64_t min_commits) EXCLUDES(m_background_mutex);
    uint64_t LoggedSinceCheckpoint() EXCLUDES(m_log_mutex);
    //! With no transaction open in this process.
    int ResizeMap(size_t target) EXCLUDES(m_log_mutex);
    //! OpenDb of a durable Env.
    void OpenLoggedDb(const std::string& name, MDB_dbi& dbi);
    //! Three quarters of the map in use: time to grow it before a commit runs out.
    bool MapMostlyUsed() const;

    std::filesystem::path m_path;
    size_t m_max_map_size;
    int m_lock_fd{-1};
    MDB_env* m_env{nullptr};
    //! LMDB's page size, known once the environment is open.
    size_t m_page_size{0};
    uint32_t m_schema_version{0};
    bool m_durable{true};
    //! Set once recovery is done, before the Env is shared: write transactions record their
    //! changes for the commit log.
    bool m_logging{false};
    std::atomic<uint64_t> m_commits{0};
    std::atomic<uint64_t> m_syncs{0};
    std::atomic<uint64_t> m_checkpoints{0};
    std::atomic<uint64_t> m_idle_checkpoints{0};
    LatencyHistogram m_commit_write_times;
    LatencyHistogram m_checkpoint_times;
    uint64_t m_checkpoint_commits{0};
    uint64_t m_checkpoint_log_bytes{0};

    //! Serializes a durable Env's write transactions and checkpoints. Guards nothing the
    //! analysis could check: a WriteTxn holds it (a std::unique_lock) from begin to end, across
    //! calls the analysis cannot follow.
    Mutex m_writer_mutex;
    Mutex m_log_mutex;
    //! Numbers the log's records (a durable Env's write transactions no longer get one from LMDB).
    uint64_t m_last_record GUARDED_BY(m_log_mutex){0};
    std::optional<CommitLog> m_log GUARDED_BY(m_log_mutex);
    //! A read transaction on the last checkpoint's snapshot: while it is open LMDB reuses
    //! none of that snapshot's pages, so recovery can go back to it.
    MDB_txn* m_checkpoint_reader GUARDED_BY(m_log_mutex){nullptr};
    Mutex m_pending_mutex;
    std::shared_ptr<const PendingCommits> m_pending GUARDED_BY(m_pending_mutex){std::make_shared<const PendingCommits>()};

    //! Steady-clock time of the latest logged commit, for the idle checkpoint.
    std::atomic<int64_t> m_last_commit_ns{0};
    Mutex m_background_mutex;
    std::condition_variable m_background_cv;
    bool m_background_stopping GUARDED_BY(m_background_mutex){false};
    std::thread m_background_thread;

    Mutex m_dbs_mutex;
    std::map<std::string, MDB_dbi, std::less<>> m_dbs GUARDED_BY(m_dbs_mutex);

    Mutex m_txn_mutex;
    std::condition_variable m_txn_cv;
    int m_open_txns GUARDED_BY(m_txn_mutex){0};
    bool m_resizing GUARDED_BY(m_txn_mutex){false};
    std::atomic<bool> m_grow_pending{false};
};

} // namespace sidebolt::store

#endif
