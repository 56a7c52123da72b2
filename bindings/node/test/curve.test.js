'use strict';
// The Node.js client against a real three-node CURVE mesh (docs/security.md):
// the allowed client key reads and writes through every node; a client with
// no keys, a key not on the allow list or the wrong server key gets no reply
// (Unavailable once its deadline passes), never data, and writes nothing.

const test = require('node:test');
const assert = require('node:assert');
const meshcache = require('..');
const { PyMesh, keyOwnedBy } = require('../testing/mesh');
const { zeromqMissing, unmet } = require('./requirements');

const missing = zeromqMissing(); // skipped with this reason, or failed under CI=true

// A client with no reply within its deadline rejects with this.
function noReply(error) {
  return error instanceof meshcache.Unavailable && /no reply from/.test(error.message);
}

test('client against a three-node CURVE mesh', async (t) => {
  if (unmet(t, missing)) return;
  const { curveKeyPair } = require('zeromq');
  const mesh = await PyMesh.start(3, [], { curve: true });
  const clients = [];
  const open = (endpoints, options) => {
    const client = new meshcache.Client(endpoints, options);
    clients.push(client);
    return client;
  };
  t.after(async () => {
    clients.forEach((client) => client.close());
    assert.strictEqual(await mesh.close(), 0, 'the mesh harness did not exit cleanly');
  });
  const keys = mesh.curve;
  const allowed = open(mesh.endpoints, mesh.clientOptions({ timeoutMs: 2000 }));
  const ring = new meshcache.Ring(await allowed.ring());
  const ids = (await Promise.all(mesh.endpoints.map((ep) => allowed.ping(ep)))).map((p) => p.node);
  const owned = ids.map((id) => keyOwnedBy(ring, id, 'curve:'));

  await t.test('the harness made the mesh a key pair and the client another', () => {
    for (const key of [keys.serverKey, keys.clientPublicKey, keys.clientSecretKey]) {
      assert.strictEqual(key.length, 40);
    }
    assert.notStrictEqual(keys.serverKey, keys.clientPublicKey);
    assert.deepStrictEqual(new Set(ring.alive()), new Set(ids));
  });

  await t.test('an allowed client sets at each owner and gets through every node', async () => {
    for (const key of owned) await allowed.set(key, `value of ${key}`);
    for (const ep of mesh.endpoints) {
      // All to one node, which forwards to the other owners over CURVE.
      const via = open([ep], mesh.clientOptions({ smart: false, timeoutMs: 2000 }));
      const values = await via.mget(owned);
      assert.deepStrictEqual(
        values.map((v) => v && v.toString()),
        owned.map((key) => `value of ${key}`),
        ep,
      );
      assert.strictEqual((await via.get(owned[0])).toString(), `value of ${owned[0]}`, ep);
      via.close();
    }
  });

  const stranger = curveKeyPair();
  const strangers = [
    ['a client without keys', {}],
    [
      'a key not on the allow list',
      {
        curveServerKey: keys.serverKey,
        curvePublicKey: stranger.publicKey,
        curveSecretKey: stranger.secretKey,
      },
    ],
    [
      'the wrong server key',
      {
        curveServerKey: stranger.publicKey,
        curvePublicKey: keys.clientPublicKey,
        curveSecretKey: keys.clientSecretKey,
      },
    ],
  ];
  for (const [n, [what, curveOptions]] of strangers.entries()) {
    await t.test(`${what} gets no data, writes nothing, and the mesh serves on`, async () => {
      const client = open(mesh.endpoints, { ...curveOptions, timeoutMs: 300, retries: 1 });
      await assert.rejects(client.get(owned[0]), noReply);
      await assert.rejects(client.set(owned[1], 'forged'), noReply);
      await assert.rejects(client.ping(mesh.endpoints[2]), noReply);
      client.close();

      assert.strictEqual((await allowed.get(owned[1])).toString(), `value of ${owned[1]}`);
      for (const id of ids) {
        const key = keyOwnedBy(ring, id, `curve:after${n}:`);
        await allowed.set(key, what);
        assert.strictEqual((await allowed.get(key)).toString(), what, id);
      }
    });
  }
});
