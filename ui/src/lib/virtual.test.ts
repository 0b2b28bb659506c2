import { describe, expect, it } from "vitest";
import { scrollToShow, visibleRows } from "./virtual";

describe("visibleRows", () => {
  it("renders nothing for an empty list", () => {
    expect(visibleRows(0, 40, 0, 400)).toEqual({ start: 0, end: 0, offset: 0, total: 0 });
  });

  it("renders the first screenful plus overscan at the top", () => {
    const w = visibleRows(10_000, 40, 0, 400, 5);
    expect(w.start).toBe(0);
    expect(w.end).toBe(15);
    expect(w.offset).toBe(0);
    expect(w.total).toBe(400_000);
  });

  it("renders only a window in the middle of a long list", () => {
    const w = visibleRows(10_000, 40, 40_000, 400, 5);
    expect(w.start).toBe(995);
    expect(w.end).toBe(1015);
    expect(w.offset).toBe(995 * 40);
    expect(w.end - w.start).toBeLessThan(30);
  });

  it("clamps at the bottom and past-the-end scroll positions", () => {
    const w = visibleRows(100, 40, 1_000_000, 400, 2);
    expect(w.end).toBe(100);
    expect(w.start).toBe(88);
  });

  it("shows every row of a short list", () => {
    const w = visibleRows(3, 40, 0, 400, 5);
    expect([w.start, w.end]).toEqual([0, 3]);
  });

  it("treats negative scroll (overscroll bounce) as the top", () => {
    expect(visibleRows(100, 40, -50, 400, 0).start).toBe(0);
  });
});

describe("scrollToShow", () => {
  it("leaves a visible row alone", () => {
    expect(scrollToShow(2, 40, 0, 400)).toBeNull();
  });
  it("scrolls up to a row above", () => {
    expect(scrollToShow(1, 40, 200, 400)).toBe(40);
  });
  it("scrolls down so a row below sits at the bottom", () => {
    expect(scrollToShow(20, 40, 0, 400)).toBe(440);
  });
});
