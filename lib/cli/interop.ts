// `deepconv export` (ONNX, or PyTorch's layout) and `deepconv import` (a PyTorch-layout file back
// into a deepconv model file).
import { Command, InvalidArgumentError, Option } from 'commander';
import * as path from 'path';
import { packageRoot } from '../binding';
import { DEFAULT_OPSET, ONNX_OPSETS, writeOnnx } from '../interop/onnx';
import { writeTorch } from '../interop/torch';
import { importTorch } from '../interop/torch-import';
import { shapeStr } from '../validate';
import { parseDataInfo, readModelMaybeData } from './read-model';

export const EXPORT_FORMATS = ['onnx', 'torch'] as const;
type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** m.safetensors -> m.onnx / m.torch.safetensors, beside the model. */
function defaultOut(model: string, format: ExportFormat): string {
  const base = model.replace(/\.safetensors$/i, '');
  return format === 'onnx' ? `${base}.onnx` : `${base}.torch.safetensors`;
}

interface ExportArgs {
  model: string;
  format: ExportFormat;
  out?: string;
  softmax?: boolean;
  normalize: boolean;
  opset: number;
}

function runExport(a: ExportArgs): void {
  const { model, info } = readModelMaybeData(a.model);
  const out = a.out ?? defaultOut(a.model, a.format);
  if (path.resolve(out) === path.resolve(a.model)) throw new InvalidArgumentError(`--out ${out} is the model file itself`);
  const input = `[N, ${model.inputShape.join(', ')}]`;
  if (a.format === 'torch') {
    writeTorch(model, out, { data: info as unknown as Record<string, unknown> | null });
    console.log(`wrote ${out}: the state_dict of the nn.Sequential matching this ${model.className}`);
    console.log(`  load it with: python3 ${path.join(packageRoot(), 'scripts', 'load_in_torch.py')} ${out}`);
    console.log(`  input ${input}${info ? `, normalized: (pixel / 255 - mean) / std with mean ${JSON.stringify(info.mean)}, std ${JSON.stringify(info.std)}` : ''}`);
    return;
  }
  const normalize = a.normalize && info ? { mean: info.mean, std: info.std } : null;
  writeOnnx(model, out, { normalize, softmax: a.softmax ?? false, classes: info?.classes, opset: a.opset });
  console.log(`wrote ${out}: ${model.className}, ONNX opset ${a.opset}`);
  console.log(`  input  "input" float32 ${input}: ${normalize ? 'pixel / 255 in [0, 1] (the graph normalizes it)' : 'normalized as the model was trained'}`);
  console.log(`  output "${a.softmax ? 'probabilities' : 'scores'}" float32 [N, ${model.numClasses}]${info ? `, classes ${info.classes.join(', ')}` : ''}`);
  if (a.normalize && !info) console.log('  (the model file has no "data" metadata, so the graph takes already-normalized inputs)');
}

function runImport(file: string, a: { out: string }): void {
  if (path.resolve(a.out) === path.resolve(file)) throw new InvalidArgumentError(`--out ${a.out} is the file being imported`);
  const { model, data } = importTorch(file);
  const metadata: Record<string, string> = {};
  if (data !== null) {
    parseDataInfo(data, file, model);  // checked before it is written where train's files keep it
    metadata.data = data;
  }
  model.save(a.out, { metadata });
  const count = Object.values(model.params).reduce((n, t) => n + t.size, 0);
  console.log(`wrote ${a.out}: ${model.className} ${JSON.stringify(model.options)}, ${count} parameters, input ${shapeStr(model.inputShape)}`);
  if (data === null) console.log('  no "deepconv.data" metadata: `deepconv eval` and `predict` need it (save_for_deepconv(..., data={...})); the library API does not');
}

function opsetArg(v: string): number {
  const n = Number(v);
  if (!(ONNX_OPSETS as readonly number[]).includes(n)) throw new InvalidArgumentError(`--opset must be one of ${ONNX_OPSETS.join(', ')}, got ${JSON.stringify(v)}`);
  return n;
}

export function addInteropCommands(prog: Command): void {
  prog
    .command('export')
    .description('write a trained model as ONNX (for onnxruntime) or as a PyTorch nn.Sequential state_dict')
    .requiredOption('--model <file>', 'model.safetensors written by train (or model.save)')
    .addOption(new Option('--format <f>', "'onnx', or 'torch' (safetensors with PyTorch's names and layouts)").choices([...EXPORT_FORMATS]).default('onnx'))
    .option('--out <file>', 'output file (default: beside the model, <name>.onnx or <name>.torch.safetensors)')
    .option('--softmax', 'onnx: output probabilities (a Softmax node) instead of scores')
    .option('--no-normalize', "onnx: leave the input normalization out (the graph then takes normalized inputs, as predict() does)")
    .option('--opset <n>', `onnx: opset version, one of ${ONNX_OPSETS.join(', ')}`, opsetArg, DEFAULT_OPSET)
    .action((opts: ExportArgs) => runExport(opts));

  prog
    .command('import')
    .description('turn a PyTorch-layout safetensors file (save_for_deepconv in scripts/load_in_torch.py) into a deepconv model file')
    .argument('<file>', 'the PyTorch-layout .safetensors file')
    .requiredOption('--out <file>', 'the deepconv model file to write')
    .action((file: string, opts: { out: string }) => runImport(file, opts));
}
