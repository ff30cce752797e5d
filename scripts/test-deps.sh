#!/usr/bin/env bash
# Debian packages the test suite talks to, installed when missing (needs root, as on CI):
#   postfix   smtp-sink / smtp-source for the delivery benchmark's smoke run (daemon not started)
#   chromium  the browser the Playwright page tests drive (never `playwright install`)
#   xmlsec1   XML signature checks for SAML sign-in (pysaml2) and its test IdP
#   opendkim-tools  opendkim-testmsg, the independent DKIM verifier of tests/deliverability
set -euo pipefail
missing=()
{ command -v smtp-sink >/dev/null || [ -x /usr/sbin/smtp-sink ]; } || missing+=(postfix)
command -v chromium >/dev/null || missing+=(chromium)
command -v xmlsec1 >/dev/null || missing+=(xmlsec1)
{ command -v opendkim-testmsg >/dev/null || [ -x /usr/sbin/opendkim-testmsg ]; } || missing+=(opendkim-tools)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages for the tests: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
