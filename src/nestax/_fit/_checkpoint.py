"""Checkpoints on disk: one ``.npz`` of arrays plus one small JSON file per saved step.

A checkpoint of global step ``k`` holds everything the loop needs to go on exactly as if it
had never stopped: the parameters ``θ_k`` (their array leaves), the optimizer state of the
current stage, the stage index and the step inside it, the history of steps ``0..k-1`` and
the PRNG key (each step's key is ``fold_in(key, k)``, so nothing else about randomness needs
saving). Leaves are stored bit for bit (``np.savez``), and read back into the tree structure
of a fresh ``params`` / ``optimizer.init``, whose leaf paths (``keystr``), shapes and dtypes
they must match.

Files are written under temporary names in the same folder and renamed (``os.replace``), the
JSON last, so a run killed while saving leaves the previous checkpoint intact; a failed write
removes its temporary file, and resuming removes those a killed run left. The two newest are
kept. A checkpoint that cannot be read (a truncated or garbled file) is named in a warning and
the one before it is used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import jax
import jax.numpy as jnp
import numpy as np

FORMAT = "nestax.fit/1"
KEEP = 2
_NAME = re.compile(r"^ckpt-(\d{9})\.json$")


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_numpy(x: Any) -> np.ndarray:
    return np.asarray(jax.random.key_data(x) if _is_key(x) else x)


def _stem(step: int) -> str:
    return f"ckpt-{step:09d}"


MIN_FREE = 1 << 20  # bytes a folder must have free besides the checkpoints' own size


def _probe_write(directory: Path) -> None:
    """Create, write and delete a small file in ``directory`` (raises ``OSError`` if it can't)."""
    probe = directory / f".nestax-probe-{os.getpid()}.tmp"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"nestax")
    finally:
        probe.unlink(missing_ok=True)


def check_dir(directory: str | os.PathLike[str], nbytes: int = 0) -> Path:
    """Make sure checkpoints can be written to ``directory`` (created if missing), before training.

    Raises ``ValueError`` naming ``checkpoint_dir``, what is wrong and the path: it is a file,
    it lies under a file, it cannot be created, it is not writable, or fewer than
    ``2 * nbytes + MIN_FREE`` bytes are free (two checkpoints of ``nbytes`` are kept).
    """
    try:
        path = Path(directory)
    except TypeError as err:
        raise TypeError(
            f"fit: argument `checkpoint_dir` must be a path; got {type(directory).__name__}"
        ) from err
    if path.exists() and not path.is_dir():
        raise ValueError(f"fit: argument `checkpoint_dir` is a file, not a folder: {path}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(
                    f"fit: argument `checkpoint_dir` lies under a file ({parent}), so the "
                    f"folder cannot be created: {path}"
                )
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"fit: argument `checkpoint_dir` cannot be created ({err.strerror or err}): {path}"
        ) from err
    try:
        _probe_write(path)
    except OSError as err:
        raise ValueError(
            f"fit: argument `checkpoint_dir` is not writable ({err.strerror or err}): {path}"
        ) from err
    free = shutil.disk_usage(path).free
    need = 2 * int(nbytes) + MIN_FREE
    if free < need:
        raise ValueError(
            f"fit: argument `checkpoint_dir` has only {free} bytes free; checkpoints need about "
            f"{need}: {path}"
        )
    return path


def _write_arrays(fh: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    np.savez(fh, **arrays)


def _write_atomic(target: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Write ``target`` through a temporary file in its folder, renamed over it when complete.

    A failed write removes its temporary file and leaves ``target`` as it was; a process killed
    mid-write leaves at most a ``.<name>.<random>.tmp`` file, which `load_latest` removes.
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clean_tmp(directory: Path) -> None:
    """Remove the temporary files of writes cut short (a run killed while saving)."""
    for p in directory.iterdir():
        if p.name.startswith((".ckpt-", ".nestax-probe-")) and ".tmp" in p.name:
            p.unlink(missing_ok=True)


def save(
    directory: str | os.PathLike[str],
    *,
    meta: dict[str, Any],
    params: Any,
    opt_state: Any,
    key: Any,
    history: np.ndarray,
) -> Path:
    """Write the checkpoint of step ``meta["global_step"]``; return the JSON file's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"history": np.asarray(history)}
    p_leaves = jax.tree.leaves(params)
    o_leaves = jax.tree.leaves(opt_state)
    arrays |= {f"params_{i}": _to_numpy(x) for i, x in enumerate(p_leaves)}
    arrays |= {f"opt_{i}": _to_numpy(x) for i, x in enumerate(o_leaves)}
    if key is not None:
        arrays["key"] = _to_numpy(key)
    meta = dict(
        meta, format=FORMAT, n_params=len(p_leaves), n_opt=len(o_leaves),
        param_paths=paths(params), opt_paths=paths(opt_state),
    )  # fmt: skip
    stem = directory / _stem(meta["global_step"])
    _write_atomic(Path(f"{stem}.npz"), lambda fh: _write_arrays(fh, arrays))
    text = json.dumps(meta, indent=1).encode()
    _write_atomic(Path(f"{stem}.json"), lambda fh: fh.write(text))  # last: marks it complete
    for old in _steps(directory)[:-KEEP]:
        for ext in (".json", ".npz"):  # JSON first: a stray .npz is never read
            (directory / f"{_stem(old)}{ext}").unlink(missing_ok=True)
    return Path(f"{stem}.json")


def paths(tree: Any) -> list[str]:
    """The path of every array leaf of ``tree`` (``jax.tree_util.keystr``), in leaf order."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [jax.tree_util.keystr(path) for path, _ in flat]


def _steps(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    found = (_NAME.match(p.name) for p in directory.iterdir())
    return sorted(
        int(m.group(1)) for m in found if m and (directory / f"{m.group(0)[:-5]}.npz").exists()
    )


def load_latest(
    directory: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """``(meta, arrays)`` of the newest checkpoint in ``directory``; ``None`` if none."""
    directory = Path(directory)
    if directory.is_dir():
        _clean_tmp(directory)
    steps = _steps(directory)
    if not steps:
        return None
    problems = []
    for step in reversed(steps):  # the newest readable one; a damaged one is named and skipped
        stem = directory / _stem(step)
        try:
            return _read(stem)
        except _Unreadable as err:
            problems.append(f"{err.filename}: {err.error}")
            older = " ; trying the one before it" if step != steps[0] else ""
            warnings.warn(
                f"fit(resume=True): checkpoint file {err.filename} cannot be read "
                f"({err.error}){older}", stacklevel=3,
            )  # fmt: skip
    raise ValueError(
        f"fit(resume=True): no checkpoint in {directory} can be read: " + "; ".join(problems)
    )


class _Unreadable(Exception):
    """A damaged checkpoint file (raised and caught in this module only)."""

    def __init__(self, filename: Path, error: BaseException) -> None:
        self.filename, self.error = filename, f"{type(error).__name__}: {error}"


def _read(stem: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The checkpoint ``stem.json`` + ``stem.npz``; `_Unreadable` names the damaged file."""
    damaged = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        meta = json.loads(Path(f"{stem}.json").read_text())
        if not isinstance(meta, dict):
            raise ValueError(f"expected a JSON object, got {type(meta).__name__}")
    except damaged as err:
        raise _Unreadable(Path(f"{stem}.json"), err) from err
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"fit: {stem}.json is not a nestax.fit checkpoint (format {meta.get('format')!r})"
        )
    try:
        with np.load(f"{stem}.npz") as data:
            arrays = {name: data[name] for name in data.files}
        expected = ["history"] + [f"params_{i}" for i in range(meta["n_params"])]
        expected += [f"opt_{i}" for i in range(meta["n_opt"])]
        if missing := [name for name in expected if name not in arrays]:
            raise KeyError(f"arrays {missing} missing")
    except damaged as err:
        raise _Unreadable(Path(f"{stem}.npz"), err) from err
    return meta, arrays


def restore(
    template: Any,
    arrays: dict[str, np.ndarray],
    prefix: str,
    count: int,
    what: str,
    saved_paths: list[str] | None = None,
) -> Any:
    """Fill the leaves of ``template`` with ``arrays[f"{prefix}_{i}"]``, checking each one.

    With ``saved_paths`` (the checkpoint's leaf paths) leaves are matched by path, so a
    parameter renamed since the checkpoint is refused instead of filled with another's values.
    """
    leaves, treedef = jax.tree.flatten(template)
    if saved_paths is not None:
        now = paths(template)
        if now != saved_paths:
            missing = [p for p in saved_paths if p not in now]
            unexpected = [p for p in now if p not in saved_paths]
            detail = (
                f"missing now: {missing}; unexpected now: {unexpected}"
                if missing or unexpected
                else f"the same paths in another order: {saved_paths} then, {now} now"
            )
            raise ValueError(
                f"fit(resume=True): the leaf paths of the {what} do not match the checkpoint's "
                f"({detail})"
            )
    if len(leaves) != count:
        raise ValueError(
            f"fit(resume=True): the checkpoint's {what} has {count} array leaves; the current "
            f"one has {len(leaves)}"
        )
    out = []
    for i, leaf in enumerate(leaves):
        saved = arrays[f"{prefix}_{i}"]
        data_shape = jax.random.key_data(leaf).shape if _is_key(leaf) else jnp.shape(leaf)
        data_dtype = jax.random.key_data(leaf).dtype if _is_key(leaf) else jnp.result_type(leaf)
        if saved.shape != tuple(data_shape) or saved.dtype != data_dtype:
            raise ValueError(
                f"fit(resume=True): leaf {i} of the {what} is {saved.dtype}{list(saved.shape)} in "
                f"the checkpoint but {data_dtype}{list(data_shape)} now"
            )
        if _is_key(leaf):
            out.append(jax.random.wrap_key_data(saved, impl=jax.random.key_impl(leaf)))
        else:
            out.append(jnp.asarray(saved, dtype=data_dtype))
    return jax.tree.unflatten(treedef, out)
