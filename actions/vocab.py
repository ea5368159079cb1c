"""Names users type for markets, kinds of IP and incidents, in Chinese and English, mapped to the
codes the knowledge files and the expert list use; with closest suggestions for unknown names."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from functools import lru_cache

# Each market's names: the country or region first (in Chinese, then English), then what also names
# it in a message — the adjective ("Japanese customs", "a German court") and the ports, trade-fair
# and court cities exporters meet ("货在鹿特丹被扣", "a Chicago lawsuit").
MARKETS: dict[str, tuple[str, ...]] = {
    "CN": ("中国", "china", "prc", "chinese"),
    "JP": ("日本", "japan", "jp", "japanese", "东京", "大阪", "tokyo", "osaka"),
    "KR": ("韩国", "南韩", "korea", "south korea", "kr", "korean", "首尔", "釜山", "seoul", "busan"),
    "US": (
        "美国",
        "usa",
        "us",
        "united states",
        "america",
        "american",
        "洛杉矶",
        "长滩",
        "纽约",
        "芝加哥",
        "伊利诺伊",
        "拉斯维加斯",
        "los angeles",
        "long beach",
        "new york",
        "chicago",
        "illinois",
        "las vegas",
    ),
    "EU": ("欧盟", "欧洲", "eu", "europe", "european union", "european"),
    "DE": (
        "德国",
        "germany",
        "de",
        "german",
        "汉堡",
        "法兰克福",
        "杜塞尔多夫",
        "慕尼黑",
        "科隆",
        "汉诺威",
        "柏林",
        "hamburg",
        "frankfurt",
        "dusseldorf",
        "munich",
        "cologne",
        "hannover",
        "hanover",
        "berlin",
    ),
    "FR": ("法国", "france", "french", "巴黎", "paris"),
    "IT": ("意大利", "italy", "italian", "米兰", "milan"),
    "ES": ("西班牙", "spain", "spanish"),
    "NL": ("荷兰", "netherlands", "holland", "dutch", "鹿特丹", "阿姆斯特丹", "rotterdam", "amsterdam"),
    "PL": ("波兰", "poland"),
    "BE": ("比利时", "belgium", "belgian", "安特卫普", "antwerp"),
    "GB": ("英国", "uk", "united kingdom", "britain", "england", "british"),
    "AU": ("澳大利亚", "澳洲", "australia", "australian"),
    "NZ": ("新西兰", "new zealand"),
    "SG": ("新加坡", "singapore", "singaporean"),
    "MY": ("马来西亚", "malaysia", "malaysian"),
    "TH": ("泰国", "thailand", "thai"),
    "VN": ("越南", "vietnam", "viet nam", "vietnamese"),
    "ID": ("印度尼西亚", "印尼", "indonesia", "indonesian"),
    "PH": ("菲律宾", "philippines", "filipino"),
    "KH": ("柬埔寨", "cambodia"),
    "LA": ("老挝", "laos"),
    "MM": ("缅甸", "myanmar"),
    "BN": ("文莱", "brunei"),
    "IN": ("印度", "india", "indian"),
    "BR": ("巴西", "brazil", "brazilian"),
    "MX": ("墨西哥", "mexico", "mexican"),
    "CA": ("加拿大", "canada", "canadian"),
    "RU": ("俄罗斯", "russia", "russian"),
    "TR": ("土耳其", "turkey", "türkiye", "turkish"),
    "AE": ("阿联酋", "迪拜", "uae", "united arab emirates", "dubai"),
    "SA": ("沙特", "沙特阿拉伯", "saudi arabia", "saudi"),
    "ZA": ("南非", "south africa"),
}
# EU member states: an entry for "EU" also covers each of them (an EU expert, an EU-wide alert or
# self-check factor, a knowledge section tagged EU: EU trademarks, EU customs).
EU_MEMBERS = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)


def covers_market(markets: Collection[str], market: str) -> bool:
    """Whether a list of markets covers one: it names the market, or names "EU" and the market is a member."""
    return market in markets or (market in EU_MEMBERS and "EU" in markets)


IP_TYPES: dict[str, tuple[str, ...]] = {
    "patent": ("专利", "发明", "发明专利", "patent", "invention"),
    "utility_model": ("实用新型", "utility model"),
    "design": ("外观", "外观设计", "设计", "design", "industrial design", "design patent"),
    "trademark": ("商标", "品牌", "牌子", "trademark", "brand", "logo", "tm"),
    "copyright": ("版权", "著作权", "copyright"),
    "gi": ("地理标志", "geographical indication", "gi"),
    "trade_secret": ("商业秘密", "技术秘密", "trade secret"),
}
INCIDENTS: dict[str, tuple[str, ...]] = {
    "warning_letter": ("警告函", "律师函", "warning letter", "cease and desist", "cease-and-desist", "demand letter"),
    "customs_detention": ("海关", "扣押", "扣留", "扣货", "customs", "detained", "detention", "seized at the border"),
    "trade_fair_action": ("展会", "展览会", "博览会", "trade fair", "exhibition", "trade show", "booth"),
    "trademark_squatting": ("抢注", "squat", "squatted", "squatting", "registered our brand"),
    "lawsuit": ("起诉", "诉讼", "官司", "法院", "lawsuit", "sued", "court", "complaint filed"),
    "platform_takedown": (
        "下架",
        "投诉",
        "链接被删",
        "亚马逊",
        "takedown",
        "taken down",
        "listing removed",
        "amazon",
        "ebay",
    ),
    "section_337": ("337", "itc", "section 337"),
}


def _lookup(table: dict[str, tuple[str, ...]], text: str) -> str | None:
    lowered = text.strip().lower()
    if not lowered:
        return None
    best: tuple[int, str] | None = None
    for code, names in table.items():
        if lowered == code.lower():
            return code
        for name in names:
            if re.fullmatch(r"[a-z ]+", name):
                found = re.search(rf"\b{re.escape(name)}\b", lowered) is not None
            else:
                found = name in lowered
            if found and (best is None or len(name) > best[0]):
                best = (len(name), code)
    return best[1] if best else None


# A suggested market's name is at least this close to what was typed, and at most this much less
# close than the closest market's name (difflib ratios, 0..1).
SUGGEST_CUTOFF = 0.5
SUGGEST_MARGIN = 0.15


def market_code(text: str) -> str | None:
    """The market a user names ("德国", "Germany", "DE") as a code, or None."""
    return _lookup(MARKETS, text)


def ip_type_code(text: str) -> str | None:
    """The kind of IP a user names, as the knowledge files' code."""
    return _lookup(IP_TYPES, text)


def incident_code(text: str) -> str | None:
    """The kind of incident a user describes."""
    return _lookup(INCIDENTS, text)


def market_suggestions(text: str, n: int = 3) -> list[str]:
    """Codes of the markets whose names are closest to an unknown name.

    A market is offered only if its best name is nearly as close as the closest one: "Koreaa" is
    Korea, not also Japan because "Osaka" shares three letters.
    """
    typed = text.strip().lower()
    best: dict[str, float] = {}
    for code, aliases in MARKETS.items():
        for name in aliases:
            ratio = difflib.SequenceMatcher(None, typed, name).ratio()
            best[code] = max(best.get(code, 0.0), ratio)
    ranked = sorted((code for code in best if best[code] >= SUGGEST_CUTOFF), key=lambda c: -best[c])
    return [code for code in ranked if best[code] >= best[ranked[0]] - SUGGEST_MARGIN][:n]


def market_name(code: str, lang: str) -> str:
    """A market's name in Chinese or English."""
    names = MARKETS.get(code)
    if not names:
        return code
    return names[0] if lang == "zh" else next(n for n in names[1:] if len(n) > 3 or n == names[-1]).title()


# Industries enterprises subscribe to alerts by, name in the self-check and in a case's description;
# the expert list's `industries` use the same codes.
INDUSTRIES: dict[str, tuple[str, ...]] = {
    "machinery": (
        "机械",
        "设备",
        "机床",
        "泵",
        "阀",
        "阀门",
        "machinery",
        "machine",
        "machines",
        "equipment",
        "pump",
        "pumps",
        "valve",
        "valves",
    ),
    "electronics": (
        "电子",
        "消费电子",
        "电器",
        "手机",
        "充电",
        "充电器",
        "芯片",
        "electronics",
        "electronic",
        "phone",
        "phones",
        "charger",
        "chargers",
        "chip",
        "chips",
    ),
    "home_appliances": ("家电", "小家电", "家用电器", "home appliances", "home appliance", "appliances"),
    "lighting": ("照明", "灯具", "led", "lighting", "lamps", "lights"),
    "textiles": (
        "纺织",
        "纺织品",
        "服装",
        "面料",
        "鞋",
        "鞋服",
        "textiles",
        "textile",
        "garments",
        "apparel",
        "clothing",
        "garment",
        "fabric",
        "fabrics",
        "shoe",
        "shoes",
    ),
    "furniture": ("家具", "家居", "furniture", "home furnishings"),
    "toys": ("玩具", "toys", "toy"),
    "chemicals": (
        "化工",
        "化学",
        "化学品",
        "涂料",
        "农药",
        "chemicals",
        "chemical",
        "coating",
        "coatings",
        "pesticide",
    ),
    "food": ("食品", "饮料", "茶", "茶叶", "农产品", "food", "beverage", "beverages", "tea", "snack", "snacks"),
    "auto_parts": (
        "汽车",
        "汽配",
        "汽车零部件",
        "汽车配件",
        "轮胎",
        "auto",
        "auto parts",
        "car parts",
        "automotive",
        "vehicle",
        "tyre",
        "tyres",
        "tire",
        "tires",
    ),
}
INDUSTRY_NAMES: dict[str, tuple[str, str]] = {
    "machinery": ("机械设备", "Machinery"),
    "electronics": ("电子产品", "Electronics"),
    "home_appliances": ("家电", "Home appliances"),
    "lighting": ("照明灯具", "Lighting"),
    "textiles": ("纺织服装", "Textiles and apparel"),
    "furniture": ("家具家居", "Furniture"),
    "toys": ("玩具", "Toys"),
    "chemicals": ("化工", "Chemicals"),
    "food": ("食品农产品", "Food"),
    "auto_parts": ("汽车零部件", "Auto parts"),
    "all": ("全部行业", "All industries"),
    "other": ("其他行业", "Other"),
}
ALL_INDUSTRIES = "all"
_ALL_WORDS = ("全部", "所有", "不限", "都要", "all", "any", "every", "everything")
_OTHER_WORDS = ("其他", "其它", "别的", "other", "others")


def known_industries(value: list[str], allow_all: bool = False) -> list[str]:
    """The codes, if each is an industry code (or "all", listed alone, where allowed); else ValueError
    naming the unknown ones (for the validators of the expert list and the alert files)."""
    allowed = set(INDUSTRIES) | ({ALL_INDUSTRIES} if allow_all else set())
    unknown = [c for c in value if c not in allowed]
    if unknown:
        raise ValueError(f"{unknown} are not industry codes; use {sorted(allowed)}")
    if ALL_INDUSTRIES in value and len(value) > 1:
        raise ValueError("'all' already covers every industry: list it alone")
    return value


def industry_code(text: str) -> str | None:
    """The industry a user names ("家电", "LED lamps", "machinery") as a code, or None."""
    return _lookup(INDUSTRIES, text)


def industry_choice(text: str) -> str | None:
    """An industry answer: a code, "all" (全部行业 / all industries) or "other"; None if not understood."""
    lowered = text.strip().lower()
    if lowered in INDUSTRY_NAMES:
        return lowered
    if code := industry_code(text):
        return code
    if any(re.search(rf"\b{w}\b", lowered) if w.isascii() else w in lowered for w in _ALL_WORDS):
        return ALL_INDUSTRIES
    if any(re.search(rf"\b{w}\b", lowered) if w.isascii() else w in lowered for w in _OTHER_WORDS):
        return "other"
    return None


def industry_name(code: str, lang: str) -> str:
    """An industry's name in Chinese or English."""
    zh, en = INDUSTRY_NAMES.get(code, (code, code))
    return zh if lang == "zh" else en


def market_codes(text: str) -> list[str]:
    """Every market a text names, in the order named ("日本和韩国" → JP, KR).

    Longer names win over names inside them (印度尼西亚 is Indonesia, not India); two-letter
    English names and codes count only in capitals ("US", not the "us" in "help us").
    """
    return list(dict.fromkeys(code for _, _, code in market_spans(text)))


@lru_cache(maxsize=1)
def _market_patterns() -> tuple[tuple[re.Pattern[str], bool, str], ...]:
    """One compiled pattern per market name, whether it searches the lowered text, and its market: built
    once (compiling them on every call was a sixth of the action server's time per question, measured
    with a sampling profiler under the anchor benchmark; there are more names than `re` caches)."""
    patterns = []
    for code, names in MARKETS.items():
        for name in sorted({*names, code.lower()}):
            if name.isascii():
                short = len(name) <= 2  # a code: capitals only, in the text as written
                patterns.append((re.compile(rf"\b{re.escape(name.upper() if short else name)}\b"), not short, code))
            else:
                patterns.append((re.compile(re.escape(name)), False, code))
    return tuple(patterns)


def market_spans(text: str) -> list[tuple[int, int, str]]:
    """Where a text names a market: (start, end, code) in order, no overlaps (as `market_codes`)."""
    found: list[tuple[int, int, str]] = []
    lowered = text.lower()
    for pattern, on_lowered, code in _market_patterns():
        found += [(m.start(), m.end(), code) for m in pattern.finditer(lowered if on_lowered else text)]
    found.sort(key=lambda hit: (hit[0], -(hit[1] - hit[0])))
    spans: list[tuple[int, int, str]] = []
    taken_until = -1
    for start, end, code in found:
        if start < taken_until:
            continue
        taken_until = end
        spans.append((start, end, code))
    return spans


def join_names(names: list[str], lang: str) -> str:
    """Names joined the way each language lists them: 日本、韩国 / Japan, Korea."""
    return ("、" if lang == "zh" else ", ").join(names)
