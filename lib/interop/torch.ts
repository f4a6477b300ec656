// PyTorch interchange: a safetensors file holding the state_dict of the nn.Sequential that matches
// a deepconv network (names and layouts in names.ts), with the Sequential itself described in the
// metadata, so scripts/load_in_torch.py rebuilds the module and loads it with strict=True; and the
// way back (torch-import.ts) for such a file written by PyTorch (load_in_torch.py's save_for_deepconv).
//
//   __metadata__.format                  "pt" (the convention of PyTorch-side safetensors tools)
//   __metadata__["deepconv.layout"]      "torch.nn.Sequential"
//   __metadata__["deepconv.sequential"]  [{ "type": "Conv2d", "args": { "in_channels": 3, ... } }, ...]
//                                        torch.nn class names and their constructor arguments
//   __metadata__["deepconv.input_shape"] [C, H, W] or [D]: one sample, without the batch axis
//   __metadata__["deepconv.config"]      the deepconv { class, options } (deepconv's exports only)
//   __metadata__["deepconv.data"]        what `deepconv train` stores about its data (optional)
import type { Model } from '../models/model';
import type { LayerSpec } from '../models/architecture';
import { RawTensor, saveSafetensors } from '../io/safetensors';
import { checkOptions, invalidType } from '../validate';
import { torchStateTensors } from './names';

export const TORCH_LAYOUT = 'torch.nn.Sequential';
export const TORCH_KEYS = {
  layout: 'deepconv.layout',
  sequential: 'deepconv.sequential',
  inputShape: 'deepconv.input_shape',
  config: 'deepconv.config',
  data: 'deepconv.data',
} as const;

export interface TorchExportOptions {
  /** Stored as deepconv.data (JSON): e.g. the normalization and class names `deepconv train` records. */
  data?: Record<string, unknown> | null;
}

/** A layer as the file's metadata holds it: the torch.nn class and its arguments. */
export interface TorchLayer {
  type: string;
  args: Record<string, unknown>;
}

/** The nn.Sequential description of an architecture (the deepconv tensor names left out). */
export function torchLayers(layers: readonly LayerSpec[]): TorchLayer[] {
  return layers.map((l) => ({ type: l.type, args: { ...l.args } }));
}

/** Writes `model` as PyTorch's state_dict of its nn.Sequential, atomically (see the file comment). */
export function writeTorch(model: Model, path: string, opts?: TorchExportOptions): void {
  if (typeof path !== 'string' || path === '') throw invalidType('path', 'a non-empty string', path);
  const o = checkOptions('opts', opts);
  if (o.data !== undefined && o.data !== null && (typeof o.data !== 'object' || Array.isArray(o.data))) throw invalidType('opts.data', 'an object or null', o.data);
  const layers = model.architecture();
  const metadata: Record<string, string> = {
    format: 'pt',
    [TORCH_KEYS.layout]: TORCH_LAYOUT,
    [TORCH_KEYS.sequential]: JSON.stringify(torchLayers(layers)),
    [TORCH_KEYS.inputShape]: JSON.stringify(model.inputShape),
    [TORCH_KEYS.config]: JSON.stringify(model.config),
  };
  if (o.data) metadata[TORCH_KEYS.data] = JSON.stringify(o.data);
  // PyTorch's batchnorm also keeps a step counter (int64, unused at inference): written as 0.
  const raw: Record<string, RawTensor> = {};
  layers.forEach((l, i) => {
    if (l.type === 'BatchNorm2d' || l.type === 'BatchNorm1d') raw[`${i}.num_batches_tracked`] = { dtype: 'I64', shape: [], bytes: new Uint8Array(8) };
  });
  saveSafetensors(path, torchStateTensors(model), metadata, { raw });
}

