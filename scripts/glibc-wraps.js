#!/usr/bin/env node
// Prints the linker flags of the portable prebuild's glibc floor: -Wl,--wrap=NAME for every
// __wrap_NAME that native/portable/glibc_compat.cc defines (that file is the one list).
'use strict';
const fs = require('fs');
const path = require('path');

const src = fs.readFileSync(path.join(__dirname, '..', 'native', 'portable', 'glibc_compat.cc'), 'utf8');
const names = [...src.matchAll(/^\S.*\b__wrap_(\w+)\s*\(/gm)].map((m) => m[1]);
process.stdout.write([...new Set(names)].map((n) => `-Wl,--wrap=${n}`).join(' '));
