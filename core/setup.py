"""`.venv/bin/python -m core.setup`: create $PLAYLISTS_HOME. Safe to run twice: what exists is kept.

It holds the SQLite database with the catalog, the demo users and their freshly generated
secrets (credentials.json; the database keeps only hashes), the signing keys, and a demo
certificate authority with server and client certificates for mutual TLS.
"""
import argparse
import datetime
import ipaddress
import json
import os
import secrets
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .auth import hash_key, hash_password
from .config import load_settings
from .storage import Database

CATALOG = Path(__file__).with_name("catalog.json")
DEMO_USERS = ("alice", "bob")


def write_secret(path: Path, data: bytes) -> None:
    """Create a file readable only by its owner (never group or world)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make_credentials(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    users = {name: {"password": secrets.token_urlsafe(12),
                    "api_key": "pk_" + secrets.token_urlsafe(24),
                    "client_id": f"{name}-cli",
                    "client_secret": secrets.token_urlsafe(32)} for name in DEMO_USERS}
    tls = {"ca": "tls/ca.pem", "clients": {n: {"cert": f"tls/{n}.pem", "key": f"tls/{n}.key"} for n in DEMO_USERS}}
    credentials = {"users": users, "tls": tls}
    write_secret(path, json.dumps(credentials, indent=2).encode())
    return credentials


def make_keys(folder: Path) -> None:
    folder.mkdir(mode=0o700, exist_ok=True)
    for name in ("token-signing.key", "page-token.key"):
        if not (folder / name).exists():
            write_secret(folder / name, secrets.token_bytes(32))


def make_database(db: Database, credentials: dict) -> None:
    catalog = json.loads(CATALOG.read_text())
    db.create_schema()
    with db.write() as conn:
        conn.executemany("INSERT OR IGNORE INTO moods VALUES (?, ?, ?)",
                         [(m["name"], m["description"], i) for i, m in enumerate(catalog["moods"])])
        conn.executemany(
            "INSERT OR IGNORE INTO tracks VALUES (:id, :title, :composer, :work, :era, :year, "
            ":duration_seconds, :key, :tempo_bpm, :moods, :position)",
            [{**t, "moods": json.dumps(t["moods"]), "position": i} for i, t in enumerate(catalog["tracks"])])
        for name, user in credentials["users"].items():
            if not conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                conn.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                             (name, hash_password(user["password"]), hash_key(user["api_key"]),
                              user["client_id"], hash_key(user["client_secret"])))


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca=False, server=False, client=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=825))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               # Python 3.13 verifies strictly (VERIFY_X509_STRICT, RFC 5280): key identifiers and key usage.
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key((issuer_key or key).public_key()),
                              critical=False)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca,
                                            content_commitment=False, key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True))
    if server:
        # Some clients check the DNS name, others the IP address: name both.
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _strict(pem: bytes) -> bool:
    """Whether the CA was made with the key identifiers strict verification needs (else make all anew)."""
    try:
        x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return True
    except x509.ExtensionNotFound:
        return False


def _save(folder: Path, name: str, cert, key) -> None:
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_secret(folder / f"{name}.key", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def make_certificates(folder: Path) -> None:
    """A demo CA, a server certificate, and one client certificate per user (CN = user name)."""
    if (folder / "ca.pem").exists():
        if _strict((folder / "ca.pem").read_bytes()):
            return
        shutil.rmtree(folder)   # made before Python 3.13's strict checks: make them anew
    folder.mkdir(mode=0o700, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Tri-Protocol Playlists demo CA", ca_key, None, None, ca=True)
    _save(folder, "ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    _save(folder, "server", _certificate("localhost", server_key, ca.subject, ca_key, server=True), server_key)
    for user in DEMO_USERS:
        user_key = ec.generate_private_key(ec.SECP256R1())
        _save(folder, user, _certificate(user, user_key, ca.subject, ca_key, client=True), user_key)


def setup(settings=None) -> None:
    settings = settings or load_settings()
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    credentials = make_credentials(settings.credentials)
    make_keys(settings.keys)
    make_database(Database(settings.database), credentials)
    make_certificates(settings.tls)


def main() -> None:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m core.setup", description=__doc__.splitlines()[0])
    parser.parse_args()
    settings = load_settings()
    setup(settings)
    print(f"setup: {settings.home} ready (database, credentials.json, keys, tls)")


if __name__ == "__main__":
    main()
