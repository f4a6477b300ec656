export type { RawDataset, LoadOptions, Part } from './types';
export { loadCifar10, CIFAR10_CLASSES } from './cifar10';
export { loadIdx, parseIdx, loadMnist, loadFashionMnist, MNIST_CLASSES, FASHION_MNIST_CLASSES } from './idx';
export type { IdxData, IdxType, IdxArray } from './idx';
export { toFloat, channelStats, normalize, splitValidation, loadDataset } from './dataset';
export type { ChannelStats, Dataset, DatasetName, DatasetOptions } from './dataset';
export { randomCropFlip, cropFlip } from './augment';
export type { CropFlipOptions } from './augment';
