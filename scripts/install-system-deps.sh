#!/usr/bin/env bash
# Debian packages the tests and demos use: real recordings (alsa-utils, sound-theme-freedesktop),
# speech synthesis (espeak-ng, flite; festival and its English voices for the keyword recipe's
# unseen-engine evaluation), format conversion (sox, ffmpeg). Skips what is present.
set -euo pipefail
need=()
[ -d /usr/share/sounds/alsa ] || need+=(alsa-utils)
[ -d /usr/share/sounds/freedesktop/stereo ] || need+=(sound-theme-freedesktop)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v flite >/dev/null || need+=(flite)
command -v text2wave >/dev/null || need+=(festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)
command -v sox >/dev/null || need+=(sox libsox-fmt-all)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" libsox-fmt-all >/dev/null
