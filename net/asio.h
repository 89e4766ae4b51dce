#ifndef SIDEBOLT_NET_ASIO_H
#define SIDEBOLT_NET_ASIO_H

// The standalone Asio headers net/ uses. Asio is header-only, so its implementation is compiled
// into our files, and at -O2 GCC 12 reports a false -Wnull-dereference inside its scheduler
// (thread_call_stack::contains); the warning is silenced for Asio's code only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <asio/any_io_executor.hpp>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif
