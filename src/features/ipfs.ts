/** The ipfs feature (see src/features/types.ts). Not built yet. */
import type { Feature } from './types';

export const ipfsFeature: Feature = {
  name: 'ipfs',
};
