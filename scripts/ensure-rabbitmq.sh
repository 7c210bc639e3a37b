#!/usr/bin/env bash
# Makes sure a RabbitMQ broker answers on 127.0.0.1:5672 (guest/guest) for the bus tests:
# installs it from Debian's packages when missing, starts it when stopped, then waits for it.
# Skipped when PIPELINEJOBS_TEST_AMQP_URL points at another broker.
set -euo pipefail
if [[ -n "${PIPELINEJOBS_TEST_AMQP_URL:-}" ]]; then
  echo "ensure-rabbitmq: using PIPELINEJOBS_TEST_AMQP_URL; not managing a local broker"
  exit 0
fi
port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
# A listening port is not a working broker: RabbitMQ 3.10's file handle cache has been seen here
# to queue every new connection's socket reservation for ever (0 of 832 sockets used, 87
# pending), so TCP connects and the AMQP handshake never starts. Ask for the handshake itself.
amqp_answers() {
  python3 - <<'PY' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", 5672), timeout=5) as s:
    s.sendall(b"AMQP\x00\x00\x09\x01")
    sys.exit(0 if s.recv(1) == b"\x01" else 1)  # frame type 1: connection.start
PY
}
healthy() { port_open && rabbitmqctl -q await_startup >/dev/null 2>&1 && amqp_answers; }
if healthy; then
  echo "ensure-rabbitmq: broker is running"
  exit 0
fi
if port_open && ! amqp_answers; then
  # Restarting the application is not enough (the cache belongs to rabbit_common, which stays)
  # and killing the cache breaks its statistics table: restart the whole node.
  echo "ensure-rabbitmq: broker listens but does not answer AMQP; restarting the node"
  timeout 60 rabbitmqctl -q stop >/dev/null 2>&1 || pkill -9 -f 'beam.smp.*rabbit' || true
  for _ in $(seq 1 30); do port_open || break; sleep 1; done
fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "ensure-rabbitmq: installing rabbitmq-server from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq rabbitmq-server >/dev/null
fi
if ! port_open; then
  echo "ensure-rabbitmq: starting rabbitmq-server"
  # As many file descriptors as the hard limit allows: each connection and each quorum queue's
  # files take some, and at Debian's default of 1024 the broker's file handle cache runs out
  # after a few hundred queues and then queues every new connection for ever. Debian's wrapper
  # starts the node through `su`, whose PAM limits would reset ours, so raise it as that user.
  if [[ $(id -u) -eq 0 && -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] && id rabbitmq >/dev/null 2>&1; then
    (cd /var/lib/rabbitmq && su rabbitmq -s /bin/sh -c \
      'ulimit -n "$(ulimit -Hn)"; exec /usr/lib/rabbitmq/bin/rabbitmq-server -detached') || true
  else
    (ulimit -n "$(ulimit -Hn)" 2>/dev/null; rabbitmq-server -detached) || true
  fi
fi
for _ in $(seq 1 90); do
  if healthy; then
    echo "ensure-rabbitmq: broker is up"
    exit 0
  fi
  sleep 1
done
echo "ensure-rabbitmq: RabbitMQ did not come up on 127.0.0.1:5672 within 90 s" >&2
exit 1
