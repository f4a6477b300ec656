// A network as a plain list of layers, the way PyTorch's nn.Sequential holds it: each layer is a
// torch.nn class name with its constructor arguments, plus the names of the deepconv tensors that
// fill it. Every network describes itself this way (Model.architecture(), written beside its
// forward pass); the ONNX and PyTorch exports and the PyTorch import all read this one list.
//
// Layouts: a Conv2d weight is (F, C, k, k) in both; a Linear weight is (in, out) in deepconv (the
// seed's W) and (out, in) in PyTorch; batchnorm's gamma / beta are PyTorch's weight / bias.
import { BN_EPS, BN_MOMENTUM } from '../layers/batchnorm';

export interface Conv2dSpec {
  type: 'Conv2d';
  args: { in_channels: number; out_channels: number; kernel_size: number; stride: number; padding: number };
  /** deepconv parameter names: (F, C, k, k) weight and (F) bias. */
  weight: string;
  bias: string;
}

export interface LinearSpec {
  type: 'Linear';
  args: { in_features: number; out_features: number };
  /** deepconv parameter names: (in, out) weight and (out) bias. */
  weight: string;
  bias: string;
}

export interface BatchNormSpec {
  /** BatchNorm2d after a conv (per channel), BatchNorm1d after a linear layer (per feature). */
  type: 'BatchNorm2d' | 'BatchNorm1d';
  /** PyTorch's momentum is the weight of the new batch: 1 - deepconv's. */
  args: { num_features: number; eps: number; momentum: number };
  /** deepconv parameter names (gamma, beta) and state tensor names (runningMean<k>, runningVar<k>). */
  weight: string;
  bias: string;
  runningMean: string;
  runningVar: string;
}

export type LayerSpec =
  | Conv2dSpec
  | LinearSpec
  | BatchNormSpec
  | { type: 'ReLU'; args: Record<string, never> }
  | { type: 'MaxPool2d'; args: { kernel_size: number; stride: number } }
  | { type: 'Flatten'; args: Record<string, never> }
  /** Dropout as PyTorch takes it: p is the drop probability (identity at inference). */
  | { type: 'Dropout'; args: { p: number } };

export type LayerType = LayerSpec['type'];
export const LAYER_TYPES: readonly LayerType[] = ['Conv2d', 'BatchNorm2d', 'BatchNorm1d', 'ReLU', 'MaxPool2d', 'Flatten', 'Linear', 'Dropout'];

export function conv2d(inChannels: number, outChannels: number, kernel: number, pad: number, weight: string, bias: string): Conv2dSpec {
  return { type: 'Conv2d', args: { in_channels: inChannels, out_channels: outChannels, kernel_size: kernel, stride: 1, padding: pad }, weight, bias };
}

export function linear(inFeatures: number, outFeatures: number, weight: string, bias: string): LinearSpec {
  return { type: 'Linear', args: { in_features: inFeatures, out_features: outFeatures }, weight, bias };
}

/**
 * PyTorch's momentum from deepconv's (and ONNX's), or back: one weighs the new batch, the other
 * the running value, so each is 1 minus the other (rounded to 12 digits: 0.1, not 0.09999999999999998).
 */
export function otherMomentum(m: number): number {
  return Number((1 - m).toPrecision(12));
}

/** The batchnorm layer with suffix `k` (gamma<k>, beta<k>, runningMean<k>, runningVar<k>). */
export function batchnorm(type: BatchNormSpec['type'], features: number, k: string, state: { eps?: number; momentum?: number }): BatchNormSpec {
  return {
    type,
    args: { num_features: features, eps: state.eps ?? BN_EPS, momentum: otherMomentum(state.momentum ?? BN_MOMENTUM) },
    weight: `gamma${k}`,
    bias: `beta${k}`,
    runningMean: `runningMean${k}`,
    runningVar: `runningVar${k}`,
  };
}

export const relu = (): LayerSpec => ({ type: 'ReLU', args: {} });
export const flatten = (): LayerSpec => ({ type: 'Flatten', args: {} });
/** The networks' only pool: 2x2, stride 2 (floor: an odd row or column is dropped). */
export const maxPool2 = (): LayerSpec => ({ type: 'MaxPool2d', args: { kernel_size: 2, stride: 2 } });
export const dropout = (p: number): LayerSpec => ({ type: 'Dropout', args: { p } });
