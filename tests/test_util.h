#ifndef SIDEBOLT_TESTS_TEST_UTIL_H
#define SIDEBOLT_TESTS_TEST_UTIL_H

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace sidebolt::test {

//! Reads tests/vectors/<relative_path> as text; throws if it is missing.
std::string ReadVectorFile(const std::string& relative_path);
//! Reads and parses tests/vectors/<relative_path> as JSON.
nlohmann::json ReadJsonVectors(const std::string& relative_path);

//! A fresh directory under the system temp dir, removed with everything in it on destruction.
class ScratchDir
{
public:
    explicit ScratchDir(const std::string& prefix = "sidebolt-test");
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::filesystem::path& Path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

} // namespace sidebolt::test

#endif
