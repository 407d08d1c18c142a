"""Attachment files: checked against the upload limits, kept outside the web root, served only to
those allowed to see the request (and, for a file on an internal note, only to staff).

A file is stored under `settings.upload_dir` by a random `storage_key`, never by the name the
uploader chose, so a name cannot reach another path and files cannot be guessed. It is copied
there in chunks, hashed and counted on the way (a request may carry ten files of the size limit:
none is ever held whole in memory), and a file that breaks a limit on the way is removed at once.

Each customer organisation's files together may take `settings.organization_storage_quota_bytes`.
A customer's upload stops as soon as it outgrows what is left, and is checked again under a lock
on the organisation, in the transaction that records it, so that uploads made at the same moment
cannot together pass the quota. Staff uploads count too but are never refused: the vendor's own
work does not stop when a customer's storage is full.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import mimetypes
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from piccolo.query.functions.aggregate import Sum

from app import db
from app.accounts.caller import Caller
from app.accounts.tables import Organization
from app.errors import InvalidInput, NotFound, StorageQuotaExceeded
from app.i18n import _, format_size, ngettext
from app.settings import get_settings
from app.tickets.tables import Attachment, TicketMessage

MAX_FILES_PER_MESSAGE = 10
# What is read and written at a time while a file is copied into the upload directory.
CHUNK_BYTES = 64 * 1024


def upload_body_max_bytes() -> int:
    """The largest body a form with files may send (its route's limit): every file at the limit
    plus a margin for the text fields and the multipart framing. A larger body is refused (413)
    before or while it is read; anything smaller reaches the checks here."""
    return get_settings().upload_max_bytes * MAX_FILES_PER_MESSAGE + 1024 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    """A file as received from a form: its name and an open binary file, read from where it stands
    in chunks (a form's files are Litestar's temporary files). The content type is derived from the
    name."""

    filename: str
    file: BinaryIO

    @classmethod
    def from_bytes(cls, filename: str, data: bytes) -> Upload:
        """A file made in memory (the demo's, the tests')."""
        return cls(filename, io.BytesIO(data))


@dataclass(frozen=True, slots=True)
class StorageUse:
    """What an organisation's attached files take against its quota."""

    used_bytes: int
    limit_bytes: int

    @property
    def left_bytes(self) -> int:
        return max(self.limit_bytes - self.used_bytes, 0)

    @property
    def percent(self) -> int:
        return min(100, self.used_bytes * 100 // self.limit_bytes)

    def exceeded(self) -> StorageQuotaExceeded:
        return StorageQuotaExceeded(
            _("These files do not fit in your organisation's storage for attachments: {used} of {limit} "
              "are used, {left} are left. Please attach smaller files, or fewer.",
              used=format_size(self.used_bytes), limit=format_size(self.limit_bytes),
              left=format_size(self.left_bytes)),
            field="attachments", used_bytes=self.used_bytes, limit_bytes=self.limit_bytes,
        )


@dataclass(frozen=True, slots=True)
class StoredFile:
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_key: str


@dataclass(frozen=True, slots=True)
class Download:
    """What a handler needs to send a file: where it is and the name to offer."""

    path: Path
    filename: str
    content_type: str
    size_bytes: int


def clean_filename(name: str) -> str:
    """The last path component, without control characters, at most 255 characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if not name:
        return "file"
    if len(name) > 255:
        stem, dot, extension = name.rpartition(".")
        name = (stem[: 254 - len(extension)] + dot + extension) if dot and len(extension) < 20 else name[:255]
    return name


def extension_of(filename: str) -> str:
    stem, dot, extension = filename.rpartition(".")
    return extension.lower() if dot and stem else ""


def check_uploads(uploads: Sequence[Upload]) -> None:
    """Refuse (InvalidInput on `attachments`) too many files or files of other types; the size of
    each is checked while it is copied (`_write`)."""
    settings = get_settings()
    if len(uploads) > MAX_FILES_PER_MESSAGE:
        raise InvalidInput(
            ngettext("At most {count} file can be attached at once.", "At most {count} files can be attached at once.",
                     MAX_FILES_PER_MESSAGE, count=MAX_FILES_PER_MESSAGE),
            field="attachments",
        )
    allowed = {e.lower().lstrip(".") for e in settings.upload_allowed_extensions}
    for upload in uploads:
        name = clean_filename(upload.filename)
        if extension_of(name) not in allowed:
            raise InvalidInput(
                _("{name}: this type of file cannot be attached (allowed: {allowed}).",
                  name=name, allowed=", ".join(sorted(allowed))),
                field="attachments",
            )


def path_of(storage_key: str) -> Path:
    return get_settings().upload_dir / storage_key[:2] / storage_key


def _write(upload: Upload, room: int | None, quota: StorageUse | None) -> StoredFile:
    """Copy the file under a new random key in chunks, hashing and counting as it goes; refuse it
    (and remove what was written) when it is empty, grows past the size limit or past `room`, the
    bytes left in the organisation's quota (None: no quota applies)."""
    name = clean_filename(upload.filename)
    max_bytes = get_settings().upload_max_bytes
    key = secrets.token_hex(20)
    path = path_of(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "xb") as target:
            while chunk := upload.file.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidInput(
                        _("{name} is larger than {megabytes} MB.", name=name,
                          megabytes=round(max_bytes / (1024 * 1024), 1)),
                        field="attachments",
                    )
                if room is not None and size > room:
                    raise quota.exceeded()
                digest.update(chunk)
                target.write(chunk)
        if size == 0:
            raise InvalidInput(_("{name} is empty.", name=name), field="attachments")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StoredFile(
        filename=name,
        content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        size_bytes=size,
        sha256=digest.hexdigest(),
        storage_key=key,
    )


def _write_all(uploads: Sequence[Upload], quota: StorageUse | None) -> list[StoredFile]:
    stored: list[StoredFile] = []
    try:
        for upload in uploads:
            room = None if quota is None else quota.left_bytes - sum(item.size_bytes for item in stored)
            stored.append(_write(upload, room, quota))
    except BaseException:
        discard(stored)
        raise
    return stored


async def store_uploads(caller: Caller, uploads: Sequence[Upload]) -> list[StoredFile]:
    """Check and write the files a caller sends; the caller's service records them (`record_files`)
    and calls `discard` if that fails. Nothing is left behind when one of them is refused or the
    request is cancelled."""
    check_uploads(uploads)
    if not uploads:
        return []
    quota = await _storage_use(caller.organization_id) if caller.is_customer else None
    if quota is not None and quota.left_bytes == 0:
        raise quota.exceeded()
    # The copy runs in a thread (file reads and writes, hashing), which cancelling the request
    # cannot stop: it is shielded, and if the request is cancelled what it wrote is removed when
    # it ends.
    copying = asyncio.ensure_future(asyncio.to_thread(_write_all, uploads, quota))
    try:
        return await asyncio.shield(copying)
    except asyncio.CancelledError:
        copying.add_done_callback(_discard_when_done)
        raise


def _discard_when_done(copying: asyncio.Future[list[StoredFile]]) -> None:
    if not copying.cancelled() and copying.exception() is None:
        discard(copying.result())


def discard(stored: Sequence[StoredFile]) -> None:
    """Remove files whose database rows were never written."""
    for item in stored:
        path_of(item.storage_key).unlink(missing_ok=True)


async def record_files(
    caller: Caller, stored: Sequence[StoredFile], *, ticket_id: int, message_id: int | None, now: datetime
) -> None:
    """Insert the Attachment rows (inside the caller's write transaction), a customer's only if
    they still fit the organisation's quota (StorageQuotaExceeded otherwise)."""
    if not stored:
        return
    if caller.is_customer:
        await _check_quota_locked(caller.organization_id, sum(item.size_bytes for item in stored))
    await Attachment.insert(
        *(
            Attachment(
                ticket=ticket_id,
                message=message_id,
                uploaded_by=caller.id,
                filename=item.filename,
                content_type=item.content_type,
                size_bytes=item.size_bytes,
                sha256=item.sha256,
                storage_key=item.storage_key,
                created_at=now,
            )
            for item in stored
        )
    )


async def _check_quota_locked(organization_id: int, incoming_bytes: int) -> None:
    """Whether `incoming_bytes` more fit the organisation's quota, counted under a lock that every
    customer upload of the organisation takes: on PostgreSQL its row, FOR NO KEY UPDATE (which
    does not block rows that merely refer to it); SQLite's write transaction already holds the
    whole database."""
    if db.is_postgres():
        await Organization.select(Organization.id).where(Organization.id == organization_id).lock_rows(
            "NO KEY UPDATE"
        )
    use = await _storage_use(organization_id)
    if use.used_bytes + incoming_bytes > use.limit_bytes:
        raise use.exceeded()


async def _storage_use(organization_id: int) -> StorageUse:
    row = await Attachment.select(Sum(Attachment.size_bytes).as_alias("used")).where(
        Attachment.ticket.organization == organization_id
    ).first()
    return StorageUse(used_bytes=row["used"] or 0, limit_bytes=get_settings().organization_storage_quota_bytes)


async def storage_use(caller: Caller, organization_id: int) -> StorageUse:
    """The organisation's attached files against its quota (its own people and staff; NotFound
    for anyone else)."""
    if not caller.can_see_organization(organization_id):
        raise NotFound(_("This organisation does not exist."))
    return await _storage_use(organization_id)


async def attachment_download(caller: Caller, attachment_id: int, ticket_id: int | None = None) -> Download:
    """Authorise a download and say where the file is.

    NotFound when the attachment does not exist, belongs to another organisation's request,
    sits on an internal note and the caller is a customer, or (given `ticket_id`) belongs to
    another request.
    """
    row = await Attachment.select(
        Attachment.ticket,
        Attachment.filename,
        Attachment.content_type,
        Attachment.size_bytes,
        Attachment.storage_key,
        Attachment.message,
        Attachment.ticket.organization.as_alias("organization"),
    ).where(Attachment.id == attachment_id).first()
    missing = NotFound(_("This file does not exist."))
    if row is None or (ticket_id is not None and row["ticket"] != ticket_id):
        raise missing
    if not caller.can_see_organization(row["organization"]):
        raise missing
    if caller.is_customer and row["message"] is not None:
        note = await TicketMessage.select(TicketMessage.internal).where(TicketMessage.id == row["message"]).first()
        if note is None or note["internal"]:
            raise missing
    path = path_of(row["storage_key"])
    if not path.is_file():
        raise missing
    return Download(
        path=path, filename=row["filename"], content_type=row["content_type"], size_bytes=row["size_bytes"]
    )


