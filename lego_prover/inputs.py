"""Files and folders a person names (flags, arguments, settings), opened with one-line errors.

Usage::

    text = read_text(Path("proof.thy"), "theory file")       # str, or BadInputError saying why not
    text = read_text(path, "theory file", limit=(1_000_000, "isabelle.max_proof_bytes"))  # refused unread if larger
    folder = existing_dir(Path("../shared/minif2f"), "--data-dir")
    target = new_file(Path("Skills.thy"), "export file")      # its folder exists, it is not a folder

Every failure is one sentence naming the path and what to do: a missing path, a folder
where a file is expected (and the reverse), no permission, text that is not UTF-8 or that
holds a NUL byte, a file larger than a limit.
"""

from __future__ import annotations

import os
from pathlib import Path

from lego_prover.errors import BadInputError


def _check_file(path: Path, what: str, hint: str) -> None:
    if path.is_dir():
        raise BadInputError(f"{what} {path} is a folder, not a file{hint}.")
    if not path.exists():
        raise BadInputError(f"{what} {path} does not exist{hint}.")


def read_bytes(path: Path, what: str, *, hint: str = "", limit: tuple[int, str] | None = None) -> bytes:
    """The file's bytes; ``hint`` (e.g. "; pass --problems-file FILE") ends the error sentence.

    ``limit``: (most bytes, the setting that says so); a larger file is refused unread.
    """
    _check_file(path, what, hint)
    try:
        if limit is not None and (size := path.stat().st_size) > limit[0]:
            raise BadInputError(f"{what} {path} is {size:,} bytes, more than {limit[1]} = {limit[0]:,} allows; "
                                f"set {limit[1]} higher to read it.")
        return path.read_bytes()
    except PermissionError:
        raise BadInputError(f"{what} {path} cannot be read (permission denied).") from None
    except OSError as exc:
        raise BadInputError(f"{what} {path} cannot be read ({exc.strerror or exc}).") from None


def decode_utf8(data: bytes, path: Path, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                            f"{exc.start}); save it as UTF-8.") from None


def read_text(path: Path, what: str, *, hint: str = "", limit: tuple[int, str] | None = None) -> str:
    """The file's text, decoded as UTF-8 (Isabelle theories, jsonl, TOML are all UTF-8).

    A NUL character is refused: no text format read here allows one, and a theory holding
    one would reach Isabelle (and the stored proof) as something no editor shows.
    """
    text = decode_utf8(read_bytes(path, what, hint=hint, limit=limit), path, what)
    if (nul := text.find("\0")) >= 0:
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        raise BadInputError(f"{what} {path} holds a NUL byte at line {line}, column {column} (character {nul}); "
                            "it is not text there: remove it.")
    return text


def not_a_file(path: Path, what: str, *, hint: str = "") -> None:
    """A folder (to be) is not a regular file already: one sentence naming ``what``."""
    if path.is_file():
        raise BadInputError(f"{what} {path} is a file, not a folder{hint}.")


def existing_dir(path: Path, what: str, *, hint: str = "") -> Path:
    not_a_file(path, what, hint=hint)
    if not path.is_dir():
        raise BadInputError(f"{what} {path} does not exist{hint}.")
    return path


def nearest_existing(path: Path) -> Path:
    """``path`` or the closest folder above it that exists (where creating it would start)."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def writable_dir(path: Path, what: str) -> Path:
    """A folder that exists and is writable, or can be created: checked without creating it."""
    not_a_file(path, what)
    base = nearest_existing(path)
    if not base.is_dir():
        raise BadInputError(f"{what} {path} cannot be created: {base} is a file.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise BadInputError(f"{what} {path} cannot be {'written' if base == path.absolute() else 'created'}: "
                            f"{base} is not writable.")
    return path


def new_file(path: Path, what: str) -> Path:
    """A file to write: not a folder, in a folder that exists and is writable."""
    if path.is_dir():
        raise BadInputError(f"{what} {path} is a folder; give a file name.")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise BadInputError(f"the folder of {what} {path} does not exist; create {parent} first.")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise BadInputError(f"{what} {path} cannot be written (permission denied).")
    return path
