#!/bin/bash
# Slurm node check with tpdoctor: scan this node's GPU topology and NVLink health, write the tpdoctor/v1
# report where `tpdoctor fleet` reads the whole cluster, and take a node with a critical finding (an NVLink
# down, a GPU off the fabric) out of service.
#
# Use it either way (slurm.conf):
#   HealthCheckProgram=/etc/slurm/tpdoctor-node-check.sh      # periodic; drains via scontrol, exits 0
#   HealthCheckInterval=300
# or
#   Prolog=/etc/slurm/tpdoctor-node-check.sh                  # before each job; with TPDOCTOR_MODE=prolog
#                                                             # a critical node fails the prolog: Slurm
#                                                             # drains it and requeues the job
# Then, from anywhere that sees the report directory:
#   tpdoctor fleet /shared/tpdoctor/reports --max-age 30m
#
# Settings (environment; defaults in brackets):
#   TPDOCTOR            the tpdoctor command [tpdoctor]
#   TPDOCTOR_REPORT_DIR where reports go, one <node>.json each; a shared filesystem [/var/lib/tpdoctor/reports]
#   TPDOCTOR_SCAN_ARGS  extra `tpdoctor scan` options, e.g. "--probe smi" or "--timeout 20" []
#   TPDOCTOR_TIMEOUT    seconds before the scan is killed [120]
#   TPDOCTOR_DRAIN      1: drain the node on a critical report (healthcheck mode) [1]
#   TPDOCTOR_MODE       healthcheck | prolog [healthcheck]
# Exit: healthcheck mode 0 always (the drain is the signal); prolog mode 1 when the node is critical.
# A scan that cannot run (exit 3: no driver, probe failed) is logged, never drains the node.

set -u

TPDOCTOR=${TPDOCTOR:-tpdoctor}
REPORT_DIR=${TPDOCTOR_REPORT_DIR:-/var/lib/tpdoctor/reports}
SCAN_ARGS=${TPDOCTOR_SCAN_ARGS:-}
TIMEOUT=${TPDOCTOR_TIMEOUT:-120}
DRAIN=${TPDOCTOR_DRAIN:-1}
MODE=${TPDOCTOR_MODE:-healthcheck}
NODE=${SLURMD_NODENAME:-$(hostname -s)}

log() { logger -t tpdoctor-node-check -- "$*" 2>/dev/null || echo "tpdoctor-node-check: $*" >&2; }

mkdir -p "$REPORT_DIR" || { log "cannot create $REPORT_DIR"; exit 0; }
# an unpredictable name made with O_EXCL (mktemp): a shared report folder may be writable by others, and a
# fixed name there could be a symlink planted to make root truncate another file
tmp=$(mktemp "$REPORT_DIR/.$NODE.json.XXXXXXXX") || { log "cannot write in $REPORT_DIR"; exit 0; }
trap 'rm -f "$tmp"' EXIT

read -r -a tpdoctor_cmd <<< "$TPDOCTOR"
read -r -a scan_args <<< "$SCAN_ARGS"
timeout "$TIMEOUT" "${tpdoctor_cmd[@]}" scan --json ${scan_args[@]+"${scan_args[@]}"} > "$tmp"
rc=$?

if [ "$rc" -le 2 ] && [ -s "$tmp" ]; then
    chmod 0644 "$tmp"  # mktemp makes it 0600; `tpdoctor fleet` may run as another user
    mv -f "$tmp" "$REPORT_DIR/$NODE.json"  # readers never see half a report
else
    log "scan on $NODE could not run (exit $rc); report not updated"
    exit 0
fi

if [ "$rc" -eq 2 ]; then
    reason="tpdoctor: critical GPU topology finding, see $REPORT_DIR/$NODE.json"
    log "$NODE is critical: $reason"
    if [ "$MODE" = "prolog" ]; then
        exit 1
    fi
    if [ "$DRAIN" = "1" ]; then
        scontrol update NodeName="$NODE" State=DRAIN Reason="$reason" || log "scontrol drain of $NODE failed"
    fi
fi
exit 0
