"""The Python and Node.js packages installed as their users install them,
outside the tree, then used against a meshcached: bindings/python with pip
into a virtual environment (Debian's pyzmq, msgpack and xxhash come from the
system site-packages; nothing is downloaded), and the tarball `npm pack`
makes of bindings/node with `npm install --offline` in a scratch project
(its dependencies from npm's cache, which `npm install` in bindings/node
filled; ci/test-bindings runs that before ctest). Outside CI a missing tool
or an empty npm cache skips a test; under CI=true it fails."""

import json
import shutil
import subprocess
import unittest

from install_common import (MESHCACHE_CLI, MESHCACHED, SOURCE_DIR, VERSION, cannot_run,
                            free_ports, need, run, scratch, stop, wait_for_node)

PYTHON = "/usr/bin/python3"  # Debian's, with python3-zmq, -msgpack and -xxhash


class Node:
    """A meshcached on free loopback ports for the duration of a test."""

    def __init__(self, test):
        port, gossip = free_ports(2)
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.proc = subprocess.Popen([MESHCACHED, "--port", str(port), "--gossip-port", str(gossip),
                                      "--handoff-ms", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        test.addCleanup(self.close)
        wait_for_node(MESHCACHE_CLI, self.endpoint, self.proc)

    def close(self):
        stop(self.proc)
        self.proc.stdout.close()


class PythonPackage(unittest.TestCase):

    def test_pip_installs_the_package_with_its_version_into_a_venv(self):
        if subprocess.run([PYTHON, "-c", "import venv, pip"], capture_output=True).returncode:
            cannot_run(f"{PYTHON} lacks venv or pip (Debian's python3-venv, python3-pip)")
        work = scratch(self, "pip")
        # A copy: building in place would leave build/ and *.egg-info in the tree.
        src = work / "src"
        shutil.copytree(SOURCE_DIR / "bindings" / "python", src,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
        venv = work / "venv"
        run([PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", venv])
        python = venv / "bin" / "python"
        # Debian's pip from the system site-packages; --no-build-isolation uses
        # Debian's setuptools instead of fetching one, --no-index fetches nothing.
        run([python, "-m", "pip", "install", "--no-build-isolation", "--no-index", src])
        node = Node(self)
        script = f"""
import importlib.metadata, meshcache, meshcache.testing
print(meshcache.__version__, importlib.metadata.version("meshcache"), meshcache.__file__)
with meshcache.Client([{node.endpoint!r}], timeout_ms=5000) as c:
    c.set("user:1", b"alice")
    assert c.get("user:1") == b"alice", c.get("user:1")
print("ok")
"""
        out = run([python, "-c", script], cwd=work).split()
        self.assertEqual(out[:2], [VERSION, VERSION], "meshcache.__version__, pip's version")
        self.assertTrue(out[2].startswith(str(venv)), f"imported from {out[2]}, not the venv")
        self.assertEqual(out[3], "ok")


class NodePackage(unittest.TestCase):

    def test_npm_pack_gives_a_tarball_a_project_installs_offline_and_requires(self):
        node_bin, npm = need("node", "npm")
        work = scratch(self, "npm")
        package = SOURCE_DIR / "bindings" / "node"
        self.assertEqual(json.loads((package / "package.json").read_text())["version"], VERSION)
        packed = json.loads(run([npm, "pack", "--json", "--pack-destination", work], cwd=package))
        tarball = work / packed[0]["filename"]
        files = sorted(f["path"] for f in packed[0]["files"])
        self.assertIn("index.js", files)
        self.assertIn("lib/client.js", files)
        self.assertEqual([f for f in files if f.startswith(("node_modules/", "test/"))], [])

        project = work / "project"
        project.mkdir()
        (project / "package.json").write_text(
            json.dumps({"name": "scratch", "version": "1.0.0", "private": True}))
        p = subprocess.run([npm, "install", "--offline", "--no-audit", "--no-fund", tarball],
                           cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=300)
        if p.returncode != 0 and "ENOTCACHED" in p.stdout:
            cannot_run("npm's cache lacks meshcache's dependencies: run `npm install` in "
                       "bindings/node once (ci/test-bindings does)")
        self.assertEqual(p.returncode, 0, p.stdout)

        node = Node(self)
        script = f"""
const assert = require('assert');
const meshcache = require('meshcache');
assert.ok(require.resolve('meshcache').startsWith({str(project)!r}));
assert.strictEqual(require('meshcache/package.json').version, {VERSION!r});
assert.strictEqual(typeof meshcache.xxh32, 'function');
(async () => {{
  const c = new meshcache.Client([{node.endpoint!r}], {{ timeoutMs: 5000 }});
  try {{
    await c.set('user:1', 'alice');
    assert.strictEqual((await c.get('user:1')).toString(), 'alice');
  }} finally {{
    c.close();
  }}
  console.log('ok');
}})().catch((e) => {{ console.error(e); process.exit(1); }});
"""
        self.assertEqual(run([node_bin, "-e", script], cwd=project, timeout=60).strip(), "ok")


if __name__ == "__main__":
    unittest.main()
