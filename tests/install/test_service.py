"""The service as installed: the sample config (packaging/meshcached.toml)
names every flag of `meshcached --help` and no other, at the default --help
states, and meshcached starts from it; the systemd unit passes
`systemd-analyze verify` and keeps its hardening (`systemd-analyze
security`)."""

import re
import shutil
import subprocess
import tomllib
import unittest

from install_common import (MESHCACHE_CLI, MESHCACHED, SOURCE_DIR, free_ports, install, need,
                            run, scratch, stop, wait_for_node)

SAMPLE = SOURCE_DIR / "packaging" / "meshcached.toml"
NOT_SETTINGS = {"help", "version", "config"}  # flags that are not node settings
SIZES = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def help_entries():
    """meshcached's flags from --help: name -> the text of its entry."""
    entries = {}
    name = None
    for line in run([MESHCACHED, "--help"]).splitlines():
        m = re.match(r"^\s+(?:-\w,)?--([\w-]+)", line)
        if m:
            name = m.group(1)
            entries[name] = line
        elif name and line.startswith("   "):
            entries[name] += " " + line.strip()
        else:
            name = None
    return entries


def sample_keys():
    """Every key the sample names, set or commented out."""
    return re.findall(r"^#? ?([a-z][a-z0-9-]*) = ", SAMPLE.read_text(), re.M)


def normal(value):
    """A default as a comparable value: sizes in bytes, the rest as text."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    m = re.fullmatch(r"(\d+)(B|KiB|MiB|GiB)?", text)
    return int(m.group(1)) * SIZES[m.group(2) or ""] if m else text


class SampleConfig(unittest.TestCase):

    def test_the_sample_names_every_flag_meshcached_accepts_and_no_other(self):
        flags = set(help_entries()) - NOT_SETTINGS
        keys = sample_keys()
        self.assertEqual(len(keys), len(set(keys)), "a key named twice")
        self.assertEqual(sorted(flags - set(keys)), [], "flags missing from the sample")
        self.assertEqual(sorted(set(keys) - flags), [], "keys meshcached does not accept")

    def test_every_setting_has_a_comment_above_it(self):
        lines = SAMPLE.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.match(r"^#? ?[a-z][a-z0-9-]* = ", line):
                above = lines[i - 1]
                self.assertTrue(above.startswith("# ") and not re.match(r"^# [a-z0-9-]+ = ", above),
                                f"no comment above {line!r}")

    def test_the_values_set_are_the_defaults_help_states(self):
        values = tomllib.loads(SAMPLE.read_text())
        checked = 0
        for name, entry in help_entries().items():
            m = re.search(r"\(default ([\w.]+)\)", entry)
            if m and name in values:
                self.assertEqual(normal(values[name]), normal(m.group(1)), name)
                checked += 1
        self.assertGreater(checked, 10)

    def test_meshcached_starts_from_the_sample_and_stops_cleanly(self):
        port, gossip = free_ports(2)  # the sample's own ports may be taken here
        with subprocess.Popen([MESHCACHED, "--config", SAMPLE, "--port", str(port),
                               "--gossip-port", str(gossip)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            try:
                wait_for_node(MESHCACHE_CLI, f"tcp://127.0.0.1:{port}", proc)
            finally:
                code = stop(proc)
            self.assertEqual(code, 0, proc.stdout.read())

    def test_a_key_meshcached_does_not_know_is_refused(self):
        # What keeps the sample honest: a renamed or removed flag left in it
        # would stop meshcached from starting, as here.
        bad = scratch(self, "config") / "bad.toml"
        bad.write_text(SAMPLE.read_text() + "no-such-setting = 1\n")
        p = subprocess.run([MESHCACHED, "--config", bad], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertIn("no-such-setting", p.stdout)


class SystemdUnit(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        (cls.analyze,) = need("systemd-analyze")
        cls.prefix = scratch(cls, "unit-prefix")
        install(cls.prefix)
        cls.unit = cls.prefix / "lib" / "systemd" / "system" / "meshcached.service"

    def test_the_unit_passes_systemd_analyze_verify(self):
        # With MANPATH on the prefix, verify also finds man:meshcached(1).
        if shutil.which("man"):
            run([self.analyze, "verify", self.unit],
                env={"MANPATH": str(self.prefix / "share" / "man")})
        else:
            run([self.analyze, "verify", "--man=no", self.unit])

    def test_the_unit_runs_meshcached_as_its_own_user_restarting_on_failure(self):
        unit = self.unit.read_text()
        for setting in ("DynamicUser=yes", "Restart=on-failure", "NoNewPrivileges=yes",
                        "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                        "PrivateDevices=yes", "CapabilityBoundingSet=\n"):
            self.assertIn("\n" + setting, unit)

    def test_the_unit_keeps_a_low_exposure_score(self):
        # systemd's own measure of the sandbox: 0 (locked down) to 10
        # (unprotected); the unit scores 1.1 and must stay under 2
        # (--threshold fails the command above it too).
        out = run([self.analyze, "security", "--offline=yes", "--threshold=20", self.unit])
        m = re.search(r"Overall exposure level for meshcached.service: (\d+\.\d)", out)
        self.assertIsNotNone(m, out)
        self.assertLess(float(m.group(1)), 2.0, out)


if __name__ == "__main__":
    unittest.main()
