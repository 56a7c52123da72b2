'use strict';
// The Node.js client against a fake node in this process: error mapping,
// missing replies, and replies matched by id.

const test = require('node:test');
const assert = require('node:assert');
const { encode, decode } = require('@msgpack/msgpack');
const meshcache = require('..');
const { zeromqMissing, unmet } = require('./requirements');

const missing = zeromqMissing(); // skipped with this reason, or failed under CI=true
const zmq = missing ? null : require('zeromq');

// A ROUTER answering each request with answer(request): a reply array, null
// for no reply, or a promise of either.
async function fakeNode(answer, curveSecretKey = null) {
  const router = new zmq.Router(
    curveSecretKey ? { linger: 0, curveServer: true, curveSecretKey } : { linger: 0 },
  );
  await router.bind('tcp://127.0.0.1:*');
  const requests = [];
  (async () => {
    try {
      for await (const [identity, empty, body] of router) {
        const request = decode(body);
        requests.push(request);
        Promise.resolve(answer(request)).then((reply) => {
          if (reply) router.send([identity, empty, encode(reply)]).catch(() => {});
        });
      }
    } catch (_) {
      // closed
    }
  })();
  return { endpoint: router.lastEndpoint, requests, close: () => router.close() };
}

function client(endpoint, options = {}) {
  return new meshcache.Client([endpoint], { smart: false, retries: 0, timeoutMs: 300, ...options });
}

test('error replies reject with the class of their code', async (t) => {
  if (unmet(t, missing)) return;
  let code = '';
  const node = await fakeNode((r) => ['err', r[1], code, 'because']);
  const c = client(node.endpoint);
  t.after(() => (c.close(), node.close()));
  const cases = {
    bad_request: meshcache.BadRequest,
    too_large: meshcache.TooLarge,
    timeout: meshcache.Timeout,
    load_failed: meshcache.LoadFailed,
    overloaded: meshcache.Overloaded,
    unavailable: meshcache.Unavailable,
  };
  for (const [name, cls] of Object.entries(cases)) {
    code = name;
    await assert.rejects(c.get('k'), (e) => e instanceof cls && e.code === name);
  }
  code = 'novel';
  await assert.rejects(
    c.get('k'),
    (e) => e.constructor === meshcache.MeshcacheError && e.code === 'novel',
  );
});

test('no reply rejects with Unavailable after the timeout', async (t) => {
  if (unmet(t, missing)) return;
  const node = await fakeNode(() => null);
  const c = client(node.endpoint);
  t.after(() => (c.close(), node.close()));
  const started = Date.now();
  await assert.rejects(c.get('k'), meshcache.Unavailable);
  assert.ok(Date.now() - started >= 290);
});

test('replies are matched by id when they come out of order', async (t) => {
  if (unmet(t, missing)) return;
  const held = [];
  const node = await fakeNode(
    (r) =>
      new Promise((resolve) => {
        held.push([r, resolve]);
        if (held.length === 2) held.reverse().forEach(([req, res]) => res(['ok', req[1], req[2]]));
      }),
  );
  const c = client(node.endpoint, { timeoutMs: 3000 });
  t.after(() => (c.close(), node.close()));
  const values = await Promise.all([c.get('first'), c.get('second')]);
  assert.deepStrictEqual(
    values.map((v) => v.toString()),
    ['first', 'second'],
  );
});

test('requests carry keys and values as bin and ttl only when given', async (t) => {
  if (unmet(t, missing)) return;
  const node = await fakeNode((r) => ['ok', r[1]]);
  const c = client(node.endpoint);
  t.after(() => (c.close(), node.close()));
  await c.set('a', 'x');
  await c.set('b', 'y', { ttlMs: 0 });
  const [first, second] = node.requests;
  assert.ok(first[2] instanceof Uint8Array && first[3] instanceof Uint8Array);
  assert.strictEqual(first.length, 4);
  assert.strictEqual(second[4], 0);
});

test('a smart client reaches each node with the CURVE key the ring names', async (t) => {
  if (unmet(t, missing)) return;
  const a = zmq.curveKeyPair();
  const b = zmq.curveKeyPair();
  const me = zmq.curveKeyPair();
  let ring = null;
  const nodeB = await fakeNode(
    (r) => (r[0] === 'get' ? ['ok', r[1], Buffer.from('from b')] : null),
    b.secretKey,
  );
  const nodeA = await fakeNode((r) => (r[0] === 'ring' ? ['ok', r[1], ring] : null), a.secretKey);
  // One node on the ring, B, with its own key; A only answers the ring.
  ring = {
    epoch: 1,
    hash: 'xxh32',
    vnodes: 1,
    replicas: 1,
    nodes: [
      {
        id: nodeB.endpoint,
        service: nodeB.endpoint,
        gossip: 'tcp://127.0.0.1:1',
        state: 'alive',
        key: b.publicKey,
      },
    ],
  };
  const c = new meshcache.Client([nodeA.endpoint], {
    retries: 0,
    timeoutMs: 1000,
    curveServerKey: a.publicKey,
    curvePublicKey: me.publicKey,
    curveSecretKey: me.secretKey,
  });
  t.after(() => (c.close(), nodeA.close(), nodeB.close()));
  assert.strictEqual(String(await c.get('k')), 'from b');
  assert.deepStrictEqual(
    nodeB.requests.map((r) => r[0]),
    ['get'],
  ); // straight to B, over CURVE with B's key
});
