#ifndef SIDEBOLT_TESTS_TEST_UTIL_H
#define SIDEBOLT_TESTS_TEST_UTIL_H

#include "tests/support/scratch_dir.h"

#include <nlohmann/json.hpp>

#include <string>

namespace sidebolt::test {

//! Reads tests/vectors/<relative_path> as text; throws if it is missing.
std::string ReadVectorFile(const std::string& relative_path);
//! Reads and parses tests/vectors/<relative_path> as JSON.
nlohmann::json ReadJsonVectors(const std::string& relative_path);

} // namespace sidebolt::test

#endif
