// ONNX export: a network's inference graph (Conv, BatchNormalization, Relu, MaxPool, Flatten,
// Gemm; Softmax as an option; dropout left out) with its weights as float32 initializers, encoded
// by protobufjs with the schema in onnx-schema.ts. onnxruntime (Node, web, Python) runs the file.
//
// Input normalization, when given, is two explicit nodes, Sub(mean) then Div(std), rather than
// folded into the first conv: folding is exact only without zero padding (a padded border pixel
// is 0 after normalization, which no change of the weights reproduces from raw pixels), so the
// graph keeps the arithmetic deepconv does. Initializers carry PyTorch's state_dict names
// ("0.weight", "1.running_mean"; see names.ts), so the ONNX file, the PyTorch file and
// nn.Sequential name every tensor alike.
import { parse, Root, Type } from 'protobufjs';
import type { Model } from '../models/model';
import { LayerSpec, otherMomentum } from '../models/architecture';
import { writeFileAtomic } from '../io/safetensors';
import { Tensor } from '../tensor';
import { checkOptions, invalidRange, invalidType } from '../validate';
import { layerTensorNames, torchStateTensors } from './names';
import { packageVersion } from '../binding';
import { ONNX_PROTO } from './onnx-schema';

/** The opsets the export writes (every op used is unchanged from 17 on), and the IR version each needs. */
export const ONNX_OPSETS = [17, 18, 19, 20, 21] as const;
export type OnnxOpset = (typeof ONNX_OPSETS)[number];
const IR_VERSION: Record<OnnxOpset, number> = { 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };
/**
 * The default: the newest opset that onnx 1.12's checker (Debian 12) validates and onnxruntime has
 * run since 1.12; 18-21 are there for toolchains that want a newer one.
 */
export const DEFAULT_OPSET: OnnxOpset = 17;

export interface Normalization {
  /** Subtracted per channel (conv nets: one per input channel; fc nets: one per equal block of features). */
  mean: readonly number[];
  /** Then divided by, per channel (> 0). */
  std: readonly number[];
}

export interface OnnxOptions {
  /**
   * Normalize the input inside the graph: (x - mean[c]) / std[c], so the graph takes raw values
   * (for `deepconv train` models: pixel / 255 in [0, 1]). Absent or null: the graph takes the
   * inputs model.predict() takes.
   */
  normalize?: Normalization | null;
  /** Append a Softmax: the output is 'probabilities' instead of 'scores' (default false). */
  softmax?: boolean;
  /** Class names, stored in the file's metadata_props as deepconv.classes (JSON). */
  classes?: readonly string[];
  /** ONNX opset (default DEFAULT_OPSET, 17): one of ONNX_OPSETS. */
  opset?: number;
}

const FLOAT = 1;  // TensorProto.DataType.FLOAT
let schema: { model: Type } | null = null;  // parsed on first export, not when deepconv loads

function onnxTypes(): { model: Type } {
  if (!schema) {
    const root: Root = parse(ONNX_PROTO, { keepCase: true }).root;
    schema = { model: root.lookupType('onnx.ModelProto') };
  }
  return schema;
}

function checkNormalization(n: unknown, model: Model): Normalization | null {
  if (n === undefined || n === null) return null;
  if (typeof n !== 'object' || Array.isArray(n)) throw invalidType('opts.normalize', 'an object { mean, std } or null', n);
  const { mean, std } = n as Normalization;
  const shape = model.inputShape;
  const conv = shape.length === 3;
  const check = (name: string, v: unknown, ok: (x: number) => boolean, what: string): number[] => {
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && ok(x))) {
      throw invalidType(`opts.normalize.${name}`, `an array of ${what}`, v);
    }
    if (conv && v.length !== shape[0]) throw new RangeError(`opts.normalize.${name} must be ${shape[0]} values (one per input channel of the model's [${shape.join(', ')}] input), got ${v.length} values`);
    if (!conv && shape[0] % v.length !== 0) {
      throw new RangeError(`opts.normalize.${name} must be a number of channels that divides the model's ${shape[0]} input features, got ${v.length} values`);
    }
    return v as number[];
  };
  const m = check('mean', mean, () => true, 'finite numbers');
  const s = check('std', std, (x) => x > 0, 'finite numbers > 0');
  if (m.length !== s.length) throw new RangeError(`opts.normalize.mean and opts.normalize.std must have the same length, got ${m.length} and ${s.length}`);
  return { mean: m, std: s };
}

function checkOnnxOptions(opts: OnnxOptions | undefined, model: Model): { normalize: Normalization | null; softmax: boolean; classes: string[] | null; opset: OnnxOpset } {
  const o = checkOptions('opts', opts);
  for (const k of Object.keys(o)) {
    if (!['normalize', 'softmax', 'classes', 'opset'].includes(k)) throw new TypeError(`opts.${k} is not an ONNX export option (normalize, softmax, classes, opset)`);
  }
  const softmax = o.softmax ?? false;
  if (typeof softmax !== 'boolean') throw invalidType('opts.softmax', 'a boolean', softmax);
  const opset = o.opset ?? DEFAULT_OPSET;
  if (!(ONNX_OPSETS as readonly unknown[]).includes(opset)) throw invalidRange('opts.opset', `one of ${ONNX_OPSETS.join(', ')}`, opset);
  let classes: string[] | null = null;
  if (o.classes !== undefined) {
    if (!Array.isArray(o.classes) || o.classes.length !== model.numClasses || !o.classes.every((c) => typeof c === 'string')) {
      throw invalidType('opts.classes', `${model.numClasses} class names (strings), one per output of the model`, o.classes);
    }
    classes = [...o.classes];
  }
  return { normalize: checkNormalization(o.normalize, model), softmax, classes, opset: opset as OnnxOpset };
}

// AttributeProto.AttributeType values.
const ATTR = { FLOAT: 1, INT: 2, INTS: 7 } as const;
const ints = (name: string, v: number[]) => ({ name, type: ATTR.INTS, ints: v });
const int = (name: string, v: number) => ({ name, type: ATTR.INT, i: v });
const float = (name: string, v: number) => ({ name, type: ATTR.FLOAT, f: v });

function initializer(name: string, t: Tensor) {
  const f32 = t.dtype === 'float32' ? (t.data as Float32Array) : Float32Array.from(t.data);
  const bytes = new Uint8Array(f32.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < f32.length; i++) view.setFloat32(4 * i, f32[i], true);
  return { name, dims: [...t.shape], data_type: FLOAT, raw_data: bytes };
}

function valueInfo(name: string, dims: (number | string)[]) {
  return {
    name,
    type: { tensor_type: { elem_type: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } },
  };
}

/** One graph node per layer that computes at inference (Dropout is the identity there). */
function layerNode(layer: LayerSpec, i: number, input: string, output: string) {
  // The layer's input, then its tensors under the initializer names names.ts gives them.
  const node = (op: string, attribute: object[] = []) => ({ name: `${i}.${op}`, op_type: op, input: [input, ...layerTensorNames(layer, i)], output: [output], attribute });
  switch (layer.type) {
    case 'Conv2d': {
      const { kernel_size: k, stride: s, padding: p } = layer.args;
      return node('Conv', [ints('kernel_shape', [k, k]), ints('strides', [s, s]), ints('pads', [p, p, p, p]), ints('dilations', [1, 1]), int('group', 1)]);
    }
    case 'BatchNorm2d':
    case 'BatchNorm1d':
      // ONNX's momentum weighs the running value, as deepconv's does (PyTorch's weighs the batch).
      return node('BatchNormalization', [
        float('epsilon', layer.args.eps),
        float('momentum', otherMomentum(layer.args.momentum)),
      ]);
    case 'ReLU':
      return node('Relu');
    case 'MaxPool2d': {
      const { kernel_size: k, stride: s } = layer.args;
      return node('MaxPool', [ints('kernel_shape', [k, k]), ints('strides', [s, s])]);
    }
    case 'Flatten':
      return node('Flatten', [int('axis', 1)]);
    case 'Linear':
      // PyTorch's (out, in) weight, as torch.onnx writes nn.Linear: Y = X W^T + b.
      return node('Gemm', [float('alpha', 1), float('beta', 1), int('transA', 0), int('transB', 1)]);
    case 'Dropout':
      return null;
  }
}

/** The normalization constants, broadcast against the input: (1, C, 1, 1), or (1, D) for fc nets. */
function normalizationTensors(n: Normalization, inputShape: number[]): { mean: Tensor; std: Tensor } {
  if (inputShape.length === 3) {
    const C = inputShape[0];
    return { mean: new Tensor(Float32Array.from(n.mean), [1, C, 1, 1]), std: new Tensor(Float32Array.from(n.std), [1, C, 1, 1]) };
  }
  const D = inputShape[0];
  const per = D / n.mean.length;
  const expand = (v: readonly number[]) => new Tensor(Float32Array.from({ length: D }, (_, j) => v[Math.floor(j / per)]), [1, D]);
  return { mean: expand(n.mean), std: expand(n.std) };
}

/** The ONNX file of `model` in memory (see OnnxOptions). Float64 models are written as float32. */
export function onnxBytes(model: Model, opts?: OnnxOptions): Uint8Array {
  const o = checkOnnxOptions(opts, model);
  const layers = model.architecture();
  const tensors = torchStateTensors(model);
  const initializers = Object.entries(tensors).map(([name, t]) => initializer(name, t));
  const nodes: object[] = [];
  let x = 'input';
  if (o.normalize) {
    const { mean, std } = normalizationTensors(o.normalize, model.inputShape);
    initializers.push(initializer('input_mean', mean), initializer('input_std', std));
    nodes.push({ name: 'normalize.Sub', op_type: 'Sub', input: [x, 'input_mean'], output: ['centered'] });
    nodes.push({ name: 'normalize.Div', op_type: 'Div', input: ['centered', 'input_std'], output: ['normalized'] });
    x = 'normalized';
  }
  const output = o.softmax ? 'probabilities' : 'scores';
  const computing = layers.map((l, i) => [l, i] as const).filter(([l]) => l.type !== 'Dropout');
  computing.forEach(([layer, i], j) => {
    const out = j === computing.length - 1 && !o.softmax ? output : `${i}.out`;
    nodes.push(layerNode(layer, i, x, out)!);
    x = out;
  });
  if (o.softmax) nodes.push({ name: 'softmax', op_type: 'Softmax', input: [x], output: [output], attribute: [int('axis', 1)] });
  const inputDoc = o.normalize ? 'raw values (for deepconv train models: pixel / 255), normalized by the graph' : 'the values model.predict() takes (already normalized)';
  const metadata: Record<string, string> = {
    'deepconv.config': JSON.stringify(model.config),
    'deepconv.input': inputDoc,
  };
  if (o.normalize) metadata['deepconv.normalize'] = JSON.stringify({ mean: o.normalize.mean, std: o.normalize.std });
  if (o.classes) metadata['deepconv.classes'] = JSON.stringify(o.classes);
  const proto = {
    ir_version: IR_VERSION[o.opset],
    producer_name: 'deepconv',
    producer_version: packageVersion(),
    doc_string: `${model.className} exported by deepconv; input: ${inputDoc}; output: ${output} (N, ${model.numClasses})`,
    opset_import: [{ domain: '', version: o.opset }],
    metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: model.className,
      node: nodes,
      initializer: initializers,
      input: [valueInfo('input', ['N', ...model.inputShape])],
      output: [valueInfo(output, ['N', model.numClasses])],
    },
  };
  const type = onnxTypes().model;
  const problem = type.verify(proto);
  if (problem) throw new Error(`deepconv built an invalid ONNX ModelProto (${problem}): a bug, please report it`);
  return type.encode(type.fromObject(proto)).finish();
}

/** Writes the ONNX file of `model` to `path` atomically (see onnxBytes). */
export function writeOnnx(model: Model, path: string, opts?: OnnxOptions): void {
  if (typeof path !== 'string' || path === '') throw invalidType('path', 'a non-empty string', path);
  writeFileAtomic(path, [onnxBytes(model, opts)]);
}
