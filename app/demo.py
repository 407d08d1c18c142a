"""The Japanese demo data that `kippu seed-demo` (and so `make run`) loads.

A vendor's two departments and six staff, two customer companies with their people and their
routing (担当割当), five request types, two custom fields, and fifty requests in every status
and priority with replies, internal notes, time logged, files and history.

Points first: a published point table (ポイント表) prices the five request types, a bundle is on
sale, and each company has bought points (a paid lot; 青葉システム also got free points when it
started). Every request then holds its quote when filed, is charged when resolved and gets its
points back when cancelled; one request's charge was waived (the vendor's mistake), one had extra
time priced in within さくら商事's approval limit, and one asks 青葉システム to approve extra time.
Ledger entries are append-only, so they carry the time the demo was loaded, not the story's.

Everything is made through the services the pages and the API call, as a user of each role
would make it, so the data obeys every rule the app enforces. The requests are written as
stories (filed → taken → answered → waiting → resolved → closed, …), planned over the past
two months in the vendor's office hours and played in the order they happened; after each step
its rows get the step's time. Resolved requests were resolved recently, so the auto-close job
does not close them as soon as the app starts. The mail the history caused counts as sent then:
the first start does not deliver two months of old notifications.

Running it again changes nothing: the customer codes in DEMO_ORGANIZATION_CODES mark the demo.
It never runs when ENVIRONMENT=production (the passwords are fixed and published).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from app import db
from app.accounts import services as accounts
from app.accounts.caller import Caller
from app.accounts.passwords import hash_password
from app.accounts.services import SYSTEM, UserInfo
from app.accounts.tables import Department, Organization, User
from app.admin import services as admin
from app.errors import NotAllowed
from app.i18n import _
from app.notifications.tables import OutboxMessage
from app.settings import get_settings
from app.tickets.attachments import Upload
from app.tickets.services import classification, filing, reading, thread, workflow
from app.tickets.services import points as ticket_points
from app.tickets.tables import Attachment, PointChangeRequest, Ticket, TicketEvent, TicketMessage
from billing import clock, ledger, purchases
from billing.invoicing import documents_of_purchase
from billing.issuer import IssuerSettings, current_issuer, save_issuer
from pricing import services as pricing
from pricing.rules import Bundle, PrioritySurcharge, RequestTypePrice, lot_expiry
from pricing.tables import PointTableVersion

DEMO_PASSWORD = "kippu-demo"
DEMO_ORGANIZATION_CODES = ("SAKURA", "AOBA")
INFRA, WEB = "インフラ保守部", "Web制作部"
DEPARTMENTS = (INFRA, WEB)
_RANDOM_SEED = 2026  # the same demo every time


# ---------------------------------------------------------------------------------------------
# People, companies and settings


@dataclass(frozen=True, slots=True)
class Person:
    key: str
    role: str
    email: str
    name: str
    department: str | None = None
    organization: str | None = None  # customer code

    @property
    def family_name(self) -> str:
        return self.name.split()[0]


@dataclass(frozen=True, slots=True)
class Company:
    code: str
    name: str
    address: str
    billing_contact_name: str
    billing_email: str
    phone: str
    department: str
    assignee: str | None  # key of the staff member new requests go to, if any


STAFF = (
    Person("admin", "admin", "admin@kippu.example", "高橋 誠"),
    Person("finance", "finance", "keiri@kippu.example", "中村 美咲"),
    Person("sato", "agent", "sato@kippu.example", "佐藤 健太", department=INFRA),
    Person("suzuki", "agent", "suzuki@kippu.example", "鈴木 大輔", department=INFRA),
    Person("ito", "agent", "ito@kippu.example", "伊藤 彩", department=WEB),
    Person("watanabe", "agent", "watanabe@kippu.example", "渡辺 翔", department=WEB),
)

COMPANIES = (
    Company(
        "SAKURA", "株式会社さくら商事", "〒103-0027 東京都中央区日本橋2-1-10 さくらビル4階",
        "田中 一郎", "keiri@sakura-shoji.example", "03-3271-0000", INFRA, "sato",
    ),
    Company(
        "AOBA", "青葉システム株式会社", "〒980-0811 宮城県仙台市青葉区一番町3-5-1 青葉第二ビル7階",
        "加藤 由美", "kato@aoba-systems.example", "022-266-0000", WEB, None,
    ),
)

CUSTOMERS = (
    Person("tanaka", "customer_admin", "tanaka@sakura-shoji.example", "田中 一郎", organization="SAKURA"),
    Person("yamamoto", "customer_member", "yamamoto@sakura-shoji.example", "山本 直子", organization="SAKURA"),
    Person("kobayashi", "customer_member", "kobayashi@sakura-shoji.example", "小林 拓也", organization="SAKURA"),
    Person("kato", "customer_admin", "kato@aoba-systems.example", "加藤 由美", organization="AOBA"),
    Person("yoshida", "customer_member", "yoshida@aoba-systems.example", "吉田 翼", organization="AOBA"),
)

PEOPLE = {p.key: p for p in STAFF + CUSTOMERS}
COMPANY = {c.code: c for c in COMPANIES}

# (code, Japanese name, English name); the point table will price these codes.
REQUEST_TYPES = (
    ("general", "一般的な質問", "General question"),
    ("incident", "障害対応", "Incident response"),
    ("change", "設定変更", "Configuration change"),
    ("web_update", "サイト更新", "Website update"),
    ("account", "アカウント追加・削除", "Account changes"),
)
IMPACT_CHOICES = ("担当者のみ", "部署全体", "全社")

# The point table: code → (points, included minutes, scope in Japanese, scope in English). Work
# beyond the included minutes costs 1 point per further 30 minutes; urgent requests cost 1 more.
PRICES = {
    "general": (1, 30, "操作方法や設定内容についてのご質問1件への回答（調査と回答で30分まで）。",
                "An answer to one question about use or settings (up to 30 minutes of research and reply)."),
    "incident": (3, 60, "障害1件の切り分けと復旧（リモート作業60分まで）。機器の購入・交換費用は含みません。",
                 "Diagnosing and restoring one fault (up to 60 minutes of remote work); hardware not included."),
    "change": (2, 30, "既存設定の変更1件（ルーター、メール、共有フォルダの権限など。作業30分まで）。",
               "One change to existing settings (router, mail, folder permissions; up to 30 minutes)."),
    "web_update": (2, 30, "既存ページ1ページ分の文言・画像の差し替え（作業30分まで）。新規ページの作成は含みません。",
                   "Replacing text or images on one existing page (up to 30 minutes); new pages not included."),
    "account": (1, 15, "利用者アカウント1件の追加・削除、またはパスワードの再設定。",
                "Adding or removing one user account, or resetting a password."),
}
OVERAGE_BLOCK_MINUTES = 30
URGENT_SURCHARGE = 1
BUNDLE = Bundle(code="P10", name_ja="10ポイントパック", name_en="10-point bundle", points=10, price_jpy=50000,
                tax_rate=10, validity_months=12, min_quantity=1)
# What each company bought (in bundles of 10) or was given, and the approval limit its admin set.
PURCHASED_BUNDLES = {"SAKURA": 10, "AOBA": 6}
# How each company paid: さくら商事 by invoice (bank transfer a week later), 青葉システム by card.
PAYMENT_METHODS = {"SAKURA": "invoice", "AOBA": "card"}
# The vendor as the issuer of its invoices (a made-up registration number with a valid check digit).
ISSUER = IssuerSettings(
    name="Kippuサポート株式会社", registration_number="T7123456789012", address="東京都千代田区丸の内一丁目1番1号",
    phone="03-1234-5678", email="keiri@kippu.example",
    bank_account="三菱UFJ銀行 丸の内支店 普通 1234567\nキップサポート（カ", payment_terms_days=30,
)
WELCOME_POINTS = {"AOBA": 10}
APPROVAL_LIMITS = {"SAKURA": 2}


# ---------------------------------------------------------------------------------------------
# The requests


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One request and how it went. `days`: how long ago it was filed (for a resolved request:
    how long ago it was resolved). Texts left empty are skipped or get a plain default."""

    by: str  # the customer it is from
    type: str
    category: str
    priority: str
    status: str
    days: float
    subject: str
    body: str
    agent: str | None = None  # who works it (default: the company's routing assignee)
    assigned_by: str | None = None  # staff who hands it to `agent` (default: the agent takes it)
    filed_by: str | None = None  # staff who filed it on the customer's behalf (a phone call)
    move_to: str | None = None  # department it is handed over to
    note: str = ""  # internal note
    answer: str = ""  # first public reply
    question: str = ""  # a question that leaves the request waiting on the customer
    reply: str = ""  # the customer's answer
    fix: str = ""  # the reply that solves it
    thanks: str = ""  # the customer's confirmation
    customer_resolves: bool = False
    cancel: str = ""  # why it was cancelled
    cancel_by: str = "customer"
    follow_up: str = ""  # the customer's reply after it was closed (starts a follow-up request)
    impact: str | None = None
    preferred_in_days: int | None = None
    extra: tuple[int, str] | None = None  # extra minutes of work the agent asks for, and why
    waive: str = ""  # why the agent waived the charge (before the fix)
    files: tuple[tuple[str, str], ...] = ()  # (file name, text) attached when filed


S = Scenario
SCENARIOS: tuple[Scenario, ...] = (
    # ------------------------------------------------------------------ closed
    S(by="yamamoto", type="incident", category="incident", priority="urgent", status="closed", days=58,
      subject="2階事務所のネットワークスイッチ（ハブ）が故障したようです",
      body="本日朝から2階営業部のPCが全台ネットワークにつながりません。\n"
           "スイッチングハブのランプがすべて消えています。電源の抜き差しも試しましたが変わりません。\n"
           "至急対応をお願いします。",
      note="HUB-2F-01（24ポート）の電源ユニット故障と思われる。予備機（同型）を持参して交換する。",
      answer="ご連絡ありがとうございます。本日11時に佐藤が現地へ伺い、ハブの状態を確認いたします。\n"
             "それまでの間、重要なデータは3階の共有PCをご利用ください。",
      fix="予備のスイッチングハブに交換し、営業部の全16台で通信できることを確認いたしました。\n"
          "故障したハブはメーカー修理に出し、戻り次第予備機として保管いたします。",
      thanks="迅速なご対応ありがとうございました。営業部も通常どおり業務ができています。",
      impact="部署全体"),
    S(by="tanaka", type="general", category="question", priority="normal", status="closed", days=52,
      agent="finance",
      subject="請求書の送付先変更のお願い",
      body="来月分から、保守料金の請求書の送付先を経理部 山本宛てに変更していただけますでしょうか。\n"
           "住所は変わりません。",
      answer="ご連絡ありがとうございます。請求書の宛名変更の件、承りました。",
      fix="来月発行分から、請求書の宛名を「株式会社さくら商事 経理部 山本様」に変更いたしました。\n"
          "送付先住所は従来どおりです。"),
    S(by="kobayashi", type="incident", category="incident", priority="normal", status="closed", days=47,
      agent="suzuki",
      subject="インターネット接続が時々切れる",
      body="ここ数日、午後になるとインターネット接続が数分間切れることがあります。\n"
           "社内のファイルサーバーには接続できています。ping の結果を添付します。",
      files=(("ping_result.txt",
              "PING 8.8.8.8: 56 data bytes\n64 bytes from 8.8.8.8: icmp_seq=0 ttl=117 time=9.8 ms\n"
              "Request timeout for icmp_seq 1\nRequest timeout for icmp_seq 2\n"
              "64 bytes from 8.8.8.8: icmp_seq=3 ttl=117 time=10.4 ms\n"),),
      answer="ping の結果をありがとうございます。ルーターのログを確認いたします。",
      question="恐れ入りますが、切断が発生した時刻を数回分お知らせいただけますでしょうか。",
      reply="昨日は 14:05、14:40、15:20 頃に切れました。いずれも数分で復旧しています。",
      note="ルーターのログに PPPoE の再接続が数回記録されている。時刻を聞いてプロバイダの障害情報と照合する。",
      fix="プロバイダ側の設備障害が原因でした。本日、プロバイダから復旧の連絡がありました。\n"
          "あわせてルーターのファームウェアを最新版に更新しております。",
      impact="全社"),
    S(by="yamamoto", type="account", category="change_request", priority="low", status="closed", days=44,
      subject="新入社員4名のメールアカウント作成",
      body="来月入社の4名分のメールアカウント作成をお願いします。\n"
           "氏名とアドレスの希望は次のとおりです。\n"
           "・井上 翔太 s.inoue\n・木村 美穂 m.kimura\n・林 大樹 d.hayashi\n・清水 結衣 y.shimizu",
      fix="4名分のメールアカウントを作成いたしました。\n"
          "初期パスワードは本日中に山本様へお電話でお伝えいたします。初回ログイン時に変更をお願いいたします。",
      preferred_in_days=10),
    S(by="tanaka", type="change", category="change_request", priority="normal", status="closed", days=40,
      agent="suzuki",
      subject="VPN接続の設定変更（在宅勤務者の追加）",
      body="在宅勤務者が3名増えるため、VPN のアカウント追加と接続手順書の送付をお願いします。\n"
           "対象者：営業部 山本、小林、経理部 井上",
      note="VPN ルーターのユーザー上限 20 のうち 14 使用中。3名追加して 17。",
      fix="3名分の VPN アカウントを追加し、接続手順書（PDF）を各自のメールアドレスへお送りしました。\n"
          "接続できない場合はこちらにご返信ください。",
      thanks="全員接続できました。ありがとうございました。"),
    S(by="yamamoto", type="general", category="question", priority="low", status="closed", days=36,
      subject="プリンターのトナー交換方法を教えてください",
      body="3階の複合機で「トナーを交換してください」と表示されています。\n"
           "予備のトナーはあるのですが、交換の手順がわかりません。",
      fix="前面カバーを開け、表示されている色のトナーを手前に引き抜き、新しいトナーをよく振ってから"
          "カチッと音がするまで差し込んでください。\n使用済みトナーは回収箱に入れていただければ、"
          "次回訪問時に回収いたします。",
      customer_resolves=True,
      thanks="教えていただいた手順で交換できました。ありがとうございます。"),
    S(by="kato", type="web_update", category="change_request", priority="normal", status="closed", days=55,
      agent="ito",
      subject="お知らせ欄に夏季休業のお知らせを掲載",
      body="トップページのお知らせ欄に、夏季休業のお知らせを掲載してください。\n"
           "文面：「誠に勝手ながら、8月13日から8月16日まで夏季休業とさせていただきます。」",
      fix="トップページのお知らせ欄に掲載いたしました。休業明けに非表示にいたします。",
      preferred_in_days=3),
    S(by="yoshida", type="incident", category="incident", priority="urgent", status="closed", days=42,
      agent="watanabe",
      subject="お問い合わせフォームからメールが届かない",
      body="昨日の夕方から、サイトのお問い合わせフォームから送信しても担当者にメールが届きません。\n"
           "送信完了画面は表示されます。",
      note="フォームの送信に使う SMTP アカウントのパスワードが期限切れ。再発行して設定を更新する。",
      answer="ご連絡ありがとうございます。至急原因を調査いたします。",
      fix="メール送信用アカウントのパスワードの有効期限切れが原因でした。\n"
          "パスワードを再設定し、テスト送信で担当者様へ届くことを確認いたしました。\n"
          "昨日17時以降の送信内容はサーバーに残っていたため、まとめて転送しております。",
      impact="全社"),
    S(by="kato", type="change", category="change_request", priority="normal", status="closed", days=33,
      agent="watanabe",
      subject="SSL証明書の更新について",
      body="サイトの SSL 証明書の有効期限が来月に迫っているという通知が届きました。更新をお願いできますか。",
      fix="SSL 証明書を更新いたしました。新しい有効期限は来年の同月末です。\n"
          "ブラウザで鍵マークが表示されることを確認しております。"),
    S(by="yoshida", type="web_update", category="change_request", priority="low", status="closed", days=28,
      agent="ito",
      subject="採用情報ページの募集要項を差し替え",
      body="採用情報ページの「システムエンジニア（中途）」の募集要項を、添付の内容に差し替えてください。",
      files=(("募集要項_2026.txt",
              "職種：システムエンジニア（中途）\n勤務地：仙台本社\n給与：月給28万円以上（経験による）\n"
              "休日：完全週休2日制（土日祝）\n"),),
      fix="採用情報ページの募集要項を差し替えました。スマートフォンでの表示も確認しております。"),
    S(by="kobayashi", type="incident", category="incident", priority="normal", status="closed", days=24,
      subject="ファイルサーバーの経理フォルダにアクセスできない",
      body="今朝からファイルサーバーの「経理」フォルダを開こうとすると「アクセスが拒否されました」と表示されます。"
           "ほかのフォルダは開けます。",
      note="昨日のグループ整理で経理グループから小林さんが外れていた。再追加。",
      waive="弊社のグループ整理作業の不備が原因のため、今回の料金は頂戴しません。",
      fix="アクセス権の設定を修正いたしました。一度サインアウトしてから再度お試しください。",
      thanks="開けるようになりました。ありがとうございました。"),
    S(by="kato", type="web_update", category="change_request", priority="normal", status="closed", days=20,
      agent="ito",
      subject="トップページのバナー画像を差し替え",
      body="トップページのメインバナーを秋のキャンペーン用の画像に差し替えてください。\n"
           "画像は共有フォルダの「2026秋」に入れてあります。",
      fix="メインバナーを秋キャンペーンの画像に差し替えました。PC とスマートフォンで表示を確認しております。"),
    S(by="tanaka", type="general", category="question", priority="normal", status="closed", days=9,
      subject="メールボックスの容量上限について",
      body="最近、数名から「メールボックスの容量がいっぱい」という警告が出ていると聞きました。\n"
           "現在の容量上限を教えてください。",
      fix="現在のプランでは1アカウントあたり 50GB です。警告が出ている方は、古いメールのアーカイブを"
          "おすすめいたします。手順書をお送りしますので、必要でしたらお知らせください。",
      follow_up="追加で、容量を増やす場合のプランと費用も教えていただけますか。"),
    # ------------------------------------------------------------------ resolved
    S(by="yamamoto", type="incident", category="incident", priority="normal", status="resolved", days=3,
      agent="suzuki",
      subject="会議室のWi-Fiにつながらない",
      body="4階の大会議室だけ、Wi-Fi につながりにくい状態です。来客時の打ち合わせで困っています。",
      note="会議室のアクセスポイントのチャンネルが隣のビルと干渉。チャンネル変更で様子を見る。",
      fix="会議室のアクセスポイントのチャンネルを変更し、通信速度が改善したことを確認いたしました。\n"
          "しばらく様子を見ていただき、問題があればご返信ください。",
      impact="部署全体"),
    S(by="kobayashi", type="change", category="change_request", priority="normal", status="resolved", days=2,
      subject="共有フォルダのアクセス権変更",
      body="「営業資料」フォルダを、営業部に加えて企画部からも閲覧できるようにしてください（編集は営業部のみ）。",
      fix="「営業資料」フォルダに企画部の閲覧権限を追加いたしました。編集権限は営業部のみのままです。"),
    S(by="yoshida", type="web_update", category="change_request", priority="normal", status="resolved", days=4,
      agent="watanabe",
      subject="製品ページの価格表を更新",
      body="来月からの価格改定に合わせて、製品ページの価格表を添付の CSV の内容に更新してください。",
      files=(("価格表_改定版.csv",
              "製品,旧価格,新価格\n青葉クラウド スタンダード,9800,10800\n"
              "青葉クラウド プロ,19800,21800\n導入支援パック,50000,55000\n"),),
      fix="価格表を更新いたしました。公開は来月1日 0時に切り替わるよう予約しております。",
      preferred_in_days=5),
    S(by="kato", type="incident", category="incident", priority="urgent", status="resolved", days=1,
      agent="watanabe", assigned_by="admin",
      subject="サイトの表示が非常に遅い",
      body="本日昼頃から、自社サイトのどのページも表示に10秒以上かかります。至急確認をお願いします。",
      note="サーバーの CPU 使用率 100%。特定の IP からのアクセスが急増している。WAF で遮断する。",
      answer="ご連絡ありがとうございます。すぐにサーバーの状態を確認いたします。",
      fix="特定のアクセス元からの大量アクセスが原因でした。該当のアクセスを遮断し、"
          "現在は通常の速度で表示されることを確認いたしました。",
      impact="全社"),
    S(by="tanaka", type="account", category="change_request", priority="low", status="resolved", days=4,
      subject="退職者のアカウント削除",
      body="月末で退職する営業部 佐々木のメールアカウントと VPN アカウントを削除してください。\n"
           "メールは1か月間、山本へ転送をお願いします。",
      fix="佐々木様の VPN アカウントを削除し、メールは山本様への転送を設定いたしました。\n"
          "メールアカウントは1か月後に削除いたします。"),
    S(by="kato", type="general", category="question", priority="low", status="resolved", days=2,
      agent="ito",
      subject="アクセス解析レポートの見方について",
      body="毎月お送りいただいているアクセス解析レポートの「直帰率」とは何を表していますか。",
      fix="直帰率は、サイトに来た方が最初のページだけを見て離れた割合です。\n"
          "トップページでは 40% 前後が一般的ですので、現在の 35% は良好な数値です。",
      customer_resolves=True,
      thanks="よくわかりました。ありがとうございます。"),
    S(by="yamamoto", type="incident", category="incident", priority="normal", status="resolved", days=1,
      agent="suzuki",
      subject="迷惑メールが急に増えた",
      body="先週あたりから、営業部のメールアドレスに迷惑メールが急に増えています。対策をお願いできますか。",
      fix="迷惑メールフィルターの判定レベルを1段階上げ、送信元のドメインをブロックリストに追加いたしました。"),
    # ------------------------------------------------------------------ waiting on the customer
    S(by="kobayashi", type="incident", category="incident", priority="urgent", status="waiting", days=6,
      agent="suzuki",
      subject="ノートPCが起動しない",
      body="営業で使っているノートPCが、電源ボタンを押しても起動しません。明日の商談で使う予定です。",
      answer="ご連絡ありがとうございます。代替機の手配も含めて確認いたします。",
      question="お手数ですが、電源ランプの状態と、画面に表示されるメッセージがあればお知らせいただけますか。"),
    S(by="tanaka", type="change", category="change_request", priority="low", status="waiting", days=9,
      subject="複合機のスキャン送信先を追加したい",
      body="複合機のスキャン送信先に、経理部の共有アドレスを追加してください。",
      question="追加する送信先のメールアドレスと、複合機に表示する名前をお知らせいただけますか。"),
    S(by="yoshida", type="web_update", category="change_request", priority="normal", status="waiting", days=4,
      agent="ito",
      subject="会社概要ページの役員一覧を更新",
      body="先月の株主総会で役員が変わりましたので、会社概要ページの役員一覧を更新してください。",
      question="新任の役員の方のお名前（ふりがな）と役職、掲載の順番をお知らせいただけますでしょうか。"),
    S(by="kato", type="change", category="change_request", priority="normal", status="waiting", days=12,
      agent="watanabe",
      subject="ドメインのDNS設定変更（メールサーバー移行）",
      body="来月、メールサーバーを社内サーバーからクラウドに移行します。DNS の設定変更をお願いします。",
      note="MX と SPF の変更が必要。TTL を事前に短くしておく。",
      question="移行先のメールサービスの MX レコードと SPF レコードの値をお知らせいただけますか。"),
    S(by="yamamoto", type="general", category="other", priority="normal", status="waiting", days=3,
      subject="Microsoft 365 のライセンス追加について",
      body="来月から派遣の方が2名来るので、Microsoft 365 のライセンスを追加したいです。手続きを教えてください。",
      answer="ライセンスの追加は当社で手配できます。",
      question="必要なプラン（Business Basic か Business Standard）と利用開始日をお知らせください。"),
    S(by="yoshida", type="incident", category="incident", priority="normal", status="waiting", days=5,
      agent="watanabe",
      subject="スマートフォンでメニューが開かない",
      body="スマートフォンでサイトを見ると、右上のメニューボタンを押しても何も表示されません。",
      question="ご利用の機種とブラウザ（Safari、Chrome など）を教えていただけますか。"),
    S(by="kobayashi", type="account", category="question", priority="normal", status="waiting", days=2,
      subject="VPNのパスワードを忘れてしまった",
      body="在宅勤務用の VPN のパスワードを忘れてしまいました。再発行をお願いします。",
      question="ご本人確認のため、社員番号と、登録済みの携帯電話番号の下4桁をお知らせください。"),
    # ------------------------------------------------------------------ open
    S(by="yamamoto", type="incident", category="incident", priority="urgent", status="open", days=0.3,
      agent="suzuki", assigned_by="admin",
      subject="基幹システムにログインできない（全社）",
      body="今朝から全社で販売管理システムにログインできません。「サーバーに接続できません」と表示されます。",
      note="DB サーバーのディスク残量 0。ログのローテーションが止まっていた。",
      answer="ご連絡ありがとうございます。鈴木が担当いたします。現在原因を調査しております。"
             "状況がわかり次第ご連絡いたします。",
      reply="営業部からも問い合わせが来ています。復旧の見込みがわかれば教えてください。",
      impact="全社"),
    S(by="tanaka", type="change", category="change_request", priority="normal", status="open", days=2,
      subject="UPS（無停電電源装置）のバッテリー交換",
      body="サーバー室の UPS から警告音が鳴っています。バッテリー交換の時期だと思いますので対応をお願いします。",
      answer="ご連絡ありがとうございます。バッテリーを手配し、交換日程をご相談させてください。",
      note="APC SMT1500J、バッテリー型番 APCRBC124J。在庫確認中。",
      extra=(30, "交換後の UPS 自動シャットダウン設定の確認に30分追加で必要なため。")),
    S(by="kobayashi", type="incident", category="incident", priority="normal", status="open", days=1,
      subject="Outlookで送信したメールが送信トレイに残る",
      body="添付ファイル付きのメールを送ると、送信トレイに残ったまま送信されません。添付なしなら送れます。",
      answer="ご連絡ありがとうございます。添付ファイルのサイズを教えていただけますか。"
             "10MB を超えると送信できない設定になっております。",
      reply="添付は 15MB くらいの PDF です。"),
    S(by="kato", type="web_update", category="change_request", priority="normal", status="open", days=2,
      agent="ito",
      subject="新商品ページの追加",
      body="新商品「青葉クラウド エンタープライズ」の紹介ページを追加したいです。原稿と画像は追ってお送りします。",
      answer="承知いたしました。原稿と画像をお待ちしております。公開希望日があればお知らせください。",
      preferred_in_days=14,
      extra=(90, "新規ページの作成は「サイト更新」の対応範囲（既存ページの差し替え）を超えるため、"
                 "作成作業として90分の追加をお願いいたします。")),
    S(by="yoshida", type="incident", category="incident", priority="normal", status="open", days=1,
      agent="ito",
      subject="ブログ記事の画像が表示されない",
      body="昨日公開したブログ記事で、2枚目以降の画像が表示されません。",
      answer="ご連絡ありがとうございます。記事の画像の設定を確認いたします。"),
    S(by="yamamoto", type="general", category="notice", priority="low", status="open", days=5,
      subject="ビルの法定点検に伴う停電のお知らせ",
      body="来月第2土曜日の9時から17時まで、ビルの法定点検で停電します。\n"
           "サーバーの停止と復旧の対応をお願いできますでしょうか。",
      answer="ご連絡ありがとうございます。前日の夕方にサーバーを停止し、復電後に起動と動作確認を行います。"
             "当日の立ち会いは佐藤が伺います。"),
    S(by="kato", type="change", category="change_request", priority="low", status="open", days=6,
      agent="watanabe",
      subject="フッターの住所表記を変更",
      body="本社移転に伴い、サイト全ページのフッターの住所を変更してください。新住所は会社概要ページと同じです。",
      answer="承知いたしました。移転日に合わせて切り替えられるよう準備いたします。"),
    S(by="tanaka", type="incident", category="incident", priority="normal", status="open", days=2,
      agent="suzuki",
      subject="NASのバックアップ失敗の通知メールが届いた",
      body="今朝、NAS から「バックアップに失敗しました」というメールが届きました。確認をお願いします。",
      note="バックアップ先の USB ディスクが認識されていない。ケーブルの抜けか故障。",
      answer="ご連絡ありがとうございます。リモートで状況を確認いたします。"),
    S(by="kobayashi", type="web_update", category="change_request", priority="normal", status="open", days=4,
      move_to=WEB, agent="ito",
      subject="自社サイトの営業時間表記を修正",
      body="会社のホームページに記載されている営業時間が古いままです。「9:00〜18:00」を"
           "「9:30〜17:30」に直してください。",
      answer="ご依頼ありがとうございます。Web制作部の伊藤が担当いたします。本日中に修正いたします。"),
    S(by="yoshida", type="general", category="question", priority="normal", status="open", days=3,
      agent="ito",
      subject="英語版サイトの作成について相談",
      body="海外からの問い合わせが増えているため、英語版サイトの作成を検討しています。進め方と概算を相談させてください。",
      answer="ご相談ありがとうございます。まずは対象ページを決めるため、30分ほどオンラインでお打ち合わせを"
             "させていただけますでしょうか。",
      question="候補日を3つほどいただけますか。",
      reply="来週の火曜 14時、水曜 10時、木曜 15時のいずれかでお願いします。"),
    # ------------------------------------------------------------------ new
    S(by="yamamoto", type="incident", category="incident", priority="urgent", status="new", days=0.1,
      subject="3階のプリンターで印刷できない",
      body="3階の複合機で印刷しようとすると「オフライン」と表示されて印刷できません。至急お願いします。",
      impact="部署全体"),
    S(by="kobayashi", type="general", category="question", priority="normal", status="new", days=0.3,
      subject="社内Wi-Fiのパスワードを変更したい",
      body="退職者が出たので、社内 Wi-Fi のパスワードを変更したいと考えています。影響範囲と手順を教えてください。"),
    S(by="kato", type="web_update", category="change_request", priority="normal", status="new", days=0.5,
      subject="キャンペーンページの公開予約",
      body="年末キャンペーンのページを、下記の日付の0時に公開するよう予約をお願いします。原稿は先日お送りしたものです。",
      preferred_in_days=10),
    S(by="yoshida", type="incident", category="incident", priority="normal", status="new", days=1,
      subject="お問い合わせフォームの送信完了画面が文字化けする",
      body="お問い合わせフォームで送信した後の「送信完了」画面の文字が化けて読めません。送信自体はできています。",
      reply="Chrome と Edge の両方で同じ症状です。"),
    S(by="tanaka", type="account", category="change_request", priority="low", status="new", days=2,
      filed_by="sato",
      subject="派遣社員用のPCアカウント発行（お電話にて受付）",
      body="田中様よりお電話にて受付。\n来月1日から勤務される派遣社員2名分の PC ログインアカウントと"
           "メールアカウントの発行をご希望です。氏名は追ってメールでいただけるとのこと。"),
    S(by="yamamoto", type="incident", category="question", priority="normal", status="new", days=1.5,
      subject="VPN接続中だけ社内システムが遅い",
      body="在宅勤務で VPN に接続していると、販売管理システムの画面の切り替えに時間がかかります。"
           "会社にいるときは問題ありません。",
      note="VPN ルーターの同時接続数と回線使用率を確認してから回答する。"),
    S(by="kato", type="general", category="question", priority="low", status="new", days=3,
      subject="保守契約の内容確認",
      body="現在の保守契約で、サイトの軽微な文言修正は月に何回まで対応いただけるのか確認させてください。"),
    S(by="kobayashi", type="incident", category="incident", priority="urgent", status="new", days=0.05,
      subject="スマートフォンでメールが受信できない",
      body="今朝から、会社支給のスマートフォンでメールが受信できません。PC では受信できています。",
      impact="担当者のみ"),
    # ------------------------------------------------------------------ cancelled
    S(by="yamamoto", type="incident", category="incident", priority="normal", status="cancelled", days=50,
      subject="インターネットにつながらない",
      body="営業部の PC からインターネットにつながりません。",
      cancel="ルーターを再起動したところ復旧しました。お手数をおかけしました。こちらの依頼は取り下げます。"),
    S(by="yoshida", type="web_update", category="change_request", priority="low", status="cancelled", days=30,
      subject="トップページのお知らせを削除",
      body="トップページのお知らせのうち、一番古いものを削除してください。",
      cancel="社内で確認した結果、掲載を継続することになりました。取り消します。"),
    S(by="tanaka", type="general", category="question", priority="normal", status="cancelled", days=18,
      cancel_by="staff",
      subject="請求書の再発行について",
      body="先月分の請求書を紛失してしまいました。再発行をお願いできますか。",
      cancel="同じ内容のご依頼が経理部からも届いているため、そちらで対応する。本件は取り消し。"),
    S(by="kato", type="change", category="other", priority="normal", status="cancelled", days=8,
      subject="サーバー移転の見積もり依頼",
      body="現在のレンタルサーバーからクラウドへの移転を検討しています。概算の見積もりをお願いします。",
      cancel="社内の予算の都合で、今期の移転は見送りになりました。取り下げさせてください。"),
)

DEFAULT_ANSWER = "お問い合わせありがとうございます。内容を確認のうえ、折り返しご連絡いたします。"
DEFAULT_FIX = "対応が完了いたしました。ご確認のほどよろしくお願いいたします。"

# Hours between one step of a story and the next: (shortest, longest).
GAPS = {
    "take": (0.2, 1.5), "move": (0.3, 1.0), "note": (0.2, 1.5), "answer": (0.3, 2.5),
    "question": (0.5, 3.0), "customer": (3.0, 26.0), "fix": (4.0, 30.0), "resolve": (0.5, 3.0),
    "close": (72.0, 140.0), "follow_up": (18.0, 40.0), "cancel": (0.5, 6.0),
}
URGENT_GAP_FACTOR = 0.3  # urgent requests move faster on the vendor's side
_URGENT_KINDS = ("take", "move", "note", "answer", "question", "fix")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: str
    email: str
    password: str
    name: str
    where: str  # the department or the customer company


@dataclass(frozen=True, slots=True)
class SeedResult:
    created: bool  # False: the demo was there already and nothing changed
    organizations: int
    users: int
    requests: int
    logins: tuple[DemoLogin, ...]


def demo_logins() -> tuple[DemoLogin, ...]:
    return tuple(
        DemoLogin(
            role=p.role, email=p.email, password=DEMO_PASSWORD, name=p.name,
            where=COMPANY[p.organization].name if p.organization else (p.department or get_settings().vendor_name),
        )
        for p in STAFF + CUSTOMERS
    )


# ---------------------------------------------------------------------------------------------
# Seeding


async def seed_demo() -> SeedResult:
    """Load the demo once, in one transaction (a failure leaves nothing half-made)."""
    if get_settings().environment == "production":
        raise NotAllowed(_("The demo data is never loaded when ENVIRONMENT=production."))
    now = datetime.now(UTC)
    async with db.write_transaction():
        created = not await Organization.exists().where(Organization.code.is_in(list(DEMO_ORGANIZATION_CODES)))
        if created:
            world = await _create_people()
            await _create_settings(world)
            await _create_points(world)
            await _play(world, now)
    return await _summary(created)


async def _summary(created: bool) -> SeedResult:
    organizations = await Organization.select(Organization.id).where(
        Organization.code.is_in(list(DEMO_ORGANIZATION_CODES))
    )
    ids = [o["id"] for o in organizations]
    requests = await Ticket.count().where(Ticket.organization.is_in(ids)) if ids else 0
    users = await User.count().where(User.email.is_in([p.email for p in STAFF + CUSTOMERS]))
    return SeedResult(created=created, organizations=len(ids), users=users, requests=requests, logins=demo_logins())


@dataclass
class _World:
    users: dict[str, UserInfo] = field(default_factory=dict)
    departments: dict[str, int] = field(default_factory=dict)
    new_departments: list[int] = field(default_factory=list)
    organizations: dict[str, int] = field(default_factory=dict)

    def caller(self, key: str) -> Caller:
        user = self.users[key]
        return Caller(
            id=user.id, email=user.email, name=user.name, role=user.role,
            organization_id=user.organization_id, department_id=user.department_id, locale=user.locale,
        )


async def _create_people() -> _World:
    world = _World()
    existing = {d.name: d.id for d in await accounts.list_departments(SYSTEM)}
    for name in DEPARTMENTS:
        if name not in existing:
            existing[name] = (await accounts.create_department(SYSTEM, name)).id
            world.new_departments.append(existing[name])
        world.departments[name] = existing[name]
    for person in STAFF:
        world.users[person.key] = await accounts.create_staff_user(
            SYSTEM, email=person.email, name=person.name, role=person.role,
            department=world.departments.get(person.department),
        )
    admin_caller = world.caller("admin")
    for company in COMPANIES:
        organization = await accounts.create_organization(
            admin_caller, code=company.code, name=company.name, address=company.address,
            billing_contact_name=company.billing_contact_name, billing_email=company.billing_email,
            phone=company.phone,
        )
        world.organizations[company.code] = organization.id
    for person in CUSTOMERS:
        customer_admin = next(
            c for c in CUSTOMERS if c.organization == person.organization and c.role == "customer_admin"
        )
        # The company's customer admin adds its members, as in the portal.
        caller = admin_caller if person is customer_admin else world.caller(customer_admin.key)
        world.users[person.key] = await accounts.create_customer_user(
            caller, world.organizations[person.organization], email=person.email, name=person.name,
            role=person.role,
        )
    # One Argon2 hash of the shared demo password serves every demo user: hashing costs up to
    # half a second each, and this password is published anyway.
    await User.update({User.password_hash: hash_password(DEMO_PASSWORD)}).where(
        User.id.is_in([u.id for u in world.users.values()])
    )
    for company in COMPANIES:
        await accounts.set_routing(
            admin_caller, world.organizations[company.code], department_id=world.departments[company.department],
            assignee_id=world.users[company.assignee].id if company.assignee else None,
        )
    return world


async def _create_settings(world: _World) -> None:
    admin_caller = world.caller("admin")
    known_types = {t.code for t in await admin.list_request_types(admin_caller)}
    for order, (code, name_ja, name_en) in enumerate(REQUEST_TYPES, start=1):
        if code not in known_types:
            await admin.create_request_type(
                admin_caller, code=code, name_ja=name_ja, name_en=name_en, sort_order=order * 10
            )
    known_fields = {f.key for f in await admin.list_custom_fields(admin_caller)}
    if "impact" not in known_fields:
        await admin.create_custom_field(
            admin_caller, key="impact", label_ja="影響範囲", label_en="Impact", field_type="choice",
            choices=list(IMPACT_CHOICES), sort_order=10,
        )
    if "preferred_date" not in known_fields:
        await admin.create_custom_field(
            admin_caller, key="preferred_date", label_ja="希望対応日", label_en="Preferred date", field_type="date",
            sort_order=20,
        )


async def _create_points(world: _World) -> None:
    """The point table in force, the bundle on sale, and each company's points."""
    if not await PointTableVersion.exists().where(PointTableVersion.status == "published"):
        version = await pricing.create_draft(note="サービス開始時のポイント表")
        for order, (code, name_ja, name_en) in enumerate(REQUEST_TYPES, start=1):
            points, included, scope_ja, scope_en = PRICES[code]
            await pricing.set_request_type(version, RequestTypePrice(
                code=code, name_ja=name_ja, name_en=name_en, points=points, scope_ja=scope_ja, scope_en=scope_en,
                included_minutes=included, block_minutes=OVERAGE_BLOCK_MINUTES, points_per_block=1,
            ), sort_order=order * 10)
        await pricing.set_surcharge(version, PrioritySurcharge("urgent", URGENT_SURCHARGE))
        await pricing.publish(version)
    if not await pricing.bundles(active_only=False):
        await pricing.save_bundle(BUNDLE)
    if await current_issuer() is None:
        await save_issuer(ISSUER, actor_id=world.users["admin"].id)
    # Bought about two and a half months ago, valid for the bundle's twelve months.
    bought_on = _bought_on()
    for code, organization_id in world.organizations.items():
        if code in PURCHASED_BUNDLES:
            await _buy(world, code, organization_id, PURCHASED_BUNDLES[code], bought_on)
        if code in WELCOME_POINTS:
            with clock.at(_business_hours(bought_on)):
                await ledger.grant(
                    organization_id, WELCOME_POINTS[code], "サービス開始記念の無償ポイント",
                    lot_expiry(bought_on, BUNDLE.validity_months), key=f"demo:{code}:welcome",
                    actor_id=world.users["finance"].id,
                )
    # さくら商事 ordered more by invoice 40 days ago and has not paid it: it is overdue.
    await _buy(world, "SAKURA", world.organizations["SAKURA"], 4, clock.today() - timedelta(days=40), pay=False)
    for company in COMPANIES:
        if company.code in APPROVAL_LIMITS:
            admin_key = next(c.key for c in CUSTOMERS if c.organization == company.code and c.role == "customer_admin")
            await ticket_points.set_approval_limit(world.caller(admin_key), APPROVAL_LIMITS[company.code])


def _bought_on() -> date:
    return clock.today() - timedelta(days=80)


def _business_hours(day: date) -> datetime:
    return clock.start_of(day) + timedelta(hours=10)


async def _buy(world: _World, code: str, organization_id: int, quantity: int, ordered_on, *, pay: bool = True) -> None:
    """A purchase as the company's admin made it, paid as the company pays: documents, payments and
    ledger entries are stamped with those days (billing.clock), not with the moment of loading."""
    buyer = next(c for c in CUSTOMERS if c.organization == code and c.role == "customer_admin")
    company = next(c for c in COMPANIES if c.code == code)
    method = PAYMENT_METHODS[code]
    with clock.at(_business_hours(ordered_on)):
        purchase = await purchases.start_purchase(
            organization_id, BUNDLE.code, quantity, method, recipient_name=company.name,
            requested_by=world.users[buyer.key].id, today=ordered_on,
        )
        if not pay:
            return
        if method == "card":
            await purchases.attach_checkout(purchase.id, f"cs_demo_{purchase.id}", "")
            await purchases.settle_card_payment(purchase.id, paid_at=clock.now(), today=ordered_on)
            return
    (invoice,) = await documents_of_purchase(purchase.id)
    paid_on = ordered_on + timedelta(days=7)
    with clock.at(_business_hours(paid_on)):
        await purchases.record_payment(invoice.id, paid_on=paid_on, amount_jpy=purchase.total_jpy,
                                       actor_id=world.users["finance"].id, today=paid_on)


# ---------------------------------------------------------------------------------------------
# Stories: what happened to each request, and when


@dataclass(frozen=True, slots=True)
class _Step:
    at: datetime
    scenario: int
    order: int
    actor: str
    action: str  # file, take, assign, move, note, reply, status, overage, waive
    payload: dict


def _handler(scenario: Scenario) -> str | None:
    return scenario.agent or COMPANY[PEOPLE[scenario.by].organization].assignee


def _story(scenario: Scenario, rng: random.Random) -> list[tuple[float, str, str, dict]]:
    """The steps of one request as (hours after the previous step, actor, action, payload)."""
    s = scenario
    steps: list[tuple[float, str, str, dict]] = [(0.0, s.filed_by or s.by, "file", {})]

    def add(kind: str, actor: str | None, action: str, **payload) -> None:
        if actor is None:
            raise ValueError(f"no staff member works on the demo request {s.subject!r}")
        gap = rng.uniform(*GAPS[kind])
        if s.priority == "urgent" and kind in _URGENT_KINDS:
            gap *= URGENT_GAP_FACTOR
        if action in ("note", "reply") and PEOPLE[actor].role not in ("customer_admin", "customer_member"):
            payload["minutes"] = _minutes(kind, s, rng)
        steps.append((gap, actor, action, payload))

    routed_to = COMPANY[PEOPLE[s.by].organization].assignee
    handler = _handler(s)
    if s.move_to:
        add("move", routed_to, "move", department=s.move_to)
    if s.agent and s.agent != routed_to:
        if s.assigned_by:
            add("take", s.assigned_by, "assign", to=s.agent)
        else:
            add("take", s.agent, "take")

    if s.status == "cancelled":
        if s.cancel_by == "customer":
            add("cancel", s.by, "reply", text=s.cancel)
            add("cancel", s.by, "status", status="cancelled")
        else:
            add("note", handler, "note", text=s.cancel)
            add("cancel", handler, "status", status="cancelled")
        return steps
    if s.note:
        add("note", handler, "note", text=s.note)
    if s.status == "new":
        if s.reply:
            add("customer", s.by, "reply", text=s.reply)
        return steps
    if s.status == "waiting":
        if s.answer:
            add("answer", handler, "reply", text=s.answer)
        add("question", handler, "reply", text=s.question, then="waiting")
        return steps
    add("answer", handler, "reply", text=s.answer or DEFAULT_ANSWER)
    if s.extra:
        add("note", handler, "overage", minutes=s.extra[0], reason=s.extra[1])
    if s.question:
        add("question", handler, "reply", text=s.question, then="waiting")
        add("customer", s.by, "reply", text=s.reply)  # back to open
    elif s.reply:
        add("customer", s.by, "reply", text=s.reply)
    if s.status == "open":
        return steps
    if s.waive:
        add("note", handler, "waive", reason=s.waive)
    fix = s.fix or DEFAULT_FIX
    if s.customer_resolves:
        add("fix", handler, "reply", text=fix)
        add("customer", s.by, "reply", text=s.thanks)
        add("resolve", s.by, "status", status="resolved")
    elif s.thanks:
        add("fix", handler, "reply", text=fix)
        add("customer", s.by, "reply", text=s.thanks)
        add("resolve", handler, "status", status="resolved")
    else:
        add("fix", handler, "reply", text=fix, then="resolved")
    if s.status == "closed":
        add("close", handler, "status", status="closed")
        if s.follow_up:
            add("follow_up", s.by, "reply", text=s.follow_up)
    return steps


def _minutes(kind: str, scenario: Scenario, rng: random.Random) -> int:
    if kind == "fix":
        longest = 120 if scenario.category == "incident" else 60
        return rng.randrange(15, longest + 1, 15)
    if kind == "note":
        return rng.choice((5, 10, 15, 20, 30))
    return rng.choice((5, 10, 10, 15))


def _office_hours(moment: datetime, fraction: float) -> datetime:
    """The moment, or the next weekday morning (9:00 and up to 90 minutes) when it falls outside
    office hours (9:00–18:00, vendor time)."""
    local = moment.astimezone(get_settings().zone)
    morning = timedelta(hours=9, minutes=fraction * 90)
    if local.hour < 9:
        local = _midnight(local) + morning
    elif local.hour >= 18:
        local = _midnight(local) + timedelta(days=1) + morning
    while local.weekday() >= 5:
        local = _midnight(local) + timedelta(days=1) + morning
    return local.astimezone(UTC)


def _filing_time(moment: datetime, fraction: float) -> datetime:
    """The moment, or some time of the last working day before it when it falls outside office hours."""
    local = moment.astimezone(get_settings().zone)
    if local.weekday() < 5 and 9 <= local.hour < 18:
        return moment
    day = _midnight(local) - timedelta(days=1 if local.hour < 9 else 0)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return (day + timedelta(hours=9, minutes=fraction * 525)).astimezone(UTC)


def _midnight(local: datetime) -> datetime:
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _timeline(scenario: Scenario, gaps: list[float], fractions: list[float], now: datetime) -> list[datetime]:
    """Step times in office hours, ending before `now`; a resolved request ends `days` ago."""
    latest = now - timedelta(minutes=5)
    offset = timedelta(days=scenario.days)
    if scenario.status == "resolved":
        offset += timedelta(hours=sum(gaps))
    start = now - offset
    for _attempt in range(60):
        moment = _filing_time(start, fractions[0])
        times = [moment]
        for gap, fraction in zip(gaps[1:], fractions[1:], strict=True):
            moment = _office_hours(moment + timedelta(hours=gap), fraction)
            times.append(moment)
        if times[-1] <= latest:
            return times
        start -= timedelta(days=1)
    raise RuntimeError(f"no time line fits the demo request {scenario.subject!r}")


def plan(now: datetime) -> list[_Step]:
    """Every step of every story, in the order they happened."""
    rng = random.Random(_RANDOM_SEED)
    steps: list[_Step] = []
    for index, scenario in enumerate(SCENARIOS):
        story = _story(scenario, rng)
        fractions = [rng.random() for _step in story]
        times = _timeline(scenario, [gap for gap, *_rest in story], fractions, now)
        steps.extend(
            _Step(at=at, scenario=index, order=order, actor=actor, action=action, payload=payload)
            for order, (at, (_gap, actor, action, payload)) in enumerate(zip(times, story, strict=True))
        )
    return sorted(steps, key=lambda step: (step.at, step.scenario, step.order))


async def _play(world: _World, now: datetime) -> None:
    steps = plan(now)
    ticket_ids: dict[int, int] = {}
    for step in steps:
        marks = await _high_water_marks()
        # The ledger stamps its entries with billing.clock; the request side is moved afterwards.
        with clock.at(step.at):
            await _perform(world, step, ticket_ids)
        await _move_into_the_past(step.at, marks, since=now)
    await _date_the_setup(world, min(steps[0].at - timedelta(days=14), clock.start_of(_bought_on() - timedelta(days=7))))


async def _perform(world: _World, step: _Step, ticket_ids: dict[int, int]) -> None:
    scenario = SCENARIOS[step.scenario]
    caller = world.caller(step.actor)
    payload = step.payload
    if step.action == "file":
        custom: dict[str, str] = {}
        if scenario.impact:
            custom["impact"] = scenario.impact
        if scenario.preferred_in_days is not None:
            day = (step.at + timedelta(days=scenario.preferred_in_days)).astimezone(get_settings().zone).date()
            custom["preferred_date"] = day.isoformat()
        requester = world.users[scenario.by]
        ticket = await filing.create_ticket(
            caller, subject=scenario.subject, body=scenario.body, request_type_code=scenario.type,
            priority=scenario.priority, category=scenario.category, custom_fields=custom,
            organization_id=requester.organization_id if caller.is_staff else None,
            requester_id=requester.id if caller.is_staff else None,
            attachments=[Upload.from_bytes(name, text.encode()) for name, text in scenario.files],
        )
        ticket_ids[step.scenario] = ticket.id
        return
    ticket_id = ticket_ids[step.scenario]
    if step.action in ("take", "assign", "move"):
        version = (await reading.ticket_summary(caller, ticket_id)).version
        if step.action == "take":
            await workflow.take(caller, ticket_id, version=version)
        elif step.action == "assign":
            await workflow.assign(caller, ticket_id, world.users[payload["to"]].id, version=version)
        else:
            await classification.update_fields(
                caller, ticket_id, version=version, department_id=world.departments[payload["department"]]
            )
    elif step.action == "note":
        await thread.add_message(caller, ticket_id, payload["text"], internal=True, minutes_spent=payload["minutes"])
    elif step.action == "reply":
        text = payload["text"]
        if caller.is_staff:
            text = _staff_letter(world.users[scenario.by].name, PEOPLE[step.actor], text)
        await thread.add_message(
            caller, ticket_id, text, minutes_spent=payload.get("minutes", 0), then_status=payload.get("then"),
        )
    elif step.action == "status":
        await workflow.change_status(caller, ticket_id, payload["status"])
    elif step.action == "overage":
        await classification.request_overage(caller, ticket_id, payload["minutes"], payload["reason"])
    elif step.action == "waive":
        await workflow.waive(caller, ticket_id, payload["reason"])
    else:
        raise ValueError(f"unknown demo step {step.action!r}")


def _staff_letter(customer_name: str, author: Person, text: str) -> str:
    vendor = get_settings().vendor_name
    return (
        f"{customer_name.split()[0]}様\n\nいつもお世話になっております。{vendor}の{author.family_name}です。\n\n"
        f"{text}\n\nよろしくお願いいたします。"
    )


@dataclass(frozen=True, slots=True)
class _Marks:
    ticket: int
    message: int
    event: int
    attachment: int
    outbox: int


async def _last_id(table) -> int:
    row = await table.select(table.id).order_by(table.id, ascending=False).first()
    return row["id"] if row else 0


async def _high_water_marks() -> _Marks:
    return _Marks(
        ticket=await _last_id(Ticket), message=await _last_id(TicketMessage), event=await _last_id(TicketEvent),
        attachment=await _last_id(Attachment), outbox=await _last_id(OutboxMessage),
    )


async def _move_into_the_past(at: datetime, marks: _Marks, *, since: datetime) -> None:
    """Give the rows a step made (those past the marks, or stamped after `since`) the step's time."""
    settings = get_settings()
    for row in await Ticket.select(Ticket.id, Ticket.priority).where(Ticket.id > marks.ticket):
        await Ticket.update({
            Ticket.created_at: at,
            Ticket.first_response_due_at: at + timedelta(hours=settings.first_response_hours[row["priority"]]),
            Ticket.resolution_due_at: at + timedelta(hours=settings.resolution_hours[row["priority"]]),
        }).where(Ticket.id == row["id"])
    for column in (Ticket.updated_at, Ticket.first_responded_at, Ticket.resolved_at, Ticket.closed_at):
        await Ticket.update({column: at}).where(column >= since)
    await TicketMessage.update({TicketMessage.created_at: at}).where(TicketMessage.id > marks.message)
    await TicketEvent.update({TicketEvent.created_at: at}).where(TicketEvent.id > marks.event)
    await Attachment.update({Attachment.created_at: at}).where(Attachment.id > marks.attachment)
    await OutboxMessage.update({
        OutboxMessage.created_at: at, OutboxMessage.send_after: at, OutboxMessage.status: "sent",
        OutboxMessage.sent_at: at + timedelta(seconds=30),
    }).where(OutboxMessage.id > marks.outbox)
    await PointChangeRequest.update({PointChangeRequest.requested_at: at}).where(
        PointChangeRequest.requested_at >= since
    )
    await PointChangeRequest.update({PointChangeRequest.decided_at: at}).where(
        PointChangeRequest.decided_at >= since
    )


async def _date_the_setup(world: _World, at: datetime) -> None:
    """The company and its people existed before their first request."""
    if world.new_departments:
        await Department.update({Department.created_at: at}).where(Department.id.is_in(world.new_departments))
    await Organization.update({Organization.created_at: at}).where(
        Organization.id.is_in(list(world.organizations.values()))
    )
    await User.update({User.created_at: at}).where(User.id.is_in([u.id for u in world.users.values()]))
    # The point table was in force before the first purchase (the points carry their own dates).
    await PointTableVersion.update({
        PointTableVersion.created_at: at, PointTableVersion.published_at: at, PointTableVersion.effective_from: at,
    }).where(PointTableVersion.note == "サービス開始時のポイント表")


__all__ = ["DEMO_ORGANIZATION_CODES", "DEMO_PASSWORD", "DemoLogin", "SeedResult", "demo_logins", "plan", "seed_demo"]
