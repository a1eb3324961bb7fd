"""Imported (not called) by the worker pool's forkserver before it forks workers: loads the fallback LaTeX parser
and builds its parser tables once, so that no worker's first hard answer pays ~1 s for them (sympy's import and
ANTLR's first prediction), and every worker shares those pages copy-on-write."""

from __future__ import annotations

from verifiers.math.bridge import parse_with_latex2sympy

parse_with_latex2sympy("\\sinh^{-1}(x)^{2} + \\frac{\\sqrt{y}}{2}")
