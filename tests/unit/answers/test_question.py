import pytest

from actions.answers.question import Topic, mentions, pph_direction, resolve, tells_own_situation


@pytest.mark.parametrize(
    ("question", "lang", "direction"),
    [
        ("韩国那边的专利已经授权了，我们在中国的申请能加快审查吗？", "zh", ("KR", "CN")),
        ("用中国的审查结果在日本请求PPH需要什么材料", "zh", ("CN", "JP")),
        ("在日本授权的专利能在中国加快吗", "zh", ("JP", "CN")),
        ("韩国申请已经授权，中国申请能加快吗", "zh", ("KR", "CN")),
        ("中国授权了，想加快日本的审查", "zh", ("CN", "JP")),
        ("Can I use my Chinese patent to speed up examination in Japan?", "en", ("CN", "JP")),
        ("Can we speed up in Japan using our Chinese patent?", "en", ("CN", "JP")),
        ("Our Korean application was allowed. Can we fast-track the Chinese one?", "en", ("KR", "CN")),
        ("JPO granted our patent, how do we use it at CNIPA?", "en", ("JP", "CN")),
        ("How do I use PPH in Japan?", "en", (None, "JP")),
        ("中韩PPH是哪年开始的？", "zh", None),
        ("What is the PPH?", "en", None),
    ],
)
def test_the_pph_direction_a_question_states(question, lang, direction):
    assert pph_direction(question, lang) == direction


def test_mentions_take_the_longest_name_and_us_only_in_capitals():
    assert [m.code for m in mentions("向日本特许厅提交")] == ["JP"]
    assert [m.code for m in mentions("help us file in the US")] == ["US"]


ZH_TOPIC = Topic(
    "中韩PPH是哪年开始的？", "pph-cn-kr", "start", {"zh": "中韩专利审查高速路（PPH）", "en": "China–Korea PPH"}
)
EN_TOPIC = Topic(
    "Can I use my Chinese patent to speed up examination in Korea?",
    "pph-cn-kr",
    "using",
    {"zh": "中韩专利审查高速路（PPH）", "en": "China–Korea Patent Prosecution Highway (PPH)"},
    ("CN", "KR"),
    ("CN", "KR"),
)


@pytest.mark.parametrize(
    ("message", "topic", "lang", "query", "direction"),
    [
        ("那日本呢？", ZH_TOPIC, "zh", "中日pph是哪年开始的?", None),
        ("要多少钱？", ZH_TOPIC, "zh", "要多少钱？ 中韩专利审查高速路（PPH）", None),
        (
            "what about Japan?",
            EN_TOPIC,
            "en",
            "can i use my chinese patent to speed up examination in Japan?",
            ("CN", "JP"),
        ),
        (
            "how much does it cost?",
            EN_TOPIC,
            "en",
            "how much does it cost? China–Korea Patent Prosecution Highway (PPH)",
            ("CN", "KR"),
        ),
        (
            "and the other way round?",
            EN_TOPIC,
            "en",
            "and the other way round? Can I use my Chinese patent to speed up examination in Korea?",
            ("KR", "CN"),
        ),
    ],
)
def test_a_follow_up_is_completed_from_the_topic(message, topic, lang, query, direction):
    resolved = resolve(message, topic, lang)
    assert resolved.followup
    assert resolved.query == query
    assert resolved.direction == direction


def test_a_follow_up_keeps_the_markets_of_its_topic():
    topic = Topic(
        "Our goods were stopped by US customs, what now?",
        "dispute-customs-detention",
        "us-customs-and-border-protection",
        {
            "zh": "货物被海外海关扣留怎么办（欧盟、日本、韩国、美国）",
            "en": "Goods detained by customs abroad (EU, Japan, Korea, US)",
        },
        ("US",),
    )
    resolved = resolve("how long do we have to respond?", topic, "en")
    assert resolved.followup
    assert resolved.query == "how long do we have to respond? Goods detained by customs abroad United States"
    assert resolve("要多久？", topic, "zh").query == "要多久？ 货物被海外海关扣留怎么办 美国"


@pytest.mark.parametrize(
    ("message", "lang"),
    [
        ("RCEP对恶意商标怎么规定？", "zh"),
        ("What does RCEP say about trademarks?", "en"),
        ("We received a warning letter from a German competitor about our pumps, what should we do first?", "en"),
    ],
)
def test_a_new_topic_replaces_the_old_one(message, lang):
    resolved = resolve(message, ZH_TOPIC if lang == "zh" else EN_TOPIC, lang)
    assert not resolved.followup and resolved.query == message


GI_TOPIC = Topic(
    "does rcep protect geographical indications?",
    "rcep-gi",
    "how",
    {"zh": "RCEP第十一章——地理标志", "en": "RCEP Chapter 11 – Geographical indications"},
)


@pytest.mark.parametrize(
    ("message", "lang", "query"),
    [
        ("what about trade secrets?", "en", "what about trade secrets? RCEP"),
        ("那实用新型呢？", "zh", "那实用新型呢？ RCEP"),
    ],
)
def test_a_follow_up_naming_another_subject_stays_in_the_framework_of_the_topic(message, lang, query):
    resolved = resolve(message, GI_TOPIC, lang)
    assert resolved.followup and resolved.query == query  # RCEP's trade secrets, not its GIs nor any
    # a new subject without a follow-up cue, or one naming its framework, is a question of its own
    alone = resolve("trade secrets in Korea", GI_TOPIC, "en")
    assert (alone.query, alone.followup) == ("trade secrets in Korea", False)
    assert not resolve("那PPH的实用新型呢？", GI_TOPIC, "zh").followup


def test_without_a_topic_a_message_is_its_own_question():
    assert resolve("要多少钱？", None, "zh").query == "要多少钱？"


def test_topic_survives_the_slot_round_trip_and_rejects_junk():
    assert Topic.from_slot(EN_TOPIC.as_slot()) == EN_TOPIC
    assert Topic.from_slot({"question": 3}) is None
    assert Topic.from_slot("x") is None


def test_a_follow_up_that_states_its_own_direction_keeps_it():
    resolved = resolve("那反过来呢？韩国的结果拿到中国用", ZH_TOPIC, "zh")
    assert resolved.followup and resolved.direction == ("KR", "CN")
    assert resolved.query == "那反过来呢？韩国的结果拿到中国用 中韩PPH是哪年开始的？"


@pytest.mark.parametrize(
    "text, own",
    [
        ("我们的货在汉堡被扣了", True),
        ("客户说收到了律师函", True),
        ("we got a cease and desist letter", True),
        ("How much does it cost to hire a lawyer to defend a Schedule A case?", False),
        ("337调查请美国律师大概要花多少钱", False),
        ("What is the difference between OEE and OLE?", False),
    ],
)
def test_a_message_about_the_users_own_situation_is_told_from_a_general_question(text, own):
    assert tells_own_situation(text) is own


def test_a_follow_up_on_a_framework_topic_without_a_market_is_completed_with_the_frameworks_name():
    # The overview's whole title pulled the search to the sections about Chapter 11.
    topic = Topic(
        "RCEP有哪些国家",
        "rcep-overview",
        "the-15-rcep-parties",
        {"zh": "RCEP及其第十一章（知识产权）概览", "en": "RCEP and its Chapter 11 (IP): an overview"},
    )
    assert resolve("那什么时候生效的？", topic, "zh").query == "那什么时候生效的？ RCEP"
    assert (
        resolve("要多少钱？", ZH_TOPIC, "zh").query == "要多少钱？ 中韩专利审查高速路（PPH）"
    )  # its title names Korea
