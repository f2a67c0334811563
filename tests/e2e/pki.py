"""Test certificates, made by the test run with the openssl command line (no
private key is ever committed): a CA, a server certificate for localhost and
127.0.0.1, client certificates signed by the CA (one of them revoked in a
CRL), a second server certificate for reload tests, and a client certificate
from an unrelated CA."""
import pathlib
import subprocess


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        d = self.dir
        self.ca = d / "ca.crt"
        self.ca_key = d / "ca.key"
        self._ca("ca", "strata test CA")
        self.server_cert, self.server_key = self._leaf("server", "/CN=localhost", server=True)
        self.server2_cert, self.server2_key = self._leaf("server2", "/CN=localhost/O=renewed", server=True)
        self.client_cert, self.client_key = self._leaf("client", "/CN=sensor-1/O=Example")
        self.revoked_cert, self.revoked_key = self._leaf("revoked", "/CN=revoked-device")
        self.nocn_cert, self.nocn_key = self._leaf("nocn", "/O=No Common Name")
        self._ca("rogue-ca", "rogue CA")
        self.rogue_cert, self.rogue_key = self._leaf("rogue", "/CN=sensor-1", ca="rogue-ca")
        self.crl = d / "crl.pem"
        self._revoke(self.revoked_cert)

    def _ca(self, name, cn):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                 "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=self.dir)

    def _leaf(self, name, subject, server=False, ca="ca"):
        d = self.dir
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=d)
        ext = d / f"{name}.ext"
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n" if server else
                       "extendedKeyUsage=clientAuth\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                 "-CAcreateserial", "-days", "2", "-extfile", ext.name, "-out", f"{name}.crt", cwd=d)
        return d / f"{name}.crt", d / f"{name}.key"

    def _revoke(self, cert):
        d = self.dir
        (d / "index.txt").write_text("")
        (d / "crlnumber").write_text("01\n")
        (d / "ca.cnf").write_text(
            "[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = index.txt\ncrlnumber = crlnumber\n"
            "certificate = ca.crt\nprivate_key = ca.key\ndefault_md = sha256\ndefault_crl_days = 2\n")
        _openssl("ca", "-config", "ca.cnf", "-revoke", cert.name, cwd=d)
        _openssl("ca", "-config", "ca.cnf", "-gencrl", "-out", self.crl.name, cwd=d)

    def subject_rfc2253(self, cert):
        out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-nameopt", "RFC2253"],
                             check=True, capture_output=True, text=True).stdout.strip()
        return out.split("=", 1)[1] if out.startswith("subject=") else out

    def tls_listener(self, *extra, protocol="mqtt"):
        """Conf lines of a TLS listener on an ephemeral loopback port."""
        lines = ["listener 0 127.0.0.1", f"certfile {self.server_cert}", f"keyfile {self.server_key}"]
        if protocol != "mqtt":
            lines.append(f"protocol {protocol}")
        return lines + list(extra)
