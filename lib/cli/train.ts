// `deepconv train`: load data, build the network, run the Solver with a progress bar, write
// metrics.jsonl, the model, a checkpoint on Ctrl-C, and the pictures.
import { SingleBar } from 'cli-progress';
import * as fs from 'fs';
import * as path from 'path';
import { DatasetName, listImageFolder, loadDataset } from '../data';
import { DeepConvNet, FullyConnectedNet, Model, ThreeLayerConvNet } from '../models';
import { Tta } from '../models/model';
import { compact } from '../models/summary';
import { ScheduleName } from '../schedule';
import { UpdateRuleName } from '../optim';
import { EvalInfo, ProgressInfo, Solver } from '../solver';
import { Device } from '../tensor';
import { DataInfo, resolveData } from './find-data';
import { curvesFromMetrics, writeCurves, writeFilterGrid } from './plots';

export interface TrainArgs {
  dataset?: DatasetName;
  data?: string;
  model: 'deep' | 'three-layer' | 'fc';
  filters?: number[];
  maxPools?: number[];
  batchnorm: boolean;
  bnMomentum?: number;
  /** Decay of the weight average evaluated and kept (none when absent). */
  ema?: number;
  hidden?: number[];
  weightScale: string;
  reg: number;
  dropout: number;
  optimizer: UpdateRuleName;
  weightDecay?: number;
  lr?: number;
  lrSchedule: ScheduleName;
  labelSmoothing: number;
  /** Test-time augmentation of the final test accuracy (default: 'flip' when the augmentation flips, else 'none'). */
  tta?: Tta;
  warmup: number;
  lrDecay: number;
  batchSize: number;
  epochs?: number;
  timeLimit?: number;
  /** Held out for validation (default 1000; a tenth of an image folder's training images, at most 1000). */
  val?: number;
  /** Image folders: [H, W] the images are resampled to (default 32 x 32). */
  imageSize?: [number, number];
  augment: string;
  seed: number;
  out?: string;
  resume?: string;
  quiet?: boolean;
  device: Device;
  /** Seconds of training between checkpoint writes within an epoch. */
  checkpointEvery: number;
}

/**
 * metrics.jsonl of this run, never opened through a symbolic link (O_NOFOLLOW): a new run starts
 * a fresh file (whatever an earlier run left there is replaced, as its model is); a resumed run
 * appends to the one in its folder.
 */
function openMetrics(file: string, resumed: boolean): number {
  const { O_WRONLY, O_CREAT, O_APPEND, O_EXCL, O_NOFOLLOW } = fs.constants;
  try {
    if (resumed) return fs.openSync(file, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0o644);
    fs.rmSync(file, { force: true });  // a planted symlink goes, not what it points at
    return fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW, 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new Error(`${file} is a symbolic link: refusing to write metrics through it`);
    throw new Error(`${file} cannot be written (${(e as Error).message})`);
  }
}

function augmentOption(spec: string): false | { flip: boolean; pad: number } {
  const parts = spec.split(',').map((s) => s.trim());
  if (parts.length === 1 && parts[0] === 'none') return false;
  for (const p of parts) if (p !== 'flip' && p !== 'crop') throw new Error(`--augment must be 'flip', 'crop', 'flip,crop' or 'none', got ${JSON.stringify(spec)}`);
  return { flip: parts.includes('flip'), pad: parts.includes('crop') ? 4 : 0 };
}

function weightScale(v: string): number | 'kaiming' {
  if (v === 'kaiming') return v;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--weight-scale must be 'kaiming' or a positive number, got ${JSON.stringify(v)}`);
  return n;
}

function buildModel(a: TrainArgs, shape: [number, number, number], numClasses: number, dataset: DatasetName): Model {
  const common = { numClasses, reg: a.reg, dtype: 'float32' as const, seed: a.seed };
  if (a.model === 'three-layer') {
    const ws = weightScale(a.weightScale);
    return new ThreeLayerConvNet({ ...common, inputDims: shape, weightScale: ws === 'kaiming' ? 1e-3 : ws });
  }
  if (a.model === 'fc') {
    const ws = weightScale(a.weightScale);
    return new FullyConnectedNet({ ...common, hiddenDims: a.hidden ?? [512, 256], inputDim: shape[0] * shape[1] * shape[2], dropout: a.dropout, batchnorm: a.batchnorm, bnMomentum: a.bnMomentum, weightScale: ws === 'kaiming' ? 1e-2 : ws });
  }
  const filters = a.filters ?? [...(dataset === 'cifar10' ? RECIPE_FILTERS.cifar10 : RECIPE_FILTERS.other)];
  return new DeepConvNet({ ...common, inputDims: shape, numFilters: filters, maxPools: a.maxPools ?? filters.map((_, i) => i), batchnorm: a.batchnorm, bnMomentum: a.bnMomentum, weightScale: weightScale(a.weightScale) });
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/**
 * The recipe's learning rate (Adam): the one place; main.ts's --lr help reads it. Chosen by
 * measurement (bench/NOTES.md, issue 12): behind batchnorm only the relative size of a step
 * matters, and Kaiming's weights are about 2.4x PyTorch's default init, so PyTorch's 2e-3 is a
 * smaller step here. 8e-3 gained 0.8 points on Fashion-MNIST over 4e-3 and, once CIFAR-10's net
 * had four layers, 0.8 points over 5e-3 at 120 s on each of 3 seeds (1.2e-2: no better).
 */
export const RECIPE_LEARNING_RATE = 8e-3;

/**
 * The recipe's DeepConvNet filters by data set (a 2x2 max pool after every layer): the one
 * place; main.ts's --filters help reads it. CIFAR-10 takes a fourth layer since the kernels got
 * faster: 120 s covers ~3 epochs of it, and seeds 0-2 scored 79.8 / 80.1 / 80.2% at 120 s and
 * 76.1 / 76.7 / 76.1% at 60 s, against 78.3-78.7% and 74.7-75.2% for 32,64,128 (bench/NOTES.md,
 * issue 12).
 */
export const RECIPE_FILTERS = { cifar10: [32, 64, 128, 256], other: [16, 32, 64] } as const;

export async function runTraining(a: TrainArgs): Promise<void> {
  const where = resolveData(a.dataset, a.data);
  const augment = augmentOption(a.augment);
  const isCifar = where.dataset === 'cifar10';
  const timeLimit = a.timeLimit === undefined ? (isCifar ? 120 : 60) : a.timeLimit > 0 ? a.timeLimit : null;
  const numEpochs = a.epochs ?? (timeLimit !== null ? 1000 : 10);
  const lr = a.lr ?? RECIPE_LEARNING_RATE;
  // Flip TTA where training flipped: the model has learned mirror images, and the mirrored scores
  // add about a point of test accuracy (bench/NOTES.md, issue 12) for a second forward pass.
  const tta: Tta = a.tta ?? (augment && augment.flip ? 'flip' : 'none');

  console.log(`loading ${where.dataset} from ${where.path}`);
  let t = performance.now();
  const numVal = a.val ?? (where.dataset === 'folder' ? Math.min(1000, Math.floor(listImageFolder(where.path).train.length / 10)) : 1000);
  const ds = await loadDataset(where.dataset, where.path, { numVal, seed: a.seed, imageSize: a.imageSize });
  console.log(`  ${ds.xTrain.shape[0]} train / ${ds.xVal.shape[0]} val / ${ds.xTest.shape[0]} test images of ${ds.shape.join('x')} in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const model = buildModel(a, ds.shape, ds.classes.length, where.dataset).toDevice(a.device);
  const out = a.out ?? path.join('runs', `${where.dataset}-${stamp()}`);
  fs.mkdirSync(out, { recursive: true });
  const metricsFile = path.join(out, 'metrics.jsonl');
  const metricsFd = openMetrics(metricsFile, a.resume !== undefined);
  const metric = (rec: object) => fs.writeSync(metricsFd, JSON.stringify({ ...rec, time: new Date().toISOString() }) + '\n');
  const info: DataInfo = { dataset: where.dataset, mean: ds.mean, std: ds.std, classes: ds.classes, shape: ds.shape };
  const recipe = {
    model: model.config,
    optimizer: a.optimizer, learningRate: lr, lrSchedule: a.lrSchedule, warmupFraction: a.warmup, lrDecay: a.lrDecay, weightDecay: a.weightDecay, labelSmoothing: a.labelSmoothing, tta, ema: a.ema ?? null,
    batchSize: a.batchSize, numEpochs, timeLimit, augment, seed: a.seed, val: numVal,
  };
  metric({ type: 'config', dataset: where.dataset, data: where.path, ...recipe });
  const figures = model.summary();
  console.log(`model: ${model.className} ${JSON.stringify(model.options)}: ${figures.totalParams.toLocaleString('en-US')} parameters, ${compact(figures.flopsPerSample)} FLOPs per image forward (deepconv summary --model shows each layer)`);
  console.log(`training on ${a.device}: ${a.optimizer} lr ${lr} (${a.lrSchedule}), batch ${a.batchSize}, ${timeLimit !== null ? `time limit ${timeLimit} s` : `${numEpochs} epochs`}, augment ${a.augment}; output in ${out}`);

  // Progress: a bar on a terminal, a line every 10 s otherwise.
  const tty = !a.quiet && process.stderr.isTTY;
  const bar = tty ? new SingleBar({ format: 'epoch {epoch} |{bar}| {percentage}% | step {step} | loss {loss} | {ips} img/s | ETA {eta_t}', hideCursor: true, barsize: 24 }) : null;
  let lastLine = 0;
  let evals = 0;
  let stepSeconds = 0;  // training steps alone, without evaluations and checkpoints (this process)
  let solver: Solver | null = null;
  const onProgress = (p: ProgressInfo) => {
    stepSeconds += p.stepSeconds;
    const fraction = timeLimit !== null ? Math.min(1, p.elapsed / timeLimit) : p.step / p.iterations;
    const eta = timeLimit !== null ? timeLimit - p.elapsed : (p.elapsed / p.step) * (p.iterations - p.step);
    const fields = { epoch: p.epoch + 1, step: p.step, loss: p.loss.toFixed(4), ips: Math.round(p.imagesPerSecond), eta_t: fmtTime(eta) };
    if (bar) bar.update(Math.round(fraction * 1000), fields);
    else if (!a.quiet && p.elapsed - lastLine >= 10) {
      lastLine = p.elapsed;
      console.log(`  step ${p.step} epoch ${p.epoch + 1} loss ${fields.loss} ${fields.ips} img/s ${Math.round(fraction * 100)}% ETA ${fields.eta_t}`);
    }
    if (p.step % 10 === 0 || p.step === 1) metric({ type: 'step', step: p.step, epoch: p.epoch, loss: p.loss, learningRate: p.learningRate, imagesPerSecond: p.imagesPerSecond, elapsed: p.elapsed });
  };
  // The Solver evaluates after the first step, after each epoch and where a cut-short run stops.
  const onEval = (e: EvalInfo) => {
    const epoch = evals === 0 ? 0 : evals;
    evals++;
    metric({ type: 'eval', epoch, step: e.step, trainAcc: e.trainAcc, valAcc: e.valAcc, elapsed: e.elapsed });
    if (epoch === 0 || !solver) return;
    // The last evaluation of a run cut short by its time limit comes mid-epoch: say how far.
    const done = e.step / solver.iterationsPerEpoch;
    const label = Math.abs(done - Math.round(done)) < 0.01 ? `epoch ${Math.round(done)}` : `epoch ${done.toFixed(1)}`;
    const line = `${label}: train acc ${(e.trainAcc * 100).toFixed(2)}%, val acc ${(e.valAcc * 100).toFixed(2)}% (${e.elapsed.toFixed(0)} s)`;
    if (bar) {
      process.stderr.write('\r\x1b[2K');
      console.log(line);
    } else if (!a.quiet) console.log(line);
  };

  solver = new Solver(model, { xTrain: ds.xTrain, yTrain: ds.yTrain, xVal: ds.xVal, yVal: ds.yVal }, {
    updateRule: a.optimizer,
    optimConfig: a.weightDecay === undefined ? { learningRate: lr } : { learningRate: lr, weightDecay: a.weightDecay },
    lrDecay: a.lrDecay,
    lrSchedule: a.lrSchedule,
    labelSmoothing: a.labelSmoothing,
    ema: a.ema ?? null,
    warmupFraction: a.warmup,
    batchSize: a.batchSize,
    numEpochs,
    numTrainSamples: 1000,
    seed: a.seed,
    augment,
    sampling: 'epoch',
    verbose: false,
    onStep: onProgress,
    onEval,
    resume: a.resume ?? null,
    checkpointFile: path.join(out, 'checkpoint.safetensors'),
    checkpointEvery: a.checkpointEvery,
  });
  evals = solver.valAccHistory.length;

  // Ctrl-C: finish the current step, save a checkpoint, exit cleanly.
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);  // a second Ctrl-C does not wait
    interrupted = true;
    solver?.stop();
  };
  process.on('SIGINT', onSigint);
  bar?.start(1000, 0, { epoch: 1, step: 0, loss: '-', ips: 0, eta_t: '--' });
  t = performance.now();
  let summary;
  try {
    summary = await solver.train({ timeLimit });
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
  const checkpoint = path.join(out, 'checkpoint.safetensors');
  if (interrupted) {
    solver.saveCheckpoint(checkpoint);
    console.log(`interrupted after ${summary.iterations} steps: checkpoint saved to ${checkpoint}`);
    console.log(`resume with: npx deepconv train --resume ${checkpoint} ${process.argv.slice(3).filter((x) => x !== '--resume').join(' ')}`);
  }

  const testAcc = ds.xTest.shape[0] > 0 ? await solver.checkAccuracy(ds.xTest, ds.yTest, { batchSize: 500, tta }) : NaN;
  const modelFile = path.join(out, 'model.safetensors');
  model.save(modelFile, { metadata: { data: JSON.stringify(info), recipe: JSON.stringify(recipe) } });
  metric({ type: 'test', testAcc, bestValAcc: summary.bestValAcc, iterations: summary.iterations, epochs: summary.epoch, trainSeconds: solver.elapsed, stepSeconds, interrupted });
  fs.closeSync(metricsFd);

  const records = fs.readFileSync(metricsFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  writeCurves(path.join(out, 'curves.svg'), curvesFromMetrics(records, solver.lossHistory, solver.iterationsPerEpoch));
  const firstW = model.params.W0 ?? model.params.W1;
  if (firstW && firstW.ndim === 4) writeFilterGrid(path.join(out, 'filters.png'), firstW.toDevice('cpu'));

  console.log(
    `done: ${summary.iterations} steps, ${summary.epoch} epochs in ${solver.elapsed.toFixed(1)} s of training; ` +
      `best val acc ${(summary.bestValAcc * 100).toFixed(2)}%, test acc ${(testAcc * 100).toFixed(2)}%`,
  );
  console.log(`wrote ${modelFile}, ${metricsFile}, ${path.join(out, 'curves.svg')}${firstW?.ndim === 4 ? `, ${path.join(out, 'filters.png')}` : ''}`);
  if (interrupted) process.exitCode = 130;
}
