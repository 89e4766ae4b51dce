# Our own code builds without warnings; third-party headers are included as SYSTEM.
function(sidebolt_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference -Wformat=2 -Werror=return-type)
  # Clang checks the GUARDED_BY/REQUIRES annotations (util/thread_annotations.h): touching
  # guarded state without its mutex fails the build.
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety -Werror=thread-safety)
  endif()
endfunction()

# sidebolt_library(name SOURCES ... DEPS ...): a static library rooted at the project root so
# includes read like "primitives/tx.h".
function(sidebolt_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  sidebolt_warnings(${name})
endfunction()
