// The one module that talks to the app's backend (src-tauri/src/commands.rs). Every
// type comes from schemas/app/desktop-api.schema.json (see api-types.ts). Nothing here
// stores anything: no localStorage, no IndexedDB, no cache of twin data.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AccessReceipt,
  Activity,
  AgencySummary,
  AppInfo,
  Category,
  Conflict,
  DeleteInput,
  DeleteReport,
  DeletionSummary,
  Delivery,
  EraseReport,
  ForYou,
  GrantSummary,
  HistoryEntry,
  PackSummary,
  PrefillLineInput,
  RecordSummary,
  RecoveryCodeView,
  RequestSummary,
  Revoked,
  RuleShare,
  Settings,
  ShareInput,
  ShareOutcome,
  Strength,
  SyncReport,
  TwinView,
  UiError,
  WhatIf,
} from "./api-types";

export type * from "./api-types";

/** A command failed: `code` is stable, `message` is plain words for the citizen. */
export class ApiError extends Error {
  readonly code: string;
  readonly retryInSecs: number | undefined;
  constructor(e: UiError) {
    super(e.message);
    this.name = "ApiError";
    this.code = e.code;
    this.retryInSecs = e.retry_in_secs;
  }
}

/** Turns whatever `invoke` threw into an ApiError with a plain message. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (typeof e === "object" && e !== null && "code" in e && "message" in e) {
    const u = e as UiError;
    if (typeof u.code === "string" && typeof u.message === "string") return new ApiError(u);
  }
  // The IPC layer itself failed (never a vault error): say so plainly, never a stack.
  return new ApiError({
    code: "app-error",
    message: "The app could not complete that. Nothing you saved was changed. Please try again.",
  });
}

const lockedListeners = new Set<() => void>();

/** Calls `handler` whenever a command finds the vault locked (the app then shows the
 * unlock screen, wherever the citizen was). Returns a function that stops listening. */
export function onLockedError(handler: () => void): () => void {
  lockedListeners.add(handler);
  return () => lockedListeners.delete(handler);
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    const err = toApiError(e);
    if (err.code === "locked") for (const h of lockedListeners) h();
    throw err;
  }
}

export const api = {
  appInfo: () => call<AppInfo>("app_info"),
  passphraseStrength: (passphrase: string) => call<Strength>("passphrase_strength", { passphrase }),
  createTwin: (passphrase: string) => call<RecoveryCodeView>("create_twin", { passphrase }),
  checkRecoveryGroup: (group: number, typed: string) =>
    call<boolean>("check_recovery_group", { group, typed }),
  saveRecoveryCode: (path: string) => call<void>("save_recovery_code", { path }),
  forgetRecoveryCode: () => call<void>("forget_recovery_code"),
  unlock: (passphrase: string) => call<void>("unlock", { passphrase }),
  recover: (code: string, passphrase: string) =>
    call<RecoveryCodeView>("recover", { code, passphrase }),
  lock: () => call<void>("lock"),
  stillHere: () => call<void>("still_here"),

  twin: () => call<TwinView>("twin"),
  setField: (path: string, text: string) => call<boolean>("set_field", { path, text }),
  fieldHistory: (path: string) => call<HistoryEntry[]>("field_history", { path }),
  optIn: (category: Category) => call<boolean>("opt_in", { category }),
  optOut: (category: Category) => call<EraseReport | null>("opt_out", { category }),
  erase: (path: string) => call<EraseReport>("erase", { path }),
  conflicts: () => call<Conflict[]>("conflicts"),
  chooseValue: (path: string, value: unknown) => call<boolean>("choose_value", { path, value }),

  records: () => call<RecordSummary[]>("records"),
  hideRecord: (id: string, hidden: boolean) => call<RecordSummary>("hide_record", { id, hidden }),
  requests: () => call<RequestSummary[]>("requests"),
  approveRequest: (id: string, fields: string[]) =>
    call<ShareOutcome>("approve_request", { id, fields }),
  declineRequest: (id: string) => call<RequestSummary>("decline_request", { id }),

  agencies: () => call<AgencySummary[]>("agencies"),
  addAgency: (url: string) => call<AgencySummary>("add_agency", { url }),
  share: (request: ShareInput, delivery: Delivery) =>
    call<ShareOutcome>("share", { request, delivery }),
  grants: () => call<GrantSummary[]>("grants"),
  accessReceipts: (id: string) => call<AccessReceipt[]>("access_receipts", { id }),
  revoke: (id: string) => call<Revoked>("revoke", { id }),
  sync: () => call<SyncReport>("sync"),

  // "For you": rules from signed rule packs, worked out on this computer. With what-if
  // values the twin is not changed (ForYou.what_if is then true).
  forYou: (whatIf: WhatIf[]) => call<ForYou>("for_you", { whatIf }),
  addRulePack: (path: string) => call<PackSummary>("add_rule_pack", { path }),
  ruleShare: (rule: string) => call<RuleShare>("rule_share", { rule }),
  acceptPrefill: (rule: string, lines: PrefillLineInput[]) =>
    call<RuleShare>("accept_prefill", { rule, lines }),

  activity: () => call<Activity>("activity"),
  changePassphrase: (current: string, next: string) =>
    call<void>("change_passphrase", { current, new: next }),
  setAutoLock: (minutes: number) => call<Settings>("set_auto_lock", { minutes }),
  deletionSummary: () => call<DeletionSummary>("deletion_summary"),
  deleteTwin: (input: DeleteInput) => call<DeleteReport>("delete_twin", { input }),
};

/** Why the app locked the vault on its own. */
export type LockReason = "idle" | "sleep";

/** Calls `handler` when the backend locks the vault (idle, or the computer slept). */
export function onLocked(handler: (reason: LockReason) => void): Promise<UnlistenFn> {
  return listen<LockReason>("vault-locked", (e) => handler(e.payload));
}
