"""The one settings object. Nothing else in the project reads the environment."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.rates import parse_rate

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Values a developer may keep in development; anywhere else they must be replaced.
_DEV_SECRET_KEY = "dev-only-secret-key-change-me-not-for-production"
_DEV_SERVICE_TOKEN = "dev-only-service-token"


def _check_rate(text: str) -> str:
    parse_rate(text)  # raises ValueError with what to write instead
    return text


RateLimit = Annotated[str, AfterValidator(_check_rate)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIEPDAN_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"

    var_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""
    broker_url: str = ""
    # The Celery queue this instance's jobs go through: two instances sharing one broker (or two
    # test runs sharing one Redis) must not take each other's jobs.
    task_queue: str = "celery"
    # With Redis as the broker: a job whose worker died (never acknowledged) goes to another
    # worker after this many seconds. Longer than any job runs, or a slow job runs twice.
    broker_visibility_timeout: int = Field(default=300, ge=5)
    rasa_url: str = "http://127.0.0.1:5005"
    # Rasa's HTTP API token (`rasa run --auth-token`); required outside development.
    rasa_token: str = ""
    # Where Rasa asks its action server, and where the action server finds this platform.
    actions_url: str = "http://127.0.0.1:5055/webhook"
    platform_url: str = ""
    # Where Rasa keeps conversations (a PostgreSQL URL, postgresql://user:password@host:port/db)
    # and takes its per-conversation lock (redis://[:password@]host:port/db). Empty: in Rasa's
    # memory, which a restart loses. Rasa creates the database if it is missing.
    rasa_tracker_store_url: str = ""
    rasa_lock_store_url: str = ""
    # Rasa 3.6's Python 3.10 virtualenv; empty means <cache_dir>/venv-rasa.
    rasa_venv: Path | None = None

    secret_key: str = _DEV_SECRET_KEY
    service_token: str = _DEV_SERVICE_TOKEN
    access_token_minutes: int = 12 * 60

    province_file: Path | None = None
    holidays_dir: Path | None = None
    office_open: str = "07:30"
    office_close: str = "17:00"
    timezone: str = "Asia/Ho_Chi_Minh"

    # Downloads never happen at run time; what is built (the NLU model, Rasa's) is cached here,
    # keyed by the hash of its inputs, so a second clone on the same machine reuses it.
    cache_dir: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tiepdan"
        )
    )
    # Which classifier routes uncategorised tickets: "nlu" (nlu/), or "none" (all to triage).
    classifier: str = "nlu"
    # The NLU's sentence encoder: "static" (trained here from nlu/data), "minilm" (the English
    # MiniLM packaged on PyPI), or the folder of any sentence-transformers model on disk.
    nlu_encoder: str = "static"
    # The trained NLU model; empty means <cache_dir>/nlu/<hash of data and settings>.
    nlu_model_dir: Path | None = None
    # The question-and-answer pairs staff maintain; empty means nlu/faq.yaml.
    faq_file: Path | None = None
    # Examples added by `tiepdan nlu import` and by staff re-categorising tickets.
    nlu_extra_dir: Path | None = None
    # A routed ticket below this category confidence goes to the dispatchers' triage queue.
    # Unset: the lowest confidence at which the model, on writers it was not trained on, routes
    # right at least `triage_precision` of the time (nlu/README.md).
    triage_threshold: float | None = Field(default=None, ge=0, le=1)
    triage_precision: float = Field(default=0.97, gt=0, le=1)
    max_body_bytes: int = 1_000_000
    # A photo attached in the chat. The widget shrinks photos before sending; this is the cap.
    max_photo_bytes: int = 5_000_000
    # The province portals that embed the chat widget from another origin, comma-separated
    # (https://dichvucong.example.vn,https://portal.example.vn): the web chat's API answers
    # their browsers (CORS); any other origin gets no Access-Control-Allow-Origin.
    webchat_origins: str = ""
    # Hosts whose https photo links a ticket may carry (comma-separated); empty: only photos
    # stored by the chat itself.
    photo_hosts: str = ""
    port: int = Field(default=8000, validation_alias="PORT")
    # Chat transcripts (what people and the bot wrote, and the chat's photos no ticket holds)
    # are purged this many months after they were written; the messages' direction, state and
    # time stay for the statistics. 0 keeps them forever (bot/retention.py).
    transcript_retention_months: int = Field(default=24, ge=0)

    # --- Limits and quotas (core/ratelimit.py) -------------------------------------------------
    # Each is "<amount>/<period>" (second, minute, hour, day; bytes may be KB, MB or GB), or
    # "off". Over one, the API answers 429 with a Retry-After and the chat a polite sentence.
    # Per IP address: one address may be a whole office, or a mobile carrier's many users.
    limit_sessions_per_ip: RateLimit = "30/minute"  # web-chat sessions opened
    limit_messages_per_ip: RateLimit = "300/minute"  # web-chat messages
    # One chat: a web-chat session, or a Telegram or Zalo user. A person types slower.
    limit_messages_per_session: RateLimit = "30/minute"
    # Tickets the chat opens (staff at the desk are not limited): per chat, and per person
    # (the same phone number, whichever chat or channel).
    limit_tickets_per_session: RateLimit = "5/hour"
    limit_tickets_per_contact: RateLimit = "10/hour"
    # Photos stored from the chats (each is at most max_photo_bytes).
    limit_photo_bytes_per_session: RateLimit = "50MB/day"
    limit_photo_bytes_per_ip: RateLimit = "200MB/day"
    # Sign-ins (the panel and the API's token), on top of the lock after login_max_failures.
    limit_logins_per_ip: RateLimit = "30/minute"
    limit_logins_per_account: RateLimit = "10/minute"
    # The public lookup of a ticket by its code.
    limit_public_lookups_per_ip: RateLimit = "30/minute"

    # --- Channels. A channel whose settings are unset is off, and its webhook answers 404. ---
    # Telegram: the bot's token, the secret Telegram echoes in X-Telegram-Bot-Api-Secret-Token,
    # and the Bot API root (methods at {root}/bot{token}/{method}, files at
    # {root}/file/bot{token}/{file_path}, as a local Bot API server serves them too).
    telegram_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    # Zalo Official Account: the app, the OA secret key that signs webhooks (not the app's
    # secret), the OpenAPI and OAuth roots, and the ZNS template for people who have not
    # written in 7 days (optional). The content of Zalo's domain-verification meta tag is
    # served on GET / when set.
    zalo_app_id: str = ""
    zalo_app_secret: str = ""
    zalo_oa_secret: str = ""
    zalo_api_url: str = "https://openapi.zalo.me"
    zalo_oauth_url: str = "https://oauth.zaloapp.com"
    zalo_zns_url: str = "https://business.openapi.zalo.me"
    zalo_zns_template_id: str = ""
    zalo_site_verification: str = ""
    # Shared counters (the channels' send rates): Redis when set, or when the broker is Redis;
    # otherwise each process counts for itself (the embedded mode has one worker).
    redis_url: str = ""

    # --- The admin panel (admin/) and the files staff attach ---------------------------------
    # How long a panel sign-in lasts without use, and at most.
    admin_session_idle_minutes: int = 8 * 60
    admin_session_max_hours: int = 24
    # After this many wrong passwords in a row, an account is locked for this long (the API's
    # token endpoint and the panel share the count).
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    # Admins must sign in to the panel with a TOTP code; other roles may turn it on.
    admin_totp_required: bool = True
    # Evidence documents (PDF) staff attach when resolving; photos keep max_photo_bytes.
    max_document_bytes: int = 10_000_000
    # The dashboards' figures are computed at most this often per process (they scan a period
    # of tickets); the page shows when they were computed.
    dashboard_cache_seconds: int = Field(default=300, ge=0)
    # Admins' changes to the holiday calendar reach other processes within this many seconds.
    calendar_refresh_seconds: int = Field(default=60, ge=0)

    # --- The IOC feed (integrations/ioc/, feedback/kpis.py) ----------------------------------
    # The KPI aggregates take in the tickets changed since their last refresh this often (beat);
    # every figure the IOC and the dashboards read says how fresh it is.
    kpi_refresh_seconds: int = Field(default=60, ge=5)
    # The signed push: a KPI snapshot POSTed every `ioc_push_interval` seconds to this URL,
    # signed with HMAC-SHA256 keyed with the secret. Empty URL: no push.
    ioc_push_url: str = ""
    ioc_push_interval: int = Field(default=300, ge=10)
    ioc_push_secret: str = ""
    # A snapshot the IOC refuses with a 4xx (other than 408 and 429) is given up after this many
    # attempts, so that one bad snapshot does not hold back the ones after it forever.
    ioc_push_max_refusals: int = Field(default=5, ge=1)
    # GET /metrics answers only with `Authorization: Bearer <token>` when this is set.
    metrics_token: str = ""
    # Where the API and worker processes write their Prometheus counters (multiprocess mode);
    # empty means <var_dir>/metrics.
    metrics_dir: Path | None = None
    # How an open web chat learns of a message written elsewhere (a staff reply, a status
    # change): `notify` wakes it through PostgreSQL LISTEN/NOTIFY (bot/message_push.py), `poll`
    # makes every open chat ask the database each second. SQLite always polls.
    webchat_push: Literal["notify", "poll"] = "notify"

    @model_validator(mode="after")
    def _fill_defaults_and_refuse_dev_secrets(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'tiepdan.sqlite3'}"
        if not self.broker_url:
            # kombu's SQLAlchemy transport: a real broker with no server, for the embedded mode.
            self.broker_url = f"sqla+sqlite:///{self.var_dir / 'broker.sqlite3'}"
        if self.nlu_extra_dir is None:
            self.nlu_extra_dir = self.var_dir / "nlu-extra"
        if self.metrics_dir is None:
            self.metrics_dir = self.var_dir / "metrics"
        if self.ioc_push_url and not self.ioc_push_secret:
            raise ValueError(
                "Set TIEPDAN_IOC_PUSH_SECRET with TIEPDAN_IOC_PUSH_URL: the IOC checks each "
                "snapshot's signature against it"
            )
        if self.rasa_venv is None:
            self.rasa_venv = self.cache_dir / "venv-rasa"
        if not self.platform_url:
            self.platform_url = f"http://127.0.0.1:{self.port}"
        if not self.redis_url and self.broker_url.startswith("redis"):
            self.redis_url = self.broker_url
        if bool(self.telegram_token) != bool(self.telegram_webhook_secret):
            raise ValueError(
                "Set TIEPDAN_TELEGRAM_TOKEN and TIEPDAN_TELEGRAM_WEBHOOK_SECRET together: the "
                "webhook refuses every update without its secret"
            )
        zalo = (self.zalo_app_id, self.zalo_app_secret, self.zalo_oa_secret)
        if any(zalo) and not all(zalo):
            raise ValueError(
                "Set TIEPDAN_ZALO_APP_ID, TIEPDAN_ZALO_APP_SECRET and TIEPDAN_ZALO_OA_SECRET "
                "together: Zalo's webhook is verified with the app id and the OA secret key, and "
                "its tokens are renewed with the app secret"
            )
        if bool(self.rasa_tracker_store_url) != bool(self.rasa_lock_store_url):
            raise ValueError(
                "Set TIEPDAN_RASA_TRACKER_STORE_URL and TIEPDAN_RASA_LOCK_STORE_URL together: "
                "conversations kept in PostgreSQL need Redis's lock when several Rasa servers run"
            )
        if self.environment == "production":
            if self.secret_key == _DEV_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "TIEPDAN_SECRET_KEY must be set to 32+ random characters in production"
                )
            if self.service_token == _DEV_SERVICE_TOKEN or len(self.service_token) < 24:
                raise ValueError(
                    "TIEPDAN_SERVICE_TOKEN must be set to 24+ characters in production"
                )
            if self.ioc_push_url and len(self.ioc_push_secret) < 32:
                raise ValueError(
                    "TIEPDAN_IOC_PUSH_SECRET must be 32+ random characters in production"
                )
            if len(self.rasa_token) < 24:
                raise ValueError(
                    "TIEPDAN_RASA_TOKEN must be set to 24+ characters in production: it guards "
                    "Rasa's HTTP API"
                )
        return self

    @property
    def webchat_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.webchat_origins.split(",") if o.strip()]

    @property
    def photo_host_list(self) -> list[str]:
        return [h.strip().lower() for h in self.photo_hosts.split(",") if h.strip()]

    @property
    def is_embedded_broker(self) -> bool:
        return self.broker_url.startswith("sqla+")

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token and self.telegram_webhook_secret)

    @property
    def zalo_enabled(self) -> bool:
        return bool(self.zalo_app_id and self.zalo_app_secret and self.zalo_oa_secret)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
