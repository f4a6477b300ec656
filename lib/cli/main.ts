// `npx deepconv`: train | eval | predict | info.
import { Command, InvalidArgumentError, Option } from 'commander';
import * as os from 'os';
import { packageVersion } from '../binding';
import { addonPath, buildInfo, cudaDeviceCount, getNumThreads, isaInfo, setNumThreads } from '../index';
import { DatasetName, loadDataset } from '../data';
import { Tta, TTAS } from '../models/model';
import { Device, requireCuda, Tensor } from '../tensor';
import { resolveData } from './find-data';
import { readModel } from './read-model';
import { addInteropCommands } from './interop';
import { predictImages, predictIndices } from './predict';
import { RECIPE_LEARNING_RATE, runTraining, TrainArgs } from './train';
import { SCHEDULES } from '../schedule';
import { RULE_DEFAULTS, UPDATE_RULES } from '../optim';

const DATASETS: DatasetName[] = ['cifar10', 'fashion-mnist', 'mnist'];

function intArg(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
}

function numArg(name: string, ok: (n: number) => boolean, expected: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || !ok(n)) throw new InvalidArgumentError(`${name} must be ${expected}, got ${JSON.stringify(v)}`);
    return n;
  };
}

function listArg(name: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const nums = parts.map(Number);
    if (nums.some((n) => !Number.isInteger(n) || n < 0)) throw new InvalidArgumentError(`${name} must be a comma-separated list of integers, got ${JSON.stringify(v)}`);
    return nums;
  };
}

function deviceOption(): Option {
  return new Option('--device <name>', "where the network runs: 'cpu', or 'cuda' (a build with `npm run build:cuda`)").choices(['cpu', 'cuda']).default('cpu');
}

function threadsHook(opts: { threads?: number; device?: Device }): void {
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  if (opts.device === 'cuda') requireCuda('--device cuda');  // before minutes of data loading
}

export function program(): Command {
  const prog = new Command('deepconv')
    .description('Train and run convolutional networks on native CPU (or CUDA) kernels')
    .version(packageVersion())
    .showHelpAfterError();

  prog
    .command('train')
    .description('train a network on CIFAR-10, Fashion-MNIST or MNIST (defaults: the recipe in the README)')
    .addOption(new Option('--dataset <name>', 'data set').choices(DATASETS))
    .option('--data <path>', 'data location: cifar-10-binary.tar.gz or its folder; the IDX folder for (fashion-)mnist')
    .addOption(new Option('--model <name>', 'network').choices(['deep', 'three-layer', 'fc']).default('deep'))
    .option('--filters <list>', 'deep: filters per conv layer (default 32,64,128 for CIFAR-10, 16,32,64 otherwise)', listArg('--filters'))
    .option('--max-pools <list>', 'deep: conv layers followed by a 2x2 max pool (default: all)', listArg('--max-pools'))
    .option('--no-batchnorm', 'deep / fc: no batch normalization')
    .option('--hidden <list>', 'fc: hidden layer sizes (default 512,256)', listArg('--hidden'))
    .option('--weight-scale <v>', "'kaiming' or a number (the init's standard deviation)", 'kaiming')
    .option('--reg <v>', 'L2 regularization strength', numArg('--reg', (n) => n >= 0, 'a number >= 0'), 0)
    .option('--dropout <p>', 'fc: drop probability', numArg('--dropout', (n) => n >= 0 && n < 1, 'in [0, 1)'), 0)
    .addOption(new Option('--optimizer <rule>', 'update rule').choices([...UPDATE_RULES]).default('adam'))
    .option('--weight-decay <v>', `adamw: decoupled weight decay of the weights (default ${RULE_DEFAULTS.adamw.weightDecay})`, numArg('--weight-decay', (n) => n >= 0 && n < 1, 'in [0, 1)'))
    .option('--lr <v>', `learning rate (default ${RECIPE_LEARNING_RATE.cifar10} for CIFAR-10, ${RECIPE_LEARNING_RATE.other} otherwise)`, numArg('--lr', (n) => n > 0, 'a positive number'))
    .addOption(
      new Option('--lr-schedule <s>', "'linear-warmup' (warm-up, then linear decay to 0 at the end of the budget), 'cosine' (the warm-up, then a half cosine), 'one-cycle' (rate/25 up to the rate, then down) or 'step' (--lr-decay per epoch)")
        .choices([...SCHEDULES])
        .default('linear-warmup'),
    )
    .addOption(new Option('--tta <kind>', "test-time augmentation of the final test accuracy: 'flip' averages each image's and its mirror's scores").choices([...TTAS]).default(TTAS[0]))
    .option('--label-smoothing <e>', 'label smoothing of the training loss, in [0, 1)', numArg('--label-smoothing', (n) => n >= 0 && n < 1, 'in [0, 1)'), 0)
    .option('--warmup <fraction>', 'warm-up fraction of the budget', numArg('--warmup', (n) => n >= 0 && n < 1, 'in [0, 1)'), 0.03)
    .option('--lr-decay <v>', 'step schedule: learning-rate factor per epoch', numArg('--lr-decay', (n) => n > 0, 'a positive number'), 1)
    .option('--batch-size <n>', 'minibatch size', intArg('--batch-size', 1), 128)
    .option('--epochs <n>', 'epochs (default: as many as the time limit allows, else 10)', intArg('--epochs', 1))
    .option('--time-limit <seconds>', 'training time budget; sets the learning-rate schedule (default 120 for CIFAR-10, 60 otherwise; 0: none)', numArg('--time-limit', (n) => n >= 0, 'a number >= 0'))
    .option('--val <n>', 'training samples held out for validation', intArg('--val', 0), 1000)
    .option('--augment <list>', "'flip', 'crop', 'flip,crop' or 'none'", 'flip')
    .option('--seed <n>', 'seed of initialization, shuffling and augmentation', intArg('--seed', 0), 0)
    .option('--threads <n>', 'CPU threads (default: every core)', intArg('--threads', 1))
    .option('--out <dir>', 'output folder (default runs/<dataset>-<time>)')
    .option('--resume <checkpoint>', 'continue from a checkpoint.safetensors written by an interrupted (or killed) run')
    .option('--checkpoint-every <seconds>', 'seconds of training between checkpoint writes within an epoch (also written at each epoch end)', numArg('--checkpoint-every', (n) => n >= 0, 'a number >= 0'), 60)
    .option('--quiet', 'no progress bar')
    .addOption(deviceOption())
    .action(async (opts: TrainArgs & { threads?: number }) => {
      threadsHook(opts);
      await runTraining(opts);
    });

  prog
    .command('eval')
    .description('test accuracy of a trained model')
    .requiredOption('--model <file>', 'model.safetensors written by train')
    .addOption(new Option('--dataset <name>', 'data set (default: the one the model was trained on)').choices(DATASETS))
    .option('--data <path>', 'data location (default: found as train does)')
    .option('--batch-size <n>', 'images per forward pass', intArg('--batch-size', 1), 500)
    .addOption(new Option('--tta <kind>', "test-time augmentation: 'flip' averages each image's and its mirror image's scores").choices([...TTAS]).default(TTAS[0]))
    .option('--threads <n>', 'CPU threads', intArg('--threads', 1))
    .addOption(deviceOption())
    .action(async (opts: { model: string; dataset?: DatasetName; data?: string; batchSize: number; tta: Tta; threads?: number; device: Device }) => {
      threadsHook(opts);
      const { model, info } = readModel(opts.model, opts.device);
      const where = resolveData(opts.dataset ?? info.dataset, opts.data);
      const ds = await loadDataset(where.dataset, where.path, { parts: ['test'], mean: info.mean, std: info.std, dtype: model.dtype });
      const t0 = performance.now();
      const scores = await model.predict(ds.xTest, { batchSize: opts.batchSize, tta: opts.tta });
      const seconds = (performance.now() - t0) / 1000;
      const { accuracy, perClass } = accuracyOf(scores, ds.yTest, ds.classes.length);
      console.log(`${where.dataset} test accuracy: ${(accuracy * 100).toFixed(2)}%${opts.tta === 'flip' ? ' (flip TTA)' : ''} (${ds.yTest.length} images, ${(ds.yTest.length / seconds).toFixed(0)} images/s)`);
      ds.classes.forEach((c, i) => console.log(`  ${c.padEnd(12)} ${(perClass[i] * 100).toFixed(1)}%`));
    });

  prog
    .command('predict')
    .description('classify PNG images, or test-set images by index')
    .requiredOption('--model <file>', 'model.safetensors written by train')
    .argument('[images...]', 'PNG files (resized to the model input by nearest neighbour)')
    .option('--indices <list>', 'test-set indices of the data set the model was trained on', listArg('--indices'))
    .option('--data <path>', 'data location for --indices')
    .option('--top <k>', 'classes to show per image', intArg('--top', 1), 3)
    .addOption(deviceOption())
    .action(async (images: string[], opts: { model: string; indices?: number[]; data?: string; top: number; device: Device }) => {
      threadsHook(opts);
      const { model, info } = readModel(opts.model, opts.device);
      if (opts.indices) {
        const where = resolveData(info.dataset, opts.data);
        await predictIndices(model, info, where.dataset, where.path, opts.indices, opts.top);
      } else if (images.length > 0) {
        await predictImages(model, info, images, opts.top);
      } else {
        throw new InvalidArgumentError('give PNG files or --indices');
      }
    });

  addInteropCommands(prog);

  prog
    .command('info')
    .description('build, backends, CPU features and threads')
    .action(() => {
      const b = buildInfo();
      const cpus = os.cpus();
      console.log(`deepconv ${prog.version()} (Node.js ${process.version}, N-API ${b.napiVersion})`);
      console.log(`build:        ${b.compiler}, OpenMP ${b.openmp ?? 'off'}`);
      const prebuilt = /[\\/]prebuilds[\\/]/.test(addonPath()) ? 'prebuilt' : 'built from source';
      console.log(`addon:        ${addonPath()} (${prebuilt})`);
      const cuda = !b.cuda
        ? ' (cuda: not built; `npm run build:cuda`, see README)'
        : `, cuda${b.cudaEmulator ? ' (host emulator: for tests only)' : ''}: ${cudaDeviceCount()} device(s)`;
      console.log(`backends:     cpu${cuda}`);
      console.log(`cpu:          ${cpus[0]?.model ?? 'unknown'}, ${b.hardwareThreads} hardware threads`);
      console.log(`cpu features: ${b.cpuFeatures.join(', ') || `baseline ${process.arch}`}`);
      const isa = isaInfo();
      const forced = isa.active !== isa.best ? ` (forced by DEEPCONV_ISA or setIsa; best: ${isa.best})` : '';
      console.log(`isa path:     ${isa.active}${forced}; gemm tiles ${isa.gemmF32} (float32), ${isa.gemmF64} (float64); available: ${isa.available.join(', ')}`);
      console.log(`threads:      ${getNumThreads()} (DEEPCONV_NUM_THREADS or --threads to change)`);
    });

  return prog;
}

export function accuracyOf(scores: Tensor, y: Int32Array, numClasses: number): { accuracy: number; perClass: number[] } {
  const [N, C] = scores.shape;
  let right = 0;
  const hit = new Array(numClasses).fill(0);
  const count = new Array(numClasses).fill(0);
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let j = 1; j < C; j++) if (scores.data[i * C + j] > scores.data[i * C + best]) best = j;
    count[y[i]]++;
    if (best === y[i]) {
      right++;
      hit[y[i]]++;
    }
  }
  return { accuracy: N ? right / N : 0, perClass: hit.map((h, i) => (count[i] ? h / count[i] : 0)) };
}

export { readModel };

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;  // 130 after Ctrl-C
  } catch (e) {
    const err = e as Error & { exitCode?: number };
    console.error(`deepconv: ${err.message}`);
    return err.exitCode ?? 1;
  }
}
