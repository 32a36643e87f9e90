# Shared by scripts/test and scripts/demo: installs what the project needs on a fresh machine
# and starts/stops the local AWS emulator. Source it; do not run it.
#
# Everything lands inside the checkout (.venv/, .tmp/, target/); nothing is installed globally.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
TMP="$ROOT/.tmp"
# Pinned: the emulator's behaviour (and its quirks named in tests) is version-specific. The
# direct pins are here; scripts/pins/*.txt pin every transitive package too (pip -c), so a new
# release of a dependency cannot change a fresh machine's run.
PY_PACKAGES=("ministack==1.5.33" "aws-sam-translator==1.115.0" "cbor2==6.2.1" "pytest==8.3.4" "cfn-lint==1.58.0")
PINS="$ROOT/scripts/pins"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# What the scripts call besides the toolchains they install themselves.
need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found: install it (it ships with util-linux / curl on Debian and Ubuntu)"
  done
}

# The Rust toolchain comes with the machine (rustup); the rest is installed here.
setup_rust() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), rustc >= 1.94.1"
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
  # One build for the tests, the demo and the emulator's `sam build`: cargo-lambda builds the
  # x86_64 bootstraps with `--target x86_64-unknown-linux-gnu` and `-C target-cpu=haswell`, so
  # every other cargo command here builds for the same target with the same flags, into the same
  # folder, and `sam build` (debug mode, see deploy_local_stack) finds everything compiled.
  # (Elsewhere the same commands build for the host as usual.)
  if [[ "$(uname -sm)" == "Linux x86_64" ]]; then
    export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-cpu=haswell"
    BIN_DIR="$ROOT/target/x86_64-unknown-linux-gnu/debug"
  else
    BIN_DIR="$ROOT/target/debug"
  fi
  export SPILLWAY_WEIGHT_STEP_BIN="$BIN_DIR/spillway-weight-step"
  export SPILLWAY_CLI_BIN="$BIN_DIR/spillway"
  export SPILLWAY_PLANNED_EVENT_BIN="$BIN_DIR/spillway-planned-event"
}

# A project-local virtualenv with the pinned emulator; re-created when the pins change.
setup_python() {
  local stamp="$VENV/.spillway-packages"
  local want="${PY_PACKAGES[*]} $(cksum <"$PINS/emulator.txt")"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  command -v python3 >/dev/null || die "python3 not found (needed for the local AWS emulator)"
  python3 -c 'import venv, ensurepip' 2>/dev/null \
    || die "python3 cannot create virtualenvs: install python3-venv (Debian/Ubuntu)"
  log "installing the local AWS emulator into .venv (${PY_PACKAGES[*]})"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$PINS/emulator.txt" "${PY_PACKAGES[@]}"
  printf '%s' "$want" >"$stamp"
}

# asl-validator (npm), pinned, in a project-local folder; exports ASL_VALIDATOR.
setup_node() {
  local tools="$ROOT/.tools/node"
  local bin="$tools/node_modules/.bin/asl-validator"
  # The lock file pins every package of the tree (npm ci installs exactly it).
  if [[ ! -x "$bin" ]] || ! cmp -s "$PINS/package-lock.json" "$tools/package-lock.json"; then
    command -v npm >/dev/null || die "npm not found (needed for asl-validator): install Node.js"
    log "installing asl-validator 4.0.0 into .tools/node"
    mkdir -p "$tools"
    cp "$PINS/package.json" "$PINS/package-lock.json" "$tools/"
    npm ci --prefix "$tools" --silent --no-audit --no-fund >/dev/null
  fi
  export ASL_VALIDATOR="$bin"
}

# AWS SAM CLI and cargo-lambda (it brings zig), in their own virtualenv: the SAM CLI pins a
# newer botocore than the emulator does. Puts them first on PATH (SAM finds cargo-lambda, and
# cargo-lambda finds zig, there).
SAM_PACKAGES=("aws-sam-cli==1.170.0" "cargo-lambda==1.9.2")
SAM_VENV="$ROOT/.venv-sam"
setup_sam() {
  local stamp="$SAM_VENV/.spillway-packages"
  local want="${SAM_PACKAGES[*]} $(cksum <"$PINS/sam.txt")"
  if [[ ! -x "$SAM_VENV/bin/sam" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    log "installing the AWS SAM CLI and cargo-lambda into .venv-sam (${SAM_PACKAGES[*]})"
    python3 -m venv "$SAM_VENV"
    "$SAM_VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    "$SAM_VENV/bin/pip" install --quiet --disable-pip-version-check -c "$PINS/sam.txt" "${SAM_PACKAGES[@]}"
    printf '%s' "$want" >"$stamp"
  fi
  export PATH="$SAM_VENV/bin:$PATH"
  export SAM_CLI_TELEMETRY=0
  # The template's Fn::ForEach (AWS::LanguageExtensions): SAM CLI expands it only when asked
  # (samconfig.toml asks for `sam build` and `sam deploy` run by hand).
  export SAM_CLI_ENABLE_LANGUAGE_EXTENSIONS=1
}

# The stack as the demo and the end-to-end tests run it: `sam build` (for this machine's
# architecture: the emulator runs the bootstraps here; on AWS the default is arm64), the
# prerequisites in the emulator, then `sam deploy` (package, change set, execute).
# Parameters only the emulator needs: existing custom endpoint host names instead of creating
# them (CreateEndpoints=false: it has no RDS custom endpoints), replica auto scaling off (it has no Application Auto Scaling), LocalEndpointUrl.
# Shorter waits for the tests' clock: the alarm cycle, the cooldown, the direct trigger's
# window, no scale-down delay after a raise (the end-to-end suite tests the delay), the planned
# events' polls and drain.
LOCAL_STACK=spillway-local
# The local stack watches three clusters (the Region case): orders (the recorded spike's), and
# tickets and search shaped as orders (scripts/local_stack.py prepare), each on the custom
# endpoint hosts the emulator cannot create (its ClusterSettings, from prepare).
LOCAL_CLUSTERS=orders,tickets,search
deploy_local_stack() {
  build_local_stack
  install_local_stack
}

build_local_stack() {
  log "sam build (x86_64 for the local emulator, debug mode: the bootstraps the tests built)"
  # For AWS, `sam build` makes release bootstraps (thin LTO, 4 codegen units, arm64 by default).
  # For the emulator the same code is built in debug mode (SAM_BUILD_MODE=debug: cargo lambda
  # without --release), which with setup_rust's target and flags reuses the workspace build the
  # tests already made instead of compiling every crate again in release (about 10 minutes of
  # the cold test command on 2 cores). The stack tests check behaviour, not speed.
  # CARGO_LAMBDA_COMPILER=cargo: plain cargo instead of cargo-zigbuild (this is Linux x86_64 building
  # for itself), whose linker wrapper and host/target split would otherwise change every crate's
  # fingerprint and rebuild the tree.
  SAM_BUILD_MODE=debug CARGO_LAMBDA_COMPILER=cargo \
    sam build --parameter-overrides Architecture=x86_64 Clusters="$LOCAL_CLUSTERS"
}

# The prerequisites and `sam deploy` of what build_local_stack built, into the emulator that
# AWS_ENDPOINT_URL names (several emulators can each get one from the same build).
install_local_stack() {
  log "creating the prerequisites in the emulator (Aurora clusters $LOCAL_CLUSTERS, RDSOSMetrics, VPC, bucket)"
  local prep vpc bucket settings
  # shellcheck disable=SC2086 # the list, one argument per cluster
  prep="$("$VENV/bin/python" "$ROOT/scripts/local_stack.py" prepare ${LOCAL_CLUSTERS//,/ })"
  vpc="$(printf '%s' "$prep" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["vpc"])')"
  bucket="$(printf '%s' "$prep" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["bucket"])')"
  settings="$(printf '%s' "$prep" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["settings"])')"
  log "sam deploy --stack-name $LOCAL_STACK (package, change set, execute)"
  sam deploy --stack-name "$LOCAL_STACK" --s3-bucket "$bucket" --region "$AWS_REGION" \
    --no-confirm-changeset --no-fail-on-empty-changeset --capabilities CAPABILITY_IAM \
    --parameter-overrides Clusters="$LOCAL_CLUSTERS" VpcId="$vpc" CreateEndpoints=false \
      "ClusterSettings='$settings'" \
      EnableReplicaAutoScaling=false Architecture=x86_64 \
      AlarmCycleSeconds=10 CooldownSeconds=10 DirectTriggerWindowSeconds=60 \
      ScaleDownDelayAfterScaleUpSeconds=0 \
      PlannedEventPollSeconds=1 DrainSeconds=5 \
      LocalEndpointUrl="$AWS_ENDPOINT_URL" \
    >"$TMP/sam-deploy-${AWS_ENDPOINT_URL##*:}.log" 2>&1 \
    || { tail -40 "$TMP/sam-deploy-${AWS_ENDPOINT_URL##*:}.log" >&2; die "sam deploy failed"; }
  "$VENV/bin/python" "$ROOT/scripts/local_stack.py" settle-alarms "$LOCAL_STACK"
  export SPILLWAY_STACK="$LOCAL_STACK"
}

# A free TCP port on 127.0.0.1 (so a test run never collides with an emulator already running).
free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts the emulator bound to 127.0.0.1 on a free port, exports the AWS_* variables that point
# the SDKs at it, and stops it (with the function processes it started) when the shell exits.
start_emulator() {
  need curl setsid
  mkdir -p "$TMP"
  # Earlier runs' emulator folders (logs, state) are not kept beyond the next start.
  find "$TMP" -maxdepth 1 -name 'emulator-*' -type d -mmin +120 -exec rm -rf {} + 2>/dev/null || true
  local port
  port="${SPILLWAY_EMULATOR_PORT:-$(free_port)}"
  local state="$TMP/emulator-$port"
  mkdir -p "$state"
  log "starting the local AWS emulator on 127.0.0.1:$port (log: ${state#"$ROOT"/}/emulator.log)"
  # scripts/emulator.py: ministack with the harness's additions (the emulator gaps it names).
  # setsid makes the emulator lead its own process group, so stopping it also stops the
  # function processes it spawns; $! is then the group id.
  # Emulator quirk: ministack sets its own AWS_ENDPOINT_URL (from its environment) into every
  # function it runs, over the function's; a value inherited from an earlier emulator would
  # send the functions to a dead port. Give it its own.
  AWS_ENDPOINT_URL="http://127.0.0.1:$port" BIND_HOST=127.0.0.1 GATEWAY_PORT="$port" \
    setsid bash -c 'cd "$0" && exec "$1" "$2"' \
    "$state" "$VENV/bin/python" "$ROOT/scripts/emulator.py" >"$state/emulator.log" 2>&1 </dev/null &
  EMULATOR_PID=$!
  echo "$EMULATOR_PID" >"$state/emulator.pid"
  trap stop_emulator EXIT
  local tries=0
  until curl -sf -o /dev/null "http://127.0.0.1:$port/_ministack/health"; do
    tries=$((tries + 1))
    if [[ $tries -gt 120 ]] || ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
      tail -20 "$state/emulator.log" >&2 || true
      die "the emulator did not come up on 127.0.0.1:$port"
    fi
    sleep 0.5
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

stop_emulator() {
  if [[ -n "${EMULATOR_PID:-}" ]]; then
    kill -TERM -- "-$EMULATOR_PID" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$EMULATOR_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$EMULATOR_PID" 2>/dev/null || true
    EMULATOR_PID=""
  fi
}
