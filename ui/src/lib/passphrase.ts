// The passphrase forms' rules as the UI states them. The backend decides what it
// accepts (at least 10 characters); the zxcvbn score comes from the backend too.

export const MIN_LENGTH = 10;

/** The meter's words for a zxcvbn score of 0–4 (colour is never the only signal). */
export function strengthLabel(score: number): string {
  return ["Very weak", "Weak", "Fair", "Strong", "Very strong"][Math.max(0, Math.min(4, Math.round(score)))]!;
}

/** Characters as the backend counts them (Unicode code points, not UTF-16 units). */
export function charCount(text: string): number {
  return [...text].length;
}

/**
 * What stops a new passphrase from being used, in plain words, or null if it can be.
 * Only the length and the match are checked here, from what is typed now (a strength
 * estimate may be up to 250 ms old); the backend checks the length again.
 */
export function newPassphraseProblem(passphrase: string, confirm: string): string | null {
  if (charCount(passphrase) < MIN_LENGTH) return `Use at least ${MIN_LENGTH} characters.`;
  if (confirm !== passphrase) return "The two passphrases are not the same.";
  return null;
}

/**
 * Calls `run` with the latest value once `wait` ms pass without a new one. Answers
 * that arrive for an older value are dropped by the caller comparing values.
 */
export function debounce<A extends unknown[]>(
  run: (...args: A) => void,
  wait = 250,
  timers: Pick<typeof globalThis, "setTimeout" | "clearTimeout"> = globalThis,
): { call: (...args: A) => void; cancel: () => void } {
  let t: ReturnType<typeof setTimeout> | undefined;
  return {
    call: (...args: A) => {
      if (t !== undefined) timers.clearTimeout(t);
      t = timers.setTimeout(() => {
        t = undefined;
        run(...args);
      }, wait);
    },
    cancel: () => {
      if (t !== undefined) timers.clearTimeout(t);
      t = undefined;
    },
  };
}

/** Whole seconds left until `deadline` (ms), never negative: the unlock button's countdown. */
export function secondsLeft(deadline: number, now: number): number {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}
