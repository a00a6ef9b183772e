"""A throwaway certificate authority for the loopback doubles (trustme).

The real Azure SDK's bearer-token policy refuses plain HTTP, so the ARM simulator serves HTTPS with a
server certificate issued by a CA that exists only for the life of the process; clients trust it through
``connection_verify=<ca.pem>``.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass

import trustme


@dataclass
class TlsMaterial:
    """A server-side SSL context and the PEM file of the CA that signed its certificate."""

    context: ssl.SSLContext
    ca_path: str
    directory: str

    def cleanup(self) -> None:
        """Remove the temporary directory holding ``ca.pem``."""
        shutil.rmtree(self.directory, ignore_errors=True)


def issue_tls(hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")) -> TlsMaterial:
    """Create a CA, issue a certificate for the loopback names, write the CA PEM to a temp dir."""
    ca = trustme.CA(organization_name="avd-ops simulator CA")
    cert = ca.issue_cert(*hosts)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    directory = tempfile.mkdtemp(prefix="avd-sim-tls-")
    ca_path = os.path.join(directory, "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    return TlsMaterial(context=context, ca_path=ca_path, directory=directory)
