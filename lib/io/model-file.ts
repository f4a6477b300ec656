// Model files: a network's configuration and parameters (plus optional extra state, such as
// optimizer moments or batch-norm running statistics) in one safetensors file.
//
//   __metadata__.format          "deepconv-model"
//   __metadata__.format_version  "1"
//   __metadata__.config          the config object as JSON
//   __metadata__.data_sha256     "sha256:<hex>" of the data section (verified on load; files
//                                written before it existed load without the check)
//   <name>                       each parameter tensor, under its own name
//   extra/<name>                 each extra tensor
//
// Any other __metadata__ keys are the caller's (saveModel's `metadata` option).
import { Tensor } from '../tensor';
import { describe } from '../validate';
import { FileFormatError } from './errors';
import { saveSafetensors, loadSafetensors } from './safetensors';

export const MODEL_FORMAT = 'deepconv-model';
export const MODEL_FORMAT_VERSION = 1;
const EXTRA_PREFIX = 'extra/';
const CHECKSUM = 'data_sha256';
const RESERVED = ['format', 'format_version', 'config', CHECKSUM];

export interface ModelFile {
  config: Record<string, unknown>;
  params: Record<string, Tensor>;
  extra: Record<string, Tensor>;
  /** The caller's own metadata strings (the format keys removed). */
  metadata: Record<string, string>;
}

function checkTensorMap(name: string, v: unknown): Record<string, Tensor> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Tensor) {
    throw new TypeError(`${name} must be an object mapping names to Tensors, got ${describe(v)}`);
  }
  return v as Record<string, Tensor>;
}

/** Saves a model (config + parameters + optional extra tensors) atomically as a safetensors file. */
export function saveModel(
  path: string,
  model: { config: object; params: Record<string, Tensor>; extra?: Record<string, Tensor>; metadata?: Record<string, string> },
): void {
  if (model === null || typeof model !== 'object') throw new TypeError(`model must be an object { config, params, extra? }, got ${describe(model)}`);
  const { config } = model;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`model.config must be a plain object, got ${describe(config)}`);
  }
  let configJson: string;
  try {
    configJson = JSON.stringify(config);
  } catch (e) {
    throw new TypeError(`model.config must be JSON-serializable (${(e as Error).message})`);
  }
  const params = checkTensorMap('model.params', model.params);
  const extra = checkTensorMap('model.extra', model.extra ?? {});
  const tensors: Record<string, Tensor> = {};
  for (const k of Object.keys(params)) {
    if (k.startsWith(EXTRA_PREFIX)) throw new RangeError(`model.params name ${JSON.stringify(k)} must not start with "${EXTRA_PREFIX}" (kept for extra tensors)`);
    tensors[k] = params[k];
  }
  for (const k of Object.keys(extra)) tensors[EXTRA_PREFIX + k] = extra[k];
  const user = model.metadata ?? {};
  if (user === null || typeof user !== 'object' || Array.isArray(user)) throw new TypeError(`model.metadata must be an object of strings, got ${describe(user)}`);
  for (const k of RESERVED) {
    if (k in user) throw new RangeError(`model.metadata must not set ${JSON.stringify(k)} (saveModel writes it)`);
  }
  const metadata: Record<string, string> = {
    format: MODEL_FORMAT,
    format_version: String(MODEL_FORMAT_VERSION),
    config: configJson,
    ...user,
  };
  saveSafetensors(path, tensors, metadata, { checksumKey: CHECKSUM });
}

/** Loads a file written by saveModel. */
export function loadModelFile(path: string): ModelFile {
  const { tensors, metadata } = loadSafetensors(path, { checksumKey: CHECKSUM });
  const fail = (problem: string, cause?: unknown): FileFormatError => new FileFormatError(path, problem, cause === undefined ? undefined : { cause });
  if (metadata.format !== MODEL_FORMAT) {
    throw fail(`not a deepconv model file (__metadata__.format is ${metadata.format === undefined ? 'missing' : JSON.stringify(metadata.format)}, expected "${MODEL_FORMAT}")`);
  }
  const v = metadata.format_version;
  if (v === undefined || !/^[1-9][0-9]*$/.test(v)) throw fail(`__metadata__.format_version must be a positive integer, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
  if (Number(v) > MODEL_FORMAT_VERSION) {
    throw fail(`model format version ${v} is newer than this deepconv reads (${MODEL_FORMAT_VERSION}); upgrade deepconv`);
  }
  if (metadata.config === undefined) throw fail('__metadata__.config is missing');
  let config: unknown;
  try {
    config = JSON.parse(metadata.config);
  } catch (e) {
    throw fail(`__metadata__.config is not valid JSON (${(e as Error).message})`, e);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw fail(`__metadata__.config must be a JSON object, got ${describe(config)}`);
  const params: Record<string, Tensor> = {};
  const extra: Record<string, Tensor> = {};
  for (const k of Object.keys(tensors)) {
    if (k.startsWith(EXTRA_PREFIX)) extra[k.slice(EXTRA_PREFIX.length)] = tensors[k];
    else params[k] = tensors[k];
  }
  const rest: Record<string, string> = {};
  for (const k of Object.keys(metadata)) if (!RESERVED.includes(k)) rest[k] = metadata[k];
  return { config: config as Record<string, unknown>, params, extra, metadata: rest };
}
