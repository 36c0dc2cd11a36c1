/**
 * Whether the Python interop suites run, skip or fail, decided in one place for both of them.
 *
 * A clone on a machine without the Python packages must still pass `npm test`, so there a suite whose
 * Python is missing is skipped, with a banner on stderr naming exactly what to install. CI must never
 * skip them silently: `.ci/run` installs the packages and sets E2EE_CHAT_REQUIRE_INTEROP=1, under which a
 * missing Python is a failure of the suite, with the same text.
 */

/** The variable that turns "Python missing, skip" into "Python missing, fail" (set by .ci/run). */
export const REQUIRE_INTEROP_VAR = 'E2EE_CHAT_REQUIRE_INTEROP';

export interface InteropGate {
  /** True when the suite's tests are to be skipped (Python missing and not required). */
  readonly skip: boolean;
  /** Throws the full explanation when the Python is missing and required; call it in beforeAll. */
  assertRunnable(): void;
}

/**
 * @param suite   what the suite is, for the notice ("Python interop (hybrid envelope)")
 * @param problem why its Python cannot run here, or undefined when it can
 * @param needs   what to install, named as Debian packages and Python requirements
 */
export function interopGate(suite: string, problem: string | undefined, needs: string): InteropGate {
  const required = process.env[REQUIRE_INTEROP_VAR] === '1';
  const explanation = `${suite} cannot run: ${problem}.\nNeeds: ${needs}`;
  const skip = problem !== undefined && !required;
  if (skip) {
    const rule = '!'.repeat(100);
    console.warn(
      `\n${rule}\n!! SKIPPED: ${explanation}\n!! .ci/run installs these and sets ${REQUIRE_INTEROP_VAR}=1, ` +
        `under which this skip is a failure.\n${rule}\n`,
    );
  }
  return {
    skip,
    assertRunnable() {
      if (problem !== undefined && required) throw new Error(`${explanation}\n(${REQUIRE_INTEROP_VAR}=1 is set, so this is a failure, not a skip.)`);
    },
  };
}
