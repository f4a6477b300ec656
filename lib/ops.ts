// The native kernel calls' contract, written once: each op's arguments in order, by name and kind.
// The TypeScript type of every op in NativeBinding is derived from this table; the addon's
// argument readers and registration are checked against it by test/op-table.test.ts (every
// argument, by position, must be read under this name and refuse a value of the wrong kind), and
// the fuzzer (test/fuzz) draws its calls from it.
//
// Kinds:
//   int     a whole number (sizes, flags as 0/1 never: those are bool)   num   a finite number
//   bool    a boolean
//   in      a float buffer the kernel reads        out   one it writes (or updates in place)
//           (Float32Array / Float64Array on the cpu, a float32 CudaBuffer on cuda)
//   inI     an int32 buffer read (argmax)          outI  one written
//   labels  a host Int32Array of class labels, checked by the binding (copied when async)
//   scalar  a host Float64Array(1) the kernel writes (a loss, a sum of squares)
// Every op also takes a trailing optional `async` flag: true queues it on the executor thread and
// returns a Promise.
import type { CudaBuffer } from './binding';

export const OPS = {
  gemm: ['transA:bool', 'transB:bool', 'M:int', 'N:int', 'K:int', 'alpha:num', 'beta:num', 'naive:bool', 'C:out', 'A:in', 'B:in'],
  convForward: ['N:int', 'C:int', 'H:int', 'W:int', 'F:int', 'HH:int', 'WW:int', 'stride:int', 'pad:int', 'naive:bool', 'out:out', 'x:in', 'w:in', 'b:in'],
  convBackward: ['N:int', 'C:int', 'H:int', 'W:int', 'F:int', 'HH:int', 'WW:int', 'stride:int', 'pad:int', 'naive:bool', 'needDx:bool', 'dx:out', 'dw:out', 'db:out', 'dout:in', 'x:in', 'w:in'],
  maxpoolForward: ['N:int', 'C:int', 'H:int', 'W:int', 'poolHeight:int', 'poolWidth:int', 'stride:int', 'out:out', 'argmax:outI', 'x:in'],
  maxpoolBackward: ['N:int', 'C:int', 'H:int', 'W:int', 'poolHeight:int', 'poolWidth:int', 'stride:int', 'dx:out', 'dout:in', 'argmax:inI'],
  reluForward: ['n:int', 'out:out', 'x:in'],
  reluBackward: ['n:int', 'dx:out', 'dout:in', 'x:in'],
  dropoutForward: ['n:int', 'p:num', 'seed:int', 'out:out', 'mask:out', 'x:in'],
  dropoutBackward: ['n:int', 'dx:out', 'dout:in', 'mask:in'],
  linearForward: ['N:int', 'D:int', 'M:int', 'out:out', 'x:in', 'w:in', 'b:in'],
  linearBackward: ['N:int', 'D:int', 'M:int', 'dx:out', 'dw:out', 'db:out', 'dout:in', 'x:in', 'w:in'],
  batchnormForwardTrain: ['N:int', 'D:int', 'S:int', 'eps:num', 'momentum:num', 'relu:bool', 'out:out', 'mean:out', 'rstd:out', 'runningMean:out', 'runningVar:out', 'x:in', 'gamma:in', 'beta:in'],
  batchnormForwardTest: ['N:int', 'D:int', 'S:int', 'eps:num', 'relu:bool', 'out:out', 'x:in', 'gamma:in', 'beta:in', 'runningMean:in', 'runningVar:in'],
  batchnormBackward: ['N:int', 'D:int', 'S:int', 'alt:bool', 'dx:out', 'dgamma:out', 'dbeta:out', 'dout:in', 'x:in', 'gamma:in', 'mean:in', 'rstd:in'],
  batchnormReluBackward: ['N:int', 'D:int', 'S:int', 'dx:out', 'dgamma:out', 'dbeta:out', 'dout:in', 'out:in', 'x:in', 'gamma:in', 'mean:in', 'rstd:in'],
  softmaxLoss: ['N:int', 'C:int', 'smoothing:num', 'dx:out', 'scores:in', 'y:labels', 'loss:scalar'],
  svmLoss: ['N:int', 'C:int', 'dx:out', 'scores:in', 'y:labels', 'loss:scalar'],
  sgdUpdate: ['n:int', 'learningRate:num', 'w:out', 'dw:in'],
  sgdMomentumUpdate: ['n:int', 'learningRate:num', 'momentum:num', 'w:out', 'velocity:out', 'dw:in'],
  nesterovUpdate: ['n:int', 'learningRate:num', 'momentum:num', 'w:out', 'velocity:out', 'dw:in'],
  emaUpdate: ['n:int', 'decay:num', 'avg:out', 'w:in'],
  rmspropUpdate: ['n:int', 'learningRate:num', 'decayRate:num', 'epsilon:num', 'w:out', 'cache:out', 'dw:in'],
  adamUpdate: ['n:int', 'learningRate:num', 'beta1:num', 'beta2:num', 'epsilon:num', 't:int', 'w:out', 'm:out', 'v:out', 'dw:in'],
  l2Penalty: ['n:int', 'reg:num', 'dw:out', 'w:in', 'sumSq:scalar'],
} as const;

export type OpName = keyof typeof OPS;
export type ArgKind = 'int' | 'num' | 'bool' | 'in' | 'out' | 'inI' | 'outI' | 'labels' | 'scalar';

type H = Float32Array | Float64Array;
type F = H | CudaBuffer;
type I = Int32Array | CudaBuffer;
interface KindType {
  int: number;
  num: number;
  bool: boolean;
  in: F;
  out: F;
  inI: I;
  outI: I;
  labels: Int32Array;
  scalar: Float64Array;
}
type ArgType<S> = S extends `${string}:${infer K extends keyof KindType}` ? KindType[K] : never;
type ArgTypes<T extends readonly string[]> = { -readonly [K in keyof T]: ArgType<T[K]> };

/** An op's binding: its table arguments, then the optional async flag. */
export type OpFn<T extends readonly string[]> = (...args: [...ArgTypes<T>, boolean?]) => undefined | Promise<void>;
/** Every op of the table, as NativeBinding has it. */
export type OpBindings = { [K in OpName]: OpFn<(typeof OPS)[K]> };

/** An op's arguments as { name, kind } (parsed from the table). */
export function opArgs(op: OpName): { name: string; kind: ArgKind }[] {
  return OPS[op].map((a) => {
    const [name, kind] = a.split(':');
    return { name, kind: kind as ArgKind };
  });
}
