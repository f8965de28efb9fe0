/**
 * Issue 14, item 8: a database failure tells the client nothing it should not know (no URL,
 * no credentials, no driver text) and tells the server's log once per cause, not once per
 * request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAB_ERR, LabError } from '../../src/errors.js';
import { respondDatabaseError, scrubSecrets, setDatabaseErrorLog } from '../../src/app/handlers.js';
import { databaseStats } from '../../src/serve.js';
import type { Database } from '../../src/db/index.js';

const SECRET_URL = 'postgresql://app:hunter2@db.internal:5432/prod?password=hunter2&sslmode=require';

test('a database failure answers a generic 503: no URL, no credentials, no driver text', () => {
  const lines: string[] = [];
  setDatabaseErrorLog((line) => lines.push(line));
  const error = new LabError(LAB_ERR.DB_QUERY, `cannot connect to ${SECRET_URL}: connection refused`);
  for (let i = 0; i < 50; i++) {
    const response = respondDatabaseError(error);
    assert.equal(response.status, 503);
    const body = String(response.body);
    assert.doesNotMatch(body, /hunter2|postgresql:|db\.internal|refused/, body);
    assert.deepEqual(JSON.parse(body), { error: LAB_ERR.DB_QUERY, reason: 'database unavailable' });
  }
  // The detail is logged, once for the fifty requests, and with its secrets masked.
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0] as string, /db\.internal:5432/);
  assert.doesNotMatch(lines[0] as string, /hunter2/);
});

test('a pool timeout is load, not a fault: 503 with Retry-After and a fixed reason', () => {
  setDatabaseErrorLog(() => {});
  const response = respondDatabaseError(new LabError(LAB_ERR.POOL_TIMEOUT, `no connection to ${SECRET_URL} within 500 ms`));
  assert.equal(response.status, 503);
  assert.deepEqual(response.headers, ['Retry-After', '1']);
  assert.doesNotMatch(String(response.body), /hunter2|postgresql:|500 ms/);
});

test('scrubSecrets masks userinfo in any URL and password-like parameters', () => {
  assert.equal(scrubSecrets(`at ${SECRET_URL} now`), 'at postgresql://***@db.internal:5432/prod?password=***&sslmode=require now');
  assert.equal(scrubSecrets('redis://:pw@h/0 token=abc'), 'redis://***@h/0 token=***');
});

test("/stats shows the database's figures without its URL", () => {
  const database = {
    embedded: null,
    stats: () => ({ url: SECRET_URL, embedded: false, rows: 1000, size: 20, inUse: 1 }),
  } as unknown as Database;
  for (const mainPoolUsed of [true, false]) {
    const stats = databaseStats(database, mainPoolUsed);
    assert.doesNotMatch(JSON.stringify(stats), /hunter2|postgresql:|db\.internal/);
    assert.equal(stats.embedded, false);
  }
  assert.equal(databaseStats(database, true).rows, 1000);
});
