"""Bombs: every one answers 4xx within 2 s and with at most 256 MB of extra memory in the web process.

The payloads are built here: zip bombs from zeros (declared sizes, a lying header, the ratio, the
total, overlapping entries, the entry count, nested zips, hostile names), a Parquet file of 50M rows
(and one whose one text value repeats half a million times), CSV files whose header hides columns
behind a quoted newline, images whose header claims more pixels than allowed, and config values far
beyond what a request may ask. The memory is the process's peak resident size during the request,
above what it was before (Linux: the peak is reset through /proc/self/clear_refs; elsewhere
tracemalloc's peak). Benign uploads of each kind still succeed.
"""

from __future__ import annotations

import gc
import io
import re
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.models import DatasetVersion
from core import artifacts
from watermark.models import ProvenanceRecord, WatermarkBatch

SECONDS = 2.0
EXTRA_MB = 256
MiB = 1024 * 1024
BATCHES = "/api/v1/watermark/batches"
STAMP = "/api/v1/watermark/stamp"
VERIFY = "/api/v1/watermark/verify"
DATASETS = "/api/v1/datasets"


#
# Measuring
#


def _status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(match.group(1))


def _reset_peak() -> bool:
    """Reset the process's peak resident size to its current size (Linux); False where that is impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        _status_kb("VmHWM")
        return True
    except (OSError, AttributeError):
        return False


class Meter:
    """Measure a block: wall-clock seconds and extra peak memory in MB."""

    def __enter__(self) -> Meter:
        gc.collect()
        self.rss = _reset_peak()
        if self.rss:
            self.base = _status_kb("VmRSS")
        else:
            tracemalloc.start()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started
        if self.rss:
            self.mb = (_status_kb("VmHWM") - self.base) / 1024
        else:
            self.mb = tracemalloc.get_traced_memory()[1] / MiB
            tracemalloc.stop()


@pytest.fixture(scope="module", autouse=True)
def warm_imports():
    """Load what a running web worker has loaded already (the URLconf and every view, the parsers), so that
    the first request's imports are not counted as the bomb's."""
    import pandas  # noqa: F401
    import pyarrow.compute  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    from django.urls import get_resolver
    from PIL import JpegImagePlugin, PngImagePlugin, WebPImagePlugin  # noqa: F401

    get_resolver()._populate()


@pytest.fixture
def refused(error_of):
    """Return a check: a 4xx in the one error shape, within the time and memory bounds; the message."""

    def check(response, meter: Meter, status: int = 400, *words: str) -> str:
        assert response.status_code == status, response.content[:400]
        assert meter.seconds < SECONDS, f"took {meter.seconds:.2f} s"
        assert meter.mb < EXTRA_MB, f"grew by {meter.mb:.0f} MB"
        message = error_of(response)["message"]
        for word in words:
            assert word in message, message
        return message

    return check


def _upload(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _png(width: int = 256, height: int = 200, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


#
# Zips
#


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zeros_zip(sizes_mb: dict[str, int], level: int = 1) -> bytes:
    """Return a zip of entries of zeros, deflated as they stream (never held inflated)."""
    buffer, zeros = io.BytesIO(), bytes(MiB)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, size in sizes_mb.items():
            with archive.open(name, "w", force_zip64=True) as entry:
                for _ in range(size):
                    entry.write(zeros)
    return buffer.getvalue()


def _central_records(data: bytes) -> tuple[int, int, int]:
    """Return (offset of the central directory, its size, entries) of a small zip without a comment."""
    _, _, _, _, entries, size, offset, _ = struct.unpack("<4s4H2LH", data[-22:])
    return offset, size, entries


def _lying_zip(real_mb: int, declared: int) -> bytes:
    """Return a zip whose one entry inflates to `real_mb` MiB of zeros but declares `declared` bytes."""
    data = bytearray(_zip({"small.png": bytes(real_mb * MiB)}))
    offset, _, _ = _central_records(bytes(data))
    assert data[:4] == b"PK\x03\x04" and data[offset:offset + 4] == b"PK\x01\x02"
    data[22:26] = struct.pack("<L", declared)  # the local header's size
    data[offset + 24:offset + 28] = struct.pack("<L", declared)  # the central directory's
    return bytes(data)


def _overlapping_zip(copies: int, kernel_mb: int = 20) -> bytes:
    """Return a zip whose `copies` entries all point at one deflated kernel (each inflating it again)."""
    data = _zeros_zip({"k000.png": kernel_mb}, level=9)
    offset, size, _ = _central_records(data)
    record = data[offset:offset + size]
    name_len = struct.unpack("<H", record[28:30])[0]
    records = b"".join(record[:46] + f"k{i:03}.png".encode() + record[46 + name_len:] for i in range(copies))
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, copies, copies, len(records), offset, 0)
    return data[:offset] + records + end


def _many_entries_zip(count: int, claimed: int | None = None) -> bytes:
    """Return a zip of `count` empty entries (built as bytes: fast), whose end record may claim fewer."""
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 8, 0) + b"e0000000"
    records = b"".join(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0)
                       + f"e{i:07}".encode() for i in range(count))
    claimed = count if claimed is None else claimed
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, claimed, claimed, len(records), len(local), 0)
    return local + records + end


@pytest.fixture(scope="module")
def gigabyte_bomb() -> bytes:
    """One entry of 1 GiB of zeros, deflated: a few megabytes."""
    return _zeros_zip({"photo.png": 1024})


class TestZipBombs:
    def _post(self, client, data: bytes, name: str = "batch.zip"):
        with Meter() as meter:
            response = client.post(BATCHES, {"files": [_upload(data, name)]}, format="multipart")
        return response, meter

    def test_an_entry_that_declares_a_gigabyte_is_refused(self, as_alice, gigabyte_bomb, refused):
        response, meter = self._post(as_alice, gigabyte_bomb)
        refused(response, meter, 400, "photo.png", "a zip bomb?")
        assert WatermarkBatch.objects.count() == 0

    def test_an_entry_that_inflates_too_many_times_is_refused(self, as_alice, refused):
        response, meter = self._post(as_alice, _zeros_zip({"flat.png": 50}, level=9))
        refused(response, meter, 400, "times", "100")

    def test_a_zip_whose_entries_add_up_past_the_total_is_refused(self, as_alice, settings, refused):
        settings.ASSAY_BATCH_MAX_TOTAL_MB, settings.ASSAY_ZIP_MAX_RATIO = 60, 10_000
        response, meter = self._post(as_alice, _zeros_zip({"a.png": 25, "b.png": 25, "c.png": 25}))
        refused(response, meter, 400, "62,914,560 bytes")

    def test_a_header_that_understates_the_size_is_not_trusted(self, as_alice, refused):
        data = _lying_zip(real_mb=64, declared=1000)
        assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].file_size == 1000
        response, meter = self._post(as_alice, data)
        refused(response, meter, 400, "small.png")
        assert WatermarkBatch.objects.count() == 0

    def test_entries_that_share_one_stream_are_refused(self, as_alice, settings, refused):
        settings.ASSAY_BATCH_MAX_TOTAL_MB, settings.ASSAY_ZIP_MAX_RATIO = 100_000, 1_000_000  # only the overlap left
        response, meter = self._post(as_alice, _overlapping_zip(copies=200))
        refused(response, meter, 400, "overlap")

    @pytest.mark.parametrize("claimed", [None, 1], ids=["counted", "end record lies"])
    def test_a_zip_of_too_many_entries_is_refused_before_it_is_listed(self, as_alice, refused, claimed):
        response, meter = self._post(as_alice, _many_entries_zip(65_000, claimed))
        refused(response, meter, 400, "entries")

    @pytest.mark.parametrize("inner_name", ["more.zip", "innocent.png"])
    def test_a_zip_inside_the_zip_is_refused(self, as_alice, refused, inner_name):
        inner = _zip({"a.png": _png()})
        response, meter = self._post(as_alice, _zip({"ok.png": _png(seed=1), inner_name: inner}))
        refused(response, meter, 400, "nested")

    def test_a_zip_among_several_files_is_refused(self, as_alice, error_of):
        files = [_upload(_png(), "a.png"), _upload(_zip({"b.png": _png(seed=2)}), "b.zip")]
        response = as_alice.post(BATCHES, {"files": files}, format="multipart")
        assert response.status_code == 400 and "nested" in error_of(response)["message"]

    @pytest.mark.parametrize(("name", "words"), [
        ("../../evil.png", ".."), ("a/../../b/evil.png", ".."), ("/etc/evil.png", "absolute"),
        ("C:/evil.png", "drive letter"), ("dir\\evil.png", "backslash"), ("evil\x01.png", "control"),
    ])
    def test_hostile_entry_names_are_refused(self, as_alice, refused, name, words):
        response, meter = self._post(as_alice, _zip({"ok.png": _png(), name: _png(seed=3)}))
        refused(response, meter, 400, words)

    def test_duplicate_entry_names_are_refused(self, as_alice, refused):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("a.png", _png())
            archive.writestr("./a.png", _png(seed=4))
        response, meter = self._post(as_alice, buffer.getvalue())
        refused(response, meter, 400, "twice")

    def test_a_benign_zip_with_folders_still_makes_a_batch(self, as_alice, django_capture_on_commit_callbacks):
        data = _zip({"set/a.png": _png(), "set/b.png": _png(seed=5), "__MACOSX/set/._a.png": b"\x00\x05\x16\x07"})
        with django_capture_on_commit_callbacks(execute=True):
            response = as_alice.post(BATCHES, {"files": [_upload(data, "set.zip")]}, format="multipart")
        assert response.status_code == 202, response.content[:300]
        batch = as_alice.get(f"{BATCHES}/{response.json()['id']}").json()
        assert batch["status"] == "succeeded" and (batch["total"], batch["failed"]) == (2, 0)
        names = zipfile.ZipFile(io.BytesIO(as_alice.get(batch["download"]).content)).namelist()
        assert sorted(names) == ["results.json", "set/a-stamped.png", "set/b-stamped.png"]


class TestSafeZip:
    def test_names_are_normalised_for_writing(self):
        from core.safezip import clean_name

        assert clean_name("../../etc/passwd") == "etc/passwd"
        assert clean_name("/abs/x.png") == "abs/x.png"
        assert clean_name("C:\\Users\\x.png") == "Users/x.png"
        assert clean_name("a/./b/../c\x00.png") == "a/b/c.png"
        assert clean_name("..") == "file"

    def test_the_writer_keeps_names_clean_and_unique(self):
        from core.safezip import Writer

        buffer = io.BytesIO()
        with Writer(buffer) as out:
            assert [out.write(n, b"x") for n in ("../a.png", "/a.png", "A.png", "b/c.png")] == \
                ["a.png", "a-1.png", "A-2.png", "b/c.png"]
        assert zipfile.ZipFile(buffer).namelist() == ["a.png", "a-1.png", "A-2.png", "b/c.png"]

    def test_reading_caps_what_an_entry_inflates(self):
        from core.safezip import Limits, SafeZip, UnsafeZip

        with pytest.raises(UnsafeZip, match="per entry"):
            SafeZip(_zeros_zip({"a.bin": 8}), Limits(max_entry_bytes=4 * MiB))
        archive = SafeZip(_lying_zip(real_mb=8, declared=1000))
        with pytest.raises(UnsafeZip, match="small.png"):
            archive.read(archive.entries[0])


#
# Datasets
#


def _parquet_50m_rows() -> bytes:
    """Return a Parquet file of 50M rows of constants (dictionary- and RLE-encoded: a few hundred KB)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    block = pa.table({"age": pa.repeat(pa.scalar(41, pa.int64()), 1_000_000),
                      "income": pa.repeat(pa.scalar(40.5, pa.float64()), 1_000_000),
                      "sex": pa.repeat(pa.scalar("F"), 1_000_000),
                      "label": pa.repeat(pa.scalar("good"), 1_000_000)})
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, block.schema, compression="zstd") as writer:
        for _ in range(50):
            writer.write_table(block)
    return buffer.getvalue()


def _parquet_one_long_text(rows: int = 500_000, length: int = 100_000) -> bytes:
    """Return a tiny Parquet file whose one 100 KB text value repeats on every row (50 GB decoded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * length]))
    table = pa.table({"age": pa.array(np.arange(rows) % 80), "note": text,
                      "sex": pa.array(np.where(np.arange(rows) % 2, "F", "M")),
                      "label": pa.array(np.where(np.arange(rows) % 3, "good", "bad"))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _csv_hiding_columns(columns: int, rows: int = 1) -> bytes:
    """Return a CSV whose first header cell holds a quoted newline, hiding `columns` columns from a line count."""
    header = b'"label\nsex",' + b",".join(b"c%d" % i for i in range(columns - 1)) + b"\n"
    row = b",".join(b"1" for _ in range(columns)) + b"\n"
    return header + row * rows


class TestDatasetBombs:
    def _post(self, client, system, helpers, data: bytes, filename: str = "bomb.csv"):
        form = helpers.dataset_form(system, data, filename=filename)
        with Meter() as meter:
            response = client.post(DATASETS, form, format="multipart")
        return response, meter

    def test_a_parquet_file_of_50_million_rows_is_refused_from_its_metadata(self, as_alice, alice_system, helpers,
                                                                          refused):
        data = _parquet_50m_rows()
        assert len(data) < 1024 * 1024
        response, meter = self._post(as_alice, alice_system, helpers, data, "bomb.parquet")
        refused(response, meter, 400, "1,000,000 rows")
        assert not DatasetVersion.objects.exists()

    def test_a_parquet_text_value_repeated_on_every_row_is_refused_before_decoding(self, as_alice, alice_system,
                                                                                 helpers, refused):
        data = _parquet_one_long_text()
        assert len(data) < 1024 * 1024
        response, meter = self._post(as_alice, alice_system, helpers, data, "bomb.parquet")
        refused(response, meter, 400, "decoded")

    def test_a_parquet_file_with_nested_values_is_refused(self, as_alice, alice_system, helpers, refused):
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.table({"label": ["good", "bad"], "sex": ["F", "M"], "tags": [[1] * 1000, [2]]}), buffer)
        response, meter = self._post(as_alice, alice_system, helpers, buffer.getvalue(), "nested.parquet")
        refused(response, meter, 400, "nested")

    def test_a_quoted_newline_in_the_first_header_cell_does_not_hide_a_million_columns(
            self, as_alice, alice_system, helpers, refused):
        response, meter = self._post(as_alice, alice_system, helpers, _csv_hiding_columns(1_000_000))
        refused(response, meter, 400, "columns", "10,000")

    def test_the_header_is_counted_by_the_csv_parser(self, as_alice, alice_system, helpers, refused):
        data = _csv_hiding_columns(10_001, rows=2)
        assert data.split(b"\n", 1)[0].count(b",") == 0  # what a line-based check saw
        response, meter = self._post(as_alice, alice_system, helpers, data)
        refused(response, meter, 400, "10,001 columns")

    def test_too_many_rows_are_refused(self, as_alice, alice_system, helpers, refused):
        data = b"age,sex,label\n" + b"41,F,good\n42,M,bad\n" * 500_001
        response, meter = self._post(as_alice, alice_system, helpers, data)
        refused(response, meter, 400, "1,000,000 rows")

    def test_too_many_cells_are_refused_while_counting(self, as_alice, alice_system, helpers, settings, refused):
        settings.ASSAY_MAX_DATASET_CELLS = 1_000_000
        header = b"label,sex," + b",".join(b"c%d" % i for i in range(998)) + b"\n"
        data = header + (b",".join([b"a"] * 1000) + b"\n") * 2_000
        response, meter = self._post(as_alice, alice_system, helpers, data)
        refused(response, meter, 400, "1,000,000 cells")

    def test_benign_files_with_quoted_newlines_are_counted_right(self, as_alice, alice_system, helpers, frame):
        frame = frame.rename(columns={"housing": "housing\nstatus"})
        frame.loc[0, "housing\nstatus"] = "rent,\nshared"
        response = as_alice.post(DATASETS, helpers.dataset_form(alice_system, helpers.csv_bytes(frame)),
                                 format="multipart")
        assert response.status_code == 201, response.content[:300]
        body = response.json()
        assert body["rows"] == 60 and "housing\nstatus" in body["columns"]
        response = as_alice.post(DATASETS, helpers.dataset_form(alice_system, helpers.parquet_bytes(frame),
                                                                filename="credit.parquet"), format="multipart")
        assert response.status_code == 201 and response.json()["rows"] == 60


#
# Images
#


def _png_claiming(width: int, height: int) -> bytes:
    """Return a tiny PNG whose header claims width × height pixels."""
    data = bytearray(_png(16, 16))
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def _real_png(width: int, height: int) -> bytes:
    """Return a real 1-bit PNG of width × height (it deflates to almost nothing)."""
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def _png_with_text_bomb() -> bytes:
    body = b"AIGC\x00\x01\x00\x00\x00" + zlib.compress(bytes(64 * MiB), 9)
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    png = _png()
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


class TestImageBombs:
    @pytest.mark.parametrize("url", [STAMP, VERIFY])
    def test_a_header_claiming_ten_billion_pixels_is_refused_naming_the_limit(self, as_alice, refused, url):
        with Meter() as meter:
            response = as_alice.post(url, {"file": _upload(_png_claiming(100_000, 100_000), "bomb.png")},
                                     format="multipart")
        refused(response, meter, 400, "10,000,000,000 pixels", "40,000,000")
        assert ProvenanceRecord.objects.count() == 0 and WatermarkBatch.objects.count() == 0

    @pytest.mark.parametrize("url", [STAMP, VERIFY])
    def test_a_real_image_over_the_limit_is_refused_before_decoding(self, as_alice, refused, url):
        data = _real_png(8_000, 6_000)
        assert len(data) < 200_000
        with Meter() as meter:
            response = as_alice.post(url, {"file": _upload(data, "flat.png")}, format="multipart")
        refused(response, meter, 400, "48,000,000 pixels", "40,000,000")

    def test_a_compressed_text_chunk_bomb_is_refused(self, as_alice, refused):
        with Meter() as meter:
            response = as_alice.post(VERIFY, {"file": _upload(_png_with_text_bomb(), "text.png")}, format="multipart")
        refused(response, meter, 400)

    def test_a_large_image_is_stamped_by_a_job(self, as_alice, alice_org, settings,
                                               django_capture_on_commit_callbacks):
        settings.ASSAY_IMAGE_JOB_PIXELS = 100_000
        data = _png(640, 480)
        with django_capture_on_commit_callbacks(execute=True), Meter() as meter:
            response = as_alice.post(STAMP, {"file": _upload(data, "large.png"), "model_version": "m1"},
                                     format="multipart")
        assert response.status_code == 202, response.content[:300]
        body = response.json()
        assert response["Location"] == body["url"] == f"{BATCHES}/{body['id']}" and body["mode"] == "stamp"
        assert meter.seconds < SECONDS and meter.mb < EXTRA_MB
        job = as_alice.get(body["url"]).json()
        assert job["status"] == "succeeded" and job["failed"] == 0
        record = ProvenanceRecord.objects.get(pk=job["results"][0]["record"])
        assert (record.width, record.height, record.model_version) == (640, 480, "m1")
        archive = zipfile.ZipFile(io.BytesIO(as_alice.get(job["download"]).content))
        assert sorted(archive.namelist()) == ["large-stamped.png", "results.json"]

    def test_a_large_image_is_verified_by_a_job_only_its_caller_sees(self, as_alice, as_dave, settings,
                                                                     django_capture_on_commit_callbacks):
        stamped = as_alice.post(STAMP, {"file": _upload(_png(640, 480), "a.png")}, format="multipart")
        assert stamped.status_code == 200
        settings.ASSAY_IMAGE_JOB_PIXELS = 100_000
        with django_capture_on_commit_callbacks(execute=True):
            response = as_alice.post(VERIFY, {"file": _upload(stamped.content, "a.png")}, format="multipart")
        assert response.status_code == 202, response.content[:300]
        job = as_alice.get(response["Location"]).json()
        assert job["status"] == "succeeded" and job["mode"] == "verify"
        report = job["results"][0]["report"]
        assert report["invisible"]["detected"] and report["record"]["id"] == int(stamped["X-Assay-Record"])
        assert as_dave.get(response["Location"]).status_code == 404
        assert job["id"] not in [b["id"] for b in as_dave.get(BATCHES).json()["results"]]

    def test_the_dashboard_hands_large_images_to_jobs_too(self, client, alice, dave, settings,
                                                          django_capture_on_commit_callbacks):
        client.force_login(alice)
        settings.ASSAY_IMAGE_JOB_PIXELS = 100_000
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/watermark/", {"file": _upload(_png(640, 480), "big.png"), "invisible": "on"})
        batch = WatermarkBatch.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/watermark/batches/{batch.pk}/"
        assert "record #" in client.get(response["Location"]).content.decode()
        stamped = ProvenanceRecord.objects.get(batch=batch)
        image = artifacts.read(stamped.output_artifact)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/watermark/verify/", {"file": _upload(image, "big.png")})
        job = WatermarkBatch.objects.get(mode="verify")
        assert response.status_code == 302 and response["Location"] == f"/watermark/verify/?job={job.pk}"
        page = client.get(response["Location"]).content.decode()
        assert "detected" in page and f"#{stamped.pk}" in page
        client.force_login(dave)
        assert client.get(response["Location"]).status_code == 404
        assert client.get(f"/watermark/batches/{job.pk}/").status_code == 404

    def test_a_small_image_is_still_stamped_at_once(self, as_alice):
        response = as_alice.post(STAMP, {"file": _upload(_png(), "small.png")}, format="multipart")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"


#
# Config values
#


class TestConfigBounds:
    def test_an_audit_with_a_billion_pgd_steps_is_a_400(self, as_alice, alice_model, alice_dataset, refused):
        with Meter() as meter:
            response = as_alice.post("/api/v1/audits", {"model_version": alice_model.pk,
                                                         "dataset_version": alice_dataset.pk,
                                                         "config": {"pgd_steps": 10**9}}, format="json")
        refused(response, meter, 400, "pgd_steps", "1,000")

    def test_every_numeric_audit_knob_has_an_upper_bound(self):
        from audit.metrics.engine import _INTS_MIN_0, _INTS_MIN_1, _POSITIVE_FLOATS, MAXIMA, validate_config

        assert set(MAXIMA) == {"seed", *_INTS_MIN_1, *_INTS_MIN_0, *_POSITIVE_FLOATS}
        for key, most in MAXIMA.items():
            validate_config({key: most})
            with pytest.raises(ValueError, match=f"'{key}' must be at most"):
                validate_config({key: most + 1})
        with pytest.raises(ValueError, match="'bins' must be at most"):
            validate_config({"bins": {"age": list(range(5_000))}})
        with pytest.raises(ValueError, match="'sensitive_attributes' must be at most"):
            validate_config({"sensitive_attributes": [f"a{i}" for i in range(5_000)]})

    @pytest.mark.parametrize(("fields", "field"), [
        ({"epsilon": 1.0, "epochs": 10**9}, "epochs"),
        ({"epsilon": 1.0, "batch_size": 10**12}, "batch_size"),
        ({"epsilon": 1.0, "lr": 1e300}, "lr"),
        ({"epsilon": 1.0, "max_grad_norm": 1e300}, "max_grad_norm"),
    ])
    def test_dp_training_values_have_upper_bounds(self, as_alice, alice_model, alice_dataset, refused, fields,
                                                  field):
        body = {"model_version": alice_model.pk, "dataset_version": alice_dataset.pk, **fields}
        with Meter() as meter:
            response = as_alice.post("/api/v1/dp-trainings", body, format="json")
        message = refused(response, meter, 400, "at most")
        assert field in message

    def test_a_dp_sweep_of_a_thousand_values_is_a_400(self, as_alice, alice_model, alice_dataset, refused):
        body = {"model_version": alice_model.pk, "dataset_version": alice_dataset.pk,
                "epsilons": [1.0 + i / 1000 for i in range(1000)]}
        with Meter() as meter:
            response = as_alice.post("/api/v1/dp-trainings/sweep", body, format="json")
        refused(response, meter, 400)

    def test_dp_training_steps_are_bounded(self):
        from privacy import dp

        with pytest.raises(dp.DPParamsError) as caught:
            dp.validate_params(dp.DPParams(epsilon=1.0, epochs=500, batch_size=1), 1_000_000)
        assert "steps" in caught.value.fields["epochs"]
        assert dp.validate_params(dp.DPParams(epsilon=1.0, epochs=5, batch_size=256), 30_000).epochs == 5
