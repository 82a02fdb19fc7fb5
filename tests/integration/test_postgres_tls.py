"""TLS to a PostgreSQL server with ``sslmode=verify-full``: the workbench works over it, and a
server it cannot verify (a certificate from another authority, or for another host name) is
refused with one line, before anything is read or written. The test server has no TLS of its
own (pgserver is built without it): a real TLS front relays to it (``tests/tls_proxy.py``)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, quote, urlparse

import pytest

from tests.conftest import FIXTURES, run_workbench
from tests.tls_proxy import TlsProxy

pytestmark = pytest.mark.slow


def _authority(name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _server_certificate(authority, host: str):
    """A certificate for ``host`` only (so 127.0.0.1 does not match it), signed by
    ``authority``; (key PEM, certificate PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_key, ca_cert = authority
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_database(postgres_url, tmp_path) -> Iterator[tuple[TlsProxy, str, Path, Path]]:
    """A new database of the run's server behind a TLS front whose certificate names
    ``localhost`` only; (the front, the database's name, the trusted authority's PEM,
    another authority's PEM)."""
    authority = _authority("workbench test authority")
    key, cert = _server_certificate(authority, "localhost")
    (tmp_path / "server.key").write_bytes(key)
    (tmp_path / "server.crt").write_bytes(cert)
    trusted, other = tmp_path / "authority.pem", tmp_path / "other.pem"
    trusted.write_bytes(_pem(authority[1]))
    other.write_bytes(_pem(_authority("someone else")[1]))
    query = parse_qs(urlparse(postgres_url).query)
    [unix_socket] = [p for p in Path(query["host"][0]).glob(".s.PGSQL.*") if p.suffix != ".lock"]
    proxy = TlsProxy(unix_socket, tmp_path / "server.crt", tmp_path / "server.key")
    yield proxy, urlparse(postgres_url).path.lstrip("/"), trusted, other
    proxy.close()


def _url(host: str, port: int, database: str, authority: Path) -> str:
    return (f"postgresql://postgres@{host}:{port}/{database}"
            f"?sslmode=verify-full&sslrootcert={quote(str(authority))}")


def test_verify_full_connects_over_tls_and_the_workbench_works(tls_database, tmp_path,
                                                                monkeypatch):
    import psycopg

    proxy, database, trusted, _ = tls_database
    url = _url("localhost", proxy.port, database, trusted)
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", url)
    imported = run_workbench(tmp_path / "home", "ingest", FIXTURES / "sharegpt_dummy.json")
    assert imported.returncode == 0, imported.stderr
    found = run_workbench(tmp_path / "home", "search", "sunlight", "--json")
    assert found.returncode == 0, found.stderr
    assert '"hits": [' in found.stdout and "sunlight" in found.stdout.lower()
    # Every connection went through TLS (the front refuses any other).
    assert proxy.sessions and all(v.startswith("TLSv1.") for v in proxy.sessions)
    assert proxy.refused_plain == 0 and proxy.relayed > 0
    with psycopg.connect(url) as con:
        assert con.info.pgconn.ssl_in_use
        assert con.execute("SELECT count(*) FROM messages").fetchone()[0] > 0


@pytest.mark.parametrize("host, authority, why", [
    ("localhost", "other", "certificate verify failed"),
    ("127.0.0.1", "trusted", "does not match host name"),
])
def test_a_server_that_cannot_be_verified_is_refused_in_one_line(tls_database, tmp_path, host,
                                                                 authority, why, monkeypatch):
    proxy, database, trusted, other = tls_database
    monkeypatch.setenv("WORKBENCH_DATABASE_URL",
                       _url(host, proxy.port, database, trusted if authority == "trusted" else other))
    result = run_workbench(tmp_path / "home", "ingest", FIXTURES / "sharegpt_dummy.json")
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: postgresql://") and "cannot connect" in line and why in line
    # Refused during or right after the handshake: not a byte of the login was sent.
    assert proxy.relayed == 0
    # Refused before anything was made: no embedded home appeared in its place.
    assert not any((tmp_path / "home").rglob("*.duckdb"))
