#!/bin/sh
# PID 1 of a Kubernetes node of the local lab, before systemd (written by the local provider).
# nspawn mounts the cgroup v1 controllers read-only; runc and systemd need them writable,
# and systemd manages them only if they are writable when it starts.
for c in /sys/fs/cgroup/*/; do
    mountpoint -q "$c" && mount -o remount,bind,rw "$c"
done
# Kernel settings kubelet insists on are global to the machine (outside /proc/sys/net):
# each node sees its own file with the value kubelet wants, and the machine is untouched.
for f in /etc/underhood/proc-sys/*; do
    [ -f "$f" ] && mount --bind "$f" "/proc/sys/$(basename "$f" | tr . /)"
done
# kubelet's volume mounts propagate into the pods.
mount --make-rshared /
exec /lib/systemd/systemd "$@"
