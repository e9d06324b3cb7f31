// The khc extension: starts `khc lsp` (live diagnostics and whatever else the
// server advertises, on khc sources and on application manifests in YAML) and
// adds the commands "khc: Build", "khc: Check" (answered in the khc output
// channel), the queries "khc: Reach…", "khc: Who Can…", "khc: Blast Radius…" and
// "khc: Diff Against Git Base" (answered in the khc panel, a webview, and echoed
// to the channel) and "khc: Show Graph" (`khc graph --format html` in the panel).
import * as cp from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;

/** The khc executable: the `khc.path` setting, else `khc` on PATH; undefined when neither exists. */
export function findKhc(): string | undefined {
  const configured = vscode.workspace.getConfiguration("khc").get<string>("path", "").trim();
  if (configured) {
    const p = configured.startsWith("~") ? path.join(process.env.HOME ?? "", configured.slice(1)) : configured;
    return isExecutable(p) ? p : undefined;
  }
  const exe = process.platform === "win32" ? "khc.exe" : "khc";
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, exe))) {
      return path.join(dir, exe);
    }
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function notFound(): void {
  const configured = vscode.workspace.getConfiguration("khc").get<string>("path", "").trim();
  const msg = configured
    ? `khc: the executable set in "khc.path" (${configured}) was not found or is not executable.`
    : 'khc: the "khc" executable was not found on PATH. Install khc (cargo install --path compiler/cli) or set "khc.path".';
  output.appendLine(msg);
  void vscode.window.showErrorMessage(msg, "Open Settings").then((choice) => {
    if (choice === "Open Settings") {
      void vscode.commands.executeCommand("workbench.action.openSettings", "khc.path");
    }
  });
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const khc = findKhc();
  if (!khc) {
    notFound();
    return;
  }
  output.appendLine(`khc: starting ${khc} lsp`);
  const run = { command: khc, args: ["lsp"], transport: TransportKind.stdio };
  const serverOptions: ServerOptions = { run, debug: run };
  // Application manifests (YAML) are judged too, as `khc eval` judges them; the
  // `khc.manifests` setting limits the folders (null: every one).
  const manifests = vscode.workspace.getConfiguration("khc").get<string[] | null>("manifests", null);
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "khc" },
      { scheme: "file", language: "yaml" },
    ],
    outputChannel: output,
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.khc") },
    initializationOptions: manifests === null ? {} : { manifests },
  };
  client = new LanguageClient("khc", "khc language server", serverOptions, clientOptions);
  context.subscriptions.push(client);
  try {
    await client.start();
  } catch (e) {
    const msg = `khc: the language server failed to start: ${e instanceof Error ? e.message : String(e)}`;
    output.appendLine(msg);
    void vscode.window.showErrorMessage(msg);
  }
}

/** The folder or file to build: the active khc file's workspace folder, else the first folder. */
function target(): string | undefined {
  const doc = vscode.window.activeTextEditor?.document;
  if (doc && doc.uri.scheme === "file") {
    const folder = vscode.workspace.getWorkspaceFolder(doc.uri);
    if (folder) {
      return folder.uri.fsPath;
    }
    return path.dirname(doc.uri.fsPath);
  }
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

/** Runs `khc ARGS… TARGET` in the target folder and shows its output in the channel. */
function runKhc(args: string[]): Promise<number | null> {
  const khc = findKhc();
  if (!khc) {
    notFound();
    return Promise.resolve(null);
  }
  const dir = target();
  if (!dir) {
    void vscode.window.showErrorMessage("khc: open a folder or a .khc file first.");
    return Promise.resolve(null);
  }
  const full = ["--color", "never", ...args];
  output.show(true);
  output.appendLine(`$ ${khc} ${full.join(" ")}   (in ${dir})`);
  return new Promise((resolve) => {
    const proc = cp.spawn(khc, full, { cwd: dir });
    proc.stdout.on("data", (d: Buffer) => output.append(d.toString()));
    proc.stderr.on("data", (d: Buffer) => output.append(d.toString()));
    proc.on("error", (e) => {
      output.appendLine(`khc: ${e.message}`);
      resolve(null);
    });
    proc.on("close", (code) => {
      output.appendLine(code === 0 ? "khc: done (exit 0)" : `khc: exit code ${code}`);
      resolve(code);
    });
  });
}

/** What `khc ARGS…` printed: its exit code (null when it did not run), stdout and stderr. */
interface Captured {
  code: number | null;
  stdout: string;
  stderr: string;
  command: string;
  dir: string;
}

/** Runs `khc ARGS…` in the target folder, collecting its output (also echoed to the channel). */
function captureKhc(args: string[]): Promise<Captured | undefined> {
  const khc = findKhc();
  if (!khc) {
    notFound();
    return Promise.resolve(undefined);
  }
  const dir = target();
  if (!dir) {
    void vscode.window.showErrorMessage("khc: open a folder or a .khc file first.");
    return Promise.resolve(undefined);
  }
  const full = ["--color", "never", ...args];
  const command = `khc ${full.join(" ")}`;
  output.show(true);
  output.appendLine(`$ ${khc} ${full.join(" ")}   (in ${dir})`);
  return new Promise((resolve) => {
    const proc = cp.spawn(khc, full, { cwd: dir });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      output.append(d.toString());
    });
    proc.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      output.append(d.toString());
    });
    proc.on("error", (e) => {
      output.appendLine(`khc: ${e.message}`);
      resolve({ code: null, stdout, stderr: stderr + e.message, command, dir });
    });
    proc.on("close", (code) => {
      output.appendLine(code === 0 ? "khc: done (exit 0)" : `khc: exit code ${code}`);
      resolve({ code, stdout, stderr, command, dir });
    });
  });
}

/** HTML-escapes TEXT (the answers hold `<`, `>` and `&` in subjects and rules). */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** The page of one answer: a table naming the command, folder and exit status, then its output, escaped. */
export function answerHtml(title: string, c: Captured): string {
  const rows: [string, string][] = [
    ["command", c.command],
    ["folder", c.dir],
    ["exit status", c.code === null ? "did not run" : String(c.code)],
  ];
  const table = rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("");
  const err = c.stderr.trim() ? `<h2>stderr</h2><pre id="stderr">${escapeHtml(c.stderr)}</pre>` : "";
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';">
<style>body{font-family:var(--vscode-font-family);color:var(--vscode-foreground)} table{border-collapse:collapse} th,td{border:1px solid var(--vscode-panel-border);padding:2px 8px;text-align:left} pre{font-family:var(--vscode-editor-font-family);white-space:pre-wrap}</style>
<title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><table id="meta">${table}</table>
<pre id="answer">${escapeHtml(c.stdout || "(no output)")}</pre>${err}</body></html>`;
}

let panel: vscode.WebviewPanel | undefined;

/** Shows HTML in the khc panel (one webview, reused; scripts off). */
function showPanel(title: string, html: string): void {
  if (!panel) {
    panel = vscode.window.createWebviewPanel("khc.answer", title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, { enableScripts: false });
    panel.onDidDispose(() => (panel = undefined));
  }
  panel.title = title;
  panel.webview.html = html;
  panel.reveal(undefined, true);
}

/** Runs `khc ARGS…` and shows its answer in the khc panel. */
async function answerInPanel(title: string, args: string[]): Promise<void> {
  const c = await captureKhc(args);
  if (c) showPanel(title, answerHtml(title, c));
}

/** khc: Show Graph — `khc graph --format html -p .` (a whole page, no scripts) in the panel. */
async function showGraph(): Promise<void> {
  const c = await captureKhc(["graph", "--format", "html", "-p", "."]);
  if (!c) return;
  showPanel("khc: graph", c.code === 0 && c.stdout.trim() ? c.stdout : answerHtml("khc: graph", c));
}

/** khc: Diff Against Git Base — `khc diff --against REV .` where REV is the `khc.diffBase` setting (default HEAD). */
async function diffAgainstBase(): Promise<void> {
  const rev = vscode.workspace.getConfiguration("khc").get<string>("diffBase", "HEAD").trim() || "HEAD";
  await answerInPanel(`khc: diff against ${rev}`, ["diff", "--against", rev, "."]);
}

/** Asks for each of PROMPTS in turn (with its placeholder); undefined when one is dismissed. */
async function ask(prompts: [string, string][]): Promise<string[] | undefined> {
  const answers: string[] = [];
  for (const [prompt, placeHolder] of prompts) {
    const a = await vscode.window.showInputBox({ prompt, placeHolder, ignoreFocusOut: true });
    if (a === undefined || a.trim() === "") {
      return undefined;
    }
    answers.push(a.trim());
  }
  return answers;
}

/** The query commands, answered in the khc panel (and the channel) by `khc QUERY … -p FOLDER`. */
async function reach(): Promise<void> {
  const a = await ask([
    ["khc reach: from", "TENANT/WORKLOAD, namespace NS or a CIDR, e.g. monitoring/prometheus"],
    ["khc reach: to", "TENANT/WORKLOAD, e.g. payments/api"],
  ]);
  if (a) await answerInPanel(`khc: reach ${a[0]} → ${a[1]}`, ["reach", a[0], a[1], "-p", "."]);
}

async function whoCan(): Promise<void> {
  const a = await ask([["khc who-can: VERB RESOURCE [-n NAMESPACE]", "e.g. create pods/exec -n payments"]]);
  if (a) await answerInPanel(`khc: who-can ${a[0]}`, ["who-can", ...a[0].split(/\s+/), "-p", "."]);
}

async function blastRadius(): Promise<void> {
  const a = await ask([["khc blast-radius: workload", "TENANT/WORKLOAD, e.g. payments/api"]]);
  if (a) await answerInPanel(`khc: blast-radius ${a[0]}`, ["blast-radius", a[0], "-p", "."]);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("khc");
  context.subscriptions.push(output);
  context.subscriptions.push(
    vscode.commands.registerCommand("khc.build", () => runKhc(["build", ".", "-o", "out"])),
    vscode.commands.registerCommand("khc.check", () => runKhc(["check", "."])),
    vscode.commands.registerCommand("khc.reach", reach),
    vscode.commands.registerCommand("khc.whoCan", whoCan),
    vscode.commands.registerCommand("khc.blastRadius", blastRadius),
    vscode.commands.registerCommand("khc.showGraph", showGraph),
    vscode.commands.registerCommand("khc.diffAgainstBase", diffAgainstBase),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("khc.path")) {
        const old = client;
        client = undefined;
        await old?.stop();
        await startClient(context);
      }
    }),
  );
  await startClient(context);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
