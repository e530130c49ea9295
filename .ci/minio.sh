# Sourced by .ci/run: makes a real MinIO server binary available as S3DB_MINIO_BIN.
# Built once with `go install` at the pinned commit in .ci/minio.version, then cached.
# Skipped when S3DB_TEST_S3_ENDPOINT points at an S3 server already.
if [ -z "${S3DB_TEST_S3_ENDPOINT:-}" ]; then
  minio_version="$(tr -d '[:space:]' < "$(dirname "${BASH_SOURCE[0]}")/minio.version")"
  minio_dir="$S3DB_CACHE/minio-${minio_version##*-}"
  t0=$(date +%s)
  if [ -x "$minio_dir/minio" ]; then
    echo "ci: minio $minio_version cached at $minio_dir"
  elif command -v go >/dev/null 2>&1; then
    echo "ci: building minio $minio_version with go install (cold cache)..."
    mkdir -p "$minio_dir"
    GOBIN="$minio_dir" GOFLAGS=-mod=mod go install "github.com/minio/minio@$minio_version" || {
      echo "ci: FAILED to build minio; the S3 tests cannot run" >&2
      exit 1
    }
  else
    echo "ci: no Go toolchain and no S3DB_TEST_S3_ENDPOINT: cannot provision S3 for the tests" >&2
    exit 1
  fi
  export S3DB_MINIO_BIN="$minio_dir/minio"
  echo "ci: minio provisioned in $(( $(date +%s) - t0 ))s"
fi
