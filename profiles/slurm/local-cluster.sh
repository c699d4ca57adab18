#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, to try `--profile profiles/slurm` without a site (and for the
# test suite's SLURM test). Real slurmctld + slurmd + munge from Debian's packages; no accounting database:
# job records come from the controller, kept for a day (MinJobAge), which `scontrol show job` and the executor
# plugin's status checks read.
#
#   profiles/slurm/local-cluster.sh start    # as root: installs slurm-wlm/munge if missing, starts, waits idle
#   profiles/slurm/local-cluster.sh stop     # stops, by PID, the daemons `start` started
#   profiles/slurm/local-cluster.sh status   # exit status 0 when they run
#
# The configuration goes to /etc/slurm/slurm.conf, where every SLURM command looks, also the `srun` inside a
# job (the executor plugin clears SLURM_* variables, SLURM_CONF included); a slurm.conf that this script did
# not write is never overwritten.
#
# The node has this host's CPUs (nproc, unless AUTALK_SLURM_CPUS says otherwise) and memory (MemTotal, less 10% for the system) and two partitions,
# `cpu` (default) and `gpu`, the names profiles/slurm uses; it has no GPUs. Memory is enforced as on a site:
# a job step that grows past its --mem is killed (JobAcctGatherParams=OverMemoryKill) and ends OUT_OF_MEMORY.
# Settings (environment): AUTALK_SLURM_DIR (state and logs; default /tmp/autalk-slurm),
# AUTALK_SLURM_PORT (controller port; the node daemon uses the next one; default 6817),
# AUTALK_SLURM_CPUS (CPUs the node offers; default nproc). More than nproc lets SLURM run more small jobs at
# once than there are cores, as the test suite does: its jobs spend most of their time starting Python.
set -euo pipefail

DIR=${AUTALK_SLURM_DIR:-/tmp/autalk-slurm}
PORT=${AUTALK_SLURM_PORT:-6817}
CPUS=${AUTALK_SLURM_CPUS:-$(nproc)}
CONF=/etc/slurm/slurm.conf
MARK="# Written by profiles/slurm/local-cluster.sh"
NODE=$(hostname -s)

say() { echo "local-cluster: $*" >&2; }
die() { say "error: $*"; exit 1; }
cannot_install() { say "error: $*"; exit 3; }  # the test suite skips its SLURM tests on this status only

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null || missing+=(slurm-wlm)
    command -v munged >/dev/null || missing+=(munge)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || cannot_install "${missing[*]} not installed, and only root can install them (apt-get)"
    command -v apt-get >/dev/null || cannot_install "${missing[*]} not installed, and there is no apt-get here"
    say "installing ${missing[*]} (apt-get)"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || cannot_install "apt-get could not install ${missing[*]}"
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
    local mdir=$DIR/munge
    alive "$mdir/munged.pid" && return 0
    mkdir -p "$mdir"
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 status=none
        chmod 400 /etc/munge/munge.key
    fi
    # munged refuses to run as root without --force; run it as the packaged `munge` user when there is one.
    local args=(--socket="$mdir/munge.socket" --pid-file="$mdir/munged.pid" --log-file="$mdir/munged.log"
                --seed-file="$mdir/munged.seed" --key-file=/etc/munge/munge.key)
    if id munge >/dev/null 2>&1; then
        chown -R munge: "$mdir" /etc/munge
        chmod 755 "$mdir"
        runuser -u munge -- munged "${args[@]}"
    else
        munged --force "${args[@]}"
    fi
}

write_config() {
    local cpus=$CPUS mem_mb
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || die "AUTALK_SLURM_CPUS must be a positive whole number, not '$cpus'"
    mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    if [ -e "$CONF" ] && ! grep -q "^$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script (a site's SLURM?); not touching it"
    fi
    mkdir -p "$DIR/ctld" "$DIR/spool" "$DIR/logs" "${CONF%/*}"
    cat > "$CONF" <<EOF
$MARK for $NODE: one node, $cpus CPUs, this host's memory, no GPUs.
ClusterName=autalk-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/logs/slurmctld.log
SlurmdLogFile=$DIR/logs/slurmd.log
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=86400
ReturnToService=2
# The node's CPUs are the ones written below, even where the hardware has fewer (AUTALK_SLURM_CPUS).
SlurmdParameters=config_overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
EOF
    say "wrote $CONF (node $NODE: $cpus CPUs, $mem_mb MB)"
}

wait_idle() {
    local state=""
    for _ in $(seq 60); do
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1)
        [ "$state" = idle ] && return 0
        sleep 0.5
    done
    die "node $NODE is '${state:-unreachable}' after 30 s, not idle; see $DIR/logs/"
}

start() {
    install_packages
    [ "$(id -u)" -eq 0 ] || die "start needs root (the daemons run as root); try: sudo $0 start"
    if running; then
        say "already running ($CONF)"
    else
        write_config
        start_munge
        alive "$DIR/slurmctld.pid" || slurmctld -f "$CONF" -i
        alive "$DIR/slurmd.pid" || slurmd -f "$CONF"
        wait_idle
    fi
    say "node $NODE up; partitions cpu (default) and gpu; config $CONF"
}

stop() {
    local name pidfile pid
    for name in slurmd slurmctld munge/munged; do
        pidfile=$DIR/$name.pid
        alive "$pidfile" || continue
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && die "${name##*/} (PID $pid) did not stop"
        say "stopped ${name##*/} (PID $pid)"
    done
}

running() { alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid"; }

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) running ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
