// Pictures a person can open after training: loss and accuracy curves (SVG), the first-layer
// filters as an image grid (PNG) and eval's confusion matrix (SVG). All written atomically.
import { PNG } from 'pngjs';
import { writeFileAtomic } from '../io/safetensors';
import { Tensor } from '../tensor';
import type { Confusion } from './evaluate';

export type Series = { name: string; color: string; points: [number, number][] };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** A vertical dashed line at x with a label (an epoch boundary). */
export type Marker = { x: number; label: string };

/** One chart panel as an SVG group at (x0, y0), size w x h. */
function panel(x0: number, y0: number, w: number, h: number, title: string, xLabel: string, series: Series[], yRange?: [number, number], markers: Marker[] = []): string {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const m = { l: 56, r: 12, t: 28, b: 40 };
  const pw = w - m.l - m.r;
  const ph = h - m.t - m.b;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const xmin = xs.length ? Math.min(...xs) : 0;
  const xmax = xs.length ? Math.max(...xs, xmin + 1e-9) : 1;
  let [ymin, ymax] = yRange ?? [ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1];
  if (!(ymax > ymin)) ymax = ymin + 1;
  const sx = (x: number) => x0 + m.l + ((x - xmin) / (xmax - xmin || 1)) * pw;
  const sy = (y: number) => y0 + m.t + ph - ((y - ymin) / (ymax - ymin)) * ph;
  let g = `<text x="${x0 + w / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>\n`;
  g += `<rect x="${x0 + m.l}" y="${y0 + m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>\n`;
  for (const t of niceTicks(ymin, ymax)) {
    g += `<line x1="${x0 + m.l}" x2="${x0 + m.l + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`;
    g += `<text x="${x0 + m.l - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${t}</text>\n`;
  }
  for (const t of niceTicks(xmin, xmax)) {
    g += `<text x="${sx(t)}" y="${y0 + m.t + ph + 16}" text-anchor="middle" font-size="11">${t}</text>\n`;
  }
  g += `<text x="${x0 + m.l + pw / 2}" y="${y0 + h - 6}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>\n`;
  for (const mk of markers) {
    if (!(mk.x >= xmin && mk.x <= xmax)) continue;
    const x = sx(mk.x).toFixed(1);
    g += `<line x1="${x}" x2="${x}" y1="${y0 + m.t}" y2="${y0 + m.t + ph}" stroke="#999" stroke-dasharray="4,3"/>`;
    // Inside the frame at its foot: above it is the panel's title, at its head the legend.
    g += `<text x="${(sx(mk.x) - 3).toFixed(1)}" y="${y0 + m.t + ph - 5}" text-anchor="end" font-size="10" fill="#666">${esc(mk.label)}</text>\n`;
  }
  series.forEach((s, i) => {
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (good.length) {
      const d = good.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      g += `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${d}"/>\n`;
    }
    g += `<text x="${x0 + m.l + 8}" y="${y0 + m.t + 16 + 14 * i}" font-size="12" fill="${s.color}">${esc(s.name)}</text>\n`;
  });
  return g;
}

export interface Curves {
  /** [step, loss] of the training minibatches. */
  lossByStep: [number, number][];
  /** [seconds of training, loss]. */
  lossBySeconds: [number, number][];
  /** Accuracy series with [step, accuracy] points. */
  accuracyByStep: Series[];
  /** The same series with [seconds, accuracy] points. */
  accuracyBySeconds: Series[];
  /** Steps per epoch: epoch boundaries are marked where whole epochs ran. */
  stepsPerEpoch: number;
}

/**
 * Loss and accuracy against steps (top row) and against seconds of training (bottom row); the
 * step panels mark each completed epoch, so a run shorter than an epoch is drawn as what it was.
 */
export function curvesSvg(c: Curves): string {
  const W = 980;
  const H = 720;
  const lastStep = Math.max(0, ...c.lossByStep.map((p) => p[0]), ...c.accuracyByStep.flatMap((s) => s.points.map((p) => p[0])));
  const epochs: Marker[] = [];
  if (c.stepsPerEpoch > 0) for (let e = 1; e * c.stepsPerEpoch <= lastStep; e++) epochs.push({ x: e * c.stepsPerEpoch, label: `epoch ${e}` });
  const loss = (points: [number, number][]): Series[] => [{ name: 'training loss', color: '#1f77b4', points }];
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n` +
    panel(0, 0, W / 2, H / 2, 'Training loss', 'step', loss(c.lossByStep), undefined, epochs) +
    panel(W / 2, 0, W / 2, H / 2, 'Accuracy', 'step', c.accuracyByStep, [0, 1], epochs) +
    panel(0, H / 2, W / 2, H / 2, 'Training loss', 'seconds of training', loss(c.lossBySeconds)) +
    panel(W / 2, H / 2, W / 2, H / 2, 'Accuracy', 'seconds of training', c.accuracyBySeconds, [0, 1]) +
    '</svg>\n'
  );
}

export function writeCurves(path: string, c: Curves): void {
  writeFileAtomic(path, [Buffer.from(curvesSvg(c))]);
}

/**
 * The curves of a run from its metrics.jsonl records (so a resumed run draws the whole run):
 * 'step' records give loss by seconds, 'eval' records the accuracies; lossByStep comes from the
 * Solver's lossHistory, which has every step.
 */
export function curvesFromMetrics(records: Record<string, unknown>[], lossHistory: number[], stepsPerEpoch: number): Curves {
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  const steps = records.filter((r) => r.type === 'step');
  const evals = records.filter((r) => r.type === 'eval');
  const series = (key: string, name: string, color: string, x: string): Series => ({ name, color, points: evals.map((r) => [num(r[x]), num(r[key])]) });
  return {
    lossByStep: lossHistory.map((l, i) => [i + 1, l]),
    lossBySeconds: steps.map((r) => [num(r.elapsed), num(r.loss)]),
    accuracyByStep: [series('trainAcc', 'train accuracy', '#1f77b4', 'step'), series('valAcc', 'validation accuracy', '#ff7f0e', 'step')],
    accuracyBySeconds: [series('trainAcc', 'train accuracy', '#1f77b4', 'elapsed'), series('valAcc', 'validation accuracy', '#ff7f0e', 'elapsed')],
    stepsPerEpoch,
  };
}

/**
 * First-layer filters w (F, C, K, K) as a grid of K x K tiles, each scaled to its own
 * min..max and enlarged `zoom` times; RGB for 3 channels, grey otherwise (channel mean).
 */
export function filterGridPng(w: Tensor, zoom = 8): Buffer {
  if (w.ndim !== 4) throw new RangeError(`w must have rank 4 (F, C, K, K), got shape [${w.shape.join(', ')}]`);
  const [F, C, KH, KW] = w.shape;
  const cols = Math.ceil(Math.sqrt(F));
  const rows = Math.ceil(F / cols);
  const gap = 2;
  const tw = KW * zoom;
  const th = KH * zoom;
  const png = new PNG({ width: cols * (tw + gap) + gap, height: rows * (th + gap) + gap });
  png.data.fill(255);
  for (let f = 0; f < F; f++) {
    const base = f * C * KH * KW;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < C * KH * KW; i++) {
      lo = Math.min(lo, w.data[base + i]);
      hi = Math.max(hi, w.data[base + i]);
    }
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    const ox = gap + (f % cols) * (tw + gap);
    const oy = gap + Math.floor(f / cols) * (th + gap);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const kh = Math.floor(y / zoom);
        const kw = Math.floor(x / zoom);
        const at = (c: number) => (w.data[base + (c * KH + kh) * KW + kw] - lo) * scale;
        let rgb: number[];
        if (C === 3) rgb = [at(0), at(1), at(2)];
        else {
          let s = 0;
          for (let c = 0; c < C; c++) s += at(c);
          rgb = [s / C, s / C, s / C];
        }
        const o = ((oy + y) * png.width + ox + x) * 4;
        png.data[o] = rgb[0];
        png.data[o + 1] = rgb[1];
        png.data[o + 2] = rgb[2];
        png.data[o + 3] = 255;
      }
    }
  }
  return PNG.sync.write(png);
}

export function writeFilterGrid(path: string, w: Tensor, zoom = 16): void {
  writeFileAtomic(path, [filterGridPng(w, zoom)]);
}

/**
 * The confusion matrix as an SVG heat map: rows are true classes, columns predicted ones, each
 * cell shaded by the fraction of its row (so classes of different sizes read alike) and labelled
 * with its count.
 */
export function confusionSvg(c: Confusion, classes: string[], title: string): string {
  const K = classes.length;
  const cell = Math.max(28, Math.min(56, Math.floor(560 / Math.max(K, 1))));
  const left = 110;
  const top = 60;
  const size = cell * K;
  const W = left + size + 20;
  const H = top + size + 90;
  let g = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">\n`;
  g += `<rect width="${W}" height="${H}" fill="white"/>\n`;
  g += `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>\n`;
  g += `<text x="${W / 2}" y="44" text-anchor="middle" font-size="12">accuracy ${(c.accuracy * 100).toFixed(2)}%; rows: true class, columns: predicted</text>\n`;
  c.matrix.forEach((row, t) => {
    const n = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, p) => {
      const f = count / n;
      // Right answers in blue, confusions in red, both by the share of the row.
      const shade = Math.round(255 * (1 - f));
      const fill = t === p ? `rgb(${shade},${shade},255)` : `rgb(255,${shade},${shade})`;
      const x = left + p * cell;
      const y = top + t * cell;
      g += `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"/>`;
      if (count > 0) g += `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" font-size="${cell >= 40 ? 11 : 9}" fill="${f > 0.6 ? 'white' : 'black'}">${count}</text>`;
      g += '\n';
    });
    g += `<text x="${left - 6}" y="${top + t * cell + cell / 2 + 4}" text-anchor="end" font-size="12">${esc(classes[t])}</text>\n`;
  });
  classes.forEach((name, p) => {
    const x = left + p * cell + cell / 2;
    const y = top + size + 8;
    g += `<text x="${x}" y="${y}" text-anchor="end" font-size="12" transform="rotate(-45 ${x} ${y})">${esc(name)}</text>\n`;
  });
  return g + '</svg>\n';
}

export function writeConfusion(path: string, c: Confusion, classes: string[], title: string): void {
  writeFileAtomic(path, [Buffer.from(confusionSvg(c, classes, title))]);
}
