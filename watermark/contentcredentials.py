"""Content credentials: a C2PA manifest signed with the organisation's certificate (c2pa-python).

The manifest says the image was created (`c2pa.created`) by a trained algorithm
(digitalSourceType `trainedAlgorithmicMedia`), names the AI system and model version, and
carries the AIGC label as a custom assertion. c2pa-python (the Content Authenticity
Initiative's Rust SDK) signs and validates it offline; no timestamp authority is contacted.

An organisation that has no certificate of its own gets a *development* certificate on first
use: a self-made CA and an ES256 signing certificate under it. Manifests signed with it are
cryptographically valid but chain to no trust list, so verify reports `valid-untrusted`. An
operator who adds a CA to the trust anchors (ASSAY_C2PA_TRUST_ANCHORS) makes its manifests
`valid`.
"""

from __future__ import annotations

import datetime
import io
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
AIGC_ASSERTION = "cn.tc260.aigc"
STATES = ("valid", "valid-untrusted", "invalid", "absent")


class ContentCredentialsError(ValueError):
    """Signing failed (a broken certificate or key, or a file c2pa cannot embed into)."""


@dataclass(frozen=True)
class Credentials:
    """A signing certificate chain (leaf first, PEM) and its private key (PEM, PKCS#8)."""

    certificate_chain: bytes
    private_key: bytes
    development: bool

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.certificate_chain)[0]


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64] or "Assay"),
    ])


def generate_development_credentials(organization: str, *, days: int = 825) -> Credentials:
    """Return a new development CA and ES256 signing certificate for `organization`.

    C2PA validators refuse self-signed signing certificates, so the leaf is issued by a CA made
    for the purpose; the CA's key is thrown away once the leaf is signed.
    """
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{organization} development CA (Assay, not trusted)", organization)
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(_name(f"{organization} content signing (development)", organization))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return Credentials(certificate_chain=chain, private_key=pem, development=True)


def manifest_definition(*, title: str, generator: str, system: str, model_version: str,
                        aigc: dict | None = None, record_id: str = "") -> dict:
    """Return the manifest: c2pa.created by a trained algorithm, plus the AIGC label if given."""
    action = {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE,
              "softwareAgent": {"name": system or "AI system", "version": model_version or ""}}
    assertions = [{"label": "c2pa.actions", "data": {"actions": [action]}}]
    if aigc is not None:
        assertions.append({"label": AIGC_ASSERTION, "data": aigc})
    if record_id:
        assertions.append({"label": "org.assay.provenance", "data": {"record": record_id}})
    return {
        "claim_generator_info": [{"name": "Assay", "version": generator}],
        "title": title,
        "assertions": assertions,
    }


def _context(trust_anchors: bytes | None = None, *, thumbnail: bool = False):
    import c2pa

    settings: dict = {"builder": {"thumbnail": {"enabled": thumbnail}}}
    if trust_anchors:
        settings["verify"] = {"verify_trust": True}
        settings["trust"] = {"trust_anchors": trust_anchors.decode()}
    else:
        settings["verify"] = {"verify_trust": False}
    return c2pa.Context.from_dict(settings)


def sign(data: bytes, mime: str, credentials: Credentials, manifest: dict) -> bytes:
    """Return `data` with the signed manifest embedded (the pixels are not changed)."""
    import c2pa

    try:
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, credentials.certificate_chain,
                                   credentials.private_key, None)
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest, context=_context()) as builder:
            out = io.BytesIO()
            builder.sign(signer, mime, io.BytesIO(data), out)
            return out.getvalue()
    except c2pa.C2paError as exc:
        raise ContentCredentialsError(f"C2PA signing failed: {exc}") from None


def read(data: bytes, mime: str, *, trust_anchors: bytes | None = None) -> dict:
    """Return {"state": valid | valid-untrusted | invalid | absent, ...} for the file's manifest."""
    import c2pa

    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, _context(trust_anchors))
    except c2pa.C2paError as exc:
        return {"state": "invalid", "errors": [str(exc)[:300]]}
    if reader is None:
        return {"state": "absent"}
    with reader:
        state = (reader.get_validation_state() or "").lower()
        results = reader.get_validation_results() or {}
        manifest = reader.get_active_manifest() or {}
    failures = [f"{f.get('code')}: {f.get('explanation', '')}"
                for f in (results.get("activeManifest") or {}).get("failure", [])]
    report = {
        "state": {"trusted": "valid", "valid": "valid-untrusted"}.get(state, "invalid"),
        "signer": (manifest.get("signature_info") or {}).get("issuer") or (manifest.get("signature_info") or {}).get(
            "common_name"),
        "created_by_ai": _created_by_ai(manifest),
    }
    if failures:
        report["errors"] = failures[:10]
    aigc = next((a.get("data") for a in manifest.get("assertions", []) if a.get("label") == AIGC_ASSERTION), None)
    if aigc is not None:
        report["aigc"] = aigc
    record = next((a.get("data", {}).get("record") for a in manifest.get("assertions", [])
                   if a.get("label") == "org.assay.provenance"), None)
    if record:
        report["record"] = record
    return report


def _created_by_ai(manifest: dict) -> bool:
    for assertion in manifest.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions", []):
                if action.get("action") == "c2pa.created" and action.get("digitalSourceType") == DIGITAL_SOURCE_TYPE:
                    return True
    return False


def describe(credentials: Credentials) -> dict:
    leaf = credentials.leaf
    return {
        "subject": leaf.subject.rfc4514_string(),
        "issuer": leaf.issuer.rfc4514_string(),
        "not_after": leaf.not_valid_after_utc.isoformat(),
        "development": credentials.development,
        "fingerprint_sha256": leaf.fingerprint(hashes.SHA256()).hex(),
    }


def manifest_json(manifest: dict) -> str:
    return json.dumps(manifest, ensure_ascii=False)
