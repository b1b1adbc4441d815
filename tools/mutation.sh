#!/usr/bin/env bash
# Mutation testing of the verdict logic with mutmut (3.x): every mutant of the judge, the claims'
# predicates, the assumptions, the report and the second look, run against tests/. Not part of CI
# (hours on 2 cores). mutmut 3 mutates function bodies (not module-level constants), and finds code
# only in ./, src/ or source/, so it runs on a copy of the project with the package under src/.
#
#   tools/mutation.sh [FILE_GLOB ...]     default: the verdict logic (see TARGETS below)
#
# The score and the survivors are printed at the end (mutmut results) and kept in $MUTATION_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${MUTATION_DIR:-/tmp/aligncheck-mutation}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(src/aligncheck/claims/verdicts.py src/aligncheck/claims/check.py src/aligncheck/claims/assumptions.py
           "src/aligncheck/claims/ji_telgarsky/*.py" src/aligncheck/harness/report.py src/aligncheck/harness/confirm.py)
fi
rm -rf "$work" && mkdir -p "$work"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work")
mv "$work/core" "$work/src"
sed -i 's/^where = \["core"\]/where = ["src"]/' "$work/pyproject.toml"
# Tests whose code runs in subprocesses (they import the installed, unmutated package: they can
# kill no mutant) are left out, and so are the fuzz test (minutes, and it tests the command line)
# and the layering test (a mutated module carries mutmut's trampolines, so it is longer).
#
# mutmut runs, for each mutant, every test that calls the mutated function, until one fails. The
# judge is called by nearly every test that runs a flow, so a surviving mutant of it would cost the
# whole suite (~6 min): the run would take days. So only the tests that take under
# MUTATION_MAX_TEST_SECONDS (default 2 s) each are used, as measured by one run of the selection
# below. The score is then a lower bound on the score of all of tests/ (fewer tests kill fewer
# mutants); the number of tests used is printed.
python3 -m venv "$work/.venv"
"$work/.venv/bin/pip" install -q -e "$work[test]" "mutmut==3.8.1"
cd "$work"
selection=(tests/ --ignore=tests/test_plugin.py --ignore=tests/test_cli_fuzz.py --ignore=tests/test_layers.py
           --ignore=tests/bench)
# MUTATION_TEST_FILES="tests/a.py tests/b.py": only those test files (a lower bound on the score of
# all of tests/, at a fraction of the cost: a surviving mutant runs every selected test that calls it).
only_files=(${MUTATION_TEST_FILES:-})
if [ ${#only_files[@]} -gt 0 ]; then selection=("${only_files[@]}"); fi
if [ -n "${MUTATION_DURATIONS:-}" ]; then  # a junit XML of an earlier measurement, to save its minutes
  cp "$MUTATION_DURATIONS" durations.xml
else
  .venv/bin/python -m pytest "${selection[@]}" -q -n "${MUTATION_CHILDREN:-2}" -p no:cacheprovider \
    --junitxml=durations.xml > durations.log 2>&1 || tail -3 durations.log  # a failing test is left out below
fi
fast=$(.venv/bin/python - "${MUTATION_MAX_TEST_SECONDS:-2}" "${only_files[@]}" <<'PY'
import json, sys, xml.etree.ElementTree as ET
cutoff, files = float(sys.argv[1]), set(sys.argv[2:])
ids, total = [], 0
for case in ET.parse("durations.xml").iter("testcase"):
    total += 1
    failed = any(case.find(tag) is not None for tag in ("skipped", "failure", "error"))
    if not failed and float(case.get("time")) < cutoff:
        parts = case.get("classname").split(".")
        module = next(i for i, p in enumerate(parts) if p.startswith("test_"))
        path = "/".join(parts[: module + 1]) + ".py"
        if not files or path in files:
            ids.append("::".join([path, *parts[module + 1 :], case.get("name")]))
print(f"tests used: {len(ids)} of {total} (each under {cutoff:g} s{', from ' + ' '.join(sorted(files)) if files else ''})", file=sys.stderr)
print(", ".join(json.dumps(i) for i in ids))
PY
)
only=$(printf '"%s", ' "${TARGETS[@]}")
cat >> pyproject.toml <<TOML

[tool.mutmut]
source_paths = ["src"]
also_copy = ["README.md", "docs", "conjectures", "tools"]  # files the tests read
only_mutate = [${only%, }]
pytest_add_cli_args_test_selection = [$fast]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]
TOML
.venv/bin/mutmut run --max-children "${MUTATION_CHILDREN:-2}"
.venv/bin/mutmut results --all true > results.txt || true
killed=$(grep -c ": killed" results.txt || true)
survived=$(grep -c ": survived" results.txt || true)
other=$(grep -vc ": killed\|: survived" results.txt || true)
echo "mutants: killed $killed, survived $survived, other (no tests, timeout, suspicious, ...) $other"
echo "score: killed / (killed + survived) = $(python3 -c "print(f'{$killed/max(1,$killed+$survived):.1%}')")"
