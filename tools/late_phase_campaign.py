"""Fresh-seed campaign for the high-precision stepper (aligncheck.dynamics.late_phase): random
planted problems run through ``aligncheck check`` with ``--late-phase`` (or ``--precision``), one
line per problem with its parameters, exit status, time, verdict counts and stop reason, and a
summary. The conjecture suite reaches the stepper only through the second look of a float64
violation, so this is where it meets problems it was not tuned on. Minutes on 2 cores; not run by CI.

    python tools/late_phase_campaign.py [--seed S] [--count N] [-- CHECK OPTIONS...]
    e.g. python tools/late_phase_campaign.py --count 40                    (--late-phase)
         python tools/late_phase_campaign.py --count 12 -- --precision 30

The seed (random if not given) is printed; the same seed draws the same problems, and each line
has what replays it (the planted problem's seed and the initialisation seed).
Problems: d ∈ [2, 5], n ∈ [d + 1, 3d + 3], depth 2 or 3, γ ∈ {0.05, 0.1, 0.3}, d support vectors
spanning R^d, exp or logistic loss.
"""

from __future__ import annotations

import argparse
import collections
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from aligncheck.data.planted import planted_problem

# the console script of the environment running this (the same install as the caller's)
CLI = shutil.which("aligncheck", path=str(Path(sys.executable).parent)) or "aligncheck"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("check_options", nargs="*", help="options for aligncheck check (default: --late-phase)")
    args = ap.parse_args()
    seed = secrets.randbelow(2**31) if args.seed is None else args.seed
    mode = args.check_options or ["--late-phase"]
    print(f"late-phase campaign seed: {seed} ({args.count} problems, {' '.join(mode)})", flush=True)
    rng = np.random.default_rng(seed)
    totals: collections.Counter = collections.Counter()
    stops: collections.Counter = collections.Counter()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.count):
            d = int(rng.integers(2, 6))
            n = int(rng.integers(d + 1, 3 * d + 4))
            depth = int(rng.integers(2, 4))
            gamma = float(rng.choice([0.05, 0.1, 0.3]))
            loss = str(rng.choice(["exp", "logistic"]))
            pseed, iseed = int(rng.integers(1 << 30)), int(rng.integers(1000))
            P = planted_problem(pseed, n=n, d=d, gamma=gamma, n_sv=d, sv_rank=d)
            data = Path(tmp) / f"p{i}.npz"
            np.savez(data, X=np.asarray(P.Z), y=np.ones(n))  # z_i = y_i x_i with y = 1
            t = time.perf_counter()
            res = subprocess.run([CLI, "check", str(data), "--depth", str(depth), "--loss", loss,
                                  *mode, "--seed", str(iseed), "--json"], capture_output=True, text=True, timeout=1800)
            took = time.perf_counter() - t
            what = f"{i}: d={d} n={n} L={depth} gamma={gamma} loss={loss} planted_seed={pseed} init_seed={iseed}"
            try:
                out = json.loads(res.stdout)
            except json.JSONDecodeError:
                failures += 1
                print(f"{what} exit {res.returncode} in {took:.1f} s, no report: {res.stderr.strip()[-300:]}", flush=True)
                continue
            counts = collections.Counter(v["status"] for v in out["claims"])
            totals.update(counts)
            stop = out["run"]["stop_reason"]
            stops[stop.split(" (")[0]] += 1
            failures += res.returncode != 0
            print(f"{what} exit {res.returncode} in {took:.1f} s: {dict(counts)}; stop: {stop[:100]}", flush=True)
            for v in out["claims"]:
                if v["status"] == "violated":
                    print(f"   violated {v['id']}: {v['reason'][:200]}", flush=True)
    print(f"summary (seed {seed}): {dict(totals)}; stops {dict(stops)}; runs with exit ≠ 0: {failures}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
