/** Every feature, in start order, and the ones this configuration enables (FEATURES). */
import type { Config } from '../config';
import { atprotoFeature } from './atproto';
import { ipfsFeature } from './ipfs';
import { powerSyncFeature } from './powersync';
import type { Feature } from './types';

export const features: Feature[] = [atprotoFeature, ipfsFeature, powerSyncFeature];
export const FEATURE_NAMES = features.map((f) => f.name);

/** FEATURES unset = all; `none` = only the core (Postgres, /v1, the assistant). */
export function enabledFeatures(config: Pick<Config, 'features'>): Feature[] {
  return config.features === 'all' ? features : features.filter((f) => config.features.includes(f.name));
}
