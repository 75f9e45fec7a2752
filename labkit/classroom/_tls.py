"""The hub's certificate: the instructor's own (`--tls-cert`/`--tls-key`), or one made for the name the
learners open (`--hostname`), kept in the hub's folder and made again only when the name changes or it
nears its end. A certificate made here is signed by itself: each learner's browser warns once, and the
learner accepts it after comparing its SHA-256 fingerprint with the one the instructor shows (the
sign-in page and `labkit hub` print it).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabkitError

DAYS = 397  # what browsers accept of a certificate's life
RENEW = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    fingerprint: str  # SHA-256, AB:CD:...
    made_here: bool  # signed by itself: the learners' browsers warn once


def own(cert: Path, key: Path) -> Certificate:
    """The instructor's certificate and key, read once to say what is wrong before JupyterHub starts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        loaded = x509.load_pem_x509_certificate(cert.read_bytes())
        serialization.load_pem_private_key(key.read_bytes(), password=None)
    except OSError as e:
        raise LabkitError(
            f"The certificate or its key cannot be read: {e.strerror}: {e.filename}.",
            "give --tls-cert and --tls-key as files root can read (PEM), or --hostname NAME for one made here.",
        ) from None
    except (ValueError, TypeError) as e:
        raise LabkitError(
            f"{cert} and {key} are not a PEM certificate and its unencrypted key ({e}).",
            "give the certificate and key your web server uses (PEM, the key without a passphrase).",
        ) from None
    return Certificate(cert, key, _fingerprint(loaded), made_here=False)


def made_for(hostname: str, folder: Path, now: datetime.datetime | None = None) -> Certificate:
    """A certificate for `hostname` (a name or an address) in `folder` (tls/ of the hub's folder): the
    one made before while it names `hostname` and has a month left, else a new one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = now or datetime.datetime.now(datetime.timezone.utc)
    cert, key = folder / "hub.crt", folder / "hub.key"
    try:
        made = x509.load_pem_x509_certificate(cert.read_bytes())
        if _names(made) == {hostname} and made.not_valid_after_utc - now > RENEW and key.exists():
            return Certificate(cert, key, _fingerprint(made), made_here=True)
    except (OSError, ValueError):
        pass
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    try:
        alternative: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        alternative = x509.DNSName(hostname)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64])])
    made = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=DAYS))
        .add_extension(x509.SubjectAlternativeName([alternative]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(private, hashes.SHA256())
    )
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert.write_bytes(made.public_bytes(serialization.Encoding.PEM))
    return Certificate(cert, key, _fingerprint(made), made_here=True)


def note(certificate: Certificate) -> str:
    """What the sign-in page tells a learner about a certificate made here ("" for the instructor's own)."""
    if not certificate.made_here:
        return ""
    return (
        "This class's server has a certificate of its own: your browser warns about it once. Compare its "
        f"SHA-256 fingerprint with the one your instructor shows ({certificate.fingerprint}), then accept it "
        "(Advanced → Proceed, or Show Details → visit this website)."
    )


def _fingerprint(certificate) -> str:
    from cryptography.hazmat.primitives import hashes

    return ":".join(f"{b:02X}" for b in certificate.fingerprint(hashes.SHA256()))


def _names(certificate) -> set[str]:
    from cryptography import x509

    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n.value) for n in names}
