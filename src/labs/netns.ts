/**
 * Private network namespaces for the labs that must change the network itself: a sysctl
 * such as tcp_abort_on_overflow or ip_local_port_range (per namespace, so the machine's own
 * stays untouched), or a "remote" client behind a veth pair with a shaped link.
 *
 * Needs root and iproute2. Every namespace and veth made here is deleted when the lab ends
 * (tracked as a lab resource), and names carry the PID so two runs never collide and a later
 * run can remove what a killed one left (stale-network.ts).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import type { LabContext } from './types.js';
import { hasCommand, isRoot } from './kit.js';
import { namespaceName, reapStaleNetworkOnce } from './stale-network.js';

const run = promisify(execFile);

export interface Namespace {
  name: string;
  /** Run a command inside the namespace to completion. */
  exec(command: string, args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Start a long-running command inside the namespace. */
  spawn(command: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Set a (per-namespace) sysctl, e.g. net.ipv4.tcp_abort_on_overflow. */
  sysctl(key: string, value: string): Promise<void>;
  readSysctl(key: string): Promise<string>;
  delete(): Promise<void>;
}

/** Why namespaces cannot be made here, or null when they can. */
export async function namespaceUnavailableReason(): Promise<string | null> {
  if (process.platform !== 'linux') return 'network namespaces are a Linux feature';
  if (!isRoot()) return 'creating a network namespace needs root (run as root or with CAP_NET_ADMIN)';
  if (!hasCommand('ip')) return 'the ip command (iproute2) is not installed';
  const probe = namespaceName('probe', process.pid, 0);
  try {
    await run('ip', ['netns', 'add', probe]);
    await run('ip', ['netns', 'delete', probe]);
    return null;
  } catch (error) {
    return `ip netns add failed: ${firstLine(error)}`;
  }
}

let counter = 0;

/**
 * A new namespace with its loopback up, deleted when the lab ends. The first one a process
 * makes first removes those that killed runs left behind.
 */
export async function createNamespace(lab: LabContext, label: string): Promise<Namespace> {
  await reapStaleNetworkOnce();
  counter += 1;
  const name = namespaceName(label, process.pid, counter);
  await run('ip', ['netns', 'add', name]);
  const namespace: Namespace = {
    name,
    exec: (command, args) => run('ip', ['netns', 'exec', name, command, ...args]),
    spawn: (command, args, env) => spawn('ip', ['netns', 'exec', name, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }),
    async sysctl(key, value) {
      await run('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', `${key}=${value}`]);
    },
    async readSysctl(key) {
      return (await run('ip', ['netns', 'exec', name, 'sysctl', '-n', key])).stdout.trim();
    },
    async delete() {
      await run('ip', ['netns', 'delete', name]).catch(() => {});
    },
  };
  lab.track({ name: `network namespace ${name}`, stop: () => namespace.delete() });
  await namespace.exec('ip', ['link', 'set', 'lo', 'up']);
  return namespace;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? (error as { stderr?: string }).stderr || error.message : String(error);
  return text.trim().split('\n')[0] ?? text;
}
