#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft: broker + controller in one JVM) for
# ingestd's tests, demo and benchmarks, run from the jars on Maven Central: no
# Docker, no tarball download, nothing installed system-wide.
#
# Usage: bash scripts/kafka.sh start|stop|status|create-topic NAME PARTITIONS|
#                             ensure-topics NAME:PARTITIONS...|reset
#
#   start         fetch the jars if missing, format storage once, start the broker
#                 in the background and wait until it answers on 127.0.0.1:9092.
#                 Prints "kafka: running ..." and exits 0 if it already is.
#   stop          SIGTERM (controlled shutdown), wait, SIGKILL only as a last resort.
#   status        "kafka: running ..." (exit 0) or "kafka: stopped" (exit 3).
#   create-topic  create topic NAME with PARTITIONS partitions unless it exists.
#   ensure-topics create each topic NAME with PARTITIONS partitions, or grow it to
#                 PARTITIONS if it has fewer (e.g. auto-created by a producer);
#                 silent when nothing changes. bash scripts/services.sh kafka
#                 runs it for its KAFKA_TOPICS after start.
#   reset         stop and delete all broker data (topics, offsets, cluster id);
#                 the jar cache is kept. The next start formats a new cluster.
#
# Everything lives outside the work tree, in
#   $INGESTD_KAFKA_HOME (default ${XDG_CACHE_HOME:-$HOME/.cache}/ingestd/kafka):
#   libs/      jars (scripts/kafka/pom.xml; refetched whenever that file changes)
#   config/    server.properties, log4j2 configs (rewritten on every start)
#   data/      log.dirs and KRaft metadata (formatted once)
#   logs/      server.log (broker log, rolled), kafka.out (JVM stdout/stderr)
#   kafka.pid  pid of the broker JVM
#
# Environment: KAFKA_START_TIMEOUT (90 s), KAFKA_STOP_TIMEOUT (60 s),
# KAFKA_HEAP_OPTS (-Xms256m -Xmx512m).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

HOST=127.0.0.1
PORT=9092
CONTROLLER_PORT=9093
BOOTSTRAP="$HOST:$PORT"

KHOME="${INGESTD_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/ingestd/kafka}"
LIBS="$KHOME/libs"
CONF="$KHOME/config"
DATA="$KHOME/data"
LOGS="$KHOME/logs"
PIDFILE="$KHOME/kafka.pid"
LOCKFILE="$KHOME/.lock"

START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-60}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"

die() {
  echo "kafka.sh: $*" >&2
  exit 1
}

# TCP probe via bash's /dev/tcp, bounded so a filtered port cannot hang us.
port_open() {
  timeout 1 bash -c ">/dev/tcp/$HOST/$1" 2>/dev/null
}

# The kafka.version property of the pom: the jar cache is keyed on it.
kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1
}

need_java() {
  command -v java >/dev/null \
    || die "java not found: Kafka needs Java 17+ (bash scripts/services.sh kafka installs it)"
  local v
  v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
  [[ -n $v && $v -ge 17 ]] || die "Kafka $(kafka_version) needs Java 17+, found: $(java -version 2>&1 | head -n 1)"
}

# Fetch the jars unless libs/ was filled from this very pom (checksum stamp).
# Fetches into a temporary folder and renames it, so an interrupted fetch never
# leaves a half-filled libs/ that looks complete.
ensure_libs() {
  local want stamp have="" tmp
  want="$(kafka_version)"
  [[ -n $want ]] || die "no <kafka.version> in $POM"
  stamp="$(sha256sum "$POM" | cut -c1-16)"
  [[ -f $LIBS/.pom-sha256 ]] && have="$(cat "$LIBS/.pom-sha256")"
  [[ $have == "$stamp" ]] && return 0
  command -v mvn >/dev/null \
    || die "mvn not found: needed once to fetch Kafka $want (bash scripts/services.sh kafka installs it)"
  echo "kafka: fetching Apache Kafka $want jars from Maven Central into $LIBS" >&2
  tmp="$KHOME/libs.tmp.$$"
  rm -rf "$tmp"
  local out
  out="$(mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1)" \
    || { echo "$out" >&2; rm -rf "$tmp"; die "mvn dependency:copy-dependencies failed for $POM"; }
  ls "$tmp"/kafka_2.13-"$want".jar >/dev/null 2>&1 \
    || { rm -rf "$tmp"; die "fetched jars lack kafka_2.13-$want.jar"; }
  echo "$want" >"$tmp/.kafka-version"
  echo "$stamp" >"$tmp/.pom-sha256"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
}

write_config() {
  mkdir -p "$CONF" "$DATA" "$LOGS"
  cat >"$CONF/server.properties" <<EOF
# Written by scripts/kafka.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=168
EOF

  # Broker log: one rolled file (Kafka's stock config splits it over six).
  cat >"$CONF/log4j2.properties" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $LOGS/server.log
appender.file.filePattern = $LOGS/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
EOF

  # Command-line tools: warnings and errors only, on stderr.
  cat >"$CONF/log4j2-tools.properties" <<EOF
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
EOF

  # Admin client settings for the tools: fail in seconds, not after the
  # default 60 s of retries, when the broker is not (yet) there.
  cat >"$CONF/tools.properties" <<EOF
request.timeout.ms=5000
default.api.timeout.ms=8000
retries=2
EOF
}

# run_class CLASS ARGS...: a short-lived tool JVM (fast start-up flags),
# killed after TOOL_TIMEOUT seconds.
run_class() {
  timeout "${TOOL_TIMEOUT:-120}" java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CONF/log4j2-tools.properties" \
    -cp "$LIBS/*" "$@"
}

topics() {
  run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
    --command-config "$CONF/tools.properties" "$@"
}

# Format the storage directory once (KRaft needs a cluster id before first start).
ensure_formatted() {
  [[ -f $DATA/meta.properties ]] && return 0
  local cid
  cid="$(run_class kafka.tools.StorageTool random-uuid)" || die "StorageTool random-uuid failed"
  # --standalone: this node is the whole (dynamic) controller quorum.
  local out
  out="$(run_class kafka.tools.StorageTool format --standalone --ignore-formatted \
    --cluster-id "$cid" --config "$CONF/server.properties" 2>&1)" \
    || { echo "$out" >&2; die "StorageTool format failed for $DATA"; }
  echo "kafka: formatted $DATA (cluster id $cid)" >&2
}

# Pid of the broker this script started, if that process is still alive.
managed_pid() {
  local pid
  [[ -f $PIDFILE ]] || return 1
  pid="$(cat "$PIDFILE")"
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # Guard against pid reuse: the process must be our broker JVM.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

broker_answers() {
  TOOL_TIMEOUT=30 topics --list >/dev/null 2>&1
}

with_lock() {
  mkdir -p "$KHOME"
  exec 9>"$LOCKFILE"
  flock -w 300 9 || die "another kafka.sh holds $LOCKFILE"
}

cmd_start() {
  with_lock
  local pid
  if pid="$(managed_pid)"; then
    echo "kafka: running on $BOOTSTRAP (pid $pid)"
    return 0
  fi
  rm -f "$PIDFILE"
  need_java
  if port_open "$PORT"; then
    # Not ours: fine if it is a Kafka broker, a conflict otherwise.
    [[ -d $LIBS ]] || ensure_libs
    [[ -f $CONF/tools.properties ]] || write_config
    if broker_answers; then
      echo "kafka: running on $BOOTSTRAP (not started by kafka.sh)"
      return 0
    fi
    die "port $PORT is in use by something that is not a Kafka broker"
  fi
  port_open "$CONTROLLER_PORT" && die "controller port $CONTROLLER_PORT is already in use"

  ensure_libs
  write_config
  ensure_formatted

  # setsid: the broker must outlive this shell and its process group.
  # 9>&-: it must not inherit the lock's descriptor (it would hold the lock).
  # shellcheck disable=SC2086  # HEAP_OPTS is a list of JVM flags
  setsid java $HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CONF/log4j2.properties" \
    -Dkafka.logs.dir="$LOGS" \
    -cp "$LIBS/*" kafka.Kafka "$CONF/server.properties" \
    </dev/null >>"$LOGS/kafka.out" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"

  local deadline=$((SECONDS + START_TIMEOUT))
  until port_open "$PORT" && broker_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      echo "kafka.sh: broker exited during start-up; last lines of $LOGS:" >&2
      tail -n 25 "$LOGS/kafka.out" "$LOGS/server.log" >&2 2>/dev/null || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "kafka.sh: broker (pid $pid) not answering on $BOOTSTRAP after ${START_TIMEOUT}s;" \
        "left running, see $LOGS/server.log:" >&2
      tail -n 25 "$LOGS/server.log" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 1
  done
  echo "kafka: started on $BOOTSTRAP (pid $pid, Kafka $(cat "$LIBS/.kafka-version"), logs in $LOGS)"
}

cmd_stop() {
  with_lock
  local pid
  if ! pid="$(managed_pid)"; then
    rm -f "$PIDFILE"
    if port_open "$PORT"; then
      echo "kafka: not started by kafka.sh, but something listens on $BOOTSTRAP; left alone"
    else
      echo "kafka: not running"
    fi
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "kafka.sh: broker (pid $pid) still running ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$PIDFILE"
  echo "kafka: stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(managed_pid)"; then
    if port_open "$PORT"; then
      echo "kafka: running on $BOOTSTRAP (pid $pid)"
    else
      echo "kafka: starting (pid $pid, $BOOTSTRAP not open yet)"
    fi
    return 0
  fi
  if port_open "$PORT"; then
    echo "kafka: something listens on $BOOTSTRAP (not started by kafka.sh)"
    return 0
  fi
  echo "kafka: stopped"
  return 3
}

cmd_create_topic() {
  local name="${1:-}" parts="${2:-}"
  [[ -n $name && $parts =~ ^[1-9][0-9]*$ ]] || die "usage: kafka.sh create-topic NAME PARTITIONS"
  need_java
  [[ -d $LIBS && -f $CONF/tools.properties ]] || die "no broker set up in $KHOME: run 'bash scripts/kafka.sh start' first"
  port_open "$PORT" || die "broker not running on $BOOTSTRAP: run 'bash scripts/kafka.sh start' first"
  local out have
  out="$(topics --describe --topic "$name" 2>/dev/null || true)"
  have="$(sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' <<<"$out" | head -n 1)"
  if [[ -n $have ]]; then
    if [[ $have -ne $parts ]]; then
      echo "kafka: topic $name exists with $have partitions (asked for $parts); left as is" >&2
    fi
    echo "kafka: topic $name exists ($have partitions)"
    return 0
  fi
  # --if-not-exists: a concurrent creator (or auto-creation) is not an error.
  topics --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 >/dev/null \
    || die "could not create topic $name"
  echo "kafka: topic $name created ($parts partitions)"
}

# Partition count of topic $1, or nothing if it does not exist (or the broker
# does not answer: the create that follows then fails loudly).
partition_count() {
  local out
  out="$(topics --describe --topic "$1" 2>/dev/null || true)"
  sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' <<<"$out" | head -n 1
}

cmd_ensure_topics() {
  [[ $# -gt 0 ]] || die "usage: kafka.sh ensure-topics NAME:PARTITIONS..."
  local spec name parts have
  for spec in "$@"; do
    name="${spec%:*}" parts="${spec##*:}"
    [[ -n $name && $name != "$spec" && $parts =~ ^[1-9][0-9]*$ ]] \
      || die "ensure-topics: bad spec '$spec' (want NAME:PARTITIONS)"
  done
  need_java
  [[ -d $LIBS && -f $CONF/tools.properties ]] || die "no broker set up in $KHOME: run 'bash scripts/kafka.sh start' first"
  port_open "$PORT" || die "broker not running on $BOOTSTRAP: run 'bash scripts/kafka.sh start' first"
  for spec in "$@"; do
    name="${spec%:*}" parts="${spec##*:}"
    have="$(partition_count "$name")"
    if [[ -z $have ]]; then
      # --if-not-exists: a concurrent creator (or auto-creation) is not an error,
      # but it may have used fewer partitions, hence the second look.
      topics --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 >/dev/null \
        || die "could not create topic $name"
      have="$(partition_count "$name")"
      [[ -n $have ]] || die "topic $name still missing after --create"
      [[ $have -ge $parts ]] && echo "kafka: topic $name created ($have partitions)"
    fi
    if [[ $have -lt $parts ]]; then
      topics --alter --topic "$name" --partitions "$parts" >/dev/null \
        || die "could not grow topic $name from $have to $parts partitions"
      echo "kafka: topic $name grown from $have to $parts partitions"
    elif [[ $have -gt $parts ]]; then
      echo "kafka: topic $name has $have partitions (wanted $parts; Kafka cannot shrink a topic); left as is" >&2
    fi
  done
}

cmd_reset() {
  cmd_stop
  # with_lock is still held (fd 9) from cmd_stop.
  rm -rf "$DATA" "$CONF" "$LOGS"
  echo "kafka: broker data deleted from $KHOME (jars kept)"
}

usage() {
  echo "usage: bash scripts/kafka.sh start|stop|status|create-topic NAME PARTITIONS|ensure-topics NAME:PARTITIONS...|reset"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    create-topic) cmd_create_topic "$@" ;;
    ensure-topics) cmd_ensure_topics "$@" ;;
    reset) cmd_reset ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
