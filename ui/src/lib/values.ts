// How a twin field's value reads on screen and in an edit box. Values come from the
// backend as JSON; these helpers only shape them for people.
import type { Category, FieldKind } from "./api-types";
import { formatIsoDate, isIsoDate } from "./format";

/** The categories' names in plain words. */
export const categoryTitles: Record<Category, string> = {
  personal: "About you",
  government: "Government",
  health: "Health",
  social: "Social",
};

/** Text for a single (non-list) value: dates in words, numbers with separators. */
export function describeScalar(value: unknown): string {
  if (value === null || value === undefined) return "Not set";
  if (typeof value === "string") return isIsoDate(value) ? formatIsoDate(value) : value;
  if (typeof value === "number") return value.toLocaleString("en-GB", { maximumFractionDigits: 6 });
  if (typeof value === "boolean") return value ? "Yes" : "No";
  return JSON.stringify(value);
}

function words(key: string): string {
  const w = key.replace(/_/g, " ");
  return w.charAt(0).toUpperCase() + w.slice(1);
}

/** One list entry as a line: "Flu, 1 October 2025" or "Metformin · dose 500 mg · schedule twice a day". */
export function describeEntry(entry: unknown): string {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    return describeScalar(entry);
  }
  const obj = entry as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 0) return "(empty entry)";
  const parts: string[] = [];
  // A "name" leads, as the entry's title.
  if (typeof obj.name === "string") parts.push(obj.name);
  for (const k of keys) {
    if (k === "name") continue;
    const v = obj[k];
    if (v === null || v === undefined || v === "") continue;
    parts.push(k === "date" ? describeScalar(v) : `${words(k).toLowerCase()} ${describeScalar(v)}`);
  }
  return parts.join(" · ");
}

/** A value as lines to show: one line for a plain value, one per entry for a list. */
export function describeValue(value: unknown): { empty: boolean; lines: string[] } {
  if (value === null || value === undefined) return { empty: true, lines: ["Not set"] };
  if (Array.isArray(value)) {
    if (value.length === 0) return { empty: true, lines: ["An empty list"] };
    return { empty: false, lines: value.map(describeEntry) };
  }
  return { empty: false, lines: [describeScalar(value)] };
}

/** What an edit box starts with: the value as the backend reads it back (lists as JSON). */
export function editText(value: unknown, kind: FieldKind): string {
  if (value === null || value === undefined) return kind === "list" ? "[]" : "";
  if (kind === "list") return JSON.stringify(value, null, 2);
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return JSON.stringify(value);
}

export interface InputShape {
  /** Use a multi-line box. */
  multiline: boolean;
  /** The <input type>. */
  type: "text" | "number";
  /** Keyboard hint for on-screen keyboards. */
  inputmode: "text" | "numeric" | "decimal" | "email" | "tel" | undefined;
  /** A placeholder for a format (dates), or undefined. */
  placeholder: string | undefined;
  /** Step for number inputs. */
  step: string | undefined;
}

/** The kind of edit box a field needs, from its kind, path and hint. */
export function inputShape(kind: FieldKind, path: string, hint: string): InputShape {
  const base: InputShape = {
    multiline: false,
    type: "text",
    inputmode: undefined,
    placeholder: undefined,
    step: undefined,
  };
  if (kind === "list") return { ...base, multiline: true };
  if (kind === "integer") return { ...base, type: "number", inputmode: "numeric", step: "1" };
  if (kind === "number") return { ...base, type: "number", inputmode: "decimal", step: "any" };
  if (/year-month-day/i.test(hint) || /date|expires/.test(path)) {
    return { ...base, placeholder: "YYYY-MM-DD", inputmode: "numeric" };
  }
  if (/email/.test(path)) return { ...base, inputmode: "email" };
  if (/phone/.test(path)) return { ...base, inputmode: "tel" };
  if (/up to \d{3,} characters/i.test(hint)) return { ...base, multiline: true };
  return base;
}

/** A test-id-safe form of a field path (paths are already safe: letters, digits, _ and .). */
export function pathId(path: string): string {
  return path.replace(/[^A-Za-z0-9_.-]/g, "_");
}
