"""The demo world's requests: per city its area and central district, a working calendar with
a demo set of public holidays, four departments (the city admin heads each, the provider
clerk handles them), five request types, and a few reports to handle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.identity.pii import Vault
from cityhub.requests import catalogue, reports
from cityhub.requests.models import Department, DepartmentMember, RequestType
from cityhub.requests.schemas import ReportCreate

if TYPE_CHECKING:
    from cityhub.cities.models import City

# City centres (lat, lon); each city's area is a box around it, its district the centre.
CENTRES: dict[str, tuple[float, float]] = {
    "shanghai": (31.2304, 121.4737), "taiyuan": (37.8706, 112.5489),
    "shenzhen": (22.5431, 114.0579), "qingdao": (36.0671, 120.3826),
    "hangzhou": (30.2741, 120.1551), "chengdu": (30.5728, 104.0668),
    "wuhan": (30.5928, 114.3055), "xian": (34.3416, 108.9398),
    "nanjing": (32.0603, 118.7969), "guangzhou": (23.1291, 113.2644),
    "suzhou": (31.2989, 120.5853), "xiamen": (24.4798, 118.0894),
}  # fmt: skip
# A demo calendar (the city sets the official one): days off, and weekend days worked.
HOLIDAYS = [
    "2026-01-01", "2026-01-02", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",
    "2026-02-20", "2026-04-06", "2026-05-01", "2026-05-04", "2026-05-05", "2026-06-19",
    "2026-09-25", "2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07",
    "2027-01-01",
]  # fmt: skip
EXTRA_WORKDAYS = ["2026-02-14", "2026-02-28", "2026-05-09", "2026-09-27", "2026-10-10"]


def _t(hans: str, hant: str, en: str) -> dict[str, str]:
    return {"zh-Hans": hans, "zh-Hant": hant, "en": en}


DEPARTMENTS = (
    ("city-management", _t("城市管理局", "城市管理局", "City Management Bureau")),
    ("water", _t("水务局", "水務局", "Water Authority")),
    ("environment", _t("生态环境局", "生態環境局", "Ecology and Environment Bureau")),
    ("transport", _t("交通运输局", "交通運輸局", "Transport Bureau")),
)


def _attr(code: str, datatype: str, desc: dict[str, str], order: int, required: bool = False,
          values: tuple[tuple[str, dict[str, str]], ...] = ()) -> dict[str, Any]:  # fmt: skip
    return {
        "code": code, "datatype": datatype, "required": required, "order": order,
        "descriptions": desc, "values": [{"key": k, "names": n} for k, n in values],
    }  # fmt: skip


TYPES: tuple[dict[str, Any], ...] = (
    {"code": "streetlight", "group": "city", "department": "city-management", "sla_hours": 16,
     "names": _t("路灯不亮", "路燈不亮", "Street light out"),
     "descriptions": _t("路灯损坏或夜间不亮", "路燈損壞或夜間不亮", "A street light is broken or off at night"),
     "keywords": "路灯,light,lamp",
     "attributes": [
         _attr("kind", "singlevaluelist", _t("什么问题", "甚麼問題", "What is wrong"), 1, True,
               (("off", _t("不亮", "不亮", "Off at night")), ("flicker", _t("闪烁", "閃爍", "Flickering")),
                ("day", _t("白天常亮", "白天常亮", "On during the day")))),
         _attr("pole", "string", _t("灯杆编号", "燈桿編號", "Number on the pole"), 2),
     ]},
    {"code": "road-damage", "group": "roads", "department": "transport", "sla_hours": 40,
     "names": _t("道路破损", "道路破損", "Damaged road"),
     "descriptions": _t("路面坑洼、井盖缺失", "路面坑窪、井蓋缺失", "Potholes, missing manhole covers"),
     "keywords": "坑,pothole,manhole",
     "attributes": [
         _attr("size", "singlevaluelist", _t("大小", "大小", "How big"), 1, True,
               (("small", _t("小于一米", "小於一米", "Under a metre")),
                ("large", _t("一米以上", "一米以上", "A metre or more")))),
         _attr("danger", "singlevaluelist", _t("是否危险", "是否危險", "Is it dangerous"), 2, False,
               (("yes", _t("是", "是", "Yes")), ("no", _t("否", "否", "No")))),
     ]},
    {"code": "water-leak", "group": "water", "department": "water", "sla_hours": 8,
     "names": _t("供水漏水", "供水漏水", "Water leak"),
     "descriptions": _t("水管破裂、路面冒水", "水管破裂、路面冒水", "A burst pipe, water on the street"),
     "keywords": "漏水,leak,pipe",
     "attributes": [
         _attr("where", "singlevaluelist", _t("位置", "位置", "Where"), 1, True,
               (("street", _t("道路", "道路", "On the street")),
                ("building", _t("小区内", "小區內", "In a residential compound")))),
     ]},
    {"code": "noise", "group": "environment", "department": "environment", "sla_hours": 24,
     "names": _t("噪音扰民", "噪音擾民", "Noise"),
     "descriptions": _t("施工、商业或交通噪音", "施工、商業或交通噪音", "Construction, business or traffic noise"),
     "keywords": "噪音,noise",
     "attributes": [
         _attr("source", "multivaluelist", _t("噪音来源", "噪音來源", "Where it comes from"), 1, True,
               (("construction", _t("施工", "施工", "Construction")),
                ("business", _t("商铺", "商鋪", "A business")),
                ("traffic", _t("交通", "交通", "Traffic")))),
         _attr("since", "datetime", _t("开始时间", "開始時間", "Since when"), 2),
         _attr("nights", "number", _t("持续几晚", "持續幾晚", "For how many nights"), 3),
     ]},
    {"code": "blocked-lane", "group": "city", "department": "city-management", "sla_hours": 8,
     "names": _t("消防通道堵塞", "消防通道堵塞", "Blocked fire lane"),
     "descriptions": _t("车辆或杂物占用消防通道", "車輛或雜物佔用消防通道", "Cars or goods block a fire lane"),
     "keywords": "消防,fire lane",
     "attributes": [_attr("details", "text", _t("具体情况", "具體情況", "What blocks it"), 1)]},
)  # fmt: skip

SAMPLES = (
    ("streetlight", "小区门口路灯连续三晚不亮", {"kind": "off"}, (0.004, 0.003)),
    ("water-leak", "路口水管破裂，路面积水", {"where": "street"}, (-0.01, 0.008)),
    ("noise", "夜间施工噪音", {"source": ["construction"], "nights": 3}, (0.02, -0.015)),
)


async def load(*, session: AsyncSession, vault: Vault, cities: list[City]) -> int:
    """Load the requests' demo data into each city; how many sample reports were made."""
    actor = audit.Actor.system()
    made = 0
    for city in cities:
        lat, lon = CENTRES.get(city.slug, (31.23, 121.47))
        rules = await catalogue.settings_of(session=session, city_id=city.id)
        rules.area = {"south": lat - 0.6, "west": lon - 0.7, "north": lat + 0.6, "east": lon + 0.7}
        rules.districts = [
            {
                "code": "central",
                "names": _t("中心城区", "中心城區", "Central district"),
                "area": {
                    "south": lat - 0.06, "west": lon - 0.07,
                    "north": lat + 0.06, "east": lon + 0.07,
                },
            }
        ]  # fmt: skip
        rules.holidays, rules.extra_workdays = list(HOLIDAYS), list(EXTRA_WORKDAYS)
        rules.publish_open = True
        staff: dict[str, int] = {}
        for username in (f"{city.slug}-admin", f"{city.slug}-provider"):
            member = await identity.get_staff_by_username(session=session, username=username)
            if member is not None:
                staff[username] = member.id
        departments: dict[str, int] = {}
        for code, names in DEPARTMENTS:
            department = Department(
                city_id=city.id, code=code, names=names,
                head_staff_id=staff.get(f"{city.slug}-admin"),
            )  # fmt: skip
            session.add(department)
            await session.flush()
            departments[code] = department.id
            for username in (f"{city.slug}-admin", f"{city.slug}-provider"):
                if username in staff:
                    session.add(
                        DepartmentMember(
                            city_id=city.id, department_id=department.id, staff_id=staff[username]
                        )
                    )
        for position, spec in enumerate(TYPES):
            session.add(
                RequestType(
                    city_id=city.id,
                    code=spec["code"],
                    group=spec["group"],
                    keywords=spec["keywords"],
                    names=spec["names"],
                    descriptions=spec["descriptions"],
                    department_id=departments[spec["department"]],
                    sla_hours=spec["sla_hours"],
                    attributes=spec["attributes"],
                    active=True,
                    position=position,
                )
            )
        await session.flush()
        for code, text, attributes, (dlat, dlon) in SAMPLES:
            await reports.report(
                session=session,
                vault=vault,
                data_dir=Path("."),  # no photos: nothing is written there
                city=city,
                reporter=reports.Reporter(actor=actor, channel_id=None),
                report_in=ReportCreate(
                    type=code, description=text, lat=lat + dlat, lon=lon + dlon,
                    attributes=attributes,
                ),
            )  # fmt: skip
            made += 1
    return made
