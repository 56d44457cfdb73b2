"""Addresses as logs and listings show them: a phone's last four digits (shared.logs), an
email's first character and its domain."""

from shared.logs import mask_phone


def mask_address(address: str) -> str:
    """``*********3210`` for a phone, ``r***@example.in`` for an email address."""
    mailbox, at, domain = address.rpartition("@")
    if not at:
        return mask_phone(address)
    return f"{mailbox[:1]}***@{domain}"
