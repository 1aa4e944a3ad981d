import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  OptionError,
  parseChoice,
  parseDuration,
  parseNonNegativeNumber,
  parsePort,
  parsePositiveInt,
  parseRate,
  parseSeed,
  parseTimestamp,
  parseUrl,
} from './options.ts';

/** Asserts that `fn` throws an OptionError for `flag` whose message matches `pattern`. */
const rejects = (fn: () => unknown, flag: string, pattern: RegExp): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OptionError, `expected OptionError, got ${String(err)}`);
    assert.equal(err.flag, flag);
    assert.equal(err.exitCode, 2);
    assert.ok(err.message.startsWith(`${flag}: `), err.message);
    assert.match(err.message, pattern);
    return true;
  });
};

describe('parseDuration', () => {
  it('reads ms, s, m, h, decimals and compound values', () => {
    assert.equal(parseDuration('500ms', '--duration'), 500);
    assert.equal(parseDuration('30s', '--duration'), 30_000);
    assert.equal(parseDuration('2m', '--duration'), 120_000);
    assert.equal(parseDuration('1h', '--duration'), 3_600_000);
    assert.equal(parseDuration('1.5s', '--duration'), 1500);
    assert.equal(parseDuration('1m30s', '--duration'), 90_000);
    assert.equal(parseDuration(' 2m ', '--duration'), 120_000);
  });

  it('rejects bad values, naming the flag', () => {
    rejects(() => parseDuration('30', '--duration'), '--duration', /needs a unit.*30s/);
    rejects(() => parseDuration('abc', '--duration'), '--duration', /not a duration/);
    rejects(() => parseDuration('10x', '--duration'), '--duration', /not a duration/);
    rejects(() => parseDuration('1m30', '--duration'), '--duration', /not a duration/);
    rejects(() => parseDuration('-5s', '--duration'), '--duration', /not a duration/);
    rejects(() => parseDuration('0s', '--duration'), '--duration', /longer than 0/);
    rejects(() => parseDuration('', '--duration'), '--duration', /required/);
  });
});

describe('parseRate', () => {
  it('accepts shares in [0, 1] and percentages', () => {
    assert.equal(parseRate('0', '--anomaly-rate'), 0);
    assert.equal(parseRate('0.02', '--anomaly-rate'), 0.02);
    assert.equal(parseRate('1', '--anomaly-rate'), 1);
    assert.equal(parseRate('.5', '--anomaly-rate'), 0.5);
    assert.equal(parseRate('2%', '--anomaly-rate'), 0.02);
  });

  it('rejects values outside [0, 1] and non-numbers', () => {
    rejects(() => parseRate('1.5', '--invalid-rate'), '--invalid-rate', /outside \[0, 1\]/);
    rejects(() => parseRate('-0.1', '--invalid-rate'), '--invalid-rate', /outside/);
    rejects(() => parseRate('150%', '--invalid-rate'), '--invalid-rate', /outside/);
    rejects(() => parseRate('lots', '--invalid-rate'), '--invalid-rate', /not a number/);
    rejects(() => parseRate('', '--invalid-rate'), '--invalid-rate', /not a number/);
    rejects(() => parseRate('NaN', '--invalid-rate'), '--invalid-rate', /not a number/);
  });
});

describe('numbers', () => {
  it('parses message rates (0 = unlimited) and counts', () => {
    assert.equal(parseNonNegativeNumber('0', '--rate'), 0);
    assert.equal(parseNonNegativeNumber('20000', '--rate'), 20_000);
    assert.equal(parseNonNegativeNumber('0.5', '--rate'), 0.5);
    assert.equal(parseNonNegativeNumber('2e4', '--rate'), 20_000);
    rejects(() => parseNonNegativeNumber('-1', '--rate'), '--rate', /negative/);
    rejects(() => parseNonNegativeNumber('fast', '--rate'), '--rate', /not a number/);
    rejects(() => parseNonNegativeNumber('Infinity', '--rate'), '--rate', /not a number/);

    assert.equal(parsePositiveInt('1000', '--count'), 1000);
    rejects(() => parsePositiveInt('0', '--count'), '--count', />= 1/);
    rejects(() => parsePositiveInt('1.5', '--count'), '--count', /whole number/);
    rejects(() => parsePositiveInt('10k', '--count'), '--count', /whole number/);
    rejects(() => parsePositiveInt('99999999999999999999', '--count'), '--count', /whole number/);

    assert.equal(parseSeed('0', '--seed'), 0);
    assert.equal(parseSeed('123456789', '--seed'), 123_456_789);
    rejects(() => parseSeed('-3', '--seed'), '--seed', /whole number >= 0/);

    assert.equal(parsePort('9464', '--metrics-port'), 9464);
    rejects(() => parsePort('70000', '--metrics-port'), '--metrics-port', /TCP port/);
    rejects(() => parsePort('0', '--metrics-port'), '--metrics-port', /TCP port/);
  });
});

describe('parseTimestamp', () => {
  it('accepts RFC 3339 with Z, offsets and fractions', () => {
    assert.equal(parseTimestamp('2025-12-29T10:30:00Z', '--start-time'), Date.UTC(2025, 11, 29, 10, 30));
    assert.equal(parseTimestamp('2025-12-29T17:30:00+07:00', '--start-time'), Date.UTC(2025, 11, 29, 10, 30));
    assert.equal(parseTimestamp('2025-12-29T10:30:00.250Z', '--start-time'), Date.UTC(2025, 11, 29, 10, 30, 0, 250));
  });

  it('rejects other shapes and impossible dates', () => {
    rejects(() => parseTimestamp('2025-12-29', '--start-time'), '--start-time', /RFC 3339/);
    rejects(() => parseTimestamp('2025-12-29T10:30:00', '--start-time'), '--start-time', /RFC 3339/);
    rejects(() => parseTimestamp('yesterday', '--start-time'), '--start-time', /RFC 3339/);
    rejects(() => parseTimestamp('2025-02-31T10:30:00Z', '--start-time'), '--start-time', /real date|RFC 3339/);
  });
});

describe('URLs and choices', () => {
  it('checks the scheme and never echoes a password', () => {
    assert.equal(parseUrl('amqp://guest:guest@127.0.0.1:5672', '--broker', ['amqp:', 'amqps:']).hostname, '127.0.0.1');
    rejects(() => parseUrl('http://x', '--broker', ['amqp:', 'amqps:']), '--broker', /unsupported scheme "http:"/);
    assert.throws(
      () => parseUrl('amqp//user:s3cret@host', '--broker', ['amqp:']),
      (err: unknown) => err instanceof OptionError && !err.message.includes('s3cret'),
    );
  });

  it('accepts only known names', () => {
    assert.equal(parseChoice('energy-meter', '--domain', ['energy-meter']), 'energy-meter');
    rejects(() => parseChoice('chat-events', '--domain', ['energy-meter']), '--domain', /unknown value "chat-events".*energy-meter/);
  });
});
