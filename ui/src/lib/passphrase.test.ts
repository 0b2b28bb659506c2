import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { charCount, debounce, newPassphraseProblem, secondsLeft, strengthLabel } from "./passphrase";

describe("strengthLabel", () => {
  it("names every score and clamps odd ones", () => {
    expect([0, 1, 2, 3, 4].map(strengthLabel)).toEqual(["Very weak", "Weak", "Fair", "Strong", "Very strong"]);
    expect(strengthLabel(-1)).toBe("Very weak");
    expect(strengthLabel(9)).toBe("Very strong");
  });
});

describe("newPassphraseProblem", () => {
  it("asks for at least 10 characters", () => {
    expect(newPassphraseProblem("short", "short")).toBe("Use at least 10 characters.");
  });
  it("counts characters, not bytes", () => {
    expect(newPassphraseProblem("ééééééééé", "ééééééééé")).toBe("Use at least 10 characters.");
    expect(newPassphraseProblem("éééééééééé", "éééééééééé")).toBeNull();
  });
  it("asks for the two to match", () => {
    expect(newPassphraseProblem("correct horse battery", "correct horse")).toBe(
      "The two passphrases are not the same.",
    );
  });
  it("counts code points as the backend does", () => {
    expect(charCount("🙂🙂")).toBe(2);
  });
  it("accepts a long one typed twice", () => {
    expect(newPassphraseProblem("correct horse battery", "correct horse battery")).toBeNull();
  });
});

describe("debounce", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());
  it("runs once with the last value after the wait", () => {
    const seen: string[] = [];
    const d = debounce((v: string) => seen.push(v), 250);
    d.call("a");
    vi.advanceTimersByTime(100);
    d.call("ab");
    vi.advanceTimersByTime(249);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual(["ab"]);
  });
  it("can be cancelled", () => {
    const seen: string[] = [];
    const d = debounce((v: string) => seen.push(v), 250);
    d.call("a");
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(seen).toEqual([]);
  });
});

describe("secondsLeft", () => {
  it("rounds up and stops at zero", () => {
    expect(secondsLeft(10_000, 8_001)).toBe(2);
    expect(secondsLeft(10_000, 9_000)).toBe(1);
    expect(secondsLeft(10_000, 10_000)).toBe(0);
    expect(secondsLeft(10_000, 12_000)).toBe(0);
  });
});
