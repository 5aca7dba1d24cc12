export {
  type CrashState,
  type CrashStateOptions,
  PowerLossSource,
  type PowerLossSourceOptions,
  SECTOR,
  type SourceOperation,
} from './power-loss-source.js';
export { SeededRandom } from './seeded-random.js';
