"""Kubernetes for the lab, from source: binaries built from their Go modules
(``binaries``), container images written by us from them (``oci``, ``images``)."""
