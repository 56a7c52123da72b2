# What `cmake --install` lays out, and what a consumer gets from it:
#   bin/            meshcached, meshcache-cli
#   lib/            libmeshcache++.so.0.1 (C++), libmeshcache.so.0 (C API)
#   lib/cmake/meshcache/   find_package(meshcache): meshcache::meshcache,
#                          meshcache::meshcache_c
#   lib/pkgconfig/  meshcache.pc (C++), meshcache-c.pc (C)
#   include/meshcache/     the public headers
#   share/man/man1/ meshcached.1.gz, meshcache-cli.1.gz (help2man)
#   lib/systemd/system/meshcached.service, etc/meshcache/meshcached.toml
#   share/doc/meshcache/meshcached.toml (the sample, never edited in place)
# Included from the root CMakeLists.txt once every target exists;
# docs/operations.md ("Install") is the user's side of it.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# ---- the C++ library ---------------------------------------------------
# The C++ client and embeddable node as a shared library, libmeshcache++.so,
# rather than a static archive: Debian ships libraries shared (Policy 8),
# and a consumer then links one library while libzmq, libxxhash and our own
# modules stay behind it (a static archive would put all of them, and their
# CMake and pkg-config lookups, on every consumer's link line). What makes a
# C++ shared library workable is that the public headers hold only std types
# and pimpl classes (Client, Node). Only that API is exported
# (meshcache_cpp.map); the modules inside stay local, as in the C library.
# The SONAME: until 1.0 the C++ ABI may change with any minor release (a
# field added to NodeOptions moves every field after it), so it carries
# major.minor, libmeshcache++.so.0.1; from 1.0 on, the major alone. The C
# library (opaque handles, only ever added to) keeps libmeshcache.so.0.
# The two libraries are independent: a C program does not load the C++ one.
get_property(meshcache_targets DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
set(meshcache_objects)
foreach(t ${meshcache_targets})  # every module with sources (meshcache_module)
  get_target_property(type ${t} TYPE)
  if(t MATCHES "^meshcache_" AND type STREQUAL "STATIC_LIBRARY")
    list(APPEND meshcache_objects $<TARGET_OBJECTS:${t}>)
  endif()
endforeach()
add_library(meshcache_cpp SHARED ${meshcache_objects})
target_link_libraries(meshcache_cpp PRIVATE meshcache)  # the modules' own dependencies
target_include_directories(meshcache_cpp INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
target_compile_features(meshcache_cpp INTERFACE cxx_std_17)  # what the public headers need
set(meshcache_cpp_map ${CMAKE_CURRENT_LIST_DIR}/meshcache_cpp.map)
target_link_options(meshcache_cpp PRIVATE "LINKER:--version-script=${meshcache_cpp_map}")
if(NOT MESHCACHE_SANITIZE)  # clang's sanitizer runtimes are not linked into shared libraries
  target_link_options(meshcache_cpp PRIVATE "LINKER:-z,defs")  # no undefined symbols left
endif()
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(meshcache_cpp_soversion ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(meshcache_cpp_soversion ${PROJECT_VERSION_MAJOR})
endif()
set_target_properties(meshcache_cpp PROPERTIES
  OUTPUT_NAME meshcache++ EXPORT_NAME meshcache LINK_DEPENDS ${meshcache_cpp_map}
  VERSION ${PROJECT_VERSION} SOVERSION ${meshcache_cpp_soversion})
if(TARGET meshcache_c)
  set_target_properties(meshcache_c PROPERTIES EXPORT_NAME meshcache_c)
  set(meshcache_libs meshcache_cpp meshcache_c)
else()
  set(meshcache_libs meshcache_cpp)
endif()

# ---- binaries, libraries, headers -----------------------------------------
foreach(tool meshcached meshcache-cli)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
install(TARGETS ${meshcache_libs} EXPORT meshcacheTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/meshcache DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")

# ---- find_package(meshcache) -----------------------------------------------
set(meshcache_cmakedir ${CMAKE_INSTALL_LIBDIR}/cmake/meshcache)
install(EXPORT meshcacheTargets NAMESPACE meshcache:: DESTINATION ${meshcache_cmakedir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/meshcacheConfig.cmake.in
  ${CMAKE_BINARY_DIR}/install/meshcacheConfig.cmake INSTALL_DESTINATION ${meshcache_cmakedir})
# Before 1.0 a minor release may break the API; from 1.0 on, a major one.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(meshcache_compat SameMinorVersion)
else()
  set(meshcache_compat SameMajorVersion)
endif()
write_basic_package_version_file(${CMAKE_BINARY_DIR}/install/meshcacheConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${meshcache_compat})
install(FILES ${CMAKE_BINARY_DIR}/install/meshcacheConfig.cmake
  ${CMAKE_BINARY_DIR}/install/meshcacheConfigVersion.cmake DESTINATION ${meshcache_cmakedir})

# ---- pkg-config ----------------------------------------------------------------
# The .pc files find the prefix from where they lie (${pcfiledir}), as the
# CMake config does, so a tree installed or unpacked anywhere works.
file(RELATIVE_PATH meshcache_pc_up ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" meshcache_pc_up "${meshcache_pc_up}")
foreach(pc meshcache meshcache-c)
  if(pc STREQUAL "meshcache-c" AND NOT TARGET meshcache_c)
    continue()
  endif()
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${pc}.pc.in ${CMAKE_BINARY_DIR}/install/${pc}.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/install/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

# ---- man pages ---------------------------------------------------------------
# Generated from each tool's --help by Debian's help2man, so a new flag is
# documented the moment it exists; man/*.h2m add what --help does not say.
# Not in a sanitized build, which is for tests, not for installing.
find_program(MESHCACHE_HELP2MAN help2man)
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/man)
set(meshcache_pages)
foreach(tool meshcached meshcache-cli)
  if(NOT TARGET ${tool} OR NOT MESHCACHE_HELP2MAN OR MESHCACHE_SANITIZE)
    continue()
  endif()
  set(page ${CMAKE_BINARY_DIR}/man/${tool}.1)
  add_custom_command(OUTPUT ${page}.gz
    COMMAND ${MESHCACHE_HELP2MAN} --no-info --no-discard-stderr
      --include=${PROJECT_SOURCE_DIR}/man/${tool}.h2m --output=${page} $<TARGET_FILE:${tool}>
    COMMAND gzip -9nf ${page}
    DEPENDS ${tool} ${PROJECT_SOURCE_DIR}/man/${tool}.h2m
    COMMENT "help2man: ${tool}.1" VERBATIM)
  list(APPEND meshcache_pages ${page}.gz)
endforeach()
if(meshcache_pages)
  add_custom_target(man_pages ALL DEPENDS ${meshcache_pages})
  install(FILES ${meshcache_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
elseif(NOT MESHCACHE_HELP2MAN)
  message(WARNING "help2man not found (Debian's help2man; ci/setup installs it): "
    "no man pages will be installed")
endif()

# ---- the service ---------------------------------------------------------------
# The unit names meshcached and its config where they end up, which only the
# install step knows: cpack installs with the prefix /usr (config in /etc),
# `cmake --install --prefix P` with P (config in P/etc).
install(FILES ${PROJECT_SOURCE_DIR}/packaging/meshcached.toml DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(CODE "set(MESHCACHE_SOURCE_DIR [[${PROJECT_SOURCE_DIR}]])
  set(MESHCACHE_BINARY_DIR [[${CMAKE_BINARY_DIR}]])
  set(MESHCACHE_BINDIR [[${CMAKE_INSTALL_BINDIR}]])")
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/InstallService.cmake)
