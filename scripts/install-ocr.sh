#!/usr/bin/env bash
# Installs Debian's Tesseract OCR with Norwegian (Bokmål) for the letter reader
# (letters/read.py): photos and scanned PDFs are read offline, on this machine.
# tesseract-ocr brings the orientation/script model (osd) the reader uses to
# turn pages the right way up.
set -euo pipefail
if command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx nor; then exit 0; fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "Installing Debian's tesseract-ocr with Norwegian for the letter reader..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq tesseract-ocr tesseract-ocr-nor tesseract-ocr-osd >/dev/null
