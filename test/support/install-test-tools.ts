/**
 * Runs before the suite (npm test): the system tools some tests drive for real. On a
 * Debian/Ubuntu machine as root they are installed with apt-get, so that a fresh machine
 * runs every test; anywhere else nothing is installed and the tests that need a missing
 * tool skip themselves with the reason (this prints which).
 *
 *   chromium  the report's check in a real headless browser (test/report/browser.test.ts)
 *   strace    lab 1's syscalls per request
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const TOOLS = [
  { name: 'chromium', path: '/usr/bin/chromium', why: 'the report is checked in a headless browser' },
  { name: 'strace', path: '/usr/bin/strace', why: 'lab 1 counts syscalls per request' },
] as const;

function can(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const missing = TOOLS.filter((tool) => !existsSync(tool.path));
if (missing.length > 0) {
  const names = missing.map((tool) => tool.name);
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !can('apt-get')) {
    for (const tool of missing) {
      process.stdout.write(`test tools: ${tool.name} is not installed, so the test for which ${tool.why} will be skipped (install: apt-get install ${tool.name})\n`);
    }
  } else {
    process.stdout.write(`test tools: installing ${names.join(', ')} with apt-get (${missing.map((t) => t.why).join('; ')})\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = (): void => void execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...names], { stdio: 'inherit', env, timeout: 300_000 });
    try {
      install();
    } catch {
      // A fresh machine may have no package lists yet.
      try {
        execFileSync('apt-get', ['update'], { stdio: 'inherit', env, timeout: 300_000 });
        install();
      } catch (error) {
        process.stdout.write(
          `test tools: apt-get could not install ${names.join(', ')} (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); the tests that need them will skip\n`,
        );
      }
    }
  }
}
