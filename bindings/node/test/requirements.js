'use strict';
// What some tests need that a developer's machine may lack: the zeromq addon,
// a Python with the meshcache package. Outside CI such a test is skipped with
// the reason; under CI=true it fails with it, since in CI a check that does
// not run must not pass. Holds no tests itself.

const IN_CI = process.env.CI === 'true';

// Why the zeromq module cannot load, or null when it loads.
function zeromqMissing() {
  try {
    require('zeromq');
    return null;
  } catch (error) {
    return `the zeromq module cannot load: ${error.message.split('\n')[0]}`;
  }
}

// unmet(t, reason): false when reason is empty (nothing is missing). Else the
// test cannot run: under CI=true this throws an Error saying so, which fails
// the test; elsewhere it marks the test skipped and returns true, and the
// test returns at once.
function unmet(t, reason) {
  if (!reason) return false;
  if (IN_CI) throw new Error(`${reason} (CI=true: this test must run, not skip)`);
  t.skip(reason);
  return true;
}

module.exports = { IN_CI, zeromqMissing, unmet };
