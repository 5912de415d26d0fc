// Shared settings of the fuzz tests: a seed that is printed (and can be given
// back with PALISADE_FUZZ_SEED to reproduce a failure), a few thousand cases in
// CI, and a time budget instead with PALISADE_FUZZ_SECONDS (npm run fuzz).
import type { Parameters } from 'fast-check';

export interface FuzzSettings {
  seed: number;
  /** fast-check parameters: bounded runs in CI, a time limit on demand. */
  params(ciRuns: number): Parameters<unknown>;
  describe(): string;
}

export function fuzzSettings(): FuzzSettings {
  const seed = process.env.PALISADE_FUZZ_SEED ? Number(process.env.PALISADE_FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const seconds = Number(process.env.PALISADE_FUZZ_SECONDS ?? 0);
  return {
    seed,
    params: (ciRuns) =>
      seconds > 0
        ? { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false }
        : { seed, numRuns: ciRuns },
    describe: () => `seed ${seed} (reproduce with PALISADE_FUZZ_SEED=${seed}); ${seconds > 0 ? `running for ${seconds} s` : 'CI budget'}`,
  };
}
