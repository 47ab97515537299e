"""Chaos promises that need a Kubernetes data plane: they skip, with the reason, on a lab
whose provider has none (the Kubernetes roles come later)."""

from __future__ import annotations

import pytest

from tests.conftest import needs


@pytest.mark.promise("LB-08")
def test_haproxy_marks_a_dead_master_down_and_back(lab):
    needs(lab, "kubernetes", "no API server runs on the masters yet, so HAProxy has no healthy backend to lose")


@pytest.mark.promise("MLB-05")
def test_metallb_address_moves_when_its_node_dies(lab):
    needs(lab, "kubernetes", "no Kubernetes (and so no MetalLB speaker) runs in this lab yet")
