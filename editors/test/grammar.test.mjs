// The TextMate grammar (editors/vscode/syntaxes/khc.tmLanguage.json) tokenized with
// VS Code's own engine (vscode-textmate + oniguruma): each listed piece of text
// gets the expected scope. Run by scripts/test-editors with `node --test`.
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import oniguruma from "vscode-oniguruma";
import textmate from "vscode-textmate";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const grammarPath = path.join(here, "..", "vscode", "syntaxes", "khc.tmLanguage.json");
// Every statement keyword of the schema, generated (and checked current) by
// tests/registry.rs: a new statement the grammar does not colour fails here.
const schema = JSON.parse(fs.readFileSync(path.join(here, "statements.json"), "utf8"));

await oniguruma.loadWASM(fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer);
const registry = new textmate.Registry({
  onigLib: Promise.resolve({ createOnigScanner: (p) => new oniguruma.OnigScanner(p), createOnigString: (s) => new oniguruma.OnigString(s) }),
  loadGrammar: async (scope) => (scope === "source.khc" ? textmate.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath) : null),
});
const grammar = await registry.loadGrammar("source.khc");

/** Tokenizes LINES; returns, per line, [{text, scopes}]. */
function tokenize(lines) {
  let state = textmate.INITIAL;
  return lines.map((line) => {
    const r = grammar.tokenizeLine(line, state);
    state = r.ruleStack;
    return r.tokens.map((t) => ({ text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes }));
  });
}

/** Asserts that TEXT (a whole token) in LINE has a scope starting with SCOPE. */
function expectScope(line, text, scope) {
  const [tokens] = tokenize([line]);
  const tok = tokens.find((t) => t.text === text);
  assert.ok(tok, `no token ${JSON.stringify(text)} in ${JSON.stringify(line)}: ${JSON.stringify(tokens.map((t) => t.text))}`);
  assert.ok(
    tok.scopes.some((s) => s.startsWith(scope)),
    `${JSON.stringify(text)} in ${JSON.stringify(line)} has scopes ${tok.scopes.join(" ")}, expected ${scope}`,
  );
}

const notScope = (line, text, scope) => {
  const [tokens] = tokenize([line]);
  for (const t of tokens.filter((t) => t.text === text)) assert.ok(!t.scopes.some((s) => s.startsWith(scope)), `${text}: ${t.scopes.join(" ")}`);
};

test("comments", () => {
  expectScope("# payments team", " payments team", "comment.line.number-sign.khc");
  expectScope("# payments team", "#", "punctuation.definition.comment.khc");
  expectScope('  quota { cpu 2 }  # small', " small", "comment.line");
  expectScope('  name "a # b"', "a # b", "string.quoted.double.khc"); // not a comment inside a string
});

test("strings and escapes", () => {
  const line = String.raw`  grant view to group "a\"b\\c\n\t" user "x"`;
  expectScope(line, String.raw`\"`, "constant.character.escape.khc");
  expectScope(line, String.raw`\\`, "constant.character.escape.khc");
  expectScope(line, String.raw`\n`, "constant.character.escape.khc");
  expectScope(line, "a", "string.quoted.double.khc");
  expectScope(line, "x", "string.quoted.double.khc");
  expectScope(String.raw`  name "a\qb"`, String.raw`\q`, "invalid.illegal.escape.khc");
  // An unterminated string ends at the end of the line.
  const [first, second] = tokenize(['  name "open', "  pods 10"]);
  assert.ok(first.at(-1).scopes.some((s) => s.startsWith("string")));
  assert.ok(second.find((t) => t.text === "pods").scopes.some((s) => s.startsWith("keyword.other.statement")));
});

test("declarations and statement keywords", () => {
  expectScope("tenant payments {", "tenant", "storage.type.khc");
  expectScope("tenant payments {", "payments", "entity.name.type.khc");
  expectScope("cluster prod-eu {", "prod-eu", "entity.name.type.khc");
  expectScope("  workload ledger-db {", "ledger-db", "entity.name.type.khc");
  expectScope('import "std/restricted"', "import", "keyword.other.statement.khc");
  assert.ok(schema.statements.length > 100, `statements.json lists ${schema.statements.length} statements`);
  for (const kw of schema.statements) {
    expectScope(`  ${kw} x`, kw, "keyword.other.statement.khc");
    expectScope(`  ${kw} {`, kw, "keyword.other.statement.khc");
  }
  for (const kw of schema.declarations) {
    expectScope(`${kw} some-name {`, kw, "storage.type.khc");
    expectScope(`${kw} some-name {`, "some-name", "entity.name.type.khc");
  }
  expectScope("  quota { cpu 2; memory 4Gi }", "memory", "keyword.other.statement.khc"); // after `;`
  expectScope("  quota { cpu 2; memory 4Gi }", "cpu", "keyword.other.statement.khc"); // after `{`
  // A statement name in value position is not a statement keyword.
  notScope("  namespaces pods-team", "pods-team", "keyword");
  expectScope("  allow ingress from tenant monitoring workload prometheus to workload api ports 9090", "from", "keyword.other.khc");
  expectScope("  allow ingress from tenant monitoring workload prometheus to workload api ports 9090", "ingress", "keyword.other.khc");
  expectScope("  allow ingress from tenant monitoring workload prometheus to workload api ports 9090", "workload", "keyword.other.khc");
  expectScope("  allow ingress from tenant monitoring workload prometheus to workload api ports 9090", "tenant", "keyword.other.khc");
  notScope("  allow ingress from tenant monitoring workload prometheus to workload api ports 9090", "monitoring", "keyword");
  expectScope("  can get list watch on deployments.apps", "watch", "support.constant.khc");
  expectScope("  pod-security restricted", "restricted", "support.constant.khc");
  expectScope("  automount-token true", "true", "constant.language.boolean.khc");
  notScope("  namespaces restricted-apps", "restricted-apps", "support.constant"); // names with dashes are whole
});

test("numbers, quantities and durations", () => {
  expectScope("    default cpu 500m memory 512Mi", "500", "constant.numeric.khc");
  expectScope("    default cpu 500m memory 512Mi", "m", "keyword.other.unit.khc");
  expectScope("    default cpu 500m memory 512Mi", "512", "constant.numeric.khc");
  expectScope("    default cpu 500m memory 512Mi", "Mi", "keyword.other.unit.khc");
  expectScope("  kubernetes 1.31", "1.31", "constant.numeric.khc");
  expectScope("      timeout 3s", "s", "keyword.other.unit.khc");
  expectScope("  min-uid 10000", "10000", "constant.numeric.khc");
});

test("CIDRs, addresses, port ranges and wildcards", () => {
  expectScope("  allow egress from workload api to cidr 203.0.113.0/24 ports 443", "203.0.113.0/24", "constant.numeric.cidr.khc");
  expectScope("  api-server 10.0.0.10/32 10.0.0.11", "10.0.0.11", "constant.numeric.cidr.khc");
  expectScope("  allow egress from workload p to tenant legacy ports 8080-8089", "8080-8089", "constant.numeric.range.khc");
  notScope("  allow egress from workload p to tenant legacy ports 8080-8089", "8080", "constant.numeric.khc");
  expectScope("  can * on *", "*", "keyword.operator.wildcard.khc");
  expectScope("  resources [secrets, configmaps]", "[", "punctuation.section.list.begin.khc");
  expectScope("  resources [secrets, configmaps]", ",", "punctuation.separator.khc");
});
