// Application manifests in a real VS Code (#23 item 4): a Deployment YAML in the
// payments tenant's folder gets a squiggle on `hostNetwork: true` whose message
// and line equal `khc eval`'s finding; the quick fix for
// `allowPrivilegeEscalation: true` is applied and its squiggles clear.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { env, startVSCode, steps, until } from "./harness.mjs";

const FILE = "apps/payments/debug.yaml";
const HOST = "hostNetwork must not be true (pod-security enforce restricted)";

const vs = await startVSCode({ settings: { "editor.wordBasedSuggestions": "off" } });
const page = vs.page;
/** `khc eval FILE -p WORKSPACE --format json`'s findings. */
function evalFindings() {
  const r = spawnSync(env("KHC_BIN"), ["eval", path.join(vs.workspace, FILE), "-p", vs.workspace, "--format", "json"], { encoding: "utf8" });
  assert.equal(r.status, 1, `khc eval denies the Deployment: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout).findings;
}
try {
  await steps(vs, [
    ["open " + FILE, () => vs.open(FILE)],
    [
      "the hostNetwork squiggle: khc eval's message, on khc eval's line",
      async () => {
        const finding = evalFindings().find((f) => f.message === HOST);
        assert.ok(finding, "khc eval reports hostNetwork");
        const line = Number(finding.field_location.split(":").pop());
        await until("error squiggles", () => vs.squiggles("error"), 30000);
        const rows = await until("the Problems entry", async () => (await vs.problems()).filter((r) => r.includes(HOST)), 20000);
        assert.equal(rows.length, 1, rows.join("\n"));
        // `      hostNetwork: true`: the field, after its indentation.
        assert.match(rows[0], new RegExp(`Ln ${line}, Col 7`), rows[0]);
        assert.match(rows[0], /manifest/, rows[0]);
        await vs.shot("manifest-hostnetwork");
      },
    ],
    [
      "the allowPrivilegeEscalation quick fix clears its squiggles",
      async () => {
        const ape = (rows) => rows.filter((r) => r.includes("allowPrivilegeEscalation"));
        assert.equal(ape(await vs.problems()).length, 2, "Pod Security and the admission rule");
        const line = evalFindings().find((f) => f.message.includes("allowPrivilegeEscalation")).field_location.split(":").pop();
        await vs.focusEditor();
        await vs.goto(Number(line), 40); // on `true`
        const items = page.locator(".action-widget .monaco-list-row.action", { hasText: "Set `allowPrivilegeEscalation: false`" });
        // Under load the first request can come before the editor settles ("No code
        // actions available"): ask again.
        await until(
          "the quick fix menu",
          async () => {
            await page.keyboard.press("Control+.");
            const shown = await items.first().waitFor({ timeout: 4000 }).then(
              () => true,
              () => false,
            );
            if (!shown) await page.keyboard.press("Escape");
            return shown;
          },
          40000,
          0,
        );
        assert.equal(await items.count(), 1, "one action for the field's two findings");
        await vs.shot("manifest-quick-fix");
        await page.keyboard.press("Enter"); // the first (focused) action
        await until("the allowPrivilegeEscalation entries to clear", async () => ape(await vs.problems()).length === 0, 20000);
        assert.ok((await vs.problems()).some((r) => r.includes(HOST)), "hostNetwork stays");
        await vs.shot("manifest-fixed");
      },
    ],
  ]);
} finally {
  await vs.stop();
}
