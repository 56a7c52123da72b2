'use strict';
// One error class per protocol error code. A node's ["err", id, code, msg]
// rejects with the class of `code` (MeshcacheError for unknown codes, with
// .code set). No reply within the client's timeout rejects with Unavailable.

class MeshcacheError extends Error {
  constructor(message = '', code = 'error') {
    super(message);
    this.name = 'MeshcacheError';
    this.code = code;
  }
}

function errorClass(name, code) {
  const cls = class extends MeshcacheError {
    constructor(message = '') {
      super(message, code);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

const BadRequest = errorClass('BadRequest', 'bad_request');
const TooLarge = errorClass('TooLarge', 'too_large');
const Unavailable = errorClass('Unavailable', 'unavailable');
const Timeout = errorClass('Timeout', 'timeout');
const LoadFailed = errorClass('LoadFailed', 'load_failed');
const Overloaded = errorClass('Overloaded', 'overloaded');

const BY_CODE = new Map(
  [BadRequest, TooLarge, Unavailable, Timeout, LoadFailed, Overloaded].map((c) => [
    new c().code,
    c,
  ]),
);

function errorFor(code, message = '') {
  const cls = BY_CODE.get(code);
  return cls ? new cls(message) : new MeshcacheError(message, code);
}

module.exports = {
  MeshcacheError,
  BadRequest,
  TooLarge,
  Unavailable,
  Timeout,
  LoadFailed,
  Overloaded,
  errorFor,
};
