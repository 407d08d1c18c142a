"""Keyword search finds exactly the requests that contain the words, in Japanese and English.

Runs on SQLite and PostgreSQL. Both ways of building the condition are checked: the plain one
(`keyword_filter`) and the one that picks the fastest query shape (`keyword_condition`).
"""

from __future__ import annotations

import pytest

from app.tickets.search import keyword_condition, keyword_filter, refresh_search_document
from app.tickets.tables import Ticket
from tests.factories import make_message, make_organization, make_request_type, make_ticket, make_user


@pytest.fixture(params=["keyword_filter", "keyword_condition"])
def search(request):
    """Subjects of the requests a search finds, optionally within a further condition."""

    async def run(query: str, *, staff: bool = True, where=None) -> set[str]:
        if request.param == "keyword_filter":
            condition = keyword_filter(query, include_internal=staff)
        else:
            condition = await keyword_condition(query, include_internal=staff)
        select = Ticket.select(Ticket.subject)
        if where is not None:
            select = select.where(where)
        if condition is not None:
            select = select.where(condition)
        return {row["subject"] for row in await select}

    return run


@pytest.fixture
async def desk():
    """Two customer companies, an agent, and requests written the way customers write them."""
    midori = await make_organization("株式会社みどり商事")
    aoba = await make_organization("青葉工業株式会社")
    people = {
        "midori": midori,
        "aoba": aoba,
        "agent": await make_user("agent", name="佐藤 花子"),
        "yamada": await make_user("customer_member", organization=midori, name="山田 太郎"),
        "kimura": await make_user("customer_member", organization=aoba, name="木村 次郎"),
        "type": await make_request_type(),
    }

    async def request(subject: str, body: str, *, organization=midori, status="new", replies=(), notes=()):
        requester = people["yamada"] if organization is midori else people["kimura"]
        ticket = await make_ticket(organization, requester, people["type"], subject=subject, body=body, status=status)
        for reply in replies:
            await make_message(ticket, people["agent"], body=reply)
        for note in notes:
            await make_message(ticket, people["agent"], body=note, internal=True)
        await refresh_search_document(ticket.id)
        return ticket

    people["hub"] = await request(
        "スイッチングハブの交換", "2階のハブのランプが点滅しています。", replies=["ルーターも再起動しました。"],
        notes=["社外秘: 前回も同じ故障。"],
    )
    people["invoice"] = await request("請求書の再発行", "10月分の請求書をもう一度送ってください。", status="resolved")
    people["internet"] = await request("インターネットに接続できない", "本社でインターネットにつながりません。")
    people["printer"] = await request("Printer offline", "The PRINTER in room 3 says offline.")
    people["full_width"] = await request("ＶＰＮが遅い", "在宅勤務中のＶＰＮ接続が遅いです。")
    people["half_width"] = await request("ﾊﾌﾞの電源", "倉庫のﾊﾌﾞの電源が入りません。")
    people["percent"] = await request("CPU使用率が100%", "サーバーのCPUが100%のままです。")
    people["yen"] = await request("100円の差額", "請求額に100円の差額があります。")
    people["underscore"] = await request("file_name.txt が開けない", "共有フォルダのファイルです。")
    people["key"] = await request("サーバーラックの鍵", "鍵が見当たりません。")
    people["aoba_hub"] = await request("ハブの増設", "会議室にハブを増設したい。", organization=aoba)
    return people


async def test_two_character_japanese_word_finds_every_request_containing_it(desk, search):
    assert await search("ハブ") == {"スイッチングハブの交換", "ﾊﾌﾞの電源", "ハブの増設"}
    assert await search("請求") == {"請求書の再発行", "100円の差額"}


async def test_one_character_japanese_query_finds_exactly_the_requests_with_that_character(desk, search):
    assert await search("鍵") == {"サーバーラックの鍵"}
    assert await search("ブ") == {"スイッチングハブの交換", "ﾊﾌﾞの電源", "ハブの増設"}


async def test_long_japanese_word_needs_the_whole_word_not_just_its_pieces(desk, search):
    assert await search("インターネット") == {"インターネットに接続できない"}
    assert await search("インターネッツ") == set()
    assert await search("ハブのランプ") == {"スイッチングハブの交換"}


async def test_english_words_match_whatever_their_case(desk, search):
    assert await search("printer") == {"Printer offline"}
    assert await search("OFFLINE") == {"Printer offline"}


async def test_full_width_and_half_width_forms_find_each_other(desk, search):
    assert await search("vpn") == {"ＶＰＮが遅い"}
    assert await search("ＶＰＮ") == {"ＶＰＮが遅い"}
    assert await search("ﾊﾌﾞ") == await search("ハブ")


async def test_percent_and_underscore_in_a_query_are_plain_characters(desk, search):
    assert await search("100%") == {"CPU使用率が100%"}
    assert await search("%") == {"CPU使用率が100%"}
    assert await search("_") == {"file_name.txt が開けない"}
    assert await search("e_n") == {"file_name.txt が開けない"}
    assert await search("\\") == set()


async def test_replies_are_searched_but_customers_never_match_internal_notes(desk, search):
    assert await search("ルーター") == {"スイッチングハブの交換"}
    assert await search("ルーター", staff=False) == {"スイッチングハブの交換"}
    assert await search("社外秘") == {"スイッチングハブの交換"}
    assert await search("社外秘", staff=False) == set()
    assert await search("社外秘", staff=False, where=Ticket.organization == desk["midori"].id) == set()


async def test_every_word_of_a_query_must_match(desk, search):
    assert await search("ハブ 点滅") == {"スイッチングハブの交換"}
    assert await search("ハブ　請求") == set()  # an ideographic space separates words too


async def test_search_combines_with_the_filters(desk, search):
    midori = Ticket.organization == desk["midori"].id
    assert await search("ハブ", where=midori) == {"スイッチングハブの交換", "ﾊﾌﾞの電源"}
    assert await search("ハブ", staff=False, where=Ticket.organization == desk["aoba"].id) == {"ハブの増設"}
    assert await search("請求", where=Ticket.status == "resolved") == {"請求書の再発行"}
    assert await search("請求", where=midori & (Ticket.status == "new")) == {"100円の差額"}


async def test_an_empty_query_filters_nothing(desk):
    assert keyword_filter("  　 ", include_internal=True) is None
    assert await keyword_condition("", include_internal=False) is None


async def test_a_new_reply_becomes_searchable(desk, search):
    assert await search("再送") == set()
    await make_message(desk["invoice"], desk["agent"], body="請求書を再送しました。")
    await refresh_search_document(desk["invoice"].id)
    assert await search("再送") == {"請求書の再発行"}
    assert await search("請求") == {"請求書の再発行", "100円の差額"}


async def test_common_words_are_found_exactly_like_rare_ones(desk, search):
    """Enough requests share a word that it counts as common (it is then looked up by walking the
    newest requests): the results are still exact and still respect the notes rule."""
    for n in range(12):
        ticket = await make_ticket(
            desk["midori"], desk["yamada"], desk["type"], subject=f"印刷できない {n}", body="プリンターの印刷が止まる。"
        )
        if n == 0:
            await make_message(ticket, desk["agent"], body="内部: 印字ヘッド交換済み", internal=True)
        await refresh_search_document(ticket.id)
    expected = {f"印刷できない {n}" for n in range(12)}
    assert await search("印刷") == expected
    assert await search("印") == expected
    assert await search("印字") == {"印刷できない 0"}
    assert await search("印字", staff=False) == set()
    assert await search("印刷 11") == {"印刷できない 11"}
