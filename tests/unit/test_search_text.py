"""How queries and documents are normalised and cut into grams (no database)."""

from app.tickets.search import grams, normalise, query_grams, search_document, terms


def test_full_width_and_half_width_forms_fold_together():
    assert normalise("ＶＰＮ接続") == normalise("vpn接続") == "vpn接続"
    assert normalise("ﾊﾌﾞ") == "ハブ"
    assert normalise("Printer") == "printer"


def test_a_query_is_split_into_distinct_terms_on_any_white_space():
    assert terms("  VPN　接続  vpn ") == ["vpn", "接続"]  # the ideographic space separates too
    assert terms("   ") == []


def test_documents_hold_every_one_and_two_character_gram_but_none_with_white_space():
    assert grams("ハブ が") == ["が", "ハ", "ハブ", "ブ"]


def test_a_long_term_is_narrowed_by_bigrams_that_cover_every_character():
    assert query_grams(["インターネット"]) == ["イン", "ター", "ネッ", "ット"]
    assert query_grams(["請求"]) == ["請求"]
    assert query_grams(["鍵", "鍵"]) == ["鍵"]


def test_internal_notes_stay_out_of_the_public_text():
    document = search_document("件名", "本文", ["返信"], ["社内メモ"])
    assert "社内メモ" not in document["public_text"]
    assert document["internal_text"] == "社内メモ"
    assert "メモ" in document["grams"]
