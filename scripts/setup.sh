#!/usr/bin/env bash
# Set up the project on Debian/Ubuntu: system packages, .venv/, Python dependencies.
# Idempotent: a second run checks and returns in seconds. Called by `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "error: Python >= 3.10 is needed (3.11 recommended); found $("$python" --version)" >&2; exit 2; }

# --- system packages --------------------------------------------------------------------------
# venv support; the libraries OpenCV's wheel loads; ffprobe (musdb/museval need it beside
# ffmpeg); FluidSynth and a small General MIDI SoundFont for synthesizing training data;
# Chromium and its WebDriver, with which the tests open the HTML reports.
missing=()
"$python" -c 'import ensurepip, venv' 2>/dev/null || missing+=("python3-venv")
ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || missing+=("libgl1")
ldconfig -p 2>/dev/null | grep -q 'libglib-2.0.so.0' || missing+=("libglib2.0-0")
command -v ffprobe >/dev/null || missing+=("ffmpeg")
command -v fluidsynth >/dev/null || missing+=("fluidsynth")
[ -f /usr/share/sounds/sf2/TimGM6mb.sf2 ] || missing+=("timgm6mb-soundfont")
command -v chromium >/dev/null || missing+=("chromium")              # opens report.html in the tests
command -v chromedriver >/dev/null || missing+=("chromium-driver")
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing system packages: ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "error: missing system packages; run: sudo apt-get install ${missing[*]}" >&2
        exit 2
    fi
fi

# --- the virtual environment ----------------------------------------------------------------
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.avsep-setup
wanted=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    echo "setup: .venv is up to date"
    exit 0
fi
echo "setup: installing Python dependencies into .venv (first time: a few minutes, ~8 GB)"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[tf,jax,dev]'
echo "$wanted" >"$stamp"
echo "setup: done"
