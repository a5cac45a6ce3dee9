#!/bin/sh
set -e
if [ $$ = 1 ]; then
  set +e  # an initramfs may have mounted some of these already
  mountpoint -q /proc || mount -t proc proc /proc
  mountpoint -q /sys || mount -t sysfs sysfs /sys
  mountpoint -q /dev || mount -t devtmpfs dev /dev
  mkdir -p /dev/pts; mountpoint -q /dev/pts || mount -t devpts devpts /dev/pts
  mount -o remount,rw /
  mountpoint -q /run || mount -t tmpfs tmpfs /run
  mount -t tmpfs tmpfs /tmp
  mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup
  modprobe -a virtio_console virtio_net 2>/dev/null || true
  # the VM's own settings come on a small second disk (the libvirt config drive)
  if [ -b /dev/vdb ]; then mkdir -p /etc/harness; mount -o ro /dev/vdb /etc/harness; fi
  set -e
fi
# an unprivileged container's cgroup hierarchies come read-only; in its own
# cgroup namespace they show only its subtree, which its kubelet manages
awk '$3 ~ /^cgroup2?$/ && $4 ~ /(^|,)ro(,|$)/ {print $2}' /proc/mounts |
  while read -r m; do mount -o remount,bind,rw "$m"; done
echo 0 > /proc/sys/net/ipv6/conf/all/disable_ipv6 || true
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad || true
ip link set lo up
link_with() {  # link_with <MAC or IPv4 address>: the link the engine gave it
  for path in /sys/class/net/*; do
    link=${path##*/}
    case $1 in
      *:*) if [ "$(cat "$path/address" 2>/dev/null)" = "$1" ]; then echo "$link"; return; fi ;;
      *) if [ -n "$(ip -4 -o addr show dev "$link" to "$1/32" 2>/dev/null)" ]; then echo "$link"; return; fi ;;
    esac
  done
}
if [ -f /etc/harness/links ]; then
  while read -r engine_addr name addrs; do
    dev=$(link_with "$engine_addr")
    [ -n "$dev" ] || { echo "harness-boot: no link has $engine_addr" >&2; exit 1; }
    ip link set "$dev" down
    [ "$dev" = "$name" ] || ip link set "$dev" name "$name"
    echo 0 > "/proc/sys/net/ipv6/conf/$name/disable_ipv6" || true
    echo 0 > "/proc/sys/net/ipv6/conf/$name/accept_dad" || true
    ip addr flush dev "$name"
    for a in $addrs; do ip addr add "$a" dev "$name" nodad 2>/dev/null || ip addr add "$a" dev "$name"; done
    ip link set "$name" up
  done < /etc/harness/links
fi
[ -f /etc/harness/hosts ] && cat /etc/harness/hosts > /etc/hosts
if [ -f /etc/harness/hostname ]; then
  hostname "$(cat /etc/harness/hostname)"
  cat /etc/harness/hostname > /etc/hostname
fi
rm -f /run/supervisor.sock
exec supervisord -n -c /etc/supervisor/harness.conf
