// The language server's features in a real VS Code: a cross-file diagnostic in
// tenants/payments.khc, hover, completion from the server, go to definition; the
// query commands (khc: Reach…, khc: Who Can…) answering in the khc panel (a
// webview, read through its frames) and the output channel; khc: Show Graph and
// khc: Diff Against Git Base (on a git repository made in the workspace) in the
// same panel.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startVSCode, steps, until } from "./harness.mjs";

const MESSAGE = "tenant `monitoring` has no workload `prometheu`";

// Word-based suggestions off: completion items must come from the server.
const vs = await startVSCode({ settings: { "editor.wordBasedSuggestions": "off" } });
const page = vs.page;

/** The content frame of the khc panel: code-server nests a webview's page in `iframe.webview` → `iframe#active-frame`. */
const panelFrame = () => page.frameLocator("iframe.webview").last().frameLocator("#active-frame");

/** Waits for the khc panel's tab titled TITLE… and for SELECTOR in its page to contain WANT; returns that element's text. */
async function panelShows(title, selector, want) {
  await page.locator(`.tabs-container .tab[aria-label^="${title}"]`).first().waitFor({ timeout: 20000 });
  return until(
    `the panel's ${selector} to show ${want}`,
    async () => {
      const t = ((await panelFrame().locator(selector).first().textContent({ timeout: 2000 }).catch(() => "")) ?? "").replace(/\u00a0/g, " ");
      return t.includes(want) ? t : null;
    },
    20000,
  );
}
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
        await panelShows("khc: reach", "#answer", "allowed: monitoring/prometheus → payments/api on 9090/TCP");
        await answer("khc: Who Can…", ["create pods/exec -n payments"], "who can create pods/exec in namespace payments:");
        const who = await panelShows("khc: who-can", "#answer", "who can create pods/exec in namespace payments:");
        // The same answer the command gives on its own.
        const cli = execFileSync(process.env.KHC_BIN, ["--color", "never", "who-can", "create", "pods/exec", "-n", "payments", "-p", "."], { cwd: vs.workspace, encoding: "utf8" });
        assert.equal(who.trim(), cli.trim());
        const meta = await panelShows("khc: who-can", "#meta", "exit status");
        assert.match(meta, /khc --color never who-can create pods\/exec -n payments -p \./);
        await vs.shot("queries");
      },
    ],
    [
      "khc: Show Graph renders khc graph --format html in the panel",
      async () => {
        await vs.command("khc: Show Graph");
        const text = await panelShows("khc: graph", "body", "Reachability");
        assert.match(text, /khc posture/);
        assert.ok(await panelFrame().locator("svg").first().isVisible(), "the reachability graph (SVG) is drawn");
        await vs.shot("graph");
      },
    ],
    [
      "khc: Diff Against Git Base answers khc diff --against HEAD in the panel",
      async () => {
        // A throwaway repository: the example as committed, then a loosening on disk.
        const git = (...a) => execFileSync("git", ["-c", "user.email=e2e@khc.invalid", "-c", "user.name=e2e", ...a], { cwd: vs.workspace, encoding: "utf8" });
        git("init", "-q");
        git("add", "-A");
        git("commit", "-qm", "base");
        const f = path.join(vs.workspace, "tenants/payments.khc");
        fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace("isolation strict", "isolation tenant"));
        await vs.command("khc: Diff Against Git Base");
        const text = await panelShows("khc: diff against HEAD", "#answer", "[isolation] ~ tenant payments: strict → tenant");
        assert.match(text, /^loosened \(\d+\):/);
        await vs.shot("diff");
      },
    ],
  ]);
} finally {
  await vs.stop();
}
