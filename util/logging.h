#ifndef SIDEBOLT_UTIL_LOGGING_H
#define SIDEBOLT_UTIL_LOGGING_H

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace sidebolt {

//! The logger for one component ("chain", "rpc", "net", ...). Every component logger writes to
//! the sinks installed by InitLogging; before that (unit tests) they write to stderr at warn.
std::shared_ptr<spdlog::logger> Log(const std::string& component);

//! Sends every component's log to `file_path` (and stderr when `console`), at `level`
//! ("trace", "debug", "info", "warn", "error"). Throws std::invalid_argument on a bad level.
void InitLogging(const std::string& file_path, const std::string& level, bool console);

} // namespace sidebolt

#endif
