// Pure helpers for the "For you" screen: grouping what the rules worked out, words for
// reminders, criteria and decision checks, the tax-return lines the citizen accepted (with
// their edits read back as the kind of value proposed), and the fields a "what if" can
// change. No state, no storage, no logging: every function takes what it needs and
// returns values or text.
import type {
  CriterionOutcome,
  LineOutcome,
  Outcome,
  PrefillLineInput,
  ReminderOutcome,
  Verdict,
} from "./api-types";
import { formatIsoDate } from "./format";
import { describeValue } from "./values";

/** One outcome's key among all packs: a rule id is unique only within its pack. */
export const outcomeKey = (o: Pick<Outcome, "publisher" | "pack" | "rule">): string =>
  `${o.publisher}/${o.pack}/${o.rule}`;

/** What the screen lists, in its sections. */
export interface Groups {
  /** Reminders due now (in their window), soonest (or most overdue) first. */
  reminders: Outcome[];
  /** Eligibility rules whose every criterion is met. */
  eligible: Outcome[];
  /** Eligibility rules that need a value the twin does not have (or a category turned on). */
  undecided: Outcome[];
  /** Eligibility rules with a fault that stopped the check. */
  couldNotCheck: Outcome[];
  /** Eligibility rules a criterion rules out. */
  notApply: Outcome[];
  /** Pre-fill rules whose criteria are met: forms that can be filled in. */
  prefills: Outcome[];
}

/** Sorts the outcomes into the screen's sections; anything else is not listed. */
export function groupOutcomes(outcomes: readonly Outcome[]): Groups {
  const g: Groups = { reminders: [], eligible: [], undecided: [], couldNotCheck: [], notApply: [], prefills: [] };
  for (const o of outcomes) {
    if (o.kind === "reminder") {
      if (o.reminder?.in_window) g.reminders.push(o);
    } else if (o.kind === "prefill") {
      if (o.status === "applies") g.prefills.push(o);
    } else {
      switch (o.status) {
        case "applies":
          g.eligible.push(o);
          break;
        case "undecided":
          g.undecided.push(o);
          break;
        case "could_not_check":
          g.couldNotCheck.push(o);
          break;
        case "does_not_apply":
          g.notApply.push(o);
          break;
      }
    }
  }
  // Stable sort: equal days keep the packs' order.
  g.reminders.sort((a, b) => (a.reminder?.days_left ?? 0) - (b.reminder?.days_left ?? 0));
  return g;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-GB")} ${n === 1 ? one : many}`;
}

/** Whether a reminder's day has passed. */
export const isOverdue = (r: ReminderOutcome): boolean => r.days_left < 0;

/**
 * When a reminder is due, in words: "due 5 January 2027, in 46 days", "due tomorrow,
 * 21 November 2026", "due today, 20 November 2026", "overdue: it was due 1 October
 * 2026, 50 days ago".
 */
export function dueWords(r: ReminderOutcome): string {
  const date = formatIsoDate(r.due);
  const n = r.days_left;
  if (n < 0) return `overdue: it was due ${date}, ${plural(-n, "day")} ago`;
  if (n === 0) return `due today, ${date}`;
  if (n === 1) return `due tomorrow, ${date}`;
  return `due ${date}, in ${plural(n, "day")}`;
}

type CriterionResult = CriterionOutcome["result"];

/** The mark shown before a criterion (hidden from screen readers, which get the words). */
export const criterionMarks: Record<CriterionResult, string> = {
  met: "✓",
  not_met: "✗",
  undecided: "?",
  could_not_check: "!",
};

/** A criterion's result in words, for screen readers (and the mark's meaning). */
export const criterionWords: Record<CriterionResult, string> = {
  met: "Met",
  not_met: "Not met",
  undecided: "Not known yet",
  could_not_check: "Could not check",
};

/**
 * A criterion's line without the ✓/✗ the engine appends (the screen shows its own mark):
 * "Age 67 ≥ 66"; for an undecided criterion its hint ("Add your date of birth to check
 * this"); for one that could not be checked, why.
 */
export function criterionText(c: CriterionOutcome): string {
  if (c.result === "undecided") return c.hint || c.explanation;
  if (c.result === "could_not_check") return c.explanation || (c.why ? `Couldn't check: ${c.why}` : "Couldn't check");
  return c.explanation.replace(/\s*[✓✗]\s*$/u, "");
}

/** A tax-return line as a test-id part: "1.2" → "1-2". */
export const lineId = (line: string): string => line.replace(/\./g, "-");

/** What the citizen chose for one proposed line. */
export interface LineChoice {
  /** Ticked "Use". */
  use: boolean;
  /** The value was turned into an edit box. */
  editing: boolean;
  /** The edit box's text (the proposed value as text until edited). */
  text: string;
}

/** Whether a line's proposed value can be edited (text or a number). */
export function editable(l: LineOutcome): boolean {
  return l.result === "proposed" && (typeof l.value === "number" || typeof l.value === "string");
}

/** The edit box's first text for a proposed value. */
export function lineEditText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return "";
}

/** The first choices for a form: every proposed line used, none edited. */
export function initialChoices(lines: readonly LineOutcome[]): Record<string, LineChoice> {
  const out: Record<string, LineChoice> = {};
  for (const l of lines) {
    if (l.result !== "proposed") continue;
    out[l.line] = { use: true, editing: false, text: lineEditText(l.value) };
  }
  return out;
}

const GROUPED = /^\d{1,3}(,\d{3})+(\.\d+)?$/;
const PLAIN = /^(\d+(\.\d*)?|\.\d+)$/;

/**
 * A number as people type it: "18250.50", "18,250.50", "£18,250.50", "-5". Null when the
 * text is not a number (letters, two decimal points, commas out of place, empty).
 */
export function parseNumber(text: string): number | null {
  let t = text.trim().replace(/\s+/g, "");
  let sign = 1;
  if (t.startsWith("-")) {
    sign = -1;
    t = t.slice(1);
  }
  if (t.startsWith("£")) t = t.slice(1);
  if (!PLAIN.test(t) && !GROUPED.test(t)) return null;
  const n = Number(t.replace(/,/g, ""));
  return Number.isFinite(n) ? sign * n : null;
}

/** The longest text a return line may hold (the twin's schema). */
export const MAX_LINE_TEXT = 300;

export type ParsedEdit = { ok: true; value: number | string } | { ok: false; message: string };

/**
 * Reads an edited line back as the kind of value proposed: a number stays a number (text
 * that is not one is refused), text stays text.
 */
export function parseLineEdit(line: string, proposed: unknown, text: string): ParsedEdit {
  if (typeof proposed === "number") {
    const n = parseNumber(text);
    if (n === null) {
      return {
        ok: false,
        message: `Line ${line} needs a number, like 18250.50 — no letters or other signs. Change it, or untick “Use”.`,
      };
    }
    return { ok: true, value: n };
  }
  const t = text.trim();
  if (!t) return { ok: false, message: `Line ${line} is empty. Type what it should say, or untick “Use”.` };
  if (t.length > MAX_LINE_TEXT) {
    return { ok: false, message: `Line ${line} can be at most ${MAX_LINE_TEXT} characters long.` };
  }
  return { ok: true, value: t };
}

/**
 * The lines to send for acceptance: every proposed line ticked "Use", with its proposed
 * value, or its edit read back as the same kind. Problems are per line (nothing is sent
 * while there is one).
 */
export function acceptedLines(
  lines: readonly LineOutcome[],
  choices: Readonly<Record<string, LineChoice>>,
): { lines: PrefillLineInput[]; problems: Record<string, string> } {
  const out: PrefillLineInput[] = [];
  const problems: Record<string, string> = {};
  for (const l of lines) {
    const c = choices[l.line];
    if (l.result !== "proposed" || !c?.use) continue;
    if (c.editing && editable(l)) {
      const p = parseLineEdit(l.line, l.value, c.text);
      if (p.ok) out.push({ line: l.line, value: p.value });
      else problems[l.line] = p.message;
    } else {
      out.push({ line: l.line, value: l.value });
    }
  }
  return { lines: out, problems };
}

/** A field a "what if" can change, by title when the twin has one. */
export interface WhatIfField {
  path: string;
  title: string;
}

/** Every field any rule read, once, in the order of their titles. */
export function whatIfFields(outcomes: readonly Outcome[], titles: ReadonlyMap<string, string>): WhatIfField[] {
  const paths = new Set<string>();
  for (const o of outcomes) for (const p of o.fields_read) paths.add(p);
  return [...paths]
    .map((path) => ({ path, title: titles.get(path) ?? path }))
    .sort((a, b) => a.title.localeCompare(b.title, "en-GB") || a.path.localeCompare(b.path));
}

/** The banner over what-if results. */
export function whatIfBanner(title: string, value: string): string {
  return `What if ${title} were ${value}: your twin is not changed.`;
}

/** A decision check's verdict in a few words. */
export const verdictWords: Record<Verdict, string> = {
  agree: "Follows the published rule",
  disagree: "Does not follow the published rule",
  undecided: "Not enough shared details to tell",
  could_not_check: "Could not be checked",
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A value as lines to show in a review: accepted return lines as "Line 1.2, Pay from
 * employment: 18,250.5"; other values as the twin screens show them.
 */
export function valueLines(value: unknown): string[] {
  if (Array.isArray(value) && value.length > 0 && value.every((e) => isPlainObject(e) && "line" in e && "value" in e)) {
    return value.map((e) => {
      const x = e as Record<string, unknown>;
      const label = typeof x.label === "string" && x.label ? `, ${x.label}` : "";
      return `Line ${String(x.line)}${label}: ${describeValue(x.value).lines.join(", ")}`;
    });
  }
  return describeValue(value).lines;
}

/** The values a decision check used, as [title, text] pairs in the order given. */
export function valuesUsed(values: unknown, titles: ReadonlyMap<string, string>): [string, string][] {
  if (!isPlainObject(values)) return [];
  return Object.entries(values).map(([path, v]) => [titles.get(path) ?? path, valueLines(v).join("; ")]);
}
