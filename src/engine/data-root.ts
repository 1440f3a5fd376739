// Where berth keeps its state: one data root (images now, containers next),
// shared by the berth CLI and berthd.
import { join } from 'node:path';
import { ImageStore } from '../image/index.js';

export { DEFAULT_DATA_ROOT } from './defaults.js';

export function imageStoreIn(dataRoot: string): ImageStore {
  return new ImageStore(join(dataRoot, 'image'));
}
