#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (one per parser of untrusted input),
# each for FUZZ_SECS seconds (default 60), or only the targets named:
#   FUZZ_SECS=600 scripts/fuzz.sh envelope event
#
# Each target starts from a fresh corpus in fuzz/corpus/<target>/, seeded
# from fixtures/ (every valid and invalid webhook body, with the headers its
# case in fixtures/cases.json sends), tests/vectors/qsh.json and the small
# hand-written seeds in fuzz/seeds/<target>/. Seeds that take a webhook body
# apart (single events, cursors, qsh requests) need jq; without it only the
# whole bodies and fuzz/seeds/ are used.
#
# cargo-fuzz is installed when missing. libFuzzer's sanitizer flags are
# nightly-only, so the stable compiler is asked to accept them
# (RUSTC_BOOTSTRAP=1). The build goes to fuzz/target, never to target/.
#
# Exit status: 0 when every target ran its time without a crash; 1 when one
# crashed (the input is saved under fuzz/artifacts/<target>/, and its path
# and base64 are printed at the end); 2 on a usage or build error.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$root/fuzz/target"
secs="${FUZZ_SECS:-60}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz…" >&2
  cargo install cargo-fuzz --locked
fi

mapfile -t known < <(cargo fuzz list)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${known[@]}")
fi
for target in "${targets[@]}"; do
  if ! printf '%s\n' "${known[@]}" | grep -qx -- "$target"; then
    echo "unknown fuzz target $target (known: ${known[*]})" >&2
    exit 2
  fi
done

have_jq=false
if command -v jq >/dev/null; then
  have_jq=true
else
  echo "jq not found: seeding from whole fixture bodies and fuzz/seeds/ only" >&2
fi

fixtures=(fixtures/valid/*.json fixtures/invalid/*.json)
v2_type="avi:ecosystem.app_policy:blocked:app_access_to_objects.v2"

# Writes each NUL-terminated record read from stdin to "$1-<n>".
split_nul() {
  local prefix="$1" n=0 record
  while IFS= read -r -d '' record; do
    printf '%s' "$record" >"$prefix-$n"
    n=$((n + 1))
  done
}

# The envelope target reads "<Content-Type>\n<header lines>\n\n<body>".
seed_envelope() {
  local corpus="$1" f name
  for f in "${fixtures[@]}"; do
    name="$(basename "$f" .json)"
    # Every body in each content mode, binary with a complete set of headers.
    {
      printf 'application/cloudevents+json\n\n'
      cat "$f"
    } >"$corpus/$name-structured"
    {
      printf 'application/cloudevents-batch+json\n\n'
      cat "$f"
    } >"$corpus/$name-batch"
    {
      printf 'application/json\n\n'
      cat "$f"
    } >"$corpus/$name-plain"
    {
      printf 'application/json\nce-specversion: 1.0\nce-id: fuzz-1\n'
      printf 'ce-source: atlassian.com%%2Fecosystem\nce-type: %s\n\n' "$v2_type"
      cat "$f"
    } >"$corpus/$name-binary"
  done
  # Each case as the replay test sends it: its Content-Type and headers.
  $have_jq || return 0
  local head file
  while IFS= read -r -d '' head && IFS= read -r -d '' file; do
    [ -f "fixtures/$file" ] || continue
    {
      printf '%s' "$head"
      cat "fixtures/$file"
    } >"$corpus/case-$(basename "$file" .json)"
  done < <(jq -j '.[] | select(.file != null)
      | (.content_type // {structured: "application/cloudevents+json; charset=UTF-8",
                           batch: "application/cloudevents-batch+json"}[.mode]
                       // "application/json") as $ct
      | "\($ct)\n", ((.headers // {}) | to_entries[] | "\(.key): \(.value)\n"),
        "\n\u0000", .file, "\u0000"' fixtures/cases.json)
}

# The event target reads one event object, as the envelope yields it.
seed_event() {
  local corpus="$1" f name
  cp "${fixtures[@]}" "$corpus/"
  $have_jq || return 0
  for f in "${fixtures[@]}"; do
    name="$(basename "$f" .json)"
    # Batch elements, and the event inside a Forge delivery with its context.
    jq -j 'def unwrap: if type == "object" and (has("type") | not)
                and (has("eventType") | not) and (.event | type) == "object"
              then ({context} | with_entries(select(.value != null))) + .event
              else . end;
          (if type == "array" then .[] else unwrap end)
          | select(type == "object") | tojson, "\u0000"' "$f" 2>/dev/null |
      split_nul "$corpus/event-$name" || true
  done
  # Binary cases: the ce-* attributes (percent-decoded) and the body as data.
  jq -j '.[] | select(.mode == "binary" and .file != null) | .file, "\u0000"' \
    fixtures/cases.json | while IFS= read -r -d '' file; do
    jq -j --arg f "$file" --slurpfile body "fixtures/$file" '.[] | select(.file == $f)
        | (.headers | with_entries(.key |= ltrimstr("ce-")
            | .value |= (gsub("%2F"; "/") | gsub("%3A"; ":") | gsub("%2B"; "+"))))
          + {data: $body[0]} | tojson' fixtures/cases.json \
      >"$corpus/binary-$(basename "$file" .json)" 2>/dev/null || true
  done
}

# The cursor target reads a cursor: base64url (no padding) of the JSON
# array [product, type, id]; seeded with the objects the fixtures block.
seed_cursor() {
  local corpus="$1"
  $have_jq || return 0
  cat fixtures/valid/*.json |
    jq -r '.. | objects | select(has("product") and has("type") and has("ids"))
          | .product as $p | .type as $t | .ids[]? | [$p, $t, .] | tojson' 2>/dev/null |
    sort -u | head -n 50 | while IFS= read -r object; do
    printf '%s' "$object" | base64 -w0 | tr '+/' '-_' | tr -d '=' >"$corpus/object-$(printf '%s' "$object" | cksum | cut -d' ' -f1)"
  done
}

# The qsh target reads "method\npath\nquery"; seeded with the vectors the
# qsh test checks against an independent implementation.
seed_qsh() {
  local corpus="$1"
  $have_jq || return 0
  jq -j '.[] | "\(.method)\n\(.path)\n\(.query)", "\u0000"' tests/vectors/qsh.json |
    split_nul "$corpus/vector"
}

status=0
crashed=()
summary=()
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  artifacts="fuzz/artifacts/$target"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  case "$target" in
    envelope) seed_envelope "$corpus" ;;
    event) seed_event "$corpus" ;;
    cursor) seed_cursor "$corpus" ;;
    qsh) seed_qsh "$corpus" ;;
  esac
  if [ -d "fuzz/seeds/$target" ]; then
    cp fuzz/seeds/"$target"/* "$corpus/"
  fi
  seeds=$(find "$corpus" -type f | wc -l)
  echo "== fuzzing $target for ${secs}s from $seeds seeds" >&2
  # Everything already in the artifact folder is from earlier runs.
  before="$logs/$target.before"
  find "$artifacts" -type f | sort >"$before"
  log="$logs/$target.log"
  set +e
  cargo fuzz run "$target" "$corpus" -- \
    -max_total_time="$secs" -print_final_stats=1 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  files=$(find "$corpus" -type f | wc -l)
  new=$(find "$artifacts" -type f | sort | comm -13 "$before" -)
  if [ "$rc" -eq 0 ]; then
    summary+=("$target: ok, ${execs:-?} executions, corpus $seeds -> $files files")
  elif [ -n "$new" ]; then
    status=1
    summary+=("$target: CRASH after ${execs:-?} executions")
    crashed+=($new)
  else
    echo "cargo fuzz run $target failed (exit $rc) without a crash input; see above" >&2
    exit 2
  fi
done

echo >&2
printf '%s\n' "${summary[@]}" >&2
for input in "${crashed[@]}"; do
  target="$(basename "$(dirname "$input")")"
  echo >&2
  echo "crash input: $input" >&2
  echo "  base64: $(base64 -w0 "$input" | head -c 4000)" >&2
  echo "  repeat: RUSTC_BOOTSTRAP=1 cargo fuzz run $target $input" >&2
done
exit "$status"
