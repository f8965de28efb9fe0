/**
 * The kernel's verdict (an errno on a socket error) → one of FAILURE's kinds. Timeouts,
 * malformed responses and early closes are decided by the engine itself, not here.
 */
import { FAILURE, type FailureKind } from './constants.js';

const BY_ERRNO: Readonly<Record<string, FailureKind>> = {
  ECONNREFUSED: FAILURE.REFUSED,
  ECONNRESET: FAILURE.RESET,
  // Writing into a connection the peer already reset; the same event seen from the write side.
  EPIPE: FAILURE.RESET,
  ECONNABORTED: FAILURE.RESET,
  // The kernel's own SYN retries ran out (about 2 minutes with tcp_syn_retries=6) before ours did.
  ETIMEDOUT: FAILURE.CONNECT_TIMEOUT,
  EADDRNOTAVAIL: FAILURE.EADDRNOTAVAIL,
  // bind() to a local address/port that is taken: also "no free source port", seen with --local-address.
  EADDRINUSE: FAILURE.EADDRNOTAVAIL,
  EMFILE: FAILURE.EMFILE,
  ENFILE: FAILURE.EMFILE,
};

export function classifyErrno(code: string | undefined): FailureKind {
  return (code !== undefined ? BY_ERRNO[code] : undefined) ?? FAILURE.OTHER;
}
