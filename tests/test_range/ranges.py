"""A small but complete range used by the range tests: router, workstation, web server, attacker."""
from __future__ import annotations

from range.images import image_tag
from range.spec import Account, HostSpec, PlacedFile, RangeSpec, ServicePort

FIREWALL = b"""*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
COMMIT
"""


def small_range(exercise: str, team: str) -> RangeSpec:
    return RangeSpec(
        exercise=exercise,
        team=team,
        segments=("office", "dmz", "internet"),
        hosts=(
            HostSpec(name="fw01", image=image_tag("router"), segments=("office", "dmz", "internet"),
                     capabilities=("NET_ADMIN",), forwarding=True,
                     accounts=(Account("netadmin", "fw-admin-pass", admin=True),),
                     files=(PlacedFile("/etc/mamori/firewall.rules", FIREWALL, 0o600),)),
            HostSpec(name="ws01", image=image_tag("workstation"), segments=("office",), gateway="fw01",
                     accounts=(Account("staff", "staff-pass-1", admin=True), Account("tanaka", "tanaka-pass-1")),
                     files=(PlacedFile("/home/tanaka/住民データ.csv", "氏名,住所\n山田,みなと市\n".encode(), 0o600,
                                       "tanaka"),),
                     startup=("echo provisioned > /var/tmp/startup-ran",), trainee_login=True),
            HostSpec(name="web01", image=image_tag("webserver"), segments=("dmz",), gateway="fw01",
                     aliases=("www.city.minato.example",), services=(ServicePort("http", 80),)),
            HostSpec(name="attacker", image=image_tag("attacker"), segments=("internet",), gateway="fw01",
                     aliases=("update.minato-cdn.example",), services=(ServicePort("c2", 8080),), hidden=True),
        ),
        access_segments=("office",),
        gateway_image=image_tag("base"),
        gateway_user="team",
        gateway_password="gateway-pass-1",
    )
