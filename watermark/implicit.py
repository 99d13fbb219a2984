"""The implicit label of GB 45438-2025 Appendix E: `{"AIGC": {...}}` in the file's metadata.

Seven fields, in this order: Label, ContentProducer, ProduceID, ReservedCode1,
ContentPropagator, PropagateID, ReservedCode2. Values are printable ASCII without space, double
quote or backslash. `ReservedCode1` is the integrity code:

    base64( HMAC-SHA256( organisation key,
        "AIGC-RC1/v1\\n" + Label + "\\n" + ContentProducer + "\\n" + ProduceID + "\\n" + pixel SHA-256 (hex) ) )

where the pixel SHA-256 is `imageio.pixel_sha256` of the decoded image, so the code covers the
picture but not the file bytes that hold the label.

Where it is written (by inserting bytes, so the encoded pixels are untouched):
* PNG: an uncompressed iTXt chunk with keyword `AIGC`, and XMP in the standard iTXt chunk
  `XML:com.adobe.xmp`;
* JPEG: XMP in an APP1 segment;
* WebP: XMP in an `XMP ` chunk (the file is turned into the extended VP8X layout if needed).
The XMP carries the JSON as the property `TC260:AIGC`. The namespace URI of that prefix is not
settled in what we could verify, so it is a parameter (Django setting ASSAY_AIGC_XMP_NAMESPACE)
with the default `DEFAULT_NAMESPACE`. A file carries exactly one AIGC label: writing removes any
label already there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
import zlib
from xml.sax.saxutils import escape, unescape

FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID",
          "ReservedCode2")
LABEL_VALUES = {"1": "AI-generated", "2": "possibly AI-generated", "3": "suspected AI-generated"}
DEFAULT_NAMESPACE = "http://www.tc260.org.cn/ns/AIGC/1.0/"
PNG_KEYWORD = b"AIGC"
XMP_PNG_KEYWORD = b"XML:com.adobe.xmp"
# A compressed PNG text chunk inflates to at most this (the label and its XMP are far smaller).
MAX_TEXT_BYTES = 1024 * 1024
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_VALUE = re.compile(r"^[!#-\[\]-~]*$")  # printable ASCII without space, " and \
_XMP_PROPERTY = re.compile(rb"<(?:\w+:)?AIGC>(.*?)</(?:\w+:)?AIGC>", re.S)


class MetadataError(ValueError):
    """A label value is not allowed, or the file's container is broken."""


#
# The label
#


def check_value(name: str, value: str) -> str:
    if not isinstance(value, str) or not _VALUE.match(value):
        raise MetadataError(
            f"AIGC {name} must be printable ASCII without spaces, double quotes or backslashes (got {value!r})"
        )
    return value


def integrity_code(key: bytes, label: str, producer: str, produce_id: str, pixel_sha256: str) -> str:
    """Return ReservedCode1: base64 of the HMAC-SHA256 over the producer fields and the pixel hash."""
    message = "\n".join(["AIGC-RC1/v1", label, producer, produce_id, pixel_sha256]).encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def build(*, key: bytes, producer: str, produce_id: str, pixel_sha256: str, label: str = "1",
          propagator: str | None = None, propagate_id: str | None = None) -> dict:
    """Return the AIGC object with its seven fields in order; on first write the propagator
    fields take the producer's values."""
    if label not in LABEL_VALUES:
        raise MetadataError(f"AIGC Label must be one of {', '.join(LABEL_VALUES)}")
    fields = {
        "Label": label,
        "ContentProducer": check_value("ContentProducer", producer),
        "ProduceID": check_value("ProduceID", produce_id),
        "ReservedCode1": integrity_code(key, label, producer, produce_id, pixel_sha256),
        "ContentPropagator": check_value("ContentPropagator", propagator if propagator is not None else producer),
        "PropagateID": check_value("PropagateID", propagate_id if propagate_id is not None else produce_id),
        "ReservedCode2": "",
    }
    return {"AIGC": fields}


def to_json(label: dict) -> str:
    return json.dumps(label, ensure_ascii=True, separators=(",", ":"))


def xmp_packet(label: dict, namespace: str = DEFAULT_NAMESPACE) -> bytes:
    body = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about="" xmlns:TC260="{escape(namespace, {chr(34): "&quot;"})}">\n'
        f"   <TC260:AIGC>{escape(to_json(label))}</TC260:AIGC>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return body.encode("utf-8")


def check(fields: dict | None) -> list[str]:
    """Return what is wrong with an AIGC object's fields (empty when complete and well-formed)."""
    if not isinstance(fields, dict):
        return ["no AIGC object"]
    problems = []
    keys = list(fields)
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        problems.append("missing fields: " + ", ".join(missing))
    extra = [k for k in keys if k not in FIELDS]
    if extra:
        problems.append("unknown fields: " + ", ".join(extra))
    if not missing and [k for k in keys if k in FIELDS] != list(FIELDS):
        problems.append("fields are not in the order of GB 45438 Appendix E")
    for name in FIELDS:
        value = fields.get(name)
        if value is not None and (not isinstance(value, str) or not _VALUE.match(value)):
            problems.append(f"{name} is not printable ASCII without spaces, quotes or backslashes")
    if fields.get("Label") not in LABEL_VALUES:
        problems.append("Label is not 1, 2 or 3")
    for name in ("ContentProducer", "ProduceID"):
        if not fields.get(name):
            problems.append(f"{name} is empty")
    return problems


def verify_integrity(fields: dict, key: bytes, pixel_sha256: str) -> bool:
    expected = integrity_code(key, str(fields.get("Label", "")), str(fields.get("ContentProducer", "")),
                              str(fields.get("ProduceID", "")), pixel_sha256)
    return hmac.compare_digest(expected, str(fields.get("ReservedCode1", "")))


def parse_json(text: str | bytes) -> dict | None:
    """Return the AIGC object of a JSON text (fields in file order), or None when it is not one."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and isinstance(data.get("AIGC"), dict):
        return data["AIGC"]
    return None


#
# Writing into the file
#


def write(data: bytes, fmt: str, label: dict, *, namespace: str = DEFAULT_NAMESPACE) -> bytes:
    """Return the file `data` (PNG, JPEG or WEBP) with `label` written in, replacing any AIGC label."""
    xmp = xmp_packet(label, namespace)
    if fmt == "PNG":
        return _png_write(data, to_json(label).encode("ascii"), xmp)
    if fmt == "JPEG":
        return _jpeg_write(data, xmp)
    if fmt == "WEBP":
        return _webp_write(data, xmp)
    raise MetadataError(f"Cannot write an AIGC label into {fmt}")


def read(data: bytes) -> dict:
    """Return what the file says: {"sources": {"iTXt"|"XMP": fields}, "count": labels found}."""
    sources: dict[str, dict] = {}
    count = 0
    try:
        if data.startswith(PNG_SIGNATURE):
            for kind, body in _png_chunks(data):
                if kind == b"iTXt":
                    try:
                        keyword, text = _itxt(body)
                    except (MetadataError, ValueError, IndexError):
                        continue  # a broken or oversized text chunk is not a label
                    if keyword == PNG_KEYWORD.decode():
                        fields = parse_json(text)
                        count += 1
                        if fields is not None:
                            sources.setdefault("iTXt", fields)
                    elif keyword == XMP_PNG_KEYWORD.decode():
                        count += _xmp_into(text.encode("utf-8"), sources)
        elif data.startswith(b"\xff\xd8"):
            for marker, body in _jpeg_segments(data):
                if marker == 0xE1 and body.startswith(XMP_JPEG_HEADER):
                    count += _xmp_into(body[len(XMP_JPEG_HEADER):], sources)
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            for kind, body in _riff_chunks(data):
                if kind == b"XMP ":
                    count += _xmp_into(body, sources)
    except (MetadataError, struct.error, IndexError):
        pass
    return {"sources": sources, "count": count}


def _xmp_into(xmp: bytes, sources: dict) -> int:
    found = 0
    for match in _XMP_PROPERTY.finditer(xmp):
        found += 1
        fields = parse_json(unescape(match.group(1).decode("utf-8", "replace")))
        if fields is not None:
            sources.setdefault("XMP", fields)
    return found


# PNG


def _png_chunks(data: bytes):
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos: pos + 8])
        body = data[pos + 8: pos + 8 + length]
        if len(body) != length:
            raise MetadataError("truncated PNG chunk")
        yield kind, body
        pos += 12 + length
        if kind == b"IEND":
            break


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _itxt(body: bytes) -> tuple[str, str]:
    keyword, rest = body.split(b"\x00", 1)
    compressed, _method = rest[0], rest[1]
    rest = rest[2:]
    _lang, rest = rest.split(b"\x00", 1)
    _translated, text = rest.split(b"\x00", 1)
    if compressed:
        text = _inflate(text)
    return keyword.decode("latin-1"), text.decode("utf-8", "replace")


def _inflate(data: bytes) -> bytes:
    """Return a compressed text chunk inflated, refusing more than MAX_TEXT_BYTES (a zlib bomb)."""
    try:
        inflater = zlib.decompressobj()
        text = inflater.decompress(data, MAX_TEXT_BYTES + 1)
    except zlib.error as exc:
        raise MetadataError(f"broken compressed text chunk: {exc}") from None
    if len(text) > MAX_TEXT_BYTES or inflater.unconsumed_tail:
        raise MetadataError(f"a compressed text chunk inflates past {MAX_TEXT_BYTES:,} bytes")
    return text


def _itxt_chunk(keyword: bytes, text: bytes) -> bytes:
    return _png_chunk(b"iTXt", keyword + b"\x00" + b"\x00\x00" + b"\x00" + b"\x00" + text)


def _png_write(data: bytes, json_bytes: bytes, xmp: bytes) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise MetadataError("not a PNG file")
    out = [PNG_SIGNATURE]
    inserted = False
    for kind, body in _png_chunks(data):
        if kind in (b"iTXt", b"tEXt", b"zTXt"):
            keyword = body.split(b"\x00", 1)[0]
            if keyword in (PNG_KEYWORD, XMP_PNG_KEYWORD):
                continue  # one AIGC label per file: drop the old one
        if kind == b"IDAT" and not inserted:
            out += [_itxt_chunk(PNG_KEYWORD, json_bytes), _itxt_chunk(XMP_PNG_KEYWORD, xmp)]
            inserted = True
        out.append(_png_chunk(kind, body))
    if not inserted:
        raise MetadataError("PNG without image data")
    return b"".join(out)


# JPEG


def _jpeg_segments(data: bytes):
    """Yield (marker, body) for the segments before the entropy-coded data."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise MetadataError("broken JPEG segment")
        marker = data[pos + 1]
        if marker == 0xDA or marker == 0xD9:
            return
        length = struct.unpack(">H", data[pos + 2: pos + 4])[0]
        yield marker, data[pos + 4: pos + 2 + length]
        pos += 2 + length


def _jpeg_write(data: bytes, xmp: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise MetadataError("not a JPEG file")
    segment_body = XMP_JPEG_HEADER + xmp
    if len(segment_body) + 2 > 0xFFFF:
        raise MetadataError("XMP packet too large for one JPEG segment")
    pos, head = 2, [b"\xff\xd8"]
    inserted = False
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2: pos + 4])[0]
        segment = data[pos: pos + 2 + length]
        body = segment[4:]
        if not inserted and marker not in (0xE0,):  # after JFIF's APP0, before everything else
            head.append(b"\xff\xe1" + struct.pack(">H", len(segment_body) + 2) + segment_body)
            inserted = True
        if not (marker == 0xE1 and body.startswith(XMP_JPEG_HEADER)):
            head.append(segment)
        pos += 2 + length
    if not inserted:
        head.append(b"\xff\xe1" + struct.pack(">H", len(segment_body) + 2) + segment_body)
    return b"".join(head) + data[pos:]


# WebP


def _riff_chunks(data: bytes):
    pos = 12
    end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    while pos + 8 <= end:
        kind, length = data[pos: pos + 4], struct.unpack("<I", data[pos + 4: pos + 8])[0]
        body = data[pos + 8: pos + 8 + length]
        if len(body) != length:
            raise MetadataError("truncated WebP chunk")
        yield kind, body
        pos += 8 + length + (length & 1)


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _webp_size(kind: bytes, body: bytes) -> tuple[int, int, bool]:
    if kind == b"VP8 ":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    if kind == b"VP8L":
        bits = struct.unpack("<I", body[1:5])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    raise MetadataError("unknown WebP bitstream")


def _webp_write(data: bytes, xmp: bytes) -> bytes:
    if not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        raise MetadataError("not a WebP file")
    chunks = [(k, b) for k, b in _riff_chunks(data) if k != b"XMP "]
    if chunks and chunks[0][0] == b"VP8X":
        flags = chunks[0][1][0] | 0x04
        chunks[0] = (b"VP8X", bytes([flags]) + chunks[0][1][1:])
    else:
        image = next(((k, b) for k, b in chunks if k in (b"VP8 ", b"VP8L")), None)
        if image is None:
            raise MetadataError("WebP without image data")
        width, height, alpha = _webp_size(*image)
        flags = 0x04 | (0x10 if alpha or any(k == b"ALPH" for k, _ in chunks) else 0)
        vp8x = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks.insert(0, (b"VP8X", vp8x))
    body = b"WEBP" + b"".join(_riff_chunk(k, b) for k, b in chunks) + _riff_chunk(b"XMP ", xmp)
    return b"RIFF" + struct.pack("<I", len(body)) + body
