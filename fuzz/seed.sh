#!/bin/sh
# Seeds the fuzz corpora (fuzz/corpus/{parser,pipeline}/) from the repository:
# every *.khc (examples/, stdlib/, tests/), the examples of SPEC.md and
# README.md (fenced blocks that start with a statement), and every rule
# fixture's source in a tenant's `admission` block; and fuzz/corpus/manifest/
# from every *.yaml and *.yml of examples/ and tests/ (at most 64 KiB each).
# Idempotent; run from anywhere.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
for target in parser pipeline; do
  dir="$root/fuzz/corpus/$target"
  mkdir -p "$dir"
  find "$root/examples" "$root/stdlib" "$root/tests" -name '*.khc' -type f | while read -r f; do
    cp "$f" "$dir/file-$(printf '%s' "$f" | sha1sum | cut -c1-16)"
  done
  for doc in SPEC.md README.md; do
    awk -v dir="$dir" -v doc="$doc" '
      /^```/ { if (inblock) { inblock = 0; if (keep) close(out) } else { inblock = 1; keep = 0; n++ ; first = 1 }; next }
      inblock && first { first = 0; keep = ($1 ~ /^(cluster|tenant|profile|import|workload|role)$/); out = dir "/" doc "-" n }
      inblock && keep { print > out }
    ' "$root/$doc"
  done
  sed -n 's/^- source: //p' "$root"/tests/rules/*.yaml | while read -r src; do
    printf 'cluster c {\n  kubernetes 1.37\n}\ntenant t {\n  admission {\n    %s\n  }\n}\n' "$src" > "$dir/rule-$(printf '%s' "$src" | sha1sum | cut -c1-16)"
  done
done
dir="$root/fuzz/corpus/manifest"
mkdir -p "$dir"
find "$root/examples" "$root/tests" \( -name '*.yaml' -o -name '*.yml' \) -type f -size -64k | while read -r f; do
  cp "$f" "$dir/file-$(printf '%s' "$f" | sha1sum | cut -c1-16)"
done
echo "seeded: $(ls "$root/fuzz/corpus/parser" | wc -l) inputs for parser and pipeline, $(ls "$dir" | wc -l) for manifest"
