"""The demo world as data: twelve cities, their catalogues, channels, grants and staff.

Everything here is fixed, so the demo and the tests are repeatable and the logins can be
printed without a database. Service connectors point at the provider simulators
(`cityhub simulate`), which `cityhub demo` starts beside the hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cityhub.cities.models import STANDARD_CATEGORIES, ServiceKind
from cityhub.identity.models import Role
from cityhub.identity.security import SCOPES


@dataclass(frozen=True)
class DemoCity:
    slug: str
    zh_hans: str
    zh_hant: str
    en: str
    region: str  # the first six digits of local identity numbers
    water: str
    power: str
    gas: str
    hospitals: tuple[tuple[str, str, str, str], ...]  # (code, zh-Hans, zh-Hant, en)
    plate_lottery: bool = False
    timezone: str = "Asia/Shanghai"


CITIES: tuple[DemoCity, ...] = (
    DemoCity("shanghai", "上海", "上海", "Shanghai", "310101", "上海城投水务", "国网上海市电力公司", "上海燃气",
             (("ruijin", "瑞金医院", "瑞金醫院", "Ruijin Hospital"),
              ("zhongshan", "中山医院", "中山醫院", "Zhongshan Hospital")), plate_lottery=True),
    DemoCity("taiyuan", "太原", "太原", "Taiyuan", "140105", "太原供水集团", "国网太原供电公司", "太原天然气",
             (("shanxi-first", "山西医科大学第一医院", "山西醫科大學第一醫院", "First Hospital of Shanxi Medical University"),),
             plate_lottery=True),
    DemoCity("shenzhen", "深圳", "深圳", "Shenzhen", "440304", "深圳水务集团", "深圳供电局", "深圳燃气",
             (("szph", "深圳市人民医院", "深圳市人民醫院", "Shenzhen People's Hospital"),
              ("pkuszh", "北京大学深圳医院", "北京大學深圳醫院", "Peking University Shenzhen Hospital")),
             plate_lottery=True),
    DemoCity("qingdao", "青岛", "青島", "Qingdao", "370202", "青岛水务集团", "国网青岛供电公司", "青岛能源燃气",
             (("qdu-affiliated", "青岛大学附属医院", "青島大學附屬醫院", "Affiliated Hospital of Qingdao University"),)),
    DemoCity("hangzhou", "杭州", "杭州", "Hangzhou", "330106", "杭州水务集团", "国网杭州供电公司", "杭州天然气",
             (("zju-first", "浙大一院", "浙大一院", "First Affiliated Hospital, Zhejiang University"),),
             plate_lottery=True),
    DemoCity("chengdu", "成都", "成都", "Chengdu", "510107", "成都自来水", "国网成都供电公司", "成都燃气",
             (("west-china", "华西医院", "華西醫院", "West China Hospital"),)),
    DemoCity("wuhan", "武汉", "武漢", "Wuhan", "420106", "武汉水务集团", "国网武汉供电公司", "武汉天然气",
             (("tongji", "同济医院", "同濟醫院", "Tongji Hospital"),)),
    DemoCity("xian", "西安", "西安", "Xi'an", "610113", "西安水务集团", "国网西安供电公司", "西安秦华燃气",
             (("xjtu-first", "西安交大一附院", "西安交大一附院", "First Affiliated Hospital, Xi'an Jiaotong University"),)),
    DemoCity("nanjing", "南京", "南京", "Nanjing", "320102", "南京水务集团", "国网南京供电公司", "南京港华燃气",
             (("gulou", "鼓楼医院", "鼓樓醫院", "Drum Tower Hospital"),)),
    DemoCity("guangzhou", "广州", "廣州", "Guangzhou", "440106", "广州自来水", "广州供电局", "广州燃气",
             (("sysu-first", "中山大学附属第一医院", "中山大學附屬第一醫院", "First Affiliated Hospital, Sun Yat-sen University"),),
             plate_lottery=True),
    DemoCity("suzhou", "苏州", "蘇州", "Suzhou", "320508", "苏州水务集团", "国网苏州供电公司", "苏州港华燃气",
             (("suda-first", "苏大附一院", "蘇大附一院", "First Affiliated Hospital of Soochow University"),)),
    DemoCity("xiamen", "厦门", "廈門", "Xiamen", "350203", "厦门水务集团", "国网厦门供电公司", "厦门华润燃气",
             (("zhongshan-xm", "厦门大学附属中山医院", "廈門大學附屬中山醫院", "Zhongshan Hospital, Xiamen University"),)),
)  # fmt: skip

# The characters of the demo's provider names that traditional script writes otherwise.
_HANT = str.maketrans("务国网电气团来华润岛汉广苏门厦东", "務國網電氣團來華潤島漢廣蘇門廈東")
Texts = tuple[str, str, str]  # zh-Hans, zh-Hant, en


def hant(text: str) -> str:
    """A demo name in traditional characters."""
    return text.translate(_HANT)


def utilities(city: DemoCity) -> dict[str, Texts]:
    """The city's water, power and gas companies in three languages."""
    return {
        "water": (city.water, hant(city.water), f"{city.en} Water"),
        "power": (city.power, hant(city.power), f"{city.en} Power Supply"),
        "gas": (city.gas, hant(city.gas), f"{city.en} Gas"),
    }


def agency(city: DemoCity, zh_hans: str, en: str) -> Texts:
    """A city agency's name in three languages (`交警`, `Traffic Police`)."""
    return (city.zh_hans + zh_hans, city.zh_hant + hant(zh_hans), f"{city.en} {en}")


# The standard categories the migrations write: the demo uses those.
CATEGORIES = STANDARD_CATEGORIES
# Each simulated hospital's registration fee (挂号费) per department, in fen: paying for an
# appointment is part of the demo (the sync gives each session its department's fee).
DEMO_FEES = {
    "internal": 500,
    "surgery": 500,
    "pediatrics": 1000,
    "obstetrics": 1000,
    "ophthalmology": 1500,
    "dental": 2000,
}


@dataclass(frozen=True)
class DemoService:
    code: str
    category: str
    kind: ServiceKind
    zh_hans: str
    zh_hant: str
    en: str
    provider: Texts
    connector: str
    config: dict[str, Any] = field(default_factory=dict)


def services_of(city: DemoCity) -> list[DemoService]:
    """The catalogue of a demo city, connected to the simulators."""
    s = city.slug
    bill, query = ServiceKind.BILL, ServiceKind.QUERY
    utility = utilities(city)
    catalogue = [
        DemoService("water-bill", "payments", bill, "水费", "水費", "Water bill", utility["water"],
                    "simulator:water", {"provider_id": f"{s}-water"}),
        DemoService("power-bill", "payments", bill, "电费", "電費", "Electricity bill", utility["power"],
                    "simulator:power", {"provider_id": f"{s}-power"}),
        DemoService("gas-bill", "payments", bill, "燃气费", "燃氣費", "Gas bill", utility["gas"],
                    "simulator:gas", {"provider_id": f"{s}-gas"}),
        DemoService("traffic-violations", "traffic", query, "交通违法查询", "交通違法查詢",
                    "Traffic violations", agency(city, "交警支队", "Traffic Police"), "simulator:traffic",
                    {"provider_id": f"{s}-traffic", "query": "traffic_violations"}),
        DemoService("social-insurance", "social_security", query, "社保查询", "社保查詢",
                    "Social insurance", agency(city, "社会保险局", "Social Insurance Bureau"),
                    "simulator:social-insurance",
                    {"provider_id": f"{s}-si", "query": "social_insurance"}),
        DemoService("housing-fund", "housing", query, "公积金查询", "公積金查詢",
                    "Housing fund balance", agency(city, "住房公积金管理中心", "Housing Provident Fund Centre"),
                    "simulator:housing-fund", {"provider_id": f"{s}-hf", "query": "housing_fund"}),
        DemoService("air-quality", "public_info", query, "空气质量", "空氣質量", "Air quality",
                    agency(city, "生态环境局", "Ecology and Environment Bureau"), "simulator:environment",
                    {"provider_id": f"{s}-env", "query": "air_quality"}),
        DemoService("planned-outages", "public_info", query, "停水停电通知", "停水停電通知",
                    "Planned outages", utility["power"], "simulator:outages",
                    {"provider_id": f"{s}-outages", "query": "planned_outages"}),
        DemoService("hotline-12345", "government_affairs", ServiceKind.REQUEST, "12345热线",
                    "12345熱線", "12345 hotline", agency(city, "市民服务热线", "Citizen Hotline"), "hub:requests"),
        DemoService("city-notices", "government_affairs", ServiceKind.NOTICE, "政务通知",
                    "政務通知", "City notices", agency(city, "人民政府", "Municipal Government"), "hub:notices"),
        DemoService("population-registry", "government_affairs", ServiceKind.IDENTITY,
                    "人口信息核验", "人口資訊核驗", "Population registry",
                    agency(city, "公安局", "Public Security Bureau"), "simulator:population-registry",
                    {"provider_id": f"{s}-registry"}),
    ]  # fmt: skip
    for code, zh_hans, zh_hant, en in city.hospitals:
        catalogue.append(
            DemoService(f"hospital-{code}", "medical", ServiceKind.APPOINTMENT,
                        f"{zh_hans}挂号", f"{zh_hant}掛號", f"{en} registration", (zh_hans, zh_hant, en),
                        "simulator:hospital",
                        {"provider_id": f"{s}-{code}", "registration_fees_fen": DEMO_FEES})
        )  # fmt: skip
    if city.plate_lottery:
        catalogue.append(
            DemoService("car-plate-lottery", "lotteries", ServiceKind.LOTTERY, "小客车指标摇号",
                        "小客車指標搖號", "Car plate lottery", agency(city, "车辆管理所", "Vehicle Administration"),
                        "simulator:vehicle-admin", {"provider_id": f"{s}-vehicle"})
        )  # fmt: skip
    return catalogue


@dataclass(frozen=True)
class DemoChannel:
    slug: str
    names: tuple[str, str, str]  # zh-Hans, zh-Hant, en
    kind: str = "partner"

    @property
    def name(self) -> str:
        """The plain name (the English one): what a reader sees if no language fits."""
        return self.names[2]

    @property
    def client_id(self) -> str:
        return f"ch_{self.slug}"

    @property
    def secret(self) -> str:
        return f"demo-{self.slug}-secret"


CHANNELS = (
    DemoChannel(
        "paylink", ("付联（支付超级应用）", "付聯（支付超級應用）", "PayLink (payment super-app)")
    ),
    DemoChannel(
        "chatwave",
        ("聊波（即时通讯超级应用）", "聊波（即時通訊超級應用）", "ChatWave (messaging super-app)"),
    ),
    DemoChannel("weibeam", ("微光（微博客）", "微光（微博客）", "Weibeam (micro-blog)")),
    DemoChannel("portal", ("CityHub 门户", "CityHub 門戶", "CityHub portal"), kind="portal"),
)
CHANNEL_SCOPES = tuple(SCOPES)
EVERY_CHANNEL_CITIES = ("shanghai", "shenzhen")


def granted(channel: DemoChannel, city_index: int, city: DemoCity, service: DemoService) -> bool:
    """Whether the demo grants this service to this channel (not exclusive, deterministic)."""
    if channel.slug == "portal" or city.slug in EVERY_CHANNEL_CITIES:
        return True
    if channel.slug == "paylink":  # a payment app: bills everywhere, and what it pays for
        return service.kind in (ServiceKind.BILL, ServiceKind.APPOINTMENT)
    if channel.slug == "chatwave":  # a messaging app: every other city, everything
        return city_index % 2 == 0
    # the micro-blog app: public information and notices in the first half of the list
    return city_index < 6 and service.category in ("public_info", "government_affairs")


@dataclass(frozen=True)
class DemoStaff:
    city: str | None
    username: str
    password: str
    role: Role
    provider: str | None = None  # provider_staff: the provider they work for


def staff() -> list[DemoStaff]:
    """The operator, and an admin, a provider clerk (at the city's first hospital, else its
    water company) and an auditor per city."""
    people = [DemoStaff(None, "operator", "demo-operator", Role.OPERATOR)]
    for city in CITIES:
        clerk_at = city.hospitals[0][1] if city.hospitals else city.water
        for suffix, role in (
            ("admin", Role.CITY_ADMIN),
            ("provider", Role.PROVIDER_STAFF),
            ("auditor", Role.AUDITOR),
        ):
            people.append(
                DemoStaff(
                    city.slug,
                    f"{city.slug}-{suffix}",
                    f"demo-{city.slug}-{suffix}",
                    role,
                    clerk_at if role == Role.PROVIDER_STAFF else None,
                )  # fmt: skip
            )
    return people


def channel_cities(channel: DemoChannel) -> list[str]:
    """The cities where the channel has at least one grant."""
    return [
        city.slug
        for index, city in enumerate(CITIES)
        if any(granted(channel, index, city, s) for s in services_of(city))
    ]
