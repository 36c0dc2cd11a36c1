/**
 * Where the Wycheproof vector files are: test/vectors/wycheproof/ in this repository, so a clone
 * anywhere runs the vector tests. The files there are copied unchanged from C2SP/wycheproof
 * testvectors_v1 at commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, with the project's LICENSE
 * (Apache-2.0); the README.md beside them lists each file with its sha256.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const VECTORS_DIR = join(import.meta.dirname, 'wycheproof');

export function wycheproofDir(): string {
  return VECTORS_DIR;
}

export function wycheproofFile(name: string): URL {
  return pathToFileURL(join(VECTORS_DIR, name));
}
