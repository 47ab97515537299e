"""Chaos scenarios for the underhood lab: fault, watch, stabilise, audit, restore."""
