// Classification losses on scores (N, C) and labels y: the mean loss and d(loss)/d(scores).
import { native } from '../binding';
import { hostArray, Tensor } from '../tensor';
import { checkLabels, checkNumber, checkOptions, checkTensor, Labels } from '../validate';
import { Prepared, runAsync, runSync } from '../engine/op';
import { output } from '../engine/arena';

export interface LossResult {
  loss: number;
  dx: Tensor;
}

export interface SoftmaxLossOptions {
  /**
   * Label smoothing e in [0, 1) (default 0): the target is (1 - e) on the label plus e / C on
   * every class, so the loss is the cross-entropy against that and the gradient (p - target) / N.
   */
  labelSmoothing?: number;
}

/** options.labelSmoothing, checked (`what` names it in messages). */
export function checkLabelSmoothing(what: string, v: unknown): number {
  return checkNumber(what, v ?? 0, (x) => x >= 0 && x < 1, 'a number in [0, 1)');
}

export function prepareLoss(kind: 'softmax' | 'svm', scores: Tensor, y: Labels, labelSmoothing = 0): Prepared<LossResult> {
  checkTensor('scores', scores, 2, '(N, C)');
  const smoothing = checkLabelSmoothing('labelSmoothing', labelSmoothing);
  if (kind === 'svm' && smoothing !== 0) throw new RangeError('labelSmoothing applies to the softmax loss only');
  const [N, C] = scores.shape;
  const labels = checkLabels('y', y, N, C);
  const dx = output(scores);
  const loss = hostArray('float64', 1);
  const result: LossResult = { loss: 0, dx };
  return {
    result,
    call: (async) => {
      const done = () => {
        result.loss = loss[0];
      };
      const r = kind === 'softmax' ? native.softmaxLoss(N, C, smoothing, dx.buffer, scores.buffer, labels, loss, async) : native.svmLoss(N, C, dx.buffer, scores.buffer, labels, loss, async);
      if (r) return r.then(done);  // a Promise (not instanceof-checked: it may come from another realm)
      done();
      return undefined;
    },
  };
}

/** Cross-entropy of softmax(scores) against y (with opts.labelSmoothing: against the smoothed target). */
export function softmaxLoss(scores: Tensor, y: Labels, opts?: SoftmaxLossOptions): LossResult {
  return runSync(prepareLoss('softmax', scores, y, checkLabelSmoothing('opts.labelSmoothing', checkOptions('opts', opts).labelSmoothing)));
}

/** Multiclass SVM (hinge) loss with margin 1. */
export function svmLoss(scores: Tensor, y: Labels): LossResult {
  return runSync(prepareLoss('svm', scores, y));
}

export async function softmaxLossAsync(scores: Tensor, y: Labels, opts?: SoftmaxLossOptions): Promise<LossResult> {
  return runAsync(prepareLoss('softmax', scores, y, checkLabelSmoothing('opts.labelSmoothing', checkOptions('opts', opts).labelSmoothing)));
}

export async function svmLossAsync(scores: Tensor, y: Labels): Promise<LossResult> {
  return runAsync(prepareLoss('svm', scores, y));
}
