'use strict';
// The hash ring exactly as the protocol's "Where a key lives": vnode i of
// node N at xxh32(N + "#" + i); a key's owner is the node of the vnode with
// the greatest position <= xxh32(key), wrapping to the greatest position
// overall; equal positions go to the lower node id (bytewise). Only alive
// and suspect nodes own keys.

const { xxh32 } = require('./xxh32');

const ON_RING = new Set(['alive', 'suspect']);

function compareIds(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// What a ring reply may ask a client to build (docs/protocol.md, "ring"): a
// node takes 1-10000 vnodes and lists at most 4096 members; a reply past these
// is refused (RangeError) rather than built.
const MAX_VNODES = 10000;
const MAX_NODES = 4096;
const MAX_POINTS = 1 << 22;

class Ring {
  // reply: a node's ring map {epoch, hash, vnodes, replicas, nodes: [...]}.
  constructor(reply = {}) {
    this.epoch = Number(reply.epoch || 0);
    this.vnodes = Number(reply.vnodes || 160);
    this.replicas = Number(reply.replicas || 1);
    this.nodes = (reply.nodes || []).map((n) => ({ ...n }));
    if (!Number.isInteger(this.vnodes) || this.vnodes < 1 || this.vnodes > MAX_VNODES) {
      throw new RangeError(`ring reply: vnodes ${reply.vnodes} is not 1-${MAX_VNODES}`);
    }
    if (this.nodes.length > MAX_NODES || this.nodes.length * this.vnodes > MAX_POINTS) {
      throw new RangeError(`ring reply: ${this.nodes.length} nodes x ${this.vnodes} vnodes is too large`);
    }
    this._service = new Map(this.nodes.map((n) => [n.id, n.service || n.id]));
    const points = [];
    for (const node of this.nodes) {
      if (!ON_RING.has(node.state)) continue;
      for (let i = 0; i < this.vnodes; i++) points.push([xxh32(`${node.id}#${i}`), node.id]);
    }
    this._setPoints(points);
  }

  // A ring of explicit [position, id] points (for tests).
  static fromPoints(points) {
    const ring = new Ring();
    ring._setPoints(points);
    return ring;
  }

  _setPoints(points) {
    this._points = points.slice().sort((a, b) => a[0] - b[0] || compareIds(a[1], b[1]));
  }

  get size() {
    return this._points.length;
  }

  // Ids of the nodes that own keys, sorted.
  alive() {
    return [...new Set(this._points.map((p) => p[1]))].sort(compareIds);
  }

  service(id) {
    return this._service.get(id) || id;
  }

  // The owner's id of a key (string or bytes), or null on an empty ring.
  owner(key) {
    return this.ownerOfPosition(xxh32(key));
  }

  ownerOfPosition(position) {
    const index = this._indexAtOrBelow(position);
    return index < 0 ? null : this._points[index][1];
  }

  _indexAtOrBelow(position) {
    const points = this._points;
    if (points.length === 0) return -1;
    let lo = 0;
    let hi = points.length; // first index with position > the key's
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid][0] <= position) lo = mid + 1;
      else hi = mid;
    }
    let index = lo === 0 ? points.length - 1 : lo - 1;
    while (index > 0 && points[index - 1][0] === points[index][0]) index--;
    return index;
  }
}

module.exports = { Ring, ON_RING };
