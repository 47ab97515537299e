"""The plan as an SVG diagram: the gateway above, one column per subnet with its hosts."""

from __future__ import annotations

from html import escape

from provision.topology import Plan

COLOURS = {"gateway": "#6c5b7b", "loadbalancer": "#c06c84", "master": "#355c7d", "worker": "#2a9d8f",
           "gluster": "#e9a03b", "admin": "#888888"}


def svg(plan: Plan) -> str:
    nets = list(plan.networks.items())
    col_w, row_h, top = 210, 34, 120
    width = col_w * len(nets) + 20
    rows = max(len([h for h in plan.hosts if h.role != "gateway" and h.network == n]) for n, _ in nets)
    height = top + 70 + row_h * (rows + 2)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">']
    gx = width / 2 - 90
    out.append(f'<rect x="{gx}" y="10" width="180" height="44" rx="6" fill="{COLOURS["gateway"]}"/>')
    out.append(f'<text x="{width / 2}" y="30" fill="white" text-anchor="middle">{escape(plan.gateway.name)}</text>')
    out.append(f'<text x="{width / 2}" y="46" fill="white" text-anchor="middle">DNS · DHCP · NAT</text>')
    for i, (name, net) in enumerate(nets):
        x = 10 + i * col_w
        out.append(f'<line x1="{width / 2}" y1="54" x2="{x + col_w / 2 - 5}" y2="{top - 10}" stroke="#999"/>')
        out.append(f'<rect x="{x}" y="{top - 10}" width="{col_w - 10}" height="46" rx="4" fill="#eef"/>')
        out.append(f'<text x="{x + 8}" y="{top + 8}" font-weight="bold">{escape(name)} {net.cidr}</text>')
        out.append(f'<text x="{x + 8}" y="{top + 26}">gw {net.gateway} · DHCP .{net.dhcp.start.packed[-1]}-.{net.dhcp.end.packed[-1]}</text>')
        y = top + 50
        for h in (h for h in plan.hosts if h.role != "gateway" and h.network == name):
            addr = plan.fixed_address(h) or "DHCP"
            out.append(f'<rect x="{x}" y="{y}" width="{col_w - 10}" height="{row_h - 6}" rx="4" fill="{COLOURS[h.role]}"/>')
            out.append(f'<text x="{x + 8}" y="{y + 18}" fill="white">{escape(h.name)} · {addr}</text>')
            y += row_h
        if name == plan.vip.network:
            out.append(f'<rect x="{x}" y="{y}" width="{col_w - 10}" height="{row_h - 6}" rx="4" fill="none" stroke="#c06c84" '
                       f'stroke-dasharray="4"/><text x="{x + 8}" y="{y + 18}">VIP {plan.vip.address}:{plan.vip.port}</text>')
            y += row_h
        if name == plan.metallb.network:
            out.append(f'<rect x="{x}" y="{y}" width="{col_w - 10}" height="{row_h - 6}" rx="4" fill="none" stroke="#2a9d8f" '
                       f'stroke-dasharray="4"/><text x="{x + 8}" y="{y + 18}">MetalLB {plan.metallb.start}-'
                       f'.{plan.metallb.end.packed[-1]}</text>')
    out.append("</svg>")
    return "\n".join(out)
