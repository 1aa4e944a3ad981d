/**
 * Small seeded pseudo-random generator (sfc32, seeded through splitmix32) for the
 * simulators and the load generator. Same seed ⇒ same sequence, on every platform.
 * Not for anything security-related.
 */

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** Uniform float in [min, max). */
  float(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** Gaussian sample (Box–Muller). */
  normal(mean: number, sd: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** RFC 4122 version-4-shaped id drawn from this generator. */
  uuid(): string;
}

/** splitmix32 step: spreads an arbitrary integer seed over 32 bits. */
const splitmix32 = (x: number): number => {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
};

/** Folds any finite number (including seeds above 2^32) into a 32-bit value. */
const foldSeed = (seed: number): number => {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  const whole = Math.trunc(Math.abs(seed));
  const low = whole % 0x1_0000_0000;
  const high = Math.floor(whole / 0x1_0000_0000);
  return (splitmix32(low) ^ Math.imul(high, 0x85ebca6b) ^ (seed < 0 ? 0x5bd1e995 : 0)) >>> 0;
};

export const createRandom = (seed: number): Random => {
  const s0 = foldSeed(seed);
  let a = splitmix32(s0);
  let b = splitmix32(a);
  let c = splitmix32(b);
  let d = 1;
  let spare = 0;
  let hasSpare = false;

  const uint32 = (): number => {
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Warm up so that nearby seeds diverge immediately.
  for (let i = 0; i < 12; i++) uint32();

  const next = (): number => uint32() / 0x1_0000_0000;

  const random: Random = {
    next,
    uint32,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    float: (min, max) => min + next() * (max - min),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('pick() needs a non-empty array');
      return items[Math.floor(next() * items.length)] as T;
    },
    normal: (mean, sd) => {
      if (hasSpare) {
        hasSpare = false;
        return mean + sd * spare;
      }
      let u = next();
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      hasSpare = true;
      return mean + sd * r * Math.cos(2 * Math.PI * v);
    },
    chance: (p) => next() < p,
    uuid: () => {
      const w0 = uint32();
      const w1 = uint32();
      const w2 = uint32();
      const w3 = uint32();
      // Byte 6 high nibble = version 4; byte 8 top bits = variant 10.
      const b6 = ((w1 >>> 8) & 0x0f) | 0x40;
      const b8 = ((w2 >>> 24) & 0x3f) | 0x80;
      return (
        HEX[w0 >>> 24]! + HEX[(w0 >>> 16) & 255]! + HEX[(w0 >>> 8) & 255]! + HEX[w0 & 255]! + '-' +
        HEX[w1 >>> 24]! + HEX[(w1 >>> 16) & 255]! + '-' +
        HEX[b6]! + HEX[w1 & 255]! + '-' +
        HEX[b8]! + HEX[(w2 >>> 16) & 255]! + '-' +
        HEX[(w2 >>> 8) & 255]! + HEX[w2 & 255]! +
        HEX[w3 >>> 24]! + HEX[(w3 >>> 16) & 255]! + HEX[(w3 >>> 8) & 255]! + HEX[w3 & 255]!
      );
    },
  };
  return random;
};

/** A random seed for runs where none was given (printed so the run can be repeated). */
export const randomSeed = (): number => Math.floor(Math.random() * 0x7fff_ffff) + 1;
