"""What a query answers: each field's label in the hub's three languages and its type, so a
page (or a channel) can show an answer to a person instead of raw data.

Types: `text` (shown as given), `number` (with an optional unit), `money` (integer minor
units; the currency is the record's `currency` field, else the city's), `date` (ISO date),
`month` (`2025-10`), `time` (ISO date and time, shown in the city's time zone) and `enum`
(a value from `values`, each with its labels). A `text` field may take its value from
another field per language (`sources`), for providers that answer in several languages.

A query service declares them in `connector_config.fields` (a list of
`{"name", "label": {"zh-Hans", "zh-Hant", "en"}, "type", "unit", "values", "sources"}`);
the hub's known queries declare their own. Fields not declared are not shown on pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cityhub.platform.errors import Unavailable

FieldType = Literal["text", "number", "money", "date", "month", "time", "enum"]
TYPES: tuple[str, ...] = ("text", "number", "money", "date", "month", "time", "enum")
Texts = dict[str, str]


def t(zh_hans: str, zh_hant: str, en: str) -> Texts:
    """A text in the hub's three languages."""
    return {"zh-Hans": zh_hans, "zh-Hant": zh_hant, "en": en}


@dataclass(frozen=True)
class AnswerField:
    """One field of a query's records as a person reads it."""

    name: str
    label: Texts
    type: FieldType = "text"
    unit: str | None = None
    values: dict[str, Texts] = field(default_factory=dict)  # enum value -> labels
    sources: dict[str, str] = field(default_factory=dict)  # language -> field to read

    def describe(self) -> dict[str, Any]:
        """The field as the API shows it (and as `connector_config.fields` takes it)."""
        out: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.type}
        if self.unit:
            out["unit"] = self.unit
        if self.values:
            out["values"] = self.values
        if self.sources:
            out["sources"] = self.sources
        return out


STATUS_PAID = {"unpaid": t("未缴纳", "未繳納", "Unpaid"), "paid": t("已缴纳", "已繳納", "Paid")}
ID = AnswerField("id_number", t("身份证号码", "身分證號碼", "Identity number"))
NAME = AnswerField("name", t("姓名", "姓名", "Name"))
EMPLOYER = AnswerField("employer", t("参保单位", "參保單位", "Employer"))
DISTRICT = AnswerField("district", t("区", "區", "District"))

KNOWN: dict[str, tuple[AnswerField, ...]] = {
    "traffic_violations": (
        AnswerField("occurred_at", t("违法时间", "違法時間", "When"), "time"),
        AnswerField("offence", t("违法行为", "違法行為", "Offence"),
                    sources={"zh-Hans": "offence_zh", "zh-Hant": "offence_zh_hant"}),
        AnswerField("location", t("地点", "地點", "Where")),
        AnswerField("fine_fen", t("罚款", "罰款", "Fine"), "money"),
        AnswerField("points", t("记分", "記分", "Points"), "number"),
        AnswerField("status", t("处理状态", "處理狀態", "Status"), "enum", values=STATUS_PAID),
        AnswerField("plate", t("号牌号码", "號牌號碼", "Plate")),
        AnswerField("id", t("决定书编号", "決定書編號", "Record number")),
    ),
    "social_insurance": (
        NAME, ID,
        AnswerField("status", t("参保状态", "參保狀態", "Status"), "enum", values={
            "active": t("正常参保", "正常參保", "Contributing"),
            "suspended": t("暂停参保", "暫停參保", "Suspended")}),
        EMPLOYER,
        AnswerField("months_contributed", t("累计缴费月数", "累計繳費月數", "Months paid"),
                    "number"),
        AnswerField("last_contribution", t("最近缴费月份", "最近繳費月份", "Last paid for"),
                    "month"),
        AnswerField("pension_balance_fen", t("养老保险个人账户", "養老保險個人帳戶",
                                             "Pension account"), "money"),
        AnswerField("medical_balance_fen", t("医保个人账户", "醫保個人帳戶",
                                             "Medical account"), "money"),
    ),
    "housing_fund": (
        NAME, ID,
        AnswerField("status", t("账户状态", "帳戶狀態", "Status"), "enum", values={
            "normal": t("正常缴存", "正常繳存", "Paying in"),
            "sealed": t("封存", "封存", "Sealed")}),
        AnswerField("employer", t("缴存单位", "繳存單位", "Employer")),
        AnswerField("monthly_deposit_fen", t("月缴存额", "月繳存額", "Paid in each month"),
                    "money"),
        AnswerField("balance_fen", t("账户余额", "帳戶餘額", "Balance"), "money"),
    ),
    "air_quality": (
        DISTRICT,
        AnswerField("aqi", t("空气质量指数", "空氣品質指數", "Air quality index"), "number"),
        AnswerField("level", t("空气质量", "空氣品質", "Air quality"), "enum", values={
            "good": t("优", "優", "Good"),
            "moderate": t("良", "良", "Moderate"),
            "unhealthy for sensitive groups": t("轻度污染", "輕度污染",
                                                "Unhealthy for sensitive groups"),
            "unhealthy": t("中度污染", "中度污染", "Unhealthy")}),
        AnswerField("pm25", t("PM2.5", "PM2.5", "PM2.5"), "number", unit="μg/m³"),
        AnswerField("pm10", t("PM10", "PM10", "PM10"), "number", unit="μg/m³"),
        AnswerField("observed_at", t("发布时间", "發布時間", "Observed"), "time"),
    ),
    "planned_outages": (
        AnswerField("utility", t("类型", "類型", "What"), "enum", values={
            "water": t("停水", "停水", "Water"),
            "power": t("停电", "停電", "Electricity"),
            "gas": t("停气", "停氣", "Gas")}),
        AnswerField("area", t("范围", "範圍", "Where")),
        AnswerField("starts_at", t("开始", "開始", "From"), "time"),
        AnswerField("ends_at", t("结束", "結束", "Until"), "time"),
        AnswerField("reason", t("原因", "原因", "Why"), "enum", values={
            "pipe maintenance": t("管道检修", "管道檢修", "Pipe maintenance"),
            "grid upgrade": t("电网改造", "電網改造", "Grid upgrade"),
            "meter replacement": t("更换表具", "更換表具", "Meter replacement")}),
        DISTRICT,
    ),
}  # fmt: skip


def _texts(value: Any, where: str) -> Texts:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{where} is not an object of texts by language")
    out = {}
    for lang, text in value.items():
        if lang not in ("zh-Hans", "zh-Hant", "en") or not isinstance(text, str) or not text:
            raise ValueError(f"{where}.{lang} is not a text in zh-Hans, zh-Hant or en")
        out[lang] = text[:120]
    return out


def parse(declared: Any) -> tuple[AnswerField, ...]:
    """The fields of a `connector_config.fields` list (ValueError naming what is wrong)."""
    if not isinstance(declared, list):
        raise ValueError("fields is not a list")
    found = []
    for n, item in enumerate(declared):
        where = f"fields[{n}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError(f"{where} has no name")
        kind = item.get("type", "text")
        if kind not in TYPES:
            raise ValueError(f"{where}.type is not one of {', '.join(TYPES)}")
        values = item.get("values") or {}
        if not isinstance(values, dict):
            raise ValueError(f"{where}.values is not an object")
        sources = item.get("sources") or {}
        if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
            raise ValueError(f"{where}.sources is not an object of field names")
        unit = item.get("unit")
        found.append(
            AnswerField(
                name=item["name"],
                label=_texts(item.get("label"), f"{where}.label"),
                type=kind,
                unit=unit if isinstance(unit, str) else None,
                values={str(k): _texts(v, f"{where}.values.{k}") for k, v in values.items()},
                sources={str(k): v for k, v in sources.items()},
            )
        )
    return tuple(found)


def fields_of(query: str, config: dict[str, Any], service_code: str) -> tuple[AnswerField, ...]:
    """The fields a query service declares, else those of the hub's known query."""
    declared = config.get("fields")
    if declared is None:
        return KNOWN.get(query, ())
    try:
        return parse(declared)
    except ValueError as exc:
        raise Unavailable(
            f"query service {service_code!r} is misconfigured: {exc}", code="query_misconfigured"
        ) from None
