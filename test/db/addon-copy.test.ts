/**
 * The libpq addon's private copy (a worker thread cannot load the shared one: it is not
 * context-aware) must not be writable or swappable by another local user between the copy
 * and dlopen(). The copy used to go to a guessable name in the temp dir
 * (socketlab-libpq-<pid>-<thread>-<time>.node), written without an exclusive flag: a link
 * planted there in advance was followed. Now it goes into a fresh mkdtemp folder (0700),
 * with COPYFILE_EXCL, and the folder is removed after loading.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { loadPgNative } from '../../src/db/driver.js';
import { waitForEvent } from '../support/wait.js';

const DRIVER_MODULE = new URL('../../src/db/driver.js', import.meta.url).href;

/**
 * The attacker's move, made in the worker right before it loads the addon: a link, under
 * the name the copy would get (pid, thread id and a clock frozen here), to a file of the
 * victim's. Another user could make it ahead of time in a shared /tmp.
 */
const WORKER_SOURCE = `
const { parentPort, workerData, threadId } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
Date.now = () => workerData.frozenNow;
const planted = path.join(workerData.tmp, 'socketlab-libpq-' + process.pid + '-' + threadId + '-' + workerData.frozenNow.toString(36) + '.node');
fs.symlinkSync(workerData.victim, planted);
import(workerData.driverModule).then((driver) => {
  const loaded = driver.loadPgNative();
  parentPort.postMessage({ loaded: 'Client' in loaded, error: loaded.error ?? null, planted });
}).catch((error) => parentPort.postMessage({ loaded: false, error: String(error && error.stack || error) }));
`;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'socketlab-addon-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("a worker's private copy of the libpq addon never goes through a planted link, and leaves nothing behind", async () => {
  // The main thread loads it first, so the worker gets "did not self-register" and copies.
  const main = loadPgNative();
  assert.ok('Client' in main, `pg-native must load on the main thread: ${'error' in main ? main.error : ''}`);
  const victim = path.join(tmp, 'victim');
  fs.writeFileSync(victim, 'untouched\n');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driverModule: DRIVER_MODULE, tmp, victim, frozenNow: 1_700_000_000_000 },
    // os.tmpdir() in the worker reads TMPDIR: the copy is made in this test's folder.
    env: { ...process.env, TMPDIR: tmp },
  });
  const [report] = (await waitForEvent(worker, 'message', 30_000)) as [{ loaded: boolean; error: string | null; planted: string }];
  await worker.terminate();
  assert.equal(report.error, null);
  assert.ok(report.loaded, 'the worker loaded its own copy of pg-native');
  assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched\n', 'the copy was not written through the planted link');
  assert.ok(fs.lstatSync(report.planted).isSymbolicLink(), 'the planted link is still just a link');
  const left = fs.readdirSync(tmp).filter((name) => name !== 'victim' && name !== path.basename(report.planted));
  assert.deepEqual(left, [], 'the private copy folder was removed after loading');
});
