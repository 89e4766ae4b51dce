# Chain follower, watches, fees and broadcasting: talks to bitcoind (RPC, ZMQ) and LMDB, so it
# lives apart from the pure primitives of sidebolt_chain.
sidebolt_library(sidebolt_chainwatch
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/broadcaster.cpp
    ${CMAKE_CURRENT_LIST_DIR}/chain_service.cpp
    ${CMAKE_CURRENT_LIST_DIR}/chain_source.cpp
    ${CMAKE_CURRENT_LIST_DIR}/chain_store.cpp
    ${CMAKE_CURRENT_LIST_DIR}/fees.cpp
    ${CMAKE_CURRENT_LIST_DIR}/follower.cpp
    ${CMAKE_CURRENT_LIST_DIR}/watches.cpp
    ${CMAKE_CURRENT_LIST_DIR}/zmq_listener.cpp
  DEPS sidebolt_chain sidebolt_store sidebolt_rpc cppzmq spdlog::spdlog Threads::Threads)
