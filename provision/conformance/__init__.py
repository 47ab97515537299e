"""Kubernetes' own [Conformance] e2e tests against the lab (`python -m provision
conformance`, `tox -e k8s-conformance`), beside the documents' promises: built from the
cluster's pin, run from the admin host, reported per SIG and as second witnesses."""
