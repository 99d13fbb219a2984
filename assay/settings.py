"""Assay settings: every value comes from the environment, with safe development defaults."""

import os
import secrets
import sys
import warnings
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.getenv(name, default)
    if value not in ("", "0", "1", "True", "False", "true", "false"):
        raise RuntimeError(f"Unexpected value {name}={value!r}, use 1/0 or True/False")
    return value in ("1", "True", "true")


def envint(name: str, default: int) -> int:
    value = os.getenv(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(f"Unexpected value {name}={value!r}, expected an integer") from None


DATA_DIR = Path(os.getenv("ASSAY_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
TESTING = "pytest" in sys.modules or os.getenv("ASSAY_TESTING") == "1"


def _development_secret(name: str, nbytes: int) -> str:
    """Return a secret generated into the data folder on first use (development only)."""
    path = DATA_DIR / name
    if not path.exists():
        path.write_text(secrets.token_hex(nbytes))
        path.chmod(0o600)
        if not TESTING:
            warnings.warn(f"Generated a development {name} in {path}; set it in production", stacklevel=1)
    return path.read_text().strip()


DEBUG = envbool("ASSAY_DEBUG", "0")
SECRET_KEY = os.getenv("ASSAY_SECRET_KEY") or _development_secret("secret_key", 32)
# 32 bytes, hex: the AES-256-GCM key of the artifact store.
ASSAY_ENCRYPTION_KEY = os.getenv("ASSAY_ENCRYPTION_KEY") or _development_secret("encryption_key", 32)
# 32 bytes, hex or base64: the HMAC key of the audit log's chain, its checkpoints and the content hashes of
# reports and assessments (never stored in the database). Checkpoints of each chain's head are appended here.
ASSAY_AUDIT_LOG_KEY = os.getenv("ASSAY_AUDIT_LOG_KEY") or _development_secret("audit_log_key", 32)
ASSAY_AUDIT_CHECKPOINT_DIR = Path(os.getenv("ASSAY_AUDIT_CHECKPOINT_DIR", DATA_DIR / "checkpoints"))
ASSAY_MAX_UPLOAD_MB = envint("ASSAY_MAX_UPLOAD_MB", 200)
ASSAY_GPU_QUEUE = envbool("ASSAY_GPU_QUEUE", "0")
# Bounded uploads: a file is measured (by its real parser, before it is decoded) against these.
# Datasets: rows, columns, rows × columns, and a Parquet file's data once decompressed and decoded.
ASSAY_MAX_DATASET_ROWS = envint("ASSAY_MAX_DATASET_ROWS", 1_000_000)
ASSAY_MAX_DATASET_COLUMNS = envint("ASSAY_MAX_DATASET_COLUMNS", 10_000)
ASSAY_MAX_DATASET_CELLS = envint("ASSAY_MAX_DATASET_CELLS", 20_000_000)
ASSAY_MAX_DATASET_MB = envint("ASSAY_MAX_DATASET_MB", 1024)
# Images (stamp, verify, batches): pixels and side checked from the header before decoding; an image
# above ASSAY_IMAGE_JOB_PIXELS is stamped or verified by a worker (202 and the job's URL).
ASSAY_IMAGE_MAX_PIXELS = envint("ASSAY_IMAGE_MAX_PIXELS", 40_000_000)
ASSAY_IMAGE_MAX_SIDE = envint("ASSAY_IMAGE_MAX_SIDE", 12_000)
ASSAY_IMAGE_JOB_PIXELS = envint("ASSAY_IMAGE_JOB_PIXELS", 4_194_304)  # 2048 × 2048
# Watermark batch zips (core/safezip.py): image files, inflated bytes per file and in all, and the
# largest compression ratio of a file over 1 MiB.
ASSAY_BATCH_MAX_FILES = envint("ASSAY_BATCH_MAX_FILES", 1000)
ASSAY_BATCH_MAX_FILE_MB = envint("ASSAY_BATCH_MAX_FILE_MB", 100)
ASSAY_BATCH_MAX_TOTAL_MB = envint("ASSAY_BATCH_MAX_TOTAL_MB", 512)
ASSAY_ZIP_MAX_RATIO = envint("ASSAY_ZIP_MAX_RATIO", 100)
# The model sandbox (core/sandbox.py): "auto" uses bubblewrap where it runs and warns otherwise,
# "required" (production) refuses to start without it, "fallback" forces the rlimits-only child.
ASSAY_SANDBOX = os.getenv("ASSAY_SANDBOX", "auto")
if ASSAY_SANDBOX not in ("auto", "required", "fallback"):
    raise RuntimeError(f"Unexpected value ASSAY_SANDBOX={ASSAY_SANDBOX!r}, use auto, required or fallback")
ASSAY_SANDBOX_MEMORY_MB = envint("ASSAY_SANDBOX_MEMORY_MB", 6144)
ASSAY_SANDBOX_CHECK_SECONDS = envint("ASSAY_SANDBOX_CHECK_SECONDS", 60)
ASSAY_SANDBOX_JOB_SECONDS = envint("ASSAY_SANDBOX_JOB_SECONDS", 4 * 3600)
ASSAY_SANDBOX_FILE_MB = envint("ASSAY_SANDBOX_FILE_MB", 2048)
ASSAY_SANDBOX_TMPFS_MB = envint("ASSAY_SANDBOX_TMPFS_MB", 512)
ASSAY_SANDBOX_PROCESSES = envint("ASSAY_SANDBOX_PROCESSES", 512)
# Start each audit's / DP training's sandboxed child ahead of time, libraries imported, one job per
# child (saves ~1-1.5 s of imports per audit; costs one idle child's memory per worker process).
# "auto" (the default): on in Celery worker processes, off in web processes and commands; 1/0 force it.
ASSAY_SANDBOX_WARM = os.getenv("ASSAY_SANDBOX_WARM", "auto")
if ASSAY_SANDBOX_WARM not in ("auto", "0", "1", "true", "false", "True", "False"):
    raise RuntimeError(f"Unexpected value ASSAY_SANDBOX_WARM={ASSAY_SANDBOX_WARM!r}, use auto, 1 or 0")
ASSAY_SANDBOX_WARM = ASSAY_SANDBOX_WARM if ASSAY_SANDBOX_WARM == "auto" else ASSAY_SANDBOX_WARM in ("1", "true", "True")
# Watermarking: the XMP namespace of the AIGC label (not settled by GB 45438; see WATERMARK.md) and
# the PEM file of CAs whose C2PA signatures count as trusted (empty: every signature is "untrusted").
ASSAY_AIGC_XMP_NAMESPACE = os.getenv("ASSAY_AIGC_XMP_NAMESPACE", "http://www.tc260.org.cn/ns/AIGC/1.0/")
ASSAY_C2PA_TRUST_ANCHORS = os.getenv("ASSAY_C2PA_TRUST_ANCHORS", "")
ASSAY_ARTIFACT_DIR = Path(os.getenv("ASSAY_ARTIFACT_DIR", DATA_DIR / "artifacts"))
ALLOWED_HOSTS = [h for h in os.getenv("ASSAY_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.getenv("ASSAY_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

DATA_UPLOAD_MAX_MEMORY_SIZE = ASSAY_MAX_UPLOAD_MB * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "axes",
    "core",
    "accounts",
    "audit",
    "reports",
    "compliance",
    "watermark",
    "privacy",
    "moderation",
    "genai",
    "demo",  # `manage.py demo`: loads every app's demo data, so no domain app imports another's demo
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "assay.middleware.UploadLimitMiddleware",
    "assay.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.CurrentOrganizationMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login (any login view) into a 429
]

ROOT_URLCONF = "assay.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.organizations",
            ],
        },
    },
]
WSGI_APPLICATION = "assay.wsgi.application"
ASGI_APPLICATION = "assay.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL", f"sqlite:///{DATA_DIR / 'assay.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server and worker share the file: wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE",
                                       "init_command": "PRAGMA journal_mode=WAL;"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so that worker processes started by the tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login limits (django-axes, accounts/ratelimit.py): failed logins are counted in the database, so
# every web worker shares them, per (case-folded username, address) pair, plus a looser count per
# address; the dashboard login, /admin/login/ and POST /api/v1/auth/token all go through it.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "accounts.ratelimit.LoginAttempts"
AXES_FAILURE_LIMIT = envint("ASSAY_LOGIN_LIMIT", 10)  # failed tries per username and address
ASSAY_LOGIN_ADDRESS_LIMIT = envint("ASSAY_LOGIN_ADDRESS_LIMIT", 50)  # failed tries per address, any username
ASSAY_LOGIN_WINDOW_S = envint("ASSAY_LOGIN_WINDOW_S", 300)
AXES_COOLOFF_TIME = "accounts.ratelimit.cool_off"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.ratelimit.normalised_username"
AXES_CLIENT_IP_CALLABLE = "accounts.ratelimit.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.ratelimit.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "assay" / "static"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    # JSON without NaN/Infinity and with a bounded depth (a 400, never a 500); forms as usual.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.StrictJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    # List filters are django-filter FilterSets (core/filters.py): a bad id or value is a 400 naming the parameter.
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Assay API",
    "DESCRIPTION": "AI governance: registry, audits, DP training, watermarking, compliance. The references ship "
                   "in the repository's docs/ folder: METRICS.md (metrics, formulas, thresholds, audit config "
                   "keys), WATERMARK.md, COMPLIANCE.md, GENAI.md, MODERATION.md. A create names its `organization` "
                   "(id or slug) unless you belong to exactly one or it hangs off a system.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "MemberRoleEnum": "accounts.choices.Role",
        "ProviderRoleEnum": "audit.choices.ProviderRole",
    },
}

# Celery: an embedded filesystem broker by default, so one machine needs no server.
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", "filesystem://")
_broker_dir = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport with message names that sort in sending order (core/broker.py)
    CELERY_BROKER_TRANSPORT = "core.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = os.getenv("CELERY_RESULT_BACKEND", "disabled")  # job rows hold the state
CELERY_TASK_ALWAYS_EAGER = envbool("ASSAY_CELERY_EAGER", "0")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = ("core.jobs.route_task",)
CELERY_TASK_TRACK_STARTED = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
ASSAY_JOB_STALE_SECONDS = envint("ASSAY_JOB_STALE_SECONDS", 300)
CELERY_BEAT_SCHEDULE = {
    "reap-stale-jobs": {"task": "assay.jobs.reap", "schedule": 60.0, "options": {"queue": "default"}},
    "checkpoint-audit-log": {"task": "assay.audit.checkpoint_log",
                             "schedule": 60.0 * envint("ASSAY_AUDIT_CHECKPOINT_MINUTES", 60),
                             "options": {"queue": "default"}},
}

# E-mail: the console backend unless an SMTP host is configured (or ASSAY_EMAIL_BACKEND names one).
EMAIL_HOST = os.getenv("ASSAY_EMAIL_HOST", "")
EMAIL_PORT = envint("ASSAY_EMAIL_PORT", 587)
EMAIL_HOST_USER = os.getenv("ASSAY_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.getenv("ASSAY_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = envbool("ASSAY_EMAIL_USE_TLS", "1")
EMAIL_TIMEOUT = envint("ASSAY_EMAIL_TIMEOUT", 20)
# The console backend prints messages without their attachments (a report's PDF would be pages of base64).
EMAIL_BACKEND = os.getenv("ASSAY_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
                          else "core.mail.ConsoleEmailBackend")
# Where people reach this Assay: links in e-mails and webhooks are absolute (an e-mail has no host to be relative to).
ASSAY_BASE_URL = os.getenv("ASSAY_BASE_URL", f"http://localhost:{os.getenv('PORT', '8000')}").rstrip("/")
DEFAULT_FROM_EMAIL = os.getenv("ASSAY_FROM_EMAIL", "assay@localhost")

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# One cache for every process: Redis in production, a folder under the data folder by default.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["ASSAY_CACHE_URL"]}
    if os.getenv("ASSAY_CACHE_URL") else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                          "LOCATION": str(DATA_DIR / "cache")}
}
# Outbound calls (webhooks, generative endpoints; core/outbound.py) go to public addresses only,
# unless this lets them reach loopback, private and link-local ones (a demo, a closed network).
ASSAY_OUTBOUND_ALLOW_PRIVATE = envbool("ASSAY_OUTBOUND_ALLOW_PRIVATE", "0")

# Moderation (moderation/): decisions are spooled per process and written in chained batches of
# ASSAY_MODERATION_BATCH_SIZE or every ASSAY_MODERATION_BATCH_SECONDS; kept ASSAY_MODERATION_RETENTION_DAYS.
ASSAY_MODERATION_RETENTION_DAYS = envint("ASSAY_MODERATION_RETENTION_DAYS", 180)
ASSAY_MODERATION_BATCH_SIZE = envint("ASSAY_MODERATION_BATCH_SIZE", 500)
ASSAY_MODERATION_BATCH_SECONDS = envint("ASSAY_MODERATION_BATCH_SECONDS", 5)
ASSAY_MODERATION_CACHE_SECONDS = envint("ASSAY_MODERATION_CACHE_SECONDS", 5)  # compiled policies re-checked after
ASSAY_MODERATION_RATE_LIMIT = envint("ASSAY_MODERATION_RATE_LIMIT", 60000)  # calls a minute per organisation; 0: none
ASSAY_MODERATION_MAX_INPUTS = envint("ASSAY_MODERATION_MAX_INPUTS", 128)
ASSAY_MODERATION_MAX_CHARS = envint("ASSAY_MODERATION_MAX_CHARS", 200_000)
CELERY_BEAT_SCHEDULE["moderation-flush"] = {"task": "assay.moderation.flush", "schedule": 60.0,
                                            "options": {"queue": "default"}}

if not DEBUG and envbool("ASSAY_PRODUCTION", "0"):
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = envbool("ASSAY_SSL_REDIRECT", "1")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"svg_anchors": {"()": "assay.logfilters.DropRepeatedSvgAnchors"}},
    # The real stderr: in a Celery worker sys.stderr is Celery's logging proxy, and a handler writing to
    # it would drop every record (the proxy refuses to log recursively), console e-mails included.
    "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.__stderr__"}},
    "root": {"handlers": ["console"], "level": os.getenv("ASSAY_LOG_LEVEL", "WARNING")},
    # WeasyPrint and fontTools (its font subsetter) warn about every CSS property they ignore and every glyph
    # they subset, hundreds of lines a report; their errors still show.
    "loggers": {"weasyprint": {"filters": ["svg_anchors"], "level": os.getenv("ASSAY_PDF_LOG_LEVEL", "ERROR")},
                "fontTools": {"level": os.getenv("ASSAY_PDF_LOG_LEVEL", "ERROR")}},
}
WHITENOISE_USE_FINDERS = True  # serve static files without collectstatic in development and tests
