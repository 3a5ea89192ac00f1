"""A private Dovecot IMAP server for the tests: generated configuration in a temporary
folder, users from a passwd-file, Maildir storage, plain IMAP on a free loopback port.
With `TlsFiles`, it offers STARTTLS on the IMAP port and implicit TLS on a second port,
and rejects sign-in without TLS. Dovecot exempts clients on its own address from that
rule, so loopback clients may still sign in without TLS.

Debian's `dovecot-imapd` provides the binary (`scripts/setup-system` installs it). Run as
an ordinary user, every Dovecot process runs as that user. Run as root (as CI does),
Dovecot refuses to run its login process or mail access as root, so the package's own
`dovenull` and `dovecot` users take those parts, and the folder is readable by them.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_port

DOVECOT = "/usr/sbin/dovecot"
START_SECONDS = 15.0
ACCOUNTS = 50


def account(number: int) -> tuple[str, str]:
    return f"user{number}", f"imap-password-{number}"


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a server certificate and its key."""

    certificate: Path
    key: Path


@dataclass
class Dovecot:
    folder: Path
    port: int
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    accounts_used: int = 0
    # The implicit TLS (IMAPS) port; 0 without TLS.
    tls_port: int = 0

    def new_account(self) -> tuple[str, str]:
        """Return the user name and password of an account no test used yet. Accounts are
        written before Dovecot starts, because it skips rereading a changed passwd-file
        within the second of its last lookup."""
        self.accounts_used += 1
        if self.accounts_used > ACCOUNTS:
            raise RuntimeError(f"All {ACCOUNTS} Dovecot test accounts are in use; raise "
                               "ACCOUNTS in tests/portal/mail/dovecot.py.")
        return account(self.accounts_used)

    def connect(self, name: str, password: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        if self.tls_port:
            # The test's own connection does not verify: it only delivers and reads mail.
            client.starttls(ssl._create_unverified_context())
        client.login(name, password)
        return client

    def append(self, name: str, password: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a message as new (unseen) mail with IMAP APPEND."""
        client = self.connect(name, password)
        try:
            status, data = client.append(folder, None, None, raw)
            assert status == "OK", data
        finally:
            client.logout()

    def flags(self, name: str, password: str, folder: str = "INBOX") -> dict[int, bytes]:
        """Return each message's flags by UID."""
        client = self.connect(name, password)
        try:
            client.select(folder, readonly=True)
            status, data = client.uid("FETCH", "1:*", "(UID FLAGS)")
            assert status == "OK", data
        finally:
            client.logout()
        result: dict[int, bytes] = {}
        for item in data:
            if isinstance(item, bytes) and b"UID" in item:
                words = item.replace(b"(", b" ").replace(b")", b" ").split()
                result[int(words[words.index(b"UID") + 1])] = item
        return result

    def log(self) -> str:
        path = self.folder / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _ssl_config(tls: TlsFiles | None) -> str:
    if tls is None:
        return "ssl = no\ndisable_plaintext_auth = no"
    return (f"ssl = required\nssl_cert = <{tls.certificate}\nssl_key = <{tls.key}\n"
            "disable_plaintext_auth = yes")


def _config(folder: Path, port: int, tls: TlsFiles | None, tls_port: int) -> str:
    if os.geteuid() == 0:
        internal, login = "dovecot", "dovenull"
        mail_user = pwd.getpwnam("dovecot")
    else:
        internal = login = pwd.getpwuid(os.geteuid()).pw_name
        mail_user = pwd.getpwuid(os.geteuid())
    return f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
{_ssl_config(tls)}
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
first_valid_uid = {mail_user.pw_uid}
first_valid_gid = {mail_user.pw_gid}
mail_location = maildir:{folder}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {folder}/users
  default_fields = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={folder}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def start_dovecot(tls: TlsFiles | None = None) -> Dovecot:
    if not Path(DOVECOT).exists():
        pytest.fail(f"{DOVECOT} is missing; run scripts/setup-system to install dovecot-imapd")
    # Not pytest's tmp_path: its parents are private to this user, and as root the
    # dovecot and dovenull users must reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="miportal-dovecot-"))
    folder.chmod(0o755)
    for name in ("mail", "home"):
        (folder / name).mkdir()
        if os.geteuid() == 0:
            shutil.chown(folder / name, "dovecot", "dovecot")

    (folder / "users").write_text("".join(
        f"{name}:{{PLAIN}}{password}::::::\n"
        for name, password in map(account, range(1, ACCOUNTS + 1))), encoding="ascii")
    port = free_port()
    tls_port = free_port() if tls is not None else 0
    (folder / "dovecot.conf").write_text(_config(folder, port, tls, tls_port),
                                         encoding="ascii")
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(folder / "dovecot.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Dovecot(folder, port, process, tls_port=tls_port)

    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            imaplib.IMAP4(server.host, port, timeout=2).logout()
            return server
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _output, error = process.communicate()
                log = server.log()
                shutil.rmtree(folder, ignore_errors=True)
                raise RuntimeError(f"Dovecot did not start: {error.decode()}{log}") from None
            time.sleep(0.05)


def stop_dovecot(server: Dovecot) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    if server.process.stderr is not None:
        server.process.stderr.close()
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    yield server
    stop_dovecot(server)
