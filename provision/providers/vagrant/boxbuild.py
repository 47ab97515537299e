"""A Vagrant box of our own (libvirt, qcow2): Debian from Debian's packages (mmdebstrap) with
every package of the plan baked in, since the VMs of an isolated lab have no route out, and a
kernel and GRUB on a disk assembled on this machine. Cached under a hash of what goes in.
The files the box carries are in ``box/`` beside this module."""

from __future__ import annotations

import glob
import hashlib
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from provision import baseimage
from provision.errors import ProviderError
from provision.roles import kubernetes
from provision.system import remove_tree
from provision.topology import Plan
from provision.vagrant_data import VIRTUALBOX_IFNAMES

FILES = Path(__file__).with_name("box")
CACHE = Path("/var/cache/underhood/boxes")
#: What a VM needs besides what a container has: a kernel, a boot loader, udev, sudo.
VM_PACKAGES = ("linux-image-amd64", "grub-pc", "udev", "sudo", "initramfs-tools", "e2fsprogs", "lvm2")
#: Host tools the assembly calls, and the Debian package of each.
TOOLS = {"mmdebstrap": "mmdebstrap", "sfdisk": "fdisk", "partx": "util-linux", "losetup": "mount",
         "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils", "lvm": "lvm2"}
LABEL = "underhood-root"
#: Sparse: only what is written takes room. Kubernetes nodes keep their images in /var.
DISK_GB = 16
ROOT_MB = 1024
#: HOST-07: the documents' logical volumes (MiB), in the volume group VG on the disk's second
#: partition; the rest of the group stays free, so each of them can grow (lvextend -r).
VG = "uh"
VOLUMES = {"usr": 2560, "var": 6144, "tmp": 512, "opt": 256}
#: The build machine may have no device-mapper (this project's has none): LVM writes the
#: metadata only, no activation, and each volume is reached as a loop device at its offset.
#: No metadata backup on this machine either: the group is the box's.
LVM_CONFIG = "global/activation=0 backup/backup=0 backup/archive=0"
#: Bump when the recipe changes, so cached boxes are rebuilt.
RECIPE = "6"
#: Where Vagrant installations keep the well-known insecure key (replaced on first `up`).
INSECURE_KEYS = ("/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub",
                 "/opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub",
                 "/opt/vagrant/embedded/gems/*/gems/vagrant-*/keys/vagrant.pub")



def packages(plan: Plan) -> list[str]:
    """Everything any host of the plan installs, the container runtime of the Kubernetes
    nodes included: the VMs of an isolated lab have no mirror to reach."""
    return sorted(set(baseimage.SYSTEM_PACKAGES) | set(VM_PACKAGES) | set(plan.all_packages()) | set(kubernetes.PACKAGES))


def box_path(plan: Plan) -> Path:
    recipe = [RECIPE, plan.versions.debian, *packages(plan), *(f.read_text() for f in sorted(FILES.iterdir()))]
    digest = hashlib.sha256("\n".join(recipe).encode()).hexdigest()[:12]
    return CACHE / f"underhood-{plan.versions.debian}-{digest}.box"


def insecure_key() -> Path:
    for pattern in INSECURE_KEYS:
        if found := sorted(glob.glob(pattern)):
            return Path(found[-1])
    raise ProviderError("Vagrant's insecure public key (keys/vagrant.pub) was not found: install Vagrant")


def _sh(*argv: str, what: str) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise ProviderError(f"box: {what}: `{' '.join(argv)}` failed: {res.stderr.strip()[-1500:]}")
    return res.stdout


def configure(root: Path, key: Path) -> None:
    """The tree as a VM's: identity made at first boot, Vagrant's user, ssh, DHCP on the
    management NIC, no lab daemon running before the roles configure it."""
    (root / "etc/hostname").write_text("underhood\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    (root / "etc/fstab").write_text(fstab())
    # mmdebstrap leaves this machine's resolver here; the lab's hosts ask resolved (the
    # gateway's converge writes its own file over the link).
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").symlink_to("/run/systemd/resolve/stub-resolv.conf")
    (root / "etc/machine-id").write_text("")
    net = root / "etc/systemd/network"
    net.mkdir(parents=True, exist_ok=True)
    shutil.copy(FILES / "99-management.network", net)
    template = (FILES / "nic.link").read_text()
    for adapter, name in VIRTUALBOX_IFNAMES.items():
        (net / f"90-{name}.link").write_text(template.format(adapter=adapter, original=f"eth{adapter - 1}", name=name))
    hostkeys = root / "usr/local/sbin/underhood-hostkeys"
    shutil.copy(FILES / "underhood-hostkeys", hostkeys)
    hostkeys.chmod(0o755)
    (root / "etc/systemd/system/ssh.service.d").mkdir(parents=True, exist_ok=True)
    shutil.copy(FILES / "hostkeys.conf", root / "etc/systemd/system/ssh.service.d")
    shutil.copy(FILES / "sshd-underhood.conf", root / "etc/ssh/sshd_config.d/underhood.conf")
    for k in root.glob("etc/ssh/ssh_host_*"):
        k.unlink()
    # cloud-init is the documents' (HOST-01) but has no datasource here: it would stall boot.
    (root / "etc/cloud").mkdir(parents=True, exist_ok=True)
    (root / "etc/cloud/cloud-init.disabled").write_text("")
    chroot = ["chroot", str(root)]
    _sh(*chroot, "useradd", "-m", "-s", "/bin/bash", "vagrant", what="vagrant user")
    (root / "etc/sudoers.d/vagrant").write_text("vagrant ALL=(ALL) NOPASSWD:ALL\n")
    (root / "etc/sudoers.d/vagrant").chmod(0o440)
    ssh_dir = root / "home/vagrant/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(key, ssh_dir / "authorized_keys")
    (ssh_dir / "authorized_keys").chmod(0o600)
    _sh(*chroot, "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh", what="vagrant's ssh directory")
    subprocess.run(["systemctl", f"--root={root}", "disable", *baseimage.DISABLE], capture_output=True)
    _sh("systemctl", f"--root={root}", "enable", "systemd-networkd", "ssh", what="enable networkd and ssh")
    # The initramfs' udev names NICs first: with the default policy it gives a NIC the altname
    # another one is to be named (enp0s8 is slot 8's predictable name), and the rename fails.
    _sh(*chroot, "update-initramfs", "-u", what="initramfs with the NIC names")
    # e2scrub_reap took minutes of boot under parallel software emulation.
    _sh("systemctl", f"--root={root}", "mask", "e2scrub_reap.service", what="mask e2scrub_reap")


#: How long systemd waits for a logical volume to appear before giving up on its mount.
DEVICE_TIMEOUT = "x-systemd.device-timeout=10min"


def fstab() -> str:
    # the initramfs mounts /usr (merged /usr holds init) after udev has activated the group
    lines = [f"LABEL={LABEL} / ext4 errors=remount-ro 0 1"]
    # udev activates the others for systemd; five VMs booting at once under software emulation
    # took longer than its 90 s wait for those devices, and a VM stopped in emergency mode
    # (libvirt smoke, 2026-12-05), so the wait is longer. Not on /usr: the initramfs' mount
    # passes the option to the kernel, which refuses it.
    for lv in VOLUMES:
        options = "defaults" if lv == "usr" else f"defaults,{DEVICE_TIMEOUT}"
        lines.append(f"/dev/mapper/{VG}-{lv} /{lv} ext4 {options} 0 2")
    return "\n".join(lines) + "\n"


def _lvm(*argv: str, pv: str, what: str) -> str:
    # --devices: LVM sees the box's partition only, never a disk of this machine
    return _sh("lvm", *argv, "--devices", pv, "--config", LVM_CONFIG, what=what)


def volume_extents(lvs_output: str) -> dict[str, tuple[int, int]]:
    """(first extent, extent count) of each volume from `lvs -o lv_name,seg_pe_ranges`;
    a volume in more than one piece is refused (they are made one after another)."""
    extents: dict[str, tuple[int, int]] = {}
    for line in lvs_output.splitlines():
        if not line.strip():
            continue
        name, ranges = line.split(maxsplit=1)
        if name in extents or " " in ranges.strip() or ranges.count(":") != 1:
            raise ProviderError(f"box: logical volume {name} is not one contiguous range ({ranges})")
        first, last = (int(x) for x in ranges.split(":")[1].split("-"))
        extents[name] = (first, last - first + 1)
    return extents


def logical_volumes(pv: str) -> dict[str, tuple[int, int]]:
    """HOST-07's volume group on ``pv``: each volume's (byte offset in the partition, size)."""
    _lvm("pvcreate", "-q", "-y", pv, pv=pv, what="physical volume")
    _lvm("vgcreate", "-q", VG, pv, pv=pv, what="volume group")
    for lv, size in VOLUMES.items():
        # -Zn: zeroing needs an active volume; mkfs writes what the file system needs
        _lvm("lvcreate", "-q", "-y", "-an", "-Zn", "-L", f"{size}m", "-n", lv, VG, pv=pv, what=f"logical volume {lv}")
    start, extent = (int(x.rstrip("B")) for x in _lvm("pvs", "--noheadings", "--units", "b", "-o", "pe_start,vg_extent_size",
                                                        pv, pv=pv, what="extents").split())
    found = volume_extents(_lvm("lvs", "--noheadings", "-o", "lv_name,seg_pe_ranges", VG, pv=pv, what="volumes"))
    return {lv: (start + first * extent, count * extent) for lv, (first, count) in found.items()}


def assemble(root: Path, raw: Path) -> None:
    """A BIOS-bootable raw disk: an ext4 root partition with GRUB on it, and LVM on the
    second partition for /usr, /var, /tmp and /opt (HOST-07)."""
    with open(raw, "wb") as f:
        f.truncate(DISK_GB * 2**30)
    layout = f"start=2048, size={ROOT_MB}MiB, type=83, bootable\ntype=8e\n"
    _sh("sh", "-c", f"printf '{layout}' | sfdisk -q {raw}", what="partition")
    loop = _sh("losetup", "-fP", "--show", str(raw), what="loop device").strip()
    mnt = raw.with_suffix(".mnt")
    with ExitStack() as undo:
        undo.callback(subprocess.run, ["losetup", "-d", loop], capture_output=True)
        part, pv = f"{loop}p1", f"{loop}p2"
        if not Path(part).exists():  # no udev here: -P makes no partition node
            _sh("partx", "-a", loop, what="partition nodes")
            undo.callback(subprocess.run, ["partx", "-d", loop], capture_output=True)
        volumes = {}
        for lv, (offset, size) in logical_volumes(pv).items():
            volumes[lv] = _sh("losetup", "-f", "--show", "--offset", str(offset), "--sizelimit", str(size), pv,
                              what=f"loop device of {lv}").strip()
            undo.callback(subprocess.run, ["losetup", "-d", volumes[lv]], capture_output=True)
        _sh("mkfs.ext4", "-q", "-L", LABEL, part, what="file system")
        for lv, dev in volumes.items():
            _sh("mkfs.ext4", "-q", dev, what=f"file system on {lv}")
        mnt.mkdir(exist_ok=True)
        _sh("mount", part, str(mnt), what="mount")
        undo.callback(subprocess.run, ["umount", "-R", str(mnt)], capture_output=True)
        for lv, dev in volumes.items():
            (mnt / lv).mkdir()
            _sh("mount", dev, str(mnt / lv), what=f"mount {lv}")
        _sh("cp", "-a", f"{root}/.", str(mnt), what="copy the tree")
        (mnt / "tmp").chmod(0o1777)
        for d in ("dev", "proc", "sys"):
            _sh("mount", "--bind", f"/{d}", str(mnt / d), what=f"bind {d}")
        _sh("chroot", str(mnt), "grub-install", "--target=i386-pc", "--boot-directory=/boot", loop, what="grub-install")
        shutil.copy(FILES / "grub.cfg", mnt / "boot/grub/grub.cfg")


def build(plan: Plan, log: Callable[[str], None] = print) -> Path:
    """The box file for the plan, built first when it is not cached."""
    target = box_path(plan)
    if target.exists():
        return target
    missing = [f"{tool} ({pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise ProviderError(f"building the box needs {', '.join(missing)}: apt-get install {' '.join(sorted(set(TOOLS.values())))}")
    work = target.with_suffix(".partial")
    remove_tree(work)
    work.mkdir(parents=True)
    try:
        root = work / "root"
        log(f"box: Debian {plan.versions.debian} with {len(packages(plan))} packages (mmdebstrap)")
        _sh(*baseimage.mmdebstrap_argv(plan.versions.debian, root, packages(plan)), what="mmdebstrap")
        configure(root, insecure_key())
        log("box: disk, GRUB, qcow2")
        assemble(root, work / "disk.raw")
        _sh("qemu-img", "convert", "-O", "qcow2", str(work / "disk.raw"), str(work / "box.img"), what="qcow2")
        (work / "metadata.json").write_text(json.dumps({"provider": "libvirt", "format": "qcow2", "virtual_size": DISK_GB}))
        shutil.copy(FILES / "Vagrantfile", work / "Vagrantfile")
        partial_box = target.with_suffix(".box.partial")
        with tarfile.open(partial_box, "w") as tar:
            for name in ("metadata.json", "Vagrantfile", "box.img"):
                tar.add(work / name, arcname=name)
        partial_box.rename(target)
    finally:
        remove_tree(work)
    for old in CACHE.glob("underhood-*.box"):  # an older recipe's (about 1 GB each)
        if old != target:
            old.unlink()
    return target
