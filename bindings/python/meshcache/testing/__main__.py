"""Runs a LocalMesh driven by one command per line on stdin, for tests in
other languages (bindings/node) and for trying a mesh by hand.

    /usr/bin/python3 -m meshcache.testing --nodes 3 [--binary PATH] [--curve] [-- NODE FLAGS...]

Prints one JSON line when the mesh has converged, then one JSON line per
command: {"ok": true, "endpoints": [...], "live": [...], ...} (with --curve,
also "curve": the mesh's public key and a client key pair) or
{"ok": false, "error": "..."}. Commands: kill I, stop I, restart I, add,
pause I, resume I, converge, status, quit. End of input also quits; every
node is stopped on the way out.
"""

import argparse
import json
import sys

from .mesh import LocalMesh


def _status(mesh, **extra):
    status = {"ok": True, "endpoints": mesh.endpoints, "live": mesh.live_endpoints(), **extra}
    if mesh.curve_keys:
        k = mesh.curve_keys
        status["curve"] = {
            "server": k["server"],
            "client_public": k["client_public"],
            "client_secret": k["client_secret"],
        }
    return status


def _run(mesh, line):
    words = line.split()
    command, args = words[0], [int(w) for w in words[1:]]
    if command == "stop":
        return _status(mesh, status=mesh.stop(*args))
    if command == "add":
        return _status(mesh, index=mesh.add())
    if command == "converge":
        mesh.wait_converged()
        return _status(mesh)
    if command == "status":
        return _status(mesh)
    actions = {
        "kill": mesh.kill,
        "restart": mesh.restart,
        "pause": mesh.pause,
        "resume": mesh.resume,
    }
    if command not in actions:
        raise ValueError(f"unknown command {command!r}")
    actions[command](*args)
    return _status(mesh)


def _reply(obj):
    print(json.dumps(obj), flush=True)


def main(argv):
    parser = argparse.ArgumentParser(prog="python3 -m meshcache.testing")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--binary")
    parser.add_argument("--heartbeat-ms", type=int, default=100)
    parser.add_argument("--dead-ms", type=int, default=1000)
    parser.add_argument("--curve", action="store_true", help="CURVE with keys made for the run")
    parser.add_argument("node_args", nargs="*", help="extra meshcached flags, after --")
    options = parser.parse_args(argv)
    mesh = LocalMesh(
        options.nodes,
        binary=options.binary,
        heartbeat_ms=options.heartbeat_ms,
        dead_ms=options.dead_ms,
        args=options.node_args,
        curve=options.curve,
    )
    try:
        mesh.start()
    except Exception as error:
        _reply({"ok": False, "error": str(error)})
        return 1
    with mesh:
        _reply(_status(mesh))
        for line in sys.stdin:
            if not line.strip():
                continue
            if line.strip() == "quit":
                break
            try:
                _reply(_run(mesh, line))
            except Exception as error:
                _reply({"ok": False, "error": f"{type(error).__name__}: {error}"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
