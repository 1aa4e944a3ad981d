/** Progress while `ingestd load` runs: a bar on a terminal, or a status line every 5 s. */
import cliProgress from 'cli-progress';
import type { Counts } from './counts.ts';
import { formatMs } from './summary.ts';

export type ProgressMode = 'bar' | 'lines' | 'none';

const LINE_EVERY_MS = 5000;

/** Starts reporting on stderr; returns a function that prints the final state and stops. */
export const startReporter = (mode: ProgressMode, counts: Counts, total: number, durationMs: number): (() => void) => {
  if (mode === 'none') return () => {};
  const started = performance.now();
  const samples: Array<[number, number]> = [[started, 0]];
  const liveRate = (now: number): number => {
    samples.push([now, counts.sent]);
    while (samples.length > 2 && now - samples[0]![0] > 2000) samples.shift();
    const [t, sent] = samples[0]!;
    return now > t ? ((counts.sent - sent) * 1000) / (now - t) : 0;
  };
  const byCount = Number.isFinite(total);
  if (mode === 'lines') {
    const timer = setInterval(() => {
      const now = performance.now();
      const of = byCount ? `/${total}` : '';
      process.stderr.write(
        `load: sent ${counts.sent}${of} confirmed ${counts.confirmed} failed ${counts.failed} ` +
          `rate ${Math.round(liveRate(now))} msg/s elapsed ${((now - started) / 1000).toFixed(0)}s\n`,
      );
    }, LINE_EVERY_MS);
    timer.unref();
    return () => clearInterval(timer);
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `load |{bar}| {percentage}% | {sent}${byCount ? `/${total}` : ''} sent | {rate} msg/s | confirmed {confirmed} | failed {failed} | {time}`,
      stream: process.stderr,
      hideCursor: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = (now: number) => ({
    sent: counts.sent, confirmed: counts.confirmed, failed: counts.failed, rate: Math.round(liveRate(now)),
    time: `${((now - started) / 1000).toFixed(1)}s${byCount ? '' : `/${formatMs(durationMs)}`}`,
  });
  bar.start(byCount ? total : durationMs, 0, payload(started));
  const timer = setInterval(() => {
    const now = performance.now();
    bar.update(byCount ? counts.sent : Math.min(durationMs, now - started), payload(now));
  }, 200);
  timer.unref();
  return () => {
    clearInterval(timer);
    const now = performance.now();
    bar.update(byCount ? counts.sent : Math.min(durationMs, now - started), payload(now));
    bar.stop();
  };
};
