// The language server's features in a real VS Code: a cross-file diagnostic in
// tenants/payments.khc, hover, completion from the server, go to definition; the
// query commands (khc: Reach…, khc: Who Can…) answering in the output channel.
import assert from "node:assert/strict";
import { startVSCode, steps, until } from "./harness.mjs";

const MESSAGE = "tenant `monitoring` has no workload `prometheu`";

// Word-based suggestions off: completion items must come from the server.
const vs = await startVSCode({ settings: { "editor.wordBasedSuggestions": "off" } });
const page = vs.page;
try {
  await steps(vs, [
    ["open tenants/payments.khc", () => vs.open("tenants/payments.khc")],
    [
      "a cross-file error typed into tenants/payments.khc: squiggle and Problems entry",
      async () => {
        // line 26: `  allow ingress from tenant monitoring workload prometheus to workload api ports 9090`
        await vs.goto(26, 59); // just after `prometheus`
        await page.keyboard.press("Backspace");
        await until("an error squiggle", () => vs.squiggles("error"), 20000);
        const rows = await until("the Problems entry", async () => (await vs.problems()).filter((r) => r.includes(MESSAGE)), 20000);
        assert.equal(rows.length, 1, rows.join("\n"));
        assert.match(rows[0], /unknown-name/);
        assert.match(rows[0], /Ln 26, Col 49/);
        await vs.shot("payments-error");
      },
    ],
    [
      "hover on the error shows the diagnostic and the statement's documentation",
      async () => {
        await vs.focusEditor();
        await page.locator(".editor-instance .squiggly-error").first().hover({ force: true });
        const hover = page.locator(".monaco-hover:not(.hidden)").first();
        await hover.waitFor({ timeout: 10000 });
        await until("the hover text", async () => (await hover.textContent()).includes("prometheu"), 10000);
        // Hover on the `allow` statement: its documentation from the schema.
        await page.mouse.move(0, 0);
        await page.locator(".editor-instance .view-line span", { hasText: /^allow$/ }).first().hover({ force: true });
        await until("statement documentation", async () => /ingress|egress|traffic/i.test((await page.locator(".monaco-hover:not(.hidden)").first().textContent().catch(() => "")) ?? ""), 10000);
        await vs.shot("hover");
      },
    ],
    [
      "fixing the error clears it",
      async () => {
        await vs.focusEditor();
        await vs.goto(26, 58);
        await page.keyboard.type("s");
        await until("the squiggle to clear", async () => (await vs.squiggles("error")) === 0, 20000);
        await until("the Problems entry to clear", async () => (await vs.problems()).every((r) => !r.includes(MESSAGE)), 20000);
      },
    ],
    [
      "completion lists the statements valid in a tenant block",
      async () => {
        await vs.focusEditor();
        await vs.goto(5, "end"); // `  isolation strict`
        await page.keyboard.press("Enter");
        // The widget opens once the server answers; on a cold start (first run of a
        // fresh checkout) the request can come before the server is ready: ask again.
        const suggest = page.locator(".editor-widget.suggest-widget.visible");
        await until(
          "the suggest widget",
          async () => {
            if (await suggest.isVisible()) return true;
            await page.keyboard.press("Control+Space");
            return suggest.waitFor({ timeout: 3000 }).then(
              () => true,
              () => false,
            );
          },
          45000,
        );
        const labels = await until(
          "completion items",
          async () => {
            const l = await suggest.locator(".monaco-list-row .label-name").allTextContents();
            return l.length ? l : null;
          },
          10000,
        );
        for (const s of ["namespaces", "pod-security", "isolation", "allow", "workload", "quota", "limits", "role", "grant", "admission"]) {
          // The list is virtualised: type to filter when an item is not rendered.
          if (!labels.includes(s)) {
            await page.keyboard.type(s.slice(0, 3));
            const filtered = await suggest.locator(".monaco-list-row .label-name").allTextContents();
            assert.ok(filtered.includes(s), `completion offers ${s}: ${filtered}`);
            for (let i = 0; i < 3; i++) await page.keyboard.press("Backspace");
          }
        }
        assert.ok(!labels.includes("kubernetes"), "cluster-only statements are not offered in a tenant");
        await vs.shot("completion");
        await page.keyboard.press("Escape");
        // Remove the line this step added (Delete Line): one undo is not enough once
        // the list had to be filtered by typing (the tenant block has more statements
        // than the list renders), and later steps count lines.
        await page.keyboard.press("Control+Shift+K");
      },
    ],
    [
      "go to definition on a tenant name lands in its file",
      async () => {
        await vs.focusEditor();
        await vs.goto(26, 33); // `monitoring` in `from tenant monitoring`
        await page.keyboard.press("F12");
        await page.locator('.tabs-container .tab.active[aria-label^="monitoring.khc"]').waitFor({ timeout: 10000 });
        // The tab opens before the cursor and the status bar settle: wait for both.
        const cursor = page.locator(".statusbar-item", { hasText: /^Ln \d+, Col \d+/ }).first();
        await until("the cursor on `tenant monitoring {` (line 2)", async () => /^Ln 2,/.test((await cursor.textContent().catch(() => "")) ?? ""), 10000);
        await vs.shot("definition");
      },
    ],
    [
      "khc: Reach… and khc: Who Can… answer in the khc output channel",
      async () => {
        const output = page.locator(".panel .output-view, .panel [id='workbench.panel.output']").first();
        const answer = async (title, inputs, want) => {
          await vs.command(title);
          for (const text of inputs) {
            const input = page.locator(".quick-input-widget input");
            await input.waitFor();
            await until(`the prompt for ${text}`, async () => (await input.inputValue()) === "", 5000);
            await input.fill(text);
            await page.keyboard.press("Enter");
          }
          await until(`${title}'s answer`, async () => (await output.textContent().catch(() => "")).replace(/\u00a0/g, " ").includes(want), 20000);
        };
        await answer("khc: Reach…", ["monitoring/prometheus", "payments/api"], "allowed: monitoring/prometheus → payments/api on 9090/TCP");
        await answer("khc: Who Can…", ["create pods/exec -n payments"], "who can create pods/exec in namespace payments:");
        await vs.shot("queries");
      },
    ],
  ]);
} finally {
  await vs.stop();
}
