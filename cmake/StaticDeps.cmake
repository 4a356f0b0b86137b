# Third-party libraries are linked shared, except into executables that set the target property
# TOLLGATE_STATIC_DEPS: those link the static archives Debian ships (libgrpc.a, libprotobuf.a,
# libssl.a, ...) instead, so the process maps one file and touches only the code it uses.
#
# tollgate-sidecar does (option TOLLGATE_STATIC_SIDECAR): a sidecar runs in every job pod, and
# linked this way it starts in a quarter of the time (no symbol resolution across 60 shared
# libraries) and its idle resident set is about 30 % smaller, the part it writes (relocated
# library data) a third smaller. libc, libstdc++ and prometheus-cpp (no static archive in
# Debian) stay shared. Tests, fuzz targets and the other executables keep linking shared.
#
# Our libraries name a third-party dependency through tollgate_shared_deps(), which yields the
# imported targets unless the executable being linked sets the property. That executable links
# tollgate_static_deps, which then yields the archives in one group (the linker rescans it, so
# their order does not matter) and the system libraries they need.
option(TOLLGATE_STATIC_SIDECAR "Link tollgate-sidecar with static third-party archives" ON)

set(TOLLGATE_LINKS_STATIC "$<BOOL:$<TARGET_PROPERTY:TOLLGATE_STATIC_DEPS>>")

# tollgate_shared_deps(<out-var> <targets>...): the targets, for everything but a static link.
function(tollgate_shared_deps out)
  set(${out} "$<$<NOT:${TOLLGATE_LINKS_STATIC}>:${ARGN}>" PARENT_SCOPE)
endfunction()

# The archives and system libraries of the pkg-config modules (in pkg-config's order).
function(tollgate_static_link_items archives_out system_out)
  execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --static --libs ${ARGN}
    OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --static --libs ${ARGN} failed")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(archives)
  set(system)
  foreach(flag IN LISTS flags)
    string(REGEX REPLACE "^-l" "" name "${flag}")
    if(flag MATCHES "^-l" AND NOT name MATCHES "^(c|m|dl|rt|pthread|atomic)$")
      find_library(TOLLGATE_ARCHIVE_${name} NAMES lib${name}.a lib${name}_a.a)  # libuv_a.a
      if(NOT TOLLGATE_ARCHIVE_${name})
        message(FATAL_ERROR "TOLLGATE_STATIC_SIDECAR: no static archive lib${name}.a "
          "(install the -dev package, or configure with -DTOLLGATE_STATIC_SIDECAR=OFF)")
      endif()
      list(APPEND archives ${TOLLGATE_ARCHIVE_${name}})
    elseif(flag MATCHES "^-l" OR flag STREQUAL "-pthread")
      list(APPEND system ${flag})
    endif()  # --push-state/--as-needed wrappers around -latomic: -latomic is kept as is
  endforeach()
  list(REMOVE_DUPLICATES archives)
  list(REMOVE_DUPLICATES system)
  set(${archives_out} ${archives} PARENT_SCOPE)
  set(${system_out} ${system} PARENT_SCOPE)
endfunction()

add_library(tollgate_static_deps INTERFACE)
if(TOLLGATE_STATIC_SIDECAR)
  tollgate_static_link_items(archives system grpc++ protobuf libuv yaml-cpp re2 libssl libcrypto
    absl_status absl_statusor absl_strings absl_hash absl_flat_hash_map absl_synchronization)
  find_library(TOLLGATE_ARCHIVE_pg_query NAMES libpg_query.a REQUIRED)
  list(APPEND archives ${TOLLGATE_ARCHIVE_pg_query})
  list(JOIN archives "," group)
  target_link_libraries(tollgate_static_deps INTERFACE
    "$<${TOLLGATE_LINKS_STATIC}:$<LINK_GROUP:RESCAN,${group}>;${system}>")
endif()
