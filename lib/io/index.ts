export { FileFormatError } from './errors';
export { saveSafetensors, loadSafetensors, parseSafetensors, encodeSafetensors, writeFileAtomic, SAFETENSORS_DTYPES } from './safetensors';
export type { SafetensorsFile, RawTensor, ReadOptions, WriteOptions, ChecksumOption } from './safetensors';
export { saveModel, loadModelFile, MODEL_FORMAT, MODEL_FORMAT_VERSION } from './model-file';
export type { ModelFile } from './model-file';
