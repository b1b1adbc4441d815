#!/usr/bin/env bash
# The fresh-seed campaign of the README ("Judging the judge"): every conjecture group with random
# seeds and the "campaign" budgets of aligncheck.harness.profiles (2,000 examples per gradient-flow
# property, 300 per GD property, 60 per edge-case kind), every violation recorded (no group stops
# at its first), the report in reports/campaign-SEED/. Hours on 2 cores; not run by CI.
#
#   tools/campaign.sh [SEED] [PATHS...] [pytest options...]   e.g. tools/campaign.sh 20261202 -n 2
#
# PATHS (conjecture modules or node ids; default: conjectures/) selects the groups, e.g.
#   tools/campaign.sh "" conjectures/test_soudry2018.py -n 2      ("": a random seed)
#
# SEED (default: a random one, printed) makes the session replay: the same seed, the same examples.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-$(python3 -c 'import secrets; print(secrets.randbelow(2**31))')}
shift || true
paths=()
while [ $# -gt 0 ] && [[ "$1" != -* ]]; do paths+=("$1"); shift; done
[ ${#paths[@]} -gt 0 ] || paths=(conjectures/)
echo "campaign seed: $seed (${paths[*]})"
start=$(date +%s)
set +e
.venv/bin/pytest "${paths[@]}" -p no:cacheprovider --hypothesis-profile=campaign --hypothesis-seed="$seed" \
    --aligncheck-report "reports/campaign-$seed" "$@"
status=$?
set -e
echo "campaign seed $seed: pytest exit $status, wall time $(( $(date +%s) - start )) s, report in reports/campaign-$seed/"
exit $status
