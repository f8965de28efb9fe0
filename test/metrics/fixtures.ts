/**
 * /proc text captured on the development machine (Linux 6.18, x86_64, little-endian),
 * trimmed to the lines the tests need. Trailing spaces are the kernel's: /proc/net/tcp pads
 * every IPv4 line to 149 characters, and TIME_WAIT lines have fewer fields.
 */

/** A listener on 127.0.0.1:35883 with backlog 4, blocked so nothing is accepted, and ten clients. */
export const PROC_NET_TCP = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     ',
  '   1: 0100007F:8C2B 00000000:0000 0A 00000000:00000004 00:00000000 00000000     0        0 8351 5 000000000f7b1d6c 100 0 0 10 0                      ',
  '   2: 0100007F:8C2B 0100007F:DD86 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000069d97c91 20 0 0 10 -1                         ',
  '   3: 0100007F:8C2B 0100007F:DD76 01 00000000:00000000 00:00000000 00000000     0        0 8362 1 00000000492fd3f9 20 0 0 10 -1                      ',
  '   6: 0100007F:DD76 0100007F:8C2B 01 00000000:00000000 00:00000000 00000000     0        0 8352 2 000000007cadd8b9 20 0 0 10 -1                      ',
  '   7: 0100007F:DD84 0100007F:8C2B 01 00000000:00000000 00:00000000 00000000     0        0 8353 2 00000000cd9c4f13 20 0 0 10 -1                      ',
  '  11: 0100007F:DDAA 0100007F:8C2B 02 00000001:00000000 01:00000045 00000000     0        0 8357 2 00000000502dc5ba 100 0 0 10 -1                     ',
  '  12: 0100007F:AB82 0100007F:8C2B 06 00000000:00000000 03:0000176A 00000000     0        0 0 3 000000004d2155b3                                      ',
  '',
].join('\n');

/** A dual-stack listener on :::46265, a v4 client through it (IPv4-mapped), and a ::1 connection. */
export const PROC_NET_TCP6 = [
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 00000000000000000000000000000000:B4B9 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8763 1 00000000a98f5cd0 100 0 0 10 0',
  '   1: 0000000000000000FFFF00000100007F:B4B9 0000000000000000FFFF00000100007F:C13C 01 00000000:00000000 00:00000000 00000000     0        0 8765 1 0000000075654f07 20 0 0 10 -1',
  '   2: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:E2A4 08 00000000:00000010 00:00000000 00000000  1000        0 9001 1 0000000011111111 20 4 30 10 -1',
  '   3: 000080FE00000000FF0263025AE212FE:0016 000080FE00000000FF0263025BE212FE:D431 01 00000024:00000000 01:00000014 00000000     0        0 9002 4 0000000022222222 20 4 25 10 -1',
  '',
].join('\n');

/** `ss -Hltne` with the same listener (Send-Q is sk_max_ack_backlog). */
export const SS_LISTENERS = [
  'LISTEN 4      4      127.0.0.1:35883 0.0.0.0:* ino:8351 sk:1 cgroup:/ <->',
  'LISTEN 0      511          *:46265       *:* ino:8763 sk:2 cgroup:/ v6only:0 <->',
  'LISTEN 0      4096   127.0.0.53%lo:53    0.0.0.0:* uid:101 ino:2211 sk:3 cgroup:/system.slice <->',
  '',
].join('\n');

export const PROC_NET_NETSTAT = [
  'TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits',
  'TcpExt: 0 0 0 0 0 0 0 0 0 0 11 0 0 0 0 0 0 0 0 4 0 40 5 5 25',
  'IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets',
  'IpExt: 0 0 0 0 0 0 69823724 266935',
  '',
].join('\n');

export const PROC_NET_SNMP = [
  'Ip: Forwarding DefaultTTL InReceives InHdrErrors',
  'Ip: 2 64 2551 0',
  'IcmpMsg: InType3',
  'IcmpMsg: 1',
  'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors',
  'Tcp: 1 200 120000 -1 41 9 3 4 0 2529 1811 0 0 41 0',
  'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
  'Udp: 21 0 0 22 0 0 0 0 0',
  '',
].join('\n');

/** /proc/PID/stat of a node process, and one whose comm has spaces and parentheses. */
export const PROC_STAT =
  '5074 (node) R 5071 5071 2927 0 -1 4194304 2760 0 4 0 6 1 0 0 20 0 7 0 48653 746270720 10789 18446744073709551615 11988992 39846385 140732034456432 0 0 0 0 16781312 17922 0 0 0 17 1 0 0 0 0 0 90418888 90555584 158150656 140732034464478 140732034464494 140732034464494 140732034465770 0\n';
export const PROC_STAT_ODD_NAME =
  '812 (tmux: (server) ) S 1 812 812 0 -1 4194368 1000 0 0 0 250 125 0 0 20 0 1 0 3000 9000000 700 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n';

export const PROC_STATUS = [
  'Name:\tnode',
  'Umask:\t0022',
  'State:\tR (running)',
  'Tgid:\t5074',
  'Pid:\t5074',
  'PPid:\t5071',
  'FDSize:\t256',
  'VmPeak:\t  729912 kB',
  'VmRSS:\t   43304 kB',
  'RssAnon:\t    7276 kB',
  'Threads:\t7',
  'Cpus_allowed_list:\t0-1',
  'voluntary_ctxt_switches:\t6',
  'nonvoluntary_ctxt_switches:\t1',
  '',
].join('\n');

export const PROC_LIMITS = [
  'Limit                     Soft Limit           Hard Limit           Units     ',
  'Max cpu time              unlimited            unlimited            seconds   ',
  'Max stack size            8388608              unlimited            bytes     ',
  'Max processes             96365                96365                processes ',
  'Max open files            20000                20000                files     ',
  'Max nice priority         0                    0                    ',
  'Max realtime timeout      unlimited            unlimited            us        ',
  '',
].join('\n');

/** readlink of every /proc/PID/fd/N of a node process with stdio on files and pipes. */
export const FD_TARGETS = [
  '/dev/null',
  '/tmp/bash_jobs.0/9abb7056c200/stdout',
  'pipe:[7325]',
  'pipe:[7325]',
  'anon_inode:[eventfd]',
  'anon_inode:[eventpoll]',
  'anon_inode:[eventfd]',
  'socket:[8351]',
  'socket:[8765]',
  'net:[4026531840]',
];
