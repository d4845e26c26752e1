"""Quality on real, externally written, human-labelled answers (SemEval-2013 Beetle).

The within-question run of the method bake-off (``scripts/bakeoff.py``): the default
method and the plain baselines on the same folds and anchors. See that script for the
zero-shot run and method v1.

Usage: python scripts/quality_beetle.py [PATH_TO/beetle-train.jsonl] [--limit N]
"""

from __future__ import annotations

import sys

from bakeoff import main

if __name__ == "__main__":
    sys.exit(main([*sys.argv[1:], "--methods", "v2,baselines", "--runs", "within"]))
