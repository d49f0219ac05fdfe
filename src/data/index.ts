// data/: the datasets, quantised into batches, in the order training sees them.
//
// The data layer's public surface.
export {
  loadDataset,
  datasetShape,
  datasetStatus,
  DatasetError,
  type Dataset,
  type DatasetName,
  DIR_DATASETS,
  type DatasetSpec,
  type DatasetStatus,
  type ImageSet,
} from './datasets.js';
export {
  makeBatch,
  batchLabels,
  quantize,
  quantizeTables,
  dequantize,
  batchesPerEpoch,
  orderForEpoch,
  EpochOrder,
  type Batch,
} from './batches.js';
export { splitValidation, validationIndices, type SplitDataset, type ValidationSplit } from './split.js';
export { classLabelProblems, type LabelProblem } from './labels.js';
export { IdxError, readIdx, parseIdx, type IdxArray } from './idx.js';
export { cacheDir } from './verify.js';
