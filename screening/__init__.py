"""Attitude screening engine: score free-text situational-judgement answers against HR rubrics.

Pure Python, no web code. Entry points: :func:`screening.engine.build_scorer`,
:class:`screening.scorer.Scorer`, :func:`screening.rubric.load_rubric` and the
``screening`` command (:mod:`screening.cli`).
"""
