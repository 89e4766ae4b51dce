#include "store/env.h"

#include "store/codec.h"
#include "store/file_io.h"
#include "util/logging.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

namespace sidebolt::store {

namespace {

int64_t SteadyNanoseconds()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr std::string_view META_DB_NAME{"meta"};
constexpr std::string_view SCHEMA_VERSION_KEY{"schema_version"};
constexpr std::string_view LOCK_FILE_NAME{"store.lock"};
constexpr std::string_view LOG_FILE_NAME{"commit.log"};
constexpr std::string_view DATA_FILE_NAME{"data.mdb"};

//! Transactions this thread holds, per Env: a thread that already holds one must neither wait
//! for a resize (the resize waits for it) nor start one.
thread_local std::map<const Env*, int> t_open_txns;

void Check(int rc, const std::string& operation)
{
    if (rc == MDB_MAP_FULL) throw MapFullError(operation);
    if (rc != MDB_SUCCESS) throw StoreError(operation, rc);
}

MDB_val ToVal(ByteSpan bytes)
{
    // LMDB takes non-const pointers but does not write through them for keys and put data.
    return MDB_val{bytes.size(), const_cast<uint8_t*>(bytes.data())};
}

ByteSpan FromVal(const MDB_val& val) { return {static_cast<const uint8_t*>(val.mv_data), val.mv_size}; }

bool HasPrefix(ByteSpan key, ByteSpan prefix)
{
    return key.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), key.begin());
}

void CreatePrivateDirectory(const std::filesystem::path& dir)
{
    std::error_code ec;
    if (std::filesystem::exists(dir, ec)) return;
    std::filesystem::create_directories(dir.parent_path().empty() ? "." : dir.parent_path(), ec);
    if (ec) throw StoreError("create directory " + dir.parent_path().string(), ec.message());
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        throw StoreError("create directory " + dir.string(), std::strerror(errno));
    }
}

//! Recovery's first step: LMDB's data file gets the meta pages it had at the checkpoint, which
//! makes the checkpoint's snapshot its latest again.
void RestoreMetaPages(const std::filesystem::path& data_path, ByteSpan meta_pages)
{
    const int fd = open(data_path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        throw StoreError("recover " + data_path.string(), "the commit log is there but LMDB's data file is missing");
    }
    if (fd < 0) throw StoreError("open " + data_path.string(), std::strerror(errno));
    try {
        WriteAllAt(fd, meta_pages, 0, "restore the checkpoint in " + data_path.string());
    } catch (...) {
        close(fd);
        throw;
    }
    const int rc = fdatasync(fd);
    const int error = errno;
    close(fd);
    if (rc != 0) throw StoreError("sync " + data_path.string(), std::strerror(error));
}

Bytes ReadMetaPages(MDB_env* env, size_t page_size)
{
    mdb_filehandle_t fd{};
    Check(mdb_env_get_fd(env, &fd), "env fd");
    Bytes pages(2 * page_size);
    ReadAllAt(fd, pages, 0, "read LMDB's meta pages");
    return pages;
}

} // namespace

StoreError::StoreError(std::string operation, int mdb_code)
    : std::runtime_error(operation + ": " + mdb_strerror(mdb_code)), m_operation{std::move(operation)},
      m_code{mdb_code}
{
}

StoreError::StoreError(std::string operation, const std::string& detail)
    : std::runtime_error(operation + ": " + detail), m_operation{std::move(operation)}
{
}

// ---- Cursor ----

Cursor::Cursor(MDB_txn* txn, const Db& db)
{
    Check(mdb_cursor_open(txn, db.m_dbi, &m_cursor), "cursor open " + db.Name());
}

Cursor::~Cursor() { mdb_cursor_close(m_cursor); }

bool Cursor::Move(MDB_cursor_op op, ByteSpan key)
{
    if (op == MDB_SET_RANGE) m_key = ToVal(key);
    const int rc = mdb_cursor_get(m_cursor, &m_key, &m_value, op);
    if (rc == MDB_NOTFOUND) {
        m_valid = false;
        return false;
    }
    Check(rc, "cursor get");
    m_valid = true;
    return true;
}

// LMDB refuses an empty key for MDB_SET_RANGE; every key is >= the empty key anyway.
bool Cursor::Seek(ByteSpan key) { return key.empty() ? First() : Move(MDB_SET_RANGE, key); }
bool Cursor::First() { return Move(MDB_FIRST); }
bool Cursor::Last() { return Move(MDB_LAST); }
bool Cursor::Next() { return Move(MDB_NEXT); }
bool Cursor::Prev() { return Move(MDB_PREV); }

ByteSpan Cursor::Key() const
{
    if (!m_valid) throw StoreError("cursor key", "cursor is not positioned");
    return FromVal(m_key);
}

ByteSpan Cursor::Value() const
{
    if (!m_valid) throw StoreError("cursor value", "cursor is not positioned");
    return FromVal(m_value);
}

// ---- Txn ----

Txn::Txn(Env& env, bool write) : m_env{env}
{
    m_env.BeginTxnSlot(write);
    const int rc = mdb_txn_begin(m_env.m_env, nullptr, write ? 0 : MDB_RDONLY, &m_txn);
    if (rc != MDB_SUCCESS) {
        m_txn = nullptr;
        m_env.EndTxnSlot();
        Check(rc, write ? "begin write txn" : "begin read txn");
    }
}

Txn::~Txn() { Abort(); }

void Txn::Abort()
{
    if (!m_txn) return;
    mdb_txn_abort(m_txn);
    m_txn = nullptr;
    m_env.EndTxnSlot();
}

void Txn::Fail(const std::string& operation, int rc)
{
    // After most errors LMDB only allows aborting the txn; abort now so the map can be grown.
    Abort();
    if (rc == MDB_MAP_FULL) m_env.NoteMapFull();
    Check(rc, operation);
    throw StoreError(operation, rc); // Unreachable: rc is never MDB_SUCCESS here.
}

MDB_txn* Txn::Handle() const
{
    if (!m_txn) throw StoreError("txn", "transaction already finished");
    return m_txn;
}

std::optional<ByteSpan> Txn::GetView(const Db& db, ByteSpan key) const
{
    MDB_val k = ToVal(key);
    MDB_val v{};
    const int rc = mdb_get(Handle(), db.m_dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    Check(rc, "get " + db.Name());
    return FromVal(v);
}

std::optional<Bytes> Txn::Get(const Db& db, ByteSpan key) const
{
    const auto view = GetView(db, key);
    if (!view) return std::nullopt;
    return Bytes(view->begin(), view->end());
}

bool Txn::Exists(const Db& db, ByteSpan key) const { return GetView(db, key).has_value(); }

Cursor Txn::OpenCursor(const Db& db) const { return Cursor(Handle(), db); }

void Txn::ForEachPrefix(const Db& db, ByteSpan prefix,
                        const std::function<bool(ByteSpan key, ByteSpan value)>& fn) const
{
    Cursor cursor = OpenCursor(db);
    for (bool ok = cursor.Seek(prefix); ok && HasPrefix(cursor.Key(), prefix); ok = cursor.Next()) {
        if (!fn(cursor.Key(), cursor.Value())) return;
    }
}

// ---- WriteTxn ----

void WriteTxn::Put(const Db& db, ByteSpan key, ByteSpan value)
{
    MDB_val k = ToVal(key);
    MDB_val v = ToVal(value);
    const int rc = mdb_put(Handle(), db.m_dbi, &k, &v, 0);
    m_changed = true;
    if (rc != MDB_SUCCESS) Fail("put " + db.Name(), rc);
    if (m_env.m_logging) m_ops.push_back(LoggedOp{LoggedOp::Kind::PUT, db.Name(), Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end())});
}

bool WriteTxn::Delete(const Db& db, ByteSpan key)
{
    MDB_val k = ToVal(key);
    const int rc = mdb_del(Handle(), db.m_dbi, &k, nullptr);
    m_changed = true;
    if (rc == MDB_NOTFOUND) return false;
    if (rc != MDB_SUCCESS) Fail("delete " + db.Name(), rc);
    if (m_env.m_logging) m_ops.push_back(LoggedOp{LoggedOp::Kind::DELETE, db.Name(), Bytes(key.begin(), key.end()), {}});
    return true;
}

void WriteTxn::Commit(const std::function<void()>& once_durable)
{
    MDB_txn* txn = Handle();
    // The log record is durable before LMDB commits (without syncing), under LMDB's writer
    // lock, so the log holds the commits in their order.
    const bool logged = m_env.m_logging && m_changed;
    const uint64_t txnid = mdb_txn_id(txn);
    if (logged) {
        try {
            m_env.AppendToLog(txnid, LogRecordKind::COMMIT, m_ops);
        } catch (...) {
            Abort();
            throw;
        }
        if (once_durable) once_durable();
    }
    // mdb_txn_commit frees the txn even when it fails, so it must not be aborted afterwards.
    m_txn = nullptr;
    const int rc = mdb_txn_commit(txn);
    m_env.EndTxnSlot();
    if (rc != MDB_SUCCESS && logged && once_durable) {
        // What depends on this transaction may have left already: it stands, and the next
        // open replays it from the log.
        throw StoreError("commit (the commit log holds it; reopen the store to apply it)", rc);
    }
    // Otherwise recovery would replay what the caller was told failed.
    if (rc != MDB_SUCCESS && logged) m_env.AppendToLog(txnid, LogRecordKind::ABORT, {});
    if (rc == MDB_MAP_FULL) m_env.NoteMapFull();
    Check(rc, "commit");
    if (m_changed) m_env.m_commits.fetch_add(1, std::memory_order_relaxed);
    // A commit failing for space once its record is out would stop the node: the map grows
    // while it still has room.
    if (logged && m_env.MapMostlyUsed()) m_env.NoteMapFull();
    if (!logged && once_durable) once_durable();
}

// ---- Env ----

Env::Env(const std::filesystem::path& dir, EnvOptions options)
    : m_path{dir}, m_max_map_size{options.max_map_size}, m_durable{options.durable}
{
    CreatePrivateDirectory(dir);

    const auto lock_path = dir / LOCK_FILE_NAME;
    m_lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (m_lock_fd < 0) throw StoreError("open " + lock_path.string(), std::strerror(errno));
    // flock locks belong to the open file description, so this also refuses a second Env on
    // the same directory inside this process.
    if (flock(m_lock_fd, LOCK_EX | LOCK_NB) != 0) {
        close(m_lock_fd);
        throw StoreError("lock " + dir.string(), "store is already open (by this or another process)");
    }

    m_checkpoint_commits = options.checkpoint_commits;
    m_checkpoint_log_bytes = options.checkpoint_log_bytes;
    m_flush_ahead_commits = options.flush_ahead_commits;
    try {
        Check(mdb_env_create(&m_env), "env create");
        Check(mdb_env_set_maxdbs(m_env, options.max_dbs + 1), "set max dbs"); // +1: meta
        Check(mdb_env_set_mapsize(m_env, options.initial_map_size), "set map size");
        std::optional<CommitLog::Contents> contents;
        if (options.durable) {
            // A log being created when a crash came never took a commit.
            std::error_code ec;
            std::filesystem::remove(std::filesystem::path(dir / LOG_FILE_NAME).concat(".new"), ec);
            contents = CommitLog::Read(dir / LOG_FILE_NAME);
            if (contents) RestoreMetaPages(dir / DATA_FILE_NAME, contents->checkpoint.meta_pages);
        }
        // A durable Env's commit log makes commits durable; LMDB syncs at checkpoints only.
        Check(mdb_env_open(m_env, dir.c_str(), MDB_NOTLS | MDB_NOSYNC, 0600), "env open " + dir.string());
        MDB_stat stat{};
        Check(mdb_env_stat(m_env, &stat), "env stat");
        m_page_size = stat.ms_psize;
        if (contents) {
            Recover(*contents);
        } else if (options.durable) {
            const MutexLock lock{m_log_mutex};
            m_log.emplace(CommitLog::Create(dir / LOG_FILE_NAME, SyncedCheckpoint(1)));
            m_syncs.fetch_add(1, std::memory_order_relaxed);
            OpenCheckpointReader();
        }
        m_logging = options.durable;
        CheckSchema(options);
        if (m_logging && (options.idle_checkpoint.count() > 0 || m_flush_ahead_commits > 0)) {
            StartBackground(options.idle_checkpoint, options.idle_checkpoint_commits);
        }
    } catch (...) {
        {
            const MutexLock lock{m_log_mutex};
            CloseCheckpointReader();
            m_log.reset();
        }
        if (m_env) mdb_env_close(m_env);
        close(m_lock_fd);
        throw;
    }
}

Env::~Env()
{
    StopBackground();
    {
        const MutexLock lock{m_log_mutex};
        if (m_log) {
            // A clean stop leaves nothing to replay; if this fails the next open replays.
            try {
                WriteCheckpoint();
            } catch (const std::exception& e) {
                Log("store")->warn("closing {}: no final checkpoint: {}", m_path.string(), e.what());
            }
        }
        CloseCheckpointReader();
    }
    mdb_env_close(m_env);
    close(m_lock_fd);
}

void Env::Recover(const CommitLog::Contents& contents)
{
    MDB_envinfo info{};
    Check(mdb_env_info(m_env, &info), "env info");
    if (info.me_last_txnid != contents.checkpoint.txnid) {
        throw StoreError("recover " + m_path.string(), "LMDB is at transaction " + std::to_string(info.me_last_txnid) +
                                                           ", not at the commit log's checkpoint " +
                                                           std::to_string(contents.checkpoint.txnid));
    }
    // A data file cut short of the checkpoint's pages is damage the log cannot repair, and LMDB
    // would fault reading them.
    std::error_code ec;
    const auto data_size = std::filesystem::file_size(m_path / DATA_FILE_NAME, ec);
    if (ec || data_size < (info.me_last_pgno + 1) * uint64_t{m_page_size}) {
        throw StoreError("recover " + m_path.string(), "LMDB's data file is shorter than the commit log's checkpoint");
    }
    {
        const MutexLock lock{m_log_mutex};
        OpenCheckpointReader();
    }
    const auto changes = CommittedChanges(contents.records);
    if (!changes.empty()) {
        Log("store")->info("{}: replaying {} transactions from the commit log", m_path.string(), changes.size());
    }
    Replay(changes);
    const MutexLock lock{m_log_mutex};
    m_log.emplace(CommitLog::Resume(m_path / LOG_FILE_NAME, SyncedCheckpoint(contents.checkpoint.generation + 1)));
    m_syncs.fetch_add(1, std::memory_order_relaxed);
    CloseCheckpointReader();
    OpenCheckpointReader();
}

void Env::Replay(const std::vector<std::vector<LoggedOp>>& changes)
{
    if (changes.empty()) return;
    // One transaction for all of them: when the map is too small it is aborted whole, so the
    // checkpoint's snapshot is still the latest while the map grows.
    for (;;) {
        MDB_txn* txn{nullptr};
        Check(mdb_txn_begin(m_env, nullptr, 0, &txn), "begin replay");
        int rc = MDB_SUCCESS;
        std::map<std::string, MDB_dbi, std::less<>> dbis;
        for (const auto& ops : changes) {
            for (const LoggedOp& op : ops) {
                auto it = dbis.find(op.db);
                if (it == dbis.end()) {
                    MDB_dbi dbi{};
                    rc = mdb_dbi_open(txn, op.db.c_str(), MDB_CREATE, &dbi);
                    if (rc != MDB_SUCCESS) break;
                    it = dbis.emplace(op.db, dbi).first;
                }
                MDB_val key = ToVal(op.key);
                if (op.kind == LoggedOp::Kind::PUT) {
                    MDB_val value = ToVal(op.value);
                    rc = mdb_put(txn, it->second, &key, &value, 0);
                } else {
                    rc = mdb_del(txn, it->second, &key, nullptr);
                    if (rc == MDB_NOTFOUND) rc = MDB_SUCCESS;
                }
                if (rc != MDB_SUCCESS) break;
            }
            if (rc != MDB_SUCCESS) break;
        }
        if (rc == MDB_SUCCESS) {
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
        if (rc == MDB_SUCCESS) return;
        if (rc != MDB_MAP_FULL) Check(rc, "replay the commit log");
        const size_t current = MapSize();
        if (current >= m_max_map_size) {
            throw StoreError("replay the commit log", "map size limit of " + std::to_string(m_max_map_size) + " bytes reached");
        }
        // The replay transaction is gone: LMDB's writer lock is free before the log's lock.
        const MutexLock lock{m_log_mutex};
        CloseCheckpointReader();
        Check(mdb_env_set_mapsize(m_env, std::min(current * 2, m_max_map_size)), "grow map");
        OpenCheckpointReader();
    }
}

LogCheckpoint Env::SyncedCheckpoint(uint64_t generation)
{
    Check(mdb_env_sync(m_env, 1), "sync " + m_path.string());
    m_syncs.fetch_add(1, std::memory_order_relaxed);
    MDB_envinfo info{};
    Check(mdb_env_info(m_env, &info), "env info");
    return LogCheckpoint{generation, info.me_last_txnid, ReadMetaPages(m_env, m_page_size)};
}

void Env::WriteCheckpoint()
{
    // The new header is durable before the old snapshot's reader goes: until then a crash
    // recovers from the old checkpoint, whose pages are still untouched.
    m_log->Restart(SyncedCheckpoint(m_log->Generation() + 1));
    m_syncs.fetch_add(1, std::memory_order_relaxed);
    m_checkpoints.fetch_add(1, std::memory_order_relaxed);
    CloseCheckpointReader();
    OpenCheckpointReader();
}

void Env::OpenCheckpointReader()
{
    Check(mdb_txn_begin(m_env, nullptr, MDB_RDONLY, &m_checkpoint_reader), "begin checkpoint reader");
}

void Env::CloseCheckpointReader()
{
    if (m_checkpoint_reader) mdb_txn_abort(m_checkpoint_reader);
    m_checkpoint_reader = nullptr;
}

void Env::AppendToLog(uint64_t txnid, LogRecordKind kind, std::span<const LoggedOp> ops)
{
    const MutexLock lock{m_log_mutex};
    // Checkpointing here, before the commit, needs no lock beyond LMDB's writer lock the
    // committing transaction holds.
    if (kind == LogRecordKind::COMMIT &&
        (m_log->Records() >= m_checkpoint_commits || m_log->RecordBytes() >= m_checkpoint_log_bytes)) {
        WriteCheckpoint();
    }
    m_log->Append(txnid, kind, ops);
    m_syncs.fetch_add(1, std::memory_order_relaxed);
    m_last_commit_ns.store(SteadyNanoseconds(), std::memory_order_relaxed);
    if (kind == LogRecordKind::COMMIT) MaybeAskFlushAhead(m_log->Records());
}

void Env::MaybeAskFlushAhead(uint64_t logged)
{
    // The background thread never waits for a lock while it holds m_background_mutex, so taking it
    // here, under m_log_mutex and LMDB's writer lock, cannot deadlock.
    if (m_flush_ahead_commits == 0 || logged + m_flush_ahead_commits != m_checkpoint_commits) return;
    {
        const MutexLock lock{m_background_mutex};
        m_flush_wanted = true;
    }
    m_background_cv.notify_one();
}

void Env::FlushAhead()
{
    // Only LMDB's own writes of the commits so far: the checkpoint's sync, not this one, is what
    // recovery depends on. A failure here is the checkpoint's to report.
    int fd = -1;
    if (mdb_env_get_fd(m_env, &fd) != MDB_SUCCESS || fdatasync(fd) != 0) {
        Log("store")->debug("{}: flush ahead of the checkpoint failed: {}", m_path.string(), std::strerror(errno));
        return;
    }
    m_flushes_ahead.fetch_add(1, std::memory_order_relaxed);
}

uint64_t Env::LoggedSinceCheckpoint()
{
    const MutexLock lock{m_log_mutex};
    return m_log ? m_log->Records() : 0;
}

void Env::StartBackground(std::chrono::milliseconds idle, uint64_t min_commits)
{
    m_last_commit_ns.store(SteadyNanoseconds(), std::memory_order_relaxed);
    m_background_thread = std::thread([this, idle, min_commits] { BackgroundLoop(idle, min_commits); });
}

void Env::StopBackground()
{
    if (!m_background_thread.joinable()) return;
    {
        const MutexLock lock{m_background_mutex};
        m_background_stopping = true;
    }
    m_background_cv.notify_one();
    m_background_thread.join();
}

void Env::BackgroundLoop(std::chrono::milliseconds idle, uint64_t min_commits)
{
    const bool idle_checkpoints = idle.count() > 0;
    // Without idle checkpoints the thread only waits to be asked for a flush.
    std::chrono::nanoseconds wait = idle_checkpoints ? std::chrono::nanoseconds{idle} : std::chrono::hours{1};
    for (;;) {
        bool flush = false;
        {
            UniqueLock lock{m_background_mutex};
            lock.WaitFor(m_background_cv, wait, [&]() REQUIRES(m_background_mutex) { return m_background_stopping || m_flush_wanted; });
            if (m_background_stopping) return;
            flush = std::exchange(m_flush_wanted, false);
        }
        if (flush) FlushAhead();
        if (!idle_checkpoints) continue;
        const std::chrono::nanoseconds quiet{SteadyNanoseconds() - m_last_commit_ns.load(std::memory_order_relaxed)};
        // A commit came meanwhile: look again once the store has been quiet for `idle`.
        wait = quiet < idle ? idle - quiet : std::chrono::nanoseconds{idle};
        if (quiet < idle || LoggedSinceCheckpoint() < min_commits) continue;
        try {
            Checkpoint();
            m_idle_checkpoints.fetch_add(1, std::memory_order_relaxed);
        } catch (const std::exception& e) {
            // The next commit's own checkpoint, or its write, reports a failing disk.
            Log("store")->warn("{}: idle checkpoint failed: {}", m_path.string(), e.what());
        }
    }
}

void Env::Checkpoint()
{
    if (!m_logging) return;
    // An empty write transaction: LMDB's writer lock keeps every commit out meanwhile.
    WriteTxn guard{*this};
    const MutexLock lock{m_log_mutex};
    WriteCheckpoint();
}

void Env::CheckSchema(const EnvOptions& options)
{
    const Db meta = OpenDb(META_DB_NAME);
    Write([&](WriteTxn& txn) {
        const auto stored = txn.Get(meta, AsBytes(SCHEMA_VERSION_KEY));
        if (stored) {
            const auto version = DecodeU32(*stored);
            if (!version) throw StoreError("schema check", "malformed schema version in meta db");
            if (*version > options.schema_version) {
                throw StoreError("schema check", "store at " + m_path.string() + " has schema version " +
                                                     std::to_string(*version) + ", newer than the " +
                                                     std::to_string(options.schema_version) +
                                                     " this software knows; upgrade sidebolt");
            }
            if (*version < options.schema_version) {
                if (!options.migrate) {
                    throw StoreError("schema check", "no migration from schema version " +
                                                         std::to_string(*version) + " to " +
                                                         std::to_string(options.schema_version));
                }
                options.migrate(txn, *version);
            }
        }
        txn.Put(meta, AsBytes(SCHEMA_VERSION_KEY), EncodeU32(options.schema_version));
    });
    m_schema_version = options.schema_version;
}

Db Env::OpenDb(std::string_view name)
{
    const MutexLock lock{m_dbs_mutex};
    if (const auto it = m_dbs.find(name); it != m_dbs.end()) return Db{it->second, it->first};

    const std::string name_str{name};
    MDB_dbi dbi{};
    Write([&](WriteTxn& txn) {
        const int rc = mdb_dbi_open(txn.Handle(), name_str.c_str(), MDB_CREATE, &dbi);
        if (rc != MDB_SUCCESS) txn.Fail("open db " + name_str, rc);
    });
    m_dbs.emplace(name_str, dbi);
    return Db{dbi, name_str};
}

bool Env::MapMostlyUsed() const
{
    MDB_envinfo info{};
    Check(mdb_env_info(m_env, &info), "env info");
    return (info.me_last_pgno + 1) * m_page_size > info.me_mapsize / 4 * 3;
}

size_t Env::MapSize() const
{
    MDB_envinfo info{};
    Check(mdb_env_info(m_env, &info), "env info");
    return info.me_mapsize;
}

void Env::BeginTxnSlot(bool write)
{
    int& mine = t_open_txns[this];
    if (write && GrowPending()) {
        if (mine > 0) {
            throw StoreError("grow map", "map is full and this thread holds another transaction");
        }
        GrowMapIfNeeded();
    }
    UniqueLock lock{m_txn_mutex};
    // A thread that already holds a txn must not wait: the resize is waiting for it.
    if (mine == 0) lock.Wait(m_txn_cv, [&]() REQUIRES(m_txn_mutex) { return !m_resizing; });
    ++m_open_txns;
    ++mine;
}

void Env::EndTxnSlot()
{
    {
        const MutexLock lock{m_txn_mutex};
        --m_open_txns;
    }
    if (--t_open_txns[this] == 0) t_open_txns.erase(this);
    m_txn_cv.notify_all();
}

void Env::NoteMapFull()
{
    const MutexLock lock{m_txn_mutex};
    m_grow_pending = true;
}

bool Env::GrowPending()
{
    const MutexLock lock{m_txn_mutex};
    return m_grow_pending;
}

int Env::ResizeMap(size_t target)
{
    const MutexLock lock{m_log_mutex};
    if (!m_log) return mdb_env_set_mapsize(m_env, target);
    // The checkpoint reader must close too: a fresh checkpoint first, so that no page of the
    // snapshot recovery needs can be reused once it has.
    WriteCheckpoint();
    CloseCheckpointReader();
    const int rc = mdb_env_set_mapsize(m_env, target);
    OpenCheckpointReader();
    return rc;
}

void Env::GrowMapIfNeeded()
{
    int rc{MDB_SUCCESS};
    {
        UniqueLock lock{m_txn_mutex};
        // Another writer may be growing it already; wait for that and re-check.
        lock.Wait(m_txn_cv, [&]() REQUIRES(m_txn_mutex) { return !m_resizing; });
        if (!m_grow_pending) return;
        m_grow_pending = false;

        const size_t current = MapSize();
        if (current >= m_max_map_size) {
            throw StoreError("grow map", "map size limit of " + std::to_string(m_max_map_size) + " bytes reached");
        }
        const size_t target = std::min(current * 2, m_max_map_size);

        // LMDB: the map size may only change while this process has no transaction open.
        m_resizing = true;
        lock.Wait(m_txn_cv, [&]() REQUIRES(m_txn_mutex) { return m_open_txns == 0; });
        try {
            rc = ResizeMap(target);
        } catch (...) {
            m_resizing = false;
            m_txn_cv.notify_all();
            throw;
        }
        m_resizing = false;
    }
    m_txn_cv.notify_all();
    Check(rc, "grow map");
}

} // namespace sidebolt::store
