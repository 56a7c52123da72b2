# Runs at install time (install(SCRIPT) in Install.cmake), when the prefix is
# known: installs meshcached.service naming the installed meshcached and its
# config, and the config itself. The config goes where GNUInstallDirs puts
# it: /etc for the prefix /usr (the .deb), PREFIX/etc otherwise. An existing
# config is the administrator's and is kept; the sample is always in
# share/doc/meshcache.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(etc /etc)
else()
  set(etc ${CMAKE_INSTALL_PREFIX}/etc)
endif()
set(MESHCACHED ${CMAKE_INSTALL_PREFIX}/${MESHCACHE_BINDIR}/meshcached)
set(MESHCACHED_CONFIG ${etc}/meshcache/meshcached.toml)

# Rendered in a directory of its own per destination (installs into several
# prefixes may run at once), removed once installed.
string(MD5 tag "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(render ${MESHCACHE_BINARY_DIR}/install/service-${tag})
configure_file(${MESHCACHE_SOURCE_DIR}/packaging/meshcached.service.in
  ${render}/meshcached.service @ONLY)
file(INSTALL ${render}/meshcached.service DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
file(REMOVE_RECURSE ${render})

set(sample ${MESHCACHE_SOURCE_DIR}/packaging/meshcached.toml)
if(EXISTS "$ENV{DESTDIR}${MESHCACHED_CONFIG}")
  file(READ ${sample} new)
  file(READ "$ENV{DESTDIR}${MESHCACHED_CONFIG}" old)
  if(NOT old STREQUAL new)
    message(STATUS "Kept: $ENV{DESTDIR}${MESHCACHED_CONFIG} (differs from the sample)")
    return()
  endif()
endif()
file(INSTALL ${sample} DESTINATION ${etc}/meshcache)
