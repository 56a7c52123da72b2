'use strict';
// The Node.js client against real meshcached processes.

const test = require('node:test');
const assert = require('node:assert');
const meshcache = require('..');
const { PyMesh, keyOwnedBy } = require('../testing/mesh');
const { zeromqMissing, unmet } = require('./requirements');

const missing = zeromqMissing(); // skipped with this reason, or failed under CI=true

async function allStats(client, endpoints) {
  return Promise.all(endpoints.map((ep) => client.stats(ep)));
}

test('client against a three-node mesh', async (t) => {
  if (unmet(t, missing)) return;
  const mesh = await PyMesh.start(3);
  const client = new meshcache.Client(mesh.endpoints, { timeoutMs: 2000 });
  t.after(async () => {
    client.close();
    await mesh.close();
  });
  const ring = new meshcache.Ring(await client.ring());

  await t.test('set, get and del a key', async () => {
    await client.set('js:a', Buffer.from('alpha'));
    assert.deepStrictEqual(await client.get('js:a'), Buffer.from('alpha'));
    assert.strictEqual(await client.del('js:a'), true);
    assert.strictEqual(await client.get('js:a'), null);
    assert.strictEqual(await client.del('js:a'), false);
  });

  await t.test('string and byte keys are the same key', async () => {
    await client.set('js:ключ', 'значение');
    const value = await client.get(Buffer.from('js:ключ', 'utf8'));
    assert.strictEqual(value.toString('utf8'), 'значение');
  });

  await t.test('mget returns values in request order, null for misses', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `js:m${i}`);
    for (const key of keys.filter((_, i) => i % 2)) await client.set(key, key);
    const values = await client.mget(keys);
    assert.deepStrictEqual(
      values.map((v) => (v === null ? null : v.toString())),
      keys.map((k, i) => (i % 2 ? k : null)),
    );
    assert.strictEqual(new Set(keys.map((k) => ring.owner(k))).size, 3);
    assert.deepStrictEqual(await client.mget([]), []);
  });

  await t.test('each key goes straight to its owner', async () => {
    const keys = Array.from({ length: 45 }, (_, i) => `js:own${i}`);
    const ids = (await Promise.all(mesh.endpoints.map((ep) => client.ping(ep)))).map((p) => p.node);
    const before = await allStats(client, mesh.endpoints);
    for (const key of keys) await client.set(key, 'v');
    const after = await allStats(client, mesh.endpoints);
    ids.forEach((id, i) => {
      const owned = keys.filter((k) => ring.owner(k) === id).length;
      assert.strictEqual(after[i].sets - before[i].sets, owned, id);
      assert.strictEqual(after[i].forwards, before[i].forwards, id);
    });
  });

  await t.test('a value over the limit is TooLarge', async () => {
    await assert.rejects(client.set('js:big', Buffer.alloc(1024 * 1024 + 1)), meshcache.TooLarge);
  });

  await t.test('an unknown op is a BadRequest', async () => {
    await assert.rejects(client.request(mesh.endpoints[0], 'frobnicate'), meshcache.BadRequest);
  });

  await t.test('a value expires after its ttl', async () => {
    await client.set('js:ttl', 'brief', { ttlMs: 150 });
    const deadline = Date.now() + 5000;
    while ((await client.get('js:ttl')) !== null) {
      assert.ok(Date.now() < deadline, 'js:ttl did not expire within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 20)); // poll interval
    }
  });
});

test('client fails over when an owner dies', async (t) => {
  if (unmet(t, missing)) return;
  const mesh = await PyMesh.start(3);
  const client = new meshcache.Client(mesh.endpoints, { timeoutMs: 300 });
  t.after(async () => {
    client.close();
    await mesh.close();
  });
  const ring = new meshcache.Ring(await client.ring());
  const victim = (await client.ping(mesh.endpoints[1])).node;
  const key = keyOwnedBy(ring, victim, 'js:failover');
  await mesh.command('kill 1');
  await mesh.command('converge');
  await client.set(key, 'after'); // its ring still names the dead owner
  assert.strictEqual((await client.get(key)).toString(), 'after');
  assert.notStrictEqual(await client.owner(key), mesh.endpoints[1]);
});

test('a paused node gives Unavailable until resumed', async (t) => {
  if (unmet(t, missing)) return;
  const mesh = await PyMesh.start(1);
  const client = new meshcache.Client(mesh.endpoints, { smart: false, timeoutMs: 200, retries: 0 });
  t.after(async () => {
    client.close();
    await mesh.close();
  });
  await mesh.command('pause 0');
  await assert.rejects(client.ping(), meshcache.Unavailable);
  await mesh.command('resume 0');
  assert.strictEqual((await client.ping()).proto, 1);
});
