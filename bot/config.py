"""Settings from the environment.

Secrets and deployment choices come only from the environment (never from files in the
repository), so that the same checkout runs the demo, the tests and a district's installation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r}: expected true or false")


@dataclass(frozen=True)
class Settings:
    """Where Lotse finds its data and how it stores conversations."""

    content_dir: Path = field(default_factory=lambda: _path("LOTSE_CONTENT_DIR", PROJECT_ROOT / "content"))
    locales_dir: Path = field(default_factory=lambda: _path("LOTSE_LOCALES_DIR", PROJECT_ROOT / "locales"))
    nlu_dir: Path = field(default_factory=lambda: _path("LOTSE_NLU_DIR", PROJECT_ROOT / "nlu"))
    nlu_config: Path = field(default_factory=lambda: _path("LOTSE_NLU_CONFIG", PROJECT_ROOT / "config.yml"))
    model_path: Path = field(
        default_factory=lambda: _path("LOTSE_MODEL", PROJECT_ROOT / "models" / "nlu.tar.gz")
    )
    var_dir: Path = field(default_factory=lambda: _path("LOTSE_VAR_DIR", PROJECT_ROOT / "var"))
    database_url: str = field(default_factory=lambda: os.environ.get("DATABASE_URL", ""))
    telegram_token: str = field(default_factory=lambda: os.environ.get("TELEGRAM_TOKEN", ""))
    telegram_webhook_url: str = field(default_factory=lambda: os.environ.get("TELEGRAM_WEBHOOK_URL", ""))
    telegram_webhook_secret: str = field(
        default_factory=lambda: os.environ.get("TELEGRAM_WEBHOOK_SECRET", "")
    )
    telegram_api_base_url: str = field(
        default_factory=lambda: os.environ.get("TELEGRAM_API_BASE_URL", "https://api.telegram.org")
    )
    # Telegram's limits; lowered or raised only to measure (the benchmark sets the per-chat one to 0).
    telegram_rate: float = field(default_factory=lambda: _float("TELEGRAM_RATE", 30.0))
    telegram_chat_interval: float = field(default_factory=lambda: _float("TELEGRAM_CHAT_INTERVAL", 1.0))
    # WhatsApp Cloud API: on when token, phone number id, app secret (to check Meta's signatures) and
    # verify token (for Meta's subscription handshake) are set; some but not all of them is an error.
    whatsapp_token: str = field(default_factory=lambda: os.environ.get("WHATSAPP_TOKEN", ""))
    whatsapp_phone_number_id: str = field(
        default_factory=lambda: os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "")
    )
    whatsapp_app_secret: str = field(default_factory=lambda: os.environ.get("WHATSAPP_APP_SECRET", ""))
    whatsapp_verify_token: str = field(default_factory=lambda: os.environ.get("WHATSAPP_VERIFY_TOKEN", ""))
    whatsapp_api_base_url: str = field(
        default_factory=lambda: os.environ.get("WHATSAPP_API_BASE_URL") or "https://graph.facebook.com"
    )
    whatsapp_api_version: str = field(
        default_factory=lambda: os.environ.get("WHATSAPP_API_VERSION") or "v23.0"
    )
    whatsapp_rate: float = field(default_factory=lambda: _float("WHATSAPP_RATE", 80.0))
    # Live changes: how often `lotse serve` looks for edits to content/ and locales/ (0 = never), and
    # whether it retrains the NLU model in the background when nlu/, config.yml or the towns change.
    # `lotse content check` warns about items whose last_checked date is older than this.
    content_max_age_days: int = field(default_factory=lambda: int(_float("LOTSE_CONTENT_MAX_AGE_DAYS", 180)))
    reload_interval: float = field(default_factory=lambda: _float("LOTSE_RELOAD_INTERVAL", 1.0))
    retrain: bool = field(default_factory=lambda: _bool("LOTSE_RETRAIN", True))
    lease_seconds: float = field(default_factory=lambda: _float("LOTSE_LEASE_SECONDS", 30.0))
    worker_concurrency: int = field(default_factory=lambda: int(_float("LOTSE_CONCURRENCY", 8)))
    # `lotse serve` processes sharing one listening address (PostgreSQL only: SQLite has one writer).
    workers: int = field(default_factory=lambda: int(_float("LOTSE_WORKERS", 1)))
    typing_after: float = field(default_factory=lambda: _float("LOTSE_TYPING_AFTER", 0.3))
    # Retention (docs/privacy.md): a conversation without activity for RETENTION_DAYS is deleted; a
    # closed handover's record (no texts) after HANDOVER_RETENTION_DAYS; processed inbox and delivered
    # outbox rows after LOTSE_PIPELINE_RETENTION_HOURS. `lotse serve` runs the job every
    # LOTSE_RETENTION_INTERVAL seconds (0: only `lotse retention` does).
    retention_days: float = field(default_factory=lambda: _float("RETENTION_DAYS", 90))
    handover_retention_days: float = field(default_factory=lambda: _float("HANDOVER_RETENTION_DAYS", 365))
    pipeline_retention_hours: float = field(
        default_factory=lambda: _float("LOTSE_PIPELINE_RETENTION_HOURS", 168)
    )
    retention_interval: float = field(default_factory=lambda: _float("LOTSE_RETENTION_INTERVAL", 3600))
    # Messages a user may send per minute and get each answered (see bot.engine.flood); 0 = no limit.
    flood_limit: int = field(default_factory=lambda: int(_float("LOTSE_FLOOD_LIMIT", 20)))
    # Machine translation for the caseworker console: none, libre, google, deepl or microsoft (checked by
    # bot.translation, which names the allowed values). LibreTranslate is the default because a district
    # can run it itself, so refugees' messages never leave its servers.
    translation_provider: str = field(default_factory=lambda: os.environ.get("LOTSE_TRANSLATION") or "libre")
    translation_timeout: float = field(default_factory=lambda: _float("LOTSE_TRANSLATION_TIMEOUT", 8.0))
    # After a provider failed, calls fail at once for this long instead of each waiting out the timeout.
    translation_cooldown: float = field(default_factory=lambda: _float("LOTSE_TRANSLATION_COOLDOWN", 30.0))
    libretranslate_url: str = field(
        default_factory=lambda: os.environ.get("LIBRETRANSLATE_URL") or "http://127.0.0.1:5000"
    )
    libretranslate_api_key: str = field(default_factory=lambda: os.environ.get("LIBRETRANSLATE_API_KEY", ""))
    deepl_api_key: str = field(default_factory=lambda: os.environ.get("DEEPL_API_KEY", ""))
    deepl_free_api: bool = field(default_factory=lambda: _bool("DEEPL_FREE_API", True))
    microsoft_translator_key: str = field(
        default_factory=lambda: os.environ.get("MICROSOFT_TRANSLATOR_KEY", "")
    )
    microsoft_translator_region: str = field(
        default_factory=lambda: os.environ.get("MICROSOFT_TRANSLATOR_REGION", "")
    )
    # Logs name people only by a keyed pseudonym (bot.pseudonyms); without LOTSE_LOG_KEY the key is
    # created once in var/log.key. LOTSE_LOG_LEVEL: debug, info, warning, error (see bot.logs).
    log_key: str = field(default_factory=lambda: os.environ.get("LOTSE_LOG_KEY", ""))
    log_level: str = field(default_factory=lambda: os.environ.get("LOTSE_LOG_LEVEL", ""))
    # The installation's secret (the console's login-form key is derived from it); the same in every
    # worker. Without LOTSE_SECRET_KEY it is created once in var/secret.key (mode 0600, bot.keys).
    secret_key: str = field(default_factory=lambda: os.environ.get("LOTSE_SECRET_KEY", ""))
    debug: bool = field(default_factory=lambda: bool(os.environ.get("LOTSE_DEBUG")))

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under `var/`."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{self.var_dir / 'lotse.db'}"


def normalise_database_url(url: str) -> str:
    """Accept the plain URLs operators write and pick the async driver Lotse needs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
