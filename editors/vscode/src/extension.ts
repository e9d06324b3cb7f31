// The khc extension: starts `khc lsp` (live diagnostics and whatever else the
// server advertises, on khc sources and on application manifests in YAML) and
// adds the commands "khc: Build", "khc: Check" and the queries "khc: Reach…",
// "khc: Who Can…" and "khc: Blast Radius…" (answered in the khc output channel).
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

/** The query commands, answered in the khc output channel by `khc QUERY … -p FOLDER`. */
async function reach(): Promise<void> {
  const a = await ask([
    ["khc reach: from", "TENANT/WORKLOAD, namespace NS or a CIDR, e.g. monitoring/prometheus"],
    ["khc reach: to", "TENANT/WORKLOAD, e.g. payments/api"],
  ]);
  if (a) await runKhc(["reach", a[0], a[1], "-p", "."]);
}

async function whoCan(): Promise<void> {
  const a = await ask([["khc who-can: VERB RESOURCE [-n NAMESPACE]", "e.g. create pods/exec -n payments"]]);
  if (a) await runKhc(["who-can", ...a[0].split(/\s+/), "-p", "."]);
}

async function blastRadius(): Promise<void> {
  const a = await ask([["khc blast-radius: workload", "TENANT/WORKLOAD, e.g. payments/api"]]);
  if (a) await runKhc(["blast-radius", a[0], "-p", "."]);
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
