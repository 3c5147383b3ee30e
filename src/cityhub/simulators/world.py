"""The simulated world: people, their vehicles, accounts, bills and records, all from the seed.

Nothing here is stored: every value is derived from a hash of the seed and what it is about
(`World.rng(kind, provider, key)`), so the same seed gives the same world in every process,
and the demo and the tests can ask `World(seed).people` who exists. What residents change
(payments, appointments) lives in `SimState` on top of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from cityhub.identity.pii import id_check_digit

CHINA = ZoneInfo("Asia/Shanghai")
REGIONS = (
    ("310101", "沪A"),
    ("310115", "沪B"),
    ("110105", "京A"),
    ("440106", "粤A"),
    ("330106", "浙A"),
    ("510107", "川A"),
    ("420106", "鄂A"),
    ("320102", "苏A"),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华建国志文"
PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
EMPLOYERS = ("城市建设集团", "浦江科技有限公司", "市第一人民医院", "东方贸易公司", "个体经营")
BILL_RANGES = {"water": (3_000, 12_000), "power": (8_000, 45_000), "gas": (4_000, 20_000)}
OFFENCES = (
    ("speeding 20-50%", "超速20%以上未达50%", "超速20%以上未達50%", 20_000, 3),
    ("running a red light", "闯红灯", "闖紅燈", 20_000, 6),
    ("illegal parking", "违法停车", "違法停車", 15_000, 0),
    ("no seat belt", "未系安全带", "未繫安全帶", 5_000, 1),
    ("wrong lane", "不按导向车道行驶", "不按導向車道行駛", 10_000, 2),
)
LOCATIONS = ("延安高架路", "中山北路", "世纪大道", "南京西路", "沪闵路", "外环高速")
# Names in zh-Hans, zh-Hant and en: the hospital's system sends the first with the others as
# FHIR translations.
DEPARTMENTS = (
    ("internal", ("内科", "內科", "Internal medicine")),
    ("surgery", ("外科", "外科", "Surgery")),
    ("pediatrics", ("儿科", "兒科", "Paediatrics")),
    ("obstetrics", ("妇产科", "婦產科", "Obstetrics and gynaecology")),
    ("ophthalmology", ("眼科", "眼科", "Ophthalmology")),
    ("dental", ("口腔科", "口腔科", "Dentistry")),
)
TITLES = (
    ("主任医师", "主任醫師", "Chief physician"),
    ("副主任医师", "副主任醫師", "Associate chief physician"),
    ("主治医师", "主治醫師", "Attending physician"),
)
OWNS_A_CAR = {"zh-Hans": "名下已有本市登记的小客车", "zh-Hant": "名下已有本市登記的小客車",
              "en": "already owns a car registered in the city"}  # fmt: skip
TOO_FEW_MONTHS = {"zh-Hans": "社保缴纳不满36个月", "zh-Hant": "社保繳納不滿36個月",
                  "en": "fewer than 36 months of social insurance contributions"}  # fmt: skip
NOT_LOW_INCOME = {"zh-Hans": "不在本市最低生活保障名单上", "zh-Hant": "不在本市最低生活保障名單上",
                  "en": "not on the city's low-income (minimum living allowance) list"}  # fmt: skip
UNKNOWN_PERSON = {"zh-Hans": "没有这个身份证号码的户籍记录",
                  "zh-Hant": "沒有這個身分證號碼的戶籍記錄",
                  "en": "no resident record with this identity number"}  # fmt: skip
SLOT_TIMES = tuple(dt.time(h, m) for h in (8, 9, 10, 11) for m in (0, 30))


@dataclass(frozen=True)
class Person:
    """Someone who lives in the simulated world."""

    index: int
    id_number: str
    name: str
    phone: str
    plates: tuple[str, ...]


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


class World:
    """Everything the simulated providers know, derived from `seed`."""

    def __init__(self, seed: int = 42, size: int = 100) -> None:
        self.seed = seed
        self.people: list[Person] = []
        plates: set[str] = set()
        for index in range(size):
            person = self._person(index, plates)
            plates.update(person.plates)
            self.people.append(person)
        self.by_id = {p.id_number: p for p in self.people}
        self.by_plate = {plate: p for p in self.people for plate in p.plates}
        self._accounts: dict[tuple[str, str], dict[str, Person]] = {}

    def rng(self, *parts: object) -> random.Random:
        """A random generator determined by the seed and `parts`."""
        return random.Random(int.from_bytes(_digest(self.seed, *parts)[:8], "big"))

    def _person(self, index: int, taken: set[str]) -> Person:
        r = self.rng("person", index)
        region, prefix = REGIONS[index % len(REGIONS)]
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=r.randrange(40 * 365))
        first17 = f"{region}{birth:%Y%m%d}{index % 1000:03d}"
        name = r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2))))
        phone = "13" + "".join(str(r.randrange(10)) for _ in range(9))
        count = 0 if index % 3 == 2 else 2 if index % 5 == 0 else 1
        plates: list[str] = []
        while len(plates) < count:
            plate = prefix + "".join(r.choice(PLATE_CHARS) for _ in range(5))
            if plate not in taken and plate not in plates:
                plates.append(plate)
        return Person(index, first17 + id_check_digit(first17), name, phone, tuple(plates))

    # -- utilities ---------------------------------------------------------------------------

    def liveness_token(self, person: Person) -> str:
        """The face-check token a channel obtains when `person` passes its liveness check
        (the demo shows each person's; any other token fails)."""
        return "live-" + _digest(self.seed, "liveness", person.id_number).hex()[:16]

    def account_of(self, kind: str, provider: str, person: Person) -> str:
        """The person's account number at a utility."""
        return str(int.from_bytes(_digest(self.seed, kind, provider, person.id_number)[:6]))[-10:]

    def account_holder(self, kind: str, provider: str, account: str) -> Person | None:
        """Whose account this is at the utility, if anyone's."""
        index = self._accounts.get((kind, provider))
        if index is None:
            index = {self.account_of(kind, provider, p): p for p in self.people}
            self._accounts[(kind, provider)] = index
        return index.get(account)

    def bills(self, kind: str, provider: str, account: str, today: dt.date) -> list[dict[str, Any]]:
        """The last three monthly bills of an account (the newest unpaid)."""
        r = self.rng("bills", kind, provider, account)
        low, high = BILL_RANGES.get(kind, (5_000, 20_000))
        unpaid_from = 1 if r.random() < 0.3 else 2
        rows = []
        for back in (3, 2, 1):
            month = (today.year * 12 + today.month - 1) - back
            year, mon = divmod(month, 12)
            period = f"{year:04d}-{mon + 1:02d}"
            due_year, due_mon = divmod(month + 1, 12)
            due, amount = dt.date(due_year, due_mon + 1, 20), r.randrange(low, high, 10)
            unpaid = 3 - back >= unpaid_from
            rows.append(
                {
                    "id": f"{account}-{period.replace('-', '')}",
                    "period": period,
                    "amount_fen": amount,
                    "currency": "CNY",
                    "due_date": due.isoformat(),
                    "status": "unpaid" if unpaid else "paid",
                    # Overdue and unpaid: about 0.5% of the amount is the late fee (in it).
                    "late_fee_fen": amount // 2000 * 10 if unpaid and due < today else 0,
                }
            )
        return rows

    # -- agencies ----------------------------------------------------------------------------

    def violations(self, provider: str, plate: str, today: dt.date) -> list[dict[str, Any]]:
        """The traffic violations recorded against a plate."""
        r = self.rng("violations", provider, plate)
        owner = self.by_plate.get(plate)
        count = r.randint(0, 3)
        if owner is not None and owner.index < 5:
            count = max(count, 1)  # the first people always have something to show
        rows = []
        for n in range(count):
            offence, offence_zh, offence_zh_hant, fine, points = r.choice(OFFENCES)
            when = dt.datetime.combine(
                today - dt.timedelta(days=r.randrange(1, 180)), dt.time(r.randrange(24)), CHINA
            )
            rows.append(
                {
                    "id": f"V{_digest(self.seed, provider, plate, n).hex()[:12].upper()}",
                    "plate": plate,
                    "occurred_at": when.isoformat(),
                    "location": r.choice(LOCATIONS),
                    "offence": offence,
                    "offence_zh": offence_zh,
                    "offence_zh_hant": offence_zh_hant,
                    "fine_fen": fine,
                    "points": points,
                    "status": "unpaid" if r.random() < 0.6 else "paid",
                }
            )
        return sorted(rows, key=lambda v: str(v["occurred_at"]), reverse=True)

    def social_insurance(self, provider: str, person: Person, today: dt.date) -> dict[str, Any]:
        """A person's social insurance account."""
        r = self.rng("social", provider, person.id_number)
        months = self.contribution_months(person)
        last = today.replace(day=1) - dt.timedelta(days=1)
        return {
            "id_number": person.id_number,
            "name": person.name,
            "status": "active" if r.random() < 0.9 else "suspended",
            "employer": r.choice(EMPLOYERS),
            "months_contributed": months,
            "last_contribution": f"{last:%Y-%m}",
            "pension_balance_fen": months * r.randrange(60_000, 180_000, 100),
            "medical_balance_fen": r.randrange(0, 2_000_000, 100),
            "currency": "CNY",
        }

    def contribution_months(self, person: Person) -> int:
        """How many months a person paid into social insurance (the same for every bureau)."""
        return self.rng("months", person.id_number).randrange(6, 300)

    def low_income(self, person: Person) -> bool:
        """Whether the civil affairs bureau has the person on its low-income list (about one
        in five)."""
        return self.rng("low-income", person.id_number).random() < 0.2

    def has_housing_fund(self, person: Person) -> bool:
        """Whether anyone pays into a housing fund for the person (one in ten works for
        themselves and has no account)."""
        return person.index % 10 != 9

    def housing_fund(self, provider: str, person: Person) -> dict[str, Any]:
        """A person's housing provident fund account."""
        r = self.rng("housing", provider, person.id_number)
        deposit = r.randrange(40_000, 600_000, 100)
        return {
            "id_number": person.id_number,
            "name": person.name,
            "status": "normal" if r.random() < 0.85 else "sealed",
            "employer": r.choice(EMPLOYERS),
            "monthly_deposit_fen": deposit,
            "balance_fen": deposit * r.randrange(3, 120),
            "currency": "CNY",
        }

    def air_quality(self, provider: str, district: str, now: dt.datetime) -> dict[str, Any]:
        """The district's air quality in the current hour."""
        hour = now.astimezone(CHINA).replace(minute=0, second=0, microsecond=0)
        r = self.rng("air", provider, district, hour.isoformat())
        aqi = r.randrange(15, 200)
        level = next(name for top, name in _AQI_LEVELS if aqi <= top)
        return {
            "district": district,
            "aqi": aqi,
            "level": level,
            "pm25": round(aqi * 0.62, 1),
            "pm10": round(aqi * 0.95, 1),
            "observed_at": hour.isoformat(),
        }

    def outages(self, provider: str, district: str, today: dt.date) -> list[dict[str, Any]]:
        """Planned outages in the district over the coming week."""
        r = self.rng("outages", provider, district, today.isocalendar()[:2])
        rows = []
        for n in range(r.randint(0, 3)):
            start = dt.datetime.combine(
                today + dt.timedelta(days=r.randrange(1, 8)), dt.time(r.randrange(8, 20)), CHINA
            )
            rows.append(
                {
                    "id": f"O{_digest(self.seed, provider, district, today, n).hex()[:10]}",
                    "utility": r.choice(("water", "power", "gas")),
                    "district": district,
                    "area": f"{r.choice(LOCATIONS)} {r.randrange(1, 900)}号附近",
                    "starts_at": start.isoformat(),
                    "ends_at": (start + dt.timedelta(hours=r.randrange(2, 9))).isoformat(),
                    "reason": r.choice(("pipe maintenance", "grid upgrade", "meter replacement")),
                }
            )
        return sorted(rows, key=lambda o: str(o["starts_at"]))

    def car_lottery_reasons(self, person: Person) -> list[dict[str, str]]:
        """Why a person may not enter the car-plate lottery, in three languages (nothing:
        eligible)."""
        reasons = []
        if person.plates:
            reasons.append(OWNS_A_CAR)
        if self.contribution_months(person) < 36:
            reasons.append(TOO_FEW_MONTHS)
        return reasons

    # -- hospitals ---------------------------------------------------------------------------

    def practitioners(self, provider: str) -> list[dict[str, Any]]:
        """A hospital's practitioners: two or three per department."""
        rows = []
        for code, _names in DEPARTMENTS:
            r = self.rng("practitioners", provider, code)
            for n in range(r.randint(2, 3)):
                name = r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(2))
                title = TITLES[n]
                rows.append({"id": f"{code}-{n + 1}", "name": name, "department": code,
                             "title": title[0], "titles": title})  # fmt: skip
        return rows

    def slot_busy(self, provider: str, slot_id: str) -> bool:
        """Whether a slot was taken before the simulation started (about a quarter are)."""
        return self.rng("slot", provider, slot_id).random() < 0.25


_AQI_LEVELS: tuple[tuple[int, str], ...] = (
    (50, "good"),
    (100, "moderate"),
    (150, "unhealthy for sensitive groups"),
    (10_000, "unhealthy"),
)
