/**
 * A connection's own thread (model A). It lives as long as its connection and does one
 * thing at a time, blocking: it parks in Atomics.wait until the main thread hands it a
 * request (the way a thread parks in read(2) on its socket), answers it synchronously
 * (/work spins, /uuid blocks in libpq on this thread's own database connection), hands the
 * answer back and parks again. No event loop turns here while it works: that is the model.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { answerCall } from '../app/dispatch.js';
import { ROUTE } from '../app/routes.js';
import { openSyncSession, type SyncSession } from '../db/sync-session.js';
import type { HttpResponse } from '../http/response-writer.js';
import type { ConnectionThreadData, FromConnectionThread, ToConnectionThread } from './messages.js';

const data = workerData as ConnectionThreadData;
const wake = new Int32Array(data.wake);
const port = data.port;
/** Opened on the first /uuid: a thread that never queries holds no database connection. */
const db: { session: SyncSession | null } = { session: null };
const STATS_INTERVAL_MS = 1000;
let statsSentAt = 0;

function answer(message: Extract<ToConnectionThread, { type: 'request' }>): HttpResponse {
  const call = message.call;
  if (call.route === ROUTE.UUID && data.dbUrl !== null) db.session ??= openSyncSession(data.dbUrl);
  return answerCall(call, db.session);
}

for (;;) {
  // Read the counter before looking for a message: a message posted after the look bumps
  // the counter past `seen`, so the wait returns at once instead of sleeping through it.
  const seen = Atomics.load(wake, 0);
  const received = receiveMessageOnPort(port);
  if (received === undefined) {
    Atomics.wait(wake, 0, seen);
    continue;
  }
  const message = received.message as ToConnectionThread;
  if (message.type === 'exit') break;
  const response = answer(message);
  // The session's stats summarise and encode a histogram (~0.9 ms of CPU, measured in lab 2):
  // sent with an answer at most once a second, not with every one.
  const now = Date.now();
  const sendStats = db.session !== null && now - statsSentAt >= STATS_INTERVAL_MS;
  if (sendStats) statsSentAt = now;
  const reply: FromConnectionThread = { type: 'response', response, db: sendStats ? (db.session?.stats() ?? null) : null };
  port.postMessage(reply);
}

db.session?.close();
port.close();
