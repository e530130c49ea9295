# Sourced by .ci/run: the browser end-to-end test drives Debian's Chromium through
# playwright-core (no browser download). Installed with apt when missing.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ci: installing Debian chromium for the browser test..."
    t0=$(date +%s)
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || {
      echo "ci: FAILED to install chromium" >&2
      exit 1
    }
    echo "ci: chromium installed in $(( $(date +%s) - t0 ))s"
  else
    echo "ci: chromium is missing and cannot be installed here (need root and apt-get)" >&2
    exit 1
  fi
fi
export S3DB_CHROMIUM="$(command -v chromium)"
echo "ci: using $("$S3DB_CHROMIUM" --version 2>/dev/null | tail -1)"
