'use strict';
// A smart meshcache client on zeromq (v6) and @msgpack/msgpack.
//
// One DEALER per node; each key goes straight to its owner, computed from
// the ring of any node. When a node gives no reply within timeoutMs the
// client closes that socket (dropping whatever is queued for it), avoids the
// node for downMs, fetches the ring again and retries (retries times) at the
// new owner or any other live node, which forwards. Then it rejects with
// Unavailable. Replies are matched by request id; late ones are dropped.

const { encode, decode } = require('@msgpack/msgpack');
const { Ring } = require('./ring');
const { MeshcacheError, Unavailable, errorFor } = require('./errors');

const EMPTY = Buffer.alloc(0);

function toBytes(data, what) {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.length);
  throw new TypeError(`${what} must be a string or bytes`);
}

function toValue(value) {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : toBytes(value, 'value');
}

class Connection {
  // socketOptions: zeromq.js Dealer options (maxMessageSize, CURVE keys).
  constructor(zmq, endpoint, onReply, socketOptions) {
    this.socket = new zmq.Dealer({ linger: 0, ...socketOptions });
    this.socket.connect(endpoint);
    this.sending = Promise.resolve();
    this._receive(onReply);
  }

  // zeromq.js allows one send in flight per socket: chain them.
  send(frames) {
    this.sending = this.sending.then(() => this.socket.send(frames)).catch(() => {});
  }

  close() {
    if (!this.socket.closed) this.socket.close();
  }

  async _receive(onReply) {
    try {
      for await (const frames of this.socket) onReply(frames);
    } catch (_) {
      // The socket was closed.
    }
  }
}

class Client {
  // endpoints: service endpoints of any nodes. Options: timeoutMs (per try
  // at one node), retries, smart (false: send everything to the given
  // endpoints, which forward), ringRefreshMs, downMs, maxReplyBytes (the
  // largest reply taken; a bigger one is dropped and the request times out),
  // and CURVE (docs/security.md): curveServerKey (the mesh's public key),
  // curvePublicKey and curveSecretKey (this client's pair, Z85), all or none.
  constructor(endpoints, options = {}) {
    this._seeds = typeof endpoints === 'string' ? [endpoints] : [...endpoints];
    if (this._seeds.length === 0) throw new Error('Client needs at least one endpoint');
    const curve = [options.curveServerKey, options.curvePublicKey, options.curveSecretKey];
    if (curve.some(Boolean) && !curve.every(Boolean)) {
      throw new Error('CURVE needs curveServerKey, curvePublicKey and curveSecretKey');
    }
    this._socketOptions = { maxMessageSize: options.maxReplyBytes ?? 256 * 1024 * 1024 };
    if (curve.every(Boolean)) {
      Object.assign(this._socketOptions, {
        curveServerKey: options.curveServerKey,
        curvePublicKey: options.curvePublicKey,
        curveSecretKey: options.curveSecretKey,
      });
    }
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.retries = options.retries ?? 1;
    this.smart = options.smart ?? true;
    this._ringRefreshMs = options.ringRefreshMs ?? 5000;
    this._downMs = options.downMs ?? 2000;
    this._zmq = require('zeromq');
    this._connections = new Map();
    this._pending = new Map(); // id -> resolve(reply)
    this._down = new Map(); // endpoint -> until (ms)
    this._nextId = 1;
    this._spread = 0;
    this._ring = null;
    this._ringReply = null;
    this._nextRefresh = 0;
    this._closed = false;
  }

  async get(key) {
    key = toBytes(key, 'key');
    const reply = await this._keyed(key, ['get', key]);
    return reply[0] === 'ok' ? toValue(reply[2]) : null;
  }

  // ttlMs: undefined for the node's default, 0 for no expiry.
  async set(key, value, { ttlMs } = {}) {
    key = toBytes(key, 'key');
    const request = ['set', key, toBytes(value, 'value')];
    if (ttlMs !== undefined && ttlMs !== null) request.push(ttlMs);
    await this._keyed(key, request);
  }

  async del(key) {
    key = toBytes(key, 'key');
    return Boolean((await this._keyed(key, ['del', key]))[2]);
  }

  async mget(keys) {
    keys = keys.map((k) => toBytes(k, 'key'));
    const values = new Array(keys.length).fill(null);
    let pending = keys.map((_, i) => i);
    const failed = new Set();
    let lastError = null;
    for (let attempt = 0; attempt <= this.retries && pending.length; attempt++) {
      const groups = await this._group(keys, pending, failed);
      const replies = await this._exchange(
        groups.map(([ep, idx]) => [ep, ['mget', idx.map((i) => keys[i])]]),
      );
      pending = [];
      groups.forEach(([ep, idx], g) => {
        const error = this._failure(ep, replies[g]);
        if (error) {
          failed.add(ep);
          pending.push(...idx);
          lastError = error;
          return;
        }
        const got = replies[g][2];
        if (!Array.isArray(got) || got.length !== idx.length) {
          throw new MeshcacheError(`mget reply holds a wrong number of values`);
        }
        idx.forEach((i, j) => (values[i] = toValue(got[j])));
      });
    }
    if (pending.length) throw lastError;
    return values;
  }

  async ping(endpoint) {
    return (await this._at(endpoint, ['ping']))[2];
  }

  async stats(endpoint) {
    return (await this._at(endpoint, ['stats']))[2];
  }

  // The ring map of a node, fetched now; the client routes by it.
  async ring() {
    await this.refreshRing();
    if (!this._ring) throw new Unavailable('no node answered a ring request');
    return this._ringReply;
  }

  async refreshRing() {
    this._nextRefresh = Date.now() + this._ringRefreshMs;
    for (const endpoint of this._ringSources()) {
      const [reply] = await this._exchange([[endpoint, ['ring']]]);
      if (!this._failure(endpoint, reply) && reply[2] && typeof reply[2] === 'object') {
        let ring;
        try {
          ring = new Ring(reply[2]);
        } catch (e) {
          continue; // a reply no node would send: ask the next
        }
        this._ringReply = reply[2];
        this._ring = ring;
        this._ringKeys = new Map(
          ring.nodes
            .filter((n) => typeof n.key === 'string' && typeof n.service === 'string')
            .map((n) => [n.service, n.key]),
        );
        return true;
      }
    }
    this._nextRefresh = Date.now() + Math.min(this._ringRefreshMs, 500);
    return false;
  }

  // The service endpoint the client would send key to, or null.
  async owner(key) {
    const ring = await this._currentRing();
    const id = ring && ring.owner(toBytes(key, 'key'));
    return id ? ring.service(id) : null;
  }

  // Sends [op, id, ...args] to one node; resolves to the reply array.
  async request(endpoint, op, ...args) {
    return this._at(endpoint, [op, ...args]);
  }

  close() {
    this._closed = true;
    for (const connection of this._connections.values()) connection.close();
    this._connections.clear();
    for (const resolve of this._pending.values()) resolve(null);
    this._pending.clear();
  }

  async _keyed(key, request) {
    const tried = new Set();
    let lastError = new Unavailable('no node to send to');
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      const endpoint = await this._pick(key, tried);
      if (!endpoint) break;
      tried.add(endpoint);
      const [reply] = await this._exchange([[endpoint, request]]);
      const error = this._failure(endpoint, reply);
      if (!error) return reply;
      lastError = error;
    }
    throw lastError;
  }

  async _at(endpoint, request) {
    const candidates = endpoint ? [endpoint] : this._liveEndpoints();
    let lastError = new Unavailable('no node to send to');
    for (const candidate of candidates.slice(0, this.retries + 1)) {
      const [reply] = await this._exchange([[candidate, request]]);
      const error = this._failure(candidate, reply);
      if (!error) return reply;
      lastError = error;
    }
    throw lastError;
  }

  // null for a usable reply, the error to report otherwise; throws the
  // node's error when another node would not do better.
  _failure(endpoint, reply) {
    if (!reply) {
      this._markDown(endpoint);
      return new Unavailable(`no reply from ${endpoint} within ${this.timeoutMs} ms`);
    }
    if (reply[0] !== 'err') return null;
    const error = errorFor(typeof reply[2] === 'string' ? reply[2] : 'error', String(reply[3] ?? ''));
    if (error instanceof Unavailable) {
      this._nextRefresh = 0;
      return error;
    }
    throw error;
  }

  async _pick(key, tried) {
    const ring = await this._currentRing();
    const id = ring && ring.owner(key);
    if (id) {
      const endpoint = ring.service(id);
      if (!tried.has(endpoint) && !this._isDown(endpoint)) return endpoint;
    }
    return this._liveEndpoints().find((ep) => !tried.has(ep)) || null;
  }

  async _group(keys, indices, failed) {
    const groups = new Map();
    for (const i of indices) {
      const endpoint = await this._pick(keys[i], failed);
      if (!endpoint) throw new Unavailable('no live node left to ask');
      if (!groups.has(endpoint)) groups.set(endpoint, []);
      groups.get(endpoint).push(i);
    }
    return [...groups.entries()];
  }

  async _currentRing() {
    if (!this.smart) return null;
    if (Date.now() >= this._nextRefresh) await this.refreshRing();
    return this._ring;
  }

  // Nodes on the ring (rotated to spread fallbacks), then seeds not on it;
  // nodes marked down last.
  _liveEndpoints() {
    let known = [];
    if (this.smart && this._ring) {
      known = this._ring.alive().map((id) => this._ring.service(id));
      const shift = this._spread++ % Math.max(1, known.length);
      known = known.slice(shift).concat(known.slice(0, shift));
    }
    known.push(...this._seeds.filter((s) => !known.includes(s)));
    const up = known.filter((ep) => !this._isDown(ep));
    return up.concat(known.filter((ep) => this._isDown(ep)));
  }

  _ringSources() {
    const sources = this.smart ? this._liveEndpoints() : [...this._seeds];
    const up = sources.filter((ep) => !this._isDown(ep));
    return up.length ? up : sources;
  }

  _markDown(endpoint) {
    this._down.set(endpoint, Date.now() + this._downMs);
    this._nextRefresh = 0;
    const connection = this._connections.get(endpoint);
    if (connection) {
      connection.close();
      this._connections.delete(endpoint);
    }
  }

  _isDown(endpoint) {
    const until = this._down.get(endpoint);
    if (until === undefined) return false;
    if (Date.now() >= until) {
      this._down.delete(endpoint);
      return false;
    }
    return true;
  }

  _connection(endpoint) {
    if (this._closed) throw new MeshcacheError('client is closed');
    // Under CURVE, a node is reached with the key its ring entry names (a
    // mesh whose nodes hold pairs of their own), else with curveServerKey.
    const options = { ...this._socketOptions };
    if (options.curveServerKey && this._ringKeys?.has(endpoint)) {
      options.curveServerKey = this._ringKeys.get(endpoint);
    }
    let connection = this._connections.get(endpoint);
    if (connection && connection.serverKey !== options.curveServerKey) {
      connection.close(); // the node serves with another key now
      this._connections.delete(endpoint);
      connection = undefined;
    }
    if (!connection) {
      connection = new Connection(this._zmq, endpoint, (frames) => this._onReply(frames), options);
      connection.serverKey = options.curveServerKey;
      this._connections.set(endpoint, connection);
    }
    return connection;
  }

  _onReply(frames) {
    if (frames.length !== 2 || frames[0].length !== 0) return;
    let reply;
    try {
      reply = decode(frames[1]);
    } catch (_) {
      return;
    }
    if (!Array.isArray(reply) || reply.length < 2 || !['ok', 'miss', 'err'].includes(reply[0])) {
      return;
    }
    const resolve = this._pending.get(Number(reply[1]));
    if (resolve) resolve(reply);
  }

  // Sends [[endpoint, [op, ...args]], ...] at once; resolves to the replies
  // in order, null where none came within timeoutMs.
  _exchange(batch) {
    return Promise.all(
      batch.map(([endpoint, request]) => {
        const id = this._nextId++;
        const body = encode([request[0], id, ...request.slice(1)]);
        const connection = this._connection(endpoint);
        return new Promise((resolve) => {
          const timer = setTimeout(() => done(null), this.timeoutMs);
          const done = (reply) => {
            clearTimeout(timer);
            this._pending.delete(id);
            resolve(reply);
          };
          this._pending.set(id, done);
          connection.send([EMPTY, body]);
        });
      }),
    );
  }
}

module.exports = { Client };
