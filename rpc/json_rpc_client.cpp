#include "rpc/json_rpc_client.h"

#include "util/logging.h"
#include "util/secure.h"
#include "util/sync.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <fstream>
#include <semaphore>
#include <vector>

namespace sidebolt::rpc {

namespace {

//! A node answer larger than this is refused; the largest expected one is a 4 MB block as hex.
constexpr size_t MAX_RESPONSE_BYTES = size_t{64} << 20;
constexpr long HTTP_OK = 200;
constexpr long HTTP_UNAUTHORIZED = 401;
constexpr long HTTP_SERVICE_UNAVAILABLE = 503;

void WipeString(std::string& s) { SecureWipe(s.data(), s.size()); }

//! A user/password pair as sent on one attempt; wiped when the attempt ends.
struct Credentials {
    std::string user;
    std::string password;
    uint64_t generation{0};
    ~Credentials()
    {
        WipeString(user);
        WipeString(password);
    }
};

void GlobalInitCurl()
{
    static std::once_flag once;
    std::call_once(once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
    });
}

struct CurlDeleter {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

size_t WriteBody(char* data, size_t size, size_t count, void* user)
{
    auto& body = *static_cast<std::string*>(user);
    const size_t bytes = size * count;
    if (body.size() + bytes > MAX_RESPONSE_BYTES) return 0; // makes curl fail with CURLE_WRITE_ERROR
    body.append(data, bytes);
    return bytes;
}

int CheckInterrupted(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
    return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;
}

//! Holds one of the max_concurrent request slots.
class SlotGuard
{
public:
    explicit SlotGuard(std::counting_semaphore<>& slots) : m_slots{slots} { m_slots.acquire(); }
    ~SlotGuard() { m_slots.release(); }
    SlotGuard(const SlotGuard&) = delete;
    SlotGuard& operator=(const SlotGuard&) = delete;

private:
    std::counting_semaphore<>& m_slots;
};

//! What one HTTP exchange produced: a result, or an error and whether to try again.
struct Outcome {
    std::optional<nlohmann::json> result;
    std::exception_ptr error;
    bool retry{false};
    bool retry_now{false}; //!< retry without backoff (fresh credentials)

    static Outcome Fail(std::exception_ptr e, bool retry) { return {std::nullopt, std::move(e), retry, false}; }
};

template <typename E>
Outcome FailWith(E error, bool retry)
{
    return Outcome::Fail(std::make_exception_ptr(std::move(error)), retry);
}

RpcTransportError Interrupted() { return {TransportErrorKind::Interrupted, "client interrupted"}; }

std::string Abbreviate(const std::string& text)
{
    constexpr size_t MAX = 200;
    return text.size() <= MAX ? text : text.substr(0, MAX) + "...";
}

} // namespace

RpcError::RpcError(int code, std::string message)
    : std::runtime_error("RPC error " + std::to_string(code) + ": " + message), m_code{code},
      m_message{std::move(message)}
{
}

std::string_view ToString(TransportErrorKind kind)
{
    switch (kind) {
    case TransportErrorKind::ConnectFailed: return "connection failed";
    case TransportErrorKind::Timeout: return "timeout";
    case TransportErrorKind::HttpStatus: return "HTTP error";
    case TransportErrorKind::AuthFailed: return "authentication failed";
    case TransportErrorKind::CookieUnreadable: return "cookie unreadable";
    case TransportErrorKind::BadResponse: return "bad response";
    case TransportErrorKind::Interrupted: return "interrupted";
    }
    return "unknown";
}

RpcTransportError::RpcTransportError(TransportErrorKind kind, const std::string& detail, long http_status)
    : std::runtime_error("bitcoind RPC " + std::string{ToString(kind)} + ": " + detail), m_kind{kind},
      m_http_status{http_status}
{
}

PasswordAuth::~PasswordAuth() { WipeString(password); }

struct JsonRpcClient::Impl {
    explicit Impl(JsonRpcConfig cfg)
        : config{std::move(cfg)}, slots{static_cast<std::ptrdiff_t>(std::max<size_t>(config.max_concurrent, 1))}
    {
        GlobalInitCurl();
        curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
        // Without this curl waits for "100 Continue" on large bodies, which bitcoind never sends.
        if (list) list = curl_slist_append(list, "Expect:");
        if (!list) throw std::runtime_error("curl_slist_append failed");
        headers.reset(list);
        base_url = "http://" + (config.host.find(':') != std::string::npos && config.host.front() != '['
                                    ? "[" + config.host + "]"
                                    : config.host) +
                   ":" + std::to_string(config.port);
    }

    std::string Url(const std::optional<std::string>& wallet) const
    {
        if (!wallet) return base_url + "/";
        // Since curl 7.82 the handle argument of curl_easy_escape is unused.
        std::unique_ptr<char, decltype(&curl_free)> escaped{
            curl_easy_escape(nullptr, wallet->data(), static_cast<int>(wallet->size())), &curl_free};
        if (!escaped) throw std::runtime_error("curl_easy_escape failed");
        return base_url + "/wallet/" + escaped.get();
    }

    nlohmann::json Call(std::string_view method, const nlohmann::json& params, const std::optional<std::string>& wallet)
    {
        if (!params.is_array()) throw std::invalid_argument("JSON-RPC params must be an array");
        const uint64_t id = next_id++;
        const std::string url = Url(wallet);
        const std::string body =
            nlohmann::json{{"jsonrpc", "1.0"}, {"id", id}, {"method", method}, {"params", params}}.dump();

        const auto deadline = std::chrono::steady_clock::now() + config.retry_budget;
        auto backoff = config.initial_backoff;
        for (;;) {
            Outcome outcome = Attempt(url, body, id);
            if (outcome.result) return std::move(*outcome.result);
            if (!outcome.retry || interrupted) std::rethrow_exception(outcome.error);
            if (outcome.retry_now) continue;
            if (std::chrono::steady_clock::now() + backoff > deadline) std::rethrow_exception(outcome.error);
            LogRetry(method, outcome.error, backoff);
            SleepFor(backoff);
            backoff = std::min(backoff * 2, config.max_backoff);
        }
    }

    static void LogRetry(std::string_view method, const std::exception_ptr& error, std::chrono::milliseconds backoff)
    {
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            Log("rpc")->debug("bitcoind {}: {}; retrying in {} ms", method, e.what(), backoff.count());
        }
    }

    void SleepFor(std::chrono::milliseconds duration)
    {
        UniqueLock lock{sleep_mutex};
        if (lock.WaitFor(sleep_cv, duration, [&] { return interrupted.load(); })) {
            throw Interrupted();
        }
    }

    void Interrupt()
    {
        {
            const MutexLock lock{sleep_mutex};
            interrupted = true;
        }
        sleep_cv.notify_all();
    }

    // ---- one HTTP exchange ----

    Outcome Attempt(const std::string& url, const std::string& body, uint64_t id)
    {
        if (interrupted) return FailWith(Interrupted(), false);
        std::optional<Credentials> credentials;
        try {
            credentials.emplace(CurrentCredentials());
        } catch (const RpcTransportError&) {
            // A missing cookie usually means the node is (re)starting: worth waiting for.
            return Outcome::Fail(std::current_exception(), true);
        }

        std::string response;
        long status = 0;
        char error_buffer[CURL_ERROR_SIZE] = {};
        const CURLcode rc = Perform(url, body, *credentials, response, status, error_buffer);

        if (rc != CURLE_OK) return CurlFailure(rc, error_buffer);
        if (status == HTTP_UNAUTHORIZED) return Unauthorized(credentials->generation);

        const auto json = nlohmann::json::parse(response, nullptr, /*allow_exceptions=*/false);
        const bool is_rpc_answer = json.is_object() && json.contains("result") && json.contains("error");
        if (!is_rpc_answer) {
            if (status == HTTP_OK) {
                return FailWith(RpcTransportError(TransportErrorKind::BadResponse,
                                               "not a JSON-RPC answer: " + Abbreviate(response)),
                                false);
            }
            return FailWith(RpcTransportError(TransportErrorKind::HttpStatus,
                                           "HTTP " + std::to_string(status) + ": " + Abbreviate(response), status),
                            status == HTTP_SERVICE_UNAVAILABLE);
        }
        if (const auto& error = json["error"]; !error.is_null()) return RpcFailure(error);
        if (json.contains("id") && json["id"] != id) {
            const RpcTransportError mismatch{TransportErrorKind::BadResponse, "answer id does not match request"};
            return FailWith(mismatch, false);
        }
        Outcome ok;
        ok.result = json["result"];
        return ok;
    }

    CURLcode Perform(const std::string& url, const std::string& body, const Credentials& credentials,
                     std::string& response, long& status, char* error_buffer)
    {
        SlotGuard slot{slots};
        CurlPtr curl = TakeHandle();
        curl_easy_reset(curl.get()); // keeps the connection cache: connections are reused
        CURL* h = curl.get();
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, credentials.user.c_str());
        curl_easy_setopt(h, CURLOPT_PASSWORD, credentials.password.c_str());
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WriteBody);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config.call_timeout.count()));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.connect_timeout.count()));
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); // required for multi-threaded use
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); // the node is local; ignore http_proxy
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &CheckInterrupted);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &interrupted);
        const CURLcode rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        // Drop pointers to this attempt's buffers before the handle goes back to the pool.
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
        ReturnHandle(std::move(curl));
        return rc;
    }

    static Outcome CurlFailure(CURLcode rc, const char* error_buffer)
    {
        const std::string detail = error_buffer[0] ? error_buffer : curl_easy_strerror(rc);
        switch (rc) {
        case CURLE_ABORTED_BY_CALLBACK:
            return FailWith(Interrupted(), false);
        case CURLE_OPERATION_TIMEDOUT:
            // Not retried: the node may still be working on it, and waiting longer is the caller's call.
            return FailWith(RpcTransportError(TransportErrorKind::Timeout, detail), false);
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
            return FailWith(RpcTransportError(TransportErrorKind::ConnectFailed, detail), true);
        case CURLE_WRITE_ERROR:
            return FailWith(RpcTransportError(TransportErrorKind::BadResponse,
                                           "answer larger than " + std::to_string(MAX_RESPONSE_BYTES) + " bytes"),
                            false);
        default:
            return FailWith(RpcTransportError(TransportErrorKind::ConnectFailed, detail), false);
        }
    }

    static Outcome RpcFailure(const nlohmann::json& error)
    {
        if (!error.is_object() || !error.contains("code") || !error["code"].is_number_integer()) {
            return FailWith(RpcTransportError(TransportErrorKind::BadResponse,
                                           "malformed error member: " + Abbreviate(error.dump())),
                            false);
        }
        const int code = error["code"].get<int>();
        const auto message_it = error.find("message");
        std::string message =
            message_it != error.end() && message_it->is_string() ? message_it->get<std::string>() : "";
        return FailWith(RpcError(code, std::move(message)), code == RPC_IN_WARMUP);
    }

    // ---- handle pool ----

    CurlPtr TakeHandle()
    {
        {
            const MutexLock lock{pool_mutex};
            if (!idle.empty()) {
                CurlPtr curl = std::move(idle.back());
                idle.pop_back();
                return curl;
            }
        }
        CurlPtr curl{curl_easy_init()};
        if (!curl) throw std::runtime_error("curl_easy_init failed");
        return curl;
    }

    void ReturnHandle(CurlPtr curl)
    {
        const MutexLock lock{pool_mutex};
        idle.push_back(std::move(curl));
    }

    // ---- credentials ----

    Credentials CurrentCredentials()
    {
        if (const auto* auth = std::get_if<PasswordAuth>(&config.auth)) return {auth->user, auth->password, 0};
        const MutexLock lock{cookie_mutex};
        if (!cookie) cookie.emplace(ReadCookie());
        return {cookie->user, cookie->password, cookie_generation};
    }

    //! 401: with a cookie, bitcoind may have restarted and written a new one; read it again.
    Outcome Unauthorized(uint64_t generation_used)
    {
        const auto* cookie_auth = std::get_if<CookieAuth>(&config.auth);
        if (!cookie_auth) {
            return FailWith(RpcTransportError(TransportErrorKind::AuthFailed, "bitcoind refused rpcuser/rpcpassword",
                                           HTTP_UNAUTHORIZED),
                            false);
        }
        const MutexLock lock{cookie_mutex};
        if (cookie_generation != generation_used) return RetryNow(); // another call already re-read it
        try {
            Credentials fresh = ReadCookie();
            if (cookie && fresh.user == cookie->user && fresh.password == cookie->password) {
                return FailWith(RpcTransportError(TransportErrorKind::AuthFailed,
                                               "bitcoind refused the cookie in " + cookie_auth->path.string() +
                                                   " (is it the cookie of this node?)",
                                               HTTP_UNAUTHORIZED),
                                false);
            }
            cookie.emplace(std::move(fresh)); // the old value is wiped by its destructor
            ++cookie_generation;
            return RetryNow();
        } catch (const RpcTransportError&) {
            cookie.reset();
            return Outcome::Fail(std::current_exception(), true);
        }
    }

    static Outcome RetryNow()
    {
        Outcome outcome = FailWith(RpcTransportError(TransportErrorKind::AuthFailed, "credentials changed"), true);
        outcome.retry_now = true;
        return outcome;
    }

    Credentials ReadCookie() const
    {
        const auto& path = std::get<CookieAuth>(config.auth).path;
        std::ifstream file{path};
        std::string content;
        if (!file || !std::getline(file, content)) {
            throw RpcTransportError(TransportErrorKind::CookieUnreadable, "cannot read " + path.string());
        }
        Credentials credentials;
        const auto colon = content.find(':');
        if (colon != std::string::npos) {
            credentials.user = content.substr(0, colon);
            credentials.password = content.substr(colon + 1);
            auto& password = credentials.password;
            while (!password.empty() && std::isspace(static_cast<unsigned char>(password.back()))) password.pop_back();
        }
        WipeString(content);
        if (colon == std::string::npos || credentials.password.empty()) {
            throw RpcTransportError(TransportErrorKind::CookieUnreadable, "malformed cookie file " + path.string());
        }
        return credentials;
    }

    const JsonRpcConfig config;
    std::string base_url;
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    std::atomic<uint64_t> next_id{1};

    std::counting_semaphore<> slots;
    Mutex pool_mutex;
    std::vector<CurlPtr> idle GUARDED_BY(pool_mutex);

    Mutex cookie_mutex;
    std::optional<Credentials> cookie GUARDED_BY(cookie_mutex);
    uint64_t cookie_generation GUARDED_BY(cookie_mutex){0};

    std::atomic<bool> interrupted{false};
    //! Guards nothing: what Interrupt sets is atomic, the mutex only pairs with sleep_cv.
    Mutex sleep_mutex;
    std::condition_variable sleep_cv;
};

JsonRpcClient::JsonRpcClient(JsonRpcConfig config) : m_impl{std::make_unique<Impl>(std::move(config))} {}

JsonRpcClient::~JsonRpcClient() = default;

nlohmann::json JsonRpcClient::Call(std::string_view method, const nlohmann::json& params,
                                   const std::optional<std::string>& wallet)
{
    return m_impl->Call(method, params, wallet);
}

void JsonRpcClient::Interrupt() { m_impl->Interrupt(); }

} // namespace sidebolt::rpc
