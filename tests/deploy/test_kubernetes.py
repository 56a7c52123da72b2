"""deploy/kubernetes/check.py, the offline check of the Kubernetes manifests:
the shipped manifests pass it, and each kind of mistake it is there to
catch, made on purpose in a copy of them, fails it with a message that
names the field. The StatefulSet's start script is run with a stub meshcached
to see which pods each pod joins through."""

import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

REPO = pathlib.Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
sys.path.insert(0, str(KUBE))

import check  # noqa: E402

# The flags of a meshcached that has --http-port: the checks that compare
# against --help run without a binary, and a real one is used where ctest
# gives it ($MESHCACHED, in test_shipped_manifests_pass_both_setups).
FLAGS = {"bind", "port", "gossip-port", "advertise", "join", "memory", "hot-memory",
         "replicas", "handoff-ms", "log-level", "curve-secret-key", "curve-allow",
         "curve-peers", "allow-plaintext", "http-port", "config"}


def documents(setup="curve"):
    return check.load([str(p) for p in check.SETS[setup]])


def find(docs, kind):
    return next(d for d in docs if d.kind == kind)


def statefulset(docs):
    return find(docs, "StatefulSet").obj


def service(docs, name):
    return next(d.obj for d in docs if d.kind == "Service" and d.name == name)


def container(docs):
    return statefulset(docs)["spec"]["template"]["spec"]["containers"][0]


def problems_of(docs, flags=FLAGS):
    problems, _ = check.check_docs(docs, flags)
    return problems


class ShippedManifests(unittest.TestCase):

    def test_shipped_manifests_pass_both_setups(self):
        binary = os.environ.get("MESHCACHED")
        flags = check.meshcached_flags(binary) if binary else FLAGS
        for setup in check.SETS:
            with self.subTest(setup=setup):
                self.assertEqual(problems_of(documents(setup), flags), [])

    def test_plaintext_setup_replaces_the_curve_config(self):
        docs = documents("plaintext")
        configs = [d for d in docs if d.kind == "ConfigMap"]
        self.assertEqual(len(configs), 1)
        self.assertIn("allow-plaintext = true", configs[0].obj["data"]["meshcached.toml"])


class ManifestCase(unittest.TestCase):

    def assertProblem(self, docs, *fragments, flags=FLAGS):
        """Fails unless one problem of docs holds every fragment."""
        problems = problems_of(docs, flags)
        if not any(all(f in p for f in fragments) for p in problems):
            self.fail(f"no problem with {fragments!r} among {problems!r}")


class Schema(ManifestCase):
    """Mistakes the API server would refuse (or silently drop)."""

    def test_misspelled_field_is_unknown_with_a_suggestion(self):
        docs = documents()
        pod = statefulset(docs)["spec"]["template"]["spec"]
        pod["terminationGracePeriod"] = pod.pop("terminationGracePeriodSeconds")
        self.assertProblem(docs, "spec.template.spec.terminationGracePeriod: unknown field",
                           "did you mean terminationGracePeriodSeconds")

    def test_field_in_the_wrong_place_is_unknown(self):
        docs = documents()
        statefulset(docs)["spec"]["template"]["spec"]["readinessProbe"] = {"periodSeconds": 2}
        self.assertProblem(docs, "spec.template.spec.readinessProbe: unknown field")

    def test_string_where_an_int_belongs_is_a_wrong_type(self):
        docs = documents()
        statefulset(docs)["spec"]["replicas"] = "3"
        self.assertProblem(docs, "spec.replicas: '3' is str, expected an int")

    def test_bool_is_no_int(self):
        docs = documents()
        container(docs)["readinessProbe"]["periodSeconds"] = True
        self.assertProblem(docs, "readinessProbe.periodSeconds: True is bool")

    def test_number_in_a_config_map_is_a_wrong_type(self):
        docs = documents()
        find(docs, "ConfigMap").obj["data"]["port"] = 7400
        self.assertProblem(docs, "data.port: 7400 is int, expected a str")

    def test_map_where_a_list_belongs_is_a_wrong_type(self):
        docs = documents()
        container(docs)["ports"] = {"name": "service", "containerPort": 7400}
        self.assertProblem(docs, "containers[0].ports: expected a list")

    def test_missing_required_field(self):
        docs = documents()
        del statefulset(docs)["spec"]["selector"]
        del container(docs)["name"]
        self.assertProblem(docs, "spec.selector: required field missing")
        self.assertProblem(docs, "containers[0].name: required field missing")

    def test_object_without_a_name(self):
        docs = documents()
        del find(docs, "PodDisruptionBudget").obj["metadata"]["name"]
        self.assertProblem(docs, "metadata.name: required to apply")

    def test_kind_the_api_version_does_not_serve(self):
        docs = documents()
        find(docs, "PodDisruptionBudget").obj["apiVersion"] = "apps/v1"
        find(docs, "Service").obj["apiVersion"] = "v2"
        self.assertProblem(docs, "kind 'PodDisruptionBudget' is not served by 'apps/v1'")
        self.assertProblem(docs, "apiVersion 'v2' is not served")

    def test_bad_quantity(self):
        docs = documents()
        container(docs)["resources"]["limits"]["memory"] = "384MB"
        self.assertProblem(docs, "limits.memory: '384MB' is no quantity")

    def test_value_outside_an_enum(self):
        docs = documents()
        statefulset(docs)["spec"]["podManagementPolicy"] = "Paralel"
        self.assertProblem(docs, "podManagementPolicy: 'Paralel' is none of OrderedReady, Parallel")


class MeshRules(ManifestCase):
    """What the API server takes but a mesh would not survive."""

    def test_memory_limit_under_the_store_budget(self):
        docs = documents()
        container(docs)["resources"]["limits"]["memory"] = "300Mi"
        self.assertProblem(docs, "limits.memory 300Mi is under --memory 256MiB + hot-memory 4MiB")

    def test_memory_limit_in_decimal_units_counts_as_bytes(self):
        docs = documents()
        container(docs)["resources"]["limits"]["memory"] = "330M"  # 314.7 MiB < 324 MiB
        self.assertProblem(docs, "limits.memory 330M is under")

    def test_larger_store_needs_a_larger_limit(self):
        docs = documents()
        for env in container(docs)["env"]:
            if env["name"] == "MESHCACHE_MEMORY":
                env["value"] = "1GiB"
        self.assertProblem(docs, "under --memory 1GiB")

    def test_grace_period_shorter_than_the_hand_off(self):
        docs = documents()
        statefulset(docs)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5
        self.assertProblem(docs, "terminationGracePeriodSeconds 5 is under the 10 s")

    def test_client_service_listing_pods_that_are_not_ready(self):
        docs = documents()
        service(docs, "meshcache")["spec"]["publishNotReadyAddresses"] = True
        self.assertProblem(docs, "Service/meshcache: spec.publishNotReadyAddresses must be false")

    def test_governing_service_hiding_pods_that_are_not_ready(self):
        docs = documents()
        del service(docs, "meshcache-peers")["spec"]["publishNotReadyAddresses"]
        self.assertProblem(docs, "meshcache-peers: spec.publishNotReadyAddresses must be true")

    def test_governing_service_that_is_not_headless(self):
        docs = documents()
        del service(docs, "meshcache-peers")["spec"]["clusterIP"]
        self.assertProblem(docs, "meshcache-peers: spec.clusterIP must be None")

    def test_pods_created_in_order(self):
        docs = documents()
        statefulset(docs)["spec"]["podManagementPolicy"] = "OrderedReady"
        self.assertProblem(docs, "spec.podManagementPolicy must be Parallel")

    def test_replicas_changed_without_the_seeds(self):
        docs = documents()
        statefulset(docs)["spec"]["replicas"] = 5
        self.assertProblem(docs, "env MESHCACHE_REPLICAS '3' is not spec.replicas 5")

    def test_seeds_under_another_service(self):
        docs = documents()
        container(docs)["args"][0] = container(docs)["args"][0].replace(
            ".meshcache-peers.", ".meshcache.")
        self.assertProblem(docs, "the seeds must be pods' names under the governing Service")

    def test_selector_that_misses_the_pods(self):
        docs = documents()
        find(docs, "PodDisruptionBudget").obj["spec"]["selector"]["matchLabels"] = {"app": "x"}
        self.assertProblem(docs, "PodDisruptionBudget/meshcache: spec.selector selects none")

    def test_probe_on_an_undeclared_port(self):
        docs = documents()
        container(docs)["readinessProbe"]["httpGet"]["port"] = "metrics"
        self.assertProblem(docs, "readinessProbe.httpGet.port 'metrics' is no port")

    def test_readiness_from_another_path(self):
        docs = documents()
        container(docs)["readinessProbe"]["httpGet"]["path"] = "/healthz"
        self.assertProblem(docs, "readinessProbe.httpGet.path is '/healthz', expected /readyz")

    def test_unknown_config_key(self):
        docs = documents()
        config = find(docs, "ConfigMap").obj["data"]
        config["meshcached.toml"] = config["meshcached.toml"].replace("hot-memory", "hot-memroy")
        self.assertProblem(docs, "'hot-memroy' is no setting of meshcached")

    def test_config_that_is_not_toml(self):
        docs = documents()
        find(docs, "ConfigMap").obj["data"]["meshcached.toml"] += "port = = 1\n"
        self.assertProblem(docs, "meshcached.toml: ")

    def test_unknown_flag_in_the_start_script(self):
        docs = documents()
        container(docs)["args"][0] = container(docs)["args"][0].replace("--bind", "--bind-to")
        self.assertProblem(docs, "--bind-to is no flag of this meshcached")

    def test_start_script_syntax_error(self):
        docs = documents()
        container(docs)["args"][0] += "\nif true; then\n"
        self.assertProblem(docs, "start script: sh -n:")

    def test_http_port_that_is_not_the_probed_port(self):
        docs = documents()
        container(docs)["args"][0] = container(docs)["args"][0].replace("9100", "9200")
        self.assertProblem(docs, "--http-port must be the container port named http")

    def test_curve_key_outside_the_mounted_secret(self):
        docs = documents()
        config = find(docs, "ConfigMap").obj["data"]
        config["meshcached.toml"] = config["meshcached.toml"].replace(
            "/etc/meshcache/keys/mesh.key", "/etc/meshcache/config/mesh.key")
        self.assertProblem(docs, "curve-secret-key '/etc/meshcache/config/mesh.key' is not in")

    def test_no_curve_and_no_allow_plaintext(self):
        docs = documents("plaintext")
        config = find(docs, "ConfigMap").obj["data"]
        config["meshcached.toml"] = config["meshcached.toml"].replace(
            "allow-plaintext = true", "")
        self.assertProblem(docs, "meshcached refuses --bind 0.0.0.0")

    def test_plaintext_without_a_network_policy(self):
        docs = [d for d in documents("plaintext") if d.kind != "NetworkPolicy"]
        self.assertProblem(docs, "plaintext needs a NetworkPolicy")


class CommandLine(unittest.TestCase):

    def run_check(self, *paths):
        return subprocess.run([sys.executable, str(KUBE / "check.py"), *paths],
                              capture_output=True, text=True, env={**os.environ, "MESHCACHED": ""})

    def test_exit_status_is_1_on_a_broken_set_and_0_on_the_shipped_one(self):
        with tempfile.TemporaryDirectory() as tmp:
            for f in KUBE.glob("*.yaml"):
                text = f.read_text()
                if f.name == "statefulset.yaml":
                    text = text.replace("replicas: 3", "replica: 3")
                (pathlib.Path(tmp) / f.name).write_text(text)
            broken = self.run_check(tmp)
        self.assertEqual(broken.returncode, 1, broken.stdout + broken.stderr)
        self.assertIn("spec.replica: unknown field (did you mean replicas?)", broken.stdout)
        shipped = self.run_check()
        self.assertEqual(shipped.returncode, 0, shipped.stdout + shipped.stderr)
        self.assertIn("curve (", shipped.stdout)
        self.assertIn("plaintext (", shipped.stdout)


class StartScript(unittest.TestCase):
    """The StatefulSet's /bin/sh -c script, run with a meshcached that
    prints its arguments."""

    def seeds(self, pod, replicas=3):
        script = container(documents())["args"][0]
        with tempfile.TemporaryDirectory() as tmp:
            stub = pathlib.Path(tmp) / "meshcached"
            stub.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
            stub.chmod(0o755)
            env = {"PATH": f"{tmp}:/usr/bin:/bin", "POD_NAME": pod, "POD_NAMESPACE": "cache",
                   "POD_IP": "10.0.0.7", "MESHCACHE_MEMORY": "256MiB",
                   "MESHCACHE_REPLICAS": str(replicas)}
            done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                                  env=env, timeout=30, check=True)
        args = done.stdout.splitlines()
        self.assertEqual(args[args.index("--advertise") + 1], "10.0.0.7")
        self.assertEqual(args[args.index("--memory") + 1], "256MiB")
        return [args[i + 1] for i, a in enumerate(args) if a == "--join"]

    @staticmethod
    def name(i):
        return f"tcp://meshcache-{i}.meshcache-peers.cache.svc.cluster.local:7400"

    def test_pod_0_joins_through_every_other_pod(self):
        self.assertEqual(self.seeds("meshcache-0"), [self.name(1), self.name(2)])

    def test_other_pods_join_through_the_pods_before_them(self):
        self.assertEqual(self.seeds("meshcache-1"), [self.name(0)])
        self.assertEqual(self.seeds("meshcache-4", replicas=5),
                         [self.name(i) for i in range(4)])

    def test_single_pod_starts_a_mesh_of_its_own(self):
        self.assertEqual(self.seeds("meshcache-0", replicas=1), [])

    def test_no_pod_names_itself_and_every_join_leads_to_pod_0(self):
        for replicas in range(1, 6):
            for k in range(replicas):
                seeds = self.seeds(f"meshcache-{k}", replicas)
                with self.subTest(pod=k, replicas=replicas):
                    self.assertNotIn(self.name(k), seeds)
                    wanted = range(1, replicas) if k == 0 else range(k)
                    self.assertEqual(seeds, [self.name(i) for i in wanted])


if __name__ == "__main__":
    unittest.main()
