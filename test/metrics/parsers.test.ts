/**
 * The pure parsers, on /proc text captured from a real kernel (fixtures.ts): text in,
 * objects out, no I/O.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffCounters, nonZeroCounters, parseProtoCounters } from '../../src/metrics/kernel-counters.js';
import { classifyFdTarget, fdLimitFrom, parseChildPids, parseProcLimits, parseProcStat, parseProcStatus, summarizeFdTargets, ticksToMs } from '../../src/metrics/process-stats.js';
import { countPortRange } from '../../src/metrics/sysctls.js';
import { parseMonitorTargets, parseTarget } from '../../src/metrics/targets.js';
import { censusPort, censusTcpStates, censusTcpText, decodeProcAddress, findListeners, parseSsListeners, parseTcpLine, parseTcpTable } from '../../src/metrics/tcp-sockets.js';
import { FD_TARGETS, PROC_LIMITS, PROC_NET_NETSTAT, PROC_NET_SNMP, PROC_NET_TCP, PROC_NET_TCP6, PROC_STAT, PROC_STAT_ODD_NAME, PROC_STATUS, SS_LISTENERS } from './fixtures.js';

describe('parseTcpTable (/proc/net/tcp)', () => {
  const sockets = parseTcpTable(PROC_NET_TCP, 4, 'LE');

  it('skips the header and reads every socket line, the short TIME_WAIT line included', () => {
    assert.equal(sockets.length, 7);
    assert.deepEqual(
      sockets.map((s) => s.state),
      ['LISTEN', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'SYN_SENT', 'TIME_WAIT'],
    );
  });

  it('decodes little-endian addresses and hex ports', () => {
    assert.deepEqual(sockets[0], {
      family: 4,
      localAddress: '127.0.0.1',
      localPort: 35883,
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      state: 'LISTEN',
      txQueue: 0,
      rxQueue: 4,
      uid: 0,
      inode: 8351,
    });
    assert.equal(sockets[6]?.localPort, 43906);
    assert.equal(sockets[6]?.inode, 0, 'a TIME_WAIT socket belongs to no process');
  });

  it('reads a listener rx_queue as its accept-queue length (tx_queue stays 0: the max is not in /proc)', () => {
    const [listener] = findListeners(sockets, [35883]);
    assert.deepEqual(listener, { port: 35883, address: '127.0.0.1', family: 4, inode: 8351, queued: 4, max: null });
    assert.deepEqual(findListeners(sockets, [1]), []);
  });

  it('returns null for a header or a truncated line', () => {
    assert.equal(parseTcpLine(PROC_NET_TCP.split('\n')[0] as string, 4), null);
    assert.equal(parseTcpLine('   1: 0100007F:8C2B 00000000:0000 0A', 4), null);
  });
});

describe('parseTcpTable (/proc/net/tcp6)', () => {
  const sockets = parseTcpTable(PROC_NET_TCP6, 6, 'LE');

  it('reads the dual-stack listener as ::', () => {
    assert.equal(sockets[0]?.localAddress, '::');
    assert.equal(sockets[0]?.state, 'LISTEN');
    assert.equal(sockets[0]?.localPort, 46265);
  });

  it('shows an IPv4 client of a dual-stack listener as IPv4-mapped', () => {
    assert.equal(sockets[1]?.localAddress, '::ffff:127.0.0.1');
    assert.equal(sockets[1]?.remoteAddress, '::ffff:127.0.0.1');
    assert.equal(sockets[1]?.remotePort, 49468);
  });

  it('compresses zero runs (RFC 5952) and reads per-word byte order', () => {
    assert.equal(sockets[2]?.localAddress, '::1');
    assert.equal(sockets[2]?.state, 'CLOSE_WAIT');
    assert.equal(sockets[2]?.rxQueue, 16);
    assert.equal(sockets[2]?.uid, 1000);
    assert.equal(sockets[3]?.localAddress, 'fe80::263:2ff:fe12:e25a');
    assert.equal(sockets[3]?.remoteAddress, 'fe80::263:2ff:fe12:e25b');
    assert.equal(sockets[3]?.txQueue, 0x24);
  });

  it('decodes big-endian hosts without swapping', () => {
    assert.equal(decodeProcAddress('7F000001', 'BE'), '127.0.0.1');
    assert.equal(decodeProcAddress('0100007F', 'LE'), '127.0.0.1');
    assert.equal(decodeProcAddress('00000000000000000000000000000001', 'BE'), '::1');
    assert.equal(decodeProcAddress('20010DB8000000000000000000000000', 'BE'), '2001:db8::');
  });
});

describe('censusTcpStates and censusPort', () => {
  const sockets = parseTcpTable(PROC_NET_TCP, 4, 'LE');

  it('counts every state, zeros included', () => {
    const census = censusTcpStates(sockets);
    assert.equal(census.LISTEN, 1);
    assert.equal(census.ESTABLISHED, 4);
    assert.equal(census.SYN_SENT, 1);
    assert.equal(census.TIME_WAIT, 1);
    assert.equal(census.CLOSE_WAIT, 0);
  });

  it('splits a port into the server end (local port) and the clients on this machine (remote port)', () => {
    const { server, client } = censusPort(sockets, 35883);
    assert.equal(server.ESTABLISHED, 2);
    assert.equal(server.LISTEN, 0, 'the listener is reported apart, not as a connection');
    assert.equal(client.ESTABLISHED, 2);
    assert.equal(client.SYN_SENT, 1);
    assert.equal(client.TIME_WAIT, 1, 'the client closed first, so TIME_WAIT is on its end');
  });
});

describe('censusTcpText (the sampler fast path)', () => {
  it('agrees with the full parse on both tables', () => {
    const texts = [
      { text: PROC_NET_TCP, family: 4 as const },
      { text: PROC_NET_TCP6, family: 6 as const },
    ];
    const sockets = [...parseTcpTable(PROC_NET_TCP, 4, 'LE'), ...parseTcpTable(PROC_NET_TCP6, 6, 'LE')];
    const fast = censusTcpText(texts, [35883, 46265, 8080]);
    assert.deepEqual(fast.states, censusTcpStates(sockets));
    assert.deepEqual(fast.ports, [censusPort(sockets, 35883), censusPort(sockets, 46265), censusPort(sockets, 8080)]);
    assert.deepEqual(fast.listeners, findListeners(sockets, [35883, 46265, 8080]));
    assert.deepEqual(censusTcpText(texts).listeners, findListeners(sockets), 'no ports asked: every listener');
  });
});

describe('parseSsListeners', () => {
  it('maps each listening inode to Send-Q, the accept-queue maximum', () => {
    const capacities = parseSsListeners(SS_LISTENERS);
    assert.equal(capacities.get(8351), 4);
    assert.equal(capacities.get(8763), 511);
    assert.equal(capacities.get(2211), 4096);
    assert.equal(capacities.size, 3);
  });
});

describe('parseProtoCounters (/proc/net/netstat and /proc/net/snmp)', () => {
  it('pairs each names line with its values line, keyed Proto.Name', () => {
    const netstat = parseProtoCounters(PROC_NET_NETSTAT);
    assert.equal(netstat['TcpExt.ListenOverflows'], 5);
    assert.equal(netstat['TcpExt.ListenDrops'], 5);
    assert.equal(netstat['TcpExt.TW'], 11);
    assert.equal(netstat['IpExt.InOctets'], 69823724);
    const snmp = parseProtoCounters(PROC_NET_SNMP);
    assert.equal(snmp['Tcp.ActiveOpens'], 41);
    assert.equal(snmp['Tcp.MaxConn'], -1);
    assert.equal(snmp['Tcp.RetransSegs'], 0);
    assert.equal(snmp['IcmpMsg.InType3'], 1);
    assert.equal(snmp['Udp.InErrors'], 0, 'Udp.InErrors and Tcp.InErrs stay apart');
  });

  it('skips a names line whose values line is missing (a cut-short read)', () => {
    const counters = parseProtoCounters('Tcp: ActiveOpens PassiveOpens\nUdp: InDatagrams\nUdp: 7\n');
    assert.equal(counters['Tcp.ActiveOpens'], undefined);
    assert.equal(counters['Udp.InDatagrams'], 7);
  });

  it('diffs running totals and leaves gauges out', () => {
    const before = parseProtoCounters(PROC_NET_SNMP);
    const after = { ...before, 'Tcp.ActiveOpens': 141, 'Tcp.CurrEstab': 50 };
    const delta = diffCounters(before, after);
    assert.equal(delta['Tcp.ActiveOpens'], 100);
    assert.equal(delta['Tcp.CurrEstab'], undefined, 'CurrEstab is a level, not a total');
    assert.deepEqual(nonZeroCounters(delta), { 'Tcp.ActiveOpens': 100 });
    assert.deepEqual(diffCounters(before, after, ['Tcp.ActiveOpens', 'Tcp.EstabResets', 'No.Such']), {
      'Tcp.ActiveOpens': 100,
      'Tcp.EstabResets': 0,
      'No.Such': 0,
    });
  });
});

describe('parseProcStat, parseProcStatus, parseProcLimits', () => {
  it('reads stat fields counted from the last parenthesis', () => {
    const stat = parseProcStat(PROC_STAT);
    assert.deepEqual(stat, { pid: 5074, comm: 'node', state: 'R', ppid: 5071, utimeTicks: 6, stimeTicks: 1, threads: 7, startTicks: 48653 });
    const odd = parseProcStat(PROC_STAT_ODD_NAME);
    assert.equal(odd?.comm, 'tmux: (server) ');
    assert.equal(odd?.ppid, 1);
    assert.equal(ticksToMs((odd?.utimeTicks ?? 0) + (odd?.stimeTicks ?? 0)), 3750);
    assert.equal(parseProcStat('garbage'), null);
  });

  it('reads status: name, RSS in bytes, threads, the main thread context switches', () => {
    assert.deepEqual(parseProcStatus(PROC_STATUS), {
      name: 'node',
      state: 'R (running)',
      ppid: 5071,
      threads: 7,
      rssBytes: 43304 * 1024,
      voluntary: 6,
      involuntary: 1,
    });
  });

  it('reads limits whose names contain spaces, with unlimited and missing units', () => {
    const limits = parseProcLimits(PROC_LIMITS);
    assert.deepEqual(limits['Max open files'], { soft: 20000, hard: 20000, unit: 'files' });
    assert.deepEqual(limits['Max stack size'], { soft: 8388608, hard: 'unlimited', unit: 'bytes' });
    assert.deepEqual(limits['Max nice priority'], { soft: 0, hard: 0, unit: null });
    assert.equal(limits.Limit, undefined, 'the header is not a limit');
    assert.deepEqual(fdLimitFrom(limits), { soft: 20000, hard: 20000 });
  });
});

describe('FD kinds and children', () => {
  it('classifies link targets', () => {
    assert.equal(classifyFdTarget('socket:[8351]'), 'socket');
    assert.equal(classifyFdTarget('pipe:[7325]'), 'pipe');
    assert.equal(classifyFdTarget('anon_inode:[eventpoll]'), 'anon');
    assert.equal(classifyFdTarget('anon_inode:inotify'), 'anon');
    assert.equal(classifyFdTarget('/dev/null'), 'file');
    assert.equal(classifyFdTarget('net:[4026531840]'), 'other');
  });

  it('summarizes a process FD table with socket inodes and anon kinds', () => {
    const summary = summarizeFdTargets(FD_TARGETS);
    assert.deepEqual(summary.kinds, { socket: 2, pipe: 2, anon: 3, file: 2, other: 1 });
    assert.deepEqual(summary.anon, { '[eventfd]': 2, '[eventpoll]': 1 });
    assert.deepEqual(summary.socketInodes, [8351, 8765]);
  });

  it('reads /proc/PID/task/TID/children', () => {
    assert.deepEqual(parseChildPids('6845 6901 '), [6845, 6901]);
    assert.deepEqual(parseChildPids(''), []);
  });
});

describe('sysctl values and targets', () => {
  it('counts an ephemeral port range', () => {
    assert.equal(countPortRange('32768 60999'), 28232);
    assert.equal(countPortRange(null), null);
  });

  it('parses PID and :PORT targets and rejects anything else', () => {
    assert.deepEqual(parseTarget('1234'), { kind: 'pid', pid: 1234 });
    assert.deepEqual(parseTarget(':3000'), { kind: 'port', port: 3000 });
    for (const bad of ['', '0', ':0', ':65536', 'abc', '12a', '-1', '3000:', '99999999']) assert.equal(parseTarget(bad), null, bad);
    assert.deepEqual(parseMonitorTargets('monitor', '12,34,:8080'), { pids: [12, 34], ports: [8080] });
    assert.throws(() => parseMonitorTargets('monitor', '12,,34'), { code: 'LAB_ERR_CLI_USAGE' });
  });
});
