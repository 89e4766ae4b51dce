#include "util/logging.h"
#include "util/sync.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <stdexcept>
#include <vector>

namespace sidebolt {
namespace {
Mutex g_mutex;
std::vector<spdlog::sink_ptr> g_sinks GUARDED_BY(g_mutex);
spdlog::level::level_enum g_level GUARDED_BY(g_mutex) = spdlog::level::warn;

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& component) REQUIRES(g_mutex)
{
    std::vector<spdlog::sink_ptr> sinks = g_sinks;
    if (sinks.empty()) sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    auto logger = std::make_shared<spdlog::logger>(component, sinks.begin(), sinks.end());
    logger->set_level(g_level);
    logger->flush_on(spdlog::level::info);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ [%n] %l: %v", spdlog::pattern_time_type::utc);
    return logger;
}
} // namespace

std::shared_ptr<spdlog::logger> Log(const std::string& component)
{
    const MutexLock lock(g_mutex);
    if (auto existing = spdlog::get(component)) return existing;
    auto logger = MakeLogger(component);
    spdlog::register_logger(logger);
    return logger;
}

void InitLogging(const std::string& file_path, const std::string& level, bool console)
{
    const auto parsed = spdlog::level::from_str(level);
    if (parsed == spdlog::level::off && level != "off") throw std::invalid_argument("unknown log level '" + level + "'");
    const MutexLock lock(g_mutex);
    g_sinks.clear();
    g_sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file_path, /*truncate=*/false));
    if (console) g_sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    g_level = parsed;
    // Loggers created before now (static users) are rebuilt onto the new sinks.
    spdlog::drop_all();
}

} // namespace sidebolt
