// Generated from schemas/app/desktop-api.schema.json by `npm run types`. Do not edit.

/**
 * Every value a command of src-tauri returns or takes. ui/src/lib/api-types.ts is generated from this file (npm run types); src-tauri's tests check real answers against it.
 */
export type CitizenTwinDesktopAppWhatTheWindowAndTheAppSCommandsExchange =
  | UiError
  | Settings
  | AppInfo
  | Strength
  | RecoveryCodeView
  | Category
  | FieldKind
  | FieldView
  | CategoryView
  | TwinView
  | HistoryEntry
  | EraseReport
  | Conflict
  | RecordSummary
  | RequestSummary
  | Purpose
  | AgencySummary
  | GrantState
  | DeliveryState
  | NoticeState
  | SeqRange
  | AccessChain
  | GrantSummary
  | AccessReceipt
  | SyncEvent
  | SyncReport
  | ShareInput
  | Delivery
  | ShareOutcome
  | Revoked
  | AuditEntry
  | AuditReport
  | Activity
  | DeletionSummary
  | DeleteInput
  | DeleteReport
  | PackSummary
  | RuleKind
  | RuleStatus
  | CriterionOutcome
  | LineOutcome
  | ReminderOutcome
  | Outcome
  | Verdict
  | Evidence
  | Agreement
  | DecisionCheck
  | WhatIf
  | ForYou
  | RuleShare
  | PrefillLineInput;
export type Category = "personal" | "government" | "health" | "social";
export type FieldKind = "text" | "integer" | "number" | "list";
export type GrantState =
  | {
      state: "active";
    }
  | {
      state: "expired";
    }
  | {
      state: "stopped";
      at: number;
    }
  | {
      state: "deleted";
      at: number;
      reason: string;
      stopped_at: number | null;
    };
export type DeliveryState =
  | {
      state: "by-hand";
    }
  | {
      state: "to-send";
    }
  | {
      state: "accepted";
      at: number;
    }
  | {
      state: "refused";
      code: string;
      message: string;
    };
/**
 * How a new share reaches its agency.
 */
export type Delivery =
  | {
      by: "send";
    }
  | {
      by: "file";
      path: string;
    }
  | {
      by: "paper";
    };
export type RuleKind = "eligibility" | "prefill" | "reminder";
/**
 * How a rule came out: applies (every criterion met; a reminder: due in its window), does_not_apply, undecided (a value is missing or unavailable), could_not_check (a fault in the rule).
 */
export type RuleStatus = "applies" | "does_not_apply" | "undecided" | "could_not_check";
export type Verdict = "agree" | "disagree" | "undecided" | "could_not_check";

/**
 * What a failed command hands the UI: a stable code and a plain message.
 */
export interface UiError {
  code: string;
  message: string;
  retry_in_secs?: number;
}
export interface Settings {
  auto_lock_minutes: number;
}
export interface AppInfo {
  version: string;
  sandbox: boolean;
  vault_dir: string;
  has_vault: boolean;
  unlocked: boolean;
  settings: Settings;
  /**
   * The address of a sandbox agency started with the app (make run), to add in one click.
   */
  sandbox_agency: string | null;
}
export interface Strength {
  score: number;
  long_enough: boolean;
  warning: string | null;
  suggestions: string[];
}
export interface RecoveryCodeView {
  groups: string[];
  check_group: number;
}
export interface FieldView {
  path: string;
  title: string;
  hint: string;
  kind: FieldKind;
  value: unknown;
}
export interface CategoryView {
  id: Category;
  needs_opt_in: boolean;
  opted_in: boolean;
  fields: FieldView[];
}
export interface TwinView {
  categories: CategoryView[];
  conflicts: number;
}
export interface HistoryEntry {
  at_ms: number;
  who: string;
  why: string;
  device: string;
  value: unknown;
}
export interface EraseReport {
  path: string;
  fields_cleared: string[];
  destroyed_database: string;
  new_database: string;
}
export interface Conflict {
  path: string;
  title: string;
  values: unknown[];
}
export interface RecordSummary {
  id: string;
  agency: string;
  record_type: string;
  issued_at: number;
  body: unknown;
  grant: string;
  verified: boolean;
  problem: string | null;
  hidden: boolean;
}
export interface RequestSummary {
  id: string;
  agency: string;
  agency_name: string;
  fields: string[];
  over_asking: string[];
  purpose: string;
  legal_basis: string;
  retention_days: number;
  duration_secs: number;
  case_ref: string | null;
  records: string[];
  records_secs: number;
  expires_at: number;
  state: "pending" | "approved" | "declined" | "lapsed";
}
export interface Purpose {
  code: string;
  words: string;
  fields: string[];
  legal_basis: string;
  retention_days: number;
}
export interface AgencySummary {
  id: string;
  name: string;
  sandbox: boolean;
  endpoint: string;
  purposes: Purpose[];
  record_types: string[];
}
export interface NoticeState {
  sent_at: number | null;
  agency_status: string | null;
  refused: string | null;
}
export interface SeqRange {
  from: number;
  to: number;
}
export interface AccessChain {
  receipts: number;
  missing: SeqRange[];
  broken: number[];
  conflicting: number[];
}
export interface GrantSummary {
  id: string;
  agency: string;
  agency_name: string;
  fields: string[];
  purpose: string;
  records: string[];
  issued_at: number;
  expires_at: number;
  state: GrantState;
  delivery: DeliveryState;
  notice: NoticeState | null;
  refreshes: number;
  access: AccessChain;
}
export interface AccessReceipt {
  seq: number;
  at: number;
  staff: string;
  fields: string[];
  purpose: string;
}
export interface SyncEvent {
  agency: string;
  step: "agency" | "notice" | "share" | "refresh" | "inbox";
  outcome: "done" | "up-to-date" | "failed" | "refused" | "skipped";
  grant: string | null;
  code: string | null;
  line: string;
}
export interface SyncReport {
  events: SyncEvent[];
}
/**
 * The share wizard's choices.
 */
export interface ShareInput {
  agency: string;
  fields: string[];
  purpose: string;
  days: number;
  records: string[];
  records_days: number;
  single_use: boolean;
}
export interface ShareOutcome {
  grant: GrantSummary;
  text: string | null;
  qr_svg: string | null;
  file: string | null;
  sent: SyncReport | null;
}
export interface Revoked {
  grant: GrantSummary;
  sent: SyncReport | null;
  not_sent: UiError | null;
}
export interface AuditEntry {
  seq: number;
  at_ms: number;
  kind: string;
  line: string;
}
export interface AuditReport {
  entries: number;
  first_broken: number | null;
  cut_short: number[];
}
export interface Activity {
  entries: AuditEntry[];
  report: AuditReport;
  intact: boolean;
}
export interface DeletionSummary {
  fields: number;
  records: number;
  audit_entries: number;
  active_shares: GrantSummary[];
  backups: number;
  dir: string;
  phrase: string;
}
export interface DeleteInput {
  confirm: string;
  passphrase: string;
  even_with_active_shares: boolean;
}
export interface DeleteReport {
  removed: string[];
  removed_folder: boolean;
}
/**
 * A rule pack kept in the vault: signed by an agency the citizen added.
 */
export interface PackSummary {
  publisher: string;
  publisher_name: string;
  pack: string;
  version: number;
  title: string;
  rules: number;
}
/**
 * One criterion, explained: 'Age 67 ≥ 66 ✓', or what to add (undecided), or why it could not be checked.
 */
export interface CriterionOutcome {
  name: string;
  result: "met" | "not_met" | "undecided" | "could_not_check";
  missing?: string[];
  unavailable?: string[];
  missing_records?: string[];
  hint?: string;
  why?: string;
  explanation: string;
  fields_read: string[];
}
/**
 * One pre-filled line of a form: a proposed value (value, shown) or why there is none.
 */
export interface LineOutcome {
  line: string;
  label: string;
  result: "proposed" | "not_applicable" | "undecided" | "could_not_check";
  value?: unknown;
  shown?: string;
  missing?: string[];
  unavailable?: string[];
  missing_records?: string[];
  hint?: string;
  why?: string;
  fields_read: string[];
}
export interface ReminderOutcome {
  due: string;
  days_left: number;
  in_window: boolean;
  message: string;
}
/**
 * What one rule says to this citizen, worked out on this computer.
 */
export interface Outcome {
  publisher: string;
  pack: string;
  rule: string;
  version: number;
  kind: RuleKind;
  title: string;
  summary: string;
  source: string;
  purpose: string;
  status: RuleStatus;
  criteria: CriterionOutcome[];
  explanation: string;
  fields_read: string[];
  records_read: string[];
  prefill: LineOutcome[];
  reminder: ReminderOutcome | null;
}
/**
 * What a re-check rests on: the rule, the day, each criterion and the shared values it read.
 */
export interface Evidence {
  publisher: string;
  pack: string;
  rule: string;
  version: number;
  title: string;
  source: string;
  decided_on: string;
  criteria: CriterionOutcome[];
  explanation: string;
  values_used: {};
}
export interface Agreement {
  verdict: Verdict;
  decision: "awarded" | "refused";
  words: string;
  evidence: Evidence;
}
/**
 * An agency's decision (a benefit-award/v1 record citing a rule) re-checked against the published rule on the values shared: agreement, or the problem that stopped the check. values_changed: the twin's values differ from what was last sent, and the check used the values in the twin now.
 */
export interface DecisionCheck {
  record: string;
  agency: string;
  agency_name: string;
  benefit: string;
  issued_at: number;
  agreement: Agreement | null;
  problem: string | null;
  values_changed: boolean;
}
/**
 * A 'what if' value: the field's path and the value as typed; the twin is not changed.
 */
export interface WhatIf {
  path: string;
  value: string;
}
/**
 * The 'For you' page: every rule of every pack worked out now (with the what-if values when what_if), and the decisions re-checked.
 */
export interface ForYou {
  packs: PackSummary[];
  outcomes: Outcome[];
  decisions: DecisionCheck[];
  what_if: boolean;
}
/**
 * A share made from a rule, for the citizen to review before it is made: exactly the fields the rule read (or, from a pre-fill, the accepted return lines), to the agency that published it, for the rule's purpose; records are the types it may send back.
 */
export interface RuleShare {
  rule: string;
  title: string;
  agency: string;
  agency_name: string;
  purpose: string;
  purpose_words: string;
  fields: string[];
  records: string[];
}
/**
 * One pre-filled line the citizen accepted, with the value as proposed or as edited.
 */
export interface PrefillLineInput {
  line: string;
  value: unknown;
}
