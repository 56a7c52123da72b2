'use strict';
// Runs a mesh of meshcached processes through the Python harness
// (python3 -m meshcache.testing), which speaks one JSON line per command.
// The harness is this process's child; it ends every meshcached it started
// when its stdin closes, and they die with it if it is killed.

const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const PYTHON = process.env.MESHCACHE_PYTHON || '/usr/bin/python3';
const PYTHON_DIR = path.resolve(__dirname, '../../python');

class PyMesh {
  constructor(child) {
    this.child = child;
    this.waiting = [];
    this.lines = [];
    this.exited = new Promise((resolve) => child.on('exit', resolve));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const resolve = this.waiting.shift();
      if (resolve) resolve(line);
      else this.lines.push(line);
    });
    child.on('exit', () => this.waiting.splice(0).forEach((r) => r(null)));
  }

  // Starts `nodes` nodes and resolves once they have converged. With
  // `curve: true` the nodes share a CURVE key pair made for the run (the
  // Python LocalMesh(curve=True): its secret key file and the allow file
  // live in the mesh's temporary directory) and admit one client key pair;
  // see `curve` and `clientOptions()`.
  static async start(nodes = 3, nodeArgs = [], { curve = false } = {}) {
    const args = ['-m', 'meshcache.testing', '--nodes', String(nodes)];
    if (curve) args.push('--curve');
    args.push('--', ...nodeArgs);
    const child = spawn(PYTHON, args, {
      env: { ...process.env, PYTHONPATH: PYTHON_DIR },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const mesh = new PyMesh(child);
    mesh.state = await mesh._reply();
    return mesh;
  }

  get endpoints() {
    return this.state.endpoints;
  }

  get live() {
    return this.state.live;
  }

  // Under CURVE the keys (Z85): { serverKey (the mesh's public key),
  // clientPublicKey, clientSecretKey (the allowed client's pair) }; else null.
  get curve() {
    const k = this.state.curve;
    if (!k) return null;
    return {
      serverKey: k.server,
      clientPublicKey: k.client_public,
      clientSecretKey: k.client_secret,
    };
  }

  // Client options that reach this mesh, merged into `options`: the allowed
  // client's keys under CURVE, nothing more without.
  clientOptions(options = {}) {
    const k = this.curve;
    if (!k) return { ...options };
    return {
      curveServerKey: k.serverKey,
      curvePublicKey: k.clientPublicKey,
      curveSecretKey: k.clientSecretKey,
      ...options,
    };
  }

  // One harness command ("kill 1", "converge", ...); resolves to its reply.
  async command(line) {
    this.child.stdin.write(line + '\n');
    this.state = await this._reply();
    return this.state;
  }

  // Ends the harness, which stops its nodes (SIGTERM, then SIGKILL); if it
  // has not exited within `timeoutMs`, kills it by pid (its nodes die with
  // it). Resolves to its exit code (null when killed).
  async close(timeoutMs = 10000) {
    this.child.stdin.end();
    let timer;
    const late = new Promise((resolve) => {
      timer = setTimeout(resolve, timeoutMs, 'late');
    });
    const first = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    // ChildProcess.kill signals the child's pid, and only while it is unreaped.
    if (first === 'late') this.child.kill('SIGKILL');
    return this.exited;
  }

  async _reply() {
    const line = this.lines.length
      ? this.lines.shift()
      : await new Promise((resolve) => this.waiting.push(resolve));
    if (line === null) throw new Error('the mesh harness exited');
    const reply = JSON.parse(line);
    if (!reply.ok) throw new Error(`mesh harness: ${reply.error}`);
    return reply;
  }
}

// A key that ring (a Ring) places on node id: prefix + the first number that does.
function keyOwnedBy(ring, id, prefix) {
  for (let i = 0; i < 100000; i++) {
    if (ring.owner(`${prefix}${i}`) === id) return `${prefix}${i}`;
  }
  throw new Error(`no key of ${id}`);
}

module.exports = { PyMesh, PYTHON, PYTHON_DIR, keyOwnedBy };
