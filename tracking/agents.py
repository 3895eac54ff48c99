"""User agents reduced to a class; the string itself is never stored.

Apple Mail Privacy Protection fetches every image through Apple's proxy when the
message arrives, whether or not anyone reads it, with the bare user agent
``Mozilla/5.0``. Security gateways (Microsoft Defender Safe Links, Proofpoint,
Mimecast, Barracuda…) fetch every link and image within seconds of delivery;
many announce themselves or use a scripting library. Gmail's and Yahoo's image
proxies fetch when the reader opens the message, so they count as people.
"""

import re

from .models import AgentClass

MACHINES = frozenset({AgentClass.APPLE_PROXY, AgentClass.SCANNER})

_SCANNER = re.compile(
    r"bot\b|crawl|spider|scan|preview|headless|python|curl|wget|go-http-client|java/|"
    r"okhttp|libwww|httpclient|axios|node-fetch|barracuda|mimecast|proofpoint|"
    r"ironport|messagelabs|symantec|trend ?micro|zscaler|forcepoint|sophos|fireeye|"
    r"safelinks|safe links|checkpoint|cisco|fortinet|microsoft office existence|"
    r"slack|facebookexternalhit|whatsapp|discord|telegram",
    re.IGNORECASE,
)
_IMAGE_PROXY = re.compile(r"googleimageproxy|yahoomailproxy|ggpht\.com", re.IGNORECASE)
_MOBILE = re.compile(r"mobile|iphone|ipad|ipod|android|blackberry|windows phone", re.IGNORECASE)
_DESKTOP = re.compile(
    r"windows nt|macintosh|mac os x|x11|linux|cros|thunderbird|outlook", re.IGNORECASE
)


def classify(user_agent: str) -> str:
    """The class of a user agent, for the honest split between people and machines."""
    user_agent = user_agent.strip()
    if user_agent == "Mozilla/5.0":
        return AgentClass.APPLE_PROXY
    if not user_agent or _SCANNER.search(user_agent):  # people's mail apps always send one
        return AgentClass.SCANNER
    if _IMAGE_PROXY.search(user_agent):
        return AgentClass.IMAGE_PROXY
    if _MOBILE.search(user_agent):
        return AgentClass.MOBILE
    if _DESKTOP.search(user_agent):
        return AgentClass.DESKTOP
    return AgentClass.UNKNOWN
