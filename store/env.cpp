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
#include <iterator>
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

bool SameBytes(ByteSpan a, ByteSpan b) { return std::ranges::equal(a, b); }

//! LMDB's default order: bytes compared unsigned, a prefix first.
bool BytesLess(ByteSpan a, ByteSpan b) { return std::ranges::lexicographical_compare(a, b); }

//! Applies one transaction's changes inside an LMDB write transaction; dbis caches the handles
//! it opens by name. Returns LMDB's first error.
int ApplyOps(MDB_txn* txn, std::span<const LoggedOp> ops, std::map<std::string, MDB_dbi, std::less<>>& dbis)
{
    for (const LoggedOp& op : ops) {
        auto it = dbis.find(op.db);
        if (it == dbis.end()) {
            MDB_dbi dbi{};
            const int rc = mdb_dbi_open(txn, op.db.c_str(), MDB_CREATE, &dbi);
            if (rc != MDB_SUCCESS) return rc;
            it = dbis.emplace(op.db, dbi).first;
        }
        MDB_val key = ToVal(op.key);
        int rc = MDB_SUCCESS;
        if (op.kind == LoggedOp::Kind::PUT) {
            MDB_val value = ToVal(op.value);
            rc = mdb_put(txn, it->second, &key, &value, 0);
        } else {
            rc = mdb_del(txn, it->second, &key, nullptr);
            if (rc == MDB_NOTFOUND) rc = MDB_SUCCESS;
        }
        if (rc != MDB_SUCCESS) return rc;
    }
    return MDB_SUCCESS;
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

Cursor::Cursor(MDB_txn* txn, const Db& db, std::unique_ptr<const Delta> delta) : m_delta{std::move(delta)}
{
    Check(mdb_cursor_open(txn, db.m_dbi, &m_cursor), "cursor open " + db.Name());
}

Cursor::~Cursor() { mdb_cursor_close(m_cursor); }

std::optional<Cursor::Entry> Cursor::LmdbAt(MDB_cursor_op op, ByteSpan key)
{
    MDB_val k = ToVal(key);
    MDB_val v{};
    const int rc = mdb_cursor_get(m_cursor, &k, &v, op);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    Check(rc, "cursor get");
    return Entry{FromVal(k), FromVal(v)};
}

bool Cursor::Land(ByteSpan key, ByteSpan value)
{
    m_key = key;
    m_value = value;
    m_valid = true;
    return true;
}

bool Cursor::Move(MDB_cursor_op op, ByteSpan key)
{
    const auto entry = LmdbAt(op, key);
    m_valid = entry.has_value();
    return m_valid && Land(entry->key, entry->value);
}

std::optional<Bytes> Cursor::LandOnNearer(const std::optional<Entry>& stored, const Delta::value_type* pending, bool forward)
{
    m_valid = false;
    // On the same key the pending change wins.
    const bool stored_nearer = stored && (!pending || (forward ? BytesLess(stored->key, pending->first) : BytesLess(pending->first, stored->key)));
    if (stored_nearer) {
        Land(stored->key, stored->value);
    } else if (pending && pending->second) {
        Land(pending->first, *pending->second);
    } else if (pending) {
        return pending->first;
    }
    return std::nullopt;
}

bool Cursor::Forward(Bytes from, bool inclusive)
{
    for (;;) {
        // LMDB refuses an empty key for MDB_SET_RANGE; every key is >= the empty key anyway.
        auto stored = from.empty() ? LmdbAt(MDB_FIRST) : LmdbAt(MDB_SET_RANGE, from);
        if (stored && !inclusive && SameBytes(stored->key, from)) stored = LmdbAt(MDB_NEXT);
        const auto pending = inclusive ? m_delta->lower_bound(from) : m_delta->upper_bound(from);
        auto deleted = LandOnNearer(stored, pending != m_delta->end() ? &*pending : nullptr, true);
        if (!deleted) return m_valid;
        from = std::move(*deleted);
        inclusive = false;
    }
}

bool Cursor::Backward(std::optional<Bytes> from, bool inclusive)
{
    for (;;) {
        std::optional<Entry> stored;
        auto pending = m_delta->end();
        if (!from) {
            stored = LmdbAt(MDB_LAST);
        } else {
            stored = from->empty() ? LmdbAt(MDB_FIRST) : LmdbAt(MDB_SET_RANGE, *from);
            if (!stored) {
                stored = LmdbAt(MDB_LAST);
            } else if (!inclusive || !SameBytes(stored->key, *from)) {
                stored = LmdbAt(MDB_PREV);
            }
            pending = inclusive ? m_delta->upper_bound(*from) : m_delta->lower_bound(*from);
        }
        auto deleted = LandOnNearer(stored, pending != m_delta->begin() ? &*std::prev(pending) : nullptr, false);
        if (!deleted) return m_valid;
        from = std::move(*deleted);
        inclusive = false;
    }
}

bool Cursor::Seek(ByteSpan key)
{
    if (m_delta) return Forward(Bytes(key.begin(), key.end()), true);
    return key.empty() ? First() : Move(MDB_SET_RANGE, key);
}
bool Cursor::First() { return m_delta ? Forward({}, true) : Move(MDB_FIRST); }
bool Cursor::Last() { return m_delta ? Backward(std::nullopt, true) : Move(MDB_LAST); }

bool Cursor::Next()
{
    if (!m_delta) return Move(MDB_NEXT);
    if (!m_valid) return First();
    return Forward(Bytes(m_key.begin(), m_key.end()), false);
}

bool Cursor::Prev()
{
    if (!m_delta) return Move(MDB_PREV);
    if (!m_valid) return Last();
    return Backward(Bytes(m_key.begin(), m_key.end()), false);
}

ByteSpan Cursor::Key() const
{
    if (!m_valid) throw StoreError("cursor key", "cursor is not positioned");
    return m_key;
}

ByteSpan Cursor::Value() const
{
    if (!m_valid) throw StoreError("cursor value", "cursor is not positioned");
    return m_value;
}

// ---- Txn ----

Txn::Txn(Env& env, bool write, bool deferred) : m_env{env}
{
    m_env.BeginTxnSlot(write);
    try {
        if (write && !deferred) {
            Check(mdb_txn_begin(m_env.m_env, nullptr, 0, &m_txn), "begin write txn");
            return;
        }
        // After the slot (a map resize waits for slots, never for this lock), before the
        // snapshot, which is then the latest.
        if (write) m_writer_lock = std::unique_lock{m_env.m_writer_mutex};
        m_txn = m_env.BeginSnapshot(m_pending);
    } catch (...) {
        m_txn = nullptr;
        if (m_writer_lock.owns_lock()) m_writer_lock.unlock();
        m_env.EndTxnSlot();
        throw;
    }
}

Txn::~Txn() { Abort(); }

void Txn::Abort()
{
    if (!m_txn) return;
    mdb_txn_abort(m_txn);
    m_txn = nullptr;
    m_pending.reset();
    m_env.EndTxnSlot();
    if (m_writer_lock.owns_lock()) m_writer_lock.unlock();
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

PendingCommit::PendingCommit(std::vector<LoggedOp> ops) : m_ops(std::move(ops))
{
    for (const LoggedOp& op : m_ops) {
        if (!Writes(op.db)) m_dbs.push_back(op.db);
        for (const uint64_t bit : FilterBits(KeyHash(op.db, op.key))) m_filter[bit / 64] |= uint64_t{1} << (bit % 64);
    }
}

bool PendingCommit::Writes(std::string_view db) const { return std::ranges::find(m_dbs, db) != m_dbs.end(); }

bool PendingCommit::MayHold(uint64_t key_hash) const
{
    return std::ranges::all_of(FilterBits(key_hash), [&](uint64_t bit) { return (m_filter[bit / 64] >> (bit % 64)) & 1; });
}

std::array<uint64_t, 2> PendingCommit::FilterBits(uint64_t key_hash)
{
    // Two bits of the filter per pair, from two parts of the hash.
    return {key_hash % FILTER_BITS, (key_hash >> 32) % FILTER_BITS};
}

uint64_t PendingCommit::KeyHash(std::string_view db, ByteSpan key)
{
    // FNV-1a over the Db's name, its length (so that name and key cannot trade bytes), and the
    // key; a filter needs spread, not resistance to chosen keys.
    uint64_t hash = 0xcbf29ce484222325;
    const auto mix = [&](uint8_t byte) { hash = (hash ^ byte) * 0x100000001b3; };
    for (const char c : db) mix(static_cast<uint8_t>(c));
    mix(static_cast<uint8_t>(db.size()));
    for (const uint8_t byte : key) mix(byte);
    return hash;
}

const LoggedOp* Txn::FindPending(const Db& db, ByteSpan key) const
{
    const auto matches = [&](const LoggedOp& op) { return op.db == db.Name() && SameBytes(op.key, key); };
    for (auto op = m_ops.rbegin(); op != m_ops.rend(); ++op) {
        if (matches(*op)) return &*op;
    }
    if (!m_pending) return nullptr;
    const uint64_t key_hash = PendingCommit::KeyHash(db.Name(), key);
    for (auto commit = m_pending->rbegin(); commit != m_pending->rend(); ++commit) {
        if (!(*commit)->MayHold(key_hash)) continue;
        const std::vector<LoggedOp>& ops = (*commit)->Ops();
        for (auto op = ops.rbegin(); op != ops.rend(); ++op) {
            if (matches(*op)) return &*op;
        }
    }
    return nullptr;
}

std::optional<ByteSpan> Txn::GetView(const Db& db, ByteSpan key) const
{
    MDB_txn* txn = Handle();
    if (const LoggedOp* op = FindPending(db, key)) {
        if (op->kind == LoggedOp::Kind::DELETE) return std::nullopt;
        return ByteSpan(op->value);
    }
    MDB_val k = ToVal(key);
    MDB_val v{};
    const int rc = mdb_get(txn, db.m_dbi, &k, &v);
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

Cursor Txn::OpenCursor(const Db& db) const
{
    MDB_txn* txn = Handle();
    auto delta = std::make_unique<Cursor::Delta>();
    const auto add = [&](const std::vector<LoggedOp>& ops) {
        for (const LoggedOp& op : ops) {
            if (op.db != db.Name()) continue;
            auto value = op.kind == LoggedOp::Kind::PUT ? std::optional<Bytes>(op.value) : std::nullopt;
            delta->insert_or_assign(op.key, std::move(value));
        }
    };
    if (m_pending) {
        for (const auto& commit : *m_pending) {
            if (commit->Writes(db.Name())) add(commit->Ops());
        }
    }
    add(m_ops);
    if (delta->empty()) delta.reset();
    return Cursor(txn, db, std::move(delta));
}

void Txn::ForEachPrefix(const Db& db, ByteSpan prefix,
                        const std::function<bool(ByteSpan key, ByteSpan value)>& fn) const
{
    Cursor cursor = OpenCursor(db);
    for (bool ok = cursor.Seek(prefix); ok && HasPrefix(cursor.Key(), prefix); ok = cursor.Next()) {
        if (!fn(cursor.Key(), cursor.Value())) return;
    }
}

// ---- WriteTxn ----

WriteTxn::WriteTxn(Env& env) : Txn(env, true, env.m_logging) {}

void WriteTxn::Put(const Db& db, ByteSpan key, ByteSpan value)
{
    if (m_env.m_logging) {
        // LMDB sees the change only at the next checkpoint, where it must not fail on it.
        if (key.empty() || key.size() > static_cast<size_t>(mdb_env_get_maxkeysize(m_env.m_env))) {
            Fail("put " + db.Name(), MDB_BAD_VALSIZE);
        }
        Handle();
        m_changed = true;
        m_ops.push_back(LoggedOp{LoggedOp::Kind::PUT, db.Name(), Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end())});
        return;
    }
    MDB_val k = ToVal(key);
    MDB_val v = ToVal(value);
    const int rc = mdb_put(Handle(), db.m_dbi, &k, &v, 0);
    m_changed = true;
    if (rc != MDB_SUCCESS) Fail("put " + db.Name(), rc);
}

bool WriteTxn::Delete(const Db& db, ByteSpan key)
{
    if (m_env.m_logging) {
        if (!Exists(db, key)) return false;
        m_changed = true;
        m_ops.push_back(LoggedOp{LoggedOp::Kind::DELETE, db.Name(), Bytes(key.begin(), key.end()), {}});
        return true;
    }
    MDB_val k = ToVal(key);
    const int rc = mdb_del(Handle(), db.m_dbi, &k, nullptr);
    m_changed = true;
    if (rc == MDB_NOTFOUND) return false;
    if (rc != MDB_SUCCESS) Fail("delete " + db.Name(), rc);
    return true;
}

void WriteTxn::Commit(const std::function<void()>& once_durable)
{
    if (m_env.m_logging) return CommitDeferred(once_durable);
    MDB_txn* txn = Handle();
    // mdb_txn_commit frees the txn even when it fails, so it must not be aborted afterwards.
    m_txn = nullptr;
    const int rc = mdb_txn_commit(txn);
    m_env.EndTxnSlot();
    if (rc == MDB_MAP_FULL) m_env.NoteMapFull();
    Check(rc, "commit");
    if (m_changed) m_env.m_commits.fetch_add(1, std::memory_order_relaxed);
    if (once_durable) once_durable();
}

void WriteTxn::CommitDeferred(const std::function<void()>& once_durable)
{
    Handle();
    if (!m_ops.empty()) {
        // Under the writer lock, so the log holds the commits in their order. If it throws, the
        // destructor aborts.
        m_env.AppendToLog(m_ops);
        m_env.AddPending(std::move(m_ops));
        m_ops.clear();
        m_env.m_commits.fetch_add(1, std::memory_order_relaxed);
    }
    // Still under the writer lock: what the commits send leaves in their order.
    if (once_durable) once_durable();
    Abort();
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
        if (m_logging && options.idle_checkpoint.count() > 0) {
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
                if (!WriteCheckpoint()) Log("store")->warn("closing {}: no final checkpoint: the map is full", m_path.string());
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
            rc = ApplyOps(txn, ops, dbis);
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

bool Env::WriteCheckpoint()
{
    const int64_t start = SteadyNanoseconds();
    if (!ApplyPending()) return false;
    // The new header is durable before the old snapshot's reader goes: until then a crash
    // recovers from the old checkpoint, whose pages are still untouched.
    m_log->Restart(SyncedCheckpoint(m_log->Generation() + 1));
    m_syncs.fetch_add(1, std::memory_order_relaxed);
    m_checkpoints.fetch_add(1, std::memory_order_relaxed);
    CloseCheckpointReader();
    OpenCheckpointReader();
    m_checkpoint_times.Record(std::chrono::nanoseconds(SteadyNanoseconds() - start));
    return true;
}

bool Env::ApplyPending()
{
    std::shared_ptr<const PendingCommits> pending;
    {
        const MutexLock lock{m_pending_mutex};
        pending = m_pending;
    }
    if (pending->empty()) return true;
    MDB_txn* txn{nullptr};
    Check(mdb_txn_begin(m_env, nullptr, 0, &txn), "begin checkpoint txn");
    std::map<std::string, MDB_dbi, std::less<>> dbis;
    int rc = MDB_SUCCESS;
    for (const auto& commit : *pending) {
        rc = ApplyOps(txn, commit->Ops(), dbis);
        if (rc != MDB_SUCCESS) break;
    }
    if (rc == MDB_SUCCESS) {
        // LMDB and the pending commits change together for a transaction beginning meanwhile.
        const MutexLock lock{m_pending_mutex};
        rc = mdb_txn_commit(txn);
        if (rc == MDB_SUCCESS) m_pending = std::make_shared<const PendingCommits>();
    } else {
        mdb_txn_abort(txn);
    }
    // Out of space the commits stay pending and logged; the next write transaction grows the
    // map and the next commit checkpoints again.
    if (rc == MDB_MAP_FULL) {
        Log("store")->info("{}: checkpoint waits for the map to grow", m_path.string());
        NoteMapFull();
        return false;
    }
    Check(rc, "checkpoint");
    if (MapMostlyUsed()) NoteMapFull();
    return true;
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

void Env::AppendToLog(std::span<const LoggedOp> ops)
{
    const MutexLock lock{m_log_mutex};
    if (m_log->Records() >= m_checkpoint_commits || m_log->RecordBytes() >= m_checkpoint_log_bytes) {
        // Out of map space the commit still goes on: it is logged, and the next one, the map
        // grown by its transaction's begin, checkpoints.
        (void)WriteCheckpoint();
    }
    const int64_t start = SteadyNanoseconds();
    m_log->Append(++m_last_record, LogRecordKind::COMMIT, ops);
    const int64_t end = SteadyNanoseconds();
    m_commit_write_times.Record(std::chrono::nanoseconds(end - start));
    m_syncs.fetch_add(1, std::memory_order_relaxed);
    m_last_commit_ns.store(end, std::memory_order_relaxed);
}

void Env::AddPending(std::vector<LoggedOp> ops)
{
    auto commit = std::make_shared<const PendingCommit>(std::move(ops));
    const MutexLock lock{m_pending_mutex};
    auto next = std::make_shared<PendingCommits>(*m_pending);
    next->push_back(std::move(commit));
    m_pending = std::move(next);
}

MDB_txn* Env::BeginSnapshot(std::shared_ptr<const PendingCommits>& pending)
{
    MDB_txn* txn{nullptr};
    const MutexLock lock{m_pending_mutex};
    Check(mdb_txn_begin(m_env, nullptr, MDB_RDONLY, &txn), "begin read txn");
    pending = m_pending;
    return txn;
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
    std::chrono::nanoseconds wait{idle};
    for (;;) {
        {
            UniqueLock lock{m_background_mutex};
            lock.WaitFor(m_background_cv, wait, [&]() REQUIRES(m_background_mutex) { return m_background_stopping; });
            if (m_background_stopping) return;
        }
        const std::chrono::nanoseconds quiet{SteadyNanoseconds() - m_last_commit_ns.load(std::memory_order_relaxed)};
        // A commit came meanwhile: look again once the store has been quiet for `idle`.
        wait = quiet < idle ? idle - quiet : std::chrono::nanoseconds{idle};
        if (quiet < idle || LoggedSinceCheckpoint() < min_commits) continue;
        try {
            if (Checkpoint()) m_idle_checkpoints.fetch_add(1, std::memory_order_relaxed);
        } catch (const std::exception& e) {
            // The next commit's own checkpoint, or its write, reports a failing disk.
            Log("store")->warn("{}: idle checkpoint failed: {}", m_path.string(), e.what());
        }
    }
}

bool Env::Checkpoint()
{
    if (!m_logging) return true;
    // An empty write transaction: the writer lock keeps every commit out meanwhile.
    const WriteTxn guard{*this};
    const MutexLock lock{m_log_mutex};
    return WriteCheckpoint();
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
    if (!m_logging) {
        Write([&](WriteTxn& txn) {
            const int rc = mdb_dbi_open(txn.Handle(), name_str.c_str(), MDB_CREATE, &dbi);
            if (rc != MDB_SUCCESS) txn.Fail("open db " + name_str, rc);
        });
    } else {
        OpenLoggedDb(name_str, dbi);
    }
    m_dbs.emplace(name_str, dbi);
    return Db{dbi, name_str};
}

void Env::OpenLoggedDb(const std::string& name, MDB_dbi& dbi)
{
    // A write transaction of the Env's own, for LMDB only: creating a Db is not logged (the
    // log's replay creates what it needs), and it is checkpointed at once, because LMDB must
    // otherwise stay at the checkpoint's snapshot between checkpoints. Out of map space, the
    // next WriteTxn grows the map first.
    bool created = false;
    for (;;) {
        const WriteTxn guard{*this};
        if (!created) {
            MDB_envinfo before{};
            Check(mdb_env_info(m_env, &before), "env info");
            MDB_txn* txn{nullptr};
            Check(mdb_txn_begin(m_env, nullptr, 0, &txn), "begin write txn");
            int rc = mdb_dbi_open(txn, name.c_str(), MDB_CREATE, &dbi);
            if (rc == MDB_SUCCESS) {
                rc = mdb_txn_commit(txn);
            } else {
                mdb_txn_abort(txn);
            }
            if (rc == MDB_MAP_FULL) {
                NoteMapFull();
                continue;
            }
            Check(rc, "open db " + name);
            MDB_envinfo after{};
            Check(mdb_env_info(m_env, &after), "env info");
            if (after.me_last_txnid == before.me_last_txnid) return;
            created = true;
        }
        const MutexLock lock{m_log_mutex};
        if (WriteCheckpoint()) return;
    }
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

void Env::NoteMapFull() { m_grow_pending.store(true); }

bool Env::GrowPending() { return m_grow_pending.load(); }

int Env::ResizeMap(size_t target)
{
    const MutexLock lock{m_log_mutex};
    if (!m_log) return mdb_env_set_mapsize(m_env, target);
    // The checkpoint reader must close too. Between checkpoints LMDB is at the checkpoint's
    // snapshot (commits are pending, not in LMDB), so the reader opened again holds that one.
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
        if (!m_grow_pending.exchange(false)) return;

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
