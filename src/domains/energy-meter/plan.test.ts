import assert from 'node:assert/strict';
import test from 'node:test';
import { processedEventJson, type ReadingProcessedEvent } from './plan.ts';

test('processedEventJson is JSON.stringify of the event, field for field, escapes included', () => {
  const names = ['Voltage', '', 'a"b\\c', 'line\nbreak\u0000', 'ünï 電力 😀', '\u2028\u2029', '\ud800 lone'];
  const values = [230.5, 0, -0, -1.25e-7, 1e308, 5e-324, 42, null];
  const reasons = [null, 'negative value detected', 'sudden spike detected: value 9.00 exceeds 3.0x rolling average 2.00', 'invalid metric value: "x\t"'];
  for (const name of names) {
    for (const value of values) {
      for (const reason of reasons) {
        const event: ReadingProcessedEvent = {
          reading_id: '6f1c2b0e-3a7d-5c2e-9b8a-5d4e3f2a1b0c',
          client_id: '0d8c2d1e-1111-5222-8333-444455556666',
          metric_name: name,
          metric_value: value,
          reading_timestamp: '2026-01-05T10:00:00.123Z',
          validation_status: reason === null ? 'valid' : 'invalid',
          anomaly_reason: reason,
        };
        const text = processedEventJson(event.reading_id, event.client_id, name, value, event.reading_timestamp, event.validation_status, reason);
        assert.equal(text, JSON.stringify(event));
      }
    }
  }
});
