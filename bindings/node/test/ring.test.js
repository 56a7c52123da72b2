'use strict';
// The hash and ring against the protocol's vectors, and against the Python
// client's ring on the same reply.

const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const { xxh32, Ring } = require('..');
const { PYTHON, PYTHON_DIR } = require('../testing/mesh');
const { unmet } = require('./requirements');

function ringReply(n) {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const id = `tcp://127.0.0.1:${7000 + i}`;
    nodes.push({ id, service: id, gossip: '', state: 'alive' });
  }
  return { epoch: 1, hash: 'xxh32', vnodes: 160, replicas: 1, nodes };
}

test('xxh32 matches the protocol vectors', () => {
  const vectors = {
    '': 46947589,
    xia: 181303650,
    user: 2062859425,
    hello: 4211111929,
    'tcp://127.0.0.1:7000#0': 330272902,
  };
  for (const [text, expected] of Object.entries(vectors)) {
    assert.strictEqual(xxh32(text), expected, text);
    assert.strictEqual(xxh32(Buffer.from(text)), expected, text);
  }
});

test('xxh32 of inputs over 16 bytes uses the four lanes', () => {
  assert.strictEqual(xxh32('a'.repeat(100)), 400756875);
});

test('owner is the greatest position at or below the hash', () => {
  const ring = Ring.fromPoints([[2000, 'A'], [5000, 'B']]);
  assert.strictEqual(ring.ownerOfPosition(3333), 'A');
  assert.strictEqual(ring.ownerOfPosition(2000), 'A');
  assert.strictEqual(ring.ownerOfPosition(5000), 'B');
  assert.strictEqual(ring.ownerOfPosition(9999), 'B');
});

test('ring wraps below the lowest vnode', () => {
  const ring = Ring.fromPoints([[2000, 'A'], [5000, 'B']]);
  assert.strictEqual(ring.ownerOfPosition(1000), 'B');
  assert.strictEqual(ring.ownerOfPosition(0), 'B');
});

test('equal positions go to the lower id', () => {
  const ring = Ring.fromPoints([[2000, 'B'], [2000, 'A'], [5000, 'C']]);
  assert.strictEqual(ring.ownerOfPosition(2000), 'A');
  assert.strictEqual(ring.ownerOfPosition(4999), 'A');
  assert.strictEqual(ring.ownerOfPosition(100), 'C');
});

test('only alive and suspect nodes own keys', () => {
  const reply = ringReply(4);
  ['alive', 'suspect', 'dead', 'left'].forEach((s, i) => (reply.nodes[i].state = s));
  const ring = new Ring(reply);
  assert.deepStrictEqual(ring.alive(), ['tcp://127.0.0.1:7000', 'tcp://127.0.0.1:7001']);
  assert.strictEqual(ring.size, 320);
  assert.strictEqual(new Ring(ringReply(0)).owner('k'), null);
});

test('owners agree with the Python client on the same ring', (t) => {
  const keys = Array.from({ length: 200 }, (_, i) => `key${i}`);
  const script =
    'import json, sys\nfrom meshcache import Ring\n' +
    'reply, keys = json.load(sys.stdin)\n' +
    'print(json.dumps([Ring(reply).owner(k) for k in keys]))';
  const run = spawnSync(PYTHON, ['-c', script], {
    input: JSON.stringify([ringReply(3), keys]),
    env: { ...process.env, PYTHONPATH: PYTHON_DIR },
  });
  if (unmet(t, run.error && `${PYTHON} cannot run: ${run.error.message}`)) return;
  assert.strictEqual(run.status, 0, String(run.stderr));
  const ring = new Ring(ringReply(3));
  assert.deepStrictEqual(
    keys.map((k) => ring.owner(k)),
    JSON.parse(run.stdout),
  );
  assert.strictEqual(new Set(keys.map((k) => ring.owner(k))).size, 3);
});
