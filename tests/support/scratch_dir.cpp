#include "tests/support/scratch_dir.h"

#include <cstdlib>
#include <stdexcept>

namespace sidebolt::test {

ScratchDir::ScratchDir(const std::string& prefix)
{
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    m_path = pattern;
}

ScratchDir::~ScratchDir() { std::filesystem::remove_all(m_path); }

} // namespace sidebolt::test
