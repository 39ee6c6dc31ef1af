/** The sync feature (see src/features/types.ts). Not built yet. */
import type { Feature } from './types';

export const syncFeature: Feature = {
  name: 'sync',
};
