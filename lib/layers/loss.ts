// Classification losses on scores (N, C) and labels y: the mean loss and d(loss)/d(scores).
import { native } from '../binding';
import { Tensor, zerosLike } from '../tensor';
import { checkLabels, checkTensor, Labels } from '../validate';
import { Prepared, runAsync, runSync } from './op';

export interface LossResult {
  loss: number;
  dx: Tensor;
}

function prepare(kind: 'softmax' | 'svm', scores: Tensor, y: Labels): Prepared<LossResult> {
  checkTensor('scores', scores, 2, '(N, C)');
  const [N, C] = scores.shape;
  const labels = checkLabels('y', y, N, C);
  const dx = zerosLike(scores);
  const loss = new Float64Array(1);
  const result: LossResult = { loss: 0, dx };
  const fn = kind === 'softmax' ? native.softmaxLoss : native.svmLoss;
  return {
    result,
    call: (async) => {
      const done = () => {
        result.loss = loss[0];
      };
      const r = fn(N, C, loss, dx.data, scores.data, labels, async);
      if (r instanceof Promise) return r.then(done);
      done();
      return undefined;
    },
  };
}

/** Cross-entropy of softmax(scores) against y. */
export function softmaxLoss(scores: Tensor, y: Labels): LossResult {
  return runSync(prepare('softmax', scores, y));
}

/** Multiclass SVM (hinge) loss with margin 1. */
export function svmLoss(scores: Tensor, y: Labels): LossResult {
  return runSync(prepare('svm', scores, y));
}

export function softmaxLossAsync(scores: Tensor, y: Labels): Promise<LossResult> {
  return runAsync(prepare('softmax', scores, y));
}

export function svmLossAsync(scores: Tensor, y: Labels): Promise<LossResult> {
  return runAsync(prepare('svm', scores, y));
}
