"""Finding the email address to write to in a document's free-text field."""

from email_validator import EmailNotValidError, validate_email


def first_email_address(text: str | None) -> str | None:
    """``text`` as a normalised address when it is one, else ``None``.

    Only syntax is checked (no DNS lookup): the shop's SMTP server learns the rest.
    Kladana's email fields hold one address; a field with several (``a@x, b@y``) is
    tried one by one.
    """
    for candidate in (text or "").replace(";", ",").split(","):
        candidate = candidate.strip()
        if not candidate:
            continue
        try:
            return validate_email(candidate, check_deliverability=False).normalized
        except EmailNotValidError:
            continue
    return None
