#!/usr/bin/python3
"""Checks meshcache's Kubernetes manifests offline, with no cluster.

    /usr/bin/python3 deploy/kubernetes/check.py                  # both setups
    /usr/bin/python3 deploy/kubernetes/check.py DIR_OR_FILE ...  # one set
    MESHCACHED=build/meshcached /usr/bin/python3 deploy/kubernetes/check.py

The files given make one set, in order, as `kubectl apply -f A -f B` would
apply them: a later object of the same kind and name replaces an earlier
one. With no argument it checks the two documented sets: the CURVE setup
(this directory) and the plaintext one (this directory, then plaintext/).

Two kinds of checks:
- The schema, from Debian's python3-kubernetes (the API's OpenAPI models,
  Kubernetes 1.22): each apiVersion and kind is one the API serves, every
  field name is known, every value has its type (an int is no string, a
  quantity is a quantity), required fields are there, and the enums this
  checker knows hold one of their values.
- meshcache's own rules, which the API server would accept but a mesh
  would not survive (docs/deploy.md): selectors that match the pods, a
  headless governing Service that names pods before they are ready and
  client Services that do not, Parallel pods seeded by their names under
  it, probes on declared ports, the memory limit against --memory, the
  grace period against the hand-off, the TOML config's keys and the start
  script's flags against `meshcached --help` ($MESHCACHED; skipped with a
  note when not set), CURVE keys from the mounted Secret or else
  allow-plaintext behind a NetworkPolicy. They run once the schema passes.

Prints each problem as `FILE: Kind/name: field.path: what`, then a summary.
Exit 0 when none, 1 when any, 2 when the check itself cannot run.
"""

import collections
import difflib
import functools
import math
import os
import pathlib
import re
import subprocess
import sys
import tomllib

try:
    import yaml
    import kubernetes.client as k8s
except ImportError as error:  # what a user without the packages sees
    print(f"check.py: {error}: install Debian's python3-kubernetes and python3-yaml, "
          "and run it with /usr/bin/python3", file=sys.stderr)
    sys.exit(2)

HERE = pathlib.Path(__file__).resolve().parent
SETS = {"curve": [HERE], "plaintext": [HERE, HERE / "plaintext"]}

# Enums the models do not check (python3-kubernetes 22 validates none): the
# values the API accepts, for the fields these manifests use or could.
ENUMS = {
    ("V1StatefulSetSpec", "pod_management_policy"): {"OrderedReady", "Parallel"},
    ("V1StatefulSetUpdateStrategy", "type"): {"RollingUpdate", "OnDelete"},
    ("V1ServiceSpec", "type"): {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"},
    ("V1ServiceSpec", "session_affinity"): {"None", "ClientIP"},
    ("V1ServicePort", "protocol"): {"TCP", "UDP", "SCTP"},
    ("V1ContainerPort", "protocol"): {"TCP", "UDP", "SCTP"},
    ("V1NetworkPolicyPort", "protocol"): {"TCP", "UDP", "SCTP"},
    ("V1NetworkPolicySpec", "policy_types"): {"Ingress", "Egress"},
    ("V1Container", "image_pull_policy"): {"Always", "IfNotPresent", "Never"},
    ("V1Container", "termination_message_policy"): {"File", "FallbackToLogsOnError"},
    ("V1PodSpec", "restart_policy"): {"Always", "OnFailure", "Never"},
    ("V1PodSpec", "dns_policy"): {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"},
    ("V1HTTPGetAction", "scheme"): {"HTTP", "HTTPS"},
    ("V1SeccompProfile", "type"): {"RuntimeDefault", "Localhost", "Unconfined"},
}
# Kubernetes' resource.Quantity: a number, optionally with a binary or
# decimal suffix or an exponent ("256Mi", "250m", "1e3"); a YAML number too.
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[kMGTPE]i|[numkMGTPE])?$")
QUANTITY_FIELDS = {("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
                   ("V1EmptyDirVolumeSource", "size_limit")}
PRIMITIVES = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float),
              "object": (int, str), "datetime": (str,), "date": (str,)}
# meshcached stops within max(drain, handoff-ms) of SIGTERM (NodeOptions'
# drain_ms is 1 s); the grace period must cover that and some more.
DRAIN_MS, DEFAULT_HANDOFF_MS, GRACE_MARGIN_S = 1000, 5000, 5
HEADROOM_MIB = 64  # at least, over --memory + hot-memory: docs/deploy.md
DEFAULT_HOT = "4MiB"


class Doc:
    """One manifest: where it came from and the object."""

    def __init__(self, path, obj):
        self.path, self.obj = path, obj

    @property
    def kind(self):
        return self.obj.get("kind", "?")

    @property
    def name(self):
        return (self.obj.get("metadata") or {}).get("name", "?")

    def where(self):
        return f"{self.path}: {self.kind}/{self.name}"


# ------------------------------------------------------------------ schema


def _snake(kind):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def model_of(api_version, kind):
    """The model class of apiVersion/kind, or a string saying why there is none."""
    group, _, version = api_version.rpartition("/")
    if not re.fullmatch(r"v\d+((alpha|beta)\d+)?", version or ""):
        return f"apiVersion {api_version!r} is no group/version"
    # The client's classes: rbac.authorization.k8s.io/v1 -> RbacAuthorizationV1Api.
    words = group.removesuffix(".k8s.io").split(".") if group else ["core"]
    api = "".join(w.capitalize() for w in words) + version.capitalize() + "Api"
    api_class = getattr(k8s, api, None)
    if api_class is None:
        return f"apiVersion {api_version!r} is not served (no {api})"
    snake = _snake(kind)
    if not any(hasattr(api_class, f"create_{scope}{snake}") for scope in ("namespaced_", "")):
        return f"kind {kind!r} is not served by {api_version!r}"
    model = getattr(k8s, version.capitalize() + kind, None)
    return model or f"no model for {api_version}/{kind}"


_CONFIG = k8s.Configuration()


@functools.cache
def _required(model):
    """The attributes whose setter refuses None: the model's required fields."""
    found = []
    probe = model.__new__(model)
    probe.local_vars_configuration = _CONFIG
    for attr in model.openapi_types:
        try:
            setattr(probe, attr, None)
        except ValueError:
            found.append(attr)
    return found


def check_value(value, type_name, path, problems, owner=None):
    """Appends to problems what is wrong with value as an instance of type_name."""
    if owner in QUANTITY_FIELDS:
        _check_quantities(value, path, problems, type_name)
        return
    if type_name in PRIMITIVES:
        ok = isinstance(value, PRIMITIVES[type_name]) and not (
            isinstance(value, bool) and type_name in ("int", "float", "object"))
        if not ok:
            want = {"object": "an int or a string", "int": "an int"}.get(type_name,
                                                                         f"a {type_name}")
            problems.append(f"{path}: {value!r} is {type(value).__name__}, expected {want}")
        elif owner in ENUMS and value not in ENUMS[owner]:
            problems.append(f"{path}: {value!r} is none of {', '.join(sorted(ENUMS[owner]))}")
        return
    inner = re.fullmatch(r"list\[(.+)\]|dict\(str, (.+)\)", type_name)
    if inner:
        is_list = inner.group(1) is not None
        if not isinstance(value, list if is_list else dict):
            want = "a list" if is_list else "a map"
            problems.append(f"{path}: expected {want}, got {type(value).__name__}")
            return
        items = ((f"[{i}]", v) for i, v in enumerate(value)) if is_list else \
            ((f".{k}", v) for k, v in value.items())
        for suffix, item in items:  # a list's items keep its enum; a map's values have none
            check_value(item, inner.group(1) or inner.group(2), path + suffix, problems,
                        owner if is_list else None)
        return
    model = getattr(k8s, type_name)
    check_object(value, model, path, problems)


def _check_quantities(value, path, problems, type_name):
    """A quantity, or a map of them (resources' limits and requests)."""
    if not type_name.startswith("dict"):
        value = {"": value}
    elif not isinstance(value, dict):
        problems.append(f"{path}: expected a map of quantities, got {type(value).__name__}")
        return
    for key, quantity in value.items():
        where = f"{path}.{key}" if key else path
        if isinstance(quantity, bool) or not QUANTITY.match(str(quantity)):
            problems.append(f"{where}: {quantity!r} is no quantity (such as 256Mi or 250m)")


def check_object(obj, model, path, problems):
    if not isinstance(obj, dict):
        problems.append(f"{path}: expected a {model.__name__} map, got {type(obj).__name__}")
        return
    by_json = {json: attr for attr, json in model.attribute_map.items()}
    for key, value in obj.items():
        attr = by_json.get(key)
        where = f"{path}.{key}" if path else key
        if attr is None:
            near = difflib.get_close_matches(str(key), by_json, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            problems.append(f"{where}: unknown field{hint}")
            continue
        if value is None:
            continue  # YAML's empty value: the field is left out
        check_value(value, model.openapi_types[attr], where, problems, (model.__name__, attr))
    for attr in _required(model):
        json = model.attribute_map[attr]
        if obj.get(json) is None:
            problems.append(f"{path + '.' if path else ''}{json}: required field missing")


def schema_problems(obj):
    if not isinstance(obj, dict):
        return [f"a manifest is a map, not {type(obj).__name__}"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return ["apiVersion and kind must both be there, as strings"]
    model = model_of(api_version, kind)
    if isinstance(model, str):
        return [model]
    problems = []
    check_object(obj, model, "", problems)
    if not (obj.get("metadata") or {}).get("name"):
        problems.append("metadata.name: required to apply")
    return problems


# ---------------------------------------------------------------- meshcache


def meshcached_mib(size):
    """A size as meshcached reads it (64MiB, 512k, 1GiB; a bare number is MiB), in MiB."""
    m = re.fullmatch(r"\s*(\d+)\s*([KkMmGg]?)(i?[Bb])?\s*", str(size))
    if not m:
        raise ValueError(f"{size!r} is no meshcached size (such as 256MiB)")
    if not m.group(2):
        return float(m.group(1)) if not m.group(3) else int(m.group(1)) / 2**20
    return int(m.group(1)) * {"k": 1 / 1024, "m": 1, "g": 1024}[m.group(2).lower()]


def quantity_mib(quantity):
    """A Kubernetes memory quantity (384Mi, 1G, 402653184) in MiB."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTPE]i|[kMGTPE])?", str(quantity))
    if not m:
        raise ValueError(f"{quantity!r} is no memory quantity (such as 384Mi)")
    suffix = m.group(2) or ""
    power = " KMGTPE".index(suffix[:1].upper()) if suffix else 0
    base = 1024 if suffix.endswith("i") else 1000
    return float(m.group(1)) * base**power / 2**20


def _labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


class Findings:
    """Problems and notes, each as "FILE: Kind/name: what"."""

    def __init__(self):
        self.problems, self.notes = [], []

    def bad(self, doc, text):
        self.problems.append(f"{doc.where()}: {text}")


def meshcache_problems(docs, flags):
    """(problems, notes) of meshcache's rules over one set of docs.
    flags: meshcached's long flags, or None to leave them unchecked."""
    found = Findings()
    by_kind = collections.defaultdict(list)
    for d in docs:
        by_kind[d.kind].append(d)
    sets = by_kind.get("StatefulSet", [])
    if len(sets) != 1:
        return [f"one StatefulSet expected in the set, found {len(sets)}"], []
    ss = sets[0]
    pod = ss.obj["spec"]["template"].get("spec") or {}
    _check_selectors(ss, by_kind, found)
    _check_service(ss, by_kind, found)
    containers = pod.get("containers") or []
    if len(containers) != 1:
        found.bad(ss, "one container (meshcached) expected")
        return found.problems, found.notes
    c = containers[0]
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    _check_probes(ss, c, ports, found)
    script = _start_script(c)
    if script is None:
        found.bad(ss, "the container's command is not the documented /bin/sh -c start script")
        return found.problems, found.notes
    for p in _script_problems(script, ports, ss.obj["spec"]["serviceName"]):
        found.bad(ss, f"start script: {p}")
    if _env(c, "MESHCACHE_REPLICAS") != str(ss.obj["spec"].get("replicas", 1)):
        found.bad(ss, f"env MESHCACHE_REPLICAS {_env(c, 'MESHCACHE_REPLICAS')!r} is not "
                      f"spec.replicas {ss.obj['spec'].get('replicas', 1)}: pod 0's seeds")
    config_doc, config = _config(ss, pod, by_kind, found)
    if flags is not None:
        _check_flags(ss, script, config_doc, config, flags, found)
    _check_memory(ss, c, config, found)
    _check_grace(ss, pod, config, found)
    _check_security(pod, c, config, config_doc, by_kind, found)
    return found.problems, found.notes


def _check_selectors(ss, by_kind, found):
    spec = ss.obj["spec"]
    labels = (spec["template"].get("metadata") or {}).get("labels") or {}
    if not _labels_match(spec["selector"].get("matchLabels"), labels):
        found.bad(ss, "spec.selector.matchLabels does not match the pod template's labels")
    for kind, field in (("Service", "selector"), ("PodDisruptionBudget", "selector"),
                        ("NetworkPolicy", "podSelector")):
        for d in by_kind.get(kind, []):
            sel = (d.obj.get("spec") or {}).get(field)
            sel = sel.get("matchLabels") if kind != "Service" and sel else sel
            if not sel or not _labels_match(sel, labels):
                found.bad(d, f"spec.{field} selects none of the StatefulSet's pods")


def _check_service(ss, by_kind, found):
    """The governing Service names pods before they are ready (they join
    through those names); any other lists ready pods only (clients')."""
    name = ss.obj["spec"]["serviceName"]
    services = {d.name: d for d in by_kind.get("Service", [])}
    if name not in services:
        found.bad(ss, f"spec.serviceName {name!r} is no Service in the set")
    for d in services.values():
        spec = d.obj.get("spec") or {}
        if d.name == name and spec.get("clusterIP") != "None":
            found.bad(d, "spec.clusterIP must be None: the pods' names must be their addresses")
        if d.name == name and spec.get("publishNotReadyAddresses") is not True:
            found.bad(d, "spec.publishNotReadyAddresses must be true: starting pods join "
                         "through each other's names before they are ready")
        if d.name != name and spec.get("publishNotReadyAddresses"):
            found.bad(d, "spec.publishNotReadyAddresses must be false: clients would reach "
                         "pods that have not joined")
    spec = ss.obj["spec"]
    if spec.get("podManagementPolicy") != "Parallel":
        found.bad(ss, "spec.podManagementPolicy must be Parallel: pod 0 joins through the "
                      "pods after it, which OrderedReady creates only once pod 0 is ready")


def _check_probes(ss, c, ports, found):
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = (c.get(probe) or {}).get("httpGet")
        if not get:
            found.bad(ss, f"{probe}: an httpGet of {path} expected")
            continue
        if get.get("path") != path:
            found.bad(ss, f"{probe}.httpGet.path is {get.get('path')!r}, expected {path}")
        port = get.get("port")
        if port not in ports and port not in ports.values():
            found.bad(ss, f"{probe}.httpGet.port {port!r} is no port of the container")


def _check_flags(ss, script, config_doc, config, flags, found):
    """The script's flags and the TOML's keys against meshcached --help."""
    for flag in sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]+)", script))):
        if flag in flags:
            continue
        found.bad(ss, f"start script: --{flag} is no flag of this meshcached")
    for key in config:
        if key not in flags or key in ("config", "help", "version"):
            found.bad(config_doc, f"meshcached.toml: {key!r} is no setting of meshcached")


def _start_script(c):
    if c.get("command") != ["/bin/sh", "-c"] or len(c.get("args") or []) != 1:
        return None
    return c["args"][0]


def _script_problems(script, ports, service):
    """What is wrong with the start script: its syntax, and the flags that
    tie it to the container's ports, the governing Service, and the pod's
    address and memory."""
    problems = []
    syntax = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    if syntax.returncode != 0:
        problems.append(f"sh -n: {syntax.stderr.strip()}")
    http = re.search(r"--http-port\s+(\d+)", script)
    if not http or int(http.group(1)) != ports.get("http"):
        problems.append("--http-port must be the container port named http")
    join = re.search(r'--join "tcp://\$host:(\d+)"', script)
    if not join or int(join.group(1)) != ports.get("service"):
        problems.append("--join must name the seeds at the container port named service")
    if f".{service}.$POD_NAMESPACE.svc.cluster.local" not in script:
        problems.append(f"the seeds must be pods' names under the governing Service {service}")
    for needed in ('--advertise "$POD_IP"', "--bind 0.0.0.0", '--memory "$MESHCACHE_MEMORY"'):
        if needed not in script:
            problems.append(f"{needed} expected")
    return problems


def _config(ss, pod, by_kind, found):
    """The meshcached.toml of the ConfigMap the pods mount, parsed ({} if none)."""
    names = [(v.get("configMap") or {}).get("name") for v in pod.get("volumes") or []]
    maps = {d.name: d for d in by_kind.get("ConfigMap", [])}
    for name in filter(None, names):
        doc = maps.get(name)
        if doc is None:
            found.bad(ss, f"ConfigMap {name!r} is mounted but not in the set")
            continue
        text = (doc.obj.get("data") or {}).get("meshcached.toml")
        if text is None:
            found.bad(doc, "data.meshcached.toml missing")
            continue
        try:
            return doc, tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            found.bad(doc, f"meshcached.toml: {error}")
    return ss, {}


def _env(c, name):
    for e in c.get("env") or []:
        if e.get("name") == name:
            return e.get("value")
    return None


def _check_memory(ss, c, config, found):
    limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
    memory, hot = _env(c, "MESHCACHE_MEMORY"), config.get("hot-memory", DEFAULT_HOT)
    if limit is None or memory is None:
        found.bad(ss, "resources.limits.memory and env MESHCACHE_MEMORY (--memory) are both "
                      "needed: the limit is tied to the store's budget")
        return
    try:
        need = meshcached_mib(memory) + meshcached_mib(hot) + HEADROOM_MIB
        if quantity_mib(limit) < need:
            found.bad(ss, f"resources.limits.memory {limit} is under --memory {memory} + "
                          f"hot-memory {hot} + {HEADROOM_MIB} MiB headroom ({need:g} MiB)")
    except ValueError as error:
        found.bad(ss, f"memory: {error}")


def _check_grace(ss, pod, config, found):
    grace = pod.get("terminationGracePeriodSeconds", 30)
    handoff = config.get("handoff-ms", DEFAULT_HANDOFF_MS)
    need = math.ceil(max(DRAIN_MS, handoff) / 1000) + GRACE_MARGIN_S
    if not isinstance(grace, int) or grace < need:
        found.bad(ss, f"terminationGracePeriodSeconds {grace} is under the {need} s a stopping "
                      f"node may take (handoff-ms {handoff}, drain {DRAIN_MS} ms, "
                      f"{GRACE_MARGIN_S} s margin)")


def _check_security(pod, c, config, config_doc, by_kind, found):
    """CURVE's key files in the mounted Secret, or plaintext behind a NetworkPolicy."""
    if config.get("curve-secret-key") is None:
        if config.get("allow-plaintext") is not True:
            found.bad(config_doc, "meshcached.toml: no curve-secret-key and no allow-plaintext "
                                  "= true: meshcached refuses --bind 0.0.0.0 (exit 2)")
        elif not by_kind.get("NetworkPolicy"):
            found.bad(config_doc, "meshcached.toml: plaintext needs a NetworkPolicy in the set "
                                  "that admits only trusted pods (docs/security.md)")
        return
    secrets = {v.get("name"): (v.get("secret") or {}).get("secretName")
               for v in pod.get("volumes") or [] if v.get("secret")}
    mounts = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts") or []}
    for setting in ("curve-secret-key", "curve-allow", "curve-peers"):
        path = config.get(setting)
        if path is not None and mounts.get(str(pathlib.PurePosixPath(path).parent)) not in secrets:
            found.bad(config_doc, f"meshcached.toml: {setting} {path!r} is not in a mounted "
                                  "Secret")


# -------------------------------------------------------------------- main


def load(paths):
    """[Doc] from files and directories (their *.yaml, *.yml, *.json), a
    later object of the same kind and name replacing an earlier one."""
    files = []
    for p in map(pathlib.Path, paths):
        files += sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml", ".json")) \
            if p.is_dir() else [p]
    docs = {}
    for f in files:
        with open(f, encoding="utf-8") as stream:
            for obj in yaml.safe_load_all(stream):
                if obj is None:
                    continue
                d = Doc(os.path.relpath(f), obj)
                docs[(d.kind, d.name) if isinstance(obj, dict) else (f, len(docs))] = d
    return list(docs.values())


def meshcached_flags(binary):
    """meshcached's long flag names from its --help, or None without a binary."""
    if not binary:
        return None
    text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"--([a-z][a-z0-9-]+)", text))


def check(paths, flags):
    """(problems, notes) of one set of files."""
    return check_docs(load(paths), flags)


def check_docs(docs, flags):
    """(problems, notes) of one set of Docs. meshcache's rules read the
    objects as the schema shapes them, so they wait until it passes."""
    problems = []
    for d in docs:
        problems += [f"{d.where()}: {p}" for p in schema_problems(d.obj)]
    if problems:
        return problems, ["meshcache's own rules are checked once the schema problems are fixed"]
    return meshcache_problems(docs, flags)


def main(argv):
    binary = os.environ.get("MESHCACHED")
    try:
        flags = meshcached_flags(binary)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"check.py: $MESHCACHED --help: {error}", file=sys.stderr)
        return 2
    sets = {"given": argv} if argv else {k: list(map(str, v)) for k, v in SETS.items()}
    failed = 0
    for name, paths in sets.items():
        problems, notes = check(paths, flags)
        for line in problems + [f"note: {n}" for n in notes]:
            print(line)
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        print(f"check.py: {name} ({' '.join(os.path.relpath(p) for p in paths)}): {status}")
        failed += bool(problems)
    if flags is None:
        print("check.py: note: $MESHCACHED not set: config keys and flags not checked "
              "against meshcached --help")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
