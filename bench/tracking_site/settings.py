from newsletter.settings import *  # noqa: F403 (the production settings, unchanged)

ROOT_URLCONF = "bench.tracking_site.urls"
