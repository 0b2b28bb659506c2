/// <reference types="node" />
// Sharing with the sandbox agency this test starts: the wizard (agency → purpose → fields →
// how long → review → send), the share listed; the agency opens it (an access receipt) and
// issues a record, the app syncs and shows it verified; a request from the agency with an
// over-asked field; stop sharing (stopped on this computer → after a sync, the agency
// confirmed deletion). axe and the keyboard on every screen and wizard step.
//
// The test itself acts as the agency's officer (twin-agency grants show / issue / link /
// request), so nothing depends on .ci/sandbox-officer's 2-second poll.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  story,
  AGENCY_ID,
  checkScreen,
  choose,
  createTwin,
  go,
  press,
  setField,
  shown,
  STAFF,
  T,
  textOf,
  tid,
  Twin,
  waitForText,
} from "./harness";

const PURPOSE = "pension-credit-check";
const DOB = "personal.date_of_birth";
const POSTCODE = "personal.address.postcode";

describe("sharing with a sandbox agency", () => {
  const twin = new Twin({ name: "sharing" });
  const step = story(twin);
  let grantId = "";

  beforeAll(async () => {
    const b = await twin.open();
    await createTwin(b);
    await setField(b, "personal.full_name", "Margaret Okafor");
    await setField(b, DOB, "1952-06-01", "1 June 1952");
    await setField(b, POSTCODE, "LS6 2QT");
    await setField(b, "personal.address.line1", "14 Hyde Park Road");
    await setField(b, "personal.address.town", "Leeds");
    await setField(b, "personal.email", "m.okafor@example.org");
    await twin.screenshot("my-twin");
  });
  afterAll(async () => {
    await twin.dispose();
  });

  step("Sharing, before any share: says the app talks to a sandbox agency", async () => {
    const b = twin.browser;
    await go(b, "Sharing");
    await waitForText(b, "No agency can read anything from your twin right now");
    await waitForText(b, /Sandbox/);
    await checkScreen(twin, "sharing-empty");
  });

  step("step 1: adds the sandbox agency and chooses it", async () => {
    const b = twin.browser;
    await press(b, "share-start");
    await textOf(b, "share-step", "Step 1 of 5");
    await press(b, "agency-add-sandbox", T.long);
    const radio = await shown(b, `agency-${AGENCY_ID}`, T.long);
    await b.waitUntil(() => radio.isSelected(), { timeout: T.short, timeoutMsg: "the added agency was not chosen" });
    await waitForText(b, "SANDBOX");
    await checkScreen(twin, "share-step1-agency", { show: '[id="share-heading"]', block: "start" });
    await press(b, "share-next");
  });

  step("step 2: the purpose, with its legal basis and how long the agency keeps it", async () => {
    const b = twin.browser;
    await textOf(b, "share-step", "Step 2 of 5");
    await waitForText(b, "Legal basis: State Pension Credit Act 2002");
    await waitForText(b, "keeps what it receives for 30 days");
    await press(b, `purpose-${PURPOSE}`);
    await checkScreen(twin, "share-step2-purpose", { show: '[id="share-heading"]', block: "start" });
    await press(b, "share-next");
  });

  step("step 3: the two fields, ticked, with the values that will leave", async () => {
    const b = twin.browser;
    await textOf(b, "share-step", "Step 3 of 5");
    for (const f of [DOB, POSTCODE]) {
      const box = await shown(b, `share-field-${f}`);
      await b.waitUntil(() => box.isSelected(), { timeout: T.short, timeoutMsg: `${f} was not ticked for this purpose` });
    }
    await waitForText(b, "LS6 2QT");
    // Not on the agency's list for this purpose: not ticked.
    const other = tid(b, "share-field-personal.full_name");
    if (await other.isExisting()) expect(await other.isSelected()).toBe(false);
    await checkScreen(twin, "share-step3-fields", { show: '[id="share-heading"]', block: "start" });
    await press(b, "share-next");
  });

  step("step 4: how long, and what the agency may send back", async () => {
    const b = twin.browser;
    await textOf(b, "share-step", "Step 4 of 5");
    await choose(b, "share-days", "30");
    const award = await shown(b, "share-record-benefit-award/v1");
    expect(await award.isSelected()).toBe(true);
    await checkScreen(twin, "share-step4-duration", { show: '[id="share-heading"]', block: "start" });
    await press(b, "share-review");
  });

  step("step 5: the review lists exactly what will be sent, then sends it", async () => {
    const b = twin.browser;
    await textOf(b, "share-step", "Step 5 of 5");
    const review = await textOf(b, "share-review-list", "LS6 2QT");
    expect(review).toContain("1 June 1952");
    expect(review).not.toContain("Margaret Okafor");
    expect(review).not.toContain("14 Hyde Park Road");
    await waitForText(b, "State Pension Credit Act 2002");
    await waitForText(b, "(30 days)");
    await checkScreen(twin, "sharing-review", { show: '[data-testid="share-review-list"]' });
    await press(b, "share-send");
    const outcome = await textOf(b, "share-outcome", /Sent to Sandbox Benefits|not delivered|Refused/, T.long);
    await twin.screenshot("sharing-sent", '[data-testid="share-outcome"]');
    expect(outcome).toContain("Sent to Sandbox Benefits");
    expect(outcome).toMatch(/Sandbox Benefits.*received it/);
  });

  step("lists the share as active, with a countdown", async () => {
    const b = twin.browser;
    await b.$('[data-testid="share-outcome"]').$("button=Done").click();
    await shown(b, "share-start");
    const card = b.$("li.grant");
    await card.waitForDisplayed({ timeout: T.short, timeoutMsg: "no share listed under Your shares" });
    grantId = ((await card.getAttribute("data-testid")) ?? "").replace(/^grant-/, "");
    expect(grantId).not.toBe("");
    await textOf(b, `grant-state-${grantId}`, "Active");
    await textOf(b, `grant-countdown-${grantId}`, /ends in|day/i);
    // The agency holds the same grant.
    const theirs = await twin.agencyGrants();
    expect(theirs.map((g) => g.grant_id)).toContain(grantId);
    await checkScreen(twin, "sharing-grant-active", { show: `[data-testid="grant-${grantId}"]`, block: "start" });
  });

  step("the agency opens the share and issues a record; Check for updates shows the receipt", async () => {
    const b = twin.browser;
    await twin.agency("grants", "show", grantId, "--as", STAFF);
    const body = join(twin.root, "award.json");
    writeFileSync(
      body,
      JSON.stringify({
        benefit: "Pension Credit",
        decision: "awarded",
        amount: 218.15,
        currency: "GBP",
        period: "week",
        effective_from: "2026-12-07",
        reason: "Sandbox decision: your income is below the guarantee credit level for a single person.",
      }),
    );
    await twin.agency("issue", "--grant", grantId, "--type", "benefit-award/v1", "--body", body);
    // An identity link and a request that asks for one field more than the card lists.
    await twin.agency("link", "--grant", grantId, "--case", "SB-2026-0042");
    await twin.agency(
      "request",
      "--case",
      "SB-2026-0042",
      "--purpose",
      "housing-support",
      "--fields",
      "personal.full_name,personal.address.postcode,personal.date_of_birth",
      "--out",
      join(twin.root, "request.twinrequest"),
    );

    await press(b, "sync");
    await textOf(b, "sync-result", /\S/, T.long);
    await b.waitUntil(async () => !(await tid(b, "sync-result").getText()).includes("Checking"), { timeout: T.long });
    await press(b, `receipts-${grantId}`);
    const receipts = await textOf(b, `receipts-list-${grantId}`, `Opened by ${STAFF}`, T.short);
    expect(receipts).toContain("Pension Credit check");
    expect(await tid(b, `grant-gaps-${grantId}`).isExisting()).toBe(false);
    await checkScreen(twin, "sharing-grants-receipt", { show: `[data-testid="grant-${grantId}"]`, block: "start" });
  });

  step("Records: the agency's record, verified, with who issued it", async () => {
    const b = twin.browser;
    await go(b, "Records");
    // The benefit award (the identity link is listed too; their order is not the point).
    let recordId = "";
    await b.waitUntil(
      async () => {
        recordId = ((await b.execute(() => {
          for (const a of Array.from(document.querySelectorAll('article[data-testid^="record-"]'))) {
            if ((a.textContent ?? "").includes("Pension Credit")) return a.getAttribute("data-testid")!.replace(/^record-/, "");
          }
          return "";
        })) as string) ?? "";
        return recordId !== "";
      },
      { timeout: T.long, timeoutMsg: "the Pension Credit record was not listed" },
    );
    await textOf(b, `record-verified-${recordId}`, "Verified: signed by Sandbox Benefits");
    await checkScreen(twin, "records-verified");
    await press(b, `record-open-${recordId}`);
    const details = await textOf(b, "record-details", "Pension Credit");
    expect(details).toContain("218.15");
    expect(details).toMatch(/Issued by\s+Sandbox Benefits/);
    await checkScreen(twin, "records-details", { show: '[data-testid="record-details"]', block: "start" });
    await press(b, "record-details-close");
  });

  step("Requests: what the agency asks, why, under which law, with the over-asked field flagged", async () => {
    const b = twin.browser;
    await go(b, "Requests");
    await press(b, "requests-sync");
    await waitForText(b, "Help with housing costs", T.long);
    await waitForText(b, "Housing Benefit Regulations 2006");
    const over = b.$(`[data-testid^="request-over-"][data-testid$="-${DOB}"]`);
    await over.waitForDisplayed({ timeout: T.short, timeoutMsg: "the date of birth (not on the card for this purpose) was not flagged" });
    await checkScreen(twin, "requests");
  });

  step("Requests: approving shares only the ticked fields (the over-asked one stays unticked)", async () => {
    const b = twin.browser;
    const approve = b.$('[data-testid^="approve-"]');
    await approve.waitForDisplayed({ timeout: T.short });
    const requestId = ((await approve.getAttribute("data-testid")) ?? "").replace(/^approve-/, "");
    expect(await tid(b, `request-field-${requestId}-${DOB}`).isSelected(), "the over-asked field starts unticked").toBe(false);
    expect(await tid(b, `request-field-${requestId}-${POSTCODE}`).isSelected()).toBe(true);
    await approve.click();
    await textOf(b, `request-state-${requestId}`, "You approved it", T.long);
    await twin.screenshot("requests-approved", `[data-testid="request-${requestId}"]`);
    const theirs = await twin.agencyGrants();
    const housing = theirs.find((g) => g.purpose === "housing-support");
    expect(housing, "the agency received the approved share").toBeTruthy();
    expect(housing!.fields).toEqual(expect.arrayContaining(["personal.full_name", POSTCODE]));
    expect(housing!.fields).not.toContain(DOB);
  });

  it("Activity: the audit log as a timeline, with its chain verified", async () => {
    const b = twin.browser;
    await go(b, "Activity");
    await shown(b, "activity-verification", T.long);
    await b.waitUntil(async () => (await b.$$('[data-testid="activity-entry"]').length) > 0, { timeout: T.short, timeoutMsg: "no activity entries" });
    await checkScreen(twin, "activity");
  });

  step("Settings: lists the sandbox agency, labelled as a sandbox", async () => {
    const b = twin.browser;
    await go(b, "Settings");
    await textOf(b, `agency-${AGENCY_ID}`, "SANDBOX");
    await checkScreen(twin, "settings-with-agency", { show: '[data-testid="agencies-list"]' });
  });

  it("Conflicts: none, said plainly", async () => {
    const b = twin.browser;
    await go(b, "Conflicts");
    await shown(b, "conflicts-empty", T.short);
    await checkScreen(twin, "conflicts");
  });

  step("stop sharing: the confirmation says what happens; stopped on this computer, then the agency confirms deletion", async () => {
    const b = twin.browser;
    await go(b, "Sharing");
    await press(b, `revoke-${grantId}`);
    const dialog = await shown(b, "revoke-dialog");
    expect(await dialog.getText()).toMatch(/already|stand/i);
    await checkScreen(twin, "sharing-revoke-dialog");
    await press(b, "revoke-dialog-confirm");
    await textOf(b, `grant-state-${grantId}`, "Stopped on this computer on", T.long);
    await twin.screenshot("sharing-stopped", `[data-testid="grant-${grantId}"]`, "start");

    await press(b, "sync");
    await textOf(b, `grant-state-${grantId}`, "Agency confirmed deletion on", T.long);
    const state = await tid(b, `grant-state-${grantId}`).getText();
    // Kept apart: what this computer did, and what the agency confirmed.
    expect(state).toContain("Stopped on this computer on");
    expect(await tid(b, `revoke-${grantId}`).isExisting()).toBe(false);
    const theirs = await twin.agencyGrants();
    expect(theirs.find((g) => g.grant_id === grantId)?.purged_at).toBeTruthy();
    await checkScreen(twin, "sharing-deleted", { show: `[data-testid="grant-${grantId}"]`, block: "start" });
  });
});
