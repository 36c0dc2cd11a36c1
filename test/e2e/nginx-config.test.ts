/**
 * deploy/nginx.conf, the nginx alternative docs/DEPLOY.md ships: nginx's own checker (`nginx -t`)
 * accepts it, with only its certificate and error log paths replaced. Without nginx or openssl the case
 * skips loudly, or fails under E2EE_CHAT_REQUIRE_SERVICES=1.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { binaryGate } from '../helpers/binaries.js';
import { selfSignedCertificate } from '../helpers/certificates.js';
import { REPO_ROOT } from './processes.js';
import { useProcesses } from './world.js';

const procs = useProcesses();
const tools = binaryGate([
  { name: 'nginx', versionArgs: ['-v'], apt: 'nginx-light' },
  { name: 'openssl', versionArgs: ['version'], apt: 'openssl' },
]);

describe.skipIf(tools.skip)('deploy/nginx.conf', () => {
  beforeAll(() => {
    if (tools.missing) throw new Error(`${tools.missing} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
  });

  it("passes nginx's own configuration test", () => {
    const dir = procs.tempDir('nginx-check');
    const certificate = selfSignedCertificate(dir);
    let text = readFileSync(join(REPO_ROOT, 'deploy/nginx.conf'), 'utf8');
    const swaps: Array<[string, string]> = [
      ['/etc/nginx/certs/chat.crt', certificate.certFile],
      ['/etc/nginx/certs/chat.key', certificate.keyFile],
      ['/var/log/nginx/error.log', join(dir, 'error.log')],
    ];
    for (const [from, to] of swaps) {
      expect(text, `deploy/nginx.conf no longer contains "${from}"`).toContain(from);
      text = text.replace(from, to);
    }
    const file = join(dir, 'nginx.conf');
    writeFileSync(file, text);
    // -p: a prefix of our own, so nothing of the machine's nginx (its pid, its temp folders) is touched.
    const check = spawnSync('nginx', ['-t', '-p', dir, '-c', file], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stderr).toMatch(/configuration file .* test is successful/);
  });
});
