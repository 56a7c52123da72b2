"""`cpack -G DEB` of the build, then the package as dpkg sees it: its
Depends (Debian 12 package names, from dpkg-shlibdeps), its control files,
its files; unpacked into a scratch root without root privileges (dpkg-deb
-x), meshcached runs from it and a C program builds and runs against its
library through its pkg-config file."""

import os
import pathlib
import re
import stat
import unittest

from install_common import (BUILD_DIR, SOURCE_DIR, VERSION, free_ports, need, run, scratch)

CONFIG = "/etc/meshcache/meshcached.toml"


def depends_names(field):
    """Package names in a Depends field: `a (>= 1), b | c` -> {a, b, c}."""
    return {alt.strip().split(" ")[0] for dep in field.split(",") for alt in dep.split("|")
            if alt.strip()}


class DebianPackage(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        need("cpack", "dpkg-deb", "dpkg-shlibdeps")
        work = scratch(cls, "deb")
        # CPACK_CMAKE_GENERATOR=Ninja: CPack then skips its `preinstall`
        # build (only the Makefile generators have one), so this packages
        # the tree as built and never compiles anything.
        run(["cpack", "-G", "DEB", "--config", BUILD_DIR / "CPackConfig.cmake", "-B", work,
             "-D", "CPACK_CMAKE_GENERATOR=Ninja"], cwd=work)
        debs = list(work.glob("*.deb"))
        assert len(debs) == 1, f"cpack made {debs}"
        cls.deb = debs[0]
        cls.root = work / "root"
        run(["dpkg-deb", "-x", cls.deb, cls.root])
        cls.control = work / "control"
        run(["dpkg-deb", "-e", cls.deb, cls.control])

    def field(self, name):
        return run(["dpkg-deb", "-f", self.deb, name]).strip()

    def test_the_package_is_named_and_versioned_for_this_machine(self):
        arch = run(["dpkg", "--print-architecture"]).strip()
        self.assertEqual(self.deb.name, f"meshcache_{VERSION}-1_{arch}.deb")
        self.assertEqual(self.field("Package"), "meshcache")
        self.assertEqual(self.field("Version"), f"{VERSION}-1")
        self.assertEqual(self.field("Architecture"), arch)

    def test_depends_names_the_debian_packages_of_the_linked_libraries(self):
        info = run(["dpkg-deb", "-I", self.deb])
        self.assertRegex(info, r"\n Depends: .*libzmq5 \(>= ")
        names = depends_names(self.field("Depends"))
        for needed in ("libzmq5", "libxxhash0", "libstdc++6", "libc6"):
            self.assertIn(needed, names)
        for name in names:  # each a real package: dpkg-shlibdeps found it installed
            run(["dpkg-query", "-W", name])
        self.assertIn("init-system-helpers", self.field("Pre-Depends"))

    def test_the_config_is_a_conffile_and_the_scripts_are_there(self):
        self.assertEqual((self.control / "conffiles").read_text().split(), [CONFIG])
        self.assertIn("activate-noawait ldconfig", (self.control / "triggers").read_text())
        shlibs = (self.control / "shlibs").read_text()
        self.assertIn(f"libmeshcache 0 meshcache (>= {VERSION}-1)", shlibs)
        for script in ("postinst", "prerm", "postrm"):
            path = self.control / script
            self.assertTrue(path.stat().st_mode & stat.S_IXUSR, f"{script} is executable")
            run(["sh", "-n", path])

    def test_postinst_enables_and_starts_the_unit_through_the_debian_helpers(self):
        # The helpers replaced by stubs that log their arguments and succeed
        # (so was-enabled is true, as on a first install). Starting depends on
        # /run/systemd/system, so only enabling is checked.
        stubs = scratch(self, "stubs")
        log = stubs / "log"
        for helper in ("deb-systemd-helper", "deb-systemd-invoke", "systemctl"):
            stub = stubs / helper
            stub.write_text(f"#!/bin/sh\necho {helper} \"$@\" >> {log}\n")
            stub.chmod(0o755)
        env = {"PATH": f"{stubs}:{os.environ['PATH']}"}
        run(["sh", "-e", self.control / "postinst", "configure", ""], env=env)
        self.assertIn("deb-systemd-helper enable meshcached.service", log.read_text())
        run(["sh", "-e", self.control / "postrm", "purge"], env=env)
        self.assertIn("deb-systemd-helper purge meshcached.service", log.read_text())

    def test_the_package_holds_the_install_tree_under_usr_and_etc(self):
        files = {line.split()[-1] if "->" not in line else line.split()[-3]
                 for line in run(["dpkg-deb", "-c", self.deb]).splitlines()}
        for path in ("./usr/bin/meshcached", "./usr/bin/meshcache-cli",
                     "./usr/lib/libmeshcache++.so", "./usr/lib/libmeshcache.so.0",
                     "./usr/include/meshcache/client.hpp", "./usr/include/meshcache/c.h",
                     "./usr/lib/cmake/meshcache/meshcacheConfig.cmake",
                     "./usr/lib/pkgconfig/meshcache.pc", "./usr/lib/pkgconfig/meshcache-c.pc",
                     "./usr/share/man/man1/meshcached.1.gz",
                     "./usr/share/man/man1/meshcache-cli.1.gz",
                     "./usr/lib/systemd/system/meshcached.service", "." + CONFIG):
            self.assertIn(path, files)
        self.assertEqual([f for f in files if not re.match(r"\./(usr|etc)/", f) and f != "./"], [])

    def test_the_unit_starts_the_packaged_meshcached_with_the_packaged_config(self):
        unit = (self.root / "usr/lib/systemd/system/meshcached.service").read_text()
        self.assertIn(f"\nExecStart=/usr/bin/meshcached --config {CONFIG}\n", unit)
        self.assertEqual((self.root / CONFIG.lstrip("/")).read_text(),
                         (SOURCE_DIR / "packaging" / "meshcached.toml").read_text())

    def test_meshcached_runs_from_the_unpacked_package(self):
        env = {"LD_LIBRARY_PATH": str(self.root / "usr" / "lib")}
        out = run([self.root / "usr/bin/meshcached", "--version"], env=env)
        self.assertEqual(out.strip(), f"meshcached {VERSION}")
        out = run([self.root / "usr/bin/meshcache-cli", "--version"], env=env)
        self.assertIn(VERSION, out)

    def test_a_c_program_builds_and_runs_against_the_unpacked_package(self):
        pkg_config, cc = need("pkg-config", "cc")
        work = scratch(self, "deb-consumer")
        env = {"PKG_CONFIG_PATH": str(self.root / "usr/lib/pkgconfig")}
        flags = run([pkg_config, "--cflags", "--libs", "meshcache-c"], env=env).split()
        self.assertIn(f"-I{self.root}/usr/lib/pkgconfig/../../include", flags)
        consumer = pathlib.Path(__file__).parent / "consumer" / "c_consumer.c"
        run([cc, "-std=c99", consumer, "-o", work / "c_consumer", *flags,
             f"-Wl,-rpath,{self.root}/usr/lib"])
        port, gossip = free_ports(2)
        self.assertIn("ok", run([work / "c_consumer", port, gossip, VERSION], timeout=60))


if __name__ == "__main__":
    unittest.main()
