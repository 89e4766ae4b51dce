#include "store/env.h"

#include "store/codec.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sidebolt::store {

namespace {

constexpr std::string_view META_DB_NAME{"meta"};
constexpr std::string_view SCHEMA_VERSION_KEY{"schema_version"};
constexpr std::string_view LOCK_FILE_NAME{"store.lock"};

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
}

bool WriteTxn::Delete(const Db& db, ByteSpan key)
{
    MDB_val k = ToVal(key);
    const int rc = mdb_del(Handle(), db.m_dbi, &k, nullptr);
    m_changed = true;
    if (rc == MDB_NOTFOUND) return false;
    if (rc != MDB_SUCCESS) Fail("delete " + db.Name(), rc);
    return true;
}

void WriteTxn::Commit()
{
    MDB_txn* txn = Handle();
    // mdb_txn_commit frees the txn even when it fails, so it must not be aborted afterwards.
    m_txn = nullptr;
    const int rc = mdb_txn_commit(txn);
    m_env.EndTxnSlot();
    if (rc == MDB_MAP_FULL) m_env.NoteMapFull();
    Check(rc, "commit");
    if (m_changed) m_env.m_commits.fetch_add(1, std::memory_order_relaxed);
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

    try {
        Check(mdb_env_create(&m_env), "env create");
        Check(mdb_env_set_maxdbs(m_env, options.max_dbs + 1), "set max dbs"); // +1: meta
        Check(mdb_env_set_mapsize(m_env, options.initial_map_size), "set map size");
        const unsigned flags = MDB_NOTLS | (options.durable ? 0 : MDB_NOSYNC);
        Check(mdb_env_open(m_env, dir.c_str(), flags, 0600), "env open " + dir.string());
        CheckSchema(options);
    } catch (...) {
        if (m_env) mdb_env_close(m_env);
        close(m_lock_fd);
        throw;
    }
}

Env::~Env()
{
    mdb_env_close(m_env);
    close(m_lock_fd);
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
        rc = mdb_env_set_mapsize(m_env, target);
        m_resizing = false;
    }
    m_txn_cv.notify_all();
    Check(rc, "grow map");
}

} // namespace sidebolt::store
