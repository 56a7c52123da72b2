'use strict';
// The README snippets, saved as files and run with node as a user would,
// against a real node: each must run to its end and print the value.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { PyMesh } = require('../testing/mesh');
const { zeromqMissing, unmet } = require('./requirements');

const REPO = path.resolve(__dirname, '..', '..', '..');
const missing = zeromqMissing();

// The ```js blocks of a Markdown file that are whole programs (they
// require the package); fragments that continue a program are left out.
function jsPrograms(file) {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/```js\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .filter((block) => block.includes("require('./bindings/node')"));
}

function run(file) {
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { timeout: 20000 }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr }));
  });
}

test('the README snippets run when saved as files', async (t) => {
  if (unmet(t, missing)) return;
  const mesh = await PyMesh.start(1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcache-readme-'));
  t.after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await mesh.close();
  });
  const readmes = [path.join(REPO, 'README.md'), path.join(REPO, 'bindings', 'node', 'README.md')];
  for (const readme of readmes) {
    const blocks = jsPrograms(readme);
    assert.ok(blocks.length > 0, `${readme} has a js snippet`);
    for (const [i, block] of blocks.entries()) {
      await t.test(`${path.relative(REPO, readme)} snippet ${i + 1}`, async () => {
        const file = path.join(dir, `snippet-${path.basename(path.dirname(readme))}-${i}.js`);
        const source = block
          .replaceAll("require('./bindings/node')",
                      `require(${JSON.stringify(path.join(REPO, 'bindings', 'node'))})`)
          .replaceAll('tcp://127.0.0.1:7400', mesh.endpoints[0]);
        fs.writeFileSync(file, source);
        const result = await run(file);
        assert.strictEqual(result.code, 0, result.stderr);
        assert.match(result.stdout, /^alice$/m);
      });
    }
  }
});
