"""Zip archives from strangers: bounded, flat, with safe entry names. No Django.

A zip is checked in three steps, each cheaper than the harm it prevents:

1. Before `zipfile` parses anything, the end-of-central-directory record: the number of entries
   and the size of the central directory (a directory of millions of entries would cost seconds
   and gigabytes just to list).
2. The central directory: entry count, every declared size, the total, the compression ratio,
   overlapping entries (several entries inflating one shared stream), the compression method,
   encryption, duplicate names and every name (no `..`, no absolute path, no drive letter, no
   backslash, no control character), nested archives by name.
3. Reading: entries are inflated in chunks with a cap, whatever the header says, and the first
   bytes are checked for a nested zip.

`Writer` writes an archive whose entry names are made safe the same way (and unique).
Every refusal raises `UnsafeZip` with a message for the person who sent the file.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["Limits", "SafeZip", "UnsafeZip", "Writer", "clean_name", "is_zip", "normalise_name"]

MiB = 1024 * 1024
CHUNK = 1 * MiB
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
NESTED_EXTENSIONS = (".zip", ".jar", ".whl", ".apk", ".ipa", ".xpi", ".nupkg")
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# One central-directory record is 46 bytes plus its name, extra field and comment.
_DIRECTORY_BYTES_PER_ENTRY = 46 + 512


class UnsafeZip(ValueError):
    """The archive is refused; the message says why (for the person who sent it)."""


@dataclass(frozen=True)
class Limits:
    """What an archive may hold. Sizes are bytes after inflating."""

    max_entries: int = 1000  # every entry, folders included
    max_entry_bytes: int = 100 * MiB
    max_total_bytes: int = 1024 * MiB
    max_ratio: float = 100.0  # inflated / compressed, for entries above ratio_floor
    ratio_floor: int = 1 * MiB  # smaller entries may compress better (text): they cannot be bombs
    max_name_bytes: int = 1024
    allow_nested: bool = False  # a zip inside the zip


def is_zip(data: bytes) -> bool:
    """Return True when `data` starts like a zip archive (a local header or an empty archive)."""
    return data[:4] in ZIP_MAGIC


def normalise_name(name: str) -> str:
    """Return the entry name as a relative POSIX path ("a/b.png"), or raise UnsafeZip.

    Refused: empty names, `..` components, absolute paths, drive letters, backslashes and
    control characters. `.` and empty components are dropped; a folder's trailing slash too.
    """
    shown = _shown(name)
    if not name or not name.strip("/"):
        raise UnsafeZip(f"The archive holds an entry with an empty name ({shown})")
    if _CONTROL.search(name):
        raise UnsafeZip(f"The archive holds an entry name with a control character: {shown}")
    if "\\" in name:
        raise UnsafeZip(f"The archive holds an entry name with a backslash: {shown}")
    if name.startswith("/"):
        raise UnsafeZip(f"The archive holds an entry with an absolute path: {shown}")
    if _DRIVE.match(name):
        raise UnsafeZip(f"The archive holds an entry name with a drive letter: {shown}")
    parts = name.split("/")
    if ".." in parts:
        raise UnsafeZip(f"The archive holds an entry name that leaves its folder (..): {shown}")
    return "/".join(p for p in parts if p not in ("", "."))


def clean_name(name: str, default: str = "file") -> str:
    """Return a safe relative POSIX name for writing `name` into an archive (never raises).

    Backslashes count as folder separators; drive letters, `..`, `.`, empty components and
    control characters are dropped; `default` stands in for a name with nothing left.
    """
    name = _CONTROL.sub("", str(name)).replace("\\", "/")
    name = _DRIVE.sub("", name)
    parts = [p.strip() for p in name.split("/")]
    parts = [p for p in parts if p not in ("", ".", "..")]
    return "/".join(parts)[:255] or default


def _shown(name: str) -> str:
    return repr(name[:120] + ("…" if len(name) > 120 else ""))


def _directory_record(data: bytes) -> tuple[int, int, int]:
    """Return (entries, directory size, directory offset) from the end-of-central-directory record.

    Looks for the record where `zipfile` does: at the very end, else anywhere in the last 64 KiB + 22
    bytes (after a comment); a Zip64 record is followed through its locator.
    """
    if len(data) < 22:
        raise UnsafeZip("The file is not a zip archive (too short)")
    pos = len(data) - 22
    if data[pos:pos + 4] != _EOCD:
        pos = data.rfind(_EOCD, max(0, len(data) - 22 - 65535), len(data) - 21)
        if pos < 0:
            raise UnsafeZip("The file is not a zip archive (no end of central directory)")
    _, _, _, _, entries, size, offset, _ = struct.unpack("<4s4H2LH", data[pos:pos + 22])
    locator = pos - 20
    if locator >= 0 and data[locator:locator + 4] == _EOCD64_LOCATOR:
        _, _, record, _ = struct.unpack("<4sLQL", data[locator:locator + 20])
        if record + 56 > len(data) or data[record:record + 4] != _EOCD64:
            raise UnsafeZip("The zip archive has a broken Zip64 directory record")
        _, _, _, _, _, _, _, entries, size, offset = struct.unpack("<4sQ2H2L4Q", data[record:record + 56])
    return entries, size, offset


class SafeZip:
    """A zip archive whose directory passed the checks; `entries` lists its files (folders left out).

    `read(info)` inflates one entry with a cap, counting towards the archive's total.
    """

    def __init__(self, source: bytes | bytearray | memoryview | str | os.PathLike | BinaryIO,
                 limits: Limits | None = None):
        self.limits = limits or Limits()
        data = _as_bytes(source)
        entries, directory_size, _ = _directory_record(data)
        lim = self.limits
        if entries > lim.max_entries:
            raise UnsafeZip(f"The archive holds {entries:,} entries; at most {lim.max_entries:,} are accepted")
        if directory_size > lim.max_entries * _DIRECTORY_BYTES_PER_ENTRY + 65536:
            raise UnsafeZip(f"The archive's directory is {directory_size:,} bytes: too many entries or too long names "
                            f"(at most {lim.max_entries:,} entries are accepted)")
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error) as exc:
            raise UnsafeZip(f"The file is not a readable zip archive: {exc}") from None
        self.size = len(data)
        self.entries = self._check(infos)
        self.inflated = 0

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.zip.close()

    def _check(self, infos: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
        lim = self.limits
        if len(infos) > lim.max_entries:
            raise UnsafeZip(f"The archive holds {len(infos):,} entries; at most {lim.max_entries:,} are accepted")
        seen: set[str] = set()
        files, total = [], 0
        for info in infos:
            if len(info.filename.encode("utf-8", "surrogateescape")) > lim.max_name_bytes:
                raise UnsafeZip(f"The archive holds an entry name longer than {lim.max_name_bytes} bytes: "
                                f"{_shown(info.filename)}")
            name = normalise_name(info.filename)
            if name in seen:
                raise UnsafeZip(f"The archive holds the entry {_shown(name)} twice")
            seen.add(name)
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise UnsafeZip(f"The archive's entry {_shown(name)} is encrypted")
            if info.compress_type not in METHODS:
                raise UnsafeZip(f"The archive's entry {_shown(name)} uses compression method {info.compress_type}; "
                                "only stored and deflated entries are accepted")
            if not lim.allow_nested and name.lower().endswith(NESTED_EXTENSIONS):
                raise UnsafeZip(f"The archive holds another archive ({_shown(name)}); nested archives are not accepted")
            if info.file_size > lim.max_entry_bytes:
                raise UnsafeZip(f"The archive's entry {_shown(name)} inflates to {info.file_size:,} bytes; the limit "
                                f"is {lim.max_entry_bytes:,} per entry (a zip bomb?)")
            if info.file_size > lim.ratio_floor and info.file_size > lim.max_ratio * max(info.compress_size, 1):
                raise UnsafeZip(f"The archive's entry {_shown(name)} inflates {info.file_size / max(info.compress_size, 1):,.0f} "
                                f"times; at most {lim.max_ratio:g} times is accepted (a zip bomb?)")
            total += info.file_size
            if total > lim.max_total_bytes:
                raise UnsafeZip(f"The archive inflates to more than {lim.max_total_bytes:,} bytes, the limit "
                                "(a zip bomb?)")
            files.append(info)
        self._check_overlaps(files)
        return files

    def _check_overlaps(self, files: list[zipfile.ZipInfo]) -> None:
        """Refuse entries whose compressed data overlap (several entries inflating one shared stream)."""
        spans = sorted((info.header_offset, info.header_offset + 30 + info.compress_size, info.filename)
                       for info in files)
        for (_, end, name), (start, _, _) in zip(spans, spans[1:], strict=False):
            if end > start:
                raise UnsafeZip(f"The archive's entries overlap at {_shown(name)} (a zip bomb?)")
        if spans and spans[-1][1] > self.size:
            raise UnsafeZip(f"The archive's entry {_shown(spans[-1][2])} runs past the end of the file")

    def name(self, info: zipfile.ZipInfo) -> str:
        """Return the entry's normalised name."""
        return normalise_name(info.filename)

    def chunks(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """Yield the entry's bytes as they inflate; raise UnsafeZip as soon as a cap is passed.

        The cap is the entry's declared size (the header is not trusted: more bytes than declared
        is a refusal), the per-entry limit and what is left of the archive's total.
        """
        lim = self.limits
        cap = min(info.file_size, lim.max_entry_bytes)
        name = _shown(normalise_name(info.filename))
        produced = 0
        try:
            with self.zip.open(info) as stream:
                while True:
                    chunk = stream.read(min(CHUNK, cap - produced + 1))
                    if not chunk:
                        break
                    if produced == 0 and not lim.allow_nested and is_zip(chunk):
                        raise UnsafeZip(f"The archive's entry {name} is itself a zip archive; nested archives "
                                        "are not accepted")
                    produced += len(chunk)
                    self.inflated += len(chunk)
                    if produced > cap:
                        raise UnsafeZip(f"The archive's entry {name} inflates past {cap:,} bytes (its declared size "
                                        "or the limit; a zip bomb?)")
                    if self.inflated > lim.max_total_bytes:
                        raise UnsafeZip(f"The archive inflates to more than {lim.max_total_bytes:,} bytes, the "
                                        "limit (a zip bomb?)")
                    yield chunk
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError,
                struct.error) as exc:
            if isinstance(exc, UnsafeZip):
                raise
            raise UnsafeZip(f"The archive's entry {name} cannot be read: {exc}") from None

    def read(self, info: zipfile.ZipInfo) -> bytes:
        """Return the entry's bytes, inflated with the caps of `chunks`."""
        return b"".join(self.chunks(info))

    def head(self, info: zipfile.ZipInfo, size: int = 8) -> bytes:
        """Return the first `size` bytes of the entry (inflating only what that takes)."""
        try:
            with self.zip.open(info) as stream:
                return stream.read(size)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError,
                struct.error) as exc:
            raise UnsafeZip(f"The archive's entry {_shown(info.filename)} cannot be read: {exc}") from None

    def verify(self) -> None:
        """Inflate every entry once, keeping nothing: refuses lying headers (more bytes than declared, or a
        bad CRC), nested zips and anything past the caps. Costs at most the declared sizes, already bounded."""
        for info in self.entries:
            for _ in self.chunks(info):
                pass
        self.inflated = 0

    def check_nested(self) -> None:
        """Refuse the archive when an entry starts like a zip (whatever its name); cheap: a few bytes each."""
        if self.limits.allow_nested:
            return
        for info in self.entries:
            if info.file_size and is_zip(self.head(info, 4)):
                raise UnsafeZip(f"The archive's entry {_shown(info.filename)} is itself a zip archive; nested "
                                "archives are not accepted")


def _as_bytes(source) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return fh.read()
    return source.read()


class Writer:
    """Write an archive whose entry names are clean (`clean_name`) and unique ("a.png", "a-1.png").

    Use as a context manager around a binary file or buffer; `write(name, data)` returns the name used.
    """

    def __init__(self, target: BinaryIO, compression: int = zipfile.ZIP_STORED):
        self.zip = zipfile.ZipFile(target, "w", compression)
        self.names: set[str] = set()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.zip.close()

    def write(self, name: str, data: bytes | str) -> str:
        name = self.unique(clean_name(name))
        self.zip.writestr(name, data)
        return name

    def unique(self, name: str) -> str:
        stem, ext = posixpath.splitext(name)
        candidate, n = name, 0
        while candidate.lower() in self.names:
            n += 1
            candidate = f"{stem}-{n}{ext}"
        self.names.add(candidate.lower())
        return candidate
