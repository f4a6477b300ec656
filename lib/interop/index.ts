export { onnxBytes, writeOnnx, ONNX_OPSETS, DEFAULT_OPSET } from './onnx';
export type { OnnxOptions, OnnxOpset, Normalization } from './onnx';
export { writeTorch, torchLayers, TORCH_LAYOUT } from './torch';
export type { TorchExportOptions, TorchLayer } from './torch';
export { importTorch, configFromLayers } from './torch-import';
export type { TorchImport } from './torch-import';
export { torchStateTensors } from './names';
