"""Importing the package in a Python that lacks its dependencies says what
is missing and where to find it (Debian's packages, /usr/bin/python3)."""

import pathlib
import subprocess
import sys
import unittest

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[1]


class ImportTest(unittest.TestCase):
    def test_a_missing_dependency_names_the_debian_packages(self):
        for module in ("zmq", "msgpack", "xxhash"):
            with self.subTest(module=module):
                # None in sys.modules makes `import module` fail as if absent.
                code = (f"import sys; sys.modules[{module!r}] = None; "
                        f"sys.path.insert(0, {str(PACKAGE_ROOT)!r}); import meshcache")
                done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                      text=True, timeout=30)
                self.assertNotEqual(done.returncode, 0)
                last = done.stderr.strip().splitlines()[-1]
                self.assertIn(f"python3-{module}", last)
                self.assertIn("/usr/bin/python3", last)
                self.assertIn(sys.executable, last)

    def test_the_package_has_the_project_version(self):
        import meshcache

        self.assertRegex(meshcache.__version__, r"^\d+\.\d+\.\d+$")


if __name__ == "__main__":
    unittest.main()
