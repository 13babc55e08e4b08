# Sourced by the bench scripts: starts the state backend named by $STATE on loopback.
#   STATE=embedded (default): nothing to start.
#   STATE=redis:   one redis-server.
#   STATE=cluster: a 3-master Redis Cluster (redis-server --cluster-enabled yes, joined with
#                  redis-cli --cluster create).
# Sets redis_flags (the `botify serve` / `data push` flags naming it) and appends the servers'
# pids to the caller's pids array; the caller stops them. $1: a scratch directory.
start_state() {
  local dir=$1
  redis_flags=()
  case "${STATE:-embedded}" in
    embedded) return 0 ;;
    redis | cluster) ;;
    *) echo "STATE must be embedded, redis or cluster, not ${STATE}" >&2; return 1 ;;
  esac
  command -v redis-server >/dev/null || { echo "STATE=$STATE needs redis-server (apt-get install redis-server)" >&2; return 1; }
  local n=1 extra=() ports=() urls=()
  [ "$STATE" = cluster ] && n=3
  for i in $(seq "$n"); do
    local port
    # A free port whose cluster bus port (+10000) is free too.
    port=$(python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    if p < 55000:
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 10000)); print(p); break
        except OSError: pass')
    mkdir -p "$dir/redis-$i"
    [ "$STATE" = cluster ] && extra=(--cluster-enabled yes --cluster-config-file nodes.conf --dir "$dir/redis-$i")
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no "${extra[@]}" >"$dir/redis-$i/log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    ports+=("$port")
    urls+=("redis://127.0.0.1:$port")
  done
  if [ "$STATE" = redis ]; then
    redis_flags=(--redis "${urls[0]}")
    return 0
  fi
  redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$dir/cluster-create.log" 2>&1
  for p in "${ports[@]}"; do
    for _ in $(seq 200); do redis-cli -p "$p" cluster info | grep -q cluster_state:ok && break; sleep 0.05; done
  done
  redis_flags=(--redis-cluster "$(IFS=,; echo "${urls[*]}")")
}
