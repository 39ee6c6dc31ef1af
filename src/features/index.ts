/** Every feature, in start order. */
import { atprotoFeature } from './atproto';
import { ipfsFeature } from './ipfs';
import { syncFeature } from './sync';
import type { Feature } from './types';

export const features: Feature[] = [atprotoFeature, ipfsFeature, syncFeature];
