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
if port_open && rabbitmqctl -q await_startup >/dev/null 2>&1; then
  echo "ensure-rabbitmq: broker is running"
  exit 0
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
  rabbitmq-server -detached || true
fi
for _ in $(seq 1 90); do
  if port_open && rabbitmqctl -q await_startup >/dev/null 2>&1; then
    echo "ensure-rabbitmq: broker is up"
    exit 0
  fi
  sleep 1
done
echo "ensure-rabbitmq: RabbitMQ did not come up on 127.0.0.1:5672 within 90 s" >&2
exit 1
