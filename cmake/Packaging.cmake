# A Debian package of what Install.cmake installs: `cpack -G DEB` in the build
# directory writes meshcache_VERSION-1_ARCH.deb (prefix /usr, config in
# /etc/meshcache). One package holds the daemon, the cli, both libraries and
# the development files, as upstream .debs usually do; splitting it the
# Debian way (meshcached, libmeshcache0, libmeshcache-dev) is for a
# debian/ directory, not for CPack. Included from the root CMakeLists.txt
# after Install.cmake.
set(CPACK_PACKAGE_NAME meshcache)
set(CPACK_PACKAGE_VENDOR "meshcache")
set(CPACK_PACKAGE_CONTACT "meshcache maintainers <meshcache@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "peer-to-peer cache mesh on ZeroMQ")
set(CPACK_PACKAGE_DESCRIPTION "meshcache is a sharded in-memory cache whose nodes find each
other by gossip and route each key to its owner on a consistent-hash ring.
This package holds the daemon (meshcached, with a systemd unit), the command
line client (meshcache-cli), the C++ library (libmeshcache++) and the C
library (libmeshcache) with their headers, CMake and pkg-config files.")
set(CPACK_STRIP_FILES ON)  # debug information belongs in a -dbgsym package

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # meshcache_0.1.0-1_amd64.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from what the binaries and libraries link (dpkg-shlibdeps, from
# dpkg-dev): libzmq5, libxxhash0, libstdc++6, libc6, ... as Debian 12 names them.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The maintainer scripts call deb-systemd-helper, as dh_installsystemd's do.
set(CPACK_DEBIAN_PACKAGE_PREDEPENDS "init-system-helpers (>= 1.54~)")
# A shlibs file for packages built against ours; ldconfig runs through the
# triggers file (CPack adds its own ldconfig calls only to scripts it writes).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# The config is the administrator's: dpkg keeps their edits across upgrades.
file(WRITE ${CMAKE_BINARY_DIR}/install/conffiles "/etc/meshcache/meshcached.toml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/install/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm ${PROJECT_SOURCE_DIR}/packaging/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
