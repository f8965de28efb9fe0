/**
 * The keeper of a listening socket (see listen-descriptors.ts): a child process that holds
 * one more descriptor for the listening socket and does nothing with it. Because it never
 * listens or polls, it never accepts; its only job is to keep the kernel socket, and the
 * accept queue inside it, alive while a paced server has closed its own descriptor
 * (acceptor.ts), and to hand the server a fresh descriptor (SCM_RIGHTS over the IPC channel)
 * when asked (acceptor.ts, accept-fanout.ts).
 */
let held: unknown = null;

process.on('message', (message: { type?: string }, handle: unknown) => {
  if (message.type === 'hold') {
    held = handle;
    process.send?.({ type: 'held' });
  } else if (message.type === 'dup' && held !== null) {
    process.send?.({ type: 'dup' }, held as never);
  }
});

// The server went away (or closed the channel on shutdown): drop the socket with us.
process.on('disconnect', () => process.exit(0));
