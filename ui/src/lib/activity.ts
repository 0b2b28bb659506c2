// Tells the backend the citizen is still here (typing, clicking, scrolling), at most
// once every `every` ms, so the auto-lock clock restarts. Returns a function that stops.
export function reportActivity(
  ping: () => Promise<unknown>,
  every = 30_000,
  target: Pick<Window, "addEventListener" | "removeEventListener"> = window,
  now: () => number = Date.now,
): () => void {
  let last = -Infinity;
  const seen = () => {
    const t = now();
    if (t - last >= every) {
      last = t;
      ping().catch(() => {});
    }
  };
  const events = ["keydown", "pointerdown", "wheel"] as const;
  for (const e of events) target.addEventListener(e, seen, { passive: true });
  return () => {
    for (const e of events) target.removeEventListener(e, seen);
  };
}
