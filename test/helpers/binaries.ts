/**
 * Programs a test runs that npm does not install (HAProxy, nginx, openssl: Debian packages .ci/run
 * installs). Absent on a developer's machine, their tests skip with a loud notice; under
 * E2EE_CHAT_REQUIRE_SERVICES=1 (.ci/run) an absent one fails them instead, like PostgreSQL's (postgres.ts).
 */
import { spawnSync } from 'node:child_process';
import { REQUIRE_SERVICES_VAR } from './postgres.js';

export interface BinaryGate {
  /** True when the cases are to be skipped (a program is missing and services are not required). */
  readonly skip: boolean;
  /** Which programs are missing, or undefined when all are there. */
  readonly missing?: string;
}

/** Runs each program with its version flag once to tell whether it is installed. */
export function binaryGate(programs: ReadonlyArray<{ name: string; versionArgs: readonly string[]; apt: string }>): BinaryGate {
  const absent = programs.filter((p) => spawnSync(p.name, p.versionArgs, { stdio: 'ignore' }).error !== undefined);
  if (absent.length === 0) return { skip: false };
  const missing = `${absent.map((p) => p.name).join(', ')} not installed (apt-get install ${absent.map((p) => p.apt).join(' ')})`;
  const skip = process.env[REQUIRE_SERVICES_VAR] !== '1';
  if (skip) {
    const rule = '!'.repeat(100);
    console.warn(`\n${rule}\n!! SKIPPED the cases that need ${missing}.\n!! .ci/run installs them and sets ${REQUIRE_SERVICES_VAR}=1, under which this skip is a failure.\n${rule}\n`);
  }
  return { skip, missing };
}
