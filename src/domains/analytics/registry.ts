import type { SubDomain } from './subdomain.ts';
import { device } from './handlers/device.ts';
import { lab } from './handlers/lab.ts';
import { sensor } from './handlers/sensor.ts';
import { sweep } from './handlers/sweep.ts';

/** Registered analytics sub-domains: topic → handler → sub-domain. One line each. */
export const SUB_DOMAINS: ReadonlyArray<SubDomain> = [
  sensor,
  device,
  sweep,
  lab,
];
