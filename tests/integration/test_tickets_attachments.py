"""Files on requests: limits, storage outside the web root, downloads only for those allowed."""

from __future__ import annotations

import hashlib

import pytest

from app.errors import InvalidInput, NotFound
from app.settings import ROOT
from app.tickets import services
from app.tickets.attachments import MAX_FILES_PER_MESSAGE, Upload, attachment_download, path_of
from app.tickets.tables import Attachment, Ticket
from tests.factories import bearer, caller, make_support_world

PDF = "%PDF-1.4 見積書".encode()


@pytest.fixture
async def world():
    return await make_support_world()


async def file_with(world, uploads):
    return await services.create_ticket(
        caller(world.customer_a), subject="画面の不具合", body="スクリーンショットを添付します。",
        request_type_code="general", attachments=uploads,
    )


async def test_files_are_stored_by_a_random_key_outside_the_web_root(world, settings):
    ticket = await file_with(world, [Upload("../../見積書.pdf", PDF)])
    detail = await services.get_ticket(caller(world.agent), ticket.id)
    (item,) = detail.attachments
    assert item.filename == "見積書.pdf" and item.size_bytes == len(PDF)
    assert item.sha256 == hashlib.sha256(PDF).hexdigest() and item.content_type == "application/pdf"
    row = await Attachment.select(Attachment.storage_key).where(Attachment.id == item.id).first()
    stored = path_of(row["storage_key"])
    assert stored.read_bytes() == PDF and stored.is_relative_to(settings.upload_dir)
    assert not stored.is_relative_to(ROOT / "static") and "見積書" not in str(stored)


@pytest.mark.parametrize("uploads", [
    [Upload("virus.exe", b"MZ")],
    [Upload("noextension", b"data")],
    [Upload("empty.txt", b"")],
    [Upload(f"f{i}.txt", b"x") for i in range(MAX_FILES_PER_MESSAGE + 1)],
])
async def test_files_outside_the_limits_are_refused_and_nothing_is_filed(world, uploads):
    with pytest.raises(InvalidInput) as refused:
        await file_with(world, uploads)
    assert refused.value.extra["field"] == "attachments"
    assert await Ticket.count() == 0


async def test_a_file_larger_than_the_limit_is_refused(world, settings, monkeypatch):
    monkeypatch.setattr(settings, "upload_max_bytes", 1024)
    with pytest.raises(InvalidInput) as refused:
        await file_with(world, [Upload("big.log", b"x" * 1025)])
    assert "MB" in refused.value.message
    assert await Attachment.count() == 0


async def test_a_failed_change_leaves_no_file_behind(world, settings):
    ticket = await file_with(world, [])
    before = set(settings.upload_dir.rglob("*")) if settings.upload_dir.exists() else set()
    with pytest.raises(NotFound):
        await services.add_message(caller(world.customer_b), ticket.id, "見てください", attachments=[Upload("a.txt", b"1")])
    after = set(settings.upload_dir.rglob("*")) if settings.upload_dir.exists() else set()
    assert {p for p in after - before if p.is_file()} == set()


async def test_downloads_are_served_only_to_those_who_may_see_them(world):
    ticket = await file_with(world, [Upload("画面.png", b"\x89PNG")])
    await services.add_message(caller(world.agent), ticket.id, "社内メモ", internal=True,
                               attachments=[Upload("調査.log", b"trace")])
    detail = await services.get_ticket(caller(world.agent), ticket.id)
    public, internal = detail.attachments
    assert (await attachment_download(caller(world.customer_a2), public.id)).filename == "画面.png"
    assert (await attachment_download(caller(world.agent), internal.id)).filename == "調査.log"
    with pytest.raises(NotFound):
        await attachment_download(caller(world.customer_b), public.id)
    with pytest.raises(NotFound):
        await attachment_download(caller(world.customer_a), internal.id)
    assert [a.filename for a in (await services.get_ticket(caller(world.customer_a), ticket.id)).attachments] == ["画面.png"]
    other = await services.create_ticket(caller(world.customer_a), subject="別件", body="本文", request_type_code="general")
    with pytest.raises(NotFound):
        await attachment_download(caller(world.customer_a), public.id, ticket_id=other.id)


async def test_the_api_sends_a_file_only_to_its_company(world, client):
    ticket = await file_with(world, [Upload("見積書.pdf", PDF)])
    (item,) = (await services.get_ticket(caller(world.agent), ticket.id)).attachments
    url = f"/api/v1/tickets/{ticket.id}/attachments/{item.id}"
    response = await client.get(url, headers=await bearer(world.customer_a))
    assert response.status_code == 200 and response.content == PDF
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.headers["content-disposition"].startswith("attachment")
    assert (await client.get(url, headers=await bearer(world.customer_b))).status_code == 404
    assert (await client.get(url)).status_code == 401
