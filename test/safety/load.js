// What every safety scenario loads: the library from its TypeScript sources (ts-node, so the
// scenarios test the tree as it is, not a stale dist/), with DEEPCONV_ADDON choosing the build.
require('ts-node').register({ transpileOnly: true, compilerOptions: { module: 'commonjs' } });
module.exports = require('../../lib');
module.exports.native = require('../../lib/binding').native;
