"""Django's SMTP backend for a newsletter's own SMTP server: it connects only to an
address it has checked.

The host is typed by a newsletter owner, so it gets the outgoing webhooks' policy
(``newsletter.network``): resolved once, refused if any answer is private,
loopback, link-local or otherwise not public (unless the instance admin sets
``CRIER_SENDING_ALLOW_PRIVATE_HOSTS``), and the socket goes to the checked address.
The name still serves TLS (SNI and the certificate check) and EHLO, so a DNS answer
that changes between the check and the connection cannot redirect the password.
"""

import functools
import smtplib
import socket

from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend

from newsletter import network


class HostRefused(Exception):
    """The SMTP host is not a public address: the message cannot go there at all (not
    an OSError, which the engine would retry as a network hiccup)."""


class _PinnedSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` whose socket goes to ``address``; ``self._host`` (TLS) stays the name."""

    def __init__(self, *args, address: str, **kwargs) -> None:
        self._address = address
        super().__init__(*args, **kwargs)

    def _get_socket(self, host, port, timeout):
        return socket.create_connection((self._address, port), timeout, self.source_address)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    def __init__(self, *args, address: str, **kwargs) -> None:
        self._address = address
        super().__init__(*args, **kwargs)

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((self._address, port), timeout, self.source_address)
        return self.context.wrap_socket(sock, server_hostname=self._host)


class EmailBackend(DjangoSMTPBackend):
    def __init__(self, *args, allow_private: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allow_private = allow_private
        self.address: str | None = None

    def open(self):
        if self.connection:
            return False
        try:
            self.address = network.pick_address(
                self.host, self.port, allow_private=self.allow_private
            )
        except network.Refused as error:
            raise HostRefused(f"{error}; Crier does not send there.") from None
        except network.TransportError as error:  # DNS trouble: worth retrying
            raise OSError(str(error)) from None
        return super().open()

    @property
    def connection_class(self):
        pinned = _PinnedSMTPSSL if self.use_ssl else _PinnedSMTP
        return functools.partial(pinned, address=self.address)
