#!/usr/bin/env node
'use strict';
// The command-line tool. The TypeScript is compiled to dist/ by `npm install` (prepare).
let cli;
try {
  cli = require('../dist/lib/cli/main.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && /dist[\\/]lib[\\/]cli[\\/]main/.test(e.message)) {
    console.error('deepconv: the compiled JavaScript is missing (dist/). Run `npm install` (or `npm run build:ts`) in the package folder.');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
