'use strict';
// meshcache for Node.js: a smart client of the meshcache mesh (lib/client.js)
// plus the pure ring and hash it routes by. zeromq is loaded only when a
// Client is made, so the ring works without it.

const { xxh32 } = require('./lib/xxh32');
const { Ring } = require('./lib/ring');
const errors = require('./lib/errors');

module.exports = {
  get Client() {
    return require('./lib/client').Client;
  },
  Ring,
  xxh32,
  ...errors,
};
