export { Model, loadModel, sliceRows } from './model';
export type { LossAndGrads, LossOptions, PredictOptions, ModelConfig, BnState } from './model';
export { ThreeLayerConvNet } from './three-layer-conv';
export type { ThreeLayerConvNetOptions } from './three-layer-conv';
export { DeepConvNet } from './deep-conv';
export type { DeepConvNetOptions } from './deep-conv';
export { TwoLayerNet, FullyConnectedNet } from './fc-net';
export type { TwoLayerNetOptions, FullyConnectedNetOptions } from './fc-net';
