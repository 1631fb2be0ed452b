#!/bin/bash
# Run a command inside lab host B (network + mount + UTS namespaces), e.g.
#   lab/hostb.sh virsh list --all        lab/hostb.sh ovs-vsctl show
#   lab/hostb.sh                         (a shell)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hostb_ready || die "host B is not up (run lab/up.sh)"
[ $# -gt 0 ] || set -- /bin/bash
exec nsenter --net="/run/netns/$NETNS_B" --mount="$NSDIR/hostb.mnt" --uts="$NSDIR/hostb.uts" -- "$@"
