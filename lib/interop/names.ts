// deepconv's tensors under PyTorch's names and layouts, the one mapping the ONNX export, the
// PyTorch export and the PyTorch import share. Layer i of model.architecture() is module i of the
// matching nn.Sequential, so its tensors are "<i>.weight", "<i>.bias", and for batchnorm also
// "<i>.running_mean", "<i>.running_var" (and "<i>.num_batches_tracked", which only PyTorch keeps).
//
//   deepconv            layout          PyTorch                layout
//   W<k> (conv)         (F, C, k, k)    <i>.weight  Conv2d     (F, C, k, k)
//   b<k> (conv)         (F)             <i>.bias               (F)
//   W<k> (linear)       (in, out)       <i>.weight  Linear     (out, in)     transposed
//   b<k> (linear)       (out)           <i>.bias               (out)
//   gamma<k>, beta<k>   (C)             <i>.weight, <i>.bias   BatchNorm2d / BatchNorm1d
//   runningMean<k>      (C)             <i>.running_mean
//   runningVar<k>       (C)             <i>.running_var        (biased variance in both)
import type { Model } from '../models/model';
import type { LayerSpec } from '../models/architecture';
import { FloatArray, Tensor } from '../tensor';

/** One PyTorch state_dict entry and the deepconv tensor it comes from. */
export interface NamedTensor {
  /** The PyTorch name, e.g. "3.weight". */
  torch: string;
  /** The deepconv name: a parameter (W0, gamma0) or a state tensor (runningMean0). */
  deepconv: string;
  /** Whether PyTorch's layout is the transpose of deepconv's (Linear weights). */
  transposed: boolean;
  /** The index of its layer (module) in the architecture. */
  layer: number;
}

/** The entries of layer `i` (none for ReLU, MaxPool2d, Flatten and Dropout). */
export function layerTensors(layer: LayerSpec, i: number): NamedTensor[] {
  switch (layer.type) {
    case 'Conv2d':
    case 'Linear':
      return [
        { torch: `${i}.weight`, deepconv: layer.weight, transposed: layer.type === 'Linear', layer: i },
        { torch: `${i}.bias`, deepconv: layer.bias, transposed: false, layer: i },
      ];
    case 'BatchNorm2d':
    case 'BatchNorm1d':
      return [
        { torch: `${i}.weight`, deepconv: layer.weight, transposed: false, layer: i },
        { torch: `${i}.bias`, deepconv: layer.bias, transposed: false, layer: i },
        { torch: `${i}.running_mean`, deepconv: layer.runningMean, transposed: false, layer: i },
        { torch: `${i}.running_var`, deepconv: layer.runningVar, transposed: false, layer: i },
      ];
    default:
      return [];
  }
}

/** The PyTorch names of layer i's tensors, in the order ONNX's Conv / Gemm / BatchNormalization take them after the input. */
export function layerTensorNames(layer: LayerSpec, i: number): string[] {
  return layerTensors(layer, i).map((e) => e.torch);
}

/** Every entry of an architecture, in module order. */
export function namedTensors(layers: readonly LayerSpec[]): NamedTensor[] {
  return layers.flatMap((l, i) => layerTensors(l, i));
}

/** The (rows, cols) matrix `t` transposed into a new host tensor of the same dtype. */
export function transpose2d(t: Tensor): Tensor {
  const [R, C] = t.shape;
  const src = t.data;
  const out = Tensor.zeros([C, R], t.dtype);
  const dst: FloatArray = out.data;
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) dst[c * R + r] = src[r * C + c];
  return out;
}

/** The model's tensors (host copies where it is on cuda) under PyTorch's names and layouts. */
export function torchStateTensors(model: Model): Record<string, Tensor> {
  const all: Record<string, Tensor> = { ...model.params, ...model.stateTensors() };
  const out: Record<string, Tensor> = {};
  for (const e of namedTensors(model.architecture())) {
    const t = all[e.deepconv].toDevice('cpu');
    out[e.torch] = e.transposed ? transpose2d(t) : t;
  }
  return out;
}
