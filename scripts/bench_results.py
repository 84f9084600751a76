"""What the bench harnesses' summaries share: reading a run's JSON and the
count a delivery mock logs. The inline summaries of scripts/bench-*.sh run
from the repository root and import it as scripts.bench_results; the
scripts/*-summary.py files as bench_results; the callers run python3 -B
so that no __pycache__ is left in scripts/."""
import json
import os


def load_json(path):
    """The JSON document in path, or None when it is missing or broken."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def mock_accepted(out, proto):
    """The count of the last "N messages accepted" line of the mock's log
    out/mock-PROTO.log, as printed, or "?"."""
    got = "?"
    try:
        with open(os.path.join(out, "mock-%s.log" % proto)) as f:
            for line in f:
                if line.rstrip().endswith("messages accepted"):
                    got = line.split()[-3]
    except OSError:
        pass
    return got
