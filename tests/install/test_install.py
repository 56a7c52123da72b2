"""`cmake --install` into a scratch prefix, then what a user finds there: the
binaries and libraries (with their SONAMEs and nothing but the public API
exported), the headers, man pages, the unit and the config; and a C++ and a C
program built against the prefix alone, once through find_package and once
through pkg-config, that start a node and set and get through it."""

import json
import pathlib
import re
import shutil
import tempfile
import unittest

from install_common import (LIBDIR, SOURCE_DIR, BUILD_DIR, VERSION, free_ports, install,
                            need, run, scratch)

CONSUMER = pathlib.Path(__file__).parent / "consumer"
MAJOR, MINOR = VERSION.split(".")[:2]
CXX_SONAME = f"libmeshcache++.so.{MAJOR}.{MINOR}" if MAJOR == "0" else f"libmeshcache++.so.{MAJOR}"
C_SONAME = "libmeshcache.so.0"
PUBLIC_HEADERS = sorted(p.name for p in (SOURCE_DIR / "include" / "meshcache").iterdir()
                        if p.suffix in (".h", ".hpp"))


def setUpModule():
    global PREFIX
    top = pathlib.Path(tempfile.mkdtemp(prefix="meshcache-prefix-"))
    unittest.addModuleCleanup(shutil.rmtree, top, True)
    PREFIX = top / "usr"
    install(PREFIX)


def soname(path):
    out = run(["readelf", "-d", path])
    m = re.search(r"\(SONAME\)\s+Library soname: \[(.+)\]", out)
    return m.group(1) if m else None


def exported(lib):
    """Demangled names of the functions a shared library exports."""
    out = run(["nm", "-DC", "--defined-only", lib])
    return {line.split(" ", 2)[2] for line in out.splitlines() if line.count(" ") >= 2}


def public_names():
    """The classes and free functions the public C++ headers declare:
    `class|struct Name` and column-0 function declarations."""
    names = set()
    for header in (SOURCE_DIR / "include" / "meshcache").glob("*.hpp"):
        text = header.read_text()
        names |= set(re.findall(r"^(?:class|struct)\s+(?:\[\[\w+\]\]\s+)?(\w+)", text, re.M))
        names |= set(re.findall(r"^[A-Za-z][\w:<>,*& ]*?[\s*&](\w+)\(", text, re.M))
    return names


class InstalledTree(unittest.TestCase):
    """The layout under the prefix."""

    def test_binaries_run_from_the_prefix(self):
        for tool in ("meshcached", "meshcache-cli"):
            out = run([PREFIX / "bin" / tool, "--version"])
            self.assertIn(f"{tool} {VERSION}", out)

    def test_libraries_carry_their_sonames_and_dev_links(self):
        lib = PREFIX / LIBDIR
        self.assertEqual(soname(lib / "libmeshcache++.so"), CXX_SONAME)
        self.assertEqual(soname(lib / "libmeshcache.so"), C_SONAME)
        for name in (CXX_SONAME, C_SONAME):
            self.assertTrue((lib / name).is_symlink(), f"{name} is the SONAME link")
            self.assertTrue((lib / name).exists(), f"{name} points at the library")

    def test_the_cxx_library_exports_the_public_api_and_nothing_else(self):
        names = exported(PREFIX / LIBDIR / "libmeshcache++.so")
        public = public_names()
        self.assertIn("Client", public)
        self.assertIn("ValidateClientOptions", public)
        leaked = sorted(n for n in names
                        if not re.match(r"meshcache::(\w+)", n)
                        or re.match(r"meshcache::(\w+)", n).group(1) not in public
                        or "::Impl::" in n)
        self.assertEqual(leaked, [], "exported but not public (cmake/meshcache_cpp.map)")
        # Every out-of-line definition of a public name in the modules must be
        # exported, or a consumer calling it fails to link.
        defined = set()
        for archive in BUILD_DIR.glob("libmeshcache_*.a"):
            for line in run(["nm", "-C", "--defined-only", archive]).splitlines():
                parts = line.split(" ", 2)
                if len(parts) == 3 and parts[1] == "T":
                    m = re.match(r"meshcache::(\w+)", parts[2])
                    if m and m.group(1) in public and "::Impl::" not in parts[2]:
                        defined.add(parts[2])
        self.assertTrue(defined, "no public definitions found in the modules")
        self.assertEqual(sorted(defined - names), [],
                         "public but not exported: add them to cmake/meshcache_cpp.map")

    def test_the_c_library_exports_only_the_c_api(self):
        names = exported(PREFIX / LIBDIR / "libmeshcache.so")
        self.assertIn("meshcache_client_open", names)
        self.assertEqual(sorted(n for n in names if not n.startswith("meshcache_")), [])

    def test_every_public_header_is_installed_and_nothing_else(self):
        installed = sorted(p.name for p in (PREFIX / "include" / "meshcache").iterdir())
        self.assertEqual(installed, PUBLIC_HEADERS)

    def test_man_pages_document_every_flag(self):
        for tool in ("meshcached", "meshcache-cli"):
            page = PREFIX / "share" / "man" / "man1" / f"{tool}.1.gz"
            self.assertTrue(page.exists(), f"{page} (help2man)")
            text = run(["gzip", "-dc", page]).replace("\\-", "-")
            self.assertIn(f".TH {tool.upper()} \"1\"", text)
            self.assertIn(".SH EXAMPLES", text)
            usage = run([PREFIX / "bin" / tool, "--help"])
            for flag in re.findall(r"^\s+(?:-\w,)?(--[\w-]+)", usage, re.M):
                self.assertIn(flag, text, f"{tool}.1 lacks {flag}")

    def test_the_unit_and_config_name_the_prefix(self):
        unit = (PREFIX / "lib" / "systemd" / "system" / "meshcached.service").read_text()
        config = PREFIX / "etc" / "meshcache" / "meshcached.toml"
        self.assertIn(f"\nExecStart={PREFIX}/bin/meshcached --config {config}\n", unit)
        sample = (SOURCE_DIR / "packaging" / "meshcached.toml").read_text()
        self.assertEqual(config.read_text(), sample)
        self.assertEqual((PREFIX / "share" / "doc" / "meshcache" / "meshcached.toml").read_text(),
                         sample)

    def test_an_edited_config_survives_a_second_install(self):
        config = PREFIX / "etc" / "meshcache" / "meshcached.toml"
        original = config.read_text()
        try:
            config.write_text(original + "port = 7500\n")
            install(PREFIX)
            self.assertTrue(config.read_text().endswith("port = 7500\n"))
        finally:
            config.write_text(original)

    def test_installed_files_name_neither_the_source_nor_the_build_tree(self):
        for path in PREFIX.rglob("*"):
            text_files = (".cmake", ".pc", ".service", ".toml", ".h", ".hpp")
            if path.is_file() and path.suffix in text_files:
                text = path.read_text()
                for tree in (SOURCE_DIR, BUILD_DIR):
                    self.assertNotIn(str(tree), text, f"{path} names {tree}")


def copy_consumer(dest):
    """The consumer sources, plus all_headers.cc including every installed
    header, in a directory outside the meshcache tree."""
    shutil.copytree(CONSUMER, dest)
    headers = sorted((PREFIX / "include" / "meshcache").iterdir())
    (dest / "all_headers.cc").write_text(
        "".join(f"#include <meshcache/{h.name}>\n" for h in headers))
    return dest


def run_consumers(test, binaries):
    for binary in binaries:
        port, gossip = free_ports(2)
        out = run([binary, port, gossip, VERSION], timeout=60)
        test.assertIn("ok", out)


def assert_outside_tree(test, text, what):
    for tree in (SOURCE_DIR, BUILD_DIR):
        test.assertNotIn(str(tree), text, f"{what} names {tree}")


class FindPackageConsumer(unittest.TestCase):
    """A CMake project that finds meshcache through CMAKE_PREFIX_PATH."""

    def test_cxx_and_c_programs_build_with_find_package_and_run(self):
        work = scratch(self, "find-package")
        src = copy_consumer(work / "src")
        build = work / "build"
        # No package registry, no system prefixes: the scratch prefix or nothing.
        run(["cmake", "-S", src, "-B", build, f"-DCMAKE_PREFIX_PATH={PREFIX}",
             "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF", "-DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF",
             "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"])
        cache = (build / "CMakeCache.txt").read_text()
        self.assertIn(f"meshcache_DIR:PATH={PREFIX}/{LIBDIR}/cmake/meshcache", cache)
        run(["cmake", "--build", build, "-j2"])
        commands = (build / "compile_commands.json").read_text()
        self.assertEqual(len(json.loads(commands)), 3)
        assert_outside_tree(self, commands, "a compile command")
        for link in build.rglob("link.txt"):
            assert_outside_tree(self, link.read_text(), link)
        run_consumers(self, [build / "cpp_consumer", build / "c_consumer"])


class PkgConfigConsumer(unittest.TestCase):
    """The same programs built with the compiler and pkg-config alone."""

    def test_cxx_and_c_programs_build_with_pkg_config_and_run(self):
        pkg_config, cxx, cc = need("pkg-config", "c++", "cc")
        work = scratch(self, "pkg-config")
        src = copy_consumer(work / "src")
        env = {"PKG_CONFIG_PATH": str(PREFIX / LIBDIR / "pkgconfig")}
        for module in ("meshcache", "meshcache-c"):
            self.assertEqual(run([pkg_config, "--modversion", module], env=env).strip(), VERSION)
        flags = {m: run([pkg_config, "--cflags", "--libs", m], env=env).split()
                 for m in ("meshcache", "meshcache-c")}
        assert_outside_tree(self, " ".join(flags["meshcache"] + flags["meshcache-c"]), "pkg-config")
        rpath = f"-Wl,-rpath,{PREFIX / LIBDIR}"
        run([cxx, "-std=c++17", "-c", src / "all_headers.cc", "-o", work / "all_headers.o",
             *flags["meshcache"]])
        run([cxx, "-std=c++17", src / "cpp_consumer.cc", "-o", work / "cpp_consumer",
             *flags["meshcache"], rpath])
        run([cc, "-std=c99", src / "c_consumer.c", "-o", work / "c_consumer",
             *flags["meshcache-c"], rpath])
        run_consumers(self, [work / "cpp_consumer", work / "c_consumer"])


if __name__ == "__main__":
    unittest.main()
