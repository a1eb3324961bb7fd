"""lid.176 inference in numpy: the same model file and the same arithmetic as fastText's `predict`, with one
vector per distinct word cached.

Why: fastText computes, for every word of every line, the vectors of its character n-grams (about 20 per word,
each decoded from product-quantised codes) and averages them. That per-character cost was 4 ms on a
20,000-character chain of thought, three times the whole budget. The average is linear, so a word's summed vector
can be computed once and reused: a line's hidden vector is the mean of its words' cached vectors (and of the
end-of-line token's), gathered for all the lines of a thought at once. Words seen for the first time are hashed
together as arrays (`Lid._ascii_vectors`; non-ASCII words one by one), never the whole text again.

From the hidden vectors, `logprobs` gives every label's log-probability (lid.176's hierarchical softmax, for the
second opinions of `verifiers.language`, which need more than the top 1), and `best` the most likely label at a
fraction of that cost: a label scoring above a bound (about probability 1/2) is provably the argmax, so the
target's labels and the most frequent ones are scored along their own tree paths only, then a greedy descent of
the tree handles most of the rest, and only lines near a tie get every label's score.

The file format, n-gram hashing, pruned-bucket mapping, norm-quantised rows and the Huffman tree are read exactly as
fastText 0.9 writes and uses them (`dictionary.cc`, `productquantizer.cc`, `quantmatrix.cc`, `loss.cc`); the tests
compare every label and probability with `fasttext-predict` on real text.
"""

from __future__ import annotations

import struct
import threading
from itertools import chain, repeat
from pathlib import Path

import numpy as np

_MAGIC = 793712314
_LABEL_PREFIX = "__label__"
_EOS = "</s>"
_KSUB = 256  # 8-bit product-quantiser codes
_HS_LOSS = 1  # fastText's loss_name::hs
# Distinct words whose vectors are kept; the cache is dropped and rebuilt when full (bounded memory, ~8 MB).
_CACHE_ROWS = 1 << 17
# Distinct words whose own label log-probabilities are kept (for word-level splits), float32: ~22 MB.
_WORD_LP_ROWS = 1 << 15
# Labels this close to the root of lid.176's Huffman tree (its most frequent languages: en, ru, de, fr, it, ja, es,
# …, 18 of them) are tried along their own paths before any descent of the tree (`Lid.best`).
_COMMON_DEPTH = 6
# From this many new ASCII words on, their vectors are computed as arrays (`Lid._ascii_vectors`), not word by word.
_BATCH_MIN = 4
# Up to this many lines the path gather beats the level walk (measured: equal near 25 rows, 4x slower at 200).
_FEW_ROWS = 20


class LidFormatError(ValueError):
    """The file is not a quantised lid-style fastText model this reader understands."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += out.nbytes
        return out

    def cstring(self) -> bytes:
        end = self.data.index(b"\0", self.at)
        raw = self.data[self.at : end]
        self.at = end + 1
        return raw


def _product_quantizer(r: _Reader) -> tuple[int, int, int, int, np.ndarray]:
    dim, nsubq, dsub, lastdsub = r.take("iiii")
    return dim, nsubq, dsub, lastdsub, r.array("<f4", dim * _KSUB).astype(np.float64)


def _quant_matrix(r: _Reader) -> np.ndarray:
    """Decode a fastText QuantMatrix to a dense (rows × dim) array (`QuantMatrix::addRowToVector` for every row)."""
    (qnorm,) = r.take("?")
    m, n = r.take("qq")
    (codesize,) = r.take("i")
    codes = r.array("u1", codesize)
    dim, nsubq, dsub, lastdsub, centroids = _product_quantizer(r)
    if dim != n or codesize != m * nsubq:
        raise LidFormatError("inconsistent product quantiser")
    codes = codes.reshape(m, nsubq).astype(np.int64)
    dense = np.zeros((m, n))
    for sub in range(nsubq):
        width = lastdsub if sub == nsubq - 1 else dsub
        # get_centroids: the last sub-quantiser's centroids are packed with its own width.
        base = sub * _KSUB * dsub
        index = base + codes[:, sub, None] * width + np.arange(width)
        dense[:, sub * dsub : sub * dsub + width] = centroids[index]
    if qnorm:
        norm_codes = r.array("u1", m).astype(np.int64)
        _, _, _, _, norm_centroids = _product_quantizer(r)
        dense *= norm_centroids[norm_codes][:, None]
    return dense


def _dense_matrix(r: _Reader) -> np.ndarray:
    m, n = r.take("qq")
    return r.array("<f4", m * n).astype(np.float64).reshape(m, n)


_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619


class Lid:
    """A decoded lid.176 model: `logprobs(lines)` gives every label's log-probability for each line."""

    def __init__(self, path: Path) -> None:
        r = _Reader(path.read_bytes())
        magic, _version = r.take("ii")
        if magic != _MAGIC:
            raise LidFormatError("not a fastText model file")
        dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, _model, bucket, minn, maxn, _lr_rate = r.take("i" * 12)
        r.take("d")
        if loss != _HS_LOSS or word_ngrams != 1:
            raise LidFormatError("only hierarchical-softmax models without word n-grams are supported")
        size, nwords, nlabels = r.take("iii")
        _ntokens, prune_size = r.take("qq")
        words: list[str] = []
        counts: list[int] = []
        for _ in range(size):
            word = r.cstring().decode("utf-8", "replace")
            count, _kind = r.take("qb")
            words.append(word)
            counts.append(count)
        pairs = r.array("<i4", 2 * prune_size).reshape(-1, 2) if prune_size > 0 else np.zeros((0, 2), "<i4")
        self._prune: dict[int, int] | None = (
            {int(a): int(b) for a, b in pairs} if prune_size > 0 else None if prune_size < 0 else {}
        )
        # Every bucket's row among the kept ones (-1: pruned away), for looking up many n-grams at once
        # (`_ascii_vectors`): 8 MB for lid.176's 2M buckets, a plain gather where a search cost ten times more.
        self._bucket_rows: np.ndarray | None = None
        if self._prune is not None:
            self._bucket_rows = np.full(bucket, -1, dtype=np.int32)
            self._bucket_rows[pairs[:, 0]] = pairs[:, 1]
        (quant_input,) = r.take("?")
        self._input = _quant_matrix(r) if quant_input else _dense_matrix(r)
        (quant_output,) = r.take("?")
        output = _quant_matrix(r) if quant_output else _dense_matrix(r)
        self.dim, self._nwords, self._bucket, self._minn, self._maxn = dim, nwords, bucket, minn, maxn
        self.labels: tuple[str, ...] = tuple(w.removeprefix(_LABEL_PREFIX) for w in words[nwords:])
        self.index: dict[str, int] = {label: i for i, label in enumerate(self.labels)}
        self._word_ids = {w: i for i, w in enumerate(words[:nwords])}
        self._output = output[: nlabels - 1]  # the internal nodes of the tree
        self._levels = _huffman_levels(counts[nwords:])
        self._path_columns, self._path_starts = _label_paths(self._levels, nlabels)
        self._path_ends = np.append(self._path_starts[1:], len(self._path_columns))
        self._children = _children(self._levels, nlabels)
        self._paths: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # see `_paths_of`
        depth = self._path_ends - self._path_starts
        self._common = tuple(int(j) for j in np.argsort(depth, kind="stable") if depth[j] <= _COMMON_DEPTH)
        # A label scoring above this is the best one (see `best`).
        self._greedy_sure = float(np.log(0.5 + 1e-5) + len(self._levels) * np.log(1.0 + 1e-5)) + 1e-9
        self._nlabels = nlabels
        # The caches are filled on first sight of a word and reset when full, never during a call; one lock around
        # each lookup-and-gather keeps two threads from giving one row to two words or reading a row a reset is
        # reusing (a wrong vector would be a wrong reward). Re-entrant: `word_logprobs` calls `hidden`.
        self._lock = threading.RLock()
        self._cache_index: dict[str, int] = {}
        # The longest word in the cache (see `_hidden`).
        self._cached_longest = 0
        self._cache = np.zeros((_CACHE_ROWS, dim + 1))
        self._eos = self._word_vector(_EOS)
        self._word_lp_index: dict[str, int] = {}
        self._word_lp = np.zeros((_WORD_LP_ROWS, nlabels), dtype=np.float32)

    # --- vectors -------------------------------------------------------------------------------------------
    def _subword_rows(self, word: str) -> list[int]:
        """`Dictionary::getSubwords` for an in-vocabulary word, `computeSubwords` of `<word>` otherwise."""
        rows: list[int] = []
        wid = self._word_ids.get(word)
        if wid is not None:
            rows.append(wid)
            if word == _EOS:
                return rows
        chars = "<" + word + ">"
        # Each character's bytes as fastText hashes them (`int8_t`, so a byte ≥ 0x80 is sign-extended).
        if chars.isascii():
            encoded: list[tuple[int, ...]] = [(b,) for b in chars.encode()]
        else:
            encoded = [
                tuple(b | 0xFFFFFF00 if b & 0x80 else b for b in c.encode("utf-8", "surrogatepass")) for c in chars
            ]
        prune = self._prune
        size, minn, maxn, nbucket, nwords = len(encoded), self._minn, self._maxn, self._bucket, self._nwords
        for i in range(size):
            # FNV-1a over the n-gram's bytes, carried from the (n-1)-gram at the same start: each byte once.
            h = _FNV_OFFSET
            for n in range(1, min(maxn, size - i) + 1):
                for byte in encoded[i + n - 1]:
                    h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
                if n < minn or (n == 1 and (i == 0 or i + n == size)):
                    continue
                bucket = h % nbucket
                if prune is None:
                    rows.append(nwords + bucket)
                else:
                    pruned = prune.get(bucket)
                    if pruned is not None:
                        rows.append(nwords + pruned)
        return rows

    def _word_vector(self, word: str) -> np.ndarray:
        """The sum of the word's input rows, with their number in the last column (the mean is over rows)."""
        rows = self._subword_rows(word)
        out = np.zeros(self.dim + 1)
        if rows:
            # Summed as `_ascii_vectors` sums many words (`reduceat`), so a word's cached vector is the same to the
            # last bit whichever way it was computed.
            out[: self.dim] = np.add.reduceat(self._input[rows], [0], axis=0)[0]
        out[self.dim] = len(rows)
        return out

    def _fill(self, words: list[str]) -> None:
        """Cache the vectors of `words` (distinct, none cached yet; called with the lock held, after any reset)."""
        index = self._cache_index
        start = len(index)
        self._cached_longest = max(self._cached_longest, max(map(len, words), default=0))
        batch = [w for w in words if w.isascii() and w != _EOS] if self._minn > 1 else []
        if len(batch) >= _BATCH_MIN:
            self._cache[start : start + len(batch)] = self._ascii_vectors(batch)
            index.update(zip(batch, range(start, start + len(batch)), strict=True))
            start += len(batch)
            words = [w for w in words if w not in index]
        for offset, word in enumerate(words):
            self._cache[start + offset] = self._word_vector(word)
            index[word] = start + offset

    def _ascii_vectors(self, words: list[str]) -> np.ndarray:
        """`_word_vector` of many ASCII words at once: every n-gram of every word hashed in a few array operations
        (FNV-1a in uint32, one byte per character), then the same rows summed in the same order. A word seen for
        the first time thereby costs about a microsecond instead of tens in a Python loop. Needs minn ≥ 2 (no
        one-character n-grams, whose rule about the word's ends this does not implement)."""
        wrapped = ["<" + w + ">" for w in words]
        lengths = np.fromiter(map(len, wrapped), dtype=np.int64, count=len(wrapped))
        ends = np.cumsum(lengths)
        data = np.frombuffer("".join(wrapped).encode("ascii"), dtype=np.uint8).astype(np.uint32)
        total = data.size
        padded = np.concatenate((data, np.zeros(self._maxn, dtype=np.uint32)))
        position = np.arange(total)
        end_of = np.repeat(ends, lengths)  # where the word of each position ends
        h = np.full(total, _FNV_OFFSET, dtype=np.uint32)
        hashes, valid = [], []
        for n in range(1, self._maxn + 1):
            h = (h ^ padded[position + n - 1]) * np.uint32(_FNV_PRIME)  # wraps modulo 2**32, as in C
            if n >= self._minn:
                hashes.append(h)
                valid.append(position + n <= end_of)
        # Row-major: by start position, then by n, the order of `_subword_rows`.
        bucket = (np.stack(hashes, axis=1) % np.uint32(self._bucket)).astype(np.int64).ravel()
        keep = np.stack(valid, axis=1).ravel()
        if self._bucket_rows is None:
            rows = self._nwords + bucket
        else:
            kept = self._bucket_rows[bucket]
            keep &= kept >= 0
            rows = self._nwords + kept.astype(np.int64)
        # Each word's own row first (in-vocabulary words), then its n-grams: a flat list and where each word starts.
        word_of = np.repeat(np.arange(len(words)), lengths * (self._maxn - self._minn + 1))[keep]
        gram_rows = rows[keep]
        wid = np.fromiter(map(self._word_ids.get, words, repeat(-1)), dtype=np.int64, count=len(words))
        own = np.flatnonzero(wid >= 0)
        order = np.argsort(np.concatenate((own, word_of)), kind="stable")
        flat = np.concatenate((wid[own], gram_rows))[order]
        counts = np.bincount(np.concatenate((own, word_of)), minlength=len(words))
        out = np.zeros((len(words), self.dim + 1))
        has = counts > 0
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        if flat.size:
            out[has, : self.dim] = np.add.reduceat(self._input[flat], starts[has], axis=0)
        out[:, self.dim] = counts
        return out

    def hidden(self, lines: list[list[str]], tokens: list[str] | None = None) -> np.ndarray:
        """The mean of the input rows of each line's tokens and of the end-of-line token (`computeHidden`: the mean
        is over rows, a word's own row and its n-grams', not over words). `tokens`, when given, is every line's
        tokens laid end to end (a caller that has it saves building it again)."""
        sizes = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
        if tokens is None:
            tokens = list(chain.from_iterable(lines))
        hidden = self._hidden(sizes, tokens, None)
        assert hidden is not None  # only a `longest` makes it None
        return hidden

    def _hidden(self, sizes: np.ndarray, tokens: list[str], longest: int | None) -> np.ndarray | None:
        """`hidden` of lines of `sizes` tokens, `tokens` laid end to end; None when a token is longer than
        `longest` (given), before any work on the vectors. Only the tokens not cached yet are measured for that
        while no cached token is longer than `longest` (`_cached_longest`): in a thought whose words recur, that
        is few or none of them, where measuring every token cost a tenth of the labelling."""
        if tokens:
            with self._lock:
                index = self._cache_index
                if len(index) + len(tokens) > _CACHE_ROWS:
                    # Reset before, never during, a call: a row looked up earlier in the call stays valid.
                    index.clear()
                    self._cached_longest = 0
                if longest is not None and self._cached_longest > longest and max(map(len, tokens)) > longest:
                    return None
                if len(tokens) > _CACHE_ROWS:  # a text of more words than the cache holds: no caching
                    if longest is not None and max(map(len, tokens)) > longest:
                        return None
                    vectors = np.array([self._word_vector(t) for t in tokens])
                else:
                    # One C-level lookup of every token; a token not cached yet stops it, then -1 marks those.
                    try:
                        rows = np.fromiter(map(index.__getitem__, tokens), dtype=np.int64, count=len(tokens))
                    except KeyError:
                        rows = np.fromiter(map(index.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
                    if (rows < 0).any():
                        new = [t for t in dict.fromkeys(tokens) if t not in index]
                        if longest is not None and max(map(len, new)) > longest:
                            return None
                        self._fill(new)
                        rows = np.fromiter(map(index.__getitem__, tokens), dtype=np.int64, count=len(tokens))
                    vectors = self._cache.take(rows, axis=0)  # the same rows as `[rows]`, in half the time
            starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
            if sizes.all():
                # Every line has words (the usual case): the segment sums are the rows, no zeros to fill in.
                sums = np.add.reduceat(vectors, starts, axis=0)
            else:
                nonempty = sizes > 0
                sums = np.zeros((len(sizes), self.dim + 1))
                sums[nonempty] = np.add.reduceat(vectors, starts[nonempty], axis=0)
        else:
            sums = np.zeros((len(sizes), self.dim + 1))
        sums += self._eos
        return sums[:, : self.dim] / sums[:, self.dim :]

    def best(self, lines: list[list[str]], likely: tuple[int, ...] = (), tokens: list[str] | None = None) -> np.ndarray:
        """The index of each line's most likely label: the argmax of `logprobs`, at a fraction of its cost.

        A label whose log-probability is above `_greedy_sure` is the argmax: any other label leaves its path at some
        node through the side of probability below 1/2, and no step of `std_log` exceeds log(1 + 1e-5). So the
        `likely` labels (the target's) and the most common ones (`_COMMON_DEPTH`) are scored first, along their own
        paths only, for every line at once; a line none of them is sure of gets a greedy descent of the tree (the
        likelier child at every node), whose label's score is exact and settles it the same way; the few lines
        left, near ties included, get every label's score and their argmax. `tokens`: as in `hidden`."""
        return self._best_of_hidden(self.hidden(lines, tokens), likely)

    def best_of_tokens(
        self, sizes: np.ndarray, tokens: list[str], likely: tuple[int, ...], longest: int
    ) -> np.ndarray | None:
        """`best` of lines of `sizes` tokens laid end to end in `tokens`, or None when a token is longer than
        `longest` (see `_hidden`)."""
        hidden = self._hidden(sizes, tokens, longest)
        return None if hidden is None else self._best_of_hidden(hidden, likely)

    def _best_of_hidden(self, hidden: np.ndarray, likely: tuple[int, ...]) -> np.ndarray:
        out = np.zeros(hidden.shape[0], dtype=np.int64)
        todo = np.arange(hidden.shape[0])
        for group in (likely, tuple(j for j in self._common if j not in likely) if likely else self._common):
            if group and todo.size:
                found, label = self._sure_among(hidden[todo], group)
                out[todo[found]] = label[found]
                todo = todo[~found]
        if todo.size:
            out[todo] = self.best_of_hidden(hidden[todo])
        return out

    def _sure_among(self, hidden: np.ndarray, labels: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """For each hidden vector, whether one of `labels` scores above `_greedy_sure` (so is the argmax), and which."""
        nodes, steps, starts = self._paths_of(labels)
        # Each distinct node once (the paths of the common labels share their first nodes: 27 nodes for 91 steps),
        # both sides of it, then every path's steps gathered from those: the same values as node by node.
        logits = np.einsum("nd,pd->np", hidden, self._output[nodes])
        with np.errstate(over="ignore"):
            f = 1.0 / (1.0 + np.exp(-logits))
        sides = np.log(np.concatenate((1.0 - f, f), axis=1) + 1e-5)
        scores = np.add.reduceat(sides[:, steps], starts, axis=1)
        sure = scores > self._greedy_sure  # at most one label per line can be
        return sure.any(axis=1), np.asarray(labels, dtype=np.int64)[sure.argmax(axis=1)]

    def _paths_of(self, labels: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct internal nodes on the paths of `labels` (rows of the output matrix), the steps of every
        path laid end to end as columns of (log(1 - f) of each node, then log(f) of each node), and where each
        label's path starts."""
        paths = self._paths.get(labels)
        if paths is None:
            columns = [self._path_columns[self._path_starts[j] : self._path_ends[j]] for j in labels]
            flat = np.concatenate(columns)
            starts = np.cumsum([0] + [len(c) for c in columns[:-1]])
            inner = self._nlabels - 1
            nodes, position = np.unique(flat % inner, return_inverse=True)
            steps = position.ravel() + nodes.size * (flat >= inner)
            # Read-only arrays, a few per target language: two threads that race here store equal values.
            paths = self._paths[labels] = (nodes, steps, starts)
        return paths

    def best_of_hidden(self, hidden: np.ndarray) -> np.ndarray:
        """The index of the most likely label of each hidden vector (one row each); see `best`."""
        n = hidden.shape[0]
        leaf = np.empty(n, dtype=np.int64)
        score = np.empty(n)
        rows = np.arange(n)
        node = np.full(n, self._nlabels - 2)  # the root, as an internal node's index
        acc = np.zeros(n)
        h = hidden
        while rows.size:
            logit = np.einsum("nd,nd->n", self._output[node], h)
            # The likelier side's probability, sigmoid(|logit|), and its `std_log` as fastText adds it.
            acc += np.log(1.0 / (1.0 + np.exp(-np.abs(logit))) + 1e-5)
            child = self._children[node, (logit >= 0).view(np.int8)]
            done = child < self._nlabels
            if done.any():
                leaf[rows[done]] = child[done]
                score[rows[done]] = acc[done]
                keep = ~done
                rows, child, acc, h = rows[keep], child[keep], acc[keep], h[keep]
            node = child - self._nlabels
        unsure = np.flatnonzero(score <= self._greedy_sure)
        if unsure.size:
            leaf[unsure] = self.logprobs_of_hidden(hidden[unsure]).argmax(axis=1)
        return leaf

    def word_logprobs(self, tokens: list[str]) -> np.ndarray:
        """(tokens × labels) log-probabilities of each token read alone, cached per distinct token."""
        with self._lock:
            index = self._word_lp_index
            missing = list(dict.fromkeys(t for t in tokens if t not in index))
            if len(index) + len(missing) > _WORD_LP_ROWS:
                index.clear()
                missing = list(dict.fromkeys(tokens))
            if len(missing) > _WORD_LP_ROWS:  # more distinct words than the cache holds: no caching
                return self.logprobs([[t] for t in tokens]).astype(np.float32)
            if missing:
                start = len(index)
                self._word_lp[start : start + len(missing)] = self.logprobs([[t] for t in missing])
                for offset, token in enumerate(missing):
                    index[token] = start + offset
            return self._word_lp[[index[t] for t in tokens]]

    def logprobs(self, lines: list[list[str]]) -> np.ndarray:
        """(lines × labels) log-probabilities, `std_log` included, as `HierarchicalSoftmaxLoss::predict` scores."""
        return self.logprobs_of_hidden(self.hidden(lines))

    def logprobs_of_hidden(self, hidden: np.ndarray) -> np.ndarray:
        """Every label's log-probability for each hidden vector (one row each)."""
        # A label's score is the sum of `std_log` of the sigmoid steps on its path from the root: far cheaper than a
        # (labels × nodes) matrix product. Nodes are rows (contiguous gathers); einsum's own loop rather than a BLAS
        # call, whose thread pool costs more than this small product and fights the worker processes for cores.
        logits = np.einsum("nd,pd->np", self._output, hidden)
        with np.errstate(over="ignore"):
            f = 1.0 / (1.0 + np.exp(-logits))
        steps = np.log(np.concatenate((1.0 - f, f)) + 1e-5)
        if hidden.shape[0] <= _FEW_ROWS:
            # A short thought: all paths laid end to end (about 1,800 steps for 176 labels) in one gather and one
            # segmented sum, two numpy calls instead of three per tree level, whose fixed cost dominates here.
            return np.add.reduceat(steps[self._path_columns], self._path_starts, axis=0).T
        # Otherwise node by node from the root, one level at a time, which moves far less data.
        scores = np.zeros((2 * self._nlabels - 1, hidden.shape[0]))
        for nodes, parents, columns in self._levels:
            scores[nodes] = scores[parents] + steps[columns]
        return scores[: self._nlabels].T


def _children(levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]], nlabels: int) -> np.ndarray:
    """(internal nodes × 2) children of each internal node, indexed from 0 (node `nlabels + i` is row i): column 0
    the left child (the step log(1 - f)), column 1 the right one (log(f), taken when the node's logit is ≥ 0)."""
    children = np.zeros((nlabels - 1, 2), dtype=np.int64)
    for nodes, parents, columns in levels:
        for node, parent, column in zip(nodes.tolist(), parents.tolist(), columns.tolist(), strict=True):
            children[parent - nlabels, int(column >= nlabels - 1)] = node
    return children


def _label_paths(
    levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]], nlabels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every label's path from the root as step columns, all paths concatenated, and where each one starts."""
    step_of: dict[int, tuple[int, int]] = {}  # node -> (parent, column of the step into it)
    for nodes, parents, columns in levels:
        for node, parent, column in zip(nodes.tolist(), parents.tolist(), columns.tolist(), strict=True):
            step_of[node] = (parent, column)
    flat: list[int] = []
    starts: list[int] = []
    for label in range(nlabels):
        starts.append(len(flat))
        node = label
        while node in step_of:
            parent, column = step_of[node]
            flat.append(column)
            node = parent
    return np.array(flat, dtype=np.int64), np.array(starts, dtype=np.int64)


def _huffman_levels(counts: list[int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`HierarchicalSoftmaxLoss::buildTree`'s tree as levels from the root down: for each level, the nodes on it,
    their parents, and the column of the step to each (left: log(1 - f), right: log(f), right columns offset by
    the number of internal nodes). Labels are nodes 0 … osz - 1, the root is the last node."""
    osz = len(counts)
    size = 2 * osz - 1
    parent = [-1] * size
    binary = [False] * size
    count = [float(c) for c in counts] + [1e15] * (osz - 1)
    children: dict[int, tuple[int, int]] = {}
    leaf, node = osz - 1, osz
    for i in range(osz, size):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                mini[j] = leaf
                leaf -= 1
            else:
                mini[j] = node
                node += 1
        count[i] = count[mini[0]] + count[mini[1]]
        parent[mini[0]] = parent[mini[1]] = i
        binary[mini[1]] = True
        children[i] = (mini[0], mini[1])
    levels = []
    frontier = [size - 1]
    while frontier:
        nodes = [c for p in frontier if p in children for c in children[p]]
        if not nodes:
            break
        parents = [parent[c] for c in nodes]
        columns = [parent[c] - osz + (osz - 1 if binary[c] else 0) for c in nodes]
        levels.append((np.array(nodes), np.array(parents), np.array(columns)))
        frontier = [c for c in nodes if c in children]
    return levels
