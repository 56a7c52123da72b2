'use strict';
// Runs a mesh of meshcached processes through the Python harness
// (python3 -m meshcache.testing), which speaks one JSON line per command.

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

  // Starts `nodes` nodes and resolves once they have converged.
  static async start(nodes = 3, nodeArgs = []) {
    const args = ['-m', 'meshcache.testing', '--nodes', String(nodes), '--', ...nodeArgs];
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

  // One harness command ("kill 1", "converge", ...); resolves to its reply.
  async command(line) {
    this.child.stdin.write(line + '\n');
    this.state = await this._reply();
    return this.state;
  }

  async close() {
    this.child.stdin.end();
    await this.exited;
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

module.exports = { PyMesh, PYTHON, PYTHON_DIR };
