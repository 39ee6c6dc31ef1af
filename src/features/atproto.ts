/** The atproto feature (see src/features/types.ts). Not built yet. */
import type { Feature } from './types';

export const atprotoFeature: Feature = {
  name: 'atproto',
};
