// sideboltd: the Lightning node that runs beside bitcoind.
#include "plugin/config.h"
#include "plugin/daemon.h"
#include "plugin/defaults.h"
#include "plugin/settings.h"
#include "util/logging.h"

#include <csignal>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <pthread.h>

namespace {
using namespace sidebolt;

bool HasFlag(int argc, char** argv, std::initializer_list<const char*> names)
{
    for (int i = 1; i < argc; ++i) {
        for (const char* name : names) {
            if (!std::strcmp(argv[i], name)) return true;
        }
    }
    return false;
}

void BlockShutdownSignals()
{
    // Every thread inherits this mask, so only the main thread's sigtimedwait sees them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}
} // namespace

int main(int argc, char** argv)
{
    if (HasFlag(argc, argv, {"-version", "--version"})) {
        std::cout << "sideboltd v" << PROJECT_VERSION << "\n";
        return 0;
    }
    if (HasFlag(argc, argv, {"-help", "--help", "-h"})) {
        std::cout << "Usage: sideboltd [-key=value ...]\n       sideboltd -version\n\nSettings (also accepted as key=value lines in <datadir>/"
                  << CONFIG_FILE_NAME << "):\n" << Config(DaemonConfigKeys()).HelpText();
        return 0;
    }
    BlockShutdownSignals();
    DaemonSettings settings;
    try {
        settings = LoadDaemonSettings(argc, argv);
        std::filesystem::create_directories(settings.datadir);
        InitLogging((settings.datadir / LOG_FILE_NAME).string(), settings.log_level, settings.print_to_console);
    } catch (const std::exception& e) {
        std::cerr << "sideboltd: error: " << e.what() << "\n";
        return 1;
    }
    try {
        Daemon daemon(settings);
        daemon.Start();
        daemon.WaitForShutdown();
        daemon.Stop();
    } catch (const std::exception& e) {
        Log("daemon")->error("fatal: {}", e.what());
        std::cerr << "sideboltd: error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
