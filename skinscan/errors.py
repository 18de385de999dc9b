"""The errors skinscan raises on purpose.

Every problem with the *input* (a file that is empty, truncated, not an image, of the wrong type or
too large) is a :class:`PhotoInputError`. The CLI turns it into exit status 2 and one line on
stderr; the service turns it into HTTP 422 with the same ``code``.
"""

from __future__ import annotations

__all__ = ["PhotoInputError", "ProtocolError", "SkinscanError"]


class SkinscanError(Exception):
    """Base class of the errors skinscan raises deliberately."""


class PhotoInputError(SkinscanError):
    """A photo that cannot be read safely.

    Parameters
    ----------
    code : str
        Machine code, one of ``not_found``, ``empty``, ``truncated``, ``not_an_image``,
        ``unsupported_format``, ``extension_mismatch``, ``too_many_pixels``, ``file_too_large``,
        ``decode_failed``, ``bad_array``, ``bad_mask``.
    message : str
        One line for a person: what is wrong and, where it helps, what to do.
    source : str, optional
        The file name (never the full path of a patient folder in logs it does not need).
    """

    def __init__(self, code: str, message: str, *, source: str | None = None) -> None:
        self.code = code
        self.message = message
        self.source = source
        super().__init__(self.one_line())

    def one_line(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        return f"{prefix}{self.message} [{self.code}]".replace("\n", " ")


class ProtocolError(SkinscanError):
    """A capture protocol that is missing or malformed."""
