import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequest, choices, instant, integer, range } from './params.ts';
import { parseApiTokens, TokenScopes } from './auth.ts';

const bad = (fn: () => unknown, message: RegExp): void => {
  assert.throws(fn, (err: unknown) => err instanceof BadRequest && message.test(err.message));
};

describe('read API parameters', () => {
  it('instants: ISO-8601 with a zone only', () => {
    assert.equal(instant({ since: '2026-11-23T10:00:00Z' }, 'since', 0), Date.parse('2026-11-23T10:00:00Z'));
    assert.equal(instant({ since: '2026-11-23T11:00:00.5+01:00' }, 'since', 0), Date.parse('2026-11-23T10:00:00.500Z'));
    assert.equal(instant({}, 'since', 42), 42);
    bad(() => instant({ since: '2026-11-23' }, 'since', 0), /since: expected an ISO-8601 date-time with a zone/);
    bad(() => instant({ since: '2026-02-30T10:00:00Z' }, 'since', 0), /since:/);
    bad(() => instant({ since: ['a', 'b'] }, 'since', 0), /since: give it once/);
  });

  it('ranges: from before to, bounded span, defaults from now', () => {
    assert.deepEqual(range({}, 3_600_000, 86_400_000, 10_000_000), { from: 6_400_000, to: 10_000_000 });
    bad(() => range({ from: '2026-11-23T10:00:00Z', to: '2026-11-23T09:00:00Z' }, 1, 1e12), /from: must be before to/);
    bad(() => range({ from: '2026-01-01T00:00:00Z', to: '2026-11-23T09:00:00Z' }, 1, 31 * 86_400_000), /at most 31 days/);
  });

  it('integers and lists', () => {
    assert.equal(integer({ limit: '20' }, 'limit', 5, 1, 100), 20);
    bad(() => integer({ limit: '0' }, 'limit', 5, 1, 100), /limit: expected a whole number from 1 to 100, got "0"/);
    bad(() => integer({ limit: '1.5' }, 'limit', 5, 1, 100), /limit/);
    assert.deepEqual(choices({ status: 'fault, offline,fault' }, 'status', ['fault', 'offline'], []), ['fault', 'offline']);
    bad(() => choices({ status: 'fault,broken' }, 'status', ['fault', 'offline'], []), /status: each value must be one of fault, offline, got "broken"/);
  });
});

describe('API_TOKENS', () => {
  it('parses tenant:token pairs and scopes requests by token', () => {
    const { entries, problems } = parseApiTokens('t1:aaaaaaaaaaaaaaaa, *:bbbbbbbbbbbbbbbb:with-colon');
    assert.deepEqual(problems, []);
    const scopes = new TokenScopes(entries);
    assert.deepEqual(scopes.scopeOf('Bearer aaaaaaaaaaaaaaaa'), { all: false, tenant: 't1' });
    assert.deepEqual(scopes.scopeOf('bearer bbbbbbbbbbbbbbbb:with-colon'), { all: true });
    assert.equal(scopes.scopeOf('Bearer aaaaaaaaaaaaaaab'), null);
    assert.equal(scopes.scopeOf(undefined), null);
    assert.equal(scopes.scopeOf('Basic aaaaaaaaaaaaaaaa'), null);
  });

  it('refuses short tokens and bad tenants without echoing the token', () => {
    const { problems } = parseApiTokens('t1:short,bad tenant:cccccccccccccccc,nocolon');
    assert.equal(problems.length, 3);
    assert.ok(problems.every((p) => !p.includes('short') && !p.includes('cccc')), problems.join('\n'));
  });

  it('no tokens: the API is open', () => {
    assert.deepEqual(new TokenScopes([]).scopeOf(undefined), { all: true });
  });
});
