import type { DomainPlugin } from './types.ts';
import { analytics } from './analytics/index.ts';
import { chatEvents } from './chat-events/index.ts';
import { energyMeter } from './energy-meter/index.ts';
import { gridTelemetry } from './grid-telemetry/index.ts';
import { smartGrid } from './smart-grid/index.ts';

/** Built-in domains: one line each. */
export const DOMAINS: ReadonlyArray<DomainPlugin> = [
  energyMeter,
  gridTelemetry,
  analytics,
  chatEvents,
  smartGrid,
];

export function findDomain(name: string): DomainPlugin | undefined {
  return DOMAINS.find((d) => d.name === name);
}
