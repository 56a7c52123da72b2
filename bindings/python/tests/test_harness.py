"""LocalMesh itself, and the mesh's answers to nodes coming and going."""

import os
import time
import unittest
import unittest.mock

import meshcache
from meshcache.testing import LocalMesh, MeshError, find_meshcached

from .mesh_case import key_owned_by, mesh_ring, require_meshcached, wait_for


def states(mesh, i):
    """{node id: state} in node i's ring."""
    return {n["id"]: n["state"] for n in mesh.ring(i)["nodes"]}


class HarnessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_meshcached()

    def mesh(self, nodes=3, **kwargs):
        mesh = LocalMesh(nodes, **kwargs).start()
        self.addCleanup(mesh.close)
        return mesh

    def test_start_converges_on_every_node(self):
        mesh = self.mesh(3)
        self.assertEqual(len(set(mesh.endpoints)), 3)
        for i in range(3):
            alive = {k for k, v in states(mesh, i).items() if v == "alive"}
            self.assertEqual(alive, set(mesh.ids))

    def test_close_ends_every_process(self):
        mesh = self.mesh(2)
        mesh.pause(1)
        processes = [mesh.process(i) for i in range(2)]
        mesh.close()
        self.assertTrue(all(p.poll() is not None for p in processes))

    def test_a_killed_node_is_declared_dead_and_leaves_the_ring(self):
        mesh = self.mesh(3)
        mesh.kill(2)
        mesh.wait_converged()
        for i in (0, 1):
            self.assertIn(states(mesh, i)[mesh.ids[2]], ("dead", "left"))
        self.assertNotIn(mesh.ids[2], mesh_ring(mesh).alive())

    def test_a_restarted_node_rejoins_on_the_same_ports(self):
        mesh = self.mesh(3)
        mesh.kill(1)
        mesh.wait_converged()
        mesh.restart(1)
        self.assertEqual(mesh.running(), [0, 1, 2])
        with mesh.client() as client:
            self.assertEqual(client.ping(mesh.endpoints[1])["node"], mesh.ids[1])
        for i in range(3):
            self.assertEqual(states(mesh, i)[mesh.ids[1]], "alive")

    def test_an_added_node_joins_and_gets_keys(self):
        mesh = self.mesh(2)
        index = mesh.add()
        self.assertEqual(index, 2)
        for i in range(3):
            self.assertEqual(states(mesh, i)[mesh.ids[2]], "alive")
        with mesh.client() as client:
            key = key_owned_by(mesh_ring(mesh), mesh.ids[2], "added")
            before = mesh.stats(2)["sets"]
            client.set(key, b"v")
            self.assertEqual(mesh.stats(2)["sets"], before + 1)

    def test_a_stopped_node_exits_zero_within_two_seconds_and_announces_left(self):
        # A long dead time: only the announcement can mark it left in time.
        mesh = self.mesh(3, dead_ms=30000)
        started = time.monotonic()
        self.assertEqual(mesh.stop(0), 0)
        self.assertLess(time.monotonic() - started, 2.0)
        for i in (1, 2):
            wait_for(lambda i=i: states(mesh, i)[mesh.ids[0]] == "left", 1.5, f"left at node {i}")
        mesh.wait_converged(timeout_s=1.5)

    def test_a_paused_node_answers_nothing_until_resumed(self):
        mesh = self.mesh(1)
        with meshcache.Client(mesh.endpoints, smart=False, timeout_ms=200, retries=0) as client:
            mesh.pause(0)
            with self.assertRaises(meshcache.Unavailable):
                client.ping()
            mesh.resume(0)
            self.assertEqual(client.ping()["node"], mesh.ids[0])

    def test_the_client_fails_over_when_an_owner_dies(self):
        mesh = self.mesh(3)
        with mesh.client(timeout_ms=300) as client:
            client.ring()
            key = key_owned_by(mesh_ring(mesh), mesh.ids[1], "failover")
            mesh.kill(1)
            mesh.wait_converged()
            client.set(key, b"after")  # its ring still names the dead owner
            self.assertEqual(client.get(key), b"after")
            self.assertNotEqual(client.owner(key), mesh.endpoints[1])

    def test_a_node_that_cannot_start_shows_its_log(self):
        with self.assertRaises(MeshError) as raised:
            LocalMesh(1, args=["--no-such-flag"], start_timeout_s=5).start()
        self.assertIn("exited with status", str(raised.exception))

    def test_nodes_bind_the_hosts_they_are_given(self):
        # All of 127.0.0.0/8 is local on Linux: no setup needed for these.
        mesh = self.mesh(2, hosts=["127.0.0.2", "127.0.0.3"])
        self.assertEqual([mesh.host(0), mesh.host(1)], ["127.0.0.2", "127.0.0.3"])
        self.assertTrue(mesh.endpoints[0].startswith("tcp://127.0.0.2:"))
        self.assertTrue(mesh.endpoints[1].startswith("tcp://127.0.0.3:"))
        self.assertEqual(mesh.ids, mesh.endpoints)
        index = mesh.add(host="127.0.0.4")
        self.assertEqual(mesh.host(index), "127.0.0.4")
        self.assertEqual(mesh_ring(mesh, 0).alive(), sorted(mesh.ids))
        mesh.kill(1)
        mesh.wait_converged()
        mesh.restart(1)
        self.assertEqual(mesh.endpoints[1], mesh.ids[1])
        self.assertTrue(mesh.ids[1].startswith("tcp://127.0.0.3:"))

    def test_hosts_may_be_a_function_of_the_index(self):
        mesh = self.mesh(2, hosts=lambda i: f"127.0.0.{10 + i}")
        self.assertEqual([mesh.host(0), mesh.host(1)], ["127.0.0.10", "127.0.0.11"])
        self.assertEqual(mesh.host(mesh.add()), "127.0.0.12")

    def test_the_binary_comes_from_the_environment(self):
        real = find_meshcached()
        with unittest.mock.patch.dict(os.environ, {"MESHCACHED": real}):
            self.assertEqual(LocalMesh(1).binary, real)
        with unittest.mock.patch.dict(os.environ, {"MESHCACHED": "/nonexistent/meshcached"}):
            with self.assertRaises(FileNotFoundError):
                LocalMesh(1)


if __name__ == "__main__":
    unittest.main()
