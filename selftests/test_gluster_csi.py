"""The Gluster CSI driver's own Go tests (provision/kube/modules/gluster-csi), run with the
Go the builds use: the controller against a volume service that refuses as ours does, the
node plugin's mounts, kubelet's registration over a socket."""

from __future__ import annotations

import subprocess

from provision.kube import binaries

DRIVER = binaries.MODULES / "gluster-csi"


def test_the_drivers_go_tests_pass():
    res = subprocess.run([binaries.go_binary(), "test", "-count=1", "./..."], cwd=DRIVER, env=binaries.go_env(),
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "ok  \tunderhood.local/build/gluster-csi" in res.stdout


def test_the_drivers_go_is_formatted_and_vetted():
    gofmt = binaries.go_binary().removesuffix("go") + "gofmt"
    unformatted = subprocess.run([gofmt, "-l", "."], cwd=DRIVER, capture_output=True, text=True, timeout=60).stdout
    assert not unformatted, f"gofmt -w {unformatted} in {DRIVER}"
    vet = subprocess.run([binaries.go_binary(), "vet", "./..."], cwd=DRIVER, env=binaries.go_env(), capture_output=True, text=True, timeout=1800)
    assert vet.returncode == 0, vet.stderr[-3000:]
