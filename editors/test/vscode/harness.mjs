// A real VS Code (code-server from the npm registry) driven by Playwright through
// Debian's chromium, headless. Everything lives in a fresh temporary directory
// (config, XDG dirs, user data, extensions, a copy of the example workspace), and
// code-server runs in its own process group, killed as a whole at the end.
//
// Environment (set by scripts/setup/30-editors.sh and scripts/test-editors):
//   KHC_CODE_SERVER  code-server executable        KHC_CHROMIUM  chromium executable
//   KHC_BIN          the khc binary under test     KHC_VSIX      the packaged extension
//   KHC_REPO         repository root               KHC_ARTIFACTS screenshots go here
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through scripts/test-editors)`);
  return v;
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value or `ms` pass; returns the last value. */
export async function until(what, fn, ms = 30000, every = 250) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await sleep(every);
  }
}

/** Copies `examples/NAME` (without its generated output) into the temp dir. */
function copyExample(root, name) {
  const src = path.join(env("KHC_REPO"), "examples", name);
  const dst = path.join(root, "workspace", name);
  fs.cpSync(src, dst, { recursive: true, filter: (p) => !p.startsWith(path.join(src, "generated")) });
  return dst;
}

/**
 * Starts code-server with the khc extension installed and opens `examples/EXAMPLE`
 * in chromium. Returns helpers; always call `stop()`.
 */
export async function startVSCode({ example = "multi-tenant", settings = {} } = {}) {
  const codeServer = env("KHC_CODE_SERVER");
  const khc = env("KHC_BIN");
  const vsix = env("KHC_VSIX");
  const artifacts = env("KHC_ARTIFACTS");
  fs.mkdirSync(artifacts, { recursive: true });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "khc-vscode-e2e-"));
  const dirs = {};
  for (const d of ["home", "config", "data", "cache", "state", "user-data", "extensions"]) {
    dirs[d] = path.join(root, d);
    fs.mkdirSync(dirs[d], { recursive: true });
  }
  const workspace = copyExample(root, example);
  const childEnv = {
    ...process.env,
    HOME: dirs.home,
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    XDG_CACHE_HOME: dirs.cache,
    XDG_STATE_HOME: dirs.state,
    // The khc binary must come from khc.path, not PATH.
    PATH: process.env.PATH.split(path.delimiter).filter((d) => !fs.existsSync(path.join(d, "khc"))).join(path.delimiter),
  };
  const port = await freePort();
  const configFile = path.join(root, "code-server.yaml");
  fs.writeFileSync(configFile, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const userDir = path.join(dirs["user-data"], "User");
  fs.mkdirSync(userDir, { recursive: true });
  fs.writeFileSync(
    path.join(userDir, "settings.json"),
    JSON.stringify(
      {
        "khc.path": khc,
        "workbench.colorTheme": "Default Dark Modern",
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": false,
        "workbench.enableExperiments": false,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "chat.commandCenter.enabled": false,
        "chat.disableAIFeatures": true,
        "security.workspace.trust.enabled": false,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": false,
        "extensions.autoUpdate": false,
        "extensions.ignoreRecommendations": true,
        "editor.minimap.enabled": false,
        // Typed text must not be taken over by a suggestion (Enter accepting one).
        "editor.quickSuggestions": { other: false, comments: false, strings: false },
        "editor.suggestOnTriggerCharacters": false,
        "editor.acceptSuggestionOnEnter": "off",
        "editor.hover.delay": 300,
        "files.autoSave": "off",
        "window.restoreWindows": "none",
        ...settings,
      },
      null,
      2,
    ),
  );
  const common = ["--config", configFile, "--user-data-dir", dirs["user-data"], "--extensions-dir", dirs.extensions];

  const install = spawnSync(codeServer, [...common, "--install-extension", vsix], { env: childEnv, encoding: "utf8", timeout: 120000 });
  const installOut = `${install.stdout}\n${install.stderr}`;
  if (install.status !== 0 || !/successfully installed/i.test(installOut)) {
    throw new Error(`code-server --install-extension failed (exit ${install.status}):\n${installOut}`);
  }

  const logFile = path.join(root, "code-server.log");
  const log = fs.openSync(logFile, "a");
  const server = spawn(
    codeServer,
    [...common, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override", "--ignore-last-opened", workspace],
    { env: childEnv, detached: true, stdio: ["ignore", log, log] },
  );
  let exited = null;
  server.on("exit", (code, signal) => (exited = { code, signal }));
  // Never leave code-server behind, even when this process is killed (timeout).
  const killGroup = () => {
    try {
      if (exited === null) process.kill(-server.pid, "SIGKILL");
    } catch {}
    if (!process.env.KHC_KEEP_TEMP) fs.rmSync(root, { recursive: true, force: true });
  };
  process.on("exit", killGroup);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      killGroup();
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
  }

  let browser;
  const stop = async () => {
    try {
      await browser?.close();
    } catch {}
    if (exited === null) {
      try {
        process.kill(-server.pid, "SIGTERM"); // the whole process group
      } catch {}
      for (let i = 0; i < 40 && exited === null; i++) await sleep(100);
      try {
        process.kill(-server.pid, "SIGKILL");
      } catch {}
    }
    fs.closeSync(log);
    if (!process.env.KHC_KEEP_TEMP) fs.rmSync(root, { recursive: true, force: true });
  };

  try {
    await until(
      "code-server to listen",
      async () => {
        if (exited) throw new Error(`code-server exited early (${JSON.stringify(exited)}):\n${fs.readFileSync(logFile, "utf8")}`);
        try {
          return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      60000,
    );
    browser = await chromium.launch({
      executablePath: env("KHC_CHROMIUM"),
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    });
    const context = await browser.newContext({ viewport: { width: 1200, height: 760 } }); // a fresh profile
    const page = await context.newPage();
    const consoleErrors = [];
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: 60000 });
    // The explorer lists the workspace once the workbench has restored.
    await page.locator('.explorer-folders-view .monaco-list-row[aria-label="cluster.khc"]').first().waitFor({ timeout: 60000 });

    let shots = 0;
    const vs = {
      page,
      workspace,
      root,
      logFile,
      consoleErrors,
      stop,
      /** Saves `target/editor-artifacts/vscode-NN-NAME.png`. */
      async shot(name) {
        shots += 1;
        const file = path.join(artifacts, `vscode-${String(shots).padStart(2, "0")}-${name}.png`);
        await page.screenshot({ path: file });
        return file;
      },
      /** Runs a command from the command palette (F1) by its title. */
      async command(title) {
        await page.keyboard.press("F1");
        const input = page.locator(".quick-input-widget input");
        await input.waitFor();
        await input.fill(`>${title}`);
        await page.locator(".quick-input-widget .monaco-list-row", { hasText: title }).first().waitFor();
        await page.keyboard.press("Enter");
      },
      /** Opens a workspace file (relative path) with Quick Open and waits for its editor. */
      async open(rel) {
        await page.keyboard.press("Control+P");
        const input = page.locator(".quick-input-widget input");
        await input.waitFor();
        await input.fill(rel);
        await page.locator(".quick-input-widget .monaco-list-row", { hasText: path.basename(rel) }).first().waitFor();
        await page.keyboard.press("Enter");
        await page.locator(`.tabs-container .tab.active[aria-label^="${path.basename(rel)}"]`).waitFor();
        await page.locator(".editor-instance .monaco-editor .view-lines").first().waitFor();
        await page.locator(".editor-instance .monaco-editor textarea").first().focus();
      },
      /** Moves the cursor to LINE (1-based), column COL (1-based; "end" for the line's end). */
      async goto(line, col = 1) {
        await vs.command("Go to Line/Column");
        const input = page.locator(".quick-input-widget input");
        await input.fill(`:${line}:${col === "end" ? 1 : col}`);
        await page.keyboard.press("Enter");
        if (col === "end") await page.keyboard.press("End");
      },
      /** The rendered editor line whose text starts with PREFIX (after indentation): [{text, color, className}]. */
      async tokens(prefix) {
        return page.evaluate((prefix) => {
          for (const line of document.querySelectorAll(".editor-instance .view-lines .view-line")) {
            const text = line.textContent.replace(/\u00a0/g, " ");
            if (text.trimStart().startsWith(prefix)) {
              return [...line.querySelectorAll(":scope > span > span")].map((s) => ({
                text: s.textContent.replace(/\u00a0/g, " "),
                color: getComputedStyle(s).color,
                className: s.className,
              }));
            }
          }
          return null;
        }, prefix);
      },
      /** Number of error / warning squiggles in the active editor. */
      async squiggles(kind = "error") {
        return page.locator(`.editor-instance .monaco-editor .squiggly-${kind}`).count();
      },
      /** Opens the Problems panel and returns the text of each marker row. */
      async problems() {
        if (!(await page.locator(".markers-panel").isVisible().catch(() => false))) {
          await vs.command("View: Focus Problems");
          await page.locator(".markers-panel").waitFor();
        }
        return page.locator(".markers-panel .monaco-list-row").evaluateAll((rows) => rows.map((r) => (r.getAttribute("aria-label") || "") + " | " + r.textContent));
      },
      /** Focuses the active editor again (after the panel took focus). */
      async focusEditor() {
        await vs.command("View: Focus Active Editor Group");
      },
    };
    return vs;
  } catch (e) {
    try {
      const file = path.join(artifacts, "vscode-failure-startup.png");
      await (await browser?.contexts()[0]?.pages()[0])?.screenshot({ path: file });
    } catch {}
    const logText = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
    await stop();
    e.message += `\ncode-server log:\n${logText.slice(-4000)}`;
    throw e;
  }
}

/** Runs named steps in order, printing each with its time; on failure saves a screenshot and the logs. */
export async function steps(vs, list) {
  const t0 = Date.now();
  for (const [name, fn] of list) {
    const t = Date.now();
    try {
      await fn();
    } catch (e) {
      try {
        console.error(`screenshot: ${await vs.shot(`FAILED-${name.replace(/\W+/g, "-")}`)}`);
      } catch {}
      console.error(`not ok - ${name}\n${e.stack || e}`);
      const logs = findLogs(vs.root);
      for (const f of logs) console.error(`--- ${f}\n${fs.readFileSync(f, "utf8").slice(-3000)}`);
      if (vs.consoleErrors.length) console.error(`--- browser console errors:\n${vs.consoleErrors.slice(-20).join("\n")}`);
      throw e;
    }
    console.log(`ok - ${name} (${Date.now() - t} ms)`);
  }
  console.log(`all ${list.length} steps passed in ${Date.now() - t0} ms`);
}

/** code-server's own log and the extension host / khc output channel logs. */
function findLogs(root) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/(code-server\.log|exthost\.log|khc.*\.log|remoteagent\.log)$/.test(e.name)) out.push(p);
    }
  };
  walk(root);
  return out;
}
