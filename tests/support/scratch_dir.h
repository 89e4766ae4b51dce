#ifndef SIDEBOLT_TESTS_SUPPORT_SCRATCH_DIR_H
#define SIDEBOLT_TESTS_SUPPORT_SCRATCH_DIR_H

#include <filesystem>
#include <string>

namespace sidebolt::test {

//! A fresh directory under the system temp dir ($TMPDIR), removed with everything in it on
//! destruction. Unit tests and benchmarks put their stores here.
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
