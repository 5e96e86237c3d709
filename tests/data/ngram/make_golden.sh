#!/usr/bin/env bash
# Regenerate the n-gram language-model golden files in this folder with KenLM's lmplz.
#
#     bash tests/data/ngram/make_golden.sh
#     LMPLZ=/path/to/lmplz KENLM_SRC=/path/to/kenlm-0.3.0 bash tests/data/ngram/make_golden.sh
#
# lmplz: `bash benches/build_lmplz.sh` builds it into ./.lmplz from PyPI's kenlm 0.3.0 sdist
# (`pip download --no-binary :all: kenlm==0.3.0`), Debian's libboost-program-options-dev
# libboost-system-dev libboost-thread-dev, cmake from PyPI, and
# `cmake .. -DKENLM_MAX_ORDER=8 -DCMAKE_POLICY_VERSION_MINIMUM=3.5 && make lmplz`.
# LMPLZ defaults to ./.lmplz/bin/lmplz if that exists, else `lmplz` on PATH.
# KENLM_SRC (an unpacked kenlm sdist, for the two copied ARPA fixtures) defaults to
# ./.lmplz/src/kenlm-0.3.0; if it does not exist the copies are left as they are.
#
# Files (corpora: one sentence per line, words separated by single spaces):
#   kenlm_toy0.txt, kenlm_toy1.txt   KenLM's own toy corpora (lm/common/test_data/generate.sh)
#     -> kenlm_toy0.o3.arpa, kenlm_toy1.o3.arpa        (--discount_fallback 0.5 1 1.5; these are
#        KenLM's published lm/common/test_data/toy{0,1}.arpa, up to line order)
#   kenlm_corpus_count.txt           the input of KenLM's lm/builder/corpus_count_test.cc
#                                    (ends with an empty sentence)
#     -> kenlm_corpus_count.o3.arpa                    (--discount_fallback 0.5 1 1.5)
#   students.txt                     ten hand-written lines about students opening books
#     -> students.o1.arpa, students.o3.arpa            (--discount_fallback 0.5 1 1.5; without it
#        lmplz refuses: "1-gram discount out of range for adjusted count 2: -2.4")
#   zipf.txt                         2000 sentences from gen_corpus.py (deterministic, 285 types)
#     -> zipf.o2.arpa, zipf.o3.arpa, zipf.o5.arpa      (real discounts, no fallback)
#   kenlm_test.arpa, kenlm_test_nounk.arpa
#                                    copies of KenLM's lm/test.arpa and lm/test_nounk.arpa
#                                    (KenLM's published test models, LGPL; used as ARPA-reading
#                                    fixtures: -99 for <s>, a missing backoff on </s>, no <unk>)
#   zipf.o3.p01.arpa, zipf.o5.p0012.arpa, students.o3.p01.arpa
#                                    count pruning: --prune 0 1 and --prune 0 0 1 2
# All lmplz runs: -S 100M -T $TMPDIR, default --interpolate_unigrams.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
if [ -z "${LMPLZ:-}" ]; then
    if [ -x "$ROOT/.lmplz/bin/lmplz" ]; then LMPLZ="$ROOT/.lmplz/bin/lmplz"; else LMPLZ=lmplz; fi
fi
KENLM_SRC="${KENLM_SRC:-$ROOT/.lmplz/src/kenlm-0.3.0}"
PYTHON="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

command -v "$LMPLZ" >/dev/null || { echo "lmplz not found; run: bash benches/build_lmplz.sh" >&2; exit 1; }
cd "$HERE"

# --- corpora --------------------------------------------------------------------------------------
printf 'a a b a\nb a a b\n' > kenlm_toy0.txt
printf 'a a b b b b b b b\nc\n' > kenlm_toy1.txt
printf 'looking on a little more loin\non a little more loin\non foo little more loin\nbar\n\n' \
    > kenlm_corpus_count.txt
cat > students.txt <<'EOF'
the students opened their books
the students opened their laptops
the students opened their books and read
the teacher opened the door
the students closed their books
the students opened the window
a student opened her book
the students read their books
the teacher read the books
students opened their minds
EOF
"$PYTHON" gen_corpus.py 2000 300 > zipf.txt

# --- lmplz ----------------------------------------------------------------------------------------
# run NAME ORDER [extra lmplz args...]: NAME.txt -> NAME.oORDER.arpa.  A timeout guards against
# lmplz builds that hang on tiny inputs; a case that fails or times out is skipped with a warning.
run() {
    local name="$1" order="$2"
    shift 2
    local out="$name.o$order.arpa"
    if timeout 300 "$LMPLZ" -o "$order" -S 100M -T "$TMP" "$@" --text "$name.txt" --arpa "$TMP/$out" \
        2> "$TMP/$out.log"; then
        mv "$TMP/$out" "$out"
        echo "wrote $out"
    else
        echo "WARNING: lmplz failed or timed out for $out; skipped (log below)" >&2
        cat "$TMP/$out.log" >&2
    fi
}

FALLBACK=(--discount_fallback 0.5 1 1.5)
run kenlm_toy0 3 "${FALLBACK[@]}"
run kenlm_toy1 3 "${FALLBACK[@]}"
run kenlm_corpus_count 3 "${FALLBACK[@]}"
run students 1 "${FALLBACK[@]}"
run students 3 "${FALLBACK[@]}"
run zipf 2
run zipf 3
run zipf 5

# run_pruned NAME ORDER TAG THRESHOLDS [extra lmplz args...]: NAME.oORDER.pTAG.arpa with
# `--prune THRESHOLDS` (THRESHOLDS one word, comma-separated).
run_pruned() {
    local name="$1" order="$2" tag="$3" thresholds="$4"
    shift 4
    local out="$name.o$order.p$tag.arpa"
    # shellcheck disable=SC2086
    if timeout 300 "$LMPLZ" -o "$order" -S 100M -T "$TMP" --prune ${thresholds//,/ } "$@" --text "$name.txt" \
        --arpa "$TMP/$out" 2> "$TMP/$out.log"; then
        mv "$TMP/$out" "$out"
        echo "wrote $out"
    else
        echo "WARNING: lmplz failed or timed out for $out; skipped (log below)" >&2
        cat "$TMP/$out.log" >&2
    fi
}
run_pruned zipf 3 01 0,1
run_pruned zipf 5 0012 0,0,1,2
run_pruned students 3 01 0,1 "${FALLBACK[@]}"

# --- KenLM's published ARPA test models -------------------------------------------------------------
if [ -f "$KENLM_SRC/lm/test.arpa" ]; then
    cp "$KENLM_SRC/lm/test.arpa" kenlm_test.arpa
    cp "$KENLM_SRC/lm/test_nounk.arpa" kenlm_test_nounk.arpa
    echo "copied kenlm_test.arpa, kenlm_test_nounk.arpa"
else
    echo "KENLM_SRC=$KENLM_SRC has no lm/test.arpa; kept the existing copies" >&2
fi

du -ch "$HERE" | tail -1
