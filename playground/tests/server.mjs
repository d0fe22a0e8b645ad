// Starts the real cartql binary on port 0 with a temporary data directory,
// the way the Rust black-box tests do, and stops it when asked.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The binary under test: $CARTQL_BIN, else the debug build. */
export const binary = process.env.CARTQL_BIN || join(root, 'target', 'debug', 'cartql');

/** Starts it with `extraArgs` after the defaults and `env` added to the environment. */
export async function startServer(extraArgs = [], { env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cartql-js-'));
  const child = spawn(binary, ['--listen', '127.0.0.1:0', '--demo', '--data-dir', join(dir, 'data'), ...extraArgs], {
    env: { ...process.env, CARTQL_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cartql did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`cartql exited with ${code} before listening`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line.replace('cartql listening on ', '').trim());
    });
  });
  return {
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
