"""Files on requests: limits, storage outside the web root, downloads only for those allowed."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import tracemalloc

import pytest

from app.errors import InvalidInput, NotFound, StorageQuotaExceeded
from app.settings import ROOT
from app.tickets.attachments import (
    CHUNK_BYTES,
    MAX_FILES_PER_MESSAGE,
    Upload,
    attachment_download,
    path_of,
    storage_use,
)
from app.tickets.services import filing, reading, thread
from app.tickets.tables import Attachment, Ticket, TicketMessage
from tests.factories import bearer, caller, csrf, make_support_world, make_user, sign_in

PDF = "%PDF-1.4 見積書".encode()


@pytest.fixture
async def world():
    return await make_support_world()


async def file_with(world, uploads):
    return await filing.create_ticket(
        caller(world.customer_a), subject="画面の不具合", body="スクリーンショットを添付します。",
        request_type_code="general", attachments=uploads,
    )


async def test_files_are_stored_by_a_random_key_outside_the_web_root(world, settings):
    ticket = await file_with(world, [Upload.from_bytes("../../見積書.pdf", PDF)])
    detail = await reading.get_ticket(caller(world.agent), ticket.id)
    (item,) = detail.attachments
    assert item.filename == "見積書.pdf" and item.size_bytes == len(PDF)
    assert item.sha256 == hashlib.sha256(PDF).hexdigest() and item.content_type == "application/pdf"
    row = await Attachment.select(Attachment.storage_key).where(Attachment.id == item.id).first()
    stored = path_of(row["storage_key"])
    assert stored.read_bytes() == PDF and stored.is_relative_to(settings.upload_dir)
    assert not stored.is_relative_to(ROOT / "static") and "見積書" not in str(stored)


@pytest.mark.parametrize("uploads", [
    [Upload.from_bytes("virus.exe", b"MZ")],
    [Upload.from_bytes("noextension", b"data")],
    [Upload.from_bytes("empty.txt", b"")],
    [Upload.from_bytes(f"f{i}.txt", b"x") for i in range(MAX_FILES_PER_MESSAGE + 1)],
])
async def test_files_outside_the_limits_are_refused_and_nothing_is_filed(world, uploads):
    with pytest.raises(InvalidInput) as refused:
        await file_with(world, uploads)
    assert refused.value.extra["field"] == "attachments"
    assert await Ticket.count() == 0


async def test_a_file_larger_than_the_limit_is_refused(world, settings, monkeypatch):
    monkeypatch.setattr(settings, "upload_max_bytes", 1024)
    with pytest.raises(InvalidInput) as refused:
        await file_with(world, [Upload.from_bytes("big.log", b"x" * 1025)])
    assert "MB" in refused.value.message
    assert await Attachment.count() == 0


async def test_a_failed_change_leaves_no_file_behind(world, settings):
    ticket = await file_with(world, [])
    before = set(settings.upload_dir.rglob("*")) if settings.upload_dir.exists() else set()
    with pytest.raises(NotFound):
        await thread.add_message(caller(world.customer_b), ticket.id, "見てください", attachments=[Upload.from_bytes("a.txt", b"1")])
    after = set(settings.upload_dir.rglob("*")) if settings.upload_dir.exists() else set()
    assert {p for p in after - before if p.is_file()} == set()


async def test_downloads_are_served_only_to_those_who_may_see_them(world):
    ticket = await file_with(world, [Upload.from_bytes("画面.png", b"\x89PNG")])
    await thread.add_message(caller(world.agent), ticket.id, "社内メモ", internal=True,
                               attachments=[Upload.from_bytes("調査.log", b"trace")])
    detail = await reading.get_ticket(caller(world.agent), ticket.id)
    public, internal = detail.attachments
    assert (await attachment_download(caller(world.customer_a2), public.id)).filename == "画面.png"
    assert (await attachment_download(caller(world.agent), internal.id)).filename == "調査.log"
    with pytest.raises(NotFound):
        await attachment_download(caller(world.customer_b), public.id)
    with pytest.raises(NotFound):
        await attachment_download(caller(world.customer_a), internal.id)
    assert [a.filename for a in (await reading.get_ticket(caller(world.customer_a), ticket.id)).attachments] == ["画面.png"]
    other = await filing.create_ticket(caller(world.customer_a), subject="別件", body="本文", request_type_code="general")
    with pytest.raises(NotFound):
        await attachment_download(caller(world.customer_a), public.id, ticket_id=other.id)


async def test_the_api_sends_a_file_only_to_its_company(world, client):
    ticket = await file_with(world, [Upload.from_bytes("見積書.pdf", PDF)])
    (item,) = (await reading.get_ticket(caller(world.agent), ticket.id)).attachments
    url = f"/api/v1/tickets/{ticket.id}/attachments/{item.id}"
    response = await client.get(url, headers=await bearer(world.customer_a))
    assert response.status_code == 200 and response.content == PDF
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.headers["content-disposition"].startswith("attachment")
    assert (await client.get(url, headers=await bearer(world.customer_b))).status_code == 404
    assert (await client.get(url)).status_code == 401


# ------------------------------------------------------------------------------------ body limits


async def test_a_plain_form_larger_than_its_limit_is_refused_with_413_saying_how_much_fits(world, client):
    ticket = await file_with(world, [])
    await sign_in(client, world.customer_a)
    url = f"/portal/tickets/{ticket.id}/status"
    form = {"status": "resolved", "note": "x" * (2 * 1024 * 1024), **csrf(client)}
    response = await client.post(url, data=form)
    assert response.status_code == 413
    assert "送信された内容が大きすぎます。ここで送信できるのは 1 MB までです。" in response.text

    async def streamed():  # no Content-Length: counted as it arrives
        for _ in range(3):
            yield b"x" * (1024 * 1024)

    response = await client.post(url, content=streamed(), headers={"Content-Type": "application/x-www-form-urlencoded",
                                                                   "x-csrftoken": client.cookies.get("kippu_csrf")})
    assert response.status_code == 413
    assert (await Ticket.select(Ticket.status).where(Ticket.id == ticket.id).first())["status"] == "new"


async def test_an_api_body_larger_than_its_limit_is_a_413_with_its_code(world, client):
    response = await client.post("/api/v1/tickets", json={"subject": "件名", "body": "x" * (2 * 1024 * 1024),
                                                            "request_type": "general"},
                                 headers=await bearer(world.customer_a))
    assert response.status_code == 413
    assert response.json() == {"code": "request_too_large",
                               "message": "送信された内容が大きすぎます。ここで送信できるのは 1 MB までです。"}
    assert await Ticket.count() == 0


async def test_a_form_with_files_may_send_every_file_at_its_limit_and_no_more(world, client, settings):
    ticket = await file_with(world, [])
    await sign_in(client, world.customer_a)
    limit = settings.upload_max_bytes * MAX_FILES_PER_MESSAGE + 1024 * 1024
    # Refused on the announced length alone, before anything is read.
    response = await client.post(f"/portal/tickets/{ticket.id}/messages", content=b"body=x",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Content-Length": str(limit + 1)})
    assert response.status_code == 413 and f"{limit // (1024 * 1024)} MB" in response.text
    assert await Attachment.count() == 0


async def test_an_agent_can_attach_a_file_of_the_full_size_in_the_console(world, client, settings):
    ticket = await file_with(world, [])
    await sign_in(client, world.agent)
    data = bytes(range(256)) * (settings.upload_max_bytes // 256)  # exactly the limit
    version = str((await Ticket.select(Ticket.version).where(Ticket.id == ticket.id).first())["version"])
    response = await client.post(f"/console/tickets/{ticket.id}/messages",
                                 data={"body": "ログを添付します。", "internal": "1", "version": version, **csrf(client)},
                                 files={"attachments": ("server.log", data)})
    assert response.status_code == 303, response.text[:300]
    (item,) = (await reading.get_ticket(caller(world.agent), ticket.id)).attachments
    assert item.size_bytes == len(data) and item.sha256 == hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------ large files


def write_file(path, megabytes: int) -> str:
    """A file of `megabytes` MiB of varied bytes on disk; returns its SHA-256."""
    block = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(2048))  # 64 KiB
    digest = hashlib.sha256()
    with open(path, "wb") as target:
        for _ in range(megabytes * 16):
            target.write(block)
            digest.update(block)
    return digest.hexdigest()


async def test_a_large_file_is_stored_whole_without_being_held_in_memory(world, tmp_path):
    # On disk, as a form's files are once they pass 1 MiB.
    expected = write_file(tmp_path / "dump.log", 5)
    ticket = await file_with(world, [])
    with open(tmp_path / "dump.log", "rb") as source:
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            await thread.add_message(caller(world.customer_a), ticket.id, "ダンプを添付します。",
                                       attachments=[Upload("dump.log", source)])
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MiB above the baseline"
    (item,) = (await reading.get_ticket(caller(world.agent), ticket.id)).attachments
    assert item.size_bytes == 5 * 1024 * 1024 and item.sha256 == expected
    row = await Attachment.select(Attachment.storage_key).where(Attachment.id == item.id).first()
    assert hashlib.sha256(path_of(row["storage_key"]).read_bytes()).hexdigest() == expected


async def test_a_large_file_sent_through_the_portal_is_not_read_into_memory(world, client, tmp_path):
    expected = write_file(tmp_path / "dump.log", 5)
    ticket = await file_with(world, [])
    await sign_in(client, world.customer_a)
    with open(tmp_path / "dump.log", "rb") as source:
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            response = await client.post(f"/portal/tickets/{ticket.id}/messages",
                                         data={"body": "ダンプを添付します。", **csrf(client)},
                                         files={"attachments": ("dump.log", source)})
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()
    assert response.status_code == 302, response.text[:300]
    # Litestar keeps up to 1 MiB of each file in memory before it moves it to a temporary file.
    assert peak < 3 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MiB above the baseline"
    (item,) = (await reading.get_ticket(caller(world.agent), ticket.id)).attachments
    assert item.sha256 == expected


def stored_files(settings) -> set:
    return {p for p in settings.upload_dir.rglob("*") if p.is_file()} if settings.upload_dir.exists() else set()


class BrokenUpload(io.BytesIO):
    """A file whose reading fails half-way (a dropped connection, a full temporary disk)."""

    def read(self, size=-1):
        if self.tell() >= CHUNK_BYTES:
            raise OSError("the connection was lost")
        return super().read(size)


@pytest.mark.parametrize("second", ["too large", "broken"])
async def test_a_file_refused_or_failing_half_way_leaves_no_file_and_no_row(world, settings, monkeypatch, second):
    ticket = await file_with(world, [])
    before = stored_files(settings)
    monkeypatch.setattr(settings, "upload_max_bytes", 3 * CHUNK_BYTES)
    bad = (Upload.from_bytes("big.log", b"x" * (3 * CHUNK_BYTES + 1)) if second == "too large"
           else Upload("half.log", BrokenUpload(b"x" * (2 * CHUNK_BYTES))))
    with pytest.raises((InvalidInput, OSError)):
        await thread.add_message(caller(world.customer_a), ticket.id, "ログです",
                                   attachments=[Upload.from_bytes("ok.txt", b"fine"), bad])
    assert stored_files(settings) == before
    assert await Attachment.count() == 0 and await TicketMessage.count() == 0


class SlowUpload(io.BytesIO):
    """A file that takes its time to read (a slow disk), so the request can be cancelled mid-copy."""

    def read(self, size=-1):
        time.sleep(0.02)
        return super().read(size)


async def test_a_request_cancelled_while_its_files_are_copied_leaves_no_file(world, settings):
    ticket = await file_with(world, [])
    before = stored_files(settings)
    replying = asyncio.create_task(thread.add_message(
        caller(world.customer_a), ticket.id, "ログです",
        attachments=[Upload("slow.log", SlowUpload(b"x" * (20 * CHUNK_BYTES)))],
    ))
    await asyncio.sleep(0.1)
    assert stored_files(settings) != before  # the copy is under way
    replying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await replying
    for _ in range(100):  # the copy's thread ends by itself, then its file goes
        await asyncio.sleep(0.02)
        if stored_files(settings) == before:
            break
    assert stored_files(settings) == before
    assert await Attachment.count() == 0


# ------------------------------------------------------------------------------------ storage quota


KB = 1024


async def test_a_reply_beyond_the_storage_quota_is_refused_saying_what_is_used_and_left(
    world, client, settings, monkeypatch
):
    monkeypatch.setattr(settings, "organization_storage_quota_bytes", 4 * KB)
    ticket = await file_with(world, [Upload.from_bytes("構成図.png", b"p" * (3 * KB))])
    before = stored_files(settings)
    await sign_in(client, world.customer_a2)
    response = await client.post(f"/portal/tickets/{ticket.id}/messages", data={"body": "追加の資料です。", **csrf(client)},
                                 files=[("attachments", ("a.log", b"a" * KB)), ("attachments", ("b.log", b"b" * KB))])
    assert response.status_code == 422
    assert ("添付ファイルの保存容量が足りません。貴社の容量 4 KB のうち 3 KB を使用済みで、残りは 1 KB です。"
            in response.text)
    assert "追加の資料です。" in response.text  # what was typed is kept
    assert stored_files(settings) == before
    assert await Attachment.count() == 1 and await TicketMessage.count() == 0
    # What fits is still taken.
    await thread.add_message(caller(world.customer_a), ticket.id, "1 KB だけ", attachments=[Upload.from_bytes("a.log", b"a" * KB)])
    assert await Attachment.count() == 2


async def test_a_full_storage_refuses_customers_files_but_not_staffs(world, settings, monkeypatch):
    monkeypatch.setattr(settings, "organization_storage_quota_bytes", 2 * KB)
    ticket = await file_with(world, [Upload.from_bytes("full.log", b"f" * (2 * KB))])
    with pytest.raises(StorageQuotaExceeded) as refused:
        await thread.add_message(caller(world.customer_a), ticket.id, "もう1つ", attachments=[Upload.from_bytes("x.txt", b"x")])
    assert refused.value.extra == {"field": "attachments", "used_bytes": 2 * KB, "limit_bytes": 2 * KB}
    await thread.add_message(caller(world.agent), ticket.id, "調査ログです", attachments=[Upload.from_bytes("trace.log", b"t" * KB)])
    # Another company's storage is its own.
    await filing.create_ticket(caller(world.customer_b), subject="別件", body="本文", request_type_code="general",
                                 attachments=[Upload.from_bytes("b.txt", b"b" * KB)])
    use = await storage_use(caller(world.customer_a2), world.org_a.id)
    assert (use.used_bytes, use.limit_bytes, use.left_bytes) == (3 * KB, 2 * KB, 0)
    assert (await storage_use(caller(world.agent), world.org_b.id)).used_bytes == KB
    with pytest.raises(NotFound):
        await storage_use(caller(world.customer_b), world.org_a.id)


async def test_replies_sent_at_the_same_moment_cannot_together_pass_the_quota(world, settings, monkeypatch):
    monkeypatch.setattr(settings, "organization_storage_quota_bytes", 3 * KB)
    tickets = [await file_with(world, []) for _ in range(6)]
    before = stored_files(settings)
    outcomes = await asyncio.gather(*(
        thread.add_message(caller(world.customer_a), ticket.id, "同時に送ります",
                             attachments=[Upload.from_bytes(f"{i}.log", b"x" * KB)])
        for i, ticket in enumerate(tickets)
    ), return_exceptions=True)
    assert sum(isinstance(o, StorageQuotaExceeded) for o in outcomes) == 3, outcomes
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 3
    assert (await storage_use(caller(world.agent), world.org_a.id)).used_bytes == 3 * KB
    rows = await Attachment.select(Attachment.storage_key)
    assert stored_files(settings) - before == {path_of(r["storage_key"]) for r in rows}  # a file for each row only


async def test_customer_admins_and_administrators_see_the_storage_in_use(world, client, settings, monkeypatch):
    monkeypatch.setattr(settings, "organization_storage_quota_bytes", 1024 * 1024 * 1024)
    await file_with(world, [Upload.from_bytes("画面.png", b"p" * (1536 * KB))])
    await sign_in(client, world.customer_a2)
    page = await client.get("/portal/billing")
    assert page.status_code == 200
    assert "添付ファイルの保存容量" in page.text and "1 GB のうち 1.5 MB を使用中（残り 1022.5 MB）。" in page.text
    admin = await make_user("admin")
    await sign_in(client, admin)
    page = await client.get(f"/admin/organizations/{world.org_a.id}")
    assert "1 GB のうち 1.5 MB を使用中（残り 1022.5 MB）。" in page.text
