// VS Code end to end, run by scripts/test-editors: the packaged extension in a real
// VS Code (code-server) on a copy of examples/multi-tenant. The grammar colours a
// comment; an error typed into cluster.khc shows a squiggle and a Problems entry
// (message, code, line) from `khc lsp`; fixing it clears both.
// Steps that need more of the server are in pending.e2e.mjs (not run yet).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startVSCode, steps, until } from "./harness.mjs";

// Default Dark Modern: comments are #6A9955.
const COMMENT = "rgb(106, 153, 85)";
const MESSAGE = "khc targets Kubernetes 1.30 or later";

const lineText = (tokens) => tokens && tokens.map((t) => t.text).join("").trim();

const vs = await startVSCode();
try {
  await steps(vs, [
    [
      "open cluster.khc",
      async () => {
        await vs.open("cluster.khc");
        const mode = await vs.page.locator(".statusbar-item", { hasText: /^khc$/ }).count();
        assert.ok(mode > 0, "the status bar names the language mode khc");
      },
    ],
    [
      "the grammar colours comments, keywords and quantities",
      async () => {
        // Tokenization is asynchronous: the text first renders uncoloured.
        const coloured = (tokens) => tokens && tokens.filter((t) => t.text.trim());
        const comment = await until(
          "the first comment to be coloured as a comment",
          async () => {
            const t = coloured(await vs.tokens("# Production cluster"));
            return t && t.length && t.every((x) => x.color === COMMENT) ? t : null;
          },
          20000,
        ).catch(async (e) => {
          e.message += `\ntokens: ${JSON.stringify(await vs.tokens("# Production cluster"))}`;
          throw e;
        });
        assert.ok(comment.length > 0);
        // Lines are tokenized asynchronously too: wait until the colours differ, then check.
        const check = async () => {
          const decl = await vs.tokens("cluster prod-eu");
          const plain = decl.find((t) => t.text.includes("{"));
          const keyword = decl.find((t) => t.text === "cluster");
          const name = decl.find((t) => t.text === "prod-eu");
          assert.ok(keyword && name && plain, JSON.stringify(decl));
          assert.notEqual(keyword.color, plain.color, "`cluster` is coloured as a keyword");
          assert.notEqual(name.color, plain.color, "`prod-eu` is coloured as a declared name");
          const version = await vs.tokens("kubernetes 1.35");
          const number = version.find((t) => t.text === "1.35");
          const stmt = version.find((t) => t.text === "kubernetes");
          assert.ok(number && stmt, JSON.stringify(version));
          assert.notEqual(number.color, stmt.color, "numbers and statement names differ");
          return true;
        };
        await until("keywords, names and numbers to be coloured", () => check().catch(() => false), 10000).catch(() => null);
        await check();
        await vs.shot("grammar");
      },
    ],
    [
      "no diagnostics on the valid example",
      async () => {
        // Give the server time to answer the didOpen, then expect nothing.
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(await vs.squiggles("error"), 0);
      },
    ],
    [
      "an error typed into cluster.khc: squiggle and Problems entry",
      async () => {
        await vs.goto(10, "end"); //   kubernetes 1.35
        await vs.page.keyboard.press("Backspace");
        await vs.page.keyboard.press("Backspace");
        await vs.page.keyboard.type("2"); //   kubernetes 1.2
        await until("the edited line to render", async () => lineText(await vs.tokens("kubernetes 1.")) === "kubernetes 1.2", 10000);
        await until("an error squiggle", () => vs.squiggles("error"), 20000);
        const rows = await until("the Problems entry", async () => (await vs.problems()).filter((r) => r.includes(MESSAGE)), 20000);
        assert.equal(rows.length, 1, rows.join("\n"));
        assert.match(rows[0], /invalid-value/, "the diagnostic code");
        assert.match(rows[0], /Ln 10, Col 14/, "the line and column");
        assert.match(rows[0], /khc/, "the source");
        await vs.shot("error");
      },
    ],
    [
      "fixing the error clears the squiggle and the Problems entry",
      async () => {
        await vs.focusEditor();
        await vs.goto(10, "end");
        await vs.page.keyboard.press("Backspace");
        await vs.page.keyboard.type("35");
        await until("the edited line to render", async () => lineText(await vs.tokens("kubernetes 1.")) === "kubernetes 1.35", 10000);
        await until("the squiggle to clear", async () => (await vs.squiggles("error")) === 0, 20000);
        await until("the Problems entry to clear", async () => (await vs.problems()).every((r) => !r.includes(MESSAGE)), 20000);
        await vs.shot("fixed");
      },
    ],
    [
      "language configuration: Ctrl+/ toggles a # comment; Enter after { indents",
      async () => {
        await vs.focusEditor();
        await vs.goto(10, 1);
        await vs.page.keyboard.press("Control+/");
        // The text changes first; the colours follow when the line is re-tokenized.
        await until(
          "the line to be commented and coloured as a comment",
          async () => {
            const t = await vs.tokens("# kubernetes");
            return lineText(t) === "# kubernetes 1.35" && t.every((x) => !x.text.trim() || x.color === COMMENT);
          },
          10000,
        );
        await vs.page.keyboard.press("Control+/");
        await until("the comment to be removed", async () => lineText(await vs.tokens("kubernetes 1.")) === "kubernetes 1.35", 10000);
        // A new block: Enter after `{` indents by one level.
        await vs.goto(10, "end");
        await vs.page.keyboard.press("Enter");
        await vs.page.keyboard.type("quota-test {", { delay: 40 }); // one key at a time, as a user types
        await until("the closing brace to be inserted", async () => lineText(await vs.tokens("quota-test")) === "quota-test {}", 10000);
        await vs.page.keyboard.press("Enter");
        await until("the block to open", async () => lineText(await vs.tokens("quota-test")) === "quota-test {", 10000);
        await vs.page.keyboard.type("x");
        const indented = await until("the new line", async () => {
          const lines = await vs.page.evaluate(() =>
            [...document.querySelectorAll(".editor-instance .view-lines .view-line")].map((l) => l.textContent.replace(/\u00a0/g, " ")),
          );
          return lines.find((l) => l.trim() === "x");
        });
        assert.equal(indented, "    x", "indented one level (2 spaces) inside the new block");
        // Remove the three new lines (`quota-test {`, `x`, `}`): the text is as on disk again.
        await vs.goto(11, 1);
        for (let i = 0; i < 3; i++) await vs.page.keyboard.press("Shift+ArrowDown");
        await vs.page.keyboard.press("Delete");
        await until("the new block to be removed", async () => (await vs.tokens("quota-test")) === null, 10000);
        assert.equal(lineText(await vs.tokens("kubernetes 1.")), "kubernetes 1.35");
        // Undo leaves the buffer as on disk: no diagnostics.
        await until("no squiggle", async () => (await vs.squiggles("error")) === 0, 10000);
      },
    ],
    [
      "khc: Check runs khc and shows its output in the khc output channel",
      async () => {
        await vs.command("khc: Check");
        const output = vs.page.locator(".panel .output-view, .panel [id='workbench.panel.output']").first();
        await until(
          "the check's summary in the output channel",
          async () => (await output.textContent().catch(() => "")).replace(/\u00a0/g, " ").includes("khc: 0 errors, 0 warnings"),
          20000,
        );
        await vs.shot("check-output");
      },
    ],
    [
      "khc: Build writes the GitOps tree into out/",
      async () => {
        await vs.command("khc: Build");
        const output = vs.page.locator(".panel .output-view, .panel [id='workbench.panel.output']").first();
        await until(
          "the build's summary in the output channel",
          async () => /wrote \d+ files .* to out for cluster prod-eu/.test((await output.textContent().catch(() => "")).replace(/\u00a0/g, " ")),
          30000,
        );
        const kustomization = path.join(vs.workspace, "out", "clusters", "prod-eu", "Kustomization");
        assert.ok(fs.existsSync(kustomization), `${kustomization} exists`);
      },
    ],
    [
      "a khc.path that does not exist: a clear error message",
      async () => {
        // A workspace setting (.vscode/settings.json), picked up by VS Code's file watcher.
        fs.mkdirSync(path.join(vs.workspace, ".vscode"), { recursive: true });
        fs.writeFileSync(path.join(vs.workspace, ".vscode", "settings.json"), JSON.stringify({ "khc.path": "/nonexistent/khc" }));
        const toast = vs.page.locator(".notifications-toasts .notification-list-item", { hasText: "/nonexistent/khc" });
        await toast.first().waitFor({ timeout: 20000 });
        const text = await toast.first().textContent();
        assert.match(text, /was not found or is not executable/);
        await vs.shot("not-found");
      },
    ],
  ]);
} finally {
  await vs.stop();
}
