// Classification losses on scores (N, C) and labels y: the mean loss and d(loss)/d(scores).
import { native } from '../binding';
import { hostArray, Tensor } from '../tensor';
import { checkLabels, checkTensor, Labels } from '../validate';
import { Prepared, runAsync, runSync } from '../engine/op';
import { output } from '../engine/arena';

export interface LossResult {
  loss: number;
  dx: Tensor;
}

export function prepareLoss(kind: 'softmax' | 'svm', scores: Tensor, y: Labels): Prepared<LossResult> {
  checkTensor('scores', scores, 2, '(N, C)');
  const [N, C] = scores.shape;
  const labels = checkLabels('y', y, N, C);
  const dx = output(scores);
  const loss = hostArray('float64', 1);
  const result: LossResult = { loss: 0, dx };
  const fn = kind === 'softmax' ? native.softmaxLoss : native.svmLoss;
  return {
    result,
    call: (async) => {
      const done = () => {
        result.loss = loss[0];
      };
      const r = fn(N, C, dx.buffer, scores.buffer, labels, loss, async);
      if (r) return r.then(done);  // a Promise (not instanceof-checked: it may come from another realm)
      done();
      return undefined;
    },
  };
}

/** Cross-entropy of softmax(scores) against y. */
export function softmaxLoss(scores: Tensor, y: Labels): LossResult {
  return runSync(prepareLoss('softmax', scores, y));
}

/** Multiclass SVM (hinge) loss with margin 1. */
export function svmLoss(scores: Tensor, y: Labels): LossResult {
  return runSync(prepareLoss('svm', scores, y));
}

export async function softmaxLossAsync(scores: Tensor, y: Labels): Promise<LossResult> {
  return runAsync(prepareLoss('softmax', scores, y));
}

export async function svmLossAsync(scores: Tensor, y: Labels): Promise<LossResult> {
  return runAsync(prepareLoss('svm', scores, y));
}
