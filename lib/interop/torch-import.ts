// The way back from PyTorch: a file in the layout torch.ts describes (written by deepconv's export
// or by scripts/load_in_torch.py's save_for_deepconv) read into a deepconv network.
import type { Model, ModelConfig } from '../models/model';
import { buildModel, refuseNonFinite } from '../models/model';
import { LAYER_TYPES, LayerSpec, otherMomentum } from '../models/architecture';
import { BN_EPS } from '../layers/batchnorm';
import { FileFormatError } from '../io/errors';
import { loadSafetensors } from '../io/safetensors';
import { checkDevice, Device, DType, Tensor } from '../tensor';
import { checkOptions, shapeStr } from '../validate';
import { namedTensors, transpose2d } from './names';
import { TorchLayer, TORCH_KEYS as KEY } from './torch';

export interface TorchImport {
  model: Model;
  /** The file's deepconv.data metadata (JSON text), or null. */
  data: string | null;
}

/** What a layer argument must be for deepconv's networks to compute the same thing. */
const FIXED_ARGS: Record<string, Record<string, unknown>> = {
  Conv2d: { dilation: 1, groups: 1, padding_mode: 'zeros' },
  BatchNorm2d: { affine: true, track_running_stats: true },
  BatchNorm1d: { affine: true, track_running_stats: true },
  MaxPool2d: { padding: 0, dilation: 1, ceil_mode: false },
  Flatten: { start_dim: 1, end_dim: -1 },
};

function parseJson(path: string, metadata: Record<string, string>, key: string, hint: string): unknown {
  const text = metadata[key];
  if (text === undefined) throw new FileFormatError(path, `__metadata__["${key}"] is missing: ${hint}`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(path, `__metadata__["${key}"] is not valid JSON (${(e as Error).message})`);
  }
}

const isInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

function readLayers(path: string, metadata: Record<string, string>): TorchLayer[] {
  const hint = 'not a PyTorch file deepconv can import; write it with save_for_deepconv() from scripts/load_in_torch.py, or with `deepconv export --format torch`';
  const v = parseJson(path, metadata, KEY.sequential, hint);
  if (!Array.isArray(v) || v.length === 0) throw new FileFormatError(path, `__metadata__["${KEY.sequential}"] must be a non-empty array of { type, args }`);
  return v.map((l, i) => {
    if (l === null || typeof l !== 'object' || typeof l.type !== 'string') throw new FileFormatError(path, `layer ${i} must be { type, args } with a torch.nn class name, got ${JSON.stringify(l)?.slice(0, 80)}`);
    if (!(LAYER_TYPES as readonly string[]).includes(l.type)) {
      throw new FileFormatError(path, `layer ${i} is nn.${l.type}, which deepconv has no counterpart for (it imports ${LAYER_TYPES.join(', ')})`);
    }
    const args = l.args ?? {};
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new FileFormatError(path, `layer ${i} (${l.type}): args must be an object, got ${JSON.stringify(args)}`);
    for (const [k, want] of Object.entries(FIXED_ARGS[l.type] ?? {})) {
      if (k in args && args[k] !== want) {
        throw new FileFormatError(path, `layer ${i} (${l.type}): ${k}=${JSON.stringify(args[k])} is not supported (deepconv computes ${k}=${JSON.stringify(want)})`);
      }
    }
    return { type: l.type, args: args as Record<string, unknown> };
  });
}

function readInputShape(path: string, metadata: Record<string, string>): number[] {
  const v = parseJson(path, metadata, KEY.inputShape, 'the shape of one input sample ([C, H, W] or [D]) is needed to rebuild the network');
  if (!Array.isArray(v) || !(v.length === 1 || v.length === 3) || !v.every((d) => isInt(d, 1) && d <= 1 << 24)) {
    throw new FileFormatError(path, `__metadata__["${KEY.inputShape}"] must be [C, H, W] or [D] of positive integers, got ${JSON.stringify(v)?.slice(0, 80)}`);
  }
  return v as number[];
}

/** The deepconv network an nn.Sequential matches: its class and options (errors name the layer). */
export function configFromLayers(layers: readonly TorchLayer[], inputShape: readonly number[], dtype: DType, path = '<layers>'): ModelConfig {
  const fail = (i: number, why: string) => new FileFormatError(path, `layer ${i}${layers[i] ? ` (${layers[i].type})` : ''}: ${why}`);
  const types = layers.map((l) => l.type).join(',');
  const last = layers[layers.length - 1];
  if (last.type !== 'Linear') throw fail(layers.length - 1, 'the last layer must be Linear (the class scores): deepconv networks end in one');
  const numClasses = last.args.out_features as number;
  if (inputShape.length === 3) {
    const inputDims = [...inputShape] as [number, number, number];
    if (layers[0].type !== 'Conv2d') throw fail(0, `a network on [${inputShape.join(', ')}] images must start with Conv2d in deepconv`);
    if (types === 'Conv2d,ReLU,MaxPool2d,Flatten,Linear,ReLU,Linear') {
      const k = layers[0].args.kernel_size as number;
      return { class: 'ThreeLayerConvNet', options: { inputDims, numFilters: layers[0].args.out_channels, filterSize: k, hiddenDim: layers[4].args.out_features, numClasses, dtype } };
    }
    // DeepConvNet: {Conv2d(3, pad 1) - [BatchNorm2d] - ReLU - [MaxPool2d]} x L - Flatten - Linear.
    const numFilters: number[] = [];
    const maxPools: number[] = [];
    const bn: boolean[] = [];
    let i = 0;
    while (layers[i]?.type === 'Conv2d') {
      numFilters.push(layers[i].args.out_channels as number);
      i++;
      bn.push(layers[i]?.type === 'BatchNorm2d');
      if (layers[i]?.type === 'BatchNorm2d') i++;
      if (layers[i]?.type !== 'ReLU') throw fail(i, `deepconv's conv blocks are Conv2d - [BatchNorm2d] - ReLU - [MaxPool2d]; expected ReLU here`);
      i++;
      if (layers[i]?.type === 'MaxPool2d') {
        maxPools.push(numFilters.length - 1);
        i++;
      }
    }
    if (layers[i]?.type !== 'Flatten') throw fail(i, 'expected Conv2d (another conv block) or Flatten (before the final Linear)');
    if (i + 2 !== layers.length) throw fail(i + 1, "deepconv's DeepConvNet has exactly one Linear layer, after the Flatten");
    if (bn.some((b) => b !== bn[0])) throw fail(0, "deepconv's DeepConvNet has BatchNorm2d after every conv or after none");
    return { class: 'DeepConvNet', options: { inputDims, numFilters, maxPools, batchnorm: bn[0], ...bnMomentumOf(layers), numClasses, weightScale: 'kaiming', dtype } };
  }
  // FullyConnectedNet: {Linear - [BatchNorm1d] - ReLU - [Dropout]} x L - Linear.
  if (layers[0].type !== 'Linear') throw fail(0, `a network on [${inputShape[0]}] vectors must start with Linear in deepconv (no Flatten: it takes (N, D) inputs)`);
  const hiddenDims: number[] = [];
  const bn: boolean[] = [];
  const drops: number[] = [];
  let i = 0;
  while (i < layers.length - 1) {
    if (layers[i].type !== 'Linear') throw fail(i, "deepconv's hidden blocks are Linear - [BatchNorm1d] - ReLU - [Dropout]; expected Linear here");
    hiddenDims.push(layers[i].args.out_features as number);
    i++;
    bn.push(layers[i]?.type === 'BatchNorm1d');
    if (layers[i]?.type === 'BatchNorm1d') i++;
    if (layers[i]?.type !== 'ReLU') throw fail(i, 'expected ReLU after the Linear (and its BatchNorm1d)');
    i++;
    drops.push(layers[i]?.type === 'Dropout' ? (layers[i].args.p as number) : 0);
    if (layers[i]?.type === 'Dropout') i++;
  }
  if (bn.some((b) => b !== bn[0])) throw fail(0, "deepconv's FullyConnectedNet has BatchNorm1d in every hidden block or in none");
  if (drops.some((p) => p !== drops[0])) throw fail(0, "deepconv's FullyConnectedNet has one dropout probability for every hidden block");
  return {
    class: 'FullyConnectedNet',
    options: { hiddenDims, inputDim: inputShape[0], numClasses, dropout: drops[0] ?? 0, batchnorm: bn[0] ?? false, ...bnMomentumOf(layers), weightScale: 1e-2, dtype },
  };
}

/**
 * deepconv's bnMomentum from the first batchnorm layer's PyTorch momentum (1 minus it), when it
 * has one deepconv can hold; else nothing (the default). Training only: inference reads the
 * running statistics, which are imported as they are.
 */
function bnMomentumOf(layers: readonly TorchLayer[]): { bnMomentum?: number } {
  const m = layers.find((l) => l.type === 'BatchNorm2d' || l.type === 'BatchNorm1d')?.args.momentum;
  return typeof m === 'number' && m > 0 && m <= 1 ? { bnMomentum: otherMomentum(m) } : {};
}

/** The first difference between the file's layers and the network built for them, as a message. */
function compareLayers(file: readonly TorchLayer[], built: readonly LayerSpec[]): string | null {
  if (file.length !== built.length) return `the file has ${file.length} layers, the matching deepconv network ${built.length}`;
  for (let i = 0; i < built.length; i++) {
    const b = built[i];
    const f = file[i];
    if (f.type !== b.type) return `layer ${i} is ${f.type}, but the matching deepconv network has ${b.type} there`;
    for (const [k, want] of Object.entries(b.args)) {
      if (k === 'momentum') continue;  // training only: the running statistics are what count
      const got = f.args[k];
      const same = k === 'eps' ? typeof got === 'number' && Math.abs(got - (want as number)) <= 1e-12 : got === want;
      if (got === undefined && k !== 'eps') return `layer ${i} (${b.type}) has no ${k} (expected ${JSON.stringify(want)})`;
      if (got !== undefined && !same) {
        const why = k === 'eps' ? ` (deepconv's networks use eps ${BN_EPS})` : '';
        return `layer ${i} (${b.type}) has ${k}=${JSON.stringify(got)}, but deepconv's network needs ${JSON.stringify(want)}${why}`;
      }
    }
    const known = new Set([...Object.keys(b.args), 'bias', ...Object.keys(FIXED_ARGS[b.type] ?? {}), 'inplace']);
    const unknown = Object.keys(f.args).filter((k) => !known.has(k));
    if (unknown.length) return `layer ${i} (${b.type}) has arguments deepconv does not know: ${unknown.join(', ')}`;
  }
  return null;
}

/**
 * Reads a PyTorch-layout file (see the file comment) into a deepconv network: the architecture
 * from the metadata, every tensor checked by name, shape and dtype (errors name the key).
 */
export function importTorch(path: string, opts?: { device?: Device }): TorchImport {
  const o = checkOptions('opts', opts);
  const device = checkDevice('opts.device', o.device ?? 'cpu');
  const file = loadSafetensors(path, { raw: ['I64'] });
  const fail = (why: string) => new FileFormatError(path, why);
  const layers = readLayers(path, file.metadata);
  const inputShape = readInputShape(path, file.metadata);
  const dtypes = [...new Set(Object.values(file.tensors).map((t) => t.dtype))];
  if (dtypes.length > 1) throw fail('mixes F32 and F64 tensors: deepconv networks hold one dtype (convert with module.float() or .double())');
  const dtype: DType = dtypes[0] ?? 'float32';
  let config = configFromLayers(layers, inputShape, dtype, path);
  // A file deepconv exported names its class and options (TwoLayerNet, reg, seed): kept when they
  // build the same layers.
  const held = Object.values(file.tensors).reduce((n, t) => n + t.size, 0);
  let model = buildModel(config, path, held);
  const own = file.metadata[KEY.config];
  if (own !== undefined) {
    try {
      const cfg = JSON.parse(own) as ModelConfig;
      const candidate = buildModel({ class: cfg.class, options: { ...cfg.options, dtype } }, path, held);
      if (compareLayers(layers, candidate.architecture()) === null) {
        model = candidate;
        config = candidate.config;
      }
    } catch {
      /* not deepconv's, or another version's: the layers decide */
    }
  }
  const mismatch = compareLayers(layers, model.architecture());
  if (mismatch) throw fail(mismatch);
  // Tensors: PyTorch name -> deepconv name, in deepconv's layout.
  const params: Record<string, Tensor> = {};
  const extra: Record<string, Tensor> = {};
  const want = { ...model.params, ...model.stateTensors() };
  const used = new Set<string>();
  for (const e of namedTensors(model.architecture())) {
    const like = want[e.deepconv];
    const torchShape = e.transposed ? [like.shape[1], like.shape[0]] : like.shape;
    let t = file.tensors[e.torch];
    const layer = layers[e.layer];
    if (t === undefined && e.torch.endsWith('.bias') && layer.args.bias === false) t = Tensor.zeros(like.shape, dtype);  // bias=False
    else {
      if (t === undefined) {
        const wrong = file.raw[e.torch];
        if (wrong) throw fail(`tensor "${e.torch}" has dtype ${wrong.dtype}; it must be ${dtype === 'float64' ? 'F64' : 'F32'} with shape ${shapeStr(torchShape)}`);
        throw fail(`tensor "${e.torch}" is missing (${layer.type} layer ${e.layer} needs it with shape ${shapeStr(torchShape)})`);
      }
      used.add(e.torch);
      const same = (s: readonly number[]) => s.length === t!.shape.length && s.every((d, i) => d === t!.shape[i]);
      if (!same(torchShape)) {
        const hint = e.transposed && same(like.shape) ? ' (it looks transposed: PyTorch keeps Linear weights as (out_features, in_features))' : '';
        throw fail(`tensor "${e.torch}" has shape ${shapeStr(t.shape)}, but ${layer.type} layer ${e.layer} needs ${shapeStr(torchShape)}${hint}`);
      }
      if (e.transposed) t = transpose2d(t);
    }
    if (e.deepconv in model.params) params[e.deepconv] = t;
    else extra[e.deepconv] = t;
  }
  for (const [k, r] of Object.entries(file.raw)) {
    const m = /^(\d+)\.num_batches_tracked$/.exec(k);
    const l = m ? layers[Number(m[1])] : undefined;
    if (!l || !(l.type === 'BatchNorm2d' || l.type === 'BatchNorm1d') || r.shape.length !== 0) throw fail(`tensor "${k}" (${r.dtype}) is not one deepconv reads`);
  }
  const unexpected = Object.keys(file.tensors).filter((k) => !used.has(k));
  if (unexpected.length) throw fail(`tensors ${unexpected.map((k) => `"${k}"`).join(', ')} belong to no layer of the ${config.class} the metadata describes`);
  refuseNonFinite(path, file.tensors);
  model.assign(params, extra, path);
  return { model: model.toDevice(device), data: file.metadata[KEY.data] ?? null };
}
