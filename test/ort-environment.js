// A jest environment for the tests that run onnxruntime-node: its native binding makes typed
// arrays in Node's own realm, and onnxruntime-common checks them with instanceof against the
// test's globals, which jest's sandbox otherwise replaces (a tensor then "must be type of
// Float32Array" although it is one). The sandbox gets the outer realm's typed array classes.
const { TestEnvironment } = require('jest-environment-node');

const TYPED = ['Float32Array', 'Float64Array', 'Int8Array', 'Uint8Array', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array', 'Uint8ClampedArray', 'ArrayBuffer'];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED) this.global[name] = globalThis[name];
  }
}

module.exports = OrtEnvironment;
