import type { GridReading } from './decode.ts';

const SECONDS_PER_HOUR = 3600;

/**
 * Energy of one reading in kWh (SPEC §5.2): `energy_kwh` when sent, else power × interval.
 * A pure function of the stored row, so a window total recomputed from raw rows equals the
 * one built from deltas. A recompute in SQL should evaluate `power_kw * interval_s / 3600`
 * in that order to get the same bits.
 */
export const readingEnergyKwh = (r: Pick<GridReading, 'powerKw' | 'energyKwh' | 'intervalS'>): number =>
  r.energyKwh ?? (r.powerKw * r.intervalS) / SECONDS_PER_HOUR;
