// model.summary() and `deepconv summary`: each layer's output shape, parameter count and forward
// FLOPs per image, read from the network's architecture() (the list the exports use), so the
// summary describes exactly what runs and what an exported file holds.
import type { LayerSpec } from './architecture';

export interface LayerSummary {
  /** Position in the nn.Sequential (what the PyTorch export names the layer by). */
  index: number;
  type: LayerSpec['type'];
  /** The torch.nn constructor arguments. */
  args: Record<string, number>;
  /** Output shape of one sample: [C, H, W] or [D]. */
  outputShape: number[];
  /** Trained values (weights, biases, batchnorm gamma and beta). */
  params: number;
  /** Batchnorm running statistics (saved with the model, not trained). */
  state: number;
  /**
   * Forward floating-point operations for one sample at inference: 2 per multiply-add of
   * Conv2d / Linear plus 1 per bias add; BatchNorm 2 per value (scale and shift with the running
   * statistics folded); ReLU 1 per value; a 2x2 max pool 3 comparisons per output; 0 otherwise.
   */
  flops: number;
}

export interface ModelSummary {
  className: string;
  inputShape: number[];
  layers: LayerSummary[];
  totalParams: number;
  totalState: number;
  /** Sum of the layers' flops: forward, one sample, inference. */
  flopsPerSample: number;
  /** Bytes of the parameters and state at the model's dtype. */
  bytes: number;
  dtype: string;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** One layer's output shape, params, state and flops given its input shape. */
function layerFigures(l: LayerSpec, input: number[]): Omit<LayerSummary, 'index' | 'type' | 'args'> {
  const n = prod(input);
  switch (l.type) {
    case 'Conv2d': {
      const { in_channels: C, out_channels: F, kernel_size: k, stride: s, padding: p } = l.args;
      const [, H, W] = input;
      const Ho = Math.floor((H + 2 * p - k) / s) + 1;
      const Wo = Math.floor((W + 2 * p - k) / s) + 1;
      const out = F * Ho * Wo;
      return { outputShape: [F, Ho, Wo], params: F * C * k * k + F, state: 0, flops: out * (2 * C * k * k + 1) };
    }
    case 'Linear': {
      const { in_features: D, out_features: M } = l.args;
      return { outputShape: [M], params: D * M + M, state: 0, flops: M * (2 * D + 1) };
    }
    case 'BatchNorm2d':
    case 'BatchNorm1d':
      return { outputShape: [...input], params: 2 * l.args.num_features, state: 2 * l.args.num_features, flops: 2 * n };
    case 'ReLU':
      return { outputShape: [...input], params: 0, state: 0, flops: n };
    case 'MaxPool2d': {
      const { kernel_size: k, stride: s } = l.args;
      const [C, H, W] = input;
      const out = [C, Math.floor((H - k) / s) + 1, Math.floor((W - k) / s) + 1];
      return { outputShape: out, params: 0, state: 0, flops: prod(out) * (k * k - 1) };
    }
    case 'Flatten':
      return { outputShape: [n], params: 0, state: 0, flops: 0 };
    case 'Dropout':
      return { outputShape: [...input], params: 0, state: 0, flops: 0 };
  }
}

export function summarize(className: string, inputShape: number[], layers: LayerSpec[], dtype: string): ModelSummary {
  let shape = [...inputShape];
  const rows = layers.map((l, index) => {
    const f = layerFigures(l, shape);
    shape = f.outputShape;
    return { index, type: l.type, args: { ...l.args } as Record<string, number>, ...f };
  });
  const totalParams = rows.reduce((a, r) => a + r.params, 0);
  const totalState = rows.reduce((a, r) => a + r.state, 0);
  const width = dtype === 'float64' ? 8 : 4;
  return {
    className, inputShape: [...inputShape], layers: rows, totalParams, totalState,
    flopsPerSample: rows.reduce((a, r) => a + r.flops, 0), bytes: (totalParams + totalState) * width, dtype,
  };
}

/** 1234567 -> '1.23M', 4096 -> '4.10k'; below 1000 as is. */
export function compact(v: number): string {
  for (const [d, u] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) if (v >= d) return `${(v / d).toFixed(2)}${u}`;
  return String(v);
}

function argText(r: LayerSummary): string {
  const a = r.args;
  switch (r.type) {
    case 'Conv2d': return `${a.in_channels}->${a.out_channels}, ${a.kernel_size}x${a.kernel_size}, pad ${a.padding}`;
    case 'Linear': return `${a.in_features}->${a.out_features}`;
    case 'BatchNorm2d':
    case 'BatchNorm1d': return `${a.num_features}`;
    case 'MaxPool2d': return `${a.kernel_size}x${a.kernel_size}, stride ${a.stride}`;
    case 'Dropout': return `p=${a.p}`;
    default: return '';
  }
}

/** The summary as a table, the way Keras prints one. */
export function formatSummary(s: ModelSummary): string {
  const head = ['#', 'layer', 'output', 'params', 'FLOPs'];
  const body = s.layers.map((r) => [String(r.index), `${r.type}(${argText(r)})`, r.outputShape.join('x'), r.params.toLocaleString('en-US'), compact(r.flops)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, w) => a + w + 2, -2));
  return [
    `${s.className}, input ${s.inputShape.join('x')}, ${s.dtype}`,
    rule, line(head), rule, ...body.map(line), rule,
    `parameters: ${s.totalParams.toLocaleString('en-US')} trained + ${s.totalState.toLocaleString('en-US')} batchnorm statistics (${compact(s.bytes)}B)`,
    `forward FLOPs per sample: ${compact(s.flopsPerSample)} (training step about 3x: forward, dx and dW)`,
  ].join('\n');
}
