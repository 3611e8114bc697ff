"""TLS with client certificates between real nodes and a client; certificates made here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from distcache.cluster import TLSConfig, connect

from .nodes import Cluster, make_source


def make_certs(d: Path) -> dict[str, Path]:
    """A CA, and a certificate for 127.0.0.1 that it signed (openssl)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "node.key", "-out", "node.csr")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "node.pem")
    return {name: d / name for name in ("ca.pem", "node.pem", "node.key")}


def test_mutual_tls_cluster(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    db = make_source(tmp_path / "source.db")
    c = Cluster(db, 2, extra=["--tls-cert", str(certs["node.pem"]),
                              "--tls-key", str(certs["node.key"]),
                              "--tls-client-ca", str(certs["ca.pem"])])
    try:
        c.start()
        tls = TLSConfig(certs["node.pem"].read_bytes(), certs["node.key"].read_bytes(),
                        ca=certs["ca.pem"].read_bytes(), require_client_cert=True)
        for addr in c.addrs:  # each node answers every key, asking the other over TLS
            with connect(addr, timeout=5.0, tls=tls) as client:
                assert [client.get("items", f"k{i}") for i in range(20)] == [
                    b"value-%d" % i for i in range(20)]
        # Without a client certificate, or without TLS at all: refused.
        no_cert = TLSConfig(b"", b"", ca=certs["ca.pem"].read_bytes())
        with connect(c.addrs[0], timeout=2.0, tls=no_cert) as client:
            with pytest.raises(ConnectionError):
                client.get("items", "k1")
        with connect(c.addrs[0], timeout=2.0) as client:
            with pytest.raises(ConnectionError):
                client.get("items", "k1")
    finally:
        c.stop()
