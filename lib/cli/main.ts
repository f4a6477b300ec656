// `npx deepconv`: train | eval | predict | info.
import { Command, InvalidArgumentError, Option } from 'commander';
import * as os from 'os';
import { packageVersion } from '../binding';
import { addonPath, buildInfo, cudaDeviceCount, getNumThreads, isaInfo, setNumThreads } from '../index';
import { DatasetName } from '../data';
import { TTAS } from '../models/model';
import { Device, requireCuda } from '../tensor';
import { resolveData } from './find-data';
import { readModel, readModelMaybeData } from './read-model';
import { addInteropCommands } from './interop';
import { predictImages, predictIndices } from './predict';
import { EvalArgs, runEval } from './evaluate';
import { RECIPE_FILTERS, RECIPE_LEARNING_RATE, runTraining, TrainArgs } from './train';
import { SCHEDULES } from '../schedule';
import { RULE_DEFAULTS, UPDATE_RULES } from '../optim';
import { BN_MOMENTUM } from '../layers/batchnorm';

const DATASETS: DatasetName[] = ['cifar10', 'fashion-mnist', 'mnist', 'folder'];

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

function sizeArg(name: string) {
  return (v: string): [number, number] => {
    const m = /^(\d+)(?:x(\d+))?$/.exec(v.trim());
    const hw = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [];
    if (!m || hw.some((n) => n < 1 || n > 1024)) throw new InvalidArgumentError(`${name} must be HxW or a side, each from 1 to 1024, got ${JSON.stringify(v)}`);
    return hw as [number, number];
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
    .option('--data <path>', 'data location: cifar-10-binary.tar.gz or its folder; the IDX folder for (fashion-)mnist; or a folder of your own images with a subfolder per class (PNG or JPEG)')
    .addOption(new Option('--model <name>', 'network').choices(['deep', 'three-layer', 'fc']).default('deep'))
    .option('--filters <list>', `deep: filters per conv layer (default ${RECIPE_FILTERS.cifar10.join(',')} for CIFAR-10, ${RECIPE_FILTERS.other.join(',')} otherwise)`, listArg('--filters'))
    .option('--max-pools <list>', 'deep: conv layers followed by a 2x2 max pool (default: all)', listArg('--max-pools'))
    .option('--no-batchnorm', 'deep / fc: no batch normalization')
    .option('--bn-momentum <m>', `batchnorm running statistics: running = m * running + (1 - m) * batch (default ${BN_MOMENTUM})`, numArg('--bn-momentum', (n) => n >= 0 && n < 1, 'in [0, 1)'))
    .option('--hidden <list>', 'fc: hidden layer sizes (default 512,256)', listArg('--hidden'))
    .option('--weight-scale <v>', "'kaiming' or a number (the init's standard deviation)", 'kaiming')
    .option('--reg <v>', 'L2 regularization strength', numArg('--reg', (n) => n >= 0, 'a number >= 0'), 0)
    .option('--dropout <p>', 'fc: drop probability', numArg('--dropout', (n) => n >= 0 && n < 1, 'in [0, 1)'), 0)
    .addOption(new Option('--optimizer <rule>', 'update rule').choices([...UPDATE_RULES]).default('adam'))
    .option('--weight-decay <v>', `adamw: decoupled weight decay of the weights (default ${RULE_DEFAULTS.adamw.weightDecay})`, numArg('--weight-decay', (n) => n >= 0 && n < 1, 'in [0, 1)'))
    .option('--lr <v>', `learning rate (default ${RECIPE_LEARNING_RATE})`, numArg('--lr', (n) => n > 0, 'a positive number'))
    .addOption(
      new Option('--lr-schedule <s>', "'linear-warmup' (warm-up, then linear decay to 0 at the end of the budget), 'cosine' (the warm-up, then a half cosine), 'one-cycle' (rate/25 up to the rate, then down) or 'step' (--lr-decay per epoch)")
        .choices([...SCHEDULES])
        .default('linear-warmup'),
    )
    .addOption(new Option('--tta <kind>', "test-time augmentation of the final test accuracy: 'flip' averages each image's and its mirror's scores (default: flip when --augment flips, else none)").choices([...TTAS]))
    .option('--ema <decay>', 'evaluate and keep an exponential moving average of the weights with this decay (e.g. 0.99; default: none)', numArg('--ema', (n) => n > 0 && n < 1, 'in (0, 1)'))
    .option('--label-smoothing <e>', 'label smoothing of the training loss, in [0, 1)', numArg('--label-smoothing', (n) => n >= 0 && n < 1, 'in [0, 1)'), 0)
    .option('--warmup <fraction>', 'warm-up fraction of the budget', numArg('--warmup', (n) => n >= 0 && n < 1, 'in [0, 1)'), 0.03)
    .option('--lr-decay <v>', 'step schedule: learning-rate factor per epoch', numArg('--lr-decay', (n) => n > 0, 'a positive number'), 1)
    .option('--batch-size <n>', 'minibatch size', intArg('--batch-size', 1), 128)
    .option('--epochs <n>', 'epochs (default: as many as the time limit allows, else 10)', intArg('--epochs', 1))
    .option('--time-limit <seconds>', 'training time budget; sets the learning-rate schedule (default 120 for CIFAR-10, 60 otherwise; 0: none)', numArg('--time-limit', (n) => n >= 0, 'a number >= 0'))
    .option('--val <n>', 'training samples held out for validation (default 1000; a tenth of an image folder\'s, at most 1000)', intArg('--val', 0))
    .option('--image-size <HxW>', 'image folders: the size every image is resampled to (default 32x32; 28 means 28x28)', sizeArg('--image-size'))
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
    .addOption(new Option('--tta <kind>', "test-time augmentation: 'flip' averages each image's and its mirror image's scores (default: what train used for the model's test accuracy, else none)").choices([...TTAS]))
    .option('--threads <n>', 'CPU threads', intArg('--threads', 1))
    .option('--json', 'print one JSON object: accuracy, per-class accuracy, confusion matrix, images/s')
    .option('--confusion <file.svg>', 'write the confusion matrix as a picture')
    .addOption(deviceOption())
    .action(async (opts: EvalArgs & { threads?: number }) => {
      threadsHook(opts);
      await runEval(opts);
    });

  prog
    .command('predict')
    .description('classify PNG or JPEG images, or test-set images by index')
    .requiredOption('--model <file>', 'model.safetensors written by train')
    .argument('[images...]', 'PNG or JPEG files (resampled to the model input, as training resamples image folders)')
    .option('--indices <list>', 'test-set indices of the data set the model was trained on', listArg('--indices'))
    .option('--data <path>', 'data location for --indices')
    .option('--top <k>', 'classes to show per image', intArg('--top', 1), 3)
    .option('--json', 'print one JSON line per image: its top classes with probabilities (and the label for --indices)')
    .addOption(deviceOption())
    .action(async (images: string[], opts: { model: string; indices?: number[]; data?: string; top: number; json?: boolean; device: Device }) => {
      threadsHook(opts);
      const { model, info } = readModel(opts.model, opts.device);
      if (opts.indices) {
        const where = resolveData(info.dataset, opts.data);
        await predictIndices(model, info, where.dataset, where.path, opts.indices, opts.top, opts.json === true);
      } else if (images.length > 0) {
        await predictImages(model, info, images, opts.top, opts.json === true);
      } else {
        throw new InvalidArgumentError('give PNG or JPEG files, or --indices');
      }
    });

  prog
    .command('summary')
    .description("a model's layers: output shapes, parameter counts and forward FLOPs per image")
    .requiredOption('--model <file>', 'model.safetensors written by train (or import)')
    .option('--json', 'print the summary as one JSON object')
    .action((opts: { model: string; json?: boolean }) => {
      const { text, ...figures } = readModelMaybeData(opts.model).model.summary();
      console.log(opts.json ? JSON.stringify(figures) : text);
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
      const w = isa.winograd;
      console.log(`convolution:  im2col + GEMM; float32 3x3 stride-1 pad-1 layers with >= ${w.minChannels} channels in and out, >= ${w.minTiles} 2x2 tiles a map and >= ${w.minColumns} a batch: Winograd F(2x2,3x3) (forward, dx, dw)`);
      console.log(`threads:      ${getNumThreads()} (DEEPCONV_NUM_THREADS or --threads to change)`);
    });

  return prog;
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
